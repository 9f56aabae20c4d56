//! How much of the source the module walk reached: the "reached N of M files" line and the list
//! of files it did not reach, with the reason, in each rendering.
//!
//! What must hold: no `.rs` file under a scanned target's source directory is left out of the
//! report silently. Either the walk reached it (its functions are counted) or it is listed here
//! with why not, so a crate whose modules hide behind a macro the scanner cannot read shows up
//! as "reached 30 of 320 files" rather than as a small, fully covered crate.

use std::fmt::Write as _;

use super::model::Report;

/// How many unreached files the terminal lists without `--show-missing`.
const TERMINAL_LIMIT: usize = 10;

/// `reached N of M files` (with how many were not, when some were not).
pub fn summary_line(report: &Report) -> String {
    let total = report.files_total.max(report.files_scanned);
    let missing = report.unreached_files.len();
    if missing == 0 {
        format!("reached {} of {total} files", report.files_scanned)
    } else {
        format!(
            "reached {} of {total} files ({missing} not reached: their functions are not counted)",
            report.files_scanned
        )
    }
}

/// The terminal section: the files not reached (all of them with `show_missing`).
pub fn terminal(report: &Report, show_missing: bool) -> String {
    let mut out = String::new();
    if report.unreached_files.is_empty() {
        return out;
    }
    let _ = writeln!(
        out,
        "\nFiles not reached by the module walk (their functions are not counted):"
    );
    let shown = if show_missing {
        report.unreached_files.len()
    } else {
        TERMINAL_LIMIT
    };
    for u in report.unreached_files.iter().take(shown) {
        let _ = writeln!(out, "  {:<40} {}: {}", u.file, u.reason, u.detail);
    }
    if report.unreached_files.len() > shown {
        let _ = writeln!(
            out,
            "  ... and {} more (--show-missing lists them all)",
            report.unreached_files.len() - shown
        );
    }
    out
}

fn md(s: &str) -> String {
    s.replace('|', "\\|")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\n', " ")
}

/// The Markdown section.
pub fn markdown(report: &Report) -> String {
    let mut out = String::new();
    if report.unreached_files.is_empty() {
        return out;
    }
    let _ = writeln!(
        out,
        "\n## Files not reached\n\nTheir functions are not counted.\n\n| File | Reason | Detail |\n|---|---|---|"
    );
    for u in &report.unreached_files {
        let _ = writeln!(
            out,
            "| `{}` | {} | {} |",
            md(&u.file),
            u.reason,
            md(&u.detail)
        );
    }
    out
}

/// The HTML section (source text escaped with `esc`).
pub fn html(report: &Report, esc: fn(&str) -> String) -> String {
    let mut o = String::new();
    if report.unreached_files.is_empty() {
        return o;
    }
    let _ = write!(
        o,
        "<h2>Files not reached</h2><p>Their functions are not counted.</p><table><thead><tr><th>File</th><th>Reason</th><th>Detail</th></tr></thead><tbody>"
    );
    for u in &report.unreached_files {
        let _ = write!(
            o,
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
            esc(&u.file),
            esc(&u.reason),
            esc(&u.detail)
        );
    }
    let _ = writeln!(o, "</tbody></table>");
    o
}
