//! The on-disk format of the file log, versions 1, 2 and 3: file names, segment headers, gap
//! lines, checkpoint lines and the checkpoint text that is signed. `docs/FILE-FORMAT.md` draws
//! every byte.
//!
//! Format 3 (what the writer writes by default) makes every line of a chain's segments, header
//! lines included, a leaf of an RFC 6962 Merkle tree ([`audit_runtime::merkle`]); its checkpoints
//! are C2SP `tlog-checkpoint`s whose root hash is that tree's root, so a record's inclusion and
//! two checkpoints' consistency are proved in O(log n) hashes. Its integrity does not depend on
//! the record schema: the verifier checks hashes, links and the tree of records of any schema
//! version and kind. Segment 1's header may name the checkpoint of the chain written before it
//! in the same directory (`prev_chain`), so deleting a whole chain shows.
//!
//! Format 2 is format 1 plus *gaps*: a chain the writer did not receive whole (a fallback
//! exporter gets only the batches its primaries failed) has gap lines in its segments, each
//! naming the `seq` range that is absent and why, and its checkpoints commit to the gaps. A
//! chain without a gap is written in format 1, byte for byte as before.
//!
//! Every line of every file is a *sealed* JSON object: its canonical bytes (compact
//! `serde_json`, fields in struct order) with the final `}` replaced by `,"hash":"<64 hex>"}`,
//! where the hash is BLAKE3 of the canonical bytes. One module frames them all:
//! `audit_runtime::chain::line` seals the records in the runtime and the headers, gap lines and
//! checkpoint lines here ([`seal`] is its re-export), so one rule checks every line and a
//! flipped byte anywhere is caught without a signature.
//!
//! What must hold: a file's name, its header and its records agree on service, chain and segment
//! number; parsers of these lines return errors, never panic, on any bytes.

use audit_runtime::RecordId;
use audit_runtime::chain::{GENESIS_PREV, RecordHash};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};

/// Version of the file format (names, header, checkpoint lines) of a chain without gaps.
pub const FORMAT_VERSION: u32 = 1;
/// Version of segments that may hold gap lines and of checkpoints that commit to gaps.
pub const FORMAT_GAPS: u32 = 2;
/// Version of segments whose lines are the leaves of a Merkle tree, and of checkpoints whose
/// root hash is its root (C2SP `tlog-checkpoint`). May hold gap lines.
pub const FORMAT_MERKLE: u32 = 3;
/// The tree of format 3: RFC 6962 hashing with SHA-256, leaf data = the line without its `\n`.
pub const TREE_ALG: &str = "rfc6962-sha256";
/// The hash algorithm of every line's own hash (formats 1, 2 and 3).
pub const HASH_ALG: &str = "blake3";
/// Extension of segment files.
pub const SEGMENT_EXT: &str = "jsonl";
/// Extension of a chain's checkpoint log.
pub const CHECKPOINT_EXT: &str = "ckpt";
/// Marker in the names of quarantine files (torn bytes moved aside by recovery).
pub const QUARANTINE_MARK: &str = ".quarantine-";
/// Origin prefix of checkpoint texts.
pub const ORIGIN_PREFIX: &str = "audit-sdk";

/// Digits of the segment number in a file name; 999 999 segments of 64 MiB is 61 TiB per chain.
const SEGMENT_DIGITS: usize = 6;
/// Length of a UUID in its hyphenated form.
const UUID_LEN: usize = 36;

/// Make a service name safe for file names: keep ASCII letters, digits, `-` and `_`; map the
/// rest to `_`; at most 64 characters; `audit` when nothing is left.
pub fn sanitize_service(name: &str) -> String {
    let s: String = name
        .chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() { "audit".to_owned() } else { s }
}

/// What a file in a log directory is, judged by its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileKind {
    /// `<service>.<chain>.<segment:06>.jsonl`
    Segment {
        /// Sanitized service name.
        service: String,
        /// Chain id (the writing process instance).
        chain: RecordId,
        /// Segment number, from 1.
        segment: u32,
    },
    /// `<service>.<chain>.ckpt`
    CheckpointLog {
        /// Sanitized service name.
        service: String,
        /// Chain id.
        chain: RecordId,
    },
    /// `<any log file name>.quarantine-<unix millis>`: bytes recovery moved aside.
    Quarantine,
    /// Anything else: not part of the log, ignored by the verifier.
    Foreign,
}

