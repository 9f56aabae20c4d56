//! Keyed digests of inputs and values.
//!
//! `input_digest` and `hash_only` values are BLAKE3 in keyed mode (BLAKE3 spec §2.3) with a
//! 32-byte deployment secret, so somebody who reads the log cannot confirm a guessed input
//! without the key. The key is read from the environment (`AUDIT_DIGEST_KEY`, 64 hex digits) or a
//! file (`AUDIT_DIGEST_KEY_FILE`, 32 raw bytes or 64 hex digits, mode 0600 or stricter); it is
//! never printed, and `Debug` shows only its id.
//!
//! When no key is configured the runtime uses an ephemeral random key and says so once: digests
//! then compare only within one process lifetime, and records name the key as `ephemeral-…`.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::ids::{from_hex, to_hex};
use crate::record::KeyedDigest;

/// Environment variable holding the key as 64 hex digits.
pub const KEY_ENV: &str = "AUDIT_DIGEST_KEY";
/// Environment variable naming a key file.
pub const KEY_FILE_ENV: &str = "AUDIT_DIGEST_KEY_FILE";

/// The deployment secret for keyed digests.
#[derive(Clone)]
pub struct DigestKey {
    key: [u8; 32],
    id: String,
    ephemeral: bool,
}

/// Why a digest key could not be loaded.
#[derive(Debug)]
pub enum KeyError {
    /// The environment variable is not 64 hex digits.
    BadEnv {
        /// The variable's name.
        var: &'static str,
    },
    /// The key file could not be read.
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The key file is readable by group or others.
    Permissions {
        /// The file.
        path: PathBuf,
        /// Its mode bits.
        mode: u32,
    },
    /// The key file holds neither 32 raw bytes nor 64 hex digits.
    BadFile {
        /// The file.
        path: PathBuf,
    },
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::BadEnv { var } => {
                write!(f, "{var} must hold exactly 64 hex digits (a 32-byte key)")
            }
            KeyError::Io { path, source } => {
                write!(
                    f,
                    "cannot read digest key file {}: {source}",
                    path.display()
                )
            }
            KeyError::Permissions { path, mode } => write!(
                f,
                "digest key file {} has mode {mode:04o}; it must not be readable by group or \
                 others (chmod 600)",
                path.display()
            ),
            KeyError::BadFile { path } => write!(
                f,
                "digest key file {} must hold 32 raw bytes or 64 hex digits",
                path.display()
            ),
        }
    }
}

impl std::error::Error for KeyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            KeyError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl DigestKey {
    /// A key from 32 bytes.
    pub fn from_bytes(key: [u8; 32]) -> Self {
        let id = Self::compute_id(&key);
        DigestKey {
            key,
            id,
            ephemeral: false,
        }
    }

    /// A random key for this process only.
    pub fn ephemeral() -> Self {
        let mut key = [0u8; 32];
        // Without OS randomness a key would be guessable; fall back to hashing time and ids,
        // which is still unique but must be flagged. getrandom does not fail on supported OSes.
        if getrandom::fill(&mut key).is_err() {
            let seed = format!(
                "{}-{}",
                crate::ids::unix_nanos(),
                crate::ids::RecordId::now()
            );
            key = *blake3::hash(seed.as_bytes()).as_bytes();
        }
        let mut k = Self::from_bytes(key);
        k.id = format!("ephemeral-{}", &k.id);
        k.ephemeral = true;
        k
    }

    /// Load from `AUDIT_DIGEST_KEY` or `AUDIT_DIGEST_KEY_FILE`; `Ok(None)` when neither is set.
    pub fn from_env() -> Result<Option<Self>, KeyError> {
        if let Ok(v) = std::env::var(KEY_ENV) {
            let key = from_hex::<32>(v.trim()).ok_or(KeyError::BadEnv { var: KEY_ENV })?;
            return Ok(Some(Self::from_bytes(key)));
        }
        if let Some(path) = std::env::var_os(KEY_FILE_ENV) {
            return Self::from_file(Path::new(&path)).map(Some);
        }
        Ok(None)
    }

