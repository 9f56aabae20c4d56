//! Recovery on start: repair the torn tail a crashed writer left.
//!
//! A writer appends whole batches with one `write` loop, so a crash (or `kill -9`, or a power
//! loss with unsynced data) can only damage the *end* of the last segment of a chain or of its
//! checkpoint log: a partial last line, possibly followed by garbage or zeros. Recovery finds the
//! longest prefix of valid, linked lines (a format-2 gap line counts as one: it resumes the chain
//! after the records it stands for); if nothing valid follows it, the rest is the torn tail:
//! it is copied into a quarantine file (`<name>.quarantine-<unix ms>`, synced, directory synced)
//! and only then cut from the original (truncate, synced). A crash during recovery therefore at
//! worst quarantines the same bytes twice. A last segment whose header is torn moves to
//! quarantine whole (renamed); one with no byte at all (the writer died between creating it and
//! writing its header) is removed and reported, since there is nothing to keep. Damage with
//! valid lines after it is not a torn tail but tampering or corruption: recovery leaves it for
//! the verifier to report.
//!
//! What must hold: recovery never touches a chain another process is writing (it holds the
//! chain's lock, the checkpoint log, while it works and skips chains whose lock is taken); it
//! never deletes a byte: everything it cuts is in a quarantine file first; and a repair that
//! fails (a disk still full) leaves the directory as it found it: the partial quarantine file
//! is removed again, the original is untouched, and the next start tries again.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use audit_runtime::RecordId;
use audit_runtime::chain::ChainVerifier;

/// A record line that stands on its own: its hash holds and its envelope reads (any schema:
/// recovery keeps what the verifier accepts, records of versions it does not know included).
fn record_line_ok(line: &str) -> bool {
    audit_runtime::chain::line::check_in_place(line).is_ok()
        && audit_runtime::chain::envelope::scan(line.as_bytes()).is_ok()
}

use super::FileLogError;
use super::format::{self, CheckpointLine, FileKind, GapLine, SegmentHeader};
use super::fs::LogFs;

/// How much of a file's end is read to decide whether it is clean. A record line longer than
/// this (1 MiB) makes recovery scan the whole segment instead, which is slower but as correct.
const TAIL_PROBE: u64 = 1 << 20;

/// One repaired file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repair {
    /// The file that had a torn tail.
    pub file: PathBuf,
    /// Bytes kept (the valid prefix).
    pub kept_bytes: u64,
    /// Bytes moved to the quarantine file.
    pub quarantined_bytes: u64,
    /// Where they went; `None` when the file had no byte and was removed (an empty last
    /// segment: the writer died between creating it and writing its header).
    pub quarantine: Option<PathBuf>,
    /// `seq` of the last record kept, for segments.
    pub last_good_seq: Option<u64>,
    /// Why the tail was judged torn.
    pub reason: String,
}

/// What recovery found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Chains whose tails were checked.
    pub chains_checked: usize,
    /// Chains skipped because another process holds their lock (still being written).
    pub chains_live: usize,
    /// Files repaired.
    pub repairs: Vec<Repair>,
    /// Damage recovery did not repair because valid lines follow it (see the verifier).
    pub left_alone: Vec<String>,
}

fn io_err(op: &'static str, path: &Path, source: std::io::Error) -> FileLogError {
    FileLogError::Io {
        op,
        path: path.to_owned(),
        source,
    }
}

fn now_millis() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}

/// A chain's checkpoint log name and its last segment (number, name).
type ChainTail = (Option<String>, Option<(u32, String)>);

/// Check and repair every chain in `dir` that no live process holds.
pub fn recover_dir(fs: &dyn LogFs, dir: &Path) -> Result<RecoveryReport, FileLogError> {
    let mut report = RecoveryReport::default();
    let files = fs.list(dir).map_err(|e| io_err("list", dir, e))?;
    let mut chains: std::collections::BTreeMap<RecordId, ChainTail> =
        std::collections::BTreeMap::new();
    for (name, _) in &files {
        match format::classify(name) {
            FileKind::Segment { chain, segment, .. } => {
                let e = chains.entry(chain).or_default();
                if e.1.as_ref().is_none_or(|(n, _)| segment > *n) {
                    e.1 = Some((segment, name.clone()));
                }
            }
            FileKind::CheckpointLog { chain, .. } => {
                chains.entry(chain).or_default().0 = Some(name.clone());
            }
            FileKind::Quarantine | FileKind::Foreign => {}
        }
    }
    for (chain, (ckpt, last)) in chains {
        let Some(ckpt) = ckpt else {
            report.left_alone.push(format!(
                "chain {chain} has no checkpoint log; not repaired (run the verifier)"
            ));
            continue;
        };
        let ckpt_path = dir.join(&ckpt);
        let Some(_lock) = fs
            .try_lock(&ckpt_path)
            .map_err(|e| io_err("lock", &ckpt_path, e))?
        else {
            report.chains_live += 1;
            continue;
        };
        report.chains_checked += 1;
        if let Some((_, seg)) = last {
            repair_file(fs, dir, &seg, Kind::Segment, &mut report)?;
        }
        repair_file(fs, dir, &ckpt, Kind::Checkpoints, &mut report)?;
    }
    Ok(report)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Segment,
    Checkpoints,
}

