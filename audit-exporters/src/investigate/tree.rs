//! `audit show` and `audit timeline`: a record, decision, run, trace or session as a tree of
//! calls with their follow-ups attached, or as events in time order.

use std::collections::HashSet;
use std::fmt::Write as _;

use serde_json::{Value, json};

use super::store::{Entry, Store, value_at};

/// What an id given to `audit show` turned out to name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Matched {
    /// A record id (a decision's id is its record id; an agent run's id is its `run_id`).
    Record,
    /// A `run_id` whose `agent_run` record is absent (the run did not complete).
    Run,
    /// A `trace_id`.
    Trace,
    /// A `session_id`.
    Session,
}

impl Matched {
    /// `record`, `run`, `trace`, `session`.
    pub fn as_str(self) -> &'static str {
        match self {
            Matched::Record => "record",
            Matched::Run => "run",
            Matched::Trace => "trace",
            Matched::Session => "session",
        }
    }
}

/// A record with the calls nested in it and the records about it.
#[derive(Debug, Clone)]
pub struct Node {
    /// Index of the record in [`Store::entries`].
    pub entry: usize,
    /// Calls whose `parent_id` is this record, in time order.
    pub children: Vec<Node>,
    /// Records whose `refers_to` is this record (its `started` marker, outcomes, human
    /// actions, lineage, findings), in log order.
    pub attached: Vec<usize>,
}

/// The answer to `audit show <id>`.
#[derive(Debug, Clone)]
pub struct Tree {
    /// The id asked for.
    pub query: String,
    /// What it named.
    pub matched: Matched,
    /// The records above the root, outermost first (for a record id).
    pub ancestors: Vec<usize>,
    /// The roots (one for a record id).
    pub roots: Vec<Node>,
}

fn node(store: &Store, i: usize, seen: &mut HashSet<usize>) -> Node {
    seen.insert(i);
    let id = store.entries[i].id().to_owned();
    let mut kids: Vec<usize> = store
        .children(&id)
        .iter()
        .copied()
        .filter(|k| !seen.contains(k))
        .collect();
    kids.sort_by_key(|&k| (store.entries[k].start_ns(), k));
    let mut attached: Vec<usize> = store
        .referring(&id)
        .iter()
        .copied()
        .filter(|k| !seen.contains(k))
        .collect();
    attached.sort_unstable();
    for &a in &attached {
        seen.insert(a);
    }
    let children = kids.into_iter().fold(Vec::new(), |mut v, k| {
        if !seen.contains(&k) {
            v.push(node(store, k, seen));
        }
        v
    });
    Node {
        entry: i,
        children,
        attached,
    }
}

/// The roots among `set`: records whose parent (or, for follow-ups, whose subject) is not a
/// record of the log.
fn roots_of(store: &Store, set: &[usize]) -> Vec<usize> {
    let ids: HashSet<&str> = set.iter().map(|&i| store.entries[i].id()).collect();
    let mut roots: Vec<usize> = set
        .iter()
        .copied()
        .filter(|&i| {
            let e = &store.entries[i];
            let up = if e.is_follow_up() {
                e.refers_to()
            } else {
                e.parent_id()
            };
            up.is_none_or(|p| !ids.contains(p) && store.record(p).is_none())
        })
        .collect();
    roots.sort_by_key(|&i| (store.entries[i].start_ns(), i));
    roots
}