/// The file name of a segment.
pub fn segment_file_name(service: &str, chain: RecordId, segment: u32) -> String {
    format!("{service}.{chain}.{segment:0SEGMENT_DIGITS$}.{SEGMENT_EXT}")
}

/// The file name of a chain's checkpoint log.
pub fn checkpoint_file_name(service: &str, chain: RecordId) -> String {
    format!("{service}.{chain}.{CHECKPOINT_EXT}")
}

/// Split `<service>.<uuid>` into its parts.
fn service_and_chain(stem: &str) -> Option<(String, RecordId)> {
    if stem.len() < UUID_LEN + 2 || !stem.is_char_boundary(stem.len() - UUID_LEN - 1) {
        return None;
    }
    let (service, rest) = stem.split_at(stem.len() - UUID_LEN - 1);
    let chain: RecordId = rest.strip_prefix('.')?.parse().ok()?;
    if service.is_empty() || sanitize_service(service) != service {
        return None;
    }
    Some((service.to_owned(), chain))
}

/// Classify a file by its name.
pub fn classify(name: &str) -> FileKind {
    if name.contains(QUARANTINE_MARK) {
        return FileKind::Quarantine;
    }
    if let Some(stem) = name.strip_suffix(&format!(".{CHECKPOINT_EXT}"))
        && let Some((service, chain)) = service_and_chain(stem)
    {
        return FileKind::CheckpointLog { service, chain };
    }
    if let Some(stem) = name.strip_suffix(&format!(".{SEGMENT_EXT}"))
        && let Some((rest, digits)) = stem.rsplit_once('.')
        && digits.len() == SEGMENT_DIGITS
        && digits.bytes().all(|b| b.is_ascii_digit())
        && let (Some((service, chain)), Ok(segment)) =
            (service_and_chain(rest), digits.parse::<u32>())
        && segment > 0
    {
        return FileKind::Segment {
            service,
            chain,
            segment,
        };
    }
    FileKind::Foreign
}

// The sealed-line framing is the runtime's, for records and for the lines of this format alike.
pub use audit_runtime::chain::line::{SealError, seal};
use audit_runtime::chain::line::{check as check_sealed, split as split_sealed};

/// The first line of every segment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SegmentHeader {
    /// Always `segment_header`.
    #[serde(rename = "type")]
    pub kind: String,
    /// [`FORMAT_VERSION`].
    pub format: u32,
    /// The chain (process instance) whose records the segment holds.
    pub chain: RecordId,
    /// Sanitized service name, as in the file name.
    pub service: String,
    /// Record schema version of the records.
    pub schema: u32,
    /// [`HASH_ALG`].
    pub hash_alg: String,
    /// Segment number, from 1.
    pub segment: u32,
    /// `seq` of the last record of the previous segment; absent in segment 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prev_seq: Option<u64>,
    /// Hash of that record; 64 zeros in segment 1.
    pub prev_hash: String,
    /// When the segment was created, RFC 3339 UTC.
    pub created: String,
    /// Format 3: [`TREE_ALG`], the tree this segment's lines are leaves of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tree: Option<String>,
    /// Format 3: the leaf index of this header line in the chain's tree (the number of lines
    /// in the segments before it), so a segment can be checked on its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leaf_index: Option<u64>,
    /// Format 3, segment 1 only: the latest checkpoint of the chain written before this one in
    /// the same directory, when there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prev_chain: Option<PrevChain>,
}

/// The link from a chain to the one before it in a directory: the checkpoint line that was the
/// other chain's latest when this chain began.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrevChain {
    /// The other chain.
    pub chain: RecordId,
    /// Its service (as in its file names).
    pub service: String,
    /// The hash of that checkpoint line (its own sealed-line hash).
    pub checkpoint: String,
    /// The records that checkpoint covers.
    pub count: u64,
}

impl SegmentHeader {
    /// The header of segment `segment`, following `prev` (last seq and hash of the previous one).
    pub fn new(
        service: &str,
        chain: RecordId,
        segment: u32,
        prev: Option<(u64, RecordHash)>,
        created: String,
    ) -> Self {
        Self::with_format(FORMAT_VERSION, service, chain, segment, prev, created)
    }