fn read_all(fs: &dyn LogFs, path: &Path) -> Result<Vec<u8>, FileLogError> {
    let mut data = Vec::new();
    fs.open_read(path)
        .and_then(|mut r| r.read_to_end(&mut data))
        .map_err(|e| io_err("read", path, e))?;
    Ok(data)
}

/// Whether the file ends with a newline and its last line is valid: then it needs no repair.
fn tail_is_clean(fs: &dyn LogFs, path: &Path, kind: Kind) -> Result<bool, FileLogError> {
    let mut f = fs.open_read(path).map_err(|e| io_err("open", path, e))?;
    let len = f
        .seek(SeekFrom::End(0))
        .map_err(|e| io_err("seek", path, e))?;
    if len == 0 {
        return Ok(kind == Kind::Checkpoints);
    }
    let start = len.saturating_sub(TAIL_PROBE);
    f.seek(SeekFrom::Start(start))
        .map_err(|e| io_err("seek", path, e))?;
    let mut tail = Vec::new();
    f.read_to_end(&mut tail)
        .map_err(|e| io_err("read", path, e))?;
    let Some(body) = tail.strip_suffix(b"\n") else {
        return Ok(false);
    };
    let line_start = match body.iter().rposition(|&b| b == b'\n') {
        Some(i) => i + 1,
        None if start == 0 => 0,
        None => return Ok(false),
    };
    let Ok(line) = std::str::from_utf8(&body[line_start..]) else {
        return Ok(false);
    };
    Ok(match kind {
        Kind::Segment => {
            record_line_ok(line)
                || GapLine::parse(line).is_ok()
                || SegmentHeader::parse(line).is_ok()
        }
        Kind::Checkpoints => CheckpointLine::parse(line).is_ok(),
    })
}

/// End offsets of the valid prefix, the last good seq, and whether any valid line follows the
/// first bad one.
fn valid_prefix(data: &[u8], kind: Kind) -> (usize, Option<u64>, bool, String) {
    let mut end = 0usize;
    let mut verifier: Option<ChainVerifier> = None;
    let mut last_seq = None;
    let mut reason = String::new();
    let mut pos = 0usize;
    let mut bad_seen = false;
    let mut valid_after_bad = false;
    while pos < data.len() {
        let (line, next) = match data[pos..].iter().position(|&b| b == b'\n') {
            Some(i) => (&data[pos..pos + i], pos + i + 1),
            None => (&data[pos..], data.len()),
        };
        let complete = next <= data.len() && data.get(next - 1) == Some(&b'\n');
        let text = std::str::from_utf8(line).ok();
        if bad_seen {
            // Is this a line that stands on its own? Then the damage is not a torn tail.
            let stands = text.is_some_and(|t| match kind {
                Kind::Segment => record_line_ok(t) || GapLine::parse(t).is_ok(),
                Kind::Checkpoints => CheckpointLine::parse(t).is_ok(),
            });
            if stands && complete {
                valid_after_bad = true;
                break;
            }
        } else {
            let ok = complete
                && match (kind, text) {
                    (_, None) => {
                        reason = "a line is not UTF-8".into();
                        false
                    }
                    (Kind::Checkpoints, Some(t)) => match CheckpointLine::parse(t) {
                        Ok(_) => true,
                        Err(e) => {
                            reason = e;
                            false
                        }
                    },
                    (Kind::Segment, Some(t)) => match &mut verifier {
                        None => match SegmentHeader::parse(t) {
                            Ok(h) => {
                                verifier = Some(match h.prev() {
                                    Some((seq, hash)) => {
                                        last_seq = Some(seq);
                                        ChainVerifier::resume(seq, hash, h.chain.to_string())
                                    }
                                    None => ChainVerifier::new(),
                                });
                                true
                            }
                            Err(e) => {
                                reason = e;
                                false
                            }
                        },
                        // A gap line (format 2) resumes the chain after the absent records; the
                        // verifier checks the rest of its links.
                        Some(v) if GapLine::is_gap(t) => match GapLine::parse(t) {
                            Ok((g, _)) => {
                                *v = ChainVerifier::resume(
                                    g.to_seq,
                                    g.last_hash(),
                                    g.chain.to_string(),
                                );
                                true
                            }
                            Err(e) => {
                                reason = e;
                                false
                            }
                        },
                        Some(v) => match v.push_integrity(t) {
                            Ok((env, _)) => {
                                last_seq = Some(env.seq);
                                true
                            }
                            Err(e) => {
                                reason = e.to_string();
                                false
                            }
                        },
                    },
                };
            if ok {
                end = next;
            } else {
                if !complete {
                    reason = "the last line is incomplete (no newline)".into();
                }
                bad_seen = true;
            }
        }
        pos = next;
    }
    (end, last_seq, valid_after_bad, reason)
}

