//! Signed notes in the C2SP format (<https://github.com/C2SP/C2SP/blob/main/signed-note.md>),
//! Ed25519 only (signature type `0x01`).
//!
//! A note is UTF-8 text that ends with a newline, then one blank line, then one or more signature
//! lines `— <key name> <base64(key ID || signature)>\n` (U+2014 EM DASH, a space, the name, a
//! space). The signature covers the text bytes, final newline included. The key ID is the first
//! four bytes of `SHA-256(key name || 0x0A || 0x01 || 32-byte public key)`, so a verifier picks the
//! signature meant for the key it pins and ignores the others (spec: "Signatures").
//!
//! A verifier key is written `<name>+<8 hex digits of key ID>+<base64(0x01 || public key)>`, and a
//! signer key as in Go's `golang.org/x/mod/sumdb/note`:
//! `PRIVATE+KEY+<name>+<8 hex key ID>+<base64(0x01 || 32-byte seed)>`.
//!
//! What must hold: a note verifies only if its text is exactly the signed bytes and one of its
//! signature lines carries the pinned key's name and ID and an Ed25519 signature that checks
//! under `verify_strict` (no malleable or small-order encodings). Parsing never panics on any
//! input; limits below keep a hostile note from costing more than a bounded amount of work.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest as _, Sha256};

/// Signature type byte of Ed25519 in the C2SP key ID and key encodings.
pub const ALG_ED25519: u8 = 0x01;

/// The separator that opens a signature line: U+2014 EM DASH and a space.
const SIG_PREFIX: &str = "\u{2014} ";

/// At most this many signature lines are read (Go's `note` package uses the same bound); a
/// note with more is rejected rather than costing one verification per line.
pub const MAX_SIGNATURES: usize = 100;

/// A note larger than this is rejected before parsing: our checkpoints are under 300 bytes, so
/// 1 MiB leaves room for any foreign note while bounding memory.
pub const MAX_NOTE_BYTES: usize = 1 << 20;

/// Why a note or key could not be parsed or verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoteError {
    /// The key name is empty or holds a space, a `+` or a control character.
    BadKeyName(String),
    /// A verifier or signer key string is malformed.
    BadKey(String),
    /// The note is malformed (no blank line before signatures, a bad signature line, ...).
    Malformed(String),
    /// No signature line carries the pinned key's name and key ID.
    NotSignedByKey {
        /// The pinned key, `name+keyid`.
        key: String,
        /// Names and key IDs of the signatures present.
        found: Vec<String>,
    },
    /// A signature line names the pinned key but the signature does not verify.
    BadSignature {
        /// The pinned key, `name+keyid`.
        key: String,
    },
}

impl fmt::Display for NoteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NoteError::BadKeyName(n) => write!(
                f,
                "invalid key name {n:?}: it must be non-empty and hold no space, '+' or control \
                 character"
            ),
            NoteError::BadKey(why) => write!(f, "invalid key: {why}"),
            NoteError::Malformed(why) => write!(f, "malformed signed note: {why}"),
            NoteError::NotSignedByKey { key, found } => {
                if found.is_empty() {
                    write!(
                        f,
                        "not signed by the pinned key {key}: the note has no signature"
                    )
                } else {
                    write!(
                        f,
                        "not signed by the pinned key {key}; it is signed by {} (wrong key?)",
                        found.join(", ")
                    )
                }
            }
            NoteError::BadSignature { key } => write!(
                f,
                "the signature by {key} does not verify: the signed text was altered"
            ),
        }
    }
}

impl std::error::Error for NoteError {}

fn check_name(name: &str) -> Result<(), NoteError> {
    if name.is_empty() || name.chars().any(|c| c == ' ' || c == '+' || c.is_control()) {
        return Err(NoteError::BadKeyName(name.to_owned()));
    }
    Ok(())
}

/// The C2SP key ID: the first four bytes of SHA-256(name || 0x0A || 0x01 || public key).
pub fn key_id(name: &str, public: &[u8; 32]) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', ALG_ED25519]);
    h.update(public);
    let d = h.finalize();
    [d[0], d[1], d[2], d[3]]
}

/// A public key pinned by name, for verifying notes.
#[derive(Clone, PartialEq, Eq)]
pub struct VerifierKey {
    name: String,
    id: [u8; 4],
    key: VerifyingKey,
}

impl VerifierKey {
    /// A verifier key from a name and a 32-byte Ed25519 public key.
    pub fn new(name: &str, public: [u8; 32]) -> Result<Self, NoteError> {
        check_name(name)?;
        let key = VerifyingKey::from_bytes(&public)
            .map_err(|_| NoteError::BadKey("not a valid Ed25519 public key".into()))?;
        Ok(VerifierKey {
            name: name.to_owned(),
            id: key_id(name, &public),
            key,
        })
    }

