//! `docs/schema/registry.json`: every published record schema, as the tests read it.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

/// The registry file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Registry {
    /// What the schemas describe (`audit record`).
    pub subject: String,
    /// The compatibility level every new schema is checked at (`BACKWARD_TRANSITIVE`).
    pub compatibility: String,
    /// Where the rules are written down.
    pub policy: String,
    /// Every published schema, oldest first.
    pub schemas: Vec<Published>,
}

/// One published schema.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Published {
    /// The record's `v` for this schema.
    pub v: u32,
    /// `v.N`: compatible revisions of one `v` share its records.
    pub revision: String,
    /// The file, relative to `docs/schema/`.
    pub file: String,
    /// The schema's `$id`: an identifier, not necessarily an address that can be fetched.
    pub schema_url: String,
    /// `current` (what this build writes) or `supported` (read by this build).
    pub status: Status,
    /// BLAKE3 of the file's bytes: a published schema never changes.
    pub blake3: String,
    /// What changed from the revision before, in words.
    pub changes: String,
}

/// Where a published schema stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// What this build writes: the schema the types generate.
    Current,
    /// Published before; this build still reads its records.
    Supported,
}

/// A registry that cannot be read or does not hold together.
#[derive(Debug)]
pub struct RegistryError(pub String);

impl fmt::Display for RegistryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RegistryError {}

/// `docs/schema/` of this repository.
pub fn schema_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/schema")
}

impl Registry {
    /// Read `registry.json` in `dir`.
    pub fn load(dir: &Path) -> Result<Registry, RegistryError> {
        let path = dir.join("registry.json");
        let text = std::fs::read_to_string(&path)
            .map_err(|e| RegistryError(format!("{}: {e}", path.display())))?;
        serde_json::from_str(&text).map_err(|e| RegistryError(format!("{}: {e}", path.display())))
    }

    /// The one `current` schema.
    pub fn current(&self) -> Result<&Published, RegistryError> {
        let mut current = self.schemas.iter().filter(|s| s.status == Status::Current);
        match (current.next(), current.next()) {
            (Some(c), None) => Ok(c),
            _ => Err(RegistryError(
                "registry.json must mark exactly one schema `current`".into(),
            )),
        }
    }
}

impl Published {
    /// The file's bytes.
    pub fn bytes(&self, dir: &Path) -> Result<Vec<u8>, RegistryError> {
        let path = dir.join(&self.file);
        std::fs::read(&path).map_err(|e| RegistryError(format!("{}: {e}", path.display())))
    }

    /// The file as JSON.
    pub fn schema(&self, dir: &Path) -> Result<Value, RegistryError> {
        serde_json::from_slice(&self.bytes(dir)?)
            .map_err(|e| RegistryError(format!("{}: {e}", self.file)))
    }
}
