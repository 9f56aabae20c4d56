//! `audit evidence` and `audit verify-evidence`: a decision and everything related to it, each
//! record with its inclusion proof under a signed checkpoint, checkable offline with the
//! verifier key alone.
//!
//! A bundle is a directory:
//!
//! ```text
//! manifest.json          {"format":"audit-evidence/1","decision":<id>,"count":<n>,
//!                         "records":[{"record_id","kind","chain","leaf_index","hash","proof"}...]}
//! proofs/<record_id>.tlog  the C2SP tlog-proof of each record (its line in the `extra` line)
//! checkpoints/<chain>.note the signed checkpoint each chain's proofs end in
//! summary.md             human-readable, rendered from the records alone
//! key.vkey               the verifier key, when `--key` was given (informational: the checker
//!                        must pin its own)
//! ```
//!
//! What verification detects, and what it cannot (see docs/INVESTIGATE.md):
//!
//! * an edited record: its proof fails (line hash, or path to the signed root);
//! * a record removed from `proofs/` but still in the manifest: a missing proof;
//! * a proof file not in the manifest, or a manifest `count` that disagrees: refused;
//! * a removed parent, `started` marker's call or follow-up's subject: the closure check (every
//!   `parent_id` and `refers_to` of a bundled record must be bundled);
//! * `summary.md` not what the records say: it is re-rendered and compared byte for byte;
//! * a *leaf* record (a follow-up, a nested call without children) removed from the manifest,
//!   `proofs/` and `summary.md` together is **not** detectable from the bundle alone: the bundle
//!   is not signed (its maker need not hold the log's key). The bundle digest (BLAKE3 of
//!   `manifest.json`), printed when the bundle is made, pins it: `verify-evidence --expect`.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::store::{Entry, Integrity, Store};
use super::tree::{details, heading_plain};
use audit_runtime::merkle::tlog::TlogProof;

use crate::file::format::CheckpointLine;
use crate::file::{VerifierKey, check_record_proof};

/// The `format` member of a bundle's manifest.
pub const BUNDLE_FORMAT: &str = "audit-evidence/1";

/// Why a bundle could not be made or does not verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvidenceError(pub String);

impl fmt::Display for EvidenceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for EvidenceError {}

fn err(s: impl Into<String>) -> EvidenceError {
    EvidenceError(s.into())
}

/// The records related to `decision`: its ancestors (`parent_id` up to the root), the decision,
/// every call nested in it, and every record about any of those (`started` markers, outcomes,
/// human actions, lineage, findings) and every record whose `decision_id` is the decision. In
/// log order (chain, leaf index).
pub fn related(store: &Store, decision: &str) -> Option<Vec<usize>> {
    let d = store.record_index(decision)?;
    let mut set: BTreeSet<usize> = BTreeSet::new();
    let mut stack = vec![d];
    stack.extend_from_slice(store.with_decision(decision));
    while let Some(i) = stack.pop() {
        if !set.insert(i) {
            continue;
        }
        let id = store.entries[i].id().to_owned();
        stack.extend_from_slice(store.children(&id));
        stack.extend_from_slice(store.referring(&id));
        // A `started` marker's or follow-up's subject.
        if let Some(r) = store.entries[i]
            .refers_to()
            .and_then(|r| store.record_index(r))
        {
            stack.push(r);
        }
    }
    // Ancestors of the decision (not their other descendants).
    let mut cur = d;
    while let Some(p) = store.entries[cur]
        .parent_id()
        .and_then(|p| store.record_index(p))
    {
        if !set.insert(p) {
            break;
        }
        // The ancestor's started marker, so its `refers_to` closes too.
        for &r in store.referring(store.entries[p].id()) {
            if store.entries[r].kind() == "started" {
                set.insert(r);
            }
        }
        cur = p;
    }
    // Every bundled record's parent and subject, transitively (a started marker's call, ...).
    loop {
        let mut more = Vec::new();
        for &i in &set {
            let e = &store.entries[i];
            for up in [e.parent_id(), e.refers_to()].into_iter().flatten() {
                if let Some(u) = store.record_index(up)
                    && !set.contains(&u)
                {
                    more.push(u);
                }
            }
        }
        if more.is_empty() {
            break;
        }
        set.extend(more);
    }
    let mut v: Vec<usize> = set.into_iter().collect();
    v.sort_by(|&a, &b| {
        let (x, y) = (&store.entries[a], &store.entries[b]);
        (&x.chain, x.leaf_index).cmp(&(&y.chain, y.leaf_index))
    });
    Some(v)
}

