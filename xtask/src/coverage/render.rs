//! Text renderings of a [`Report`]: the terminal table, Markdown, JSON and LCOV.
//!
//! What must hold: every rendering is a pure function of the report (no I/O, no clock), so the
//! fixtures' expected outputs are stable and each format can be tested on its own.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::model::{Counts, Point, Report, Severity, Status};

/// Options for the terminal and Markdown renderings.
#[derive(Debug, Clone, Copy, Default)]
pub struct TextOptions {
    /// List every unaudited point with its location and the rules it matched.
    pub show_missing: bool,
}

fn row(label: &str, c: &Counts) -> [String; 7] {
    [
        label.to_owned(),
        c.points.to_string(),
        c.audited.to_string(),
        c.unaudited.to_string(),
        c.exempt.to_string(),
        if c.points == 0 {
            "-".to_owned()
        } else {
            format!("{:.2}%", c.coverage_percent)
        },
        if c.audited == 0 {
            "-".to_owned()
        } else {
            format!("{:.2}%", c.complete_percent)
        },
    ]
}

const HEADERS: [&str; 7] = [
    "Crate / module",
    "Points",
    "Audited",
    "Unaudited",
    "Exempt",
    "Coverage",
    "Complete",
];

fn table_rows(report: &Report) -> Vec<[String; 7]> {
    let mut rows = Vec::new();
    for c in &report.crates {
        rows.push(row(&c.crate_name, &c.counts));
        for m in &c.modules {
            rows.push(row(&format!("  {}", m.module), &m.counts));
        }
    }
    rows.push(row("TOTAL", &report.summary));
    rows
}

/// What every rendering says instead of a percentage when nothing was found to measure: 0 of 0
/// is not 100% coverage.
pub const NO_POINTS: &str = "no candidate points: the rules matched no function and nothing is \
     audited, so there is no coverage to measure (check the workspace path and the [coverage] \
     rules; a gate fails on this unless --allow-no-points)";

fn location(p: &Point) -> String {
    format!("{}:{}", p.file, p.line)
}

