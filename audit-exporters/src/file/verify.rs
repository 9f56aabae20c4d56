//! Offline verification of a log directory.
//!
//! For every chain (one per writing process instance) in the directory, in order:
//!
//! 1. the checkpoint log exists; every line is intact (its own hash), states this chain, never
//!    goes back in count, and, with a pinned key, carries a valid signature by that key;
//! 2. segment numbers run 1, 2, … n without a gap;
//! 3. in each segment, the header is intact, of a known format, schema and hash algorithm, and
//!    agrees with the file name; it names the previous segment's last `seq` and hash exactly;
//!    every record line is intact (hash), of this chain, and links to the one before (`seq` + 1,
//!    `prev` = previous hash), across segment boundaries too; every line ends with a newline;
//! 4. every checkpoint's head is the hash of record `count - 1`, found in the segment it names;
//!    so the latest checkpoint proves that no segment at the end is missing or truncated.
//!
//! The first problem stops verification and is reported with its file, line and reason.
//!
//! Two layers. *Integrity* (is every line the one that was written, in its place?) reads only
//! each record's envelope ([`audit_runtime::chain::envelope`]: `v`, `seq`, `prev`), so it holds
//! for records of any schema version and kind, and it needs no JSON parse of the record. In
//! format 3 every line is also a leaf of the chain's Merkle tree, and every checkpoint's root is
//! recomputed. The *schema* layer (skipped with [`VerifyOptions::integrity_only`]) then parses
//! records of the schema versions this verifier knows, checks their chain and reads their time
//! span, and counts the others as "integrity verified, schema N not known to this verifier".
//!
//! Anchors ([`VerifyOptions::anchors`], `--against`): a signed checkpoint kept elsewhere (a
//! witness, another machine, an OTLP backend). The log must still hold everything it committed
//! to: the chain's tree at the anchor's size must have the anchor's root, so truncating segments
//! and checkpoint log together, rolling back, or rewriting (a fork) is detected.
//!
//! Gap lines (format 2, written by a fallback exporter for records it never received) are
//! checked like links: a gap starts right after the record before it, names that record's
//! hash, resumes the chain at the hash the next record names as its `prev`, and continues the
//! chain of gap lines; every checkpoint after a gap states the absent count and the latest gap
//! line's hash, so under a pinned key a gap cannot be made up later. The summary lists them.
//!
//! What a pinned key vouches for: records up to the latest signed checkpoint. Records after it
//! (the tail a crash leaves, or a whole chain fabricated next to an emptied checkpoint log)
//! have valid hashes but nobody signed them, so with a pinned key they make the result an
//! error that says *unverified*, unless [`VerifyOptions::allow_unsigned_tail`] accepts them; the
//! summary then says how many records it accepted unsigned. Without a pinned key nothing is
//! signature-checked: the result only says the directory is self-consistent, and the summary
//! says that nothing in it is vouched for.
//!
//! What must hold: the verifier never panics and never allocates without bound on hostile input
//! (lines are capped at [`MAX_LINE_BYTES`]); files that are not part of the log are listed and
//! otherwise ignored.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use audit_runtime::RecordId;
use audit_runtime::chain::{ChainVerifier, GENESIS_PREV, RecordHash};
use audit_runtime::merkle::{CompactTree, TreeHash};
use audit_runtime::record::{AuditRecord, SCHEMA_VERSION};

use super::format::{
    self, CheckpointBody, CheckpointLine, FileKind, GapLine, GapState, PrevChain, SegmentHeader,
};
use super::fs::{LogFs, RealFs};
use super::note::VerifierKey;

/// The longest line read (64 MiB); a longer one is reported, not loaded.
pub const MAX_LINE_BYTES: u64 = 64 << 20;

/// What is wrong, where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyError {
    /// The file.
    pub file: PathBuf,
    /// The 1-based line, when the problem is in one line.
    pub line: Option<u64>,
    /// What is wrong.
    pub reason: String,
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{l}: {}", self.file.display(), self.reason),
            None => write!(f, "{}: {}", self.file.display(), self.reason),
        }
    }
}

impl std::error::Error for VerifyError {}

fn err(file: &Path, line: Option<u64>, reason: impl Into<String>) -> VerifyError {
    VerifyError {
        file: file.to_owned(),
        line,
        reason: reason.into(),
    }
}

/// How far verification has come, for a progress display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Bytes checked so far.
    pub done: u64,
    /// Bytes of log files in the directory.
    pub total: u64,
}

/// What one chain holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainSummary {
    /// Service name from the file names.
    pub service: String,
    /// Chain id.
    pub chain: RecordId,
    /// Segments.
    pub segments: u32,
    /// Records.
    pub records: u64,
    /// Checkpoints.
    pub checkpoints: u64,
    /// Checkpoints whose signature was checked against the pinned key.
    pub signed_checkpoints: u64,
    /// Records after the latest checkpoint (valid, not yet covered by one).
    pub uncovered: u64,
    /// Gap lines after the latest checkpoint (no signature covers what they claim).
    pub uncovered_gaps: u64,
    /// Records the log does not hold, in gap lines (a fallback's chain).
    pub absent: u64,
    /// The gaps, in chain order.
    pub gaps: Vec<GapInfo>,
    /// Earliest record start time.
    pub first_time: Option<String>,
    /// Latest record end (or start) time.
    pub last_time: Option<String>,
    /// The file format of the chain's segments (1 or 2: hash chain; 3: Merkle tree).
    pub format: u32,
    /// Format 3: leaves of the chain's Merkle tree (every line of its segments).
    pub tree_size: u64,
    /// Format 3: the root of that tree.
    pub tree_root: Option<TreeHash>,
    /// Records whose integrity was verified but whose schema version this verifier does not
    /// know: (schema version, records).
    pub unknown_schemas: BTreeMap<u64, u64>,
    /// The chain this one links to (segment 1's `prev_chain`), checked.
    pub prev_chain: Option<RecordId>,
    /// Anchors (checkpoints kept elsewhere) this chain was checked against: their sizes.
    pub anchored: Vec<u64>,
    /// The longest interval between two consecutive checkpoints' signed times, in seconds, and
    /// the time of the later one. The writer checkpoints on a timer while idle too, so a long
    /// interval means the writer was not running (or not checkpointing) then.
    pub longest_silence: Option<(u64, String)>,
}

