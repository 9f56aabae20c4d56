//! The reader: a log directory loaded into memory, every line checked as it is read, records
//! indexed by their ids.
//!
//! Two layers of checking, both always run:
//!
//! 1. [`verify_dir`] over the whole directory (integrity layer: hashes, links, segment headers,
//!    the Merkle tree against every checkpoint, signatures when a key is pinned). Its verdict is
//!    [`Store::verdict`]. It stops at the first problem, so when it fails nothing in the
//!    directory is vouched for.
//! 2. Per line, while indexing: the line's own BLAKE3 hash and its link to the line before it in
//!    its chain (`seq` + 1, `prev`). A line that fails either is [`Integrity::Tampered`].
//!
//! What must hold: a record is shown as [`Integrity::Verified`] only when the whole directory
//! verified *and* its own line checks; every other record carries its mark wherever it is shown.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use audit_runtime::merkle::MerkleTree;
use serde_json::Value;

use crate::file::format::{self, FileKind, GapLine};
use crate::file::verify::MAX_LINE_BYTES;
use crate::file::{VerifierKey, VerifyOptions, VerifySummary, verify_dir};

/// How far a record shown by `audit` can be trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Integrity {
    /// The directory verified and this line's hash and link hold.
    Verified,
    /// This line's own hash and link hold, but the directory failed verification elsewhere, so
    /// nothing in it is vouched for (a consistent rewrite shows only against a checkpoint).
    Unverified(String),
    /// This line fails its own hash or its link to the line before it.
    Tampered(String),
}

impl Integrity {
    /// True only for [`Integrity::Verified`].
    pub fn is_verified(&self) -> bool {
        matches!(self, Integrity::Verified)
    }

    /// The short word shown in tables: `verified`, `UNVERIFIED`, `TAMPERED`.
    pub fn word(&self) -> &'static str {
        match self {
            Integrity::Verified => "verified",
            Integrity::Unverified(_) => "UNVERIFIED",
            Integrity::Tampered(_) => "TAMPERED",
        }
    }
}

impl fmt::Display for Integrity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Integrity::Verified => f.write_str("verified"),
            Integrity::Unverified(why) => write!(f, "UNVERIFIED: {why}"),
            Integrity::Tampered(why) => write!(f, "TAMPERED: {why}"),
        }
    }
}

/// One record line of the log, parsed, with where it is and how far it can be trusted.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The record as written (its `hash` member included).
    pub record: Value,
    /// The record's line, byte for byte.
    pub line: String,
    /// The segment file holding it.
    pub file: PathBuf,
    /// Its line number in that file (1-based).
    pub line_no: u64,
    /// Its leaf index in its chain's tree (format 3: the lines of the chain before it).
    pub leaf_index: u64,
    /// The chain (`service.instance`) whose segments hold it.
    pub chain: String,
    /// Its integrity mark.
    pub integrity: Integrity,
}

impl Entry {
    /// A string member at a dotted path (`point.name`, `correlation.run_id`), if present.
    pub fn str_at(&self, path: &str) -> Option<&str> {
        value_at(&self.record, path).and_then(Value::as_str)
    }

    /// The record id.
    pub fn id(&self) -> &str {
        self.str_at("record_id").unwrap_or("")
    }

    /// The record kind.
    pub fn kind(&self) -> &str {
        self.str_at("kind").unwrap_or("")
    }

    /// The point name, or for follow-ups without a point, an empty string.
    pub fn point_name(&self) -> &str {
        self.str_at("point.name").unwrap_or("")
    }

    /// The outcome status, if the record has one.
    pub fn status(&self) -> Option<&str> {
        self.str_at("outcome.status")
    }

    /// `time.start` as written.
    pub fn start(&self) -> &str {
        self.str_at("time.start").unwrap_or("")
    }

    /// `time.start` in nanoseconds since the Unix epoch, when it parses.
    pub fn start_ns(&self) -> Option<i128> {
        parse_rfc3339_ns(self.start())
    }