    /// The header of a segment of format `format` ([`FORMAT_GAPS`] for one that may hold gaps).
    pub fn with_format(
        format: u32,
        service: &str,
        chain: RecordId,
        segment: u32,
        prev: Option<(u64, RecordHash)>,
        created: String,
    ) -> Self {
        SegmentHeader {
            kind: "segment_header".into(),
            format,
            chain,
            service: service.to_owned(),
            schema: audit_runtime::record::SCHEMA_VERSION,
            hash_alg: HASH_ALG.into(),
            segment,
            prev_seq: prev.map(|p| p.0),
            prev_hash: prev.map_or_else(|| GENESIS_PREV.to_owned(), |p| p.1.to_hex()),
            created,
            tree: None,
            leaf_index: None,
            prev_chain: None,
        }
    }

    /// The header of a format-3 segment whose line is leaf `leaf_index` of the chain's tree.
    pub fn merkle(
        service: &str,
        chain: RecordId,
        segment: u32,
        prev: Option<(u64, RecordHash)>,
        created: String,
        leaf_index: u64,
        prev_chain: Option<PrevChain>,
    ) -> Self {
        SegmentHeader {
            tree: Some(TREE_ALG.into()),
            leaf_index: Some(leaf_index),
            prev_chain,
            ..Self::with_format(FORMAT_MERKLE, service, chain, segment, prev, created)
        }
    }

    /// Parse and check a header line: known format, schema and hash algorithm, intact hash.
    pub fn parse(line: &str) -> Result<Self, String> {
        let (canonical, stored) = split_sealed(line).map_err(|e| format!("bad header: {e}"))?;
        let v: serde_json::Value =
            serde_json::from_str(&canonical).map_err(|e| format!("header is not JSON: {e}"))?;
        if v.get("type").and_then(|t| t.as_str()) != Some("segment_header") {
            return Err("the first line is not a segment header".into());
        }
        match v.get("format").and_then(serde_json::Value::as_u64) {
            Some(f)
                if f == u64::from(FORMAT_VERSION)
                    || f == u64::from(FORMAT_GAPS)
                    || f == u64::from(FORMAT_MERKLE) => {}
            Some(f) => {
                return Err(format!(
                    "unknown segment format {f} (this verifier reads formats {FORMAT_VERSION}, \
                     {FORMAT_GAPS} and {FORMAT_MERKLE}; a newer verifier is needed)"
                ));
            }
            None => return Err("header has no format version".into()),
        }
        let merkle =
            v.get("format").and_then(serde_json::Value::as_u64) == Some(u64::from(FORMAT_MERKLE));
        match v.get("hash_alg").and_then(|t| t.as_str()) {
            Some(HASH_ALG) => {}
            Some(other) => {
                return Err(format!(
                    "unknown hash algorithm {other:?} (only {HASH_ALG:?})"
                ));
            }
            None => return Err("header names no hash algorithm".into()),
        }
        match v.get("schema").and_then(serde_json::Value::as_u64) {
            Some(s) if s == u64::from(audit_runtime::record::SCHEMA_VERSION) => {}
            // Format 3 separates integrity from schema: the header's schema says what the writer
            // wrote; records of any schema version are checked for integrity.
            Some(_) if merkle => {}
            Some(s) => {
                return Err(format!(
                    "unknown record schema version {s} (this verifier reads {})",
                    audit_runtime::record::SCHEMA_VERSION
                ));
            }
            None => return Err("header names no record schema version".into()),
        }
        check_sealed(&canonical, stored).map_err(|e| format!("corrupted header: {e}"))?;
        let h: SegmentHeader =
            serde_json::from_value(v).map_err(|e| format!("corrupted header: {e}"))?;
        if RecordHash::from_hex(&h.prev_hash).is_none() {
            return Err("corrupted header: prev_hash is not 64 hex digits".into());
        }
        if merkle {
            if h.tree.as_deref() != Some(TREE_ALG) {
                return Err(format!(
                    "unknown tree {:?} in a format-3 header (only {TREE_ALG:?})",
                    h.tree
                ));
            }
            if h.leaf_index.is_none() {
                return Err("format-3 header has no leaf_index".into());
            }
            if let Some(p) = &h.prev_chain {
                if h.segment != 1 {
                    return Err("prev_chain in a header of a segment other than 1".into());
                }
                if RecordHash::from_hex(&p.checkpoint).is_none() {
                    return Err(
                        "corrupted header: prev_chain.checkpoint is not 64 hex digits".into(),
                    );
                }
            }
        } else if h.tree.is_some() || h.leaf_index.is_some() || h.prev_chain.is_some() {
            return Err(format!(
                "a format-{} header with format-3 members",
                h.format
            ));
        }
        Ok(h)
    }