    /// Parse `<name>+<hex key ID>+<base64(0x01 || public key)>` (surrounding whitespace ignored).
    pub fn parse(vkey: &str) -> Result<Self, NoteError> {
        let (name, hex, public) = split_vkey(vkey, ALG_ED25519, "", |alg| {
            format!("signature type 0x{alg:02x} is not supported (only Ed25519, 0x01)")
        })
        .map_err(NoteError::BadKey)?;
        let key = Self::new(name, public)?;
        check_vkey_id(hex, key.id).map_err(NoteError::BadKey)?;
        Ok(key)
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The 4-byte key ID.
    pub fn id(&self) -> [u8; 4] {
        self.id
    }

    /// The verifier key string `<name>+<hex id>+<base64(0x01 || key)>`.
    pub fn to_vkey(&self) -> String {
        format_vkey(&self.name, self.id, ALG_ED25519, self.key.as_bytes())
    }

    /// `name+hexid`, how messages name the key.
    pub fn label(&self) -> String {
        format!("{}+{}", self.name, audit_runtime::ids::to_hex(&self.id))
    }

    /// Verify that `note` is signed by this key; returns the signed text.
    pub fn verify<'n>(&self, note: &'n str) -> Result<&'n str, NoteError> {
        let parsed = parse_note(note)?;
        let mut found = Vec::new();
        for sig in &parsed.signatures {
            if sig.name == self.name && sig.id == self.id {
                let signature = Signature::from_bytes(&sig.signature);
                return match self.key.verify_strict(parsed.text.as_bytes(), &signature) {
                    Ok(()) => Ok(parsed.text),
                    Err(_) => Err(NoteError::BadSignature { key: self.label() }),
                };
            }
            found.push(format!(
                "{}+{}",
                sig.name,
                audit_runtime::ids::to_hex(&sig.id)
            ));
        }
        Err(NoteError::NotSignedByKey {
            key: self.label(),
            found,
        })
    }
}

impl fmt::Debug for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("VerifierKey").field(&self.to_vkey()).finish()
    }
}

/// An Ed25519 signing key with its C2SP name. `Debug` never shows the secret.
#[derive(Clone)]
pub struct NoteSigner {
    name: String,
    key: SigningKey,
    verifier: VerifierKey,
}

impl NoteSigner {
    /// A signer from a name and a 32-byte Ed25519 seed.
    pub fn from_seed(name: &str, seed: [u8; 32]) -> Result<Self, NoteError> {
        check_name(name)?;
        let key = SigningKey::from_bytes(&seed);
        let verifier = VerifierKey::new(name, key.verifying_key().to_bytes())?;
        Ok(NoteSigner {
            name: name.to_owned(),
            key,
            verifier,
        })
    }

    /// A new random key (from the operating system's generator).
    pub fn generate(name: &str) -> Result<Self, NoteError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed)
            .map_err(|e| NoteError::BadKey(format!("no randomness for a new key: {e}")))?;
        Self::from_seed(name, seed)
    }

    /// Parse a signer key: `PRIVATE+KEY+<name>+<hex id>+<base64(0x01 || seed)>`.
    pub fn parse(skey: &str) -> Result<Self, NoteError> {
        let skey = skey.trim();
        let rest = skey.strip_prefix("PRIVATE+KEY+").ok_or_else(|| {
            NoteError::BadKey(
                "a signer key starts with PRIVATE+KEY+ (C2SP / Go note format)".into(),
            )
        })?;
        let mut parts = rest.splitn(3, '+');
        let (Some(name), Some(hex), Some(b64)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(NoteError::BadKey(
                "expected PRIVATE+KEY+<name>+<8 hex digits>+<base64 key>".into(),
            ));
        };
        let raw = B64
            .decode(b64)
            .map_err(|_| NoteError::BadKey("signer key is not base64".into()))?;
        let Some((&alg, seed)) = raw.split_first() else {
            return Err(NoteError::BadKey("empty signer key".into()));
        };
        if alg != ALG_ED25519 {
            return Err(NoteError::BadKey(format!(
                "signature type 0x{alg:02x} is not supported (only Ed25519, 0x01)"
            )));
        }
        let seed: [u8; 32] = seed
            .try_into()
            .map_err(|_| NoteError::BadKey("an Ed25519 seed has 32 bytes".into()))?;
        let signer = Self::from_seed(name, seed)?;
        if audit_runtime::ids::from_hex::<4>(hex) != Some(signer.verifier.id) {
            return Err(NoteError::BadKey(
                "key ID does not match the signer key".into(),
            ));
        }
        Ok(signer)
    }

    /// The signer key string (secret: write it only to a mode-0600 file).
    pub fn to_skey(&self) -> String {
        let mut raw = Vec::with_capacity(33);
        raw.push(ALG_ED25519);
        raw.extend_from_slice(self.key.as_bytes());
        format!(
            "PRIVATE+KEY+{}+{}+{}",
            self.name,
            audit_runtime::ids::to_hex(&self.verifier.id),
            B64.encode(raw)
        )
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The matching verifier key, to export and pin.
    pub fn verifier(&self) -> &VerifierKey {
        &self.verifier
    }

    /// Sign `text` (which must end with a newline and hold no blank line) into a note with one
    /// signature line.
    pub fn sign(&self, text: &str) -> Result<String, NoteError> {
        check_text(text)?;
        let sig = self.key.sign(text.as_bytes());
        let mut raw = Vec::with_capacity(68);
        raw.extend_from_slice(&self.verifier.id);
        raw.extend_from_slice(&sig.to_bytes());
        Ok(format!(
            "{text}\n{SIG_PREFIX}{} {}\n",
            self.name,
            B64.encode(raw)
        ))
    }
}

