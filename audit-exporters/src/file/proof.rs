//! Proofs from a format-3 log that a third party checks with the log's public key and the proof
//! alone: a record's inclusion under a signed checkpoint, and the consistency of two signed
//! checkpoints (the later tree extends the earlier one).
//!
//! Both are C2SP texts ([`audit_runtime::merkle::tlog`]):
//!
//! * an inclusion proof is a [`tlog-proof`](https://c2sp.org/tlog-proof) whose `extra` line
//!   carries the record's line (base64), so the proof is self-contained: the checker recomputes
//!   the leaf hash from those bytes, checks the path to the checkpoint's root and the
//!   checkpoint's signature, and only then trusts the record;
//! * a consistency proof is the body of a [`tlog-witness`](https://c2sp.org/tlog-witness)
//!   `add-checkpoint` request (`old <size>`, the proof hashes, the new signed checkpoint), which
//!   the checker verifies against the old signed checkpoint it already holds.
//!
//! The prover reads the chain's lines from the directory, rebuilds the tree
//! ([`audit_runtime::merkle::MerkleTree`], about 64 bytes a line) and refuses to prove anything
//! from files whose tree does not have the checkpoint's root: a proof is never made from a log
//! that does not verify against its own signed checkpoint.
//!
//! What must hold: the checkers never panic on any input, and accept a proof only when every
//! hash and signature holds; every refusal says what was wrong.

use std::fmt;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use audit_runtime::RecordId;
use audit_runtime::merkle::tlog::{AddCheckpointRequest, TlogProof};
use audit_runtime::merkle::{MerkleTree, TreeHash};

use super::format::{self, CheckpointBody, CheckpointLine, FileKind};
use super::note::VerifierKey;
use super::verify::MAX_LINE_BYTES;

/// Why a proof could not be made or does not check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProofFailure(pub String);

impl fmt::Display for ProofFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ProofFailure {}

fn fail(why: impl Into<String>) -> ProofFailure {
    ProofFailure(why.into())
}

/// One chain of a directory, read for proving: every line of its segments (the tree's leaves)
/// and its checkpoints.
struct Chain {
    service: String,
    chain: RecordId,
    lines: Vec<String>,
    tree: MerkleTree,
    checkpoints: Vec<(CheckpointLine, CheckpointBody)>,
}

fn read_lines(path: &Path, out: &mut Vec<String>) -> Result<(), ProofFailure> {
    let file = std::fs::File::open(path)
        .map_err(|e| fail(format!("cannot open {}: {e}", path.display())))?;
    let mut r = BufReader::new(file);
    loop {
        let mut buf = Vec::new();
        let n = (&mut r)
            .take(MAX_LINE_BYTES + 1)
            .read_until(b'\n', &mut buf)
            .map_err(|e| fail(format!("cannot read {}: {e}", path.display())))?;
        if n == 0 {
            return Ok(());
        }
        if buf.pop() != Some(b'\n') {
            return Err(fail(format!(
                "{}: a line without its newline (a torn tail, or longer than {MAX_LINE_BYTES} \
                 bytes): verify the log first",
                path.display()
            )));
        }
        out.push(
            String::from_utf8(buf)
                .map_err(|_| fail(format!("{}: a line that is not UTF-8", path.display())))?,
        );
    }
}

/// A chain of a directory: id, service, segment files in order, checkpoint log.
type ChainPaths = (RecordId, String, Vec<PathBuf>, PathBuf);

/// The chains of `dir`, each with its segment files in order and its checkpoint log.
fn chain_files(dir: &Path) -> Result<Vec<ChainPaths>, ProofFailure> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| fail(format!("cannot list {}: {e}", dir.display())))?;
    let mut chains: std::collections::BTreeMap<RecordId, (String, Vec<(u32, PathBuf)>)> =
        std::collections::BTreeMap::new();
    for e in entries {
        let e = e.map_err(|e| fail(format!("cannot list {}: {e}", dir.display())))?;
        let name = e.file_name().to_string_lossy().into_owned();
        if let FileKind::Segment {
            service,
            chain,
            segment,
        } = format::classify(&name)
        {
            let c = chains.entry(chain).or_insert_with(|| (service, Vec::new()));
            c.1.push((segment, e.path()));
        }
    }
    Ok(chains
        .into_iter()
        .map(|(chain, (service, mut segs))| {
            segs.sort();
            let ckpt = dir.join(format::checkpoint_file_name(&service, chain));
            (
                chain,
                service,
                segs.into_iter().map(|s| s.1).collect(),
                ckpt,
            )
        })
        .collect())
}

fn load(
    chain: RecordId,
    service: String,
    segments: &[PathBuf],
    ckpt: &Path,
) -> Result<Chain, ProofFailure> {
    let mut lines = Vec::new();
    for s in segments {
        read_lines(s, &mut lines)?;
    }
    let mut tree = MerkleTree::new();
    for l in &lines {
        let hash = audit_runtime::chain::line::check_in_place(l)
            .map_err(|e| fail(format!("a line of chain {chain}: {e} (verify the log)")))?;
        tree.push_leaf_hash(format::leaf_of(&hash));
    }
    let mut raw = Vec::new();
    if ckpt.exists() {
        read_lines(ckpt, &mut raw)?;
    }
    let mut checkpoints = Vec::new();
    for (i, l) in raw.iter().enumerate() {
        let parsed = CheckpointLine::parse(l)
            .map_err(|e| fail(format!("{}:{}: {e}", ckpt.display(), i + 1)))?;
        checkpoints.push(parsed);
    }
    Ok(Chain {
        service,
        chain,
        lines,
        tree,
        checkpoints,
    })
}