    /// The link the first record must continue: last seq and hash of the previous segment.
    pub fn prev(&self) -> Option<(u64, RecordHash)> {
        let hash = RecordHash::from_hex(&self.prev_hash)?;
        self.prev_seq.map(|s| (s, hash))
    }

    /// Whether gap lines may appear in this segment (formats 2 and 3).
    pub fn allows_gaps(&self) -> bool {
        self.format == FORMAT_GAPS || self.format == FORMAT_MERKLE
    }

    /// Whether the segment's lines are leaves of the chain's Merkle tree (format 3).
    pub fn is_merkle(&self) -> bool {
        self.format == FORMAT_MERKLE
    }
}

/// Why the writer records a gap: it never received those records.
pub const GAP_NOT_RECEIVED: &str = "not received by this writer (a fallback exporter receives only \
    the batches its primary exporters failed; the others hold these records)";

/// A gap line (format 2): records `from_seq..=to_seq` of the chain are absent from this log.
///
/// It stands where the absent records would be, links to the record before it (`prev`, as a
/// record does) and gives the hash of record `to_seq` (`last`), which the next record names as
/// its `prev`; so the records on both sides still link through the runtime's own hashes. Gap
/// lines also form a chain of their own (`prev_gap`, the hash of the chain's previous gap line),
/// whose head and absent count every later checkpoint states in its signed text: a gap cannot
/// be added, removed or widened after a signed checkpoint covered it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GapLine {
    /// Always `gap`.
    #[serde(rename = "type")]
    pub kind: String,
    /// [`FORMAT_GAPS`].
    pub format: u32,
    /// Chain id.
    pub chain: RecordId,
    /// First absent `seq`.
    pub from_seq: u64,
    /// Last absent `seq` (inclusive).
    pub to_seq: u64,
    /// Hash of record `from_seq - 1` (64 zeros when `from_seq` is 0).
    pub prev: String,
    /// Hash of record `to_seq`, as the record after the gap names it in its `prev`.
    pub last: String,
    /// Hash of the chain's previous gap line (64 zeros for the first).
    pub prev_gap: String,
    /// Why the records are absent.
    pub reason: String,
}

impl GapLine {
    /// A gap of `from..=to` after `prev`, whose last absent record hashes to `last`.
    pub fn new(
        chain: RecordId,
        from: u64,
        to: u64,
        prev: RecordHash,
        last: RecordHash,
        prev_gap: RecordHash,
        reason: &str,
    ) -> Self {
        GapLine {
            kind: "gap".into(),
            format: FORMAT_GAPS,
            chain,
            from_seq: from,
            to_seq: to,
            prev: prev.to_hex(),
            last: last.to_hex(),
            prev_gap: prev_gap.to_hex(),
            reason: reason.to_owned(),
        }
    }

    /// Whether a line is meant as a gap line (cheap; [`Self::parse`] checks it).
    pub fn is_gap(line: &str) -> bool {
        line.starts_with("{\"type\":\"gap\"")
    }

    /// Parse and check a gap line: intact hash, known format, well-formed range and hashes.
    /// Returns the line and its own hash (the next gap line's `prev_gap`).
    pub fn parse(line: &str) -> Result<(Self, RecordHash), String> {
        let (canonical, stored) = split_sealed(line).map_err(|e| format!("bad gap line: {e}"))?;
        let v: serde_json::Value =
            serde_json::from_str(&canonical).map_err(|e| format!("gap line is not JSON: {e}"))?;
        if v.get("type").and_then(|t| t.as_str()) != Some("gap") {
            return Err("not a gap line".into());
        }
        match v.get("format").and_then(serde_json::Value::as_u64) {
            Some(f) if f == u64::from(FORMAT_GAPS) => {}
            Some(f) => return Err(format!("unknown gap line format {f}")),
            None => return Err("gap line has no format version".into()),
        }
        check_sealed(&canonical, stored).map_err(|e| format!("corrupted gap line: {e}"))?;
        let g: GapLine =
            serde_json::from_value(v).map_err(|e| format!("corrupted gap line: {e}"))?;
        if g.to_seq < g.from_seq {
            return Err(format!(
                "gap line: to_seq {} is below from_seq {}",
                g.to_seq, g.from_seq
            ));
        }
        // A record follows every gap (seq to_seq + 1), and a chain's count (last seq + 1) must
        // fit a u64: so to_seq + 2 must too.
        if g.to_seq >= u64::MAX - 1 {
            return Err(format!(
                "gap line: to_seq {} leaves no room for the record after it",
                g.to_seq
            ));
        }
        for (name, h) in [
            ("prev", &g.prev),
            ("last", &g.last),
            ("prev_gap", &g.prev_gap),
        ] {
            if RecordHash::from_hex(h).is_none() {
                return Err(format!("gap line: {name} is not 64 hex digits"));
            }
        }
        Ok((g, stored))
    }

