//! The hash chain: canonical bytes, record hashes and links.
//!
//! A sealed record is one line of JSON:
//!
//! ```text
//! {"v":1,"record_id":"…","kind":"decision","seq":7,"prev":"<64 hex>",…,"hash":"<64 hex>"}
//! ```
//!
//! The *canonical bytes* of a record are what `serde_json::to_vec` writes for its
//! [`AuditRecord`] (compact, fields in struct order, maps with sorted keys); they end with `}`.
//! The line is the canonical bytes with that final `}` replaced by `,"hash":"<hex>"}` where
//! `hex = BLAKE3(canonical bytes)`: the sealed-line framing of [`line`](mod@line), which the
//! file log's own lines use too. So a verifier needs no JSON re-serialization: it strips the
//! fixed 75-byte suffix [`HASH_SUFFIX_LEN`], appends `}`, hashes and compares, then checks that
//! `seq` and `prev` continue the chain. Because `prev` is inside the hashed bytes, changing,
//! removing, inserting or reordering any line breaks the link of the next one.
//!
//! Architecture Invariant: the chain is stamped by one thread (the pipeline worker), so `seq`
//! order is the order records entered the pipeline, and every exporter sees the same chain.

pub mod envelope;
pub mod line;

use std::fmt;
use std::sync::Arc;

pub use line::{HASH_SUFFIX_LEN, SealError};

use crate::ids::from_hex;
use crate::record::AuditRecord;

/// `prev` of the first record of a chain.
pub const GENESIS_PREV: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// A record hash: BLAKE3-256 of the canonical bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct RecordHash(pub [u8; 32]);

impl RecordHash {
    /// The all-zero hash that `prev` of `seq` 0 holds.
    pub const GENESIS: RecordHash = RecordHash([0; 32]);

    /// Lower-case hex.
    pub fn to_hex(&self) -> String {
        crate::ids::to_hex(&self.0)
    }

    /// Parse 64 hex digits.
    pub fn from_hex(s: &str) -> Option<Self> {
        from_hex::<32>(s).map(RecordHash)
    }
}

impl fmt::Display for RecordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for RecordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RecordHash({})", self.to_hex())
    }
}

/// The head of a chain: the last `seq` written and its hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainHead {
    /// `seq` the next record will carry.
    pub next_seq: u64,
    /// Hash of the last record (genesis for an empty chain).
    pub head: RecordHash,
}

impl Default for ChainHead {
    fn default() -> Self {
        ChainHead {
            next_seq: 0,
            head: RecordHash::GENESIS,
        }
    }
}

/// A record with its place in the chain and its exact line bytes. What exporters receive.
#[derive(Debug, Clone)]
pub struct SealedRecord {
    /// The record (`seq` and `prev` filled in).
    pub record: Arc<AuditRecord>,
    /// Its hash.
    pub hash: RecordHash,
    /// The JSON line without the trailing newline; `hash` is its last member.
    pub line: Arc<str>,
}

impl SealedRecord {
    /// `seq` of the record.
    pub fn seq(&self) -> u64 {
        self.record.seq
    }
}

impl ChainHead {
    /// Stamp `seq` and `prev` on the record, hash it, produce its line and advance the head.
    pub fn seal(&mut self, mut record: AuditRecord) -> Result<SealedRecord, SealError> {
        record.seq = self.next_seq;
        record.prev = self.head.to_hex();
        // Typical records are 0.7–2 KB; start big enough to avoid most regrowth.
        let mut bytes = Vec::with_capacity(2048);
        serde_json::to_writer(&mut bytes, &record)
            .map_err(|e| SealError::Serialize(e.to_string()))?;
        let (line, hash) = line::seal_canonical(bytes)?;
        self.next_seq += 1;
        self.head = hash;
        Ok(SealedRecord {
            record: Arc::new(record),
            hash,
            line: line.into(),
        })
    }
}

/// Batches smaller than this are sealed on the calling thread alone: below it, starting a thread
/// costs more than the serialization it takes over.
pub const PARALLEL_SEAL_MIN: usize = 64;

