//! `audit ls`: records filtered by what an investigator asks about, sorted, as rows.

use std::fmt::Write as _;

use serde_json::{Value, json};

use super::store::{Entry, Store, parse_rfc3339_ns, value_at};

/// A filter over records; every set member must match (AND).
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// `point.name`, exactly.
    pub point: Option<String>,
    /// `kind`, exactly (`decision`, `tool`, `human_action`, ...).
    pub kind: Option<String>,
    /// `outcome.status`, exactly (`ok`, `err`, `panic`, `cancelled`, ...).
    pub status: Option<String>,
    /// A model, as `name` or `name@version`.
    pub model: Option<String>,
    /// A prompt, as `name` or `name@version`.
    pub prompt: Option<String>,
    /// A policy, as `name` or `name@version`.
    pub policy: Option<String>,
    /// `correlation.session_id`.
    pub session: Option<String>,
    /// `correlation.run_id`.
    pub run: Option<String>,
    /// `correlation.trace_id`.
    pub trace: Option<String>,
    /// `correlation.decision_id`.
    pub decision: Option<String>,
    /// `human_action.actor`.
    pub actor: Option<String>,
    /// Records whose `time.start` is at or after this RFC 3339 time (nanoseconds).
    pub since_ns: Option<i128>,
    /// Records whose `time.start` is before this RFC 3339 time (nanoseconds).
    pub until_ns: Option<i128>,
}

fn version_matches(e: &Entry, role: &str, wanted: &str) -> bool {
    let (name, version) = match wanted.split_once('@') {
        Some((n, v)) => (n, Some(v)),
        None => (wanted, None),
    };
    e.record
        .get("versions")
        .and_then(Value::as_array)
        .is_some_and(|vs| {
            vs.iter().any(|v| {
                v.get("role").and_then(Value::as_str) == Some(role)
                    && v.get("name").and_then(Value::as_str) == Some(name)
                    && version.is_none_or(|w| v.get("version").and_then(Value::as_str) == Some(w))
            })
        })
}

impl Filter {
    /// Does `e` pass every condition set?
    pub fn matches(&self, e: &Entry) -> bool {
        let eq = |want: &Option<String>, got: Option<&str>| {
            want.as_deref().is_none_or(|w| got == Some(w))
        };
        eq(&self.point, e.str_at("point.name"))
            && eq(&self.kind, Some(e.kind()))
            && eq(&self.status, e.status())
            && eq(&self.session, e.str_at("correlation.session_id"))
            && eq(&self.run, e.str_at("correlation.run_id"))
            && eq(&self.trace, e.str_at("correlation.trace_id"))
            && eq(&self.decision, e.str_at("correlation.decision_id"))
            && eq(&self.actor, e.str_at("human_action.actor"))
            && self
                .model
                .as_deref()
                .is_none_or(|m| version_matches(e, "model", m))
            && self
                .prompt
                .as_deref()
                .is_none_or(|m| version_matches(e, "prompt", m))
            && self
                .policy
                .as_deref()
                .is_none_or(|m| version_matches(e, "policy", m))
            && self
                .since_ns
                .is_none_or(|t| e.start_ns().is_some_and(|s| s >= t))
            && self
                .until_ns
                .is_none_or(|t| e.start_ns().is_some_and(|s| s < t))
    }
}

/// How `audit ls` sorts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortKey {
    /// By `time.start` (default), then chain order.
    #[default]
    Time,
    /// By duration, longest first.
    Duration,
    /// By point name, then time.
    Point,
    /// By kind, then time.
    Kind,
    /// In log order (chain, then `seq`).
    Seq,
}

impl SortKey {
    /// Parse `time`, `duration`, `point`, `kind`, `seq`.
    pub fn parse(s: &str) -> Option<SortKey> {
        Some(match s {
            "time" => SortKey::Time,
            "duration" => SortKey::Duration,
            "point" => SortKey::Point,
            "kind" => SortKey::Kind,
            "seq" => SortKey::Seq,
            _ => return None,
        })
    }
}

/// The indexes of the entries that match `filter`, sorted, at most `limit`.
pub fn select(store: &Store, filter: &Filter, sort: SortKey, limit: Option<usize>) -> Vec<usize> {
    let mut v: Vec<usize> = (0..store.entries.len())
        .filter(|&i| filter.matches(&store.entries[i]))
        .collect();
    let es = &store.entries;
    match sort {
        SortKey::Seq => {}
        SortKey::Time => v.sort_by_key(|&i| (es[i].start_ns(), i)),
        SortKey::Duration => {
            v.sort_by_key(|&i| (std::cmp::Reverse(es[i].duration_ns()), i));
        }
        SortKey::Point => v.sort_by(|&a, &b| {
            (es[a].point_name(), es[a].start_ns(), a).cmp(&(
                es[b].point_name(),
                es[b].start_ns(),
                b,
            ))
        }),
        SortKey::Kind => v.sort_by(|&a, &b| {
            (es[a].kind(), es[a].start_ns(), a).cmp(&(es[b].kind(), es[b].start_ns(), b))
        }),
    }
    if let Some(n) = limit {
        v.truncate(n);
    }
    v
}

