//! `audit stats`: per point, counts, error/panic/cancellation rates, duration percentiles,
//! human-override rate and outcome mix. (Drift against a baseline window is not built yet.)

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::{Value, json};

use super::store::Store;

/// Statistics of one point over the selected records.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PointStats {
    /// The point's name.
    pub point: String,
    /// Its kind (`decision`, `tool`, ...).
    pub kind: String,
    /// Completed calls.
    pub count: u64,
    /// Outcome statuses and how often.
    pub statuses: BTreeMap<String, u64>,
    /// Duration percentiles in nanoseconds (p50, p95, p99; nearest rank).
    pub p50_ns: u64,
    /// See `p50_ns`.
    pub p95_ns: u64,
    /// See `p50_ns`.
    pub p99_ns: u64,
    /// Calls with at least one `human_action` of action `override` about them.
    pub overridden: u64,
    /// Findings about its calls.
    pub findings: u64,
}

impl PointStats {
    /// The share of calls with status `s`.
    pub fn rate(&self, s: &str) -> f64 {
        if self.count == 0 {
            return 0.0;
        }
        self.statuses.get(s).copied().unwrap_or(0) as f64 / self.count as f64
    }
}

/// Nearest-rank percentile of sorted values.
fn pct(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Statistics of every point among the records `rows` (completed calls only; `started`
/// markers and follow-ups are counted against the call they are about).
pub fn stats(store: &Store, rows: &[usize]) -> Vec<PointStats> {
    let mut by: BTreeMap<(String, String), (PointStats, Vec<u64>)> = BTreeMap::new();
    for &i in rows {
        let e = &store.entries[i];
        if e.is_follow_up() || e.point_name().is_empty() {
            continue;
        }
        let key = (e.point_name().to_owned(), e.kind().to_owned());
        let (s, durs) = by.entry(key.clone()).or_default();
        s.point = key.0;
        s.kind = key.1;
        s.count += 1;
        *s.statuses
            .entry(e.status().unwrap_or("none").to_owned())
            .or_insert(0) += 1;
        if let Some(d) = e.duration_ns() {
            durs.push(d);
        }
        let about = store.referring(e.id());
        if about
            .iter()
            .any(|&a| store.entries[a].str_at("human_action.action") == Some("override"))
        {
            s.overridden += 1;
        }
        s.findings += about
            .iter()
            .filter(|&&a| store.entries[a].kind() == "finding")
            .count() as u64;
    }
    by.into_values()
        .map(|(mut s, mut d)| {
            d.sort_unstable();
            s.p50_ns = pct(&d, 50.0);
            s.p95_ns = pct(&d, 95.0);
            s.p99_ns = pct(&d, 99.0);
            s
        })
        .collect()
}

/// The statistics as a text table.
pub fn render(stats: &[PointStats]) -> String {
    let mut out = String::from(
        "point                          kind          count  err%   panic% cancel% override%  p50 ms    p95 ms    p99 ms  findings  statuses\n",
    );
    for s in stats {
        let _ = writeln!(
            out,
            "{:<30} {:<12} {:>6} {:>6.1} {:>6.1} {:>7.1} {:>9.1} {:>8.3} {:>9.3} {:>9.3} {:>9}  {}",
            s.point,
            s.kind,
            s.count,
            100.0 * s.rate("err"),
            100.0 * s.rate("panic"),
            100.0 * s.rate("cancelled"),
            if s.count == 0 {
                0.0
            } else {
                100.0 * s.overridden as f64 / s.count as f64
            },
            s.p50_ns as f64 / 1e6,
            s.p95_ns as f64 / 1e6,
            s.p99_ns as f64 / 1e6,
            s.findings,
            s.statuses
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
    out
}

/// The statistics as JSON: a list of objects with the members of [`PointStats`].
pub fn to_json(stats: &[PointStats]) -> Value {
    Value::Array(
        stats
            .iter()
            .map(|s| {
                json!({
                    "point": s.point, "kind": s.kind, "count": s.count,
                    "statuses": s.statuses, "p50_ns": s.p50_ns, "p95_ns": s.p95_ns,
                    "p99_ns": s.p99_ns, "overridden": s.overridden, "findings": s.findings,
                })
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn nearest_rank() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(super::pct(&v, 50.0), 50);
        assert_eq!(super::pct(&v, 95.0), 95);
        assert_eq!(super::pct(&v, 99.0), 99);
        assert_eq!(super::pct(&[7], 99.0), 7);
        assert_eq!(super::pct(&[], 50.0), 0);
    }
}