impl ChainHead {
    /// Seal `records` in order, serializing them on up to `threads` threads.
    ///
    /// A record's canonical bytes hold `seq` (known in advance: the next numbers, in order) and
    /// `prev` (the previous record's hash, known only after it is hashed). So each record is
    /// serialized in parallel with `prev` set to 64 zeros, then, in order on this thread, the real
    /// `prev` is written over those 64 bytes (the first `"prev":"` of the bytes: only `v`,
    /// `record_id`, `kind` and `seq` come before it, none of which can hold that text) and the
    /// bytes are hashed. The lines are byte for byte what [`ChainHead::seal`] makes, one record
    /// at a time (a unit test and a property test check it). If any record fails to serialize,
    /// the batch is sealed one record at a time instead, so a failure consumes no `seq`.
    pub fn seal_batch(
        &mut self,
        records: Vec<AuditRecord>,
        threads: usize,
    ) -> Vec<Result<SealedRecord, SealError>> {
        if threads <= 1 || records.len() < PARALLEL_SEAL_MIN {
            return records.into_iter().map(|r| self.seal(r)).collect();
        }
        let mut records = records;
        for (i, r) in records.iter_mut().enumerate() {
            r.seq = self.next_seq + i as u64;
            r.prev = GENESIS_PREV.to_owned();
        }
        let chunk = records.len().div_ceil(threads);
        let serialized: Vec<Result<(Vec<u8>, usize), SealError>> = std::thread::scope(|s| {
            let handles: Vec<_> = records
                .chunks(chunk)
                .map(|part| {
                    s.spawn(move || {
                        part.iter()
                            .map(|r| {
                                let mut bytes = Vec::with_capacity(2048);
                                serde_json::to_writer(&mut bytes, r)
                                    .map_err(|e| SealError::Serialize(e.to_string()))?;
                                let at = memchr::memmem::find(&bytes, b"\"prev\":\"")
                                    .map(|i| i + 8)
                                    .filter(|&i| i + 64 <= bytes.len())
                                    .ok_or_else(|| {
                                        SealError::Serialize("no prev member in a record".into())
                                    })?;
                                Ok((bytes, at))
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| {
                    h.join().unwrap_or_else(|_| {
                        vec![Err(SealError::Serialize(
                            "a sealing thread panicked".into(),
                        ))]
                    })
                })
                .collect()
        });
        if serialized.len() != records.len() || serialized.iter().any(Result::is_err) {
            return records.into_iter().map(|r| self.seal(r)).collect();
        }
        let mut out = Vec::with_capacity(records.len());
        let mut failed = false;
        for (record, ser) in records.into_iter().zip(serialized) {
            if failed {
                // After a failure the pre-assigned seqs are off: seal the rest one by one.
                out.push(self.seal(record));
                continue;
            }
            let sealed = ser.and_then(|(mut bytes, at)| {
                let prev = self.head.to_hex();
                if let Some(slot) = bytes.get_mut(at..at + 64) {
                    slot.copy_from_slice(prev.as_bytes());
                }
                let (line, hash) = line::seal_canonical(bytes)?;
                Ok((prev, line, hash))
            });
            match sealed {
                Ok((prev, line, hash)) => {
                    let mut record = record;
                    record.prev = prev;
                    self.next_seq += 1;
                    self.head = hash;
                    out.push(Ok(SealedRecord {
                        record: Arc::new(record),
                        hash,
                        line: line.into(),
                    }));
                }
                Err(e) => {
                    failed = true;
                    out.push(Err(e));
                }
            }
        }
        out
    }
}

/// What is wrong with one line, as found by [`check_line`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineError {
    /// Not a JSON object ending in a `hash` member of 64 hex digits.
    Malformed(String),
    /// The stored hash does not match the canonical bytes.
    HashMismatch {
        /// What the line says.
        stored: String,
        /// What the bytes hash to.
        computed: String,
    },
    /// The canonical bytes do not parse as a schema-1 record.
    Schema(String),
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LineError::Malformed(why) => write!(f, "malformed record line: {why}"),
            LineError::HashMismatch { stored, computed } => write!(
                f,
                "record hash mismatch: line says {stored}, content hashes to {computed} \
                 (the record was altered)"
            ),
            LineError::Schema(why) => write!(f, "not a valid schema-1 record: {why}"),
        }
    }
}

impl std::error::Error for LineError {}

/// Check one line's own hash and parse it. Links (`seq`, `prev`) are the caller's to check
/// against the previous line; see [`ChainVerifier`].
///
/// A line may end with its `\n`; anything else after the final `}` (a `\r` included) makes it
/// malformed.
pub fn check_line(line: &str) -> Result<(AuditRecord, RecordHash), LineError> {
    let line = line.strip_suffix('\n').unwrap_or(line);
    let (canonical, stored) = line::open(line).map_err(|e| match e {
        SealError::HashMismatch { stored, computed } => {
            LineError::HashMismatch { stored, computed }
        }
        SealError::Malformed(why) | SealError::Serialize(why) => LineError::Malformed(why),
    })?;
    let record: AuditRecord =
        serde_json::from_str(&canonical).map_err(|e| LineError::Schema(e.to_string()))?;
    if record.v != crate::record::SCHEMA_VERSION {
        return Err(LineError::Schema(format!(
            "unknown schema version {}",
            record.v
        )));
    }
    Ok((record, stored))
}

/// What breaks a chain between two lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkError {
    /// The line itself is bad.
    Line(LineError),
    /// `seq` does not follow the previous record.
    Seq {
        /// What was expected.
        expected: u64,
        /// What the line says.
        found: u64,
    },
    /// `prev` is not the previous record's hash.
    Prev {
        /// Hash of the previous record.
        expected: String,
        /// What the line says.
        found: String,
    },
    /// The record belongs to another chain (another process instance).
    OtherChain {
        /// The chain being verified.
        expected: String,
        /// The chain of this record.
        found: String,
    },
}

impl fmt::Display for LinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinkError::Line(e) => e.fmt(f),
            LinkError::Seq { expected, found } => write!(
                f,
                "seq {found} where {expected} was expected (a record is missing, duplicated or \
                 out of order)"
            ),
            LinkError::Prev { expected, found } => write!(
                f,
                "prev {found} does not match the previous record's hash {expected} (a record \
                 was removed, inserted or reordered)"
            ),
            LinkError::OtherChain { expected, found } => {
                write!(f, "record of chain {found} inside chain {expected}")
            }
        }
    }
}

