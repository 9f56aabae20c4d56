//! Audit coverage of a Cargo workspace, as a library: which decision points (tools, LLM calls,
//! decisions) carry an `#[audited_*]` attribute, how good the annotations are, which audited
//! points a binary carries and which fired, with CI gates. This is the engine behind
//! `cargo xtask coverage` in the audit SDK's repository, the `audit-coverage` binary, and a
//! team's own `cargo xtask audit-coverage` (`docs/COVERAGE.md`, "From your own xtask").
//!
//! The whole command line in one call, from a team's `xtask/src/main.rs`:
//!
//! ```no_run
//! use std::process::ExitCode;
//!
//! fn main() -> ExitCode {
//!     let mut args = std::env::args().skip(1);
//!     match args.next().as_deref() {
//!         Some("audit-coverage") => audit_coverage::main_from_args(args),
//!         _ => {
//!             eprintln!("usage: cargo xtask audit-coverage [--help]");
//!             ExitCode::from(2)
//!         }
//!     }
//! }
//! ```
//!
//! Or the pieces, to use the report in code:
//!
//! ```no_run
//! use audit_coverage::{Coverage, Format, Gates};
//!
//! # fn main() -> Result<(), audit_coverage::Error> {
//! let mut report = Coverage::new(".").config("audit.toml").run()?;
//! print!("{}", report.render(Format::Terminal { show_missing: true }));
//! let passed = report.gate(&Gates { fail_under: Some(80.0), ..Gates::default() });
//! std::fs::write("coverage.json", report.render(Format::Json)).expect("write");
//! assert!(passed, "audit coverage under 80%");
//! # Ok(()) }
//! ```
//!
//! The engine reads sources and manifests only: it never compiles the workspace. It asks
//! `cargo metadata` (through `$CARGO` when a cargo command runs it, so the toolchain in use is
//! the one asked) for the members and targets, and when that fails (a `rust-toolchain.toml`
//! naming a toolchain that is not installed, no cargo on `PATH`) it reads the `Cargo.toml` files
//! itself and says so on stderr.
//!
//! Exit codes of [`main_from_args`] (stable, for CI): 0 when every gate passed,
//! [`EXIT_GATE_FAILED`] when a gate failed, [`EXIT_ERROR`] when the coverage could not be
//! computed.

#![warn(missing_docs)]

mod analyze;
mod cli;
mod config;
#[cfg(test)]
mod fuzz_tests;
mod gate;
mod grammar;
mod html;
pub mod model;
mod nesting;
mod reach;
mod render;
mod runtime;
mod scan;
mod workspace;

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;

pub use gate::{Baseline, Gates};
pub use model::Report;

/// Exit code of [`main_from_args`] when a gate failed.
pub const EXIT_GATE_FAILED: u8 = 1;
/// Exit code of [`main_from_args`] when coverage could not be computed (bad arguments, no
/// workspace, unreadable configuration, registry or logs).
pub const EXIT_ERROR: u8 = 2;

/// Run the command line (`audit-coverage --help` lists the options) and return its exit code.
///
/// `args` are the arguments after the command's own name: for `cargo xtask audit-coverage
/// --fail-under 80`, pass `["--fail-under", "80"]`. Reports are printed and written exactly as
/// `cargo xtask coverage` does; errors go to stderr.
///
/// ```no_run
/// // xtask/src/main.rs of a team whose xtask has no other command:
/// fn main() -> std::process::ExitCode {
///     audit_coverage::main_from_args(std::env::args().skip(2))
/// }
/// ```
pub fn main_from_args<I, S>(args: I) -> ExitCode
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let args: Vec<String> = args.into_iter().map(Into::into).collect();
    cli::run(&args)
}

/// Why a coverage report could not be computed: the message names the file, the setting or the
/// command that failed, with its causes (`{:#}` and `{}` print the same chain).
pub struct Error(anyhow::Error);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#}", self.0)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#}", self.0)
    }
}

impl std::error::Error for Error {}

impl From<anyhow::Error> for Error {
    fn from(e: anyhow::Error) -> Self {
        Error(e)
    }
}

/// What one run covers: the workspace, its rules and the optional runtime evidence. Build it
/// with [`Coverage::new`] and the setters, then [`Coverage::run`].
///
/// ```no_run
/// use audit_coverage::Coverage;
///
/// let report = Coverage::new("../loan-agent")
///     .package("loans")
///     .registry("target/registry.json")
///     .logs("target/audit-log")
///     .run()
///     .expect("coverage");
/// println!("{:.1}% audited", report.summary.coverage_percent);
/// ```
#[derive(Debug, Clone, Default)]
pub struct Coverage {
    workspace: PathBuf,
    config: Option<PathBuf>,
    packages: Vec<String>,
    registry: Option<PathBuf>,
    logs: Option<PathBuf>,
    previous: Option<PathBuf>,
    gates: Gates,
}

