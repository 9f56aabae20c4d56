//! The registry of deployed artifacts: models, prompts, policies, feature sets and reference data
//! actually in force in this process, with BLAKE3 digests of their bytes.
//!
//! Records reference it two ways: a point may take an artifact's version from it
//! (`model = "credit-scorer"` with no `model_version`), and any declared version is checked
//! against it — a mismatch becomes a `finding` record that refers to the call.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{OnceLock, RwLock};

use crate::point::ArtifactRole;

/// A deployed artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    /// Its role.
    pub role: ArtifactRole,
    /// Its name, as used in audit attributes.
    pub name: String,
    /// Its version.
    pub version: String,
    /// BLAKE3 of its bytes (64 hex digits), when known.
    pub digest: Option<String>,
}

impl Artifact {
    /// An artifact known by name and version only.
    pub fn new(role: ArtifactRole, name: impl Into<String>, version: impl Into<String>) -> Self {
        Artifact {
            role,
            name: name.into(),
            version: version.into(),
            digest: None,
        }
    }

    /// An artifact whose digest is the BLAKE3 of `bytes` (a prompt template, a policy document).
    pub fn from_bytes(
        role: ArtifactRole,
        name: impl Into<String>,
        version: impl Into<String>,
        bytes: &[u8],
    ) -> Self {
        let mut a = Self::new(role, name, version);
        a.digest = Some(blake3::hash(bytes).to_hex().to_string());
        a
    }

    /// An artifact whose digest is the BLAKE3 of a file (model weights), read in chunks.
    pub fn from_file(
        role: ArtifactRole,
        name: impl Into<String>,
        version: impl Into<String>,
        path: &Path,
    ) -> std::io::Result<Self> {
        let mut hasher = blake3::Hasher::new();
        hasher.update_reader(std::fs::File::open(path)?)?;
        let mut a = Self::new(role, name, version);
        a.digest = Some(hasher.finalize().to_hex().to_string());
        Ok(a)
    }
}

type Registry = RwLock<HashMap<(ArtifactRole, String), Artifact>>;

fn registry() -> &'static Registry {
    static R: OnceLock<Registry> = OnceLock::new();
    R.get_or_init(Default::default)
}

/// Register (or replace) a deployed artifact.
pub fn register(artifact: Artifact) {
    let mut map = registry()
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    map.insert((artifact.role, artifact.name.clone()), artifact);
}

/// The deployed artifact with this role and name.
pub fn deployed(role: ArtifactRole, name: &str) -> Option<Artifact> {
    let map = registry()
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    map.get(&(role, name.to_owned())).cloned()
}

/// Every registered artifact.
pub fn all() -> Vec<Artifact> {
    let map = registry()
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut v: Vec<Artifact> = map.values().cloned().collect();
    v.sort_by(|a, b| (a.role.as_str(), &a.name).cmp(&(b.role.as_str(), &b.name)));
    v
}