/// Seconds since the Unix epoch of an RFC 3339 UTC time as the writer writes it
/// (`YYYY-MM-DDTHH:MM:SS[.fraction]Z`); `None` for anything else.
fn unix_seconds(t: &str) -> Option<i64> {
    let b = t.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let s = t.get(r)?;
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse().ok())?
    };
    if b.len() < 20 || b.get(4) != Some(&b'-') || b.get(10) != Some(&b'T') || !t.ends_with('Z') {
        return None;
    }
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    // Days from the civil date (H. Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hh * 3600 + mm * 60 + ss)
}

/// One gap of a chain: records `from_seq..=to_seq` are absent from this log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GapInfo {
    /// First absent `seq`.
    pub from_seq: u64,
    /// Last absent `seq`.
    pub to_seq: u64,
    /// Why, as the writer stated it.
    pub reason: String,
}

/// The result of a successful verification.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VerifySummary {
    /// Per chain.
    pub chains: Vec<ChainSummary>,
    /// Bytes of log files read.
    pub bytes: u64,
    /// Files that are not part of the log (ignored).
    pub foreign: Vec<String>,
    /// Quarantine files left by recovery.
    pub quarantined: Vec<String>,
    /// The key signatures were checked against, if one was pinned.
    pub key: Option<String>,
    /// Whether records after the latest signed checkpoint were accepted
    /// ([`VerifyOptions::allow_unsigned_tail`]).
    pub allowed_unsigned_tail: bool,
}

impl VerifySummary {
    /// Records in all chains.
    pub fn records(&self) -> u64 {
        self.chains.iter().map(|c| c.records).sum()
    }

    /// Segments in all chains.
    pub fn segments(&self) -> u64 {
        self.chains.iter().map(|c| u64::from(c.segments)).sum()
    }

    /// Records after the latest checkpoint of their chain, over all chains: with a pinned key,
    /// these are the records no signature vouches for.
    pub fn uncovered(&self) -> u64 {
        self.chains.iter().map(|c| c.uncovered).sum()
    }

    /// Gap lines after the latest checkpoint of their chain, over all chains.
    pub fn uncovered_gaps(&self) -> u64 {
        self.chains.iter().map(|c| c.uncovered_gaps).sum()
    }

    /// Earliest and latest record times over all chains (RFC 3339 UTC with fixed width sorts
    /// as text).
    pub fn time_span(&self) -> Option<(String, String)> {
        let first = self
            .chains
            .iter()
            .filter_map(|c| c.first_time.clone())
            .min()?;
        let last = self
            .chains
            .iter()
            .filter_map(|c| c.last_time.clone())
            .max()?;
        Some((first, last))
    }
}

impl fmt::Display for VerifySummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "OK: {} records in {} segments, {} chain(s), {:.1} MB",
            self.records(),
            self.segments(),
            self.chains.len(),
            self.bytes as f64 / 1e6
        )?;
        if let Some((a, b)) = self.time_span() {
            writeln!(f, "time span: {a} .. {b}")?;
        }
        /// Gaps listed per chain; the rest are counted.
        const SHOWN_GAPS: usize = 10;
        for c in &self.chains {
            writeln!(
                f,
                "  {}/{}: {} records, {} segments, {} checkpoints ({} signature-checked), {} \
                 records after the latest checkpoint",
                c.service,
                c.chain,
                c.records,
                c.segments,
                c.checkpoints,
                c.signed_checkpoints,
                c.uncovered
            )?;
            match c.tree_root {
                Some(root) => writeln!(
                    f,
                    "    format 3: Merkle tree of {} lines, root {}",
                    c.tree_size,
                    root.to_base64()
                )?,
                None => writeln!(f, "    format {}: hash chain", c.format)?,
            }
            if let Some(p) = c.prev_chain {
                writeln!(f, "    links to the chain before it: {p}")?;
            }
            if let Some((secs, at)) = &c.longest_silence {
                writeln!(
                    f,
                    "    longest interval between two checkpoints: {secs} s (until {at})"
                )?;
            }
            for size in &c.anchored {
                writeln!(
                    f,
                    "    consistent with the anchored checkpoint of {size} lines (nothing it \
                     committed to was removed or rewritten)"
                )?;
            }
            for (v, n) in &c.unknown_schemas {
                writeln!(
                    f,
                    "    {n} record(s): integrity verified, schema {v} not known to this verifier \
                     (this verifier reads schema {SCHEMA_VERSION}; a newer one shows their content)"
                )?;
            }
            if !c.gaps.is_empty() {
                writeln!(
                    f,
                    "    {} records absent in {} gap(s) (this log holds only part of the chain):",
                    c.absent,
                    c.gaps.len()
                )?;
                for g in c.gaps.iter().take(SHOWN_GAPS) {
                    writeln!(
                        f,
                        "      gap: seq {}..={} absent: {}",
                        g.from_seq, g.to_seq, g.reason
                    )?;
                }
                if c.gaps.len() > SHOWN_GAPS {
                    writeln!(f, "      ... and {} more gap(s)", c.gaps.len() - SHOWN_GAPS)?;
                }
            }
        }
        match &self.key {
            Some(k) => {
                writeln!(f, "signatures checked against {k}")?;
                let (tail, gaps) = (self.uncovered(), self.uncovered_gaps());
                if tail > 0 || gaps > 0 {
                    let gaps = if gaps > 0 {
                        format!(" and {gaps} gap line(s)")
                    } else {
                        String::new()
                    };
                    writeln!(
                        f,
                        "WARNING: {tail} record(s){gaps} after the latest signed checkpoint are \
                         unverified (no signature covers them); accepted as the unsigned tail of \
                         a crashed chain because --allow-unsigned-tail was given"
                    )?;
                }
            }
            None => writeln!(
                f,
                "signatures NOT checked: no key pinned, so nothing here is vouched for \
                 (unverified: whoever can write the directory could have written it; pass the \
                 verifier key to check)"
            )?,
        }
        for q in &self.quarantined {
            writeln!(f, "note: quarantined bytes from a crash recovery: {q}")?;
        }
        for x in &self.foreign {
            writeln!(f, "note: ignored file that is not part of the log: {x}")?;
        }
        Ok(())
    }
}