impl Coverage {
    /// Cover the workspace at `workspace`: its root directory, a member's directory, or either's
    /// `Cargo.toml`.
    ///
    /// ```
    /// let coverage = audit_coverage::Coverage::new(".");
    /// # let _ = coverage;
    /// ```
    pub fn new(workspace: impl Into<PathBuf>) -> Self {
        Coverage {
            workspace: workspace.into(),
            ..Coverage::default()
        }
    }

    /// Read the rules from this file (a `[coverage]` table) instead of `audit.toml` at the
    /// workspace root, then `[workspace.metadata.audit.coverage]` in its `Cargo.toml`. A relative
    /// path is relative to the current directory.
    ///
    /// ```
    /// let coverage = audit_coverage::Coverage::new(".").config("ci/audit.toml");
    /// # let _ = coverage;
    /// ```
    pub fn config(mut self, path: impl Into<PathBuf>) -> Self {
        self.config = Some(path.into());
        self
    }

    /// Scan only this member (call again for more); a name may use dashes or underscores.
    ///
    /// ```
    /// let coverage = audit_coverage::Coverage::new(".").package("loans").package("support");
    /// # let _ = coverage;
    /// ```
    pub fn package(mut self, name: impl Into<String>) -> Self {
        self.packages.push(name.into());
        self
    }

    /// Apply a binary's registry dump (`audit_runtime::point::registry_json()`): which audited
    /// points that binary carries.
    ///
    /// ```
    /// let coverage = audit_coverage::Coverage::new(".").registry("target/registry.json");
    /// # let _ = coverage;
    /// ```
    pub fn registry(mut self, path: impl Into<PathBuf>) -> Self {
        self.registry = Some(path.into());
        self
    }

    /// Count calls, errors and versions from audit logs (a directory of `*.jsonl` or one file).
    ///
    /// ```
    /// let coverage = audit_coverage::Coverage::new(".").logs("target/audit-log");
    /// # let _ = coverage;
    /// ```
    pub fn logs(mut self, path: impl Into<PathBuf>) -> Self {
        self.logs = Some(path.into());
        self
    }

    /// Compare with this earlier JSON report (`report.change`); a file that is not a report is
    /// an error.
    ///
    /// ```
    /// let coverage = audit_coverage::Coverage::new(".").previous("target/coverage.json");
    /// # let _ = coverage;
    /// ```
    pub fn previous(mut self, path: impl Into<PathBuf>) -> Self {
        self.previous = Some(path.into());
        self
    }

    /// Evaluate these gates in [`Coverage::run`] (none by default; [`Report::gate`] evaluates
    /// others afterwards).
    ///
    /// ```
    /// use audit_coverage::{Coverage, Gates};
    ///
    /// let coverage = Coverage::new(".").gates(Gates { max_unaudited: Some(0), ..Gates::default() });
    /// # let _ = coverage;
    /// ```
    pub fn gates(mut self, gates: Gates) -> Self {
        self.gates = gates;
        self
    }

    /// Compute the report: load the workspace and the rules, scan every compiled file, apply
    /// the registry and logs, compare with the previous report and evaluate the gates. Nothing
    /// is written or printed (but a note on stderr when `cargo metadata` failed and the
    /// manifests were read directly).
    ///
    /// ```no_run
    /// let report = audit_coverage::Coverage::new(".").run().expect("coverage");
    /// assert!(!report.gates_failed());
    /// ```
    pub fn run(&self) -> Result<Report, Error> {
        let (mut report, _) = self.analyze()?;
        if let Some(p) = &self.previous {
            compare_with(&mut report, p, true)?;
        }
        report.gate(&self.gates);
        Ok(report)
    }