impl Chain {
    /// The latest signed format-3 checkpoint of at least `size` lines whose root the files
    /// reproduce.
    fn checkpoint_covering(&self, size: u64) -> Result<(&CheckpointLine, u64), ProofFailure> {
        let (c, body) = self
            .checkpoints
            .iter()
            .rev()
            .find(|(c, _)| c.size.is_some())
            .ok_or_else(|| {
                fail(format!(
                    "chain {}/{} has no format-3 checkpoint: only format-3 logs have proofs",
                    self.service, self.chain
                ))
            })?;
        let Some(t) = body.tree else {
            return Err(fail("checkpoint without a tree"));
        };
        if t.size < size {
            return Err(fail(format!(
                "the latest checkpoint of chain {}/{} covers {} lines, and the record is line {}: \
                 it is not covered by a checkpoint yet (one is written every N records, every T \
                 seconds and at shutdown)",
                self.service,
                self.chain,
                t.size,
                size.saturating_sub(1)
            )));
        }
        if !c.is_signed() {
            return Err(fail(format!(
                "the checkpoints of chain {}/{} are not signed: a proof needs a signed checkpoint \
                 (configure the writer's signing key)",
                self.service, self.chain
            )));
        }
        self.check_root(body)?;
        Ok((c, t.size))
    }

    fn check_root(&self, body: &CheckpointBody) -> Result<(), ProofFailure> {
        let Some(t) = body.tree else {
            return Err(fail(
                "a format-1/2 checkpoint has no Merkle root to prove against",
            ));
        };
        let root = self.tree.root_at(t.size).map_err(|_| {
            fail(format!(
                "the checkpoint covers {} lines but chain {}/{} holds only {}: the log was \
                 truncated",
                t.size,
                self.service,
                self.chain,
                self.tree.len()
            ))
        })?;
        if root != t.root {
            return Err(fail(format!(
                "the log's first {} lines do not hash to the checkpoint's root: the log was \
                 altered (run verify)",
                t.size
            )));
        }
        Ok(())
    }
}

/// Make the inclusion proof of the record `record_id` in the directory `dir`: a C2SP
/// `tlog-proof` against the latest signed checkpoint of its chain, with the record's line in the
/// `extra` line.
pub fn prove_record(dir: &Path, record_id: &str) -> Result<String, ProofFailure> {
    let needle = format!("\"record_id\":\"{record_id}\"");
    for (chain, service, segments, ckpt) in chain_files(dir)? {
        let c = load(chain, service, &segments, &ckpt)?;
        let Some(index) = c.lines.iter().position(|l| {
            l.contains(&needle)
                && audit_runtime::chain::line::split(l)
                    .ok()
                    .and_then(|(canonical, _)| {
                        serde_json::from_str::<serde_json::Value>(&canonical).ok()
                    })
                    .is_some_and(|v| v.get("record_id").and_then(|r| r.as_str()) == Some(record_id))
        }) else {
            continue;
        };
        let index = index as u64;
        let (ckpt_line, size) = c.checkpoint_covering(index + 1)?;
        let proof = c
            .tree
            .inclusion_proof(index, size)
            .map_err(|e| fail(format!("inclusion proof: {e}")))?;
        let line = c.lines[index as usize].as_bytes().to_vec();
        let p = TlogProof::new(index, proof, &ckpt_line.note)
            .map_err(|e| fail(format!("the checkpoint is not a C2SP checkpoint: {e}")))?
            .with_extra(line);
        return Ok(p.to_text());
    }
    Err(fail(format!(
        "no record with record_id {record_id} in {}",
        dir.display()
    )))
}

/// A record whose inclusion proof checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvenRecord {
    /// The record's line, as written (its own hash member last).
    pub line: String,
    /// Its leaf index in the chain's tree.
    pub index: u64,
    /// The size of the tree the signed checkpoint commits to.
    pub size: u64,
    /// The checkpoint's origin (`audit-sdk/<service>/<chain>`).
    pub origin: String,
}

