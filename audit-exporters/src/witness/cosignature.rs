//! C2SP [`tlog-cosignature`] v1 (Ed25519): the witness's timestamped signature over a
//! checkpoint.
//!
//! ```text
//! signature line   — <witness name> base64(key ID || timestamp || signature)
//! key ID           SHA-256(<name> || 0x0A || 0x04 || 32-byte Ed25519 public key)[:4]
//! timestamp        u64 big-endian, POSIX seconds, at most 2^63 - 1
//! signature        Ed25519 over the message below (64 bytes)
//! message          "cosignature/v1\n" "time <timestamp in decimal>\n" <checkpoint note text>
//! verifier key     <name>+<8 hex digits of key ID>+base64(0x04 || public key)
//! ```
//!
//! The signature line is 4 + 8 + 64 = 76 bytes before base64, so a note verifier that only
//! knows 68-byte Ed25519 note signatures (type 0x01) skips it, as C2SP [`signed-note`] tells
//! verifiers to do with signatures they do not know; a cosigned checkpoint still verifies under
//! the log's key.
//!
//! What must hold: a cosignature verifies only under the pinned witness name and key ID, over
//! exactly the checkpoint text it was made for; parsing never panics on any bytes.
//!
//! [`tlog-cosignature`]: https://c2sp.org/tlog-cosignature
//! [`signed-note`]: https://c2sp.org/signed-note

use std::fmt;

use audit_runtime::merkle::tlog::split_note;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest as _, Sha256};

use crate::file::note::{ALG_ED25519, NoteSigner, check_vkey_id, format_vkey, split_vkey};

/// The key ID algorithm byte of Ed25519 cosignature/v1 keys (C2SP tlog-cosignature "Format").
pub const ALG_COSIGNATURE_V1: u8 = 0x04;

/// The largest timestamp a cosignature may carry (C2SP: "MUST NOT exceed 2^63 - 1").
pub const MAX_TIMESTAMP: u64 = (1 << 63) - 1;

/// Bytes of a decoded cosignature: key ID, timestamp, Ed25519 signature.
const COSIG_LEN: usize = 4 + 8 + 64;

/// Why a cosignature key or a cosigned note was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CosignatureError {
    /// The key name is empty or holds a space, a `+` or a control character.
    BadKeyName(String),
    /// A witness verifier or signer key string is malformed.
    BadKey(String),
    /// The note is not a signed note (C2SP signed-note "Format").
    Malformed(String),
    /// No signature line carries the pinned witness name and key ID.
    NotCosignedByKey {
        /// The pinned witness key, `name+keyid`.
        key: String,
        /// `name+keyid` of the signature lines present.
        found: Vec<String>,
    },
    /// The line names the pinned key but is not 76 bytes (key ID, timestamp, signature).
    BadLength {
        /// The pinned witness key.
        key: String,
        /// The bytes decoded.
        len: usize,
    },
    /// The timestamp is above 2^63 - 1.
    TimestampOverflow {
        /// The timestamp.
        timestamp: u64,
    },
    /// The signature does not verify over this checkpoint text and timestamp: the text was
    /// altered, or the cosignature was made over another checkpoint.
    BadSignature {
        /// The pinned witness key.
        key: String,
    },
}

impl fmt::Display for CosignatureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CosignatureError::BadKeyName(n) => write!(
                f,
                "invalid witness name {n:?}: it must be non-empty and hold no space, '+' or \
                 control character"
            ),
            CosignatureError::BadKey(why) => write!(f, "invalid witness key: {why}"),
            CosignatureError::Malformed(why) => write!(f, "malformed cosigned note: {why}"),
            CosignatureError::NotCosignedByKey { key, found } => {
                if found.is_empty() {
                    write!(f, "no cosignature by the pinned witness key {key}")
                } else {
                    write!(
                        f,
                        "no cosignature by the pinned witness key {key}; the signatures are by \
                         {} (wrong witness key?)",
                        found.join(", ")
                    )
                }
            }
            CosignatureError::BadLength { key, len } => write!(
                f,
                "the signature line of {key} holds {len} bytes, a cosignature/v1 holds \
                 {COSIG_LEN} (key ID, timestamp, signature)"
            ),
            CosignatureError::TimestampOverflow { timestamp } => {
                write!(f, "cosignature timestamp {timestamp} is above 2^63 - 1")
            }
            CosignatureError::BadSignature { key } => write!(
                f,
                "the cosignature by {key} does not verify over this checkpoint: the checkpoint \
                 was altered or the cosignature is over another checkpoint"
            ),
        }
    }
}