impl std::error::Error for LinkError {}

/// Checks a sequence of lines of one chain, in order.
#[derive(Debug, Clone, Default)]
pub struct ChainVerifier {
    head: Option<(u64, RecordHash, String)>,
    count: u64,
}

impl ChainVerifier {
    /// A verifier expecting the chain to start at `seq` 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// A verifier that continues after a known head (for verifying a later segment alone).
    pub fn resume(last_seq: u64, last_hash: RecordHash, chain: String) -> Self {
        ChainVerifier {
            head: Some((last_seq, last_hash, chain)),
            count: 0,
        }
    }

    /// Check the next line of the chain.
    pub fn push(&mut self, line: &str) -> Result<AuditRecord, LinkError> {
        let (record, hash) = check_line(line).map_err(LinkError::Line)?;
        let chain = record.service.instance.to_string();
        match &self.head {
            None => {
                if record.seq != 0 {
                    return Err(LinkError::Seq {
                        expected: 0,
                        found: record.seq,
                    });
                }
                if record.prev != GENESIS_PREV {
                    return Err(LinkError::Prev {
                        expected: GENESIS_PREV.to_owned(),
                        found: record.prev.clone(),
                    });
                }
            }
            Some((seq, prev_hash, head_chain)) => {
                // An empty chain id: the head came from `push_integrity`, which reads no chain.
                if !head_chain.is_empty() && *head_chain != chain {
                    return Err(LinkError::OtherChain {
                        expected: head_chain.clone(),
                        found: chain,
                    });
                }
                // `resume` may be handed any seq read from a file (a header's `prev_seq`):
                // nothing follows u64::MAX, and adding 1 to it must not overflow.
                if seq.checked_add(1) != Some(record.seq) {
                    return Err(LinkError::Seq {
                        expected: seq.saturating_add(1),
                        found: record.seq,
                    });
                }
                if record.prev != prev_hash.to_hex() {
                    return Err(LinkError::Prev {
                        expected: prev_hash.to_hex(),
                        found: record.prev.clone(),
                    });
                }
            }
        }
        self.head = Some((record.seq, hash, chain));
        self.count += 1;
        Ok(record)
    }