/// Check an inclusion proof made by [`prove_record`]: the checkpoint's signature by `key`, the
/// record line's own hash, and its path to the signed root. Needs nothing but the proof.
pub fn check_record_proof(proof: &str, key: &VerifierKey) -> Result<ProvenRecord, ProofFailure> {
    let p =
        TlogProof::parse(proof.as_bytes()).map_err(|e| fail(format!("not a tlog-proof: {e}")))?;
    key.verify(p.signed_checkpoint())
        .map_err(|e| fail(format!("the proof's checkpoint: {e}")))?;
    let line = p
        .extra()
        .ok_or_else(|| fail("the proof carries no record (no extra line)"))?;
    let line = std::str::from_utf8(line)
        .map_err(|_| fail("the proof's record is not UTF-8"))?
        .to_owned();
    let hash = audit_runtime::chain::line::check_in_place(&line)
        .map_err(|e| fail(format!("the proof's record line: {e}")))?;
    p.verify(&format::leaf_of(&hash)).map_err(|e| {
        fail(format!(
            "the record is not in the log the checkpoint commits to: {e}"
        ))
    })?;
    let cp = p.checkpoint();
    Ok(ProvenRecord {
        line,
        index: p.index(),
        size: cp.size(),
        origin: cp.origin().to_owned(),
    })
}

/// Make the consistency proof from the signed checkpoint `old_note` to `new_note` (default: the
/// latest checkpoint of the same chain in `dir`), as a C2SP `tlog-witness` add-checkpoint body.
/// Refuses when the directory's log does not reproduce both roots (a fork or a truncation).
pub fn prove_consistency(
    dir: &Path,
    old_note: &str,
    new_note: Option<&str>,
) -> Result<String, ProofFailure> {
    let old = body_of(old_note, "the old checkpoint")?;
    let (chain, service, segments, ckpt) = chain_files(dir)?
        .into_iter()
        .find(|c| c.0 == old.chain)
        .ok_or_else(|| {
            fail(format!(
                "chain {}/{} of the old checkpoint is not in {}: it was deleted",
                old.service,
                old.chain,
                dir.display()
            ))
        })?;
    let c = load(chain, service, &segments, &ckpt)?;
    c.check_root(&old).map_err(|e| {
        fail(format!(
            "the log is not consistent with the old checkpoint ({e}): truncated, rolled back or \
             forked"
        ))
    })?;
    let new_note = match new_note {
        Some(n) => n.to_owned(),
        None => c
            .checkpoints
            .last()
            .map(|(l, _)| l.note.clone())
            .ok_or_else(|| fail("the chain has no checkpoint"))?,
    };
    let new = body_of(&new_note, "the new checkpoint")?;
    if new.chain != old.chain {
        return Err(fail(format!(
            "the checkpoints are of two chains ({} and {}): consistency is within one log",
            old.chain, new.chain
        )));
    }
    c.check_root(&new)?;
    let (Some(o), Some(n)) = (old.tree, new.tree) else {
        return Err(fail("format-1/2 checkpoints have no Merkle root"));
    };
    if n.size < o.size {
        return Err(fail(format!(
            "the new checkpoint ({} lines) is older than the old one ({} lines)",
            n.size, o.size
        )));
    }
    let proof = c
        .tree
        .consistency_proof(o.size, n.size)
        .map_err(|e| fail(format!("consistency proof: {e}")))?;
    let req = AddCheckpointRequest::new(o.size, proof, &new_note).map_err(|e| {
        fail(format!(
            "the new checkpoint is not a signed C2SP checkpoint: {e}"
        ))
    })?;
    Ok(req.to_text())
}

fn body_of(note: &str, what: &str) -> Result<CheckpointBody, ProofFailure> {
    let text = match note.rfind("\n\n") {
        Some(i) => &note[..i + 1],
        None => note,
    };
    let body = CheckpointBody::parse(text).map_err(|e| fail(format!("{what}: {e}")))?;
    if body.tree.is_none() {
        return Err(fail(format!(
            "{what} is a format-1/2 checkpoint: only format-3 checkpoints have Merkle roots"
        )));
    }
    Ok(body)
}

/// Check a consistency proof made by [`prove_consistency`] against the old signed checkpoint the
/// checker holds: both signatures by `key`, one origin, and the proof from the old root to the
/// new one. Returns (old size, new size).
pub fn check_consistency_proof(
    old_note: &str,
    proof: &str,
    key: &VerifierKey,
) -> Result<(u64, u64), ProofFailure> {
    let old_text = key
        .verify(old_note)
        .map_err(|e| fail(format!("the old checkpoint: {e}")))?;
    let old = audit_runtime::merkle::tlog::Checkpoint::parse_body(old_text.as_bytes())
        .map_err(|e| fail(format!("the old checkpoint: {e}")))?;
    let req = AddCheckpointRequest::parse(proof.as_bytes())
        .map_err(|e| fail(format!("not a consistency proof: {e}")))?;
    key.verify(req.signed_checkpoint())
        .map_err(|e| fail(format!("the new checkpoint: {e}")))?;
    let new = req.checkpoint();
    if new.origin() != old.origin() {
        return Err(fail(format!(
            "the proof is for log {}, the old checkpoint for {}: a proof for another log",
            new.origin(),
            old.origin()
        )));
    }
    if req.old_size() != old.size() {
        return Err(fail(format!(
            "the proof starts at size {}, the old checkpoint has size {}: a proof with the wrong \
             size",
            req.old_size(),
            old.size()
        )));
    }
    let old_root: TreeHash = *old.root();
    req.verify(&old_root).map_err(|e| {
        fail(format!(
            "the new checkpoint does not extend the old one: {e} (a fork, or a rewritten log)"
        ))
    })?;
    Ok((old.size(), new.size()))
}