/// Build the tree for `id`, or `None` when it names nothing in the log.
pub fn tree(store: &Store, id: &str) -> Option<Tree> {
    let mut seen = HashSet::new();
    if let Some(mut i) = store.record_index(id) {
        // A `started` marker stands for its call: show the completion when it exists.
        if store.entries[i].kind() == "started"
            && let Some(c) = store.entries[i]
                .refers_to()
                .and_then(|r| store.record_index(r))
        {
            i = c;
        }
        let mut ancestors = Vec::new();
        let mut cur = &store.entries[i];
        let mut guard = HashSet::from([i]);
        while let Some(p) = if cur.is_follow_up() {
            cur.refers_to()
        } else {
            cur.parent_id()
        }
        .and_then(|p| store.record_index(p))
        {
            if !guard.insert(p) {
                break;
            }
            ancestors.push(p);
            cur = &store.entries[p];
        }
        ancestors.reverse();
        return Some(Tree {
            query: id.to_owned(),
            matched: Matched::Record,
            ancestors,
            roots: vec![node(store, i, &mut seen)],
        });
    }
    let (matched, set) = if !store.with_run(id).is_empty() {
        (Matched::Run, store.with_run(id))
    } else if !store.with_trace(id).is_empty() {
        (Matched::Trace, store.with_trace(id))
    } else if !store.with_session(id).is_empty() {
        (Matched::Session, store.with_session(id))
    } else {
        return None;
    };
    let roots = roots_of(store, set)
        .into_iter()
        .fold(Vec::new(), |mut v, r| {
            if !seen.contains(&r) {
                v.push(node(store, r, &mut seen));
            }
            v
        });
    Some(Tree {
        query: id.to_owned(),
        matched,
        ancestors: Vec::new(),
        roots,
    })
}

fn ms(ns: u64) -> String {
    format!("{:.3} ms", ns as f64 / 1e6)
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 1000 {
        let cut: String = s.chars().take(1000).collect();
        format!("{cut}… ({} bytes)", s.len())
    } else {
        s
    }
}

fn captured(v: &Value) -> String {
    match v.get("mode").and_then(Value::as_str) {
        Some("captured") => format!(
            "(captured) {}",
            v.get("value").map(short).unwrap_or_default()
        ),
        Some("digest") => format!(
            "(hash_only: digest {} key {})",
            value_at(v, "digest.value")
                .and_then(Value::as_str)
                .unwrap_or("?"),
            value_at(v, "digest.key_id")
                .and_then(Value::as_str)
                .unwrap_or("?")
        ),
        Some("error") => format!(
            "(not captured: {})",
            v.get("error").and_then(Value::as_str).unwrap_or("?")
        ),
        _ => short(v),
    }
}

/// The one-line heading of a record, with its integrity mark.
pub fn heading(e: &Entry) -> String {
    format!("{}  [{}]", heading_plain(e), e.integrity)
}

/// The one-line heading of a record: kind, point or action, status, duration, id, start.
pub fn heading_plain(e: &Entry) -> String {
    let mut h = String::new();
    let r = &e.record;
    match e.kind() {
        "human_action" => {
            let _ = write!(
                h,
                "human_action {} by {}",
                e.str_at("human_action.action").unwrap_or("?"),
                e.str_at("human_action.actor").unwrap_or("?")
            );
        }
        "outcome" => {
            let _ = write!(
                h,
                "outcome {}",
                e.str_at("attributes.label").unwrap_or("(no label)")
            );
        }
        "finding" => {
            let _ = write!(h, "finding on {}", e.point_name());
        }
        "started" => {
            let _ = write!(h, "started {}", e.point_name());
        }
        k => {
            let _ = write!(h, "{k} {}", e.point_name());
            if let Some(s) = e.status() {
                let _ = write!(h, "  {s}");
            }
            if let Some(d) = e.duration_ns() {
                let _ = write!(h, "  {}", ms(d));
            }
            if let Some(se) = value_at(r, "outcome.side_effect").and_then(Value::as_str) {
                let _ = write!(h, "  side effect {se}");
            }
        }
    }
    let _ = write!(h, "  {}  at {}", e.id(), e.start());
    h
}

