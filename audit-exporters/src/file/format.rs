//! The on-disk format of the file log, version 1: file names, segment headers, checkpoint lines
//! and the checkpoint text that is signed. `docs/FILE-FORMAT.md` draws every byte.
//!
//! Every line of every file is a *sealed* JSON object: its canonical bytes (compact
//! `serde_json`, fields in struct order) with the final `}` replaced by `,"hash":"<64 hex>"}`,
//! where the hash is BLAKE3 of the canonical bytes. Records are sealed that way by the runtime
//! (`audit_runtime::chain`); headers and checkpoint lines are sealed the same way here, so one
//! rule checks every line and a flipped byte anywhere is caught without a signature.
//!
//! What must hold: a file's name, its header and its records agree on service, chain and segment
//! number; parsers of these lines return errors, never panic, on any bytes.

use std::fmt;

use audit_runtime::RecordId;
use audit_runtime::chain::{GENESIS_PREV, HASH_SUFFIX_LEN, RecordHash};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};

/// Version of the file format (names, header, checkpoint lines) this code writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// The only hash algorithm of format 1.
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

/// Seal a serializable value into a line (without newline) and its hash.
pub fn seal<T: Serialize>(value: &T) -> Result<(String, RecordHash), serde_json::Error> {
    let mut bytes = serde_json::to_vec(value)?;
    let hash = RecordHash(*blake3::hash(&bytes).as_bytes());
    bytes.pop();
    bytes.extend_from_slice(b",\"hash\":\"");
    bytes.extend_from_slice(hash.to_hex().as_bytes());
    bytes.extend_from_slice(b"\"}");
    // serde_json writes UTF-8 and the suffix is ASCII.
    let line = String::from_utf8(bytes)
        .map_err(|e| <serde_json::Error as serde::ser::Error>::custom(e.to_string()))?;
    Ok((line, hash))
}

/// Why a sealed line does not open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SealError {
    /// Not shaped like a sealed line.
    Malformed(String),
    /// The stored hash does not match the bytes.
    HashMismatch {
        /// What the line says.
        stored: String,
        /// What the bytes hash to.
        computed: String,
    },
}

impl fmt::Display for SealError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SealError::Malformed(why) => f.write_str(why),
            SealError::HashMismatch { stored, computed } => write!(
                f,
                "hash mismatch: line says {stored}, content hashes to {computed} (the line was \
                 altered)"
            ),
        }
    }
}

/// Split a sealed line into its canonical bytes and stored hash, without checking the hash.
fn split_sealed(line: &str) -> Result<(String, RecordHash), SealError> {
    if line.len() < HASH_SUFFIX_LEN + 2 || !line.is_char_boundary(line.len() - HASH_SUFFIX_LEN) {
        return Err(SealError::Malformed("too short to hold a hash".into()));
    }
    let (body, suffix) = line.split_at(line.len() - HASH_SUFFIX_LEN);
    let hex = suffix
        .strip_prefix(",\"hash\":\"")
        .and_then(|s| s.strip_suffix("\"}"))
        .ok_or_else(|| SealError::Malformed("does not end with a \"hash\" member".into()))?;
    let stored = RecordHash::from_hex(hex)
        .ok_or_else(|| SealError::Malformed("hash is not 64 hex digits".into()))?;
    let mut canonical = String::with_capacity(body.len() + 1);
    canonical.push_str(body);
    canonical.push('}');
    Ok((canonical, stored))
}

fn check_sealed(canonical: &str, stored: RecordHash) -> Result<(), SealError> {
    let computed = RecordHash(*blake3::hash(canonical.as_bytes()).as_bytes());
    if computed != stored {
        return Err(SealError::HashMismatch {
            stored: stored.to_hex(),
            computed: computed.to_hex(),
        });
    }
    Ok(())
}

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
        SegmentHeader {
            kind: "segment_header".into(),
            format: FORMAT_VERSION,
            chain,
            service: service.to_owned(),
            schema: audit_runtime::record::SCHEMA_VERSION,
            hash_alg: HASH_ALG.into(),
            segment,
            prev_seq: prev.map(|p| p.0),
            prev_hash: prev.map_or_else(|| GENESIS_PREV.to_owned(), |p| p.1.to_hex()),
            created,
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
            Some(f) if f == u64::from(FORMAT_VERSION) => {}
            Some(f) => {
                return Err(format!(
                    "unknown segment format {f} (this verifier reads format {FORMAT_VERSION})"
                ));
            }
            None => return Err("header has no format version".into()),
        }
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
        Ok(h)
    }

    /// The link the first record must continue: last seq and hash of the previous segment.
    pub fn prev(&self) -> Option<(u64, RecordHash)> {
        let hash = RecordHash::from_hex(&self.prev_hash)?;
        self.prev_seq.map(|s| (s, hash))
    }
}

/// What a checkpoint states: the signed text of a C2SP note.
///
/// ```text
/// audit-sdk/<service>/<chain>      origin: names the log
/// <count>                          records in the chain, decimal (= last seq + 1)
/// <base64 head hash>               hash of record count-1 (32 zero bytes when count is 0)
/// segment <n>                      the segment holding that record
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
    /// RFC 3339 UTC.
    pub time: String,
}

impl CheckpointBody {
    /// The origin line.
    pub fn origin(&self) -> String {
        format!("{ORIGIN_PREFIX}/{}/{}", self.service, self.chain)
    }

    /// The note text, newline-terminated.
    pub fn to_text(&self) -> String {
        format!(
            "{}\n{}\n{}\nsegment {}\ntime {}\n",
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
        let [origin, count, head, segment, time] = lines.as_slice() else {
            return Err(format!(
                "checkpoint text has {} lines, expected 5",
                lines.len()
            ));
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
        let head = B64
            .decode(head)
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
            .map(RecordHash)
            .ok_or("checkpoint head is not 32 bytes of base64")?;
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
            time: time.to_owned(),
        };
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
    /// The C2SP signed note (text, blank line, signatures), or the bare text when unsigned.
    pub note: String,
}

impl CheckpointLine {
    /// A line for `body` carrying `note`.
    pub fn new(body: &CheckpointBody, note: String) -> Self {
        CheckpointLine {
            kind: "checkpoint".into(),
            format: FORMAT_VERSION,
            chain: body.chain,
            count: body.count,
            head: body.head.to_hex(),
            segment: body.segment,
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
            Some(f) if f == u64::from(FORMAT_VERSION) => {}
            Some(f) => return Err(format!("unknown checkpoint format {f}")),
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
        {
            return Err("checkpoint fields disagree with its signed text".into());
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
            time: "2026-01-01T00:00:00.000000000Z".into(),
        };
        assert_eq!(CheckpointBody::parse(&b.to_text()).unwrap(), b);
        let (line, _) = seal(&CheckpointLine::new(&b, b.to_text())).unwrap();
        let (c, body) = CheckpointLine::parse(&line).unwrap();
        assert_eq!(body, b);
        assert!(!c.is_signed());
    }
}
