//! The command line (`audit-coverage`, `cargo xtask coverage`, a team's `cargo xtask
//! audit-coverage`): which decision points of a Cargo workspace are audited, how good the
//! annotations are, which audited points a binary carries and which fired, with CI gates.
//!
//! The pipeline: [`crate::workspace::load`] (cargo metadata, or the manifests when it fails) and
//! [`crate::config::load`] (the rules), then [`crate::analyze::analyze`] (syn over every
//! compiled file, in parallel), then optionally [`crate::runtime::apply`] (registry dump and
//! logs), [`gate::change`] and [`gate::evaluate`], and finally the renderings in [`render`] and
//! [`html`].
//!
//! Exit codes (stable, for CI): 0 when every gate passed, 1 when a gate failed, 2 when the
//! coverage could not be computed (bad arguments, no workspace, unreadable configuration,
//! registry or logs). Files the parser cannot read are reported, not fatal, unless
//! `--deny-parse-errors` makes them a gate.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};

use crate::model::Report;
use crate::{Coverage, EXIT_ERROR, EXIT_GATE_FAILED, gate, html, render};

const USAGE: &str = "\
audit-coverage [OPTIONS]
(the same as `cargo xtask coverage` in the audit SDK's repository and `cargo xtask
audit-coverage` from a team's own xtask)

Audit coverage of a Cargo workspace: audited and unaudited decision points, annotation
quality, runtime coverage, CI gates. See docs/COVERAGE.md.

Input:
  --workspace <PATH>        workspace directory or Cargo.toml (default: the nearest directory
                            with a Cargo.toml, from the current one up);
                            the path may also be given alone, without the flag
  -p, --package <NAME>      scan only this member (repeatable); the report covers it alone
  --config <FILE>           rules file with a [coverage] table (default: audit.toml, then
                            [workspace.metadata.audit.coverage] in Cargo.toml)
  --registry <FILE>         registry dump (audit_runtime::point::registry_json()) of a binary
  --logs <DIR|FILE>         audit logs (*.jsonl) to count calls, errors and versions
Output:
  --output-dir <DIR>        where coverage.{json,md,summary.md,html,lcov} go (default:
                            <target-dir>/audit-coverage); the previous coverage.json there is
                            compared with this run
  --json/--markdown/--markdown-summary/--html/--lcov <FILE>   also write that format to FILE
  --no-write                write no files
  --format <FMT>            what to print: terminal (default), json, markdown,
                            markdown-summary, lcov, none
  --summary-max-chars <N>   size limit of the Markdown summary, in characters (default
                            60000: a pull-request comment holds at most 65536)
  --show-missing            list unaudited points (and info findings) in the terminal output
  --previous <FILE>         compare with this earlier JSON report instead
Gates (exit code 1 when one fails):
  --fail-under <PCT>        minimum coverage percentage
  --max-unaudited <N>       maximum number of unaudited points
  --min-complete-annotations <PCT>   minimum share of audited points with complete annotations
  --baseline <FILE>         fail only on gaps not in this baseline (or earlier JSON report)
  --write-baseline <FILE>   write the current gaps as a baseline
  --deny-parse-errors       fail when a file could not be parsed
  --allow-no-points         let the gates pass when no candidate point was found (by default
                            any gate fails on a workspace with none: 0 of 0 is not 100%)
";

/// Parsed command line.
#[derive(Debug, Default)]
struct Args {
    workspace: Option<PathBuf>,
    packages: Vec<String>,
    config: Option<PathBuf>,
    registry: Option<PathBuf>,
    logs: Option<PathBuf>,
    output_dir: Option<PathBuf>,
    json: Option<PathBuf>,
    markdown: Option<PathBuf>,
    markdown_summary: Option<PathBuf>,
    summary_max_chars: usize,
    html: Option<PathBuf>,
    lcov: Option<PathBuf>,
    no_write: bool,
    format: String,
    show_missing: bool,
    previous: Option<PathBuf>,
    gates: gate::Gates,
    baseline_path: Option<PathBuf>,
    write_baseline: Option<PathBuf>,
    help: bool,
}

fn parse_args(args: &[String]) -> Result<Args> {
    let mut a = Args {
        format: "terminal".to_owned(),
        summary_max_chars: render::SUMMARY_MAX_CHARS,
        ..Args::default()
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_owned())),
            _ => (arg.as_str(), None),
        };
        let mut value = || -> Result<String> {
            match inline.clone() {
                Some(v) => Ok(v),
                None => it
                    .next()
                    .cloned()
                    .with_context(|| format!("{flag} needs a value")),
            }
        };
        let num = |v: String| -> Result<f64> {
            let n: f64 = v
                .parse()
                .with_context(|| format!("{flag}: `{v}` is not a number"))?;
            if !(0.0..=100.0).contains(&n) {
                bail!("{flag}: {n} is not a percentage between 0 and 100");
            }
            Ok(n)
        };
        match flag {
            "--workspace" | "--manifest-path" => {
                let v = value()?;
                if let Some(w) = &a.workspace {
                    bail!(
                        "{flag} {v}: the workspace is already `{}`; give one workspace path",
                        w.display()
                    );
                }
                a.workspace = Some(v.into());
            }
            "--config" => a.config = Some(value()?.into()),
            "--registry" => a.registry = Some(value()?.into()),
            "--logs" => a.logs = Some(value()?.into()),
            "--output-dir" => a.output_dir = Some(value()?.into()),
            "--json" => a.json = Some(value()?.into()),
            "--markdown" => a.markdown = Some(value()?.into()),
            "--markdown-summary" => a.markdown_summary = Some(value()?.into()),
            "--summary-max-chars" => {
                let v = value()?;
                let n: usize = v.parse().with_context(|| {
                    format!("--summary-max-chars: `{v}` is not a number of characters")
                })?;
                if n < render::SUMMARY_MIN_CHARS {
                    bail!(
                        "--summary-max-chars: {n} is too small; the headline, gates and section \
                         notes need at least {}",
                        render::SUMMARY_MIN_CHARS
                    );
                }
                a.summary_max_chars = n;
            }
            "--html" => a.html = Some(value()?.into()),
            "--lcov" => a.lcov = Some(value()?.into()),
            "--no-write" => a.no_write = true,
            "--format" => {
                a.format = value()?;
                const FORMATS: [&str; 6] = [
                    "terminal",
                    "json",
                    "markdown",
                    "markdown-summary",
                    "lcov",
                    "none",
                ];
                if !FORMATS.contains(&a.format.as_str()) {
                    bail!("--format must be one of {}", FORMATS.join(", "));
                }
            }
            "--show-missing" => a.show_missing = true,
            "--previous" => a.previous = Some(value()?.into()),
            "--fail-under" => a.gates.fail_under = Some(num(value()?)?),
            "--max-unaudited" => {
                let v = value()?;
                a.gates.max_unaudited = Some(
                    v.parse()
                        .with_context(|| format!("--max-unaudited: `{v}` is not a count"))?,
                );
            }
            "--min-complete-annotations" => a.gates.min_complete = Some(num(value()?)?),
            "--baseline" => a.baseline_path = Some(value()?.into()),
            "--write-baseline" => a.write_baseline = Some(value()?.into()),
            "--deny-parse-errors" => a.gates.deny_parse_errors = true,
            "--allow-no-points" => a.gates.allow_no_points = true,
            "-p" | "--package" => a.packages.push(value()?),
            "-h" | "--help" => a.help = true,
            other if other.starts_with('-') => bail!("unknown option `{other}`\n\n{USAGE}"),
            // A bare argument is the workspace path (`cargo xtask coverage ../loan-agent`),
            // when it is one; anything else gets the hint rather than a silent default.
            path => {
                if let Some(w) = &a.workspace {
                    bail!(
                        "`{path}`: the workspace is already `{}`; give one workspace path",
                        w.display()
                    );
                }
                let p = PathBuf::from(path);
                if !p.exists() {
                    bail!(
                        "unexpected argument `{path}` (no such file or directory): did you mean \
                         `--workspace {path}`, or `--package {path}` for one member?"
                    );
                }
                a.workspace = Some(p);
            }
        }
    }
    Ok(a)
}

fn write(path: &Path, text: &str) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// Compute the report for the given arguments (everything but printing and exit codes).
fn compute(a: &Args) -> Result<(Report, Vec<(PathBuf, String)>)> {
    let ws_path = match &a.workspace {
        Some(p) => p.clone(),
        None => default_workspace()?,
    };
    let mut coverage = Coverage::new(ws_path);
    coverage.config.clone_from(&a.config);
    coverage.packages.clone_from(&a.packages);
    coverage.registry.clone_from(&a.registry);
    coverage.logs.clone_from(&a.logs);
    let (mut report, target_dir) = coverage.analyze()?;
    let out_dir = a
        .output_dir
        .clone()
        .unwrap_or_else(|| target_dir.join("audit-coverage"));
    let previous_path = a
        .previous
        .clone()
        .unwrap_or_else(|| out_dir.join("coverage.json"));
    if previous_path.is_file() {
        crate::compare_with(&mut report, &previous_path, a.previous.is_some())?;
    }
    let mut gates = a.gates.clone();
    if let Some(p) = &a.baseline_path {
        gates.baseline = Some(gate::Baseline::read(p)?);
    }
    gate::evaluate(&mut report, &gates);
    let mut files = Vec::new();
    if !a.no_write {
        files.push((out_dir.join("coverage.json"), render::json(&report)));
        files.push((out_dir.join("coverage.md"), render::markdown(&report)));
        files.push((
            out_dir.join("coverage.summary.md"),
            render::markdown_summary(&report, a.summary_max_chars),
        ));
        files.push((out_dir.join("coverage.html"), html::html(&report)));
        files.push((out_dir.join("coverage.lcov"), render::lcov(&report)));
    }
    for (path, f) in [
        (&a.json, render::json as fn(&Report) -> String),
        (&a.markdown, render::markdown),
        (&a.html, html::html),
        (&a.lcov, render::lcov),
    ] {
        if let Some(p) = path {
            files.push((p.clone(), f(&report)));
        }
    }
    if let Some(p) = &a.markdown_summary {
        files.push((
            p.clone(),
            render::markdown_summary(&report, a.summary_max_chars),
        ));
    }
    if let Some(p) = &a.write_baseline {
        let text = serde_json::to_string_pretty(&gate::Baseline::of(&report))
            .context("serializing the baseline")?;
        files.push((p.clone(), text + "\n"));
    }
    Ok((report, files))
}

/// The nearest directory holding a `Cargo.toml`, from the current directory up (so the command
/// works from any directory of a workspace, as cargo does); the current directory when none.
fn default_workspace() -> Result<PathBuf> {
    let cwd = std::env::current_dir().context("current directory")?;
    Ok(cwd
        .ancestors()
        .find(|d| d.join("Cargo.toml").is_file())
        .map_or_else(|| cwd.clone(), Path::to_path_buf))
}

/// Entry point for `cargo xtask coverage <args>` and the other command lines.
pub fn run(args: &[String]) -> ExitCode {
    let a = match parse_args(args) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(EXIT_ERROR);
        }
    };
    if a.help {
        print!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let (report, files) = match compute(&a) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(EXIT_ERROR);
        }
    };
    for (path, text) in &files {
        if let Err(e) = write(path, text) {
            eprintln!("error: {e:#}");
            return ExitCode::from(EXIT_ERROR);
        }
    }
    let opts = render::TextOptions {
        show_missing: a.show_missing,
    };
    match a.format.as_str() {
        "json" => print!("{}", render::json(&report)),
        "markdown" => print!("{}", render::markdown(&report)),
        "markdown-summary" => print!("{}", render::markdown_summary(&report, a.summary_max_chars)),
        "lcov" => print!("{}", render::lcov(&report)),
        "none" => {}
        _ => {
            print!("{}", render::terminal(&report, opts));
            if let Some((p, _)) = files
                .iter()
                .find(|(p, _)| p.extension().is_some_and(|x| x == "html"))
            {
                println!("\nReports written next to {}", p.display());
            }
        }
    }
    if report.summary.points == 0 && a.format != "terminal" {
        // The terminal table carries the warning; other formats go to a file or a pipe.
        eprintln!("warning: {}", render::NO_POINTS);
    }
    if report.gates_failed() {
        eprintln!("audit coverage: a gate failed");
        return ExitCode::from(EXIT_GATE_FAILED);
    }
    ExitCode::SUCCESS
}
