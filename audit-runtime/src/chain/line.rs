//! The sealed-line framing: the one rule every line of the audit trail follows.
//!
//! A *sealed line* is the canonical bytes of a JSON object (compact `serde_json`, fields in
//! struct order, maps with sorted keys; they end with `}`) with that final `}` replaced by
//! `,"hash":"<64 hex>"}`, where the hash is BLAKE3-256 of the canonical bytes. Records are
//! sealed this way by [`ChainHead::seal`](super::ChainHead::seal); the file log's segment
//! headers, gap lines and checkpoint lines (`audit_exporters::file::format`) are sealed by
//! [`seal`] here too, so one rule checks every line and a flipped byte anywhere is caught
//! without a signature.
//!
//! Opening a line needs no JSON re-serialization: strip the fixed [`HASH_SUFFIX_LEN`]-byte
//! suffix, append `}`, hash and compare. [`split`] and [`open`] never panic, on any input.

use std::fmt;

use serde::Serialize;

use super::RecordHash;

/// Length of `,"hash":"` + 64 hex digits + `"}`.
pub const HASH_SUFFIX_LEN: usize = 9 + 64 + 2;

/// Why a value could not be sealed, or a sealed line does not open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SealError {
    /// Sealing: the value could not be serialized to a JSON object.
    Serialize(String),
    /// Opening: not shaped like a sealed line.
    Malformed(String),
    /// Opening: the stored hash does not match the bytes.
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
            SealError::Serialize(why) => write!(f, "could not be serialized: {why}"),
            SealError::Malformed(why) => f.write_str(why),
            SealError::HashMismatch { stored, computed } => write!(
                f,
                "hash mismatch: line says {stored}, content hashes to {computed} (the line was \
                 altered)"
            ),
        }
    }
}

impl std::error::Error for SealError {}

/// Seal canonical bytes (a serialized JSON object) in place: hash them and replace the final
/// `}` by the hash member. Returns the line (without newline) and the hash.
pub fn seal_canonical(mut bytes: Vec<u8>) -> Result<(String, RecordHash), SealError> {
    if bytes.last() != Some(&b'}') {
        return Err(SealError::Serialize("not a JSON object".into()));
    }
    let digest = blake3::hash(&bytes);
    bytes.pop();
    bytes.reserve(HASH_SUFFIX_LEN - 1);
    bytes.extend_from_slice(b",\"hash\":\"");
    bytes.extend_from_slice(digest.to_hex().as_bytes());
    bytes.extend_from_slice(b"\"}");
    // serde_json writes UTF-8 and the suffix is ASCII; a caller's own bytes may not be.
    let line = String::from_utf8(bytes)
        .map_err(|e| SealError::Serialize(format!("non-UTF-8 output: {e}")))?;
    Ok((line, RecordHash(*digest.as_bytes())))
}

/// Seal a serializable value (one that serializes to a JSON object) into a line and its hash.
pub fn seal<T: Serialize + ?Sized>(value: &T) -> Result<(String, RecordHash), SealError> {
    let bytes = serde_json::to_vec(value).map_err(|e| SealError::Serialize(e.to_string()))?;
    seal_canonical(bytes)
}

/// Split a sealed line (without newline) into its canonical bytes and stored hash, without
/// checking the hash.
pub fn split(line: &str) -> Result<(String, RecordHash), SealError> {
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

/// Check that canonical bytes hash to the stored hash.
pub fn check(canonical: &str, stored: RecordHash) -> Result<(), SealError> {
    let computed = RecordHash(*blake3::hash(canonical.as_bytes()).as_bytes());
    if computed != stored {
        return Err(SealError::HashMismatch {
            stored: stored.to_hex(),
            computed: computed.to_hex(),
        });
    }
    Ok(())
}

/// Check a sealed line's own hash without copying it (the canonical bytes are hashed in two
/// parts: the line up to its hash member, then `}`). Returns the stored hash when it holds.
pub fn check_in_place(line: &str) -> Result<RecordHash, SealError> {
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
    let mut h = blake3::Hasher::new();
    h.update(body.as_bytes());
    h.update(b"}");
    let computed = RecordHash(*h.finalize().as_bytes());
    if computed != stored {
        return Err(SealError::HashMismatch {
            stored: stored.to_hex(),
            computed: computed.to_hex(),
        });
    }
    Ok(stored)
}

/// [`split`] then [`check`]: the canonical bytes and hash of a line whose hash holds.
pub fn open(line: &str) -> Result<(String, RecordHash), SealError> {
    let (canonical, stored) = split(line)?;
    check(&canonical, stored)?;
    Ok((canonical, stored))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct V<'a> {
        a: u32,
        s: &'a str,
    }

    #[test]
    fn a_sealed_line_opens_to_its_canonical_bytes_and_hash() {
        let v = V { a: 7, s: "é\"x" };
        let canonical = serde_json::to_string(&v).unwrap();
        let (line, hash) = seal(&v).unwrap();
        // Independent oracle: the framing spelled out by hand.
        let expected_hash = blake3::hash(canonical.as_bytes());
        assert_eq!(hash.0, *expected_hash.as_bytes());
        assert_eq!(
            line,
            format!(
                "{},\"hash\":\"{}\"}}",
                &canonical[..canonical.len() - 1],
                expected_hash.to_hex()
            )
        );
        assert_eq!(open(&line).unwrap(), (canonical, hash));
        assert_eq!(check_in_place(&line).unwrap(), hash);
    }

    #[test]
    fn every_flipped_byte_and_every_truncation_is_an_error_not_a_panic() {
        let (line, _) = seal(&V { a: 1, s: "ab→c" }).unwrap();
        let bytes = line.as_bytes();
        for i in 0..bytes.len() {
            let mut b = bytes.to_vec();
            b[i] ^= 0x01;
            if let Ok(s) = std::str::from_utf8(&b) {
                assert!(open(s).is_err(), "flip at {i} opened");
                assert!(check_in_place(s).is_err(), "flip at {i} checked");
            }
        }
        for n in 0..bytes.len() {
            if let Ok(s) = std::str::from_utf8(&bytes[..n]) {
                assert!(open(s).is_err(), "truncation to {n} opened");
                assert!(check_in_place(s).is_err(), "truncation to {n} checked");
            }
        }
    }

    #[test]
    fn a_value_that_is_not_an_object_does_not_seal() {
        assert!(matches!(seal(&5u32), Err(SealError::Serialize(_))));
        assert!(matches!(seal("x"), Err(SealError::Serialize(_))));
    }
}
