//! The attribute grammar's vocabulary: the option keys and the versioned-artifact roles.
//!
//! Data only, with no dependency, because two crates read it: the macros (`attr.rs`) and the
//! coverage scanner (`audit-coverage`, under `xtask/coverage`), which carries a byte-for-byte
//! copy (`xtask/coverage/src/grammar.rs`, so that it can be published alone) and a test that
//! fails when the two differ, so they can never disagree on which options exist.

/// The roles a versioned artifact can have: role key, version key, `ArtifactRole` variant.
pub(crate) const ROLES: &[(&str, &str, &str)] = &[
    ("model", "model_version", "Model"),
    ("prompt", "prompt_version", "Prompt"),
    ("policy", "policy_version", "Policy"),
    ("feature_set", "feature_set_version", "FeatureSet"),
    ("reference_data", "reference_data_version", "ReferenceData"),
];

/// Every option key the attributes accept.
pub(crate) const KEYS: &[&str] = &[
    "name",
    "model",
    "model_version",
    "prompt",
    "prompt_version",
    "policy",
    "policy_version",
    "feature_set",
    "feature_set_version",
    "reference_data",
    "reference_data_version",
    "unversioned",
    "capture",
    "capture_all",
    "hash_only",
    "skip",
    "output",
    "result",
    "rationale",
    "session",
    "side_effect",
    "started",
    "redact",
    "crate",
];