/// The terminal summary (what `cargo xtask coverage` prints).
pub fn terminal(report: &Report, opts: TextOptions) -> String {
    let mut out = String::new();
    let rows = table_rows(report);
    let mut widths = HEADERS.map(str::len);
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String; 7]| -> String {
        let mut s = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i == 0 {
                let _ = write!(s, "{cell:<w$}");
            } else {
                let _ = write!(s, "  {cell:>w$}");
            }
        }
        s.trim_end().to_owned()
    };
    let _ = writeln!(
        out,
        "Audit coverage of {}{} ({} files, {} lines)",
        report.workspace_root,
        if report.packages.is_empty() {
            String::new()
        } else {
            format!(", package {}", report.packages.join(", "))
        },
        report.files_scanned,
        report.lines_scanned
    );
    let _ = writeln!(
        out,
        "Rules: {}",
        match (&report.config.path, report.config.source.as_str()) {
            (Some(p), "workspace_metadata") => format!("{p} [workspace.metadata.audit.coverage]"),
            (Some(p), _) => p.clone(),
            (None, _) =>
                "defaults (no audit.toml, no [workspace.metadata.audit.coverage])".to_owned(),
        }
    );
    let _ = writeln!(out, "Files: {}", super::reach::summary_line(report));
    let _ = writeln!(out, "{}", line(&HEADERS.map(str::to_owned)));
    let total: usize = widths.iter().sum::<usize>() + 2 * (widths.len() - 1);
    let _ = writeln!(out, "{}", "-".repeat(total));
    for (i, r) in rows.iter().enumerate() {
        if i + 1 == rows.len() {
            let _ = writeln!(out, "{}", "-".repeat(total));
        }
        let _ = writeln!(out, "{}", line(r));
    }
    if report.summary.points == 0 {
        let _ = writeln!(out, "\nWARNING: {NO_POINTS}");
    }
    let unaudited: Vec<&Point> = report
        .points
        .iter()
        .filter(|p| p.status == Status::Unaudited)
        .collect();
    if opts.show_missing && !unaudited.is_empty() {
        let _ = writeln!(out, "\nUnaudited decision points:");
        for p in &unaudited {
            let _ = writeln!(
                out,
                "  {:<40} {}  ({})",
                location(p),
                p.id,
                p.matched_rules.join("; ")
            );
        }
    } else if !unaudited.is_empty() {
        let _ = writeln!(
            out,
            "\n{} unaudited decision points (--show-missing lists them)",
            unaudited.len()
        );
    }
    let exempt: Vec<&Point> = report
        .points
        .iter()
        .filter(|p| p.status == Status::Exempt)
        .collect();
    if !exempt.is_empty() && !opts.show_missing {
        let _ = writeln!(
            out,
            "{} exemptions (--show-missing lists them with their reasons)",
            exempt.len()
        );
    } else if !exempt.is_empty() {
        let _ = writeln!(out, "\nExemptions:");
        for p in exempt {
            let _ = writeln!(
                out,
                "  {:<40} {}  reason: {}",
                location(p),
                p.id,
                p.exemption.as_deref().unwrap_or("")
            );
        }
    }
    let shown: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.severity <= Severity::Warning || opts.show_missing)
        .collect();
    if !shown.is_empty() {
        let _ = writeln!(out, "\nFindings:");
        for f in shown {
            let loc = format!(
                "{}:{}",
                f.file.as_deref().unwrap_or("-"),
                f.line.unwrap_or(0)
            );
            let _ = writeln!(
                out,
                "  {:<7} {:<40} {}: {}",
                severity(f.severity),
                loc,
                f.code,
                f.message
            );
        }
    }
    if !report.parse_errors.is_empty() {
        let _ = writeln!(
            out,
            "\nFiles that could not be parsed (their points are not counted):"
        );
        for e in &report.parse_errors {
            let _ = writeln!(out, "  {}:{}:{}: {}", e.file, e.line, e.column, e.message);
        }
    }
    out.push_str(&super::reach::terminal(report, opts.show_missing));
    if let Some(rt) = &report.runtime {
        let _ = writeln!(out, "\nRuntime:");
        if let Some(r) = &rt.registry {
            let _ = writeln!(out, "  registry {r}: {} points registered", rt.registered);
        }
        if let Some(l) = &rt.logs {
            let _ = writeln!(
                out,
                "  logs {l}: {} records in {} files ({} lines skipped, {} malformed); {} of the audited points fired ({:.2}%)",
                rt.records,
                rt.log_files,
                rt.skipped_lines,
                rt.malformed_lines,
                rt.exercised,
                rt.exercised_percent
            );
            for p in report
                .points
                .iter()
                .filter(|p| p.runtime.as_ref().is_some_and(|r| r.calls > 0))
            {
                if let Some(r) = &p.runtime {
                    let _ = writeln!(
                        out,
                        "    {:<40} calls {:>6}  errors {:>5} ({:.2}%)  {}",
                        p.name.as_deref().unwrap_or(&p.id),
                        r.calls,
                        r.errors,
                        r.error_rate * 100.0,
                        r.versions_seen.join(", ")
                    );
                }
            }
            for id in &rt.never_fired {
                let _ = writeln!(out, "    never fired: {id}");
            }
        }
        for d in &rt.disagreements {
            let _ = writeln!(out, "  {}: {}: {}", d.code, d.point, d.detail);
        }
    }
    if let Some(c) = &report.change {
        let _ = writeln!(
            out,
            "\nSince the previous run: coverage {:+.2} points, audited {:+}, unaudited {:+}",
            c.coverage_delta, c.audited_delta, c.unaudited_delta
        );
        for g in &c.new_gaps {
            let _ = writeln!(out, "  new gap: {g}");
        }
        for g in &c.closed_gaps {
            let _ = writeln!(out, "  closed: {g}");
        }
    }
    if !report.gates.is_empty() {
        let _ = writeln!(out, "\nGates:");
        for g in &report.gates {
            let _ = writeln!(
                out,
                "  {} {}: {}",
                if g.passed { "PASS" } else { "FAIL" },
                g.gate,
                g.detail
            );
        }
    }
    out
}

fn severity(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "info",
    }
}

/// Escape text for a Markdown table cell.
fn md(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\n', " ")
}

