//! Runtime coverage: which audited points a binary carries (its registry dump) and which fired
//! (its audit logs), matched against the static scan.
//!
//! What must hold:
//! - The static scan stays the denominator: the registry only holds crates linked into one
//!   binary, and logs only what ran. Points known at run time but not to the scan are listed as
//!   disagreements, never added to the counts.
//! - Log reading is lenient about lines that are not call records (segment headers,
//!   checkpoints, follow-up records, `started` records) and counts malformed lines instead of
//!   failing, because a torn tail after a crash is normal for an append-only log.
//! - A runtime point is matched to a static point by file and line first (exact), then by crate,
//!   module and function, then by audit name; an ambiguous match is not guessed.

use std::collections::{BTreeMap, BTreeSet};
use std::io::BufRead;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Deserialize;

use super::model::{Disagreement, PointRuntime, Report, RuntimeSummary, Status, percent};

/// A point as the runtime describes it (a registry entry, or a record's `point`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct RuntimePoint {
    /// Audit name.
    #[serde(default)]
    pub name: String,
    /// Package name.
    #[serde(default, alias = "crate")]
    pub crate_name: String,
    /// Module path.
    #[serde(default, alias = "module")]
    pub module_path: String,
    /// Function name.
    #[serde(default)]
    pub function: String,
    /// `file!()`.
    #[serde(default)]
    pub file: String,
    /// `line!()` of the attribute.
    #[serde(default)]
    pub line: u32,
}

impl RuntimePoint {
    fn label(&self) -> String {
        format!(
            "{} {}::{} ({})",
            self.crate_name, self.module_path, self.function, self.name
        )
    }
}

/// The record kinds that are completed calls (see `RecordKind` in audit-runtime).
const CALL_KINDS: &[&str] = &[
    "agent_run",
    "decision",
    "tool",
    "model_call",
    "policy_check",
];

/// Counts for one runtime point from the logs.
#[derive(Debug, Default, Clone)]
struct LogStats {
    calls: u64,
    errors: u64,
    versions: BTreeSet<String>,
}

/// Read a registry dump (`audit_runtime::point::registry_json()`): a JSON array of points.
pub fn read_registry(path: &Path) -> Result<Vec<RuntimePoint>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not a registry dump (a JSON array of audit points)",
            path.display()
        )
    })
}

