//! The record schema is published as JSON Schema and pinned: `docs/schema/record.v1.json` must be
//! exactly what the types generate (regenerate with `UPDATE_SCHEMA=1 cargo test -p audit-tests
//! --test schema` and review the diff: a changed schema-1 record is a compatibility decision).

use std::path::PathBuf;

use audit_runtime::audited_decision;
use audit_tests::local_runtime;

fn schema_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/schema/record.v1.json")
}

#[test]
fn checked_in_schema_matches_the_types() {
    let generated = audit_runtime::record::json_schema();
    let path = schema_path();
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &generated).unwrap();
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "docs/schema/record.v1.json is out of date with audit-runtime/src/record.rs; \
         regenerate with UPDATE_SCHEMA=1 and review the change"
    );
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