/// Verification settings.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// Check every checkpoint's signature against this key; then records no signed checkpoint
    /// covers make verification fail as *unverified*.
    pub key: Option<VerifierKey>,
    /// With a pinned key, accept records after the latest signed checkpoint (the tail a crashed
    /// writer leaves) instead of failing; the summary says how many. `--allow-unsigned-tail`.
    pub allow_unsigned_tail: bool,
    /// Check integrity only (hashes, links, tree, signatures), not the records' schema: faster,
    /// and the summary has no time span. `--integrity-only`.
    pub integrity_only: bool,
    /// Signed checkpoint notes kept elsewhere (`--against`): each must be signed by the pinned
    /// key, and its chain must still hold everything it committed to.
    pub anchors: Vec<String>,
    /// Threads that scan a chain's segments (each segment is checked on its own, then the
    /// links between them, the tree and the checkpoints in order); 0, the default, is one per
    /// core. The result, and the first problem reported, are the same on any number.
    pub threads: usize,
}

impl VerifyOptions {
    /// Check signatures against `key`; records after the latest signed checkpoint fail.
    pub fn pinned(key: VerifierKey) -> Self {
        VerifyOptions {
            key: Some(key),
            ..VerifyOptions::default()
        }
    }

    /// Accept (or not) an unsigned tail after the latest signed checkpoint.
    pub fn allow_unsigned_tail(mut self, allow: bool) -> Self {
        self.allow_unsigned_tail = allow;
        self
    }
}

/// Verify a directory on the real file system.
pub fn verify_dir(dir: &Path, options: &VerifyOptions) -> Result<VerifySummary, VerifyError> {
    verify_dir_with(&RealFs, dir, options, &mut |_| {})
}

#[derive(Default)]
struct ChainFiles {
    service: Option<String>,
    ckpt: Option<String>,
    segments: BTreeMap<u32, String>,
}

/// Verify a directory through any file system, reporting progress.
pub fn verify_dir_with(
    fs: &dyn LogFs,
    dir: &Path,
    options: &VerifyOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<VerifySummary, VerifyError> {
    let files = fs
        .list(dir)
        .map_err(|e| err(dir, None, format!("cannot list directory: {e}")))?;
    let mut summary = VerifySummary {
        key: options.key.as_ref().map(VerifierKey::label),
        ..VerifySummary::default()
    };
    let mut chains: BTreeMap<RecordId, ChainFiles> = BTreeMap::new();
    let mut total = 0u64;
    for (name, size) in &files {
        let (service, chain) = match format::classify(name) {
            FileKind::Segment {
                service,
                chain,
                segment,
            } => {
                chains
                    .entry(chain)
                    .or_default()
                    .segments
                    .insert(segment, name.clone());
                (service, chain)
            }
            FileKind::CheckpointLog { service, chain } => {
                chains.entry(chain).or_default().ckpt = Some(name.clone());
                (service, chain)
            }
            FileKind::Quarantine => {
                summary.quarantined.push(name.clone());
                continue;
            }
            FileKind::Foreign => {
                summary.foreign.push(name.clone());
                continue;
            }
        };
        total += size;
        let c = chains.entry(chain).or_default();
        match &c.service {
            None => c.service = Some(service),
            Some(s) if *s != service => {
                return Err(err(
                    &dir.join(name),
                    None,
                    format!("chain {chain} appears under two service names, {s} and {service}"),
                ));
            }
            Some(_) => {}
        }
    }
    if chains.is_empty() {
        return Err(err(
            dir,
            None,
            "no audit log here: no segment (<service>.<chain>.<n>.jsonl) or checkpoint log \
             (<service>.<chain>.ckpt) files",
        ));
    }
    summary.allowed_unsigned_tail = options.allow_unsigned_tail;
    let mut anchors: BTreeMap<RecordId, Vec<CheckpointBody>> = BTreeMap::new();
    for (i, note) in options.anchors.iter().enumerate() {
        let here = PathBuf::from(format!("anchor #{}", i + 1));
        let Some(key) = options.key.as_ref() else {
            return Err(err(
                &here,
                None,
                "an anchor is only worth checking against a pinned key: pass --key",
            ));
        };
        let text = key
            .verify(note)
            .map_err(|e| err(&here, None, format!("anchor signature: {e}")))?;
        let body = CheckpointBody::parse(text).map_err(|e| err(&here, None, e))?;
        if !chains.contains_key(&body.chain) {
            return Err(err(
                &here,
                None,
                format!(
                    "the anchored chain {}/{} ({} records) is not in the directory at all: it \
                     was deleted",
                    body.service, body.chain, body.count
                ),
            ));
        }
        if body.tree.is_none() {
            return Err(err(
                &here,
                None,
                "the anchor is a format-1/2 checkpoint (no Merkle root): only format-3 \
                 checkpoints can be checked against a log",
            ));
        }
        anchors.entry(body.chain).or_default().push(body);
    }
    let mut ctx = Ctx {
        fs,
        dir,
        key: options.key.as_ref(),
        allow_unsigned_tail: options.allow_unsigned_tail,
        schema: !options.integrity_only,
        threads: if options.threads == 0 {
            std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
        } else {
            options.threads
        },
        done: 0,
        total,
        progress,
        checkpoint_hashes: BTreeMap::new(),
    };
    let mut links: Vec<(PathBuf, RecordId, PrevChain)> = Vec::new();
    for (chain, files) in chains {
        let seg1 = files.segments.get(&1).map(|n| dir.join(n));
        let (s, link) = ctx.chain(chain, files, anchors.remove(&chain).unwrap_or_default())?;
        if let (Some(p), Some(seg1)) = (link, seg1) {
            links.push((seg1, chain, p));
        }
        summary.chains.push(s);
    }
    // Chains link to the one before them: a deleted chain shows in the next one's link.
    for (seg1, chain, p) in links {
        let found = ctx
            .checkpoint_hashes
            .get(&p.chain)
            .is_some_and(|set| set.contains(&p.checkpoint));
        if !found {
            return Err(err(
                &seg1,
                Some(1),
                format!(
                    "chain {chain} began after checkpoint {} ({} records) of chain {}/{}, which \
                     is not in this directory: that chain, or its checkpoint log, was deleted \
                     or rewritten",
                    p.checkpoint, p.count, p.service, p.chain
                ),
            ));
        }
    }
    summary.bytes = ctx.done;
    Ok(summary)
}

fn describe_gaps(g: Option<GapState>) -> String {
    match g {
        None => "no gaps".to_owned(),
        Some(g) => format!("{} absent record(s) up to gap line {}", g.absent, g.head),
    }
}

struct Ctx<'a> {
    fs: &'a dyn LogFs,
    dir: &'a Path,
    key: Option<&'a VerifierKey>,
    allow_unsigned_tail: bool,
    schema: bool,
    threads: usize,
    done: u64,
    total: u64,
    progress: &'a mut dyn FnMut(Progress),
    /// Per chain, the hashes of its checkpoint lines (for the links between chains).
    checkpoint_hashes: BTreeMap<RecordId, std::collections::BTreeSet<String>>,
}