    /// `time.duration_ns`, for completed calls.
    pub fn duration_ns(&self) -> Option<u64> {
        value_at(&self.record, "time.duration_ns").and_then(Value::as_u64)
    }

    /// The record this one refers to (`started`, follow-ups, findings).
    pub fn refers_to(&self) -> Option<&str> {
        self.str_at("refers_to")
    }

    /// `correlation.parent_id`.
    pub fn parent_id(&self) -> Option<&str> {
        self.str_at("correlation.parent_id")
    }

    /// True for the kinds that are about an earlier record: `outcome`, `human_action`,
    /// `lineage`, `finding`, `started`.
    pub fn is_follow_up(&self) -> bool {
        matches!(
            self.kind(),
            "outcome" | "human_action" | "lineage" | "finding" | "started"
        )
    }
}

/// The member at a dotted path of a JSON value.
pub fn value_at<'v>(v: &'v Value, path: &str) -> Option<&'v Value> {
    path.split('.').try_fold(v, |v, k| v.get(k))
}

/// Parse `YYYY-MM-DDTHH:MM:SS[.fraction]Z` (the runtime's RFC 3339 UTC times) to nanoseconds
/// since the Unix epoch. Anything else is `None`.
pub fn parse_rfc3339_ns(s: &str) -> Option<i128> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' {
        return None;
    }
    if b[16] != b':' || *b.last()? != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        if t.bytes().all(|c| c.is_ascii_digit()) {
            t.parse().ok()
        } else {
            None
        }
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let mut nanos: i128 = 0;
    let rest = &s[19..s.len() - 1];
    if let Some(frac) = rest.strip_prefix('.') {
        if frac.is_empty() || frac.len() > 9 || !frac.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        nanos = frac.parse::<i128>().ok()? * 10i128.pow(9 - frac.len() as u32);
    } else if !rest.is_empty() {
        return None;
    }
    // Days from the civil date (H. Hinnant's algorithm, proleptic Gregorian).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + h * 3600 + mi * 60 + se;
    Some(i128::from(secs) * 1_000_000_000 + nanos)
}

/// How to load a directory.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// The pinned verifier key: with it, checkpoint signatures are checked too.
    pub key: Option<VerifierKey>,
    /// Accept records after the latest signed checkpoint (see `VerifyOptions`).
    pub allow_unsigned_tail: bool,
}

/// Why a directory could not be read at all (not: why it failed verification; that is
/// [`Store::verdict`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError(pub String);

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LoadError {}

/// What the store keeps of one chain besides its records: enough to make inclusion proofs
/// without reading the directory again.
#[derive(Debug)]
pub struct ChainTree {
    /// The chain's checkpoint log (`<service>.<chain>.ckpt`).
    pub checkpoint_log: PathBuf,
    /// The Merkle tree of every line of its segments (headers, records, gap lines), each leaf
    /// over the line's own BLAKE3 hash (FILE-FORMAT.md "The tree"). Lines that fail their own
    /// hash are not leaves, so such a tree never reproduces a checkpoint's root.
    pub tree: MerkleTree,
}

/// A log directory in memory, indexed.
#[derive(Debug)]
pub struct Store {
    /// The directory.
    pub dir: PathBuf,
    /// Every record line of every chain, chain by chain in leaf order.
    pub entries: Vec<Entry>,
    /// The directory verifier's verdict: its summary, or the first problem it found.
    pub verdict: Result<VerifySummary, String>,
    /// Whether a key was pinned (signatures checked).
    pub key_pinned: bool,
    /// Per chain id, its tree and checkpoint log.
    pub chains: BTreeMap<String, ChainTree>,
    by_record: HashMap<String, usize>,
    by_decision: HashMap<String, Vec<usize>>,
    by_run: HashMap<String, Vec<usize>>,
    by_session: HashMap<String, Vec<usize>>,
    by_trace: HashMap<String, Vec<usize>>,
    by_parent: HashMap<String, Vec<usize>>,
    by_refers: HashMap<String, Vec<usize>>,
}