/// The detail lines of a record (without the heading), each without indentation.
pub fn details(e: &Entry) -> Vec<String> {
    let r = &e.record;
    let mut out = Vec::new();
    if let Some(vs) = r.get("versions").and_then(Value::as_array) {
        let v: Vec<String> = vs
            .iter()
            .map(|v| {
                let mut s = format!(
                    "{} {}@{} ({})",
                    v.get("role").and_then(Value::as_str).unwrap_or("?"),
                    v.get("name").and_then(Value::as_str).unwrap_or("?"),
                    v.get("version").and_then(Value::as_str).unwrap_or("?"),
                    v.get("source").and_then(Value::as_str).unwrap_or("?")
                );
                if let Some(d) = v.get("digest").and_then(Value::as_str) {
                    let _ = write!(s, " digest {}", d.get(..12).unwrap_or(d));
                }
                s
            })
            .collect();
        out.push(format!("versions: {}", v.join(", ")));
    }
    if let Some(u) = r.get("unversioned").and_then(Value::as_str) {
        out.push(format!("unversioned: {u}"));
    }
    if let Some(c) = r.get("code_version").and_then(Value::as_str) {
        out.push(format!("code: {c}"));
    }
    if let Some(args) = value_at(r, "inputs.args").and_then(Value::as_array) {
        for a in args {
            out.push(format!(
                "input {} {}",
                a.get("name").and_then(Value::as_str).unwrap_or("?"),
                captured(a)
            ));
        }
    }
    if let Some(v) = value_at(r, "outcome.value") {
        out.push(format!("output {}", captured(v)));
    }
    if let Some(err) = value_at(r, "outcome.error").and_then(Value::as_str) {
        let ty = value_at(r, "outcome.error_type")
            .and_then(Value::as_str)
            .map(|t| format!(" ({t})"))
            .unwrap_or_default();
        out.push(format!("error: {err}{ty}"));
        if let Some(src) = value_at(r, "outcome.error_sources").and_then(Value::as_array) {
            for s in src {
                out.push(format!(
                    "  caused by: {}",
                    s.get("message").and_then(Value::as_str).unwrap_or("?")
                ));
            }
        }
    }
    if let Some(x) = value_at(r, "rationale.explanation").and_then(Value::as_str) {
        out.push(format!("rationale: {x}"));
    }
    if let Some(sigs) = value_at(r, "rationale.signals").and_then(Value::as_array) {
        for s in sigs {
            out.push(format!(
                "signal {} = {}",
                s.get("name").and_then(Value::as_str).unwrap_or("?"),
                s.get("value").map(short).unwrap_or_default()
            ));
        }
    }
    if let Some(l) = r.get("lineage").and_then(Value::as_array) {
        for d in l {
            out.push(format!("lineage: {}", short(d)));
        }
    }
    if let Some(h) = r.get("human_action") {
        if let Some(n) = h.get("note").and_then(Value::as_str) {
            out.push(format!("note: {n}"));
        }
        if let Some(v) = h.get("new_value") {
            out.push(format!("new value: {}", short(v)));
        }
    }
    if let Some(f) = r.get("finding").and_then(Value::as_str) {
        out.push(format!("finding: {f}"));
    }
    if let Some(rd) = r.get("redactions") {
        let set = rd.get("rule_set").and_then(Value::as_str).unwrap_or("?");
        let entries = rd.get("entries").and_then(Value::as_array);
        if let Some(es) = entries {
            for x in es {
                let reason = x
                    .get("reason")
                    .and_then(Value::as_str)
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default();
                out.push(format!(
                    "redacted {} by {}: {} [rule set {set}]{reason}",
                    x.get("path").and_then(Value::as_str).unwrap_or("?"),
                    x.get("rule").and_then(Value::as_str).unwrap_or("?"),
                    x.get("action").and_then(Value::as_str).unwrap_or("?"),
                ));
            }
        }
        if rd.get("detectors_disabled").and_then(Value::as_bool) == Some(true) {
            out.push("redaction: built-in detectors were disabled".into());
        }
    }
    out
}

fn render_node(store: &Store, n: &Node, depth: usize, out: &mut String) {
    let pad = "  ".repeat(depth);
    let e = &store.entries[n.entry];
    let _ = writeln!(out, "{pad}{}", heading(e));
    for d in details(e) {
        let _ = writeln!(out, "{pad}    {d}");
    }
    for &a in &n.attached {
        let f = &store.entries[a];
        if f.kind() == "started" {
            let _ = writeln!(out, "{pad}    started marker {} [{}]", f.id(), f.integrity);
            continue;
        }
        let _ = writeln!(out, "{pad}  ↳ {}", heading(f));
        for d in details(f) {
            let _ = writeln!(out, "{pad}      {d}");
        }
    }
    for c in &n.children {
        render_node(store, c, depth + 1, out);
    }
}