/// A checkpoint to match against the chain.
struct Expect {
    line: u64,
    body: CheckpointBody,
}

/// Reads lines with a length cap, tracking line numbers and bytes.
struct Lines {
    reader: BufReader<Box<dyn super::fs::ReadSeek>>,
    path: PathBuf,
    line: u64,
    text: String,
}

impl Lines {
    /// Read the next line (see [`Self::text`]); returns its length with the newline, `Ok(None)`
    /// at the end. Errors on a missing final newline, a line over the cap and non-UTF-8 bytes.
    fn next(&mut self) -> Result<Option<usize>, VerifyError> {
        // Reuse the previous line's allocation; validate UTF-8 once, without copying.
        let mut buf = std::mem::take(&mut self.text).into_bytes();
        buf.clear();
        let n = (&mut self.reader)
            .take(MAX_LINE_BYTES + 1)
            .read_until(b'\n', &mut buf)
            .map_err(|e| err(&self.path, Some(self.line + 1), format!("cannot read: {e}")))?;
        if n == 0 {
            return Ok(None);
        }
        self.line += 1;
        if buf.last() != Some(&b'\n') {
            if n as u64 > MAX_LINE_BYTES {
                return Err(err(
                    &self.path,
                    Some(self.line),
                    format!("line longer than {MAX_LINE_BYTES} bytes"),
                ));
            }
            return Err(err(
                &self.path,
                Some(self.line),
                "the last line has no newline: the file is truncated (a torn write; starting \
                 the exporter again moves it aside)",
            ));
        }
        buf.pop();
        if buf.last() == Some(&b'\r') {
            return Err(err(
                &self.path,
                Some(self.line),
                "the line ends with CR LF: the writer ends lines with LF alone, so the file was \
                 rewritten (a text-mode copy or an editor)",
            ));
        }
        self.text = String::from_utf8(buf)
            .map_err(|_| err(&self.path, Some(self.line), "the line is not UTF-8"))?;
        Ok(Some(n))
    }

    /// The line last read, without its newline.
    fn text(&self) -> &str {
        &self.text
    }

    fn err(&self, reason: impl Into<String>) -> VerifyError {
        err(&self.path, Some(self.line), reason)
    }
}

/// What a segment scan needs, shared by the scanning threads.
struct ScanJob<'a> {
    fs: &'a dyn LogFs,
    dir: &'a Path,
    chain: RecordId,
    covered_below: u64,
    /// Seqs that checkpoints name as their head: their hashes go back to the merge.
    wanted: &'a std::collections::BTreeSet<u64>,
    schema: bool,
}

/// What one segment holds, checked on its own: every line's hash, the links inside it, the
/// records' envelopes (and schema, unless integrity only), the leaf hashes of its lines.
struct SegmentScan {
    header: Result<(SegmentHeader, RecordHash), VerifyError>,
    body: Result<SegmentBody, VerifyError>,
}

#[derive(Default)]
struct SegmentBody {
    /// Leaf hashes of the lines after the header (format 3).
    leaves: Vec<TreeHash>,
    /// Gap lines and checkpoint-named records, in line order.
    events: Vec<Event>,
    /// Lines after the header.
    lines: u64,
    records: u64,
    uncovered: u64,
    unknown_schemas: BTreeMap<u64, u64>,
    first_time: Option<String>,
    last_time: Option<String>,
    /// Last seq and hash (after the last record or gap).
    head: Option<(u64, RecordHash)>,
}

enum Event {
    Gap {
        at: u64,
        gap: GapLine,
        hash: RecordHash,
    },
    Matched {
        at: u64,
        seq: u64,
        hash: RecordHash,
    },
}

fn open_lines(fs: &dyn LogFs, dir: &Path, name: &str) -> Result<Lines, VerifyError> {
    let path = dir.join(name);
    let r = fs
        .open_read(&path)
        .map_err(|e| err(&path, None, format!("cannot open: {e}")))?;
    Ok(Lines {
        reader: BufReader::with_capacity(1 << 16, r),
        path,
        line: 0,
        text: String::new(),
    })
}