impl std::error::Error for CosignatureError {}

fn check_name(name: &str) -> Result<(), CosignatureError> {
    if name.is_empty() || name.chars().any(|c| c == ' ' || c == '+' || c.is_control()) {
        return Err(CosignatureError::BadKeyName(name.to_owned()));
    }
    Ok(())
}

/// The cosignature/v1 key ID: the first 4 bytes of SHA-256(name || 0x0A || 0x04 || public key).
pub fn cosignature_key_id(name: &str, public: &[u8; 32]) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', ALG_COSIGNATURE_V1]);
    h.update(public);
    let d = h.finalize();
    [d[0], d[1], d[2], d[3]]
}

/// The message a cosignature/v1 signs: `cosignature/v1\ntime <t>\n` then the checkpoint text.
pub fn cosigned_message(timestamp: u64, checkpoint_text: &str) -> Vec<u8> {
    format!("cosignature/v1\ntime {timestamp}\n{checkpoint_text}").into_bytes()
}

/// A witness's public key, pinned by name, for verifying its cosignatures.
#[derive(Clone, PartialEq, Eq)]
pub struct WitnessKey {
    name: String,
    id: [u8; 4],
    key: VerifyingKey,
}

impl WitnessKey {
    /// A witness key from a name and a 32-byte Ed25519 public key.
    pub fn new(name: &str, public: [u8; 32]) -> Result<Self, CosignatureError> {
        check_name(name)?;
        let key = VerifyingKey::from_bytes(&public)
            .map_err(|_| CosignatureError::BadKey("not a valid Ed25519 public key".into()))?;
        Ok(Self {
            name: name.to_owned(),
            id: cosignature_key_id(name, &public),
            key,
        })
    }

    /// Parse `<name>+<hex key ID>+<base64(0x04 || public key)>` (surrounding whitespace
    /// ignored), the C2SP vkey of a cosignature/v1 key.
    pub fn parse(vkey: &str) -> Result<Self, CosignatureError> {
        let (name, hex, public) = split_vkey(vkey, ALG_COSIGNATURE_V1, "witness ", |alg| {
            format!(
                "key type 0x{alg:02x} is not a cosignature/v1 key (0x04){}",
                if alg == ALG_ED25519 {
                    ": this is a log (note) verifier key, not a witness key"
                } else {
                    ""
                }
            )
        })
        .map_err(CosignatureError::BadKey)?;
        let key = Self::new(name, public)?;
        check_vkey_id(hex, key.id).map_err(CosignatureError::BadKey)?;
        Ok(key)
    }

    /// The witness name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The 4-byte cosignature/v1 key ID.
    pub fn id(&self) -> [u8; 4] {
        self.id
    }

    /// The verifier key string `<name>+<hex id>+<base64(0x04 || key)>`.
    pub fn to_vkey(&self) -> String {
        format_vkey(&self.name, self.id, ALG_COSIGNATURE_V1, self.key.as_bytes())
    }

    /// `name+hexid`, how messages name the key.
    pub fn label(&self) -> String {
        format!("{}+{}", self.name, audit_runtime::ids::to_hex(&self.id))
    }

