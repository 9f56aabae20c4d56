//! CI gates, the baseline of accepted gaps, and the change since the previous run.
//!
//! What must hold: with a baseline, only gaps (unaudited points and error or warning findings)
//! that the baseline does not list fail the build, so a team can adopt the gate on a codebase
//! with known gaps and ratchet from there. Points are identified by their stable id (module,
//! type and function), not by line, so edits elsewhere in a file do not make old gaps look new.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::model::{Change, GateResult, Report, Severity, Status};

/// The accepted gaps.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Baseline {
    /// Always 1.
    pub baseline_version: u32,
    /// Ids of unaudited points that are accepted.
    pub unaudited: BTreeSet<String>,
    /// Keys (`code@point`) of accepted error and warning findings.
    pub findings: BTreeSet<String>,
}

impl Baseline {
    /// The gaps of `report`.
    pub fn of(report: &Report) -> Baseline {
        Baseline {
            baseline_version: 1,
            unaudited: report
                .points
                .iter()
                .filter(|p| p.status == Status::Unaudited)
                .map(|p| p.id.clone())
                .collect(),
            findings: report
                .findings
                .iter()
                .filter(|f| f.severity <= Severity::Warning)
                .map(|f| f.key())
                .collect(),
        }
    }

    /// Read a baseline file (written by `--write-baseline`); a full JSON report is accepted too
    /// (its gaps become the baseline).
    ///
    /// ```no_run
    /// let baseline = audit_coverage::Baseline::read("audit-baseline.json".as_ref())?;
    /// println!("{} accepted gaps", baseline.unaudited.len() + baseline.findings.len());
    /// # Ok::<(), audit_coverage::Error>(())
    /// ```
    pub fn read(path: &Path) -> Result<Baseline, crate::Error> {
        Ok(Self::read_inner(path)?)
    }

    fn read_inner(path: &Path) -> Result<Baseline> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading baseline {}", path.display()))?;
        if let Ok(b) = serde_json::from_str::<Baseline>(&text) {
            return Ok(b);
        }
        let report: Report = serde_json::from_str(&text).with_context(|| {
            format!(
                "{} is neither a coverage baseline nor a coverage report",
                path.display()
            )
        })?;
        Ok(Baseline::of(&report))
    }
}

/// The CI gates to evaluate (the command line's `--fail-under`, `--max-unaudited`,
/// `--min-complete-annotations`, `--baseline`, `--deny-parse-errors`, `--allow-no-points`).
/// Every gate is off by default.
///
/// ```
/// let gates = audit_coverage::Gates {
///     fail_under: Some(80.0),
///     max_unaudited: Some(3),
///     ..audit_coverage::Gates::default()
/// };
/// # let _ = gates;
/// ```
#[derive(Debug, Clone, Default)]
pub struct Gates {
    /// Minimum coverage percentage.
    pub fail_under: Option<f64>,
    /// Maximum number of unaudited points.
    pub max_unaudited: Option<u64>,
    /// Minimum percentage of complete annotations.
    pub min_complete: Option<f64>,
    /// Fail on gaps not in this baseline.
    pub baseline: Option<Baseline>,
    /// Fail when a file could not be parsed.
    pub deny_parse_errors: bool,
    /// Let the gates pass on a workspace with no candidate point at all.
    pub allow_no_points: bool,
}

impl Gates {
    /// Whether any gate was asked for.
    pub fn any(&self) -> bool {
        self.fail_under.is_some()
            || self.max_unaudited.is_some()
            || self.min_complete.is_some()
            || self.baseline.is_some()
            || self.deny_parse_errors
    }
}

