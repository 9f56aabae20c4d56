//! Validation of JSON reports against the published schema, `docs/schema/coverage-report.v1.json`,
//! with a real JSON Schema (draft 2020-12) validator. Shared by the integration tests through
//! `#[path]`; not a test target of its own.

use serde_json::Value;

/// The checked-in schema (a unit test of `model.rs` pins it to the report types).
pub fn published() -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../docs/schema/coverage-report.v1.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).expect("the schema is JSON")
}

/// The published schema with `additionalProperties: false` on every object that lists its
/// properties: the published one lets readers meet members added later, this one checks that
/// the tool writes no member the schema does not describe.
pub fn strict() -> Value {
    fn close(v: &mut Value) {
        match v {
            Value::Object(map) => {
                if map.contains_key("properties") && !map.contains_key("additionalProperties") {
                    map.insert("additionalProperties".into(), Value::Bool(false));
                }
                map.values_mut().for_each(close);
            }
            Value::Array(items) => items.iter_mut().for_each(close),
            _ => {}
        }
    }
    let mut s = published();
    close(&mut s);
    s
}

/// Every error the validator finds, as `instance path: message`.
pub fn errors(schema: &Value, report: &Value) -> Vec<String> {
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(schema)
        .expect("a valid JSON Schema");
    validator
        .iter_errors(report)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

/// Fails with every error when `report` does not fit the published schema or writes a member
/// the schema does not describe.
pub fn assert_fits(report: &Value, what: &str) {
    for (name, schema) in [("published", published()), ("strict", strict())] {
        let errs = errors(&schema, report);
        assert!(
            errs.is_empty(),
            "{what}: the JSON report does not fit the {name} schema \
             (docs/schema/coverage-report.v1.json):\n{}",
            errs.join("\n")
        );
    }
}