/// The inclusion proof of `e` against the latest signed format-3 checkpoint of its chain, made
/// from the store's tree (the same C2SP `tlog-proof` as `file::prove_record`, without reading the
/// directory again for every record). Refuses format-1/2 chains, unsigned checkpoints, records
/// no checkpoint covers yet, and a tree that does not reproduce the checkpoint's root.
pub fn prove_entry(store: &Store, e: &Entry) -> Result<String, EvidenceError> {
    let c = store
        .chains
        .get(&e.chain)
        .ok_or_else(|| err(format!("chain {} is not in the store", e.chain)))?;
    let text = std::fs::read_to_string(&c.checkpoint_log)
        .map_err(|er| err(format!("cannot read {}: {er}", c.checkpoint_log.display())))?;
    let (line, body) = text
        .lines()
        .rev()
        .filter_map(|l| CheckpointLine::parse(l).ok())
        .find(|(_, b)| b.tree.is_some())
        .ok_or_else(|| {
            err(format!(
                "chain {} has no format-3 checkpoint: only format-3 logs have proofs",
                e.chain
            ))
        })?;
    let Some(t) = body.tree else {
        return Err(err("checkpoint without a tree"));
    };
    if !line.is_signed() {
        return Err(err(format!(
            "the checkpoints of chain {} are not signed: a proof needs a signed checkpoint \
             (configure the writer's signing key)",
            e.chain
        )));
    }
    if t.size <= e.leaf_index {
        return Err(err(format!(
            "the latest checkpoint of chain {} covers {} lines, and record {} is line {}: it is \
             not covered by a checkpoint yet (one is written every N records, every T seconds \
             and at shutdown)",
            e.chain,
            t.size,
            e.id(),
            e.leaf_index
        )));
    }
    let root = c.tree.root_at(t.size).map_err(|_| {
        err(format!(
            "chain {} holds fewer lines than its checkpoint",
            e.chain
        ))
    })?;
    if root != t.root {
        return Err(err(format!(
            "the first {} lines of chain {} do not hash to the checkpoint's root",
            t.size, e.chain
        )));
    }
    let path = c
        .tree
        .inclusion_proof(e.leaf_index, t.size)
        .map_err(|er| err(format!("inclusion proof: {er}")))?;
    let p = TlogProof::new(e.leaf_index, path, &line.note)
        .map_err(|er| err(format!("the checkpoint is not a C2SP checkpoint: {er}")))?
        .with_extra(e.line.as_bytes().to_vec());
    Ok(p.to_text())
}

/// The summary of a bundle, rendered from its records alone (so the checker can re-render it).
pub fn summary_md(decision: &str, records: &[&Entry]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Evidence for decision {decision}\n");
    let _ = writeln!(
        out,
        "{} record(s), each with an inclusion proof under a signed checkpoint \
         (`audit verify-evidence <bundle> --key <vkey>` checks them).\n",
        records.len()
    );
    for e in records {
        let mark = if e.id() == decision {
            " (the decision)"
        } else {
            ""
        };
        let _ = writeln!(out, "## {}{mark}\n", e.kind());
        let _ = writeln!(out, "- {}", heading_plain(e));
        let _ = writeln!(out, "- chain {} leaf {}", e.chain, e.leaf_index);
        if let Some(p) = e.parent_id() {
            let _ = writeln!(out, "- parent {p}");
        }
        if let Some(r) = e.refers_to() {
            let _ = writeln!(out, "- about {r}");
        }
        for d in details(e) {
            let _ = writeln!(out, "- {d}");
        }
        out.push('\n');
    }
    out
}

/// What [`make_bundle`] wrote.
#[derive(Debug, Clone)]
pub struct BundleReport {
    /// Where.
    pub path: PathBuf,
    /// How many records.
    pub records: usize,
    /// BLAKE3 of `manifest.json`, to keep apart from the bundle (`verify-evidence --expect`).
    pub digest: String,
}