    /// Load from a file holding 32 raw bytes or 64 hex digits; on Unix the file must not be
    /// readable by group or others.
    pub fn from_file(path: &Path) -> Result<Self, KeyError> {
        let bytes = read_secret_file(path).map_err(|e| e.into_key_error(path))?;
        let key = if bytes.len() == 32 {
            let mut k = [0u8; 32];
            k.copy_from_slice(&bytes);
            k
        } else {
            let text = std::str::from_utf8(&bytes).map_err(|_| KeyError::BadFile {
                path: path.to_owned(),
            })?;
            from_hex::<32>(text.trim()).ok_or_else(|| KeyError::BadFile {
                path: path.to_owned(),
            })?
        };
        Ok(Self::from_bytes(key))
    }

    fn compute_id(key: &[u8; 32]) -> String {
        // The id is a derived-key hash, so it reveals nothing about the key (BLAKE3 §2.4).
        let mut h = blake3::Hasher::new_derive_key("audit-sdk digest key id v1");
        h.update(key);
        to_hex(&h.finalize().as_bytes()[..8])
    }

    /// A short public identifier of the key (16 hex digits, `ephemeral-` prefixed when random).
    pub fn key_id(&self) -> &str {
        &self.id
    }

    /// Whether this is a per-process random key.
    pub fn is_ephemeral(&self) -> bool {
        self.ephemeral
    }

    /// Keyed BLAKE3 of `bytes`, as a record field.
    pub fn digest(&self, bytes: &[u8]) -> KeyedDigest {
        KeyedDigest {
            alg: crate::record::DigestAlg::Blake3Keyed.into(),
            key_id: self.id.clone(),
            value: blake3::keyed_hash(&self.key, bytes).to_hex().to_string(),
        }
    }
}

impl fmt::Debug for DigestKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DigestKey")
            .field("key_id", &self.id)
            .finish_non_exhaustive()
    }
}

/// Why a secret file could not be read.
#[derive(Debug)]
pub enum SecretFileError {
    /// I/O error.
    Io(std::io::Error),
    /// Readable by group or others; carries the mode bits.
    Permissions(u32),
}

impl SecretFileError {
    fn into_key_error(self, path: &Path) -> KeyError {
        match self {
            SecretFileError::Io(source) => KeyError::Io {
                path: path.to_owned(),
                source,
            },
            SecretFileError::Permissions(mode) => KeyError::Permissions {
                path: path.to_owned(),
                mode,
            },
        }
    }
}

impl fmt::Display for SecretFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretFileError::Io(e) => e.fmt(f),
            SecretFileError::Permissions(mode) => {
                write!(f, "mode {mode:04o} lets group or others read it; chmod 600")
            }
        }
    }
}

impl std::error::Error for SecretFileError {}

/// Read a secret (key) file, refusing one that group or others can read (Unix).
/// Shared by the digest key and the checkpoint signing key.
pub fn read_secret_file(path: &Path) -> Result<Vec<u8>, SecretFileError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(path).map_err(SecretFileError::Io)?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(SecretFileError::Permissions(mode));
        }
    }
    std::fs::read(path).map_err(SecretFileError::Io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_digest_depends_on_key_and_hides_it() {
        let a = DigestKey::from_bytes([1; 32]);
        let b = DigestKey::from_bytes([2; 32]);
        assert_ne!(a.digest(b"x").value, b.digest(b"x").value);
        assert_eq!(a.digest(b"x"), a.digest(b"x"));
        assert_eq!(a.key_id().len(), 16);
        let dbg = format!("{a:?}");
        assert!(!dbg.contains("0101"), "{dbg}");
        assert!(DigestKey::ephemeral().key_id().starts_with("ephemeral-"));
    }

    #[cfg(unix)]
    #[test]
    fn key_file_permissions_are_enforced() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("audit-key-{}", crate::ids::RecordId::now()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("key");
        std::fs::write(&p, "ab".repeat(32)).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = DigestKey::from_file(&p).unwrap_err();
        assert!(err.to_string().contains("chmod 600"), "{err}");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        let k = DigestKey::from_file(&p).unwrap();
        assert_eq!(
            k.digest(b"x"),
            DigestKey::from_bytes([0xab; 32]).digest(b"x")
        );
        std::fs::write(&p, "short").unwrap();
        assert!(matches!(
            DigestKey::from_file(&p),
            Err(KeyError::BadFile { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