    /// Records the gap stands for.
    pub fn absent(&self) -> u64 {
        self.to_seq.saturating_sub(self.from_seq).saturating_add(1)
    }

    /// `prev` as a hash (checked by [`Self::parse`]).
    pub fn prev_hash(&self) -> RecordHash {
        RecordHash::from_hex(&self.prev).unwrap_or(RecordHash::GENESIS)
    }

    /// `last` as a hash (checked by [`Self::parse`]).
    pub fn last_hash(&self) -> RecordHash {
        RecordHash::from_hex(&self.last).unwrap_or(RecordHash::GENESIS)
    }

    /// `prev_gap` as a hash (checked by [`Self::parse`]).
    pub fn prev_gap_hash(&self) -> RecordHash {
        RecordHash::from_hex(&self.prev_gap).unwrap_or(RecordHash::GENESIS)
    }
}

/// What a format-2 checkpoint states about the chain's gaps up to its head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GapState {
    /// Records absent in all gaps so far.
    pub absent: u64,
    /// Hash of the latest gap line.
    pub head: RecordHash,
}

/// What a checkpoint states: the signed text of a C2SP note.
///
/// ```text
/// audit-sdk/<service>/<chain>      origin: names the log
/// <count>                          records in the chain, decimal (= last seq + 1)
/// <base64 head hash>               hash of record count-1 (32 zero bytes when count is 0)
/// segment <n>                      the segment holding that record
/// gaps <absent> <base64 hash>      format 2 only: records absent so far, latest gap line's hash
/// time <RFC 3339>                  when the checkpoint was made
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointBody {
    /// Sanitized service name.
    pub service: String,
    /// Chain id.
    pub chain: RecordId,
    /// Records in the chain.
    pub count: u64,
    /// Hash of the last record.
    pub head: RecordHash,
    /// Segment holding the last record.
    pub segment: u32,
    /// The gaps up to the head (format 2); `None` for a chain without gaps (format 1).
    pub gaps: Option<GapState>,
    /// Format 3: the Merkle tree of the chain's lines at this checkpoint.
    pub tree: Option<TreeState>,
    /// RFC 3339 UTC.
    pub time: String,
}

/// What a format-3 checkpoint states about the chain's Merkle tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeState {
    /// Leaves (lines of the chain's segments, headers included) the tree holds.
    pub size: u64,
    /// Its RFC 6962 root.
    pub root: audit_runtime::merkle::TreeHash,
}

impl CheckpointBody {
    /// The origin line.
    pub fn origin(&self) -> String {
        format!("{ORIGIN_PREFIX}/{}/{}", self.service, self.chain)
    }

    /// The note text, newline-terminated.
    pub fn to_text(&self) -> String {
        let gaps = self.gaps.map_or_else(String::new, |g| {
            format!("gaps {} {}\n", g.absent, B64.encode(g.head.0))
        });
        if let Some(t) = self.tree {
            // A C2SP tlog-checkpoint: origin, tree size, root; then extension lines.
            return format!(
                "{}\n{}\n{}\nrecords {} {}\nsegment {}\n{gaps}time {}\n",
                self.origin(),
                t.size,
                t.root.to_base64(),
                self.count,
                B64.encode(self.head.0),
                self.segment,
                self.time
            );
        }
        format!(
            "{}\n{}\n{}\nsegment {}\n{gaps}time {}\n",
            self.origin(),
            self.count,
            B64.encode(self.head.0),
            self.segment,
            self.time
        )
    }