fn read_lines(path: &Path) -> Result<Vec<Result<String, String>>, LoadError> {
    let file = std::fs::File::open(path)
        .map_err(|e| LoadError(format!("cannot open {}: {e}", path.display())))?;
    let mut r = BufReader::new(file);
    let mut out = Vec::new();
    loop {
        let mut buf = Vec::new();
        let n = (&mut r)
            .take(MAX_LINE_BYTES + 1)
            .read_until(b'\n', &mut buf)
            .map_err(|e| LoadError(format!("cannot read {}: {e}", path.display())))?;
        if n == 0 {
            return Ok(out);
        }
        if buf.pop() != Some(b'\n') {
            out.push(Err(
                "a line without its newline (torn tail or over-long line)".into(),
            ));
            return Ok(out);
        }
        out.push(String::from_utf8(buf).map_err(|_| "a line that is not UTF-8".to_owned()));
    }
}

impl Store {
    /// Load `dir`: run the directory verifier, then read, check and index every record line.
    /// Fails only when the directory cannot be read or holds no segment at all.
    pub fn load(dir: &Path, options: &LoadOptions) -> Result<Store, LoadError> {
        let md = std::fs::metadata(dir)
            .map_err(|e| LoadError(format!("cannot read {}: {e}", dir.display())))?;
        if !md.is_dir() {
            return Err(LoadError(format!(
                "{} is not a directory (give the log directory, the one holding \
                 <service>.<chain>.<n>.jsonl segments)",
                dir.display()
            )));
        }
        let mut vopts = match &options.key {
            Some(k) => VerifyOptions::pinned(k.clone()),
            None => VerifyOptions::default(),
        };
        vopts.allow_unsigned_tail = options.allow_unsigned_tail;
        vopts.integrity_only = true;
        let verdict = verify_dir(dir, &vopts).map_err(|e| e.to_string());

        let mut chains: BTreeMap<String, (String, Vec<(u32, PathBuf)>)> = BTreeMap::new();
        let listing = std::fs::read_dir(dir)
            .map_err(|e| LoadError(format!("cannot list {}: {e}", dir.display())))?;
        for e in listing {
            let e = e.map_err(|e| LoadError(format!("cannot list {}: {e}", dir.display())))?;
            let name = e.file_name().to_string_lossy().into_owned();
            if let FileKind::Segment {
                chain,
                segment,
                service,
            } = format::classify(&name)
            {
                let ckpt = dir.join(format::checkpoint_file_name(&service, chain));
                chains
                    .entry(chain.to_string())
                    .or_insert_with(|| (ckpt.to_string_lossy().into_owned(), Vec::new()))
                    .1
                    .push((segment, e.path()));
            }
        }
        if chains.is_empty() {
            return Err(LoadError(format!(
                "{} holds no log segment (<service>.<chain>.<n:06>.jsonl): not an audit log \
                 directory",
                dir.display()
            )));
        }
        let dir_failure = verdict.as_ref().err().cloned();
        let mut entries = Vec::new();
        let mut trees = BTreeMap::new();
        for (chain, (ckpt, mut segs)) in chains {
            segs.sort();
            let mut tree = MerkleTree::new();
            let mut leaf: u64 = 0;
            // The hash and seq of the previous record of this chain, for the link check.
            let mut prev: Option<(u64, String)> = None;
            for (_, path) in segs {
                for (i, line) in read_lines(&path)?.into_iter().enumerate() {
                    let line_no = i as u64 + 1;
                    let this_leaf = leaf;
                    leaf += 1;
                    let line = match line {
                        Ok(l) => l,
                        Err(_) => continue,
                    };
                    let own = audit_runtime::chain::line::check_in_place(&line);
                    if let Ok(h) = &own {
                        tree.push_leaf_hash(format::leaf_of(h));
                    }
                    if line.starts_with("{\"type\":") {
                        if GapLine::is_gap(&line)
                            && let Ok((g, _)) = GapLine::parse(&line)
                        {
                            prev = Some((g.to_seq, g.last.clone()));
                        }
                        continue;
                    }
                    // A sealed line is itself a JSON object whose last member is `hash`.
                    let Ok(record) = serde_json::from_str::<Value>(&line) else {
                        continue;
                    };
                    if !record.is_object() {
                        continue;
                    }
                    let seq = record.get("seq").and_then(Value::as_u64);
                    let prev_member = record.get("prev").and_then(Value::as_str);
                    let mut problem = match &own {
                        Err(e) => Some(format!("the line's own hash does not hold ({e})")),
                        Ok(_) => None,
                    };
                    if problem.is_none() {
                        let expected = match &prev {
                            None => (0, "0".repeat(64)),
                            Some((s, h)) => (s + 1, h.clone()),
                        };
                        if seq != Some(expected.0) || prev_member != Some(expected.1.as_str()) {
                            // The line before may be the altered one (re-hashed after an edit):
                            // mark it too.
                            if let Some(last) =
                                entries.last_mut().filter(|e: &&mut Entry| e.chain == chain)
                            {
                                last.integrity = Integrity::Tampered(
                                    "the next line does not link to it: this line or the next was \
                                     edited, or a line between them was removed"
                                        .into(),
                                );
                            }
                            problem = Some(format!(
                                "does not link to the line before it (expected seq {} after \
                                 hash {}…): a line before it was edited, removed or inserted",
                                expected.0,
                                expected.1.get(..12).unwrap_or(&expected.1)
                            ));
                        }
                    }
                    let hash = record
                        .get("hash")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_owned();
                    if let Some(s) = seq {
                        prev = Some((s, hash));
                    }
                    let integrity = match (problem, &dir_failure) {
                        (Some(p), _) => Integrity::Tampered(p),
                        (None, Some(f)) => {
                            Integrity::Unverified(format!("the directory failed verification: {f}"))
                        }
                        (None, None) => Integrity::Verified,
                    };
                    entries.push(Entry {
                        record,
                        line,
                        file: path.clone(),
                        line_no,
                        leaf_index: this_leaf,
                        chain: chain.clone(),
                        integrity,
                    });
                }
            }
            trees.insert(
                chain,
                ChainTree {
                    checkpoint_log: PathBuf::from(ckpt),
                    tree,
                },
            );
        }
        let mut s = Store {
            dir: dir.to_owned(),
            entries,
            verdict,
            key_pinned: options.key.is_some(),
            chains: trees,
            by_record: HashMap::new(),
            by_decision: HashMap::new(),
            by_run: HashMap::new(),
            by_session: HashMap::new(),
            by_trace: HashMap::new(),
            by_parent: HashMap::new(),
            by_refers: HashMap::new(),
        };
        s.index();
        Ok(s)
    }