impl ScanJob<'_> {
    fn scan(&self, name: &str, done: &std::sync::atomic::AtomicU64) -> SegmentScan {
        let mut lines = match open_lines(self.fs, self.dir, name) {
            Ok(l) => l,
            Err(e) => {
                return SegmentScan {
                    header: Err(e.clone()),
                    body: Err(e),
                };
            }
        };
        let header = (|| {
            let Some(n) = lines.next()? else {
                return Err(err(&lines.path, None, "empty segment: no header"));
            };
            done.fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
            let header = SegmentHeader::parse(lines.text()).map_err(|e| lines.err(e))?;
            let hash = audit_runtime::chain::line::check_in_place(lines.text())
                .map_err(|e| lines.err(e.to_string()))?;
            Ok((header, hash))
        })();
        let body = match &header {
            Ok((h, _)) => self.body(h, &mut lines, done),
            Err(e) => Err(e.clone()),
        };
        SegmentScan { header, body }
    }

    fn body(
        &self,
        header: &SegmentHeader,
        lines: &mut Lines,
        done: &std::sync::atomic::AtomicU64,
    ) -> Result<SegmentBody, VerifyError> {
        let chain = self.chain;
        let merkle = header.is_merkle();
        let mut b = SegmentBody::default();
        let mut verifier = match header.prev() {
            Some((seq, hash)) => ChainVerifier::resume(seq, hash, String::new()),
            None => ChainVerifier::new(),
        };
        let mut pending = 0u64;
        while let Some(n) = lines.next()? {
            pending += n as u64;
            if pending >= 1 << 20 {
                done.fetch_add(pending, std::sync::atomic::Ordering::Relaxed);
                pending = 0;
            }
            let at = lines.line;
            b.lines += 1;
            if GapLine::is_gap(lines.text()) {
                let (gap, hash) = GapLine::parse(lines.text()).map_err(|e| lines.err(e))?;
                if !header.allows_gaps() {
                    return Err(lines.err(format!(
                        "gap line in a format-{} segment (only format {} segments hold gaps)",
                        header.format,
                        format::FORMAT_GAPS
                    )));
                }
                let (want_seq, want_prev) = verifier
                    .head()
                    .map_or((0, RecordHash::GENESIS), |(s, h)| (s.saturating_add(1), h));
                if gap.chain != chain || gap.from_seq != want_seq || gap.prev_hash() != want_prev {
                    return Err(lines.err(format!(
                        "gap of seq {}..={} (chain {}) does not continue the chain, which expects \
                         seq {want_seq} after hash {want_prev}",
                        gap.from_seq, gap.to_seq, gap.chain
                    )));
                }
                if merkle {
                    b.leaves.push(format::leaf_of(&hash));
                }
                verifier = ChainVerifier::resume(gap.to_seq, gap.last_hash(), String::new());
                b.events.push(Event::Gap { at, gap, hash });
                continue;
            }
            let (env, hash) = verifier
                .push_integrity(lines.text())
                .map_err(|e| lines.err(e.to_string()))?;
            let (seq, v) = (env.seq, env.v);
            if merkle {
                b.leaves.push(format::leaf_of(&hash));
            }
            if seq >= self.covered_below {
                b.uncovered += 1;
            }
            if self.wanted.contains(&seq) {
                b.events.push(Event::Matched { at, seq, hash });
            }
            if v != u64::from(SCHEMA_VERSION) {
                *b.unknown_schemas.entry(v).or_default() += 1;
            } else if self.schema {
                // The schema layer: a record of the version this verifier knows.
                let (canonical, _) = audit_runtime::chain::line::split(lines.text())
                    .map_err(|e| lines.err(e.to_string()))?;
                let record: AuditRecord = serde_json::from_str(&canonical).map_err(|e| {
                    lines.err(format!(
                        "integrity verified, but not a valid schema-{SCHEMA_VERSION} record: {e}"
                    ))
                })?;
                if record.service.instance != chain {
                    return Err(lines.err(format!(
                        "record of chain {} in a segment of chain {chain}",
                        record.service.instance
                    )));
                }
                let t1 = record.time.end.as_ref().unwrap_or(&record.time.start);
                if b.last_time.as_ref().is_none_or(|l| t1 > l) {
                    b.last_time = Some(t1.clone());
                }
                let t0 = record.time.start;
                if b.first_time.as_ref().is_none_or(|f| t0 < *f) {
                    b.first_time = Some(t0);
                }
            }
            b.records += 1;
        }
        done.fetch_add(pending, std::sync::atomic::Ordering::Relaxed);
        b.head = verifier.head();
        Ok(b)
    }
}