    /// Parse a note text; the inverse of [`Self::to_text`].
    pub fn parse(text: &str) -> Result<Self, String> {
        let lines: Vec<&str> = text.split_terminator('\n').collect();
        if lines.get(3).is_some_and(|l| l.starts_with("records ")) {
            return Self::parse_merkle(text, &lines);
        }
        let (origin, count, head, segment, gaps, time) = match lines.as_slice() {
            [o, c, h, s, t] => (o, c, h, s, None, t),
            [o, c, h, s, g, t] => (o, c, h, s, Some(g), t),
            _ => {
                return Err(format!(
                    "checkpoint text has {} lines, expected 5 (or 6 with gaps)",
                    lines.len()
                ));
            }
        };
        let decode_hash = |b: &str| {
            B64.decode(b)
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
                .map(RecordHash)
        };
        let gaps = match gaps {
            None => None,
            Some(g) => {
                let (absent, head) = g
                    .strip_prefix("gaps ")
                    .and_then(|r| r.split_once(' '))
                    .ok_or("checkpoint has no `gaps <absent> <hash>` line")?;
                Some(GapState {
                    absent: absent
                        .parse()
                        .map_err(|_| "checkpoint gap count is not a number")?,
                    head: decode_hash(head)
                        .ok_or("checkpoint gap hash is not 32 bytes of base64")?,
                })
            }
        };
        let rest = origin
            .strip_prefix(ORIGIN_PREFIX)
            .and_then(|r| r.strip_prefix('/'))
            .ok_or_else(|| format!("checkpoint origin does not start with {ORIGIN_PREFIX}/"))?;
        let (service, chain) = rest
            .rsplit_once('/')
            .ok_or("checkpoint origin has no chain id")?;
        let chain: RecordId = chain
            .parse()
            .map_err(|_| "checkpoint origin: chain is not a UUID".to_owned())?;
        let count: u64 = count
            .parse()
            .map_err(|_| "checkpoint count is not a number")?;
        let head = decode_hash(head).ok_or("checkpoint head is not 32 bytes of base64")?;
        let segment: u32 = segment
            .strip_prefix("segment ")
            .and_then(|s| s.parse().ok())
            .ok_or("checkpoint has no `segment <n>` line")?;
        let time = time
            .strip_prefix("time ")
            .ok_or("checkpoint has no `time` line")?;
        let body = CheckpointBody {
            service: service.to_owned(),
            chain,
            count,
            head,
            segment,
            gaps,
            tree: None,
            time: time.to_owned(),
        };
        if body.to_text() != text {
            return Err("checkpoint text is not in canonical form".into());
        }
        Ok(body)
    }

    /// Parse a format-3 text: a C2SP checkpoint body whose extension lines are `records`,
    /// `segment`, optionally `gaps`, and `time`.
    fn parse_merkle(text: &str, lines: &[&str]) -> Result<Self, String> {
        let (size, root, records, segment, gaps, time) = match lines {
            [_, n, r, c, s, t] => (n, r, c, s, None, t),
            [_, n, r, c, s, g, t] => (n, r, c, s, Some(g), t),
            _ => {
                return Err(format!(
                    "format-3 checkpoint text has {} lines, expected 6 (or 7 with gaps)",
                    lines.len()
                ));
            }
        };
        let size: u64 = size
            .parse()
            .map_err(|_| "checkpoint tree size is not a number")?;
        let root = audit_runtime::merkle::TreeHash::from_base64(root)
            .ok_or("checkpoint root hash is not 32 bytes of base64")?;
        let (count, head) = records
            .strip_prefix("records ")
            .and_then(|r| r.split_once(' '))
            .ok_or("checkpoint has no `records <count> <head>` line")?;
        // Reuse the format-1 parser for the shared lines: origin, count, head, segment, gaps, time.
        let mut legacy = vec![lines[0], count, head, segment];
        legacy.extend(gaps);
        legacy.push(time);
        let mut legacy_text = legacy.join("\n");
        legacy_text.push('\n');
        let mut body = Self::parse(&legacy_text)?;
        body.tree = Some(TreeState { size, root });
        if body.to_text() != text {
            return Err("checkpoint text is not in canonical form".into());
        }
        Ok(body)
    }
}

/// One line of a checkpoint log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointLine {
    /// Always `checkpoint`.
    #[serde(rename = "type")]
    pub kind: String,
    /// [`FORMAT_VERSION`].
    pub format: u32,
    /// Chain id.
    pub chain: RecordId,
    /// Records in the chain.
    pub count: u64,
    /// Hash of the last record, hex.
    pub head: String,
    /// Segment holding the last record.
    pub segment: u32,
    /// Records absent in the chain's gaps up to the head (format 2 only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub absent: Option<u64>,
    /// Hash of the chain's latest gap line, hex (format 2 only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gap_head: Option<String>,
    /// Format 3: leaves of the chain's Merkle tree.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Format 3: the tree's root, hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root: Option<String>,
    /// The C2SP signed note (text, blank line, signatures), or the bare text when unsigned.
    pub note: String,
}

