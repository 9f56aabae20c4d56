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

/// Escape text for a Markdown table cell. Outside code spans `<` and `>` become entities, so
/// source text cannot become markup; inside the code spans that messages write (between
/// backticks) entities are not decoded, so only `|` (which would end the cell even there) is
/// escaped.
fn md(s: &str) -> String {
    let s = s.replace('\n', " ");
    let parts: Vec<&str> = s.split('`').collect();
    let balanced = parts.len() % 2 == 1;
    let mut out = String::with_capacity(s.len());
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            out.push('`');
        }
        if balanced && i % 2 == 1 {
            out.push_str(&part.replace('|', "\\|"));
        } else {
            out.push_str(
                &part
                    .replace('\\', "\\\\")
                    .replace('|', "\\|")
                    .replace('<', "&lt;")
                    .replace('>', "&gt;"),
            );
        }
    }
    out
}

/// `s` as a Markdown code span in a table cell (names, paths, ids): shown as written, `<` and
/// all, with only `|` escaped.
fn code(s: &str) -> String {
    let s = s.replace('\n', " ").replace('|', "\\|");
    if s.contains('`') {
        format!("`` {s} ``")
    } else {
        format!("`{s}`")
    }
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
            format!("&nbsp;&nbsp;{}", code(r[0].trim_start()))
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
                    "| {} | {} | {} |",
                    code(&location(p)),
                    code(&p.id),
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
                "| {} | {} | `{}` | {} |",
                severity(f.severity),
                code(&format!(
                    "{}:{}",
                    f.file.as_deref().unwrap_or("-"),
                    f.line.unwrap_or(0)
                )),
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
                "| {} | {} | {} |",
                code(&e.file),
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
                "- registry {}: {} points registered",
                code(r),
                rt.registered
            );
        }
        if let Some(l) = &rt.logs {
            let _ = writeln!(
                out,
                "- logs {}: {} call records in {} files; {} of the audited points fired ({:.2}%)",
                code(l),
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
                        "| {} | {} | {} | {:.2}% | {} |",
                        code(p.name.as_deref().unwrap_or(&p.id)),
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
                    "| `{}` | {} | {} |",
                    d.code,
                    code(&d.point),
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
            let _ = writeln!(out, "- new gap: {}", code(g));
        }
        for g in &c.closed_gaps {
            let _ = writeln!(out, "- closed: {}", code(g));
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

/// Default character budget of [`markdown_summary`]: GitHub rejects a pull-request comment (and
/// a job summary) over 65,536 characters; 60,000 leaves room for a caller's own header.
pub const SUMMARY_MAX_CHARS: usize = 60_000;

/// The smallest budget [`markdown_summary`] accepts: the headline, the gates and a line per
/// section fit in it.
pub const SUMMARY_MIN_CHARS: usize = 2_000;

/// Longest text (in characters) put in one cell of the summary, before escaping: one long id,
/// rule list or message cannot take the room of many gaps.
const SUMMARY_CELL_MAX: usize = 200;

/// Room kept for one "... and N more" line (the longest is about 70 characters).
const NOTE_RESERVE: usize = 100;

/// `s` cut to `max` characters, with `…` when it was cut.
fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// A clipped, escaped Markdown cell.
fn cell(s: &str) -> String {
    md(&clip(s, SUMMARY_CELL_MAX))
}

/// Text that must stay within a number of characters (not bytes: GitHub's limit counts
/// characters).
struct Budget {
    out: String,
    used: usize,
    max: usize,
}

impl Budget {
    fn fits(&self, line: &str, limit: usize) -> bool {
        self.used + line.chars().count() < limit // the line and its newline
    }

    /// Append `line` and a newline when they fit under `limit`.
    fn line(&mut self, line: &str, limit: usize) -> bool {
        if !self.fits(line, limit) {
            return false;
        }
        self.out.push_str(line);
        self.out.push('\n');
        self.used += line.chars().count() + 1;
        true
    }

    /// A titled table whose rows stop before `limit` (an absolute count of characters), ending
    /// with "... and N more {what} (see the full report)" when some did not fit. `limit` must
    /// leave [`NOTE_RESERVE`] under the overall budget, so that note always fits.
    fn table(&mut self, title: &str, header: &str, rows: &[String], what: &str, limit: usize) {
        if rows.is_empty() {
            return;
        }
        let head = format!("\n{title}\n\n{header}");
        if !self.fits(&head, limit.saturating_sub(NOTE_RESERVE)) {
            let note = format!(
                "\n{} {what} (no room in this summary: see the full report)",
                rows.len()
            );
            self.line(&note, limit + NOTE_RESERVE);
            return;
        }
        self.line(&head, limit);
        let mut shown = 0;
        for r in rows {
            if !self.line(r, limit.saturating_sub(NOTE_RESERVE)) {
                break;
            }
            shown += 1;
        }
        if shown < rows.len() {
            let note = format!(
                "\n... and {} more {what} (see the full report)",
                rows.len() - shown
            );
            self.line(&note, limit + NOTE_RESERVE);
        }
    }
}

/// The Markdown summary, sized for a pull-request comment or a CI job summary: at most
/// `max_chars` characters (at least [`SUMMARY_MIN_CHARS`]) whatever the number of points.
///
/// What it holds, in this order: the totals and the gates; the change since the previous run;
/// the crates (most unaudited points first; modules are in the full report); the unaudited
/// points, new gaps first and then in file and line order; the error and warning findings,
/// errors first; one line each for exemptions, parse errors and runtime coverage. A list that
/// does not fit ends with "... and N more (see the full report)"; the crate table may take a
/// fifth of the room, the gaps what is left but the findings' share (what they need, at most a
/// quarter), the findings the rest.
pub fn markdown_summary(report: &Report, max_chars: usize) -> String {
    let max = max_chars.max(SUMMARY_MIN_CHARS);
    let s = &report.summary;
    let new_gaps: std::collections::BTreeSet<&str> = report
        .change
        .iter()
        .flat_map(|c| c.new_gaps.iter().map(String::as_str))
        .collect();
    let mut unaudited: Vec<&Point> = report
        .points
        .iter()
        .filter(|p| p.status == Status::Unaudited)
        .collect();
    // A stable sort: within each group the report's file and line order is kept.
    unaudited.sort_by_key(|p| !new_gaps.contains(p.id.as_str()));

    // The closing lines are written last but their room is kept first.
    let mut tail = Vec::new();
    let exempt = s.exempt;
    if exempt > 0 {
        tail.push(format!(
            "- {exempt} exempt points (listed with their reasons in the full report)"
        ));
    }
    let info = report
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Info)
        .count();
    if info > 0 {
        tail.push(format!("- {info} info findings (in the full report)"));
    }
    if !report.parse_errors.is_empty() {
        tail.push(format!(
            "- **{} files could not be parsed**; their points are not counted (first: {})",
            report.parse_errors.len(),
            code(&clip(&report.parse_errors[0].file, SUMMARY_CELL_MAX))
        ));
    }
    if let Some(rt) = &report.runtime {
        if rt.logs.is_some() {
            tail.push(format!(
                "- runtime: {} of the audited points fired ({:.2}%), {} call records, {} disagreements",
                rt.exercised,
                rt.exercised_percent,
                rt.records,
                rt.disagreements.len()
            ));
        } else {
            tail.push(format!(
                "- runtime: {} points registered, {} disagreements",
                rt.registered,
                rt.disagreements.len()
            ));
        }
    }
    tail.push(format!(
        "\n_Summary limited to {max} characters; the full report (coverage.md, coverage.html, \
         coverage.json) lists every point._"
    ));
    let tail_len: usize = tail.iter().map(|l| l.chars().count() + 1).sum::<usize>() + 1;
    let end = max - tail_len.min(max / 4);

    let mut b = Budget {
        out: String::new(),
        used: 0,
        max,
    };
    b.line("# Audit coverage (summary)\n", end);
    let headline = if s.points == 0 {
        format!(
            "> **Warning: {NO_POINTS}.** {} exempt; {} files, {} lines scanned.",
            s.exempt, report.files_scanned, report.lines_scanned
        )
    } else {
        format!(
            "**{:.2}%** of {} decision points audited ({} audited, {} unaudited, {} exempt); \
             {}. {} files, {} lines scanned.",
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
        )
    };
    b.line(&headline, end);
    let gates: Vec<String> = report
        .gates
        .iter()
        .map(|g| {
            format!(
                "| {} | {} | {} |",
                cell(&g.gate),
                if g.passed { "pass" } else { "**FAIL**" },
                cell(&g.detail)
            )
        })
        .collect();
    b.table(
        "## Gates",
        "| Gate | Result | Detail |\n|---|---|---|",
        &gates,
        "gates",
        end - NOTE_RESERVE,
    );
    if let Some(c) = &report.change {
        b.line(
            &format!(
                "\nSince the previous run: coverage {:+.2} points, audited {:+}, unaudited {:+}; \
                 {} new gaps, {} closed.",
                c.coverage_delta,
                c.audited_delta,
                c.unaudited_delta,
                c.new_gaps.len(),
                c.closed_gaps.len()
            ),
            end - NOTE_RESERVE,
        );
    }

    let mut crates: Vec<_> = report.crates.iter().collect();
    crates.sort_by(|a, b| {
        b.counts
            .unaudited
            .cmp(&a.counts.unaudited)
            .then_with(|| a.crate_name.cmp(&b.crate_name))
    });
    let mut crate_rows: Vec<String> = crates
        .iter()
        .map(|c| {
            let r = row(&c.crate_name, &c.counts);
            format!("| **{}** | {} |", cell(&r[0]), r[1..].join(" | "))
        })
        .collect();
    let t = row("TOTAL", s);
    crate_rows.push(format!("| TOTAL | {} |", t[1..].join(" | ")));
    let room = end.saturating_sub(b.used);
    let header = format!("| {} |\n|---|---:|---:|---:|---:|---:|---:|", {
        let mut h = HEADERS;
        h[0] = "Crate";
        h.join(" | ")
    });
    b.table(
        &format!(
            "## By crate ({}; most unaudited points first)",
            report.crates.len()
        ),
        &header,
        &crate_rows,
        "crates",
        b.used + room / 5 - NOTE_RESERVE.min(room / 5),
    );

    let mut serious: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.severity <= Severity::Warning)
        .collect();
    serious.sort_by_key(|f| f.severity);
    let finding_rows: Vec<String> = serious
        .iter()
        .map(|f| {
            format!(
                "| {} | {} | {} | {} |",
                severity(f.severity),
                code(&clip(
                    &format!(
                        "{}:{}",
                        f.file.as_deref().unwrap_or("-"),
                        f.line.unwrap_or(0)
                    ),
                    SUMMARY_CELL_MAX
                )),
                code(&clip(&f.code, SUMMARY_CELL_MAX)),
                cell(&f.message)
            )
        })
        .collect();
    let gap_rows: Vec<String> = unaudited
        .iter()
        .map(|p| {
            format!(
                "| {} | {}{} | {} |",
                code(&clip(&location(p), SUMMARY_CELL_MAX)),
                code(&clip(&p.id, SUMMARY_CELL_MAX)),
                if new_gaps.contains(p.id.as_str()) {
                    " **new**"
                } else {
                    ""
                },
                cell(&p.matched_rules.join("; "))
            )
        })
        .collect();
    // The gaps may take the room the findings do not need, and at least three quarters.
    let room = end.saturating_sub(b.used);
    let findings_need: usize = if finding_rows.is_empty() {
        0
    } else {
        finding_rows
            .iter()
            .map(|r| r.chars().count() + 1)
            .sum::<usize>()
            + 200
            + NOTE_RESERVE
    };
    let gaps_room = room - findings_need.min(room / 4);
    b.table(
        &format!(
            "## Unaudited decision points ({}{})",
            unaudited.len(),
            if new_gaps.is_empty() {
                String::new()
            } else {
                format!(", {} new, listed first", new_gaps.len())
            }
        ),
        "| Location | Point | Why it is a decision point |\n|---|---|---|",
        &gap_rows,
        "unaudited points",
        b.used + gaps_room - NOTE_RESERVE.min(gaps_room),
    );

    b.table(
        &format!("## Findings: errors and warnings ({})", serious.len()),
        "| Severity | Location | Code | Message |\n|---|---|---|---|",
        &finding_rows,
        "findings",
        end - NOTE_RESERVE,
    );

    b.out.push('\n');
    b.used += 1;
    for l in &tail {
        b.line(l, b.max);
    }
    debug_assert!(b.out.chars().count() <= max);
    b.out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{
        Change, ConfigInfo, Finding, GateResult, ParseError, RuntimeSummary, SCHEMA_VERSION,
    };

    fn point(i: usize, crates: usize, long: &str) -> Point {
        let status = match i % 7 {
            0 | 3 | 5 => Status::Unaudited,
            6 => Status::Exempt,
            _ => Status::Audited,
        };
        let krate = format!("crate_{}_{long}", i % crates);
        let module = format!("{krate}::module_{}::{long}", i % 13);
        let function = format!("decide_{i}_{long}");
        Point {
            id: format!("{module}::<Handler<A, B> as Tool>::{function}"),
            crate_name: krate.clone(),
            module,
            function: function.clone(),
            file: format!("{krate}/src/deeply/nested/{long}/file_{}.rs", i / 50),
            line: u32::try_from(i % 50 * 20 + 1).expect("small"),
            end_line: u32::try_from(i % 50 * 20 + 10).expect("small"),
            signature: format!("pub fn {function}(applicant: &Applicant) -> Decision {{"),
            status,
            kind: (status == Status::Audited).then(|| "decision".to_owned()),
            name: (status == Status::Audited).then(|| function.clone()),
            annotation: None,
            matched_rules: vec![
                format!("function name `{function}` matches `decide_*`"),
                "calls `chat` on LLM client type `llm::ChatClient` | with a pipe".to_owned(),
            ],
            exemption: (status == Status::Exempt).then(|| "formats a number".to_owned()),
            cfg: Vec::new(),
            complete: (status == Status::Audited).then_some(i.is_multiple_of(2)),
            runtime: None,
        }
    }

    /// A report of `n` points over `crates` crates, with long names, findings, gates, parse
    /// errors, runtime coverage and a change whose new gaps are the last unaudited points.
    fn synthetic(n: usize, crates: usize, long: &str) -> Report {
        let points: Vec<Point> = (0..n).map(|i| point(i, crates, long)).collect();
        let new_gaps: Vec<String> = points
            .iter()
            .rev()
            .filter(|p| p.status == Status::Unaudited)
            .take(3)
            .map(|p| p.id.clone())
            .collect();
        let findings = points
            .iter()
            .filter(|p| p.status == Status::Audited)
            .enumerate()
            .map(|(k, p)| Finding {
                code: "missing_version".to_owned(),
                severity: [Severity::Warning, Severity::Info, Severity::Error][k % 3],
                point: Some(p.id.clone()),
                file: Some(p.file.clone()),
                line: Some(p.line),
                message: format!("decision `{}` declares no model <b>or</b> policy", p.id),
            })
            .collect();
        let mut r = Report {
            schema_version: SCHEMA_VERSION,
            workspace_root: "/work/big".to_owned(),
            packages: Vec::new(),
            config: ConfigInfo::default(),
            files_scanned: 100,
            files_total: 100,
            unreached_files: Vec::new(),
            lines_scanned: 100_000,
            summary: Counts::default(),
            crates: Vec::new(),
            files: Vec::new(),
            points,
            findings,
            parse_errors: vec![ParseError {
                file: "crate_0/src/broken.rs".to_owned(),
                line: 2,
                column: 3,
                message: "expected `;`".to_owned(),
            }],
            runtime: Some(RuntimeSummary {
                logs: Some("logs/".to_owned()),
                records: 10,
                exercised: 4,
                ..RuntimeSummary::default()
            }),
            change: Some(Change {
                previous: "old.json".to_owned(),
                coverage_delta: -0.5,
                audited_delta: 0,
                unaudited_delta: 3,
                new_gaps: new_gaps.clone(),
                closed_gaps: Vec::new(),
            }),
            gates: vec![GateResult {
                gate: "baseline".to_owned(),
                passed: false,
                detail: new_gaps
                    .iter()
                    .map(|g| format!("new gap: {g}"))
                    .collect::<Vec<_>>()
                    .join("\n")
                    .repeat(50),
            }],
        };
        r.recount();
        r
    }

    fn chars(s: &str) -> usize {
        s.chars().count()
    }

    /// The "... and N more {what}" count of a truncated list, if it was truncated.
    fn more(text: &str, what: &str) -> Option<usize> {
        let tail = format!(" more {what} (see the full report)");
        text.lines().find_map(|l| {
            l.strip_suffix(tail.as_str())?
                .strip_prefix("... and ")?
                .parse()
                .ok()
        })
    }

    fn section_rows(text: &str, title_start: &str) -> Vec<String> {
        text.split("\n## ")
            .find(|s| s.starts_with(title_start))
            .map(|s| {
                s.lines()
                    .skip(4) // title, blank, header, separator
                    .take_while(|l| l.starts_with('|'))
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn summary_of_5000_points_stays_under_budget_gaps_first() {
        let r = synthetic(5_000, 40, "with_a_rather_long_descriptive_name");
        let full = markdown(&r);
        let summary = markdown_summary(&r, SUMMARY_MAX_CHARS);
        eprintln!(
            "5000 points: full Markdown {} chars, summary {} chars",
            chars(&full),
            chars(&summary)
        );
        assert!(
            chars(&full) > 65_536,
            "the fixture is big enough to need it"
        );
        assert!(chars(&summary) <= SUMMARY_MAX_CHARS, "{}", chars(&summary));
        // Totals, gates, the change and every crate (40 fit in a fifth of the room).
        assert!(summary.contains(&format!(
            "**{:.2}%** of {} decision points audited",
            r.summary.coverage_percent, r.summary.points
        )));
        assert!(summary.contains("| baseline | **FAIL** |"));
        assert!(summary.contains("Since the previous run: coverage -0.50 points"));
        let crate_rows = section_rows(&summary, "By crate");
        assert_eq!(crate_rows.len(), 41, "40 crates and the total");
        assert!(crate_rows[40].starts_with("| TOTAL |"));
        // The gaps: new ones first, then in file order, then the count of the rest.
        let unaudited = r
            .points
            .iter()
            .filter(|p| p.status == Status::Unaudited)
            .count();
        let gaps = section_rows(&summary, "Unaudited decision points");
        assert!(gaps.len() > 50, "{} gaps shown", gaps.len());
        for g in &gaps[..3] {
            assert!(g.contains(" **new** |"), "{g}");
        }
        assert!(!gaps[3].contains("**new**"));
        assert_eq!(
            gaps.len() + more(&summary, "unaudited points").expect("truncated"),
            unaudited
        );
        // Errors before warnings, then the count of the rest.
        let findings = section_rows(&summary, "Findings");
        assert!(findings[0].starts_with("| error |"));
        let serious = r
            .findings
            .iter()
            .filter(|f| f.severity <= Severity::Warning)
            .count();
        assert_eq!(
            findings.len() + more(&summary, "findings").expect("truncated"),
            serious
        );
        // The closing lines always fit.
        assert!(summary.contains("files could not be parsed"));
        assert!(summary.contains("- runtime: 4 of the audited points fired"));
        assert!(summary.contains("_Summary limited to 60000 characters"));
        // Cells stay escaped and in their column.
        for l in gaps.iter().chain(&findings) {
            assert_eq!(
                l.matches(" | ").count() + 2,
                l.matches('|').count() - l.matches("\\|").count(),
                "{l}"
            );
            assert!(!l.contains("<b>"), "{l}");
        }
    }

    #[test]
    fn every_budget_is_kept_whatever_the_size() {
        for (n, crates) in [(0, 1), (10, 2), (338, 5), (5_000, 40), (20_000, 600)] {
            let r = synthetic(n, crates, "name");
            for max in [1, SUMMARY_MIN_CHARS, 3_000, 10_000, SUMMARY_MAX_CHARS] {
                let s = markdown_summary(&r, max);
                let bound = max.max(SUMMARY_MIN_CHARS);
                assert!(
                    chars(&s) <= bound,
                    "{n} points, budget {max}: {}",
                    chars(&s)
                );
                assert!(s.starts_with("# Audit coverage (summary)"));
            }
        }
    }

    #[test]
    fn cells_escape_markup_but_not_code_spans() {
        assert_eq!(
            md("a <b> `x<y>|z` | c\\d"),
            "a &lt;b&gt; `x<y>\\|z` \\| c\\\\d"
        );
        // An odd backtick opens no code span: everything is escaped.
        assert_eq!(md("`<x>"), "`&lt;x&gt;");
        assert_eq!(code("m::<A as B<C>>::f|g"), "`m::<A as B<C>>::f\\|g`");
        assert_eq!(code("a`b"), "`` a`b ``");
    }

    #[test]
    fn a_small_report_is_summarised_whole() {
        let r = synthetic(60, 3, "n");
        let s = markdown_summary(&r, SUMMARY_MAX_CHARS);
        assert!(!s.contains("... and"), "{s}");
        let unaudited = r
            .points
            .iter()
            .filter(|p| p.status == Status::Unaudited)
            .count();
        assert_eq!(
            section_rows(&s, "Unaudited decision points").len(),
            unaudited
        );
    }

    #[test]
    fn the_budget_counts_characters_not_bytes() {
        let r = synthetic(3_000, 4, "décision_ünïcödé_名前");
        let s = markdown_summary(&r, 10_000);
        assert!(chars(&s) <= 10_000);
        assert!(
            s.len() > 10_000,
            "multi-byte names fill more bytes than characters"
        );
    }
}