impl fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NoteSigner")
            .field("verifier", &self.verifier.to_vkey())
            .finish_non_exhaustive()
    }
}

/// Text rules of the spec: non-empty, ends with a newline, no control characters but newline.
/// We also refuse a blank line inside the text, so that the text/signature split is unambiguous.
fn check_text(text: &str) -> Result<(), NoteError> {
    if !text.ends_with('\n') {
        return Err(NoteError::Malformed(
            "the text must end with a newline".into(),
        ));
    }
    if text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(NoteError::Malformed(
            "the text holds a control character".into(),
        ));
    }
    if text.starts_with('\n') || text.contains("\n\n") {
        return Err(NoteError::Malformed("the text holds a blank line".into()));
    }
    Ok(())
}

/// One signature line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    /// Key name.
    pub name: String,
    /// Key ID.
    pub id: [u8; 4],
    /// The 64 signature bytes.
    pub signature: [u8; 64],
}

/// A note split into its text and signatures (not yet verified).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedNote<'n> {
    /// The signed text, final newline included.
    pub text: &'n str,
    /// Its Ed25519-sized signatures; lines with other signature sizes are skipped, as the spec
    /// tells verifiers to ignore signatures they cannot check.
    pub signatures: Vec<NoteSignature>,
}

/// Split a note into text and signature lines. Checks the structure only.
pub fn parse_note(note: &str) -> Result<ParsedNote<'_>, NoteError> {
    if note.len() > MAX_NOTE_BYTES {
        return Err(NoteError::Malformed(format!(
            "larger than {MAX_NOTE_BYTES} bytes"
        )));
    }
    if !note.ends_with('\n') {
        return Err(NoteError::Malformed("does not end with a newline".into()));
    }
    // The signatures start after the last blank line; our texts hold none (check_text).
    let split = note
        .rfind("\n\n")
        .ok_or_else(|| NoteError::Malformed("no blank line before the signatures".into()))?;
    let text = &note[..split + 1];
    check_text(text)?;
    let block = &note[split + 2..];
    let mut signatures = Vec::new();
    for (i, line) in block.split_terminator('\n').enumerate() {
        if i >= MAX_SIGNATURES {
            return Err(NoteError::Malformed(format!(
                "more than {MAX_SIGNATURES} signatures"
            )));
        }
        let rest = line.strip_prefix(SIG_PREFIX).ok_or_else(|| {
            NoteError::Malformed(format!(
                "signature line {} does not start with \"— \"",
                i + 1
            ))
        })?;
        let (name, b64) = rest.split_once(' ').ok_or_else(|| {
            NoteError::Malformed(format!("signature line {} has no key name", i + 1))
        })?;
        check_name(name)?;
        let raw = B64
            .decode(b64)
            .map_err(|_| NoteError::Malformed(format!("signature line {} is not base64", i + 1)))?;
        if raw.len() < 5 {
            return Err(NoteError::Malformed(format!(
                "signature line {} is too short",
                i + 1
            )));
        }
        let id = [raw[0], raw[1], raw[2], raw[3]];
        if let Ok(signature) = <[u8; 64]>::try_from(&raw[4..]) {
            signatures.push(NoteSignature {
                name: name.to_owned(),
                id,
                signature,
            });
        }
    }
    if block.is_empty() {
        return Err(NoteError::Malformed("no signature lines".into()));
    }
    Ok(ParsedNote { text, signatures })
}