impl CheckpointLine {
    /// A line for `body` carrying `note`.
    pub fn new(body: &CheckpointBody, note: String) -> Self {
        CheckpointLine {
            kind: "checkpoint".into(),
            format: if body.tree.is_some() {
                FORMAT_MERKLE
            } else if body.gaps.is_some() {
                FORMAT_GAPS
            } else {
                FORMAT_VERSION
            },
            chain: body.chain,
            count: body.count,
            head: body.head.to_hex(),
            segment: body.segment,
            absent: body.gaps.map(|g| g.absent),
            gap_head: body.gaps.map(|g| g.head.to_hex()),
            size: body.tree.map(|t| t.size),
            root: body.tree.map(|t| t.root.to_hex()),
            note,
        }
    }

    /// Parse and check a checkpoint line: intact hash, known format, note text agreeing with the
    /// JSON fields. Signatures are the caller's to check (they need a pinned key).
    pub fn parse(line: &str) -> Result<(Self, CheckpointBody), String> {
        let (canonical, stored) = split_sealed(line).map_err(|e| format!("bad checkpoint: {e}"))?;
        let v: serde_json::Value =
            serde_json::from_str(&canonical).map_err(|e| format!("checkpoint is not JSON: {e}"))?;
        if v.get("type").and_then(|t| t.as_str()) != Some("checkpoint") {
            return Err("not a checkpoint line".into());
        }
        match v.get("format").and_then(serde_json::Value::as_u64) {
            Some(f)
                if f == u64::from(FORMAT_VERSION)
                    || f == u64::from(FORMAT_GAPS)
                    || f == u64::from(FORMAT_MERKLE) => {}
            Some(f) => {
                return Err(format!(
                    "unknown checkpoint format {f} (this verifier reads 1, 2 and 3; a newer \
                     verifier is needed)"
                ));
            }
            None => return Err("checkpoint has no format version".into()),
        }
        check_sealed(&canonical, stored).map_err(|e| format!("corrupted checkpoint: {e}"))?;
        let c: CheckpointLine =
            serde_json::from_value(v).map_err(|e| format!("corrupted checkpoint: {e}"))?;
        let text = c.text();
        let body = CheckpointBody::parse(text)?;
        if body.chain != c.chain
            || body.count != c.count
            || body.head.to_hex() != c.head
            || body.segment != c.segment
            || body.gaps.map(|g| g.absent) != c.absent
            || body.gaps.map(|g| g.head.to_hex()) != c.gap_head
            || body.tree.map(|t| t.size) != c.size
            || body.tree.map(|t| t.root.to_hex()) != c.root
        {
            return Err("checkpoint fields disagree with its signed text".into());
        }
        if (c.format == FORMAT_MERKLE) != body.tree.is_some() {
            return Err(format!(
                "a format-{} checkpoint {} a Merkle tree",
                c.format,
                if body.tree.is_some() {
                    "must not state"
                } else {
                    "must state"
                }
            ));
        }
        if c.format != FORMAT_MERKLE && (c.format == FORMAT_GAPS) != body.gaps.is_some() {
            return Err(format!(
                "a format-{} checkpoint {} a gaps line",
                c.format,
                if body.gaps.is_some() {
                    "must not have"
                } else {
                    "needs"
                }
            ));
        }
        Ok((c, body))
    }

    /// The signed text: the note up to its blank line, or all of it when unsigned.
    pub fn text(&self) -> &str {
        match self.note.rfind("\n\n") {
            Some(i) => &self.note[..i + 1],
            None => &self.note,
        }
    }