impl Ctx<'_> {
    fn open(&self, name: &str) -> Result<Lines, VerifyError> {
        let path = self.dir.join(name);
        let r = self
            .fs
            .open_read(&path)
            .map_err(|e| err(&path, None, format!("cannot open: {e}")))?;
        Ok(Lines {
            reader: BufReader::with_capacity(1 << 16, r),
            path,
            line: 0,
            text: String::new(),
        })
    }

    fn advance(&mut self, n: usize) {
        const STEP: u64 = 4 << 20;
        let before = self.done / STEP;
        self.done += n as u64;
        if self.done / STEP != before {
            (self.progress)(Progress {
                done: self.done,
                total: self.total,
            });
        }
    }

    fn checkpoints(
        &mut self,
        chain: RecordId,
        service: &str,
        name: &str,
    ) -> Result<(Vec<Expect>, u64), VerifyError> {
        let mut lines = self.open(name)?;
        let mut out: Vec<Expect> = Vec::new();
        let mut signed = 0;
        while let Some(n) = lines.next()? {
            let at = lines.line;
            let path = lines.path.clone();
            let (c, body) = CheckpointLine::parse(lines.text()).map_err(|e| lines.err(e))?;
            if let Ok((_, h)) = audit_runtime::chain::line::split(lines.text()) {
                self.checkpoint_hashes
                    .entry(chain)
                    .or_default()
                    .insert(h.to_hex());
            }
            if c.chain != chain || body.service != service {
                return Err(err(
                    &path,
                    Some(at),
                    format!(
                        "checkpoint of chain {}/{} in the checkpoint log of {service}/{chain}",
                        body.service, c.chain
                    ),
                ));
            }
            if let Some(prev) = out.last()
                && body.count < prev.body.count
            {
                return Err(err(
                    &path,
                    Some(at),
                    format!(
                        "checkpoint count {} is below the previous checkpoint's {}",
                        body.count, prev.body.count
                    ),
                ));
            }
            if body.count == 0 && body.head != RecordHash::GENESIS {
                return Err(err(
                    &path,
                    Some(at),
                    "checkpoint of 0 records with a head hash",
                ));
            }
            if let Some(key) = self.key {
                if !c.is_signed() {
                    return Err(err(
                        &path,
                        Some(at),
                        format!(
                            "checkpoint is not signed, but key {} is pinned",
                            key.label()
                        ),
                    ));
                }
                key.verify(&c.note)
                    .map_err(|e| err(&path, Some(at), format!("checkpoint signature: {e}")))?;
                signed += 1;
            }
            out.push(Expect { line: at, body });
            self.advance(n);
        }
        Ok((out, signed))
    }

    /// Scan the segments of a chain on up to [`VerifyOptions::threads`] threads; the results come
    /// back in segment order, and the merge (links between segments, the tree, the checkpoints)
    /// is the caller's, in order, so the first problem reported is the same on any number of
    /// threads.
    fn scan_all(&mut self, job: &ScanJob<'_>, names: &[(u32, String)]) -> Vec<SegmentScan> {
        let threads = self.threads.clamp(1, names.len().max(1));
        let next = std::sync::atomic::AtomicUsize::new(0);
        let done = std::sync::atomic::AtomicU64::new(0);
        let slots: Vec<std::sync::Mutex<Option<SegmentScan>>> =
            names.iter().map(|_| std::sync::Mutex::new(None)).collect();
        let work = || {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some((_, name)) = names.get(i) else {
                    return;
                };
                let scan = job.scan(name, &done);
                if let Some(slot) = slots.get(i) {
                    *slot
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(scan);
                }
            }
        };
        let base = self.done;
        std::thread::scope(|s| {
            for _ in 1..threads {
                s.spawn(work);
            }
            // This thread works too, and reports progress between its segments.
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some((_, name)) = names.get(i) else {
                    break;
                };
                let scan = job.scan(name, &done);
                if let Some(slot) = slots.get(i) {
                    *slot
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(scan);
                }
                self.done = base + done.load(std::sync::atomic::Ordering::Relaxed);
                (self.progress)(Progress {
                    done: self.done,
                    total: self.total,
                });
            }
        });
        self.done = base + done.load(std::sync::atomic::Ordering::Relaxed);
        slots
            .into_iter()
            .zip(names)
            .map(|(slot, (_, name))| {
                slot.into_inner()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .unwrap_or_else(|| {
                        let e = err(&self.dir.join(name), None, "segment was not scanned");
                        SegmentScan {
                            header: Err(e.clone()),
                            body: Err(e),
                        }
                    })
            })
            .collect()
    }

    /// Append a line to a format-3 chain's tree and check every checkpoint and anchor that
    /// commits to the tree at the size it now has.
    fn leaf(
        &self,
        tree: &mut Option<CompactTree>,
        roots: &BTreeMap<u64, Vec<(TreeHash, String)>>,
        leaf: TreeHash,
        at: (&Path, u64),
    ) -> Result<(), VerifyError> {
        let Some(t) = tree.as_mut() else {
            return Ok(());
        };
        let size = t
            .append_leaf_hash(leaf)
            .map_err(|e| err(at.0, Some(at.1), format!("Merkle tree: {e}")))?
            + 1;
        if let Some(want) = roots.get(&size) {
            let root = t.root();
            for (r, what) in want {
                if *r != root {
                    return Err(err(
                        at.0,
                        Some(at.1),
                        format!(
                            "{what} commits to a tree of {size} lines with root {}, but the log's \
                             first {size} lines hash to {}: lines up to here were altered, \
                             removed, inserted or reordered (a fork of the log)",
                            r.to_base64(),
                            root.to_base64()
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    fn chain(
        &mut self,
        chain: RecordId,
        files: ChainFiles,
        anchors: Vec<CheckpointBody>,
    ) -> Result<(ChainSummary, Option<PrevChain>), VerifyError> {
        let service = files.service.unwrap_or_default();
        let ckpt_name = files
            .ckpt
            .clone()
            .unwrap_or_else(|| format::checkpoint_file_name(&service, chain));
        let ckpt_path = self.dir.join(&ckpt_name);
        if files.ckpt.is_none() {
            return Err(err(
                &ckpt_path,
                None,
                "the checkpoint log of this chain is missing (deleted?); without it the end of \
                 the chain cannot be checked",
            ));
        }
        let (expects, signed) = self.checkpoints(chain, &service, &ckpt_name)?;
        // seq -> index into expects of checkpoints whose head is that record.
        let mut by_seq: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
        for (i, e) in expects.iter().enumerate() {
            if e.body.count > 0 {
                by_seq.entry(e.body.count - 1).or_default().push(i);
            }
        }
        let mut summary = ChainSummary {
            service: service.clone(),
            chain,
            segments: 0,
            records: 0,
            checkpoints: expects.len() as u64,
            signed_checkpoints: signed,
            uncovered: 0,
            uncovered_gaps: 0,
            absent: 0,
            gaps: Vec::new(),
            first_time: None,
            last_time: None,
            format: 0,
            tree_size: 0,
            tree_root: None,
            unknown_schemas: BTreeMap::new(),
            prev_chain: None,
            anchored: Vec::new(),
            longest_silence: None,
        };
        for pair in expects.windows(2) {
            if let (Some(a), Some(b)) = (
                unix_seconds(&pair[0].body.time),
                unix_seconds(&pair[1].body.time),
            ) && let Ok(d) = u64::try_from(b - a)
                && summary.longest_silence.as_ref().is_none_or(|(l, _)| d > *l)
            {
                summary.longest_silence = Some((d, pair[1].body.time.clone()));
            }
        }
        // Format 3: the roots the tree must have at given sizes (checkpoints and anchors).
        let mut roots: BTreeMap<u64, Vec<(TreeHash, String)>> = BTreeMap::new();
        for e in &expects {
            if let Some(t) = e.body.tree {
                roots.entry(t.size).or_default().push((
                    t.root,
                    format!("checkpoint {}:{}", ckpt_path.display(), e.line),
                ));
            }
        }
        for a in &anchors {
            if let Some(t) = a.tree {
                roots.entry(t.size).or_default().push((
                    t.root,
                    format!("the anchored checkpoint of {} lines", t.size),
                ));
            }
        }
        let mut tree: Option<CompactTree> = None;
        let mut link: Option<PrevChain> = None;
        // Records from this seq on are after the latest checkpoint.
        let covered_below = expects.last().map_or(0, |e| e.body.count);
        let mut matched = vec![false; expects.len()];
        let mut gap_head = RecordHash::GENESIS;
        let mut head: Option<(u64, RecordHash)> = None;
        let last_segment = files.segments.keys().next_back().copied().unwrap_or(0);
        for (expected_segment, (&number, name)) in (1u32..).zip(&files.segments) {
            if number != expected_segment {
                return Err(err(
                    &self.dir.join(name),
                    None,
                    if expected_segment + 1 == number {
                        format!("segment {expected_segment} of this chain is missing")
                    } else {
                        format!(
                            "segments {expected_segment}..={} of this chain are missing",
                            number - 1
                        )
                    },
                ));
            }
        }
        let names: Vec<(u32, String)> = files
            .segments
            .iter()
            .map(|(n, s)| (*n, s.clone()))
            .collect();
        let wanted: std::collections::BTreeSet<u64> = by_seq.keys().copied().collect();
        let job = ScanJob {
            fs: self.fs,
            dir: self.dir,
            chain,
            covered_below,
            wanted: &wanted,
            schema: self.schema,
        };
        let scans = self.scan_all(&job, &names);
        for (scan, (number, name)) in scans.into_iter().zip(&names) {
            let number = *number;
            let path = self.dir.join(name);
            summary.segments += 1;
            let (header, header_hash) = scan.header?;
            if header.chain != chain || header.service != service || header.segment != number {
                return Err(err(
                    &path,
                    Some(1),
                    format!(
                        "the header says {}/{} segment {} but the file name says {service}/{chain} \
                         segment {number} (a segment of another chain, or a renamed copy)",
                        header.service, header.chain, header.segment
                    ),
                ));
            }
            if number == 1 {
                summary.format = header.format;
                if header.is_merkle() {
                    tree = Some(CompactTree::new());
                    link = header.prev_chain.clone();
                    summary.prev_chain = link.as_ref().map(|p| p.chain);
                }
            } else if header.is_merkle() != tree.is_some() {
                return Err(err(
                    &path,
                    Some(1),
                    format!(
                        "segment {number} is format {} but segment 1 of the chain is format {}: a \
                         chain is written in one format",
                        header.format, summary.format
                    ),
                ));
            }
            if let Some(t) = &tree
                && header.leaf_index != Some(t.size())
            {
                return Err(err(
                    &path,
                    Some(1),
                    format!(
                        "the header says it is line {} of the chain's tree, but {} lines come \
                         before it (a segment was removed, truncated or replaced)",
                        header.leaf_index.unwrap_or_default(),
                        t.size()
                    ),
                ));
            }
            self.leaf(&mut tree, &roots, format::leaf_of(&header_hash), (&path, 1))?;
            match (head, header.prev()) {
                (None, None) if header.prev_hash == GENESIS_PREV => {}
                (Some(h), Some(p)) if h == p => {}
                (h, _) => {
                    return Err(err(
                        &path,
                        Some(1),
                        format!(
                            "the header links to {} but the chain before it ends at {} (a \
                             segment was removed, replaced or truncated)",
                            header.prev().map_or_else(
                                || "the chain's start".to_owned(),
                                |(s, x)| format!("seq {s} hash {x}")
                            ),
                            h.map_or_else(
                                || "its start".to_owned(),
                                |(s, x)| format!("seq {s} hash {x}")
                            )
                        ),
                    ));
                }
            }
            let body = scan.body?;
            for (i, leaf) in body.leaves.iter().enumerate() {
                self.leaf(&mut tree, &roots, *leaf, (&path, i as u64 + 2))?;
            }
            for event in body.events {
                match event {
                    Event::Gap { at, gap, hash } => {
                        if gap.prev_gap_hash() != gap_head {
                            return Err(err(
                                &path,
                                Some(at),
                                "gap line does not name the previous gap line's hash (a gap line \
                                 was removed or inserted)",
                            ));
                        }
                        gap_head = hash;
                        if gap.from_seq >= covered_below {
                            summary.uncovered_gaps += 1;
                        }
                        summary.absent = summary.absent.saturating_add(gap.absent());
                        summary.gaps.push(GapInfo {
                            from_seq: gap.from_seq,
                            to_seq: gap.to_seq,
                            reason: gap.reason,
                        });
                    }
                    Event::Matched { at, seq, hash } => {
                        for &i in by_seq.get(&seq).map(Vec::as_slice).unwrap_or_default() {
                            let e = &expects[i];
                            matched[i] = true;
                            let gaps_here = (summary.absent > 0).then_some(GapState {
                                absent: summary.absent,
                                head: gap_head,
                            });
                            if e.body.gaps != gaps_here {
                                return Err(err(
                                    &ckpt_path,
                                    Some(e.line),
                                    format!(
                                        "checkpoint states {} but the log has {} up to seq {seq}: \
                                         a gap was added, removed or altered",
                                        describe_gaps(e.body.gaps),
                                        describe_gaps(gaps_here)
                                    ),
                                ));
                            }
                            if e.body.head != hash {
                                return Err(err(
                                    &ckpt_path,
                                    Some(e.line),
                                    format!(
                                        "checkpoint head {} is not the hash {hash} of record seq \
                                         {seq} ({}:{at}): the records or the checkpoint were \
                                         altered",
                                        e.body.head,
                                        path.display()
                                    ),
                                ));
                            }
                            if e.body.segment != number {
                                return Err(err(
                                    &ckpt_path,
                                    Some(e.line),
                                    format!(
                                        "checkpoint places seq {seq} in segment {} but it is in \
                                         segment {number}",
                                        e.body.segment
                                    ),
                                ));
                            }
                        }
                    }
                }
            }
            if body.lines == 0 && number != last_segment {
                return Err(err(
                    &path,
                    None,
                    "segment holds no record but is not the last one",
                ));
            }
            summary.records += body.records;
            summary.uncovered += body.uncovered;
            for (v, n) in body.unknown_schemas {
                *summary.unknown_schemas.entry(v).or_default() += n;
            }
            if let Some(t0) = body.first_time
                && summary.first_time.as_ref().is_none_or(|f| t0 < *f)
            {
                summary.first_time = Some(t0);
            }
            if let Some(t1) = body.last_time
                && summary.last_time.as_ref().is_none_or(|l| t1 > *l)
            {
                summary.last_time = Some(t1);
            }
            head = body.head.or(head);
        }
        let count = head.map_or(0, |h| h.0.saturating_add(1));
        let tree_size = tree.as_ref().map_or(0, CompactTree::size);
        if let Some(t) = &tree {
            summary.tree_size = t.size();
            summary.tree_root = Some(t.root());
        }
        for a in &anchors {
            let (size, what) = match a.tree {
                Some(t) => (t.size, tree_size),
                None => (a.count, count),
            };
            if size > what {
                return Err(err(
                    &ckpt_path,
                    None,
                    format!(
                        "the anchored checkpoint commits to {size} {unit} of chain {service}/{chain}, \
                         but the log holds only {what}: the log was truncated or rolled back \
                         (segments and checkpoint log together)",
                        unit = if a.tree.is_some() { "lines" } else { "records" },
                    ),
                ));
            }
            summary.anchored.push(size);
        }
        if let Some(latest) = expects.last()
            && latest.body.count > count
        {
            let seg = latest.body.segment;
            let what = if seg > last_segment {
                format!(
                    "segment {seg} (and any after {last_segment}) is missing: the last \
                     segment(s) were deleted"
                )
            } else {
                format!("segment {seg} is truncated")
            };
            return Err(err(
                &ckpt_path,
                Some(latest.line),
                format!(
                    "checkpoint covers {} records but the chain holds only {count}: {what}",
                    latest.body.count
                ),
            ));
        }
        if let Some(latest) = expects.last()
            && let Some(t) = latest.body.tree
            && t.size > tree_size
        {
            return Err(err(
                &ckpt_path,
                Some(latest.line),
                format!(
                    "checkpoint covers {} lines but the chain's segments hold only {tree_size}: {}",
                    t.size,
                    if latest.body.segment > last_segment {
                        format!(
                            "segment {} (and any after {last_segment}) is missing: the last \
                             segment(s) were deleted",
                            latest.body.segment
                        )
                    } else {
                        format!("segment {} is truncated", latest.body.segment)
                    }
                ),
            ));
        }
        if let Some(i) = (0..expects.len())
            .find(|&i| !matched[i] && expects[i].body.count > 0 && expects[i].body.count <= count)
        {
            let e = &expects[i];
            return Err(err(
                &ckpt_path,
                Some(e.line),
                format!(
                    "checkpoint names seq {} as its head, but that record is not in the log (it \
                     lies in a gap): a writer checkpoints only records it holds",
                    e.body.count - 1
                ),
            ));
        }
        if let Some(key) = self.key
            && (summary.uncovered > 0 || summary.uncovered_gaps > 0)
            && !self.allow_unsigned_tail
        {
            let first = covered_below;
            let gaps = if summary.uncovered_gaps > 0 {
                format!(" and {} gap line(s)", summary.uncovered_gaps)
            } else {
                String::new()
            };
            return Err(err(
                &ckpt_path,
                None,
                format!(
                    "unverified: {} record(s){gaps} of chain {service}/{chain} (seq {first}..={}) \
                     are not covered by a checkpoint signed by {}{}; anyone who can write the \
                     directory could have written them. If the writer crashed, pass \
                     --allow-unsigned-tail (VerifyOptions::allow_unsigned_tail) to accept its \
                     unsigned tail",
                    summary.uncovered,
                    count.saturating_sub(1),
                    key.label(),
                    if expects.is_empty() {
                        " (the checkpoint log is empty)"
                    } else {
                        ""
                    }
                ),
            ));
        }
        Ok((summary, link))
    }
}

#[cfg(test)]
mod tests {
    use super::unix_seconds;

    #[test]
    fn writer_times_convert_to_unix_seconds() {
        assert_eq!(unix_seconds("1970-01-01T00:00:00.000000000Z"), Some(0));
        assert_eq!(unix_seconds("2000-03-01T00:00:00Z"), Some(951_868_800));
        assert_eq!(
            unix_seconds("2026-11-26T12:00:00.000000000Z"),
            Some(1_795_694_400)
        );
        for bad in [
            "",
            "2026-13-01T00:00:00Z",
            "2026-11-26 12:00:00Z",
            "x026-11-26T12:00:00Z",
        ] {
            assert_eq!(unix_seconds(bad), None, "{bad}");
        }
    }
}