    fn index(&mut self) {
        for (i, e) in self.entries.iter().enumerate() {
            let push = |m: &mut HashMap<String, Vec<usize>>, k: Option<&str>| {
                if let Some(k) = k {
                    m.entry(k.to_owned()).or_default().push(i);
                }
            };
            self.by_record.entry(e.id().to_owned()).or_insert(i);
            push(&mut self.by_decision, e.str_at("correlation.decision_id"));
            push(&mut self.by_run, e.str_at("correlation.run_id"));
            push(&mut self.by_session, e.str_at("correlation.session_id"));
            push(&mut self.by_trace, e.str_at("correlation.trace_id"));
            push(&mut self.by_parent, e.parent_id());
            push(&mut self.by_refers, e.refers_to());
        }
    }

    /// True when the directory verifier found nothing wrong.
    pub fn verified(&self) -> bool {
        self.verdict.is_ok()
    }

    /// The entry with this record id.
    pub fn record(&self, id: &str) -> Option<&Entry> {
        self.by_record.get(id).map(|&i| &self.entries[i])
    }

    /// The index of the entry with this record id.
    pub fn record_index(&self, id: &str) -> Option<usize> {
        self.by_record.get(id).copied()
    }

    fn list<'a>(m: &'a HashMap<String, Vec<usize>>, k: &str) -> &'a [usize] {
        m.get(k).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Records whose `correlation.decision_id` is `id` (the decision, its nested calls, its
    /// follow-ups).
    pub fn with_decision(&self, id: &str) -> &[usize] {
        Self::list(&self.by_decision, id)
    }

    /// Records of the agent run `id`.
    pub fn with_run(&self, id: &str) -> &[usize] {
        Self::list(&self.by_run, id)
    }

    /// Records of the session `id`.
    pub fn with_session(&self, id: &str) -> &[usize] {
        Self::list(&self.by_session, id)
    }

    /// Records of the trace `id`.
    pub fn with_trace(&self, id: &str) -> &[usize] {
        Self::list(&self.by_trace, id)
    }

    /// Calls whose `correlation.parent_id` is `id`.
    pub fn children(&self, id: &str) -> &[usize] {
        Self::list(&self.by_parent, id)
    }

    /// Records whose `refers_to` is `id` (its `started` marker, follow-ups, findings).
    pub fn referring(&self, id: &str) -> &[usize] {
        Self::list(&self.by_refers, id)
    }

    /// Every id a user might type: record, session, trace ids.
    pub fn all_ids(&self) -> impl Iterator<Item = &str> {
        self.by_record
            .keys()
            .chain(self.by_session.keys())
            .chain(self.by_trace.keys())
            .map(String::as_str)
    }

    /// The ids closest to `wanted`: those it is a prefix of (or that contain it), else the
    /// nearest by edit distance; at most `n`.
    pub fn closest_ids(&self, wanted: &str, n: usize) -> Vec<String> {
        let mut prefixed: Vec<&str> = self
            .all_ids()
            .filter(|id| !wanted.is_empty() && id.starts_with(wanted))
            .collect();
        if prefixed.is_empty() {
            prefixed = self
                .all_ids()
                .filter(|id| wanted.len() >= 4 && id.contains(wanted))
                .collect();
        }
        if !prefixed.is_empty() {
            prefixed.sort_unstable();
            prefixed.dedup();
            return prefixed.into_iter().take(n).map(str::to_owned).collect();
        }
        let mut scored: Vec<(usize, &str)> = self
            .all_ids()
            .map(|id| (edit_distance(wanted, id), id))
            .collect();
        scored.sort_unstable();
        scored.dedup();
        scored
            .into_iter()
            .take(n)
            .map(|(_, id)| id.to_owned())
            .collect()
    }

    /// One line saying what was verified, for the top of every output.
    pub fn verdict_line(&self) -> String {
        match &self.verdict {
            Ok(s) if self.key_pinned => format!(
                "integrity: verified ({} records, {} chains, signatures checked with {})",
                s.records(),
                s.chains.len(),
                s.key.as_deref().unwrap_or("the pinned key")
            ),
            Ok(s) => format!(
                "integrity: hashes, links and tree verified ({} records, {} chains); signatures \
                 NOT checked: no --key pinned, so nothing here is vouched for",
                s.records(),
                s.chains.len()
            ),
            Err(e) => format!(
                "integrity: FAILED: {e}; every record below is marked UNVERIFIED or TAMPERED"
            ),
        }
    }
}

/// Levenshtein distance over bytes (ids are ASCII).
pub fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (diag + usize::from(ca != cb))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            diag = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse() {
        assert_eq!(parse_rfc3339_ns("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339_ns("1970-01-02T00:00:01.000000002Z"),
            Some(86_401_000_000_002)
        );
        assert_eq!(
            parse_rfc3339_ns("2026-11-26T19:50:45.985156229Z"),
            Some(1_795_722_645_985_156_229)
        );
        assert_eq!(parse_rfc3339_ns("2026-13-26T19:50:45Z"), None);
        assert_eq!(parse_rfc3339_ns("garbage"), None);
        assert_eq!(parse_rfc3339_ns("2026-11-26T19:50:45.Z"), None);
    }

    #[test]
    fn distance() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("abc", "abc"), 0);
    }
}
