//! The record schema is published as JSON Schema and pinned: the `current` schema of
//! `docs/schema/registry.json` must be exactly what the types generate.
//!
//! A change to the types that changes the generated schema is a compatibility decision
//! (`docs/SCHEMA-EVOLUTION.md`): published files never change, so it is published as a new
//! revision (`record.v1.2.json`, a compatible change) or a new version (`record.v2.json`). Write
//! the generated schema to a new file with `UPDATE_SCHEMA=docs/schema/record.v1.2.json cargo test
//! -p audit-tests --test schema`, then add it to the registry; `tests/schema_compat.rs` checks
//! it against every published schema.

use std::path::PathBuf;

use audit_runtime::audited_decision;
use audit_runtime::record::OpenEnum;
use audit_tests::compat::registry::{Registry, schema_dir};
use audit_tests::local_runtime;

#[test]
fn the_current_schema_in_the_registry_is_what_the_types_generate() {
    let generated = audit_runtime::record::json_schema();
    if let Some(to) = std::env::var_os("UPDATE_SCHEMA") {
        let to = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(to);
        std::fs::write(&to, &generated).unwrap();
        eprintln!(
            "wrote {}; add it to docs/schema/registry.json",
            to.display()
        );
    }
    let dir = schema_dir();
    let registry = Registry::load(&dir).unwrap();
    let current = registry.current().unwrap();
    let checked_in = String::from_utf8(current.bytes(&dir).unwrap()).unwrap();
    assert!(
        checked_in == generated,
        "docs/schema/{} (current in registry.json) is not what audit-runtime/src/record.rs \
         generates: a published schema never changes, so publish the change as a new revision \
         or version (see the header of tests/schema.rs and docs/SCHEMA-EVOLUTION.md)",
        current.file
    );
}

/// The words an [`OpenEnum`] knows are exactly the values its derived schema documents, so a
/// variant added to an enum without adding it to `KNOWN` is caught (it would read back as
/// unknown).
#[test]
fn open_enums_know_every_documented_value() {
    use audit_runtime::followup::HumanActionKind;
    use audit_runtime::point::{ArtifactRole, PointKind, SideEffect};
    use audit_runtime::record::{CaptureMode, DigestAlg, OutcomeStatus, RecordKind, VersionOrigin};

    fn documented(name: &str) -> Vec<String> {
        let schema: serde_json::Value =
            serde_json::from_str(&audit_runtime::record::json_schema()).unwrap();
        let def = &schema["$defs"][name];
        let mut words: Vec<String> = def["oneOf"]
            .as_array()
            .unwrap_or_else(|| panic!("$defs.{name} is not a oneOf"))
            .iter()
            .map(|b| b["const"].as_str().unwrap().to_owned())
            .collect();
        words.sort();
        words
    }
    fn known<T: OpenEnum>() -> Vec<String> {
        let mut words: Vec<String> = T::KNOWN.iter().map(|k| k.word().into_owned()).collect();
        words.sort();
        words
    }
    assert_eq!(known::<RecordKind>(), documented("RecordKind"));
    assert_eq!(known::<PointKind>(), documented("PointKind"));
    assert_eq!(known::<DigestAlg>(), documented("DigestAlg"));
    assert_eq!(known::<CaptureMode>(), documented("CaptureMode"));
    assert_eq!(known::<VersionOrigin>(), documented("VersionOrigin"));
    assert_eq!(known::<ArtifactRole>(), documented("ArtifactRole"));
    assert_eq!(known::<OutcomeStatus>(), documented("OutcomeStatus"));
    assert_eq!(known::<SideEffect>(), documented("SideEffect"));
    assert_eq!(known::<HumanActionKind>(), documented("HumanActionKind"));
}

#[audited_decision(name = "schema.decide", model = "m", model_version = "1", capture(x), output = capture)]
fn decide(x: u32) -> Result<u32, String> {
    audit_runtime::signal("x", x);
    if x == 0 { Err("zero".into()) } else { Ok(x) }
}

/// Every member of real record lines is declared by the schema, and every required member is
/// present: a cheap structural check that the schema describes what is written.
#[test]
fn real_records_fit_the_schema() {
    let schema: serde_json::Value =
        serde_json::from_str(&audit_runtime::record::json_schema()).unwrap();
    let props = schema["properties"].as_object().unwrap();
    let required: Vec<&str> = schema["required"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    let (guard, mem) = local_runtime();
    decide(1).unwrap();
    decide(0).unwrap_err();
    guard.flush().unwrap();
    for line in mem.lines() {
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        let obj = v.as_object().unwrap();
        for k in obj.keys() {
            assert!(props.contains_key(k), "member `{k}` is not in the schema");
        }
        for r in &required {
            assert!(
                obj.contains_key(*r),
                "required member `{r}` missing from {line}"
            );
        }
    }
}