/// The columns of `audit ls`, in order.
pub const COLUMNS: [&str; 11] = [
    "time",
    "kind",
    "point",
    "status",
    "duration_ms",
    "record_id",
    "decision_id",
    "run_id",
    "session_id",
    "versions",
    "integrity",
];

/// A record as a row of [`COLUMNS`] (strings; empty when absent).
pub fn row(e: &Entry) -> Vec<String> {
    let s = |p: &str| e.str_at(p).unwrap_or("").to_owned();
    let versions = e
        .record
        .get("versions")
        .and_then(Value::as_array)
        .map(|vs| {
            vs.iter()
                .map(|v| {
                    format!(
                        "{}={}@{}",
                        v.get("role").and_then(Value::as_str).unwrap_or("?"),
                        v.get("name").and_then(Value::as_str).unwrap_or("?"),
                        v.get("version").and_then(Value::as_str).unwrap_or("?")
                    )
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default();
    let point = match e.kind() {
        "human_action" => format!(
            "{} by {}",
            e.str_at("human_action.action").unwrap_or("?"),
            e.str_at("human_action.actor").unwrap_or("?")
        ),
        "outcome" if e.point_name().is_empty() => {
            format!("label {}", e.str_at("attributes.label").unwrap_or("?"))
        }
        _ => e.point_name().to_owned(),
    };
    vec![
        s("time.start"),
        e.kind().to_owned(),
        point,
        e.status().unwrap_or("").to_owned(),
        e.duration_ns()
            .map(|d| format!("{:.3}", d as f64 / 1e6))
            .unwrap_or_default(),
        e.id().to_owned(),
        s("correlation.decision_id"),
        s("correlation.run_id"),
        s("correlation.session_id"),
        versions,
        e.integrity.word().to_owned(),
    ]
}

/// Rows as an aligned text table with a header.
pub fn table(store: &Store, rows: &[usize]) -> String {
    let cols = [0usize, 1, 2, 3, 4, 5, 10];
    let data: Vec<Vec<String>> = rows.iter().map(|&i| row(&store.entries[i])).collect();
    let mut width: Vec<usize> = cols.iter().map(|&c| COLUMNS[c].len()).collect();
    for r in &data {
        for (w, &c) in width.iter_mut().zip(&cols) {
            *w = (*w).max(r[c].chars().count());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, cells: Vec<&str>| {
        let mut l = String::new();
        for (k, (cell, w)) in cells.iter().zip(&width).enumerate() {
            if k + 1 == cells.len() {
                l.push_str(cell);
            } else {
                let _ = write!(l, "{cell:<w$}  ");
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(&mut out, cols.iter().map(|&c| COLUMNS[c]).collect());
    for r in &data {
        line(&mut out, cols.iter().map(|&c| r[c].as_str()).collect());
    }
    out
}

/// Rows as JSON Lines: one object a record, `{"integrity": ..., "record": <as written>}`.
pub fn jsonl(store: &Store, rows: &[usize]) -> String {
    let mut out = String::new();
    for &i in rows {
        let e = &store.entries[i];
        let v = json!({"integrity": e.integrity.to_string(), "record": e.record});
        out.push_str(&v.to_string());
        out.push('\n');
    }
    out
}

fn csv_cell(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

/// Rows as CSV (RFC 4180) with every column of [`COLUMNS`].
pub fn csv(store: &Store, rows: &[usize]) -> String {
    let mut out = COLUMNS.join(",");
    out.push_str("\r\n");
    for &i in rows {
        let r = row(&store.entries[i]);
        out.push_str(&r.iter().map(|c| csv_cell(c)).collect::<Vec<_>>().join(","));
        out.push_str("\r\n");
    }
    out
}

/// Parse an RFC 3339 UTC time given on the command line (`2026-11-26T19:50:45Z`, or a date
/// `2026-11-26` meaning its midnight).
pub fn parse_time_arg(s: &str) -> Option<i128> {
    if s.len() == 10 {
        return parse_rfc3339_ns(&format!("{s}T00:00:00Z"));
    }
    parse_rfc3339_ns(s)
}

/// A value at a path, for callers that render records.
pub fn member<'v>(e: &'v Entry, path: &str) -> Option<&'v Value> {
    value_at(&e.record, path)
}