/// Split a C2SP verifier key `<name>+<hex key ID>+<base64(alg || 32-byte public key)>` whose
/// algorithm byte must be `want` (surrounding whitespace ignored); `what` names the kind of key in
/// the shape error, `wrong` words the error for another algorithm byte. Shared by the log's keys
/// (here, 0x01) and the witnesses' cosignature/v1 keys (0x04).
pub(crate) fn split_vkey<'k>(
    vkey: &'k str,
    want: u8,
    what: &str,
    wrong: impl Fn(u8) -> String,
) -> Result<(&'k str, &'k str, [u8; 32]), String> {
    let vkey = vkey.trim();
    // The name holds no '+', but base64 may: split into three parts at most.
    let mut parts = vkey.splitn(3, '+');
    let (Some(name), Some(hex), Some(b64)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(format!(
            "expected <name>+<8 hex digits>+<base64 key> (a C2SP {what}verifier key)"
        ));
    };
    let raw = B64
        .decode(b64)
        .map_err(|e| format!("key is not base64: {e}"))?;
    let Some((&alg, public)) = raw.split_first() else {
        return Err("empty key".into());
    };
    if alg != want {
        return Err(wrong(alg));
    }
    let public: [u8; 32] = public
        .try_into()
        .map_err(|_| format!("Ed25519 key of {} bytes", public.len()))?;
    Ok((name, hex, public))
}

/// Check the key ID of a verifier key string against the one computed from the key.
pub(crate) fn check_vkey_id(hex: &str, id: [u8; 4]) -> Result<(), String> {
    if hex.len() != 8 || audit_runtime::ids::from_hex::<4>(hex) != Some(id) {
        return Err(format!(
            "key ID {hex} does not match the key (expected {})",
            audit_runtime::ids::to_hex(&id)
        ));
    }
    Ok(())
}

/// `<name>+<hex id>+<base64(alg || key)>`.
pub(crate) fn format_vkey(name: &str, id: [u8; 4], alg: u8, key: &[u8; 32]) -> String {
    let mut raw = Vec::with_capacity(33);
    raw.push(alg);
    raw.extend_from_slice(key);
    format!(
        "{name}+{}+{}",
        audit_runtime::ids::to_hex(&id),
        B64.encode(raw)
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn sign_verify_round_trip_and_tamper() {
        let s = NoteSigner::from_seed("audit.example/test", [7; 32]).unwrap();
        let note = s.sign("hello\n42\n").unwrap();
        let v = VerifierKey::parse(&s.verifier().to_vkey()).unwrap();
        assert_eq!(v.verify(&note).unwrap(), "hello\n42\n");
        let other = NoteSigner::from_seed("audit.example/test", [8; 32]).unwrap();
        assert!(matches!(
            other.verifier().verify(&note),
            Err(NoteError::NotSignedByKey { .. })
        ));
        let tampered = note.replace("42", "43");
        assert!(matches!(
            v.verify(&tampered),
            Err(NoteError::BadSignature { .. })
        ));
        let skey = s.to_skey();
        assert_eq!(NoteSigner::parse(&skey).unwrap().verifier(), s.verifier());
        // Keys whose base64 holds '+' or '/' parse too.
        for seed in 0..64u8 {
            let k = NoteSigner::from_seed("n", [seed; 32]).unwrap();
            assert_eq!(
                VerifierKey::parse(&k.verifier().to_vkey()).unwrap(),
                *k.verifier()
            );
            assert_eq!(
                NoteSigner::parse(&k.to_skey()).unwrap().verifier(),
                k.verifier()
            );
        }
    }

    #[test]
    fn rejects_bad_names_and_texts() {
        assert!(NoteSigner::from_seed("a b", [1; 32]).is_err());
        assert!(NoteSigner::from_seed("a+b", [1; 32]).is_err());
        let s = NoteSigner::from_seed("n", [1; 32]).unwrap();
        assert!(s.sign("no newline").is_err());
        assert!(s.sign("a\n\nb\n").is_err());
        assert!(s.sign("tab\there\n").is_err());
    }

    #[test]
    fn parse_never_panics_on_prefixes_of_a_note() {
        let s = NoteSigner::from_seed("n", [1; 32]).unwrap();
        let note = s.sign("text\n").unwrap();
        for end in 0..=note.len() {
            if let Some(p) = note.get(..end) {
                let _ = parse_note(p);
                let _ = s.verifier().verify(p);
            }
        }
        for bad in [
            "",
            "\n",
            "\n\n",
            "x\n\n",
            "x\n\n\u{2014} \n",
            "x\n\n\u{2014} n !!\n",
        ] {
            assert!(s.verifier().verify(bad).is_err(), "{bad:?}");
        }
    }
}