fn repair_file(
    fs: &dyn LogFs,
    dir: &Path,
    name: &str,
    kind: Kind,
    report: &mut RecoveryReport,
) -> Result<(), FileLogError> {
    let path = dir.join(name);
    if tail_is_clean(fs, &path, kind)? {
        return Ok(());
    }
    let data = read_all(fs, &path)?;
    if kind == Kind::Segment && data.is_empty() {
        // Created, but the writer died before its header: nothing to keep and nothing to
        // quarantine, but left in place it would make every later verification fail.
        fs.remove_file(&path)
            .map_err(|e| io_err("remove", &path, e))?;
        fs.sync_dir(dir)
            .map_err(|e| io_err("fsync directory", dir, e))?;
        report.repairs.push(Repair {
            file: path,
            kept_bytes: 0,
            quarantined_bytes: 0,
            quarantine: None,
            last_good_seq: None,
            reason: "empty segment: the writer stopped between creating it and writing its \
                     header; removed"
                .into(),
        });
        return Ok(());
    }
    let (end, last_good_seq, valid_after_bad, reason) = valid_prefix(&data, kind);
    if end == data.len() {
        return Ok(());
    }
    if valid_after_bad {
        report.left_alone.push(format!(
            "{}: invalid line at byte {end} followed by valid lines ({reason}); not a torn tail, \
             left for the verifier",
            path.display()
        ));
        return Ok(());
    }
    let quarantine = fresh_quarantine(fs, dir, name);
    let torn = &data[end..];
    if kind == Kind::Segment && end == 0 {
        // Not even the header survived: the whole segment moves aside, and the chain ends with
        // the previous segment (whose last record the next header would have named).
        fs.rename(&path, &quarantine)
            .map_err(|e| io_err("rename", &path, e))?;
        fs.sync_dir(dir)
            .map_err(|e| io_err("fsync directory", dir, e))?;
        report.repairs.push(Repair {
            file: path,
            kept_bytes: 0,
            quarantined_bytes: torn.len() as u64,
            quarantine: Some(quarantine),
            last_good_seq: None,
            reason,
        });
        return Ok(());
    }
    if let Err(e) = write_quarantine(fs, dir, &quarantine, torn) {
        // Leave no partial (often empty) quarantine file behind, so that a start on a disk that
        // is still full changes nothing; the original still holds every byte.
        if fs.remove_file(&quarantine).is_ok() {
            let _ = fs.sync_dir(dir);
        }
        return Err(e);
    }
    fs.truncate(&path, end as u64)
        .map_err(|e| io_err("truncate", &path, e))?;
    report.repairs.push(Repair {
        file: path,
        kept_bytes: end as u64,
        quarantined_bytes: torn.len() as u64,
        quarantine: Some(quarantine),
        last_good_seq: if kind == Kind::Segment {
            last_good_seq
        } else {
            None
        },
        reason,
    });
    Ok(())
}

/// A quarantine name for `name` that no file has yet: `<name>.quarantine-<unix ms>`, with `-<i>`
/// appended when that exists (a recovery killed after creating its quarantine file, restarted
/// within the same millisecond). A rename must never replace an earlier quarantine file.
fn fresh_quarantine(fs: &dyn LogFs, dir: &Path, name: &str) -> PathBuf {
    let base = format!("{name}{}{}", format::QUARANTINE_MARK, now_millis());
    let mut candidate = dir.join(&base);
    // Anything but "not found" counts as taken. After 1000 taken names (not a real case) the
    // last one is returned, and creating it fails rather than replacing anything.
    for i in 1..1000u32 {
        match fs.open_read(&candidate) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
            _ => candidate = dir.join(format!("{base}-{i}")),
        }
    }
    candidate
}

/// Write `torn` into a new quarantine file and make it and its name durable.
fn write_quarantine(
    fs: &dyn LogFs,
    dir: &Path,
    quarantine: &Path,
    torn: &[u8],
) -> Result<(), FileLogError> {
    let mut q = fs
        .create_new(quarantine)
        .map_err(|e| io_err("create", quarantine, e))?;
    let mut off = 0;
    while off < torn.len() {
        match q.write(&torn[off..]) {
            Ok(0) => {
                return Err(io_err(
                    "write",
                    quarantine,
                    std::io::Error::new(std::io::ErrorKind::WriteZero, "wrote nothing"),
                ));
            }
            Ok(n) => off += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io_err("write", quarantine, e)),
        }
    }
    q.sync().map_err(|e| io_err("fsync", quarantine, e))?;
    fs.sync_dir(dir)
        .map_err(|e| io_err("fsync directory", dir, e))
}