/// The Markdown report (for pull request comments and job summaries).
pub fn markdown(report: &Report) -> String {
    let s = &report.summary;
    let mut out = String::new();
    let _ = writeln!(out, "# Audit coverage\n");
    if s.points == 0 {
        let _ = writeln!(
            out,
            "> **Warning: {NO_POINTS}.** {} exempt; {} files, {} lines scanned.\n",
            s.exempt, report.files_scanned, report.lines_scanned
        );
    } else {
        let _ = writeln!(
            out,
            "**{:.2}%** of {} decision points audited ({} audited, {} unaudited, {} exempt); \
             {}. {} files, {} lines scanned.\n",
            s.coverage_percent,
            s.points,
            s.audited,
            s.unaudited,
            s.exempt,
            if s.audited == 0 {
                "no annotation to judge".to_owned()
            } else {
                format!("{:.2}% of annotations complete", s.complete_percent)
            },
            report.files_scanned,
            report.lines_scanned
        );
    }
    let _ = writeln!(out, "Files: {}.\n", super::reach::summary_line(report));
    if !report.gates.is_empty() {
        let _ = writeln!(out, "## Gates\n\n| Gate | Result | Detail |\n|---|---|---|");
        for g in &report.gates {
            let _ = writeln!(
                out,
                "| {} | {} | {} |",
                g.gate,
                if g.passed { "pass" } else { "**FAIL**" },
                md(&g.detail)
            );
        }
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "## By crate and module\n\n| {} |\n|---|---:|---:|---:|---:|---:|---:|",
        HEADERS.join(" | ")
    );
    for r in table_rows(report) {
        let cells: Vec<String> = r.iter().map(|c| md(c.trim_start())).collect();
        let label = if r[0].starts_with("  ") {
            format!("&nbsp;&nbsp;`{}`", cells[0])
        } else {
            format!("**{}**", cells[0])
        };
        let _ = writeln!(out, "| {label} | {} |", cells[1..].join(" | "));
    }
    let section =
        |out: &mut String, title: &str, status: Status, extra: &dyn Fn(&Point) -> String| {
            let pts: Vec<&Point> = report
                .points
                .iter()
                .filter(|p| p.status == status)
                .collect();
            if pts.is_empty() {
                return;
            }
            let _ = writeln!(out, "\n## {title} ({})\n", pts.len());
            let _ = writeln!(out, "| Location | Point | Detail |\n|---|---|---|");
            for p in pts {
                let _ = writeln!(
                    out,
                    "| `{}` | `{}` | {} |",
                    md(&location(p)),
                    md(&p.id),
                    md(&extra(p))
                );
            }
        };
    section(
        &mut out,
        "Unaudited decision points",
        Status::Unaudited,
        &|p| p.matched_rules.join("; "),
    );
    section(&mut out, "Exemptions", Status::Exempt, &|p| {
        p.exemption.clone().unwrap_or_default()
    });
    section(&mut out, "Audited points", Status::Audited, &|p| {
        format!(
            "{} `{}`{}",
            p.kind.as_deref().unwrap_or(""),
            p.name.as_deref().unwrap_or(""),
            if p.complete == Some(false) {
                " (incomplete)"
            } else {
                ""
            }
        )
    });
    if !report.findings.is_empty() {
        let _ = writeln!(
            out,
            "\n## Findings ({})\n\n| Severity | Location | Code | Message |\n|---|---|---|---|",
            report.findings.len()
        );
        for f in &report.findings {
            let _ = writeln!(
                out,
                "| {} | `{}:{}` | `{}` | {} |",
                severity(f.severity),
                md(f.file.as_deref().unwrap_or("-")),
                f.line.unwrap_or(0),
                f.code,
                md(&f.message)
            );
        }
    }
    if !report.parse_errors.is_empty() {
        let _ = writeln!(
            out,
            "\n## Files that could not be parsed\n\n| File | Line | Message |\n|---|---:|---|"
        );
        for e in &report.parse_errors {
            let _ = writeln!(
                out,
                "| `{}` | {} | {} |",
                md(&e.file),
                e.line,
                md(&e.message)
            );
        }
    }
    out.push_str(&super::reach::markdown(report));
    if let Some(rt) = &report.runtime {
        let _ = writeln!(out, "\n## Runtime\n");
        if let Some(r) = &rt.registry {
            let _ = writeln!(
                out,
                "- registry `{}`: {} points registered",
                md(r),
                rt.registered
            );
        }
        if let Some(l) = &rt.logs {
            let _ = writeln!(
                out,
                "- logs `{}`: {} call records in {} files; {} of the audited points fired ({:.2}%)",
                md(l),
                rt.records,
                rt.log_files,
                rt.exercised,
                rt.exercised_percent
            );
            let _ = writeln!(
                out,
                "\n| Point | Calls | Errors | Error rate | Versions seen |\n|---|---:|---:|---:|---|"
            );
            for p in report.points.iter().filter(|p| p.status == Status::Audited) {
                if let Some(r) = &p.runtime {
                    let _ = writeln!(
                        out,
                        "| `{}` | {} | {} | {:.2}% | {} |",
                        md(p.name.as_deref().unwrap_or(&p.id)),
                        r.calls,
                        r.errors,
                        r.error_rate * 100.0,
                        md(&r.versions_seen.join(", "))
                    );
                }
            }
        }
        if !rt.disagreements.is_empty() {
            let _ = writeln!(out, "\n| Disagreement | Point | Detail |\n|---|---|---|");
            for d in &rt.disagreements {
                let _ = writeln!(
                    out,
                    "| `{}` | `{}` | {} |",
                    d.code,
                    md(&d.point),
                    md(&d.detail)
                );
            }
        }
    }
    if let Some(c) = &report.change {
        let _ = writeln!(
            out,
            "\n## Since the previous run\n\nCoverage {:+.2} points, audited {:+}, unaudited {:+}.",
            c.coverage_delta, c.audited_delta, c.unaudited_delta
        );
        for g in &c.new_gaps {
            let _ = writeln!(out, "- new gap: `{}`", md(g));
        }
        for g in &c.closed_gaps {
            let _ = writeln!(out, "- closed: `{}`", md(g));
        }
    }
    out
}