/// The tree as text: the verification verdict, the ancestors, then each root indented.
pub fn render(store: &Store, t: &Tree) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", store.verdict_line());
    let _ = writeln!(
        out,
        "{} {} ({} root(s))",
        t.matched.as_str(),
        t.query,
        t.roots.len()
    );
    for &a in &t.ancestors {
        let e = &store.entries[a];
        let _ = writeln!(out, "inside {} {} {}", e.kind(), e.point_name(), e.id());
    }
    for r in &t.roots {
        render_node(store, r, 0, &mut out);
    }
    out
}

fn node_json(store: &Store, n: &Node) -> Value {
    let e = &store.entries[n.entry];
    json!({
        "integrity": e.integrity.to_string(),
        "record": e.record,
        "attached": n.attached.iter().map(|&a| json!({
            "integrity": store.entries[a].integrity.to_string(),
            "record": store.entries[a].record,
        })).collect::<Vec<_>>(),
        "children": n.children.iter().map(|c| node_json(store, c)).collect::<Vec<_>>(),
    })
}

/// The tree as JSON: `{"verification", "verified", "query", "matched", "ancestors", "roots"}`,
/// each node `{"integrity", "record", "attached", "children"}`.
pub fn to_json(store: &Store, t: &Tree) -> Value {
    json!({
        "verification": store.verdict_line(),
        "verified": store.verified(),
        "query": t.query,
        "matched": t.matched.as_str(),
        "ancestors": t.ancestors.iter().map(|&a| store.entries[a].id()).collect::<Vec<_>>(),
        "roots": t.roots.iter().map(|r| node_json(store, r)).collect::<Vec<_>>(),
    })
}

/// The records of a run, session or trace (or the subtree of a record), with every record
/// about them, in time order. `None` when the id names nothing.
pub fn timeline(store: &Store, id: &str) -> Option<(Matched, Vec<usize>)> {
    let t = tree(store, id)?;
    let mut v = Vec::new();
    fn walk(n: &Node, v: &mut Vec<usize>) {
        v.push(n.entry);
        v.extend(&n.attached);
        for c in &n.children {
            walk(c, v);
        }
    }
    for r in &t.roots {
        walk(r, &mut v);
    }
    v.sort_by_key(|&i| (store.entries[i].start_ns(), i));
    v.dedup();
    Some((t.matched, v))
}

/// A timeline as text: offset from the first event, start time, what, and `waiting` lines
/// where no innermost call (one with no audited call nested in it) was running for more than
/// `wait_threshold_ns`: the time the run spent in unaudited code, waiting for I/O or a human.
pub fn render_timeline(store: &Store, rows: &[usize], wait_threshold_ns: u64) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", store.verdict_line());
    let first = rows.iter().find_map(|&i| store.entries[i].start_ns());
    // Only calls with no call nested in them count as busy: an agent run or a decision spans
    // its children and would hide every wait between them.
    let parents: HashSet<&str> = rows
        .iter()
        .filter_map(|&i| store.entries[i].parent_id())
        .collect();
    let mut busy_until: Option<i128> = None;
    for &i in rows {
        let e = &store.entries[i];
        let start = e.start_ns();
        if let (Some(s), Some(b)) = (start, busy_until)
            && s - b > i128::from(wait_threshold_ns)
        {
            let _ = writeln!(out, "{:>12}  … waiting {}", "", ms((s - b) as u64));
        }
        if let Some(s) = start
            && !parents.contains(e.id())
        {
            let end = s + i128::from(e.duration_ns().unwrap_or(0));
            busy_until = Some(busy_until.map_or(end, |b| b.max(end)));
        }
        let off = match (start, first) {
            (Some(s), Some(f)) => format!("+{}", ms((s - f).max(0) as u64)),
            _ => "?".into(),
        };
        let _ = writeln!(out, "{off:>12}  {}", heading(e));
    }
    out
}