/// Write the evidence bundle of `decision` from `store` into the directory `out` (created;
/// must not exist or be empty). Refuses when the store did not verify, and for logs without
/// format-3 signed checkpoints.
pub fn make_bundle(
    store: &Store,
    decision: &str,
    out: &Path,
    key: Option<&VerifierKey>,
) -> Result<BundleReport, EvidenceError> {
    if let Err(e) = &store.verdict {
        return Err(err(format!(
            "the log failed verification, so no evidence is made from it: {e}"
        )));
    }
    let rows = related(store, decision).ok_or_else(|| {
        err(format!(
            "no record with id {decision} in {}",
            store.dir.display()
        ))
    })?;
    if store.entries[rows[0]].kind().is_empty() {
        return Err(err("the record has no kind"));
    }
    if out.exists()
        && std::fs::read_dir(out)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        return Err(err(format!(
            "{} exists and is not empty: give a new directory for the bundle",
            out.display()
        )));
    }
    let io = |what: &str, p: &Path, e: std::io::Error| err(format!("{what} {}: {e}", p.display()));
    std::fs::create_dir_all(out.join("proofs")).map_err(|e| io("cannot create", out, e))?;
    std::fs::create_dir_all(out.join("checkpoints")).map_err(|e| io("cannot create", out, e))?;
    let mut manifest_records = Vec::new();
    let mut notes: BTreeMap<String, String> = BTreeMap::new();
    for &i in &rows {
        let e = &store.entries[i];
        let proof = prove_entry(store, e)
            .map_err(|f| err(format!("record {} ({}): {f}", e.id(), e.kind())))?;
        let note = proof
            .split_once("\n\n")
            .map(|(_, n)| n.to_owned())
            .unwrap_or_default();
        notes.entry(e.chain.clone()).or_insert(note);
        let rel = format!("proofs/{}.tlog", e.id());
        std::fs::write(out.join(&rel), &proof).map_err(|er| io("cannot write", out, er))?;
        manifest_records.push(json!({
            "record_id": e.id(),
            "kind": e.kind(),
            "chain": e.chain,
            "leaf_index": e.leaf_index,
            "hash": e.str_at("hash").unwrap_or(""),
            "proof": rel,
        }));
    }
    for (chain, note) in &notes {
        let p = out.join(format!("checkpoints/{chain}.note"));
        std::fs::write(&p, note).map_err(|e| io("cannot write", &p, e))?;
    }
    let manifest = json!({
        "format": BUNDLE_FORMAT,
        "decision": decision,
        "count": manifest_records.len(),
        "records": manifest_records,
    });
    let bytes = serde_json::to_vec_pretty(&manifest).map_err(|e| err(e.to_string()))?;
    std::fs::write(out.join("manifest.json"), &bytes).map_err(|e| io("cannot write", out, e))?;
    let entries: Vec<&Entry> = rows.iter().map(|&i| &store.entries[i]).collect();
    std::fs::write(out.join("summary.md"), summary_md(decision, &entries))
        .map_err(|e| io("cannot write", out, e))?;
    if let Some(k) = key {
        std::fs::write(out.join("key.vkey"), k.to_vkey() + "\n")
            .map_err(|e| io("cannot write", out, e))?;
    }
    Ok(BundleReport {
        path: out.to_owned(),
        records: rows.len(),
        digest: blake3::hash(&bytes).to_hex().to_string(),
    })
}

/// What [`verify_bundle`] established.
#[derive(Debug, Clone)]
pub struct BundleVerdict {
    /// The decision.
    pub decision: String,
    /// Records whose proofs checked.
    pub records: usize,
    /// BLAKE3 of `manifest.json`.
    pub digest: String,
}