    /// Check the next line's integrity only: its own hash and its links (`seq` + 1, `prev`),
    /// read from its [`envelope`] without parsing the record, so records of any schema version
    /// and kind pass. Chain membership is not checked here (a record's chain is part of its
    /// schema); the file log binds lines to their chain by the segment header and the Merkle
    /// tree. Returns the envelope and the line's hash.
    pub fn push_integrity<'l>(
        &mut self,
        line: &'l str,
    ) -> Result<(envelope::Envelope<'l>, RecordHash), LinkError> {
        let hash = line::check_in_place(line).map_err(|e| {
            LinkError::Line(match e {
                SealError::HashMismatch { stored, computed } => {
                    LineError::HashMismatch { stored, computed }
                }
                SealError::Malformed(why) | SealError::Serialize(why) => LineError::Malformed(why),
            })
        })?;
        let env = envelope::scan(line.as_bytes())
            .map_err(|e| LinkError::Line(LineError::Malformed(e.0)))?;
        let (want_seq, want_prev) = match &self.head {
            None => (Some(0), RecordHash::GENESIS),
            Some((seq, h, _)) => (seq.checked_add(1), *h),
        };
        if want_seq != Some(env.seq) {
            return Err(LinkError::Seq {
                expected: want_seq.unwrap_or(u64::MAX),
                found: env.seq,
            });
        }
        if env.prev != want_prev {
            return Err(LinkError::Prev {
                expected: want_prev.to_hex(),
                found: env.prev.to_hex(),
            });
        }
        let chain = self.head.take().map(|(_, _, c)| c).unwrap_or_default();
        self.head = Some((env.seq, hash, chain));
        self.count += 1;
        Ok((env, hash))
    }

    /// Records checked so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The last `seq` and hash checked.
    pub fn head(&self) -> Option<(u64, RecordHash)> {
        self.head.as_ref().map(|(s, h, _)| (*s, *h))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn record(n: u64) -> AuditRecord {
        let mut r: AuditRecord =
            serde_json::from_str(include_str!("../../tests/data/record-template.json")).unwrap();
        r.attributes.insert("n".into(), serde_json::json!(n));
        r.attributes.insert(
            "text".into(),
            serde_json::json!("\"prev\":\"x".repeat(n as usize % 3)),
        );
        r
    }

    #[test]
    fn a_batch_sealed_on_threads_is_byte_for_byte_the_one_sealed_alone() {
        for (n, threads) in [(0, 2), (10, 2), (64, 2), (200, 3), (513, 8)] {
            let records: Vec<AuditRecord> = (0..n).map(record).collect();
            let mut alone = ChainHead::default();
            let want: Vec<String> = records
                .iter()
                .map(|r| alone.seal(r.clone()).unwrap().line.to_string())
                .collect();
            let mut many = ChainHead::default();
            // A head in the middle of a chain, too.
            let got: Vec<String> = many
                .seal_batch(records, threads)
                .into_iter()
                .map(|s| s.unwrap().line.to_string())
                .collect();
            assert_eq!(got, want, "{n} records on {threads} threads");
            assert_eq!(many, alone);
        }
    }
}