    /// Verify one signature line (`— <name> <base64>`, with or without its newline) as this
    /// witness's cosignature over `checkpoint_text`; returns the timestamp.
    pub fn verify_line(&self, checkpoint_text: &str, line: &str) -> Result<u64, CosignatureError> {
        let line = line.strip_suffix('\n').unwrap_or(line);
        let malformed = || CosignatureError::Malformed(format!("not a signature line: {line:?}"));
        let rest = line.strip_prefix("\u{2014} ").ok_or_else(malformed)?;
        let (name, b64) = rest.split_once(' ').ok_or_else(malformed)?;
        let raw = B64.decode(b64).map_err(|_| malformed())?;
        let id = raw.get(..4).ok_or_else(malformed)?;
        if name != self.name || id != self.id {
            return Err(CosignatureError::NotCosignedByKey {
                key: self.label(),
                found: vec![format!("{name}+{}", audit_runtime::ids::to_hex(id))],
            });
        }
        self.verify_raw(checkpoint_text, &raw)
    }

    fn verify_raw(&self, checkpoint_text: &str, raw: &[u8]) -> Result<u64, CosignatureError> {
        let Ok(raw) = <[u8; COSIG_LEN]>::try_from(raw) else {
            return Err(CosignatureError::BadLength {
                key: self.label(),
                len: raw.len(),
            });
        };
        let mut ts = [0u8; 8];
        ts.copy_from_slice(&raw[4..12]);
        let timestamp = u64::from_be_bytes(ts);
        if timestamp > MAX_TIMESTAMP {
            return Err(CosignatureError::TimestampOverflow { timestamp });
        }
        let mut sig = [0u8; 64];
        sig.copy_from_slice(&raw[12..]);
        self.key
            .verify_strict(
                &cosigned_message(timestamp, checkpoint_text),
                &Signature::from_bytes(&sig),
            )
            .map_err(|_| CosignatureError::BadSignature { key: self.label() })?;
        Ok(timestamp)
    }
}

impl fmt::Debug for WitnessKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("WitnessKey").field(&self.to_vkey()).finish()
    }
}

/// Verify that the signed `note` (a checkpoint with its signature lines) carries a
/// cosignature/v1 by `witness` over its text; returns the cosignature's timestamp.
///
/// Signature lines by other keys are ignored (C2SP tlog-witness: "The client MUST ignore any
/// cosignatures from unknown keys"). The log's own signature is not checked here: verify it
/// with the log's [`VerifierKey`](crate::file::note::VerifierKey).
pub fn verify_cosignature(witness: &WitnessKey, note: &str) -> Result<u64, CosignatureError> {
    let split =
        split_note(note.as_bytes()).map_err(|e| CosignatureError::Malformed(e.to_string()))?;
    let mut found = Vec::new();
    for line in split.signatures.split_terminator('\n') {
        // split_note checked the shape of every line: `— name base64` with >= 4 bytes.
        let Some((name, b64)) = line
            .strip_prefix("\u{2014} ")
            .and_then(|r| r.split_once(' '))
        else {
            continue;
        };
        let Ok(raw) = B64.decode(b64) else { continue };
        let Some(id) = raw.get(..4) else { continue };
        if name == witness.name && id == witness.id {
            return witness.verify_raw(split.text, &raw);
        }
        found.push(format!("{name}+{}", audit_runtime::ids::to_hex(id)));
    }
    Err(CosignatureError::NotCosignedByKey {
        key: witness.label(),
        found,
    })
}

/// A witness's cosigning key. `Debug` never shows the secret.
#[derive(Clone)]
pub struct CosignatureSigner {
    key: SigningKey,
    public: WitnessKey,
}

impl CosignatureSigner {
    /// A cosigner from a witness name and a 32-byte Ed25519 seed.
    pub fn from_seed(name: &str, seed: [u8; 32]) -> Result<Self, CosignatureError> {
        let key = SigningKey::from_bytes(&seed);
        let public = WitnessKey::new(name, key.verifying_key().to_bytes())?;
        Ok(Self { key, public })
    }