/// Check the bundle at `bundle` with the pinned `key` and nothing else: every record's proof,
/// the manifest's list and count against the proofs present, the closure of parents and
/// subjects, the summary re-rendered, and, when given, the bundle digest `expect`.
pub fn verify_bundle(
    bundle: &Path,
    key: &VerifierKey,
    expect: Option<&str>,
) -> Result<BundleVerdict, EvidenceError> {
    let read = |rel: &str| {
        std::fs::read_to_string(bundle.join(rel))
            .map_err(|e| err(format!("cannot read {}: {e}", bundle.join(rel).display())))
    };
    let manifest_text = read("manifest.json")?;
    let digest = blake3::hash(manifest_text.as_bytes()).to_hex().to_string();
    if let Some(x) = expect
        && !x.eq_ignore_ascii_case(&digest)
    {
        return Err(err(format!(
            "the bundle digest is {digest}, not the expected {x}: the manifest was changed"
        )));
    }
    let m: Value = serde_json::from_str(&manifest_text)
        .map_err(|e| err(format!("manifest.json is not JSON: {e}")))?;
    if m.get("format").and_then(Value::as_str) != Some(BUNDLE_FORMAT) {
        return Err(err(format!(
            "manifest.json: format is not {BUNDLE_FORMAT} (not an evidence bundle, or a newer one)"
        )));
    }
    let decision = m
        .get("decision")
        .and_then(Value::as_str)
        .ok_or_else(|| err("manifest.json: no decision"))?
        .to_owned();
    let list = m
        .get("records")
        .and_then(Value::as_array)
        .ok_or_else(|| err("manifest.json: no records list"))?;
    if m.get("count").and_then(Value::as_u64) != Some(list.len() as u64) {
        return Err(err(format!(
            "manifest.json: count {} but {} records listed: a record was removed or added",
            m.get("count").map(Value::to_string).unwrap_or_default(),
            list.len()
        )));
    }
    // Exactly the listed proofs are present.
    let listed: BTreeSet<String> = list
        .iter()
        .filter_map(|r| r.get("record_id").and_then(Value::as_str))
        .map(|id| format!("{id}.tlog"))
        .collect();
    if listed.len() != list.len() {
        return Err(err(
            "manifest.json: a record listed twice, or without record_id",
        ));
    }
    let present: BTreeSet<String> = std::fs::read_dir(bundle.join("proofs"))
        .map_err(|e| err(format!("cannot list {}/proofs: {e}", bundle.display())))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    if let Some(x) = present.difference(&listed).next() {
        return Err(err(format!(
            "proofs/{x} is not listed in manifest.json: the manifest was edited to drop a record"
        )));
    }
    if let Some(x) = listed.difference(&present).next() {
        return Err(err(format!(
            "proofs/{x} is missing: a record listed in manifest.json was removed"
        )));
    }
    let mut entries = Vec::new();
    for r in list {
        let id = r.get("record_id").and_then(Value::as_str).unwrap_or("");
        let rel = format!("proofs/{id}.tlog");
        let proof = read(&rel)?;
        let proven = check_record_proof(&proof, key).map_err(|f| err(format!("{rel}: {f}")))?;
        let record: Value = audit_runtime::chain::line::split(&proven.line)
            .ok()
            .and_then(|(c, _)| serde_json::from_str(&c).ok())
            .ok_or_else(|| err(format!("{rel}: the record line is not JSON")))?;
        let mut record = record;
        let hash =
            proven.line[proven.line.len().saturating_sub(66)..proven.line.len() - 2].to_owned();
        if let Some(o) = record.as_object_mut() {
            o.insert("hash".into(), Value::String(hash.clone()));
        }
        if record.get("record_id").and_then(Value::as_str) != Some(id) {
            return Err(err(format!("{rel}: the proof is of another record")));
        }
        if r.get("hash").and_then(Value::as_str) != Some(hash.as_str())
            || r.get("leaf_index").and_then(Value::as_u64) != Some(proven.index)
        {
            return Err(err(format!(
                "manifest.json: record {id}'s hash or leaf index is not its proof's"
            )));
        }
        let chain = r
            .get("chain")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        if !proven.origin.ends_with(&format!("/{chain}")) {
            return Err(err(format!(
                "{rel}: proven in log {}, not in chain {chain}",
                proven.origin
            )));
        }
        entries.push(Entry {
            record,
            line: proven.line,
            file: bundle.join(&rel),
            line_no: 0,
            leaf_index: proven.index,
            chain,
            integrity: Integrity::Verified,
        });
    }
    let ids: HashSet<&str> = entries.iter().map(|e| e.id()).collect();
    if !ids.contains(decision.as_str()) {
        return Err(err(format!(
            "the decision {decision} itself is not in the bundle"
        )));
    }
    for e in &entries {
        for (what, up) in [("parent", e.parent_id()), ("subject", e.refers_to())] {
            if let Some(u) = up
                && !ids.contains(u)
            {
                return Err(err(format!(
                    "record {} names {what} {u}, which is not in the bundle: a related \
                     record was removed",
                    e.id()
                )));
            }
        }
    }
    let refs: Vec<&Entry> = entries.iter().collect();
    if read("summary.md")? != summary_md(&decision, &refs) {
        return Err(err(
            "summary.md is not what the proven records say: it was edited (or a record was \
             removed from it)",
        ));
    }
    Ok(BundleVerdict {
        decision,
        records: entries.len(),
        digest,
    })
}