    /// Everything before the previous report and the gates; also returns the workspace's target
    /// directory (where the command line writes by default).
    fn analyze(&self) -> anyhow::Result<(Report, PathBuf)> {
        let mut ws = workspace::load(&self.workspace)?;
        if !self.packages.is_empty() {
            ws.retain_packages(&self.packages)?;
        }
        let (cfg, source) = config::load(&ws.root, self.config.as_deref())?;
        let (kind, path) = match &source {
            config::ConfigSource::AuditToml(p) => ("audit_toml", Some(p)),
            config::ConfigSource::WorkspaceMetadata(p) => ("workspace_metadata", Some(p)),
            config::ConfigSource::Explicit(p) => ("explicit", Some(p)),
            config::ConfigSource::Defaults => ("defaults", None),
        };
        let info = model::ConfigInfo {
            source: kind.to_owned(),
            path: path.map(|p| analyze::relative(&ws.root, p)),
            rules: serde_json::to_value(&cfg).context("serializing the rules")?,
        };
        let mut report = analyze::analyze(&ws, &cfg, info);
        if !self.packages.is_empty() {
            report.packages = ws.packages.iter().map(|p| p.name.clone()).collect();
        }
        if self.registry.is_some() || self.logs.is_some() {
            runtime::apply(&mut report, self.registry.as_deref(), self.logs.as_deref())?;
        }
        Ok((report, ws.target_dir))
    }
}

/// Set `report.change` from the JSON report at `path`. `strict`: a file that is not a report is
/// an error (else ignored: an old or foreign file in the output directory is not worth failing
/// for).
fn compare_with(report: &mut Report, path: &Path, strict: bool) -> anyhow::Result<()> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    match serde_json::from_str::<Report>(&text) {
        Ok(prev) => report.change = Some(gate::change(report, &prev, path)),
        Err(e) if strict => anyhow::bail!("{} is not a coverage report: {e}", path.display()),
        Err(_) => {}
    }
    Ok(())
}

/// An output format of [`Report::render`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The table for a terminal; `show_missing` lists unaudited points and info findings.
    Terminal {
        /// List unaudited points and info findings.
        show_missing: bool,
    },
    /// The JSON report (`docs/schema/coverage-report.v1.json`), byte-identical for the same
    /// sources.
    Json,
    /// The full Markdown report.
    Markdown,
    /// The Markdown summary for a pull-request comment, cut to at most `max_chars` characters
    /// (at least 2 000; [`Format::SUMMARY`] uses the default of 60 000).
    MarkdownSummary {
        /// Size limit in characters.
        max_chars: usize,
    },
    /// The self-contained HTML page.
    Html,
    /// LCOV tracefile (one line per decision point), for coverage viewers.
    Lcov,
}

impl Format {
    /// The Markdown summary at its default limit, 60 000 characters (a pull-request comment
    /// holds at most 65 536).
    ///
    /// ```
    /// assert_eq!(
    ///     audit_coverage::Format::SUMMARY,
    ///     audit_coverage::Format::MarkdownSummary { max_chars: 60_000 }
    /// );
    /// ```
    pub const SUMMARY: Format = Format::MarkdownSummary {
        max_chars: render::SUMMARY_MAX_CHARS,
    };
}

impl Report {
    /// The report in `format`.
    ///
    /// ```no_run
    /// use audit_coverage::{Coverage, Format};
    ///
    /// let report = Coverage::new(".").run().expect("coverage");
    /// std::fs::write("coverage.lcov", report.render(Format::Lcov)).expect("write");
    /// ```
    pub fn render(&self, format: Format) -> String {
        match format {
            Format::Terminal { show_missing } => {
                render::terminal(self, render::TextOptions { show_missing })
            }
            Format::Json => render::json(self),
            Format::Markdown => render::markdown(self),
            Format::MarkdownSummary { max_chars } => {
                render::markdown_summary(self, max_chars.max(render::SUMMARY_MIN_CHARS))
            }
            Format::Html => html::html(self),
            Format::Lcov => render::lcov(self),
        }
    }

    /// Evaluate `gates` into `self.gates` (replacing earlier results) and return whether every
    /// one passed. Asking for any gate on a workspace with no candidate point fails, unless
    /// `allow_no_points`.
    ///
    /// ```no_run
    /// use audit_coverage::{Baseline, Coverage, Gates};
    ///
    /// let mut report = Coverage::new(".").run().expect("coverage");
    /// let gates = Gates {
    ///     baseline: Some(Baseline::read("audit-baseline.json".as_ref()).expect("baseline")),
    ///     ..Gates::default()
    /// };
    /// if !report.gate(&gates) {
    ///     eprintln!("new audit gaps");
    /// }
    /// ```
    pub fn gate(&mut self, gates: &Gates) -> bool {
        gate::evaluate(self, gates);
        !self.gates_failed()
    }
}

#[cfg(test)]
mod tests {
    /// `grammar.rs` is the macros' table, copied so this crate can be published alone.
    #[test]
    fn grammar_is_the_macros_own() {
        assert!(
            include_str!("grammar.rs") == include_str!("../../../audit-macros/src/grammar.rs"),
            "xtask/coverage/src/grammar.rs differs from audit-macros/src/grammar.rs: copy it over"
        );
    }
}