/// The `*.jsonl` files under `path` (or `path` itself when it is a file), sorted.
fn log_files(path: &Path) -> Result<Vec<PathBuf>> {
    if path.is_file() {
        return Ok(vec![path.to_owned()]);
    }
    let mut out = Vec::new();
    let mut dirs = vec![path.to_owned()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).with_context(|| format!("reading {}", d.display()))? {
            let p = e?.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "jsonl") {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

struct Logs {
    files: u64,
    records: u64,
    skipped: u64,
    malformed: u64,
    stats: BTreeMap<RuntimePoint, LogStats>,
}

fn read_logs(path: &Path) -> Result<Logs> {
    let mut logs = Logs {
        files: 0,
        records: 0,
        skipped: 0,
        malformed: 0,
        stats: BTreeMap::new(),
    };
    for f in log_files(path)? {
        logs.files += 1;
        let file = std::fs::File::open(&f).with_context(|| format!("opening {}", f.display()))?;
        for line in std::io::BufReader::new(file).lines() {
            let line = line.with_context(|| format!("reading {}", f.display()))?;
            if line.trim().is_empty() {
                continue;
            }
            let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
                logs.malformed += 1;
                continue;
            };
            let kind = v.get("kind").and_then(|k| k.as_str()).unwrap_or_default();
            let point = v
                .get("point")
                .and_then(|p| RuntimePoint::deserialize(p).ok());
            let (Some(point), true, true) = (
                point,
                v.get("record_id").is_some(),
                CALL_KINDS.contains(&kind),
            ) else {
                logs.skipped += 1;
                continue;
            };
            logs.records += 1;
            let s = logs.stats.entry(point).or_default();
            s.calls += 1;
            let status = v
                .pointer("/outcome/status")
                .and_then(|s| s.as_str())
                .unwrap_or("ok");
            if matches!(status, "err" | "panic" | "cancelled") {
                s.errors += 1;
            }
            for ver in v
                .get("versions")
                .and_then(|x| x.as_array())
                .into_iter()
                .flatten()
            {
                let g = |k: &str| ver.get(k).and_then(|x| x.as_str()).unwrap_or("?");
                s.versions
                    .insert(format!("{}:{}@{}", g("role"), g("name"), g("version")));
            }
        }
    }
    Ok(logs)
}

/// Find the static point a runtime point refers to.
fn match_point(report: &Report, rp: &RuntimePoint) -> Option<usize> {
    let audited = || {
        report
            .points
            .iter()
            .enumerate()
            .filter(|(_, p)| p.status == Status::Audited)
    };
    let unique = |v: Vec<usize>| {
        if v.len() == 1 {
            v.first().copied()
        } else {
            None
        }
    };
    let file_hits: Vec<usize> = audited()
        .filter(|(_, p)| {
            !rp.file.is_empty()
                && (rp.file.replace('\\', "/").ends_with(&p.file)
                    || p.file.ends_with(&rp.file.replace('\\', "/")))
                && rp.line <= p.line
                && p.line.saturating_sub(rp.line) <= 40
        })
        .map(|(i, _)| i)
        .collect();
    // The attribute is above the `fn` line; the nearest point below the attribute is the one.
    if let Some(i) = file_hits
        .iter()
        .copied()
        .min_by_key(|&i| report.points[i].line)
    {
        return Some(i);
    }
    let by_fn = audited()
        .filter(|(_, p)| {
            p.crate_name == rp.crate_name && p.module == rp.module_path && p.function == rp.function
        })
        .map(|(i, _)| i)
        .collect();
    if let Some(i) = unique(by_fn) {
        return Some(i);
    }
    unique(
        audited()
            .filter(|(_, p)| p.name.as_deref() == Some(&rp.name))
            .map(|(i, _)| i)
            .collect(),
    )
}

/// Add runtime evidence to `report`.
pub fn apply(report: &mut Report, registry: Option<&Path>, logs: Option<&Path>) -> Result<()> {
    let mut summary = RuntimeSummary::default();
    let mut disagreements = Vec::new();
    if let Some(path) = registry {
        let points = read_registry(path)?;
        summary.registry = Some(path.display().to_string());
        summary.registered = points.len() as u64;
        let mut seen = vec![false; report.points.len()];
        for rp in &points {
            match match_point(report, rp) {
                Some(i) => seen[i] = true,
                None => disagreements.push(Disagreement {
                    code: "registered_not_scanned".to_owned(),
                    point: rp.label(),
                    detail: format!(
                        "the binary carries this point ({}:{}) but the static scan did not find it",
                        rp.file, rp.line
                    ),
                }),
            }
        }
        for (i, p) in report.points.iter_mut().enumerate() {
            if p.status != Status::Audited {
                continue;
            }
            p.runtime
                .get_or_insert_with(PointRuntime::default)
                .in_registry = Some(seen[i]);
            if !seen[i] {
                disagreements.push(Disagreement {
                    code: "scanned_not_registered".to_owned(),
                    point: p.id.clone(),
                    detail: format!("audited in {}:{} but not in the registry of this binary (crate `{}` not linked?)", p.file, p.line, p.crate_name),
                });
            }
        }
    }
    if let Some(path) = logs {
        let l = read_logs(path)?;
        summary.logs = Some(path.display().to_string());
        summary.log_files = l.files;
        summary.records = l.records;
        summary.skipped_lines = l.skipped;
        summary.malformed_lines = l.malformed;
        for (rp, stats) in &l.stats {
            let Some(i) = match_point(report, rp) else {
                disagreements.push(Disagreement {
                    code: "logged_not_scanned".to_owned(),
                    point: rp.label(),
                    detail: format!(
                        "{} calls logged for a point the static scan did not find",
                        stats.calls
                    ),
                });
                continue;
            };
            let p = &mut report.points[i];
            let rt = p.runtime.get_or_insert_with(PointRuntime::default);
            rt.calls += stats.calls;
            rt.errors += stats.errors;
            let mut v: BTreeSet<String> = rt.versions_seen.drain(..).collect();
            v.extend(stats.versions.iter().cloned());
            rt.versions_seen = v.into_iter().collect();
            // A literal version in the attribute that the logs contradict.
            if let Some(ann) = &p.annotation {
                for d in ann.versions.iter().filter(|d| d.source == "literal") {
                    let prefix = format!("{}:{}@", d.role, d.name);
                    let logged: Vec<&String> = stats
                        .versions
                        .iter()
                        .filter(|s| s.starts_with(&prefix))
                        .collect();
                    let expected = format!("{prefix}{}", d.version.as_deref().unwrap_or_default());
                    if !logged.is_empty() && logged.iter().any(|s| **s != expected) {
                        disagreements.push(Disagreement {
                            code: "version_differs".to_owned(),
                            point: p.id.clone(),
                            detail: format!(
                                "the attribute declares {expected}, the logs show {}",
                                logged
                                    .iter()
                                    .map(|s| s.as_str())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        });
                    }
                }
            }
        }
        let mut audited = 0;
        for p in report
            .points
            .iter_mut()
            .filter(|p| p.status == Status::Audited)
        {
            audited += 1;
            let rt = p.runtime.get_or_insert_with(PointRuntime::default);
            #[allow(clippy::cast_precision_loss)] // call counts far below 2^52
            if rt.calls > 0 {
                rt.error_rate =
                    ((rt.errors as f64 / rt.calls as f64) * 10_000.0).round() / 10_000.0;
                summary.exercised += 1;
            } else {
                summary.never_fired.push(p.id.clone());
            }
        }
        summary.exercised_percent = percent(summary.exercised, audited);
    }
    summary.disagreements = disagreements;
    report.runtime = Some(summary);
    Ok(())
}
