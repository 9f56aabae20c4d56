//! The self-contained HTML report: one file, no network, readable offline by an auditor.
//!
//! What must hold: every piece of text from the scanned sources (names, signatures, reasons,
//! messages) goes through [`esc`], because the sources are not ours and a string literal in an
//! exemption reason must not become markup. The page works without JavaScript (tables are in
//! source order); the script only adds sorting.
//!
//! What must hold for the layout (checked in headless Chromium at 1280x800 by
//! `xtask/tests/html_browser.rs`): the page is never wider than the window, whatever the names
//! (table cells break long ids and paths anywhere, numbers never); no chart label starts left
//! of the chart (the label column is as wide as the longest label, in a monospace font whose
//! advance is known, and labels are cut at [`CHART_LABEL_MAX`] characters); and sorting the
//! crate table moves each crate with its modules (one `<tbody>` per crate, sorted as groups).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::model::{Counts, Point, Report, Severity, Status};

/// Escape text for HTML element content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// [`esc`], and a line-break opportunity (`<wbr>`) after each `::` of a Rust path, so a long
/// id or module wraps between its segments before it is broken inside one.
fn esc_path(s: &str) -> String {
    esc(s).replace("::", "::<wbr>")
}

const STYLE: &str = r#"
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d232a;background:#f6f7f9}
main{max-width:1180px;margin:0 auto;padding:24px;overflow-wrap:anywhere}
th,td.n,td.k,.card{overflow-wrap:normal}th,td.n,td.k{white-space:nowrap}
svg.chart{display:block;max-width:100%;height:auto}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #d8dde3;padding-bottom:4px}
.sub{color:#5b6570;margin:0 0 16px}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:16px 0}
.card{background:#fff;border:1px solid #d8dde3;border-radius:6px;padding:10px 16px;min-width:110px}
.card b{display:block;font-size:22px}.card span{color:#5b6570;font-size:12px;text-transform:uppercase;letter-spacing:.04em}
table{border-collapse:collapse;width:100%;background:#fff;border:1px solid #d8dde3;font-size:13px}
th,td{padding:5px 8px;border-bottom:1px solid #eceff2;text-align:left;vertical-align:top}
th{background:#eef1f4;position:sticky;top:0}th.sort{cursor:pointer;user-select:none}
tbody.crate{border-top:2px solid #d8dde3}th.sort:after{content:" \2195";color:#9aa4ae}
th.asc:after{content:" \2191";color:#1d232a}th.desc:after{content:" \2193";color:#1d232a}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
code{font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
.audited{color:#1a7f37}.unaudited{color:#cf222e;font-weight:600}.exempt{color:#8250df}
.error{color:#cf222e;font-weight:600}.warning{color:#9a6700;font-weight:600}.info{color:#0969da}
pre{margin:0;white-space:pre-wrap}.pass{color:#1a7f37;font-weight:600}.fail{color:#cf222e;font-weight:700}
tr.mod td:first-child{padding-left:24px}
details{background:#fff;border:1px solid #d8dde3;border-radius:6px;margin:6px 0;padding:6px 10px}
details summary{cursor:pointer}details table{margin-top:6px}
.bar{height:8px;background:#f1c0c0;border-radius:4px;overflow:hidden;min-width:80px}.bar i{display:block;height:100%;background:#2da44e}
"#;

const SCRIPT: &str = r#"
function cmp(x,y,i){
  var a=x.cells[i],c=y.cells[i];
  var va=a.getAttribute('data-v'),vc=c.getAttribute('data-v');
  return (va!==null&&vc!==null)?(parseFloat(va)-parseFloat(vc)):a.textContent.localeCompare(c.textContent,undefined,{numeric:true});
}
function rowsOf(b,from){return Array.prototype.slice.call(b.rows,from)}
document.querySelectorAll('table.sortable').forEach(function(t){
  var grouped=t.classList.contains('grouped');
  var heads=t.tHead.querySelectorAll('th');
  heads.forEach(function(th,i){
    if(th.textContent==='')return;
    th.classList.add('sort');
    th.tabIndex=0;
    function sort(){
      var asc=!th.classList.contains('asc');
      heads.forEach(function(h){h.classList.remove('asc','desc');h.removeAttribute('aria-sort')});
      th.classList.add(asc?'asc':'desc');
      th.setAttribute('aria-sort',asc?'ascending':'descending');
      var by=function(x,y){var r=cmp(x,y,i);return asc?r:-r};
      if(grouped){
        // One tbody per crate, its first row the crate: sort the modules inside each crate,
        // then the crates by their own row, so a module never leaves its crate.
        var groups=Array.prototype.slice.call(t.tBodies);
        groups.forEach(function(b){rowsOf(b,1).sort(by).forEach(function(r){b.appendChild(r)})});
        groups.sort(function(x,y){return by(x.rows[0],y.rows[0])}).forEach(function(b){t.appendChild(b)});
      }else{
        var b=t.tBodies[0];
        rowsOf(b,0).sort(by).forEach(function(r){b.appendChild(r)});
      }
    }
    th.addEventListener('click',sort);
    th.addEventListener('keydown',function(e){if(e.key==='Enter'||e.key===' '){e.preventDefault();sort()}});
  });
});
"#;

fn bar(pct: f64) -> String {
    format!("<div class=\"bar\" title=\"{pct:.2}%\"><i style=\"width:{pct:.2}%\"></i></div>")
}

fn counts_cells(c: &Counts) -> String {
    format!(
        "<td class=n data-v={p}>{p}</td><td class=n data-v={a}>{a}</td><td class=n data-v={u}>{u}</td>\
         <td class=n data-v={e}>{e}</td><td class=n data-v={cov}>{covs}</td><td>{bar}</td>\
         <td class=n data-v={cp}>{cps}</td>",
        p = c.points,
        a = c.audited,
        u = c.unaudited,
        e = c.exempt,
        cov = c.coverage_percent,
        covs = if c.points == 0 {
            "-".to_owned()
        } else {
            format!("{:.2}%", c.coverage_percent)
        },
        bar = bar(c.coverage_percent),
        cp = c.complete_percent,
        cps = if c.audited == 0 {
            "-".to_owned()
        } else {
            format!("{:.2}%", c.complete_percent)
        },
    )
}

/// Longest crate name the chart shows whole; longer ones are cut with `…` (the full name is
/// in the bar's tooltip and in the table below).
pub const CHART_LABEL_MAX: usize = 40;

/// Advance of one character of the label font (monospace, 12px), with a margin: monospace
/// faces advance 0.6em (DejaVu Sans Mono 1233/2048 em, Menlo and Consolas 0.55 to 0.6), so
/// 12px x 0.62 = 7.44px bounds them all; the label column never has to be measured.
const LABEL_CHAR_PX: f64 = 7.44;

/// The chart label for a crate: cut at [`CHART_LABEL_MAX`] characters.
fn chart_label(name: &str) -> String {
    if name.chars().count() <= CHART_LABEL_MAX {
        return name.to_owned();
    }
    let mut s: String = name.chars().take(CHART_LABEL_MAX - 1).collect();
    s.push('…');
    s
}

/// A horizontal stacked bar chart of audited, unaudited and exempt points per crate.
fn chart(report: &Report) -> String {
    let max = report
        .crates
        .iter()
        .map(|c| c.counts.points + c.counts.exempt)
        .max()
        .unwrap_or(0)
        .max(1);
    let labels: Vec<String> = report
        .crates
        .iter()
        .map(|c| chart_label(&c.crate_name))
        .collect();
    let longest = labels.iter().map(|l| l.chars().count()).max().unwrap_or(0);
    // The label column: the longest label, 8px of gap before the bars and 4px of margin.
    #[allow(clippy::cast_precision_loss)] // at most CHART_LABEL_MAX
    let label_w = (LABEL_CHAR_PX * longest as f64 + 12.0).max(60.0).round();
    let plot_w = 560.0;
    let row_h = 26.0;
    let crates = &report.crates;
    #[allow(clippy::cast_precision_loss)] // a handful of crates and counts
    let height = row_h * crates.len() as f64 + 40.0;
    // Room after the longest bar for its percentage ("100.0%", 6 characters of the 12px
    // sans-serif font, under 45px); the legend (3 x 110px from the label column) is shorter.
    let w = label_w + plot_w + 64.0;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" role=\"img\" aria-label=\"Decision points per crate\" \
         width=\"{w}\" height=\"{height}\" viewBox=\"0 0 {w} {height}\" font-size=\"12\" font-family=\"system-ui,sans-serif\">"
    );
    for (i, (c, label)) in crates.iter().zip(&labels).enumerate() {
        #[allow(clippy::cast_precision_loss)]
        let y = row_h * i as f64 + 4.0;
        let mut x = label_w;
        let _ = write!(
            s,
            "<text class=\"label\" x=\"{}\" y=\"{}\" text-anchor=\"end\" font-family=\"ui-monospace,SFMono-Regular,Menlo,Consolas,'DejaVu Sans Mono',monospace\"><title>{}</title>{}</text>",
            label_w - 8.0,
            y + 15.0,
            esc(&c.crate_name),
            esc(label)
        );
        for (n, color, what) in [
            (c.counts.audited, "#2da44e", "audited"),
            (c.counts.unaudited, "#cf222e", "unaudited"),
            (c.counts.exempt, "#8250df", "exempt"),
        ] {
            #[allow(clippy::cast_precision_loss)]
            let w = plot_w * n as f64 / max as f64;
            if n > 0 {
                let _ = write!(
                    s,
                    "<rect x=\"{x:.1}\" y=\"{y}\" width=\"{w:.1}\" height=\"20\" fill=\"{color}\"><title>{} {what}: {n}</title></rect>",
                    esc(&c.crate_name)
                );
            }
            x += w;
        }
        let _ = write!(
            s,
            "<text x=\"{:.1}\" y=\"{}\">{:.1}%</text>",
            x + 6.0,
            y + 15.0,
            c.counts.coverage_percent
        );
    }
    #[allow(clippy::cast_precision_loss)]
    let ly = row_h * crates.len() as f64 + 22.0;
    for (i, (color, what)) in [
        ("#2da44e", "audited"),
        ("#cf222e", "unaudited"),
        ("#8250df", "exempt"),
    ]
    .iter()
    .enumerate()
    {
        #[allow(clippy::cast_precision_loss)]
        let x = label_w + 110.0 * i as f64;
        let _ = write!(
            s,
            "<rect x=\"{x}\" y=\"{}\" width=\"12\" height=\"12\" fill=\"{color}\"/><text x=\"{}\" y=\"{}\">{what}</text>",
            ly - 10.0,
            x + 16.0,
            ly
        );
    }
    s.push_str("</svg>");
    s
}

fn status_cell(p: &Point) -> String {
    format!("<td class=\"{0} k\">{0}</td>", p.status.as_str())
}

fn sev(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "info",
    }
}

/// Render the report as one HTML page.
pub fn html(report: &Report) -> String {
    let s = &report.summary;
    let mut o = String::new();
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>Audit coverage: {}</title><style>{STYLE}</style></head><body><main>\n",
        esc(&report.workspace_root)
    );
    let _ = writeln!(
        o,
        "<h1>Audit coverage</h1><p class=sub>{} &middot; {} files, {} lines scanned &middot; rules: {}{}</p>",
        esc(&report.workspace_root),
        report.files_scanned,
        report.lines_scanned,
        esc(&report.config.source),
        report
            .config
            .path
            .as_deref()
            .map(|p| format!(" (<code>{}</code>)", esc(p)))
            .unwrap_or_default()
    );
    let _ = writeln!(
        o,
        "<p class=sub>{}</p>",
        esc(&super::reach::summary_line(report))
    );
    let _ = write!(o, "<div class=cards>");
    for (value, label) in [
        (
            if s.points == 0 {
                "none".to_owned()
            } else {
                format!("{:.2}%", s.coverage_percent)
            },
            if s.points == 0 {
                "no candidate points"
            } else {
                "coverage"
            },
        ),
        (s.points.to_string(), "decision points"),
        (s.audited.to_string(), "audited"),
        (s.unaudited.to_string(), "unaudited"),
        (s.exempt.to_string(), "exempt"),
        (
            if s.audited == 0 {
                "-".to_owned()
            } else {
                format!("{:.2}%", s.complete_percent)
            },
            "complete annotations",
        ),
        (
            report
                .findings
                .iter()
                .filter(|f| f.severity <= Severity::Warning)
                .count()
                .to_string(),
            "findings",
        ),
    ] {
        let _ = write!(
            o,
            "<div class=card><b>{value}</b><span>{label}</span></div>"
        );
    }
    let _ = writeln!(o, "</div>");
    if !report.gates.is_empty() {
        let _ = write!(
            o,
            "<h2>Gates</h2><table><thead><tr><th>Gate</th><th>Result</th><th>Detail</th></tr></thead><tbody>"
        );
        for g in &report.gates {
            let (class, word) = if g.passed {
                ("pass", "pass")
            } else {
                ("fail", "FAIL")
            };
            let _ = write!(
                o,
                "<tr><td>{}</td><td class=\"{class} k\">{word}</td><td><pre>{}</pre></td></tr>",
                esc(&g.gate),
                esc(&g.detail)
            );
        }
        let _ = writeln!(o, "</tbody></table>");
    }
    let _ = writeln!(o, "<h2>By crate</h2>{}", chart(report));
    let _ = write!(
        o,
        "<h2>By crate and module</h2><table class=\"sortable grouped\" id=crates><thead><tr><th>Crate / module</th><th class=n>Points</th>\
         <th class=n>Audited</th><th class=n>Unaudited</th><th class=n>Exempt</th><th class=n>Coverage</th><th></th>\
         <th class=n>Complete</th></tr></thead>"
    );
    // One tbody per crate, the crate's row first: the sort script moves whole tbodies.
    for c in &report.crates {
        let name = esc(&c.crate_name);
        let _ = write!(
            o,
            "<tbody class=crate data-crate=\"{name}\"><tr data-crate=\"{name}\"><td><b>{name}</b></td>{}</tr>",
            counts_cells(&c.counts)
        );
        for m in &c.modules {
            let _ = write!(
                o,
                "<tr class=mod data-crate=\"{name}\"><td><code>{}</code></td>{}</tr>",
                esc_path(&m.module),
                counts_cells(&m.counts)
            );
        }
        let _ = write!(o, "</tbody>");
    }
    let _ = writeln!(o, "</table>");

    let file_ids: BTreeMap<&str, usize> = report
        .files
        .iter()
        .enumerate()
        .map(|(i, f)| (f.file.as_str(), i))
        .collect();
    let loc = |p: &Point| {
        format!(
            "<a href=\"#file-{}\"><code>{}:{}</code></a>",
            file_ids.get(p.file.as_str()).copied().unwrap_or(0),
            esc(&p.file),
            p.line
        )
    };
    let _ = write!(
        o,
        "<h2>Decision points ({})</h2><table class=sortable id=points><thead><tr><th>Status</th><th>Kind</th><th>Point</th>\
         <th>Location</th><th>Detail</th><th>Complete</th></tr></thead><tbody>",
        report.points.len()
    );
    for p in &report.points {
        let detail = match p.status {
            Status::Audited => p
                .annotation
                .as_ref()
                .map(|a| {
                    let mut d = format!("<code>#[{}]</code>", esc(&a.attribute));
                    if let Some(n) = &p.name {
                        let _ = write!(d, " name <code>{}</code>", esc(n));
                    }
                    for v in &a.versions {
                        let _ = write!(
                            d,
                            "; {} <code>{}</code>@{}",
                            esc(&v.role),
                            esc(&v.name),
                            esc(v.version.as_deref().unwrap_or("registry"))
                        );
                    }
                    if let Some(u) = &a.unversioned {
                        let _ = write!(d, "; unversioned: {}", esc(u));
                    }
                    d
                })
                .unwrap_or_default(),
            Status::Unaudited => esc(&p.matched_rules.join("; ")),
            Status::Exempt => format!("reason: {}", esc(p.exemption.as_deref().unwrap_or(""))),
        };
        let complete = match p.complete {
            Some(true) => "<td class=\"audited k\">yes</td>",
            Some(false) => "<td class=\"warning k\">no</td>",
            None => "<td></td>",
        };
        let _ = write!(
            o,
            "<tr>{}<td class=k>{}</td><td><code>{}</code></td><td>{}</td><td>{detail}</td>{complete}</tr>",
            status_cell(p),
            esc(p.kind.as_deref().unwrap_or("")),
            esc_path(&p.id),
            loc(p)
        );
    }
    let _ = writeln!(o, "</tbody></table>");

    if !report.findings.is_empty() {
        let _ = write!(
            o,
            "<h2>Findings ({})</h2><table class=sortable id=findings><thead><tr><th>Severity</th><th>Code</th><th>Location</th><th>Message</th></tr></thead><tbody>",
            report.findings.len()
        );
        for f in &report.findings {
            let file = f.file.as_deref().unwrap_or("");
            let _ = write!(
                o,
                "<tr><td class=\"{0} k\" data-v={1}>{0}</td><td><code>{2}</code></td><td><a href=\"#file-{3}\"><code>{4}:{5}</code></a></td><td>{6}</td></tr>",
                sev(f.severity),
                f.severity as u8,
                esc(&f.code),
                file_ids.get(file).copied().unwrap_or(0),
                esc(file),
                f.line.unwrap_or(0),
                esc(&f.message)
            );
        }
        let _ = writeln!(o, "</tbody></table>");
    }
    if !report.parse_errors.is_empty() {
        let _ = write!(
            o,
            "<h2>Files that could not be parsed</h2><table><thead><tr><th>File</th><th class=n>Line</th><th>Message</th></tr></thead><tbody>"
        );
        for e in &report.parse_errors {
            let _ = write!(
                o,
                "<tr><td><code>{}</code></td><td class=n>{}</td><td>{}</td></tr>",
                esc(&e.file),
                e.line,
                esc(&e.message)
            );
        }
        let _ = writeln!(o, "</tbody></table>");
    }
    o.push_str(&super::reach::html(report, esc));
    if let Some(rt) = &report.runtime {
        let _ = write!(o, "<h2>Runtime</h2><p>");
        if let Some(r) = &rt.registry {
            let _ = write!(
                o,
                "Registry <code>{}</code>: {} points registered. ",
                esc(r),
                rt.registered
            );
        }
        if let Some(l) = &rt.logs {
            let _ = write!(
                o,
                "Logs <code>{}</code>: {} call records in {} files ({} lines skipped, {} malformed); {} audited points fired ({:.2}%).",
                esc(l),
                rt.records,
                rt.log_files,
                rt.skipped_lines,
                rt.malformed_lines,
                rt.exercised,
                rt.exercised_percent
            );
        }
        let _ = write!(
            o,
            "</p><table class=sortable id=runtime><thead><tr><th>Point</th><th>In registry</th><th class=n>Calls</th><th class=n>Errors</th>\
             <th class=n>Error rate</th><th>Versions seen</th></tr></thead><tbody>"
        );
        for p in report.points.iter().filter(|p| p.status == Status::Audited) {
            let Some(r) = &p.runtime else { continue };
            let reg = match r.in_registry {
                Some(true) => "yes",
                Some(false) => "no",
                None => "-",
            };
            let _ = write!(
                o,
                "<tr><td><code>{}</code></td><td class=k>{reg}</td><td class=n data-v={c}>{c}</td><td class=n data-v={e}>{e}</td>\
                 <td class=n data-v={r}>{rp:.2}%</td><td>{v}</td></tr>",
                esc(p.name.as_deref().unwrap_or(&p.id)),
                c = r.calls,
                e = r.errors,
                r = r.error_rate,
                rp = r.error_rate * 100.0,
                v = esc(&r.versions_seen.join(", "))
            );
        }
        let _ = writeln!(o, "</tbody></table>");
        if !rt.disagreements.is_empty() {
            let _ = write!(
                o,
                "<h3>Disagreements</h3><table><thead><tr><th>Code</th><th>Point</th><th>Detail</th></tr></thead><tbody>"
            );
            for d in &rt.disagreements {
                let _ = write!(
                    o,
                    "<tr><td><code>{}</code></td><td><code>{}</code></td><td>{}</td></tr>",
                    esc(&d.code),
                    esc(&d.point),
                    esc(&d.detail)
                );
            }
            let _ = writeln!(o, "</tbody></table>");
        }
    }
    if let Some(c) = &report.change {
        let _ = write!(
            o,
            "<h2>Since the previous run</h2><p>Coverage {:+.2} points, audited {:+}, unaudited {:+}.</p><ul>",
            c.coverage_delta, c.audited_delta, c.unaudited_delta
        );
        for g in &c.new_gaps {
            let _ = write!(
                o,
                "<li class=unaudited>new gap: <code>{}</code></li>",
                esc(g)
            );
        }
        for g in &c.closed_gaps {
            let _ = write!(o, "<li class=audited>closed: <code>{}</code></li>", esc(g));
        }
        let _ = writeln!(o, "</ul>");
    }

    let _ = write!(o, "<h2>Files</h2>");
    for (i, f) in report.files.iter().enumerate() {
        let _ = write!(
            o,
            "<details id=\"file-{i}\"{}><summary><code>{}</code> &mdash; {} of {} points audited ({:.2}%), {} exempt</summary>\
             <table><thead><tr><th class=n>Line</th><th>Status</th><th>Point</th><th>Source</th></tr></thead><tbody>",
            if f.counts.unaudited > 0 { " open" } else { "" },
            esc(&f.file),
            f.counts.audited,
            f.counts.points,
            f.counts.coverage_percent,
            f.counts.exempt
        );
        for p in report.points.iter().filter(|p| p.file == f.file) {
            let notes: Vec<String> = report
                .findings
                .iter()
                .filter(|x| x.point.as_deref() == Some(p.id.as_str()))
                .map(|x| {
                    format!(
                        "<div class={}>{}: {}</div>",
                        sev(x.severity),
                        esc(&x.code),
                        esc(&x.message)
                    )
                })
                .collect();
            let _ = write!(
                o,
                "<tr><td class=n>{}&ndash;{}</td>{}<td><code>{}</code></td><td><code>{}</code>{}</td></tr>",
                p.line,
                p.end_line,
                status_cell(p),
                esc_path(&p.id),
                esc(&p.signature),
                notes.concat()
            );
        }
        let _ = writeln!(o, "</tbody></table></details>");
    }
    let _ = writeln!(o, "</main><script>{SCRIPT}</script></body></html>");
    o
}