/// The JSON report (schema in `docs/COVERAGE.md`).
pub fn json(report: &Report) -> String {
    let mut s =
        serde_json::to_string_pretty(report).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    s.push('\n');
    s
}

/// The LCOV tracefile: per file, one `FN`/`FNDA` record per decision point (hit 1 when audited,
/// 0 when not; exempt points are left out) and a `DA` record on its `fn` line, so line-based
/// tools (Codecov, editor gutters) show it. Paths are relative to the workspace root.
///
/// What must hold, for genhtml (lcov 1.16 and 2.x) and Codecov:
/// - the file is never empty and always has a `DA` record (genhtml rejects a file without one,
///   "no valid records found"): with no point to record, one record says so in its test name,
///   `TN:audit_coverage_no_candidate_points`, on line 1 of the workspace's `Cargo.toml` with 0
///   hits, so the tracefile reads as 0%, never as full coverage;
/// - function names contain no comma (lcov reads a name as `[^,]+`, so `Agent<A, B>::f` would
///   be cut to `Agent<A`): a `,` in an id is written `;`;
/// - function names are unique within a file (lcov merges records of one name): ids are unique
///   already, and a name that the comma rewrite would make collide gets `#n`.
pub fn lcov(report: &Report) -> String {
    let mut by_file: BTreeMap<&str, Vec<&Point>> = BTreeMap::new();
    for p in report.points.iter().filter(|p| p.status != Status::Exempt) {
        by_file.entry(&p.file).or_default().push(p);
    }
    let mut out = String::new();
    if by_file.is_empty() {
        out.push_str(
            "TN:audit_coverage_no_candidate_points\nSF:Cargo.toml\nFNF:0\nFNH:0\nDA:1,0\nLF:1\nLH:0\nend_of_record\n",
        );
        return out;
    }
    for (file, points) in by_file {
        let _ = writeln!(out, "TN:audit_coverage\nSF:{file}");
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        let names: Vec<String> = points
            .iter()
            .map(|p| {
                let name = p.id.replace(',', ";");
                let n = seen.entry(name.clone()).or_default();
                *n += 1;
                if *n == 1 { name } else { format!("{name}#{n}") }
            })
            .collect();
        for (p, name) in points.iter().zip(&names) {
            let _ = writeln!(out, "FN:{},{name}", p.line);
        }
        let mut hit = 0;
        for (p, name) in points.iter().zip(&names) {
            let h = u8::from(p.status == Status::Audited);
            hit += u64::from(h);
            let _ = writeln!(out, "FNDA:{h},{name}");
        }
        let _ = writeln!(out, "FNF:{}\nFNH:{hit}", points.len());
        for p in &points {
            let _ = writeln!(
                out,
                "DA:{},{}",
                p.line,
                u8::from(p.status == Status::Audited)
            );
        }
        let _ = writeln!(out, "LF:{}\nLH:{hit}\nend_of_record", points.len());
    }
    out
}