/// Evaluate the gates into `report.gates`.
pub fn evaluate(report: &mut Report, gates: &Gates) {
    let s = &report.summary;
    let mut out = Vec::new();
    // 0 of 0 scores 100% and passes every threshold: a wrong path or a misspelt rule would turn
    // the gate green. A gate asked for on nothing fails, unless that is said to be expected.
    if gates.any() && s.points == 0 {
        out.push(GateResult {
            gate: "no_points".to_owned(),
            passed: gates.allow_no_points,
            detail: format!(
                "no candidate points in {} scanned files{}",
                report.files_scanned,
                if gates.allow_no_points {
                    " (allowed by --allow-no-points)"
                } else {
                    ": check the workspace path and the [coverage] rules, or pass --allow-no-points"
                }
            ),
        });
    }
    if let Some(min) = gates.fail_under {
        out.push(GateResult {
            gate: "fail_under".to_owned(),
            passed: s.coverage_percent >= min,
            detail: if s.points == 0 {
                format!("no candidate points, no coverage (required: at least {min}%)")
            } else {
                format!(
                    "coverage {:.2}% (required: at least {min}%)",
                    s.coverage_percent
                )
            },
        });
    }
    if let Some(max) = gates.max_unaudited {
        out.push(GateResult {
            gate: "max_unaudited".to_owned(),
            passed: s.unaudited <= max,
            detail: format!("{} unaudited points (allowed: at most {max})", s.unaudited),
        });
    }
    if let Some(min) = gates.min_complete {
        // With nothing audited, 0 of 0 annotations would read as 100% complete.
        out.push(GateResult {
            gate: "min_complete_annotations".to_owned(),
            passed: s.audited > 0 && s.complete_percent >= min,
            detail: if s.audited == 0 {
                format!("no audited point, so no complete annotation (required: at least {min}%)")
            } else {
                format!(
                    "{:.2}% of annotations complete, {} of {} (required: at least {min}%)",
                    s.complete_percent, s.complete, s.audited
                )
            },
        });
    }
    if let Some(b) = &gates.baseline {
        let now = Baseline::of(report);
        let new_points: Vec<&String> = now.unaudited.difference(&b.unaudited).collect();
        let new_findings: Vec<&String> = now.findings.difference(&b.findings).collect();
        let mut detail = format!(
            "{} new unaudited points, {} new findings not in the baseline",
            new_points.len(),
            new_findings.len()
        );
        for p in new_points.iter().take(20) {
            detail.push_str(&format!("\n  new gap: {p}"));
        }
        for f in new_findings.iter().take(20) {
            detail.push_str(&format!("\n  new finding: {f}"));
        }
        out.push(GateResult {
            gate: "baseline".to_owned(),
            passed: new_points.is_empty() && new_findings.is_empty(),
            detail,
        });
    }
    if gates.deny_parse_errors {
        out.push(GateResult {
            gate: "deny_parse_errors".to_owned(),
            passed: report.parse_errors.is_empty(),
            detail: format!("{} files could not be parsed", report.parse_errors.len()),
        });
    }
    report.gates = out;
}

/// What changed since `previous`.
pub fn change(report: &Report, previous: &Report, previous_path: &Path) -> Change {
    let unaudited = |r: &Report| -> BTreeSet<String> {
        r.points
            .iter()
            .filter(|p| p.status == Status::Unaudited)
            .map(|p| p.id.clone())
            .collect()
    };
    let (now, then) = (unaudited(report), unaudited(previous));
    let delta = |a: u64, b: u64| {
        i64::try_from(a).unwrap_or(i64::MAX) - i64::try_from(b).unwrap_or(i64::MAX)
    };
    Change {
        previous: previous_path.display().to_string(),
        coverage_delta: ((report.summary.coverage_percent - previous.summary.coverage_percent)
            * 100.0)
            .round()
            / 100.0,
        audited_delta: delta(report.summary.audited, previous.summary.audited),
        unaudited_delta: delta(report.summary.unaudited, previous.summary.unaudited),
        new_gaps: now.difference(&then).cloned().collect(),
        closed_gaps: then.difference(&now).cloned().collect(),
    }
}