    /// Parse a signer key in the format `audit-verify keygen` writes
    /// (`PRIVATE+KEY+<name>+<hex note key ID>+<base64(0x01 || seed)>`, Go's `sumdb/note`
    /// format). The seed and name are used as a cosignature/v1 key; its key ID is the
    /// cosignature one (type 0x04), so [`public`](Self::public) differs from the note
    /// verifier key of the same file. Use a key made for the witness only: C2SP forbids one
    /// Ed25519 key for several cosigners, and a key shared with a log would let one sign for
    /// the other.
    pub fn parse(skey: &str) -> Result<Self, CosignatureError> {
        let note = NoteSigner::parse(skey).map_err(|e| CosignatureError::BadKey(e.to_string()))?;
        // NoteSigner::parse checked the whole string; take its seed back out of the base64.
        let b64 = skey
            .trim()
            .strip_prefix("PRIVATE+KEY+")
            .and_then(|r| r.splitn(3, '+').nth(2))
            .ok_or_else(|| CosignatureError::BadKey("malformed signer key".into()))?;
        let raw = B64
            .decode(b64)
            .map_err(|_| CosignatureError::BadKey("signer key is not base64".into()))?;
        let seed: [u8; 32] = raw
            .get(1..)
            .and_then(|s| s.try_into().ok())
            .ok_or_else(|| CosignatureError::BadKey("an Ed25519 seed has 32 bytes".into()))?;
        Self::from_seed(note.name(), seed)
    }

    /// The witness name.
    pub fn name(&self) -> &str {
        self.public.name()
    }

    /// The witness verifier key, to print and pin.
    pub fn public(&self) -> &WitnessKey {
        &self.public
    }

    /// The cosignature line (`— <name> <base64>\n`) over `checkpoint_text` at `timestamp`
    /// (POSIX seconds, at most 2^63 - 1).
    pub fn cosign(
        &self,
        checkpoint_text: &str,
        timestamp: u64,
    ) -> Result<String, CosignatureError> {
        if timestamp > MAX_TIMESTAMP {
            return Err(CosignatureError::TimestampOverflow { timestamp });
        }
        let sig = self.key.sign(&cosigned_message(timestamp, checkpoint_text));
        let mut raw = Vec::with_capacity(COSIG_LEN);
        raw.extend_from_slice(&self.public.id);
        raw.extend_from_slice(&timestamp.to_be_bytes());
        raw.extend_from_slice(&sig.to_bytes());
        Ok(format!(
            "\u{2014} {} {}\n",
            self.public.name,
            B64.encode(raw)
        ))
    }
}

impl fmt::Debug for CosignatureSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CosignatureSigner")
            .field("public", &self.public.to_vkey())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const TEXT: &str = "example.com/log\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";

    #[test]
    fn cosign_verify_round_trip() {
        let w = CosignatureSigner::from_seed("witness.example/w1", [3; 32]).unwrap();
        let line = w.cosign(TEXT, 1_700_000_000).unwrap();
        assert_eq!(w.public().verify_line(TEXT, &line), Ok(1_700_000_000));
        let key = WitnessKey::parse(&w.public().to_vkey()).unwrap();
        let note = format!("{TEXT}\n\u{2014} log AAAAAAAA\n{line}");
        assert_eq!(verify_cosignature(&key, &note), Ok(1_700_000_000));
        let other = TEXT.replace('5', "6");
        assert!(matches!(
            w.public().verify_line(&other, &line),
            Err(CosignatureError::BadSignature { .. })
        ));
        let stranger = CosignatureSigner::from_seed("witness.example/w1", [4; 32]).unwrap();
        assert!(matches!(
            verify_cosignature(stranger.public(), &note),
            Err(CosignatureError::NotCosignedByKey { .. })
        ));
        assert!(w.cosign(TEXT, MAX_TIMESTAMP + 1).is_err());
    }

    #[test]
    fn parses_a_keygen_key_and_refuses_a_log_vkey() {
        let n = NoteSigner::from_seed("witness.example/w1", [9; 32]).unwrap();
        let c = CosignatureSigner::parse(&n.to_skey()).unwrap();
        assert_eq!(
            c.public(),
            CosignatureSigner::from_seed("witness.example/w1", [9; 32])
                .unwrap()
                .public()
        );
        assert_ne!(c.public().id(), n.verifier().id());
        let err = WitnessKey::parse(&n.verifier().to_vkey()).unwrap_err();
        assert!(err.to_string().contains("log (note) verifier key"), "{err}");
    }
}