    /// Whether the note carries signatures.
    pub fn is_signed(&self) -> bool {
        self.note.contains("\n\n")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_foreign_names_are_foreign() {
        let chain = RecordId::now();
        let n = segment_file_name("svc-a_1", chain, 12);
        assert_eq!(
            classify(&n),
            FileKind::Segment {
                service: "svc-a_1".into(),
                chain,
                segment: 12
            }
        );
        assert_eq!(
            classify(&checkpoint_file_name("s", chain)),
            FileKind::CheckpointLog {
                service: "s".into(),
                chain
            }
        );
        for foreign in [
            "README",
            "x.jsonl",
            ".jsonl",
            "a.b.000001.jsonl",
            "s.x.ckpt",
            "é.jsonl",
        ] {
            assert_eq!(classify(foreign), FileKind::Foreign, "{foreign}");
        }
        assert_eq!(classify(&format!("{n}.quarantine-1")), FileKind::Quarantine);
        assert_eq!(sanitize_service("a.b/c d"), "a_b_c_d");
        assert_eq!(sanitize_service(""), "audit");
    }

    #[test]
    fn header_round_trips_and_rejects_unknowns() {
        let h = SegmentHeader::new(
            "svc",
            RecordId::now(),
            2,
            Some((9, RecordHash([3; 32]))),
            "t".into(),
        );
        let (line, _) = seal(&h).unwrap();
        assert_eq!(SegmentHeader::parse(&line).unwrap(), h);
        let e = SegmentHeader::parse(&line.replace("\"format\":1", "\"format\":7")).unwrap_err();
        assert!(e.contains("unknown segment format 7"), "{e}");
        let e = SegmentHeader::parse(&line.replace("blake3", "sha1")).unwrap_err();
        assert!(e.contains("unknown hash algorithm"), "{e}");
        let e = SegmentHeader::parse(&line.replace("\"segment\":2", "\"segment\":3")).unwrap_err();
        assert!(e.contains("hash mismatch"), "{e}");
    }

    #[test]
    fn checkpoint_text_round_trips() {
        let b = CheckpointBody {
            service: "svc".into(),
            chain: RecordId::now(),
            count: 5,
            head: RecordHash([9; 32]),
            segment: 1,
            gaps: None,
            tree: None,
            time: "2026-01-01T00:00:00.000000000Z".into(),
        };
        assert_eq!(CheckpointBody::parse(&b.to_text()).unwrap(), b);
        let (line, _) = seal(&CheckpointLine::new(&b, b.to_text())).unwrap();
        let (c, body) = CheckpointLine::parse(&line).unwrap();
        assert_eq!(body, b);
        assert!(!c.is_signed());
        assert_eq!(c.format, FORMAT_VERSION);
        assert!(!line.contains("absent"), "{line}");

        let g = CheckpointBody {
            gaps: Some(GapState {
                absent: 7,
                head: RecordHash([4; 32]),
            }),
            ..b
        };
        assert!(g.to_text().contains("\ngaps 7 "), "{}", g.to_text());
        assert_eq!(CheckpointBody::parse(&g.to_text()).unwrap(), g);
        let (line, _) = seal(&CheckpointLine::new(&g, g.to_text())).unwrap();
        let (c, body) = CheckpointLine::parse(&line).unwrap();
        assert_eq!((c.format, body), (FORMAT_GAPS, g.clone()));
        // The JSON fields and the signed text must agree on the gaps too.
        let mut bad = CheckpointLine::new(&g, g.to_text());
        bad.absent = Some(6);
        let e = CheckpointLine::parse(&seal(&bad).unwrap().0).unwrap_err();
        assert!(e.contains("disagree"), "{e}");
    }

    #[test]
    fn gap_line_round_trips_and_rejects_nonsense() {
        let chain = RecordId::now();
        let g = GapLine::new(
            chain,
            3,
            9,
            RecordHash([1; 32]),
            RecordHash([2; 32]),
            RecordHash::GENESIS,
            GAP_NOT_RECEIVED,
        );
        let (line, hash) = seal(&g).unwrap();
        assert!(GapLine::is_gap(&line));
        assert_eq!(GapLine::parse(&line).unwrap(), (g.clone(), hash));
        assert_eq!(g.absent(), 7);
        let e = GapLine::parse(&line.replace("\"to_seq\":9", "\"to_seq\":8")).unwrap_err();
        assert!(e.contains("hash mismatch"), "{e}");
        let backwards = GapLine {
            to_seq: 2,
            ..g.clone()
        };
        let e = GapLine::parse(&seal(&backwards).unwrap().0).unwrap_err();
        assert!(e.contains("below"), "{e}");
        for to in [u64::MAX, u64::MAX - 1] {
            let huge = GapLine {
                from_seq: 0,
                to_seq: to,
                ..g.clone()
            };
            let e = GapLine::parse(&seal(&huge).unwrap().0).unwrap_err();
            assert!(e.contains("no room"), "{e}");
        }
        let widest = GapLine {
            from_seq: 0,
            to_seq: u64::MAX - 2,
            ..g
        };
        assert_eq!(
            GapLine::parse(&seal(&widest).unwrap().0)
                .unwrap()
                .0
                .absent(),
            u64::MAX - 1
        );
        for junk in [
            "",
            "{\"type\":\"gap\"}",
            "{\"type\":\"gap\",\"hash\":\"zz\"}",
        ] {
            assert!(GapLine::parse(junk).is_err());
        }
    }
}
