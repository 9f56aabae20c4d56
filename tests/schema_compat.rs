//! The schema registry holds together, and the schema this build writes is compatible with every
//! published one (`docs/SCHEMA-EVOLUTION.md`, BACKWARD_TRANSITIVE).

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use std::collections::BTreeSet;

use audit_runtime::record::{KNOWN_SCHEMA_VERSIONS, SCHEMA_URL, SCHEMA_VERSION, json_schema};
use audit_tests::compat::registry::{Registry, Status, schema_dir};
use audit_tests::compat::{Rule, check};
use serde_json::Value;

fn registry() -> Registry {
    Registry::load(&schema_dir()).unwrap()
}

#[test]
fn the_registry_holds_together() {
    let dir = schema_dir();
    let r = registry();
    assert_eq!(r.subject, "audit record");
    assert_eq!(r.compatibility, "BACKWARD_TRANSITIVE");
    assert!(
        dir.join("..").join("..").join(&r.policy).is_file(),
        "{}",
        r.policy
    );
    let current = r.current().unwrap();
    assert_eq!(current.v, SCHEMA_VERSION);
    assert_eq!(current.schema_url, SCHEMA_URL);
    assert_eq!(
        r.schemas.last().map(|s| s.status),
        Some(Status::Current),
        "the current schema is the newest"
    );
    let mut revisions = BTreeSet::new();
    let mut last: Option<(u32, u32)> = None;
    for s in &r.schemas {
        // Published files never change: the registry pins their bytes.
        let bytes = s.bytes(&dir).unwrap();
        let digest = blake3::hash(&bytes).to_hex().to_string();
        assert_eq!(
            s.blake3, digest,
            "docs/schema/{} changed after it was published (or registry.json has the wrong \
             digest): publish a new revision instead",
            s.file
        );
        let schema = s.schema(&dir).unwrap();
        assert_eq!(schema["$id"], s.schema_url.as_str(), "{}", s.file);
        assert_eq!(
            schema["$schema"], "https://json-schema.org/draft/2020-12/schema",
            "{}",
            s.file
        );
        // `v.N`, increasing; the file is named after it.
        let (major, minor) = s
            .revision
            .split_once('.')
            .and_then(|(a, b)| Some((a.parse::<u32>().ok()?, b.parse::<u32>().ok()?)))
            .unwrap_or_else(|| panic!("revision {:?} is not `v.N`", s.revision));
        assert_eq!(major, s.v, "{}", s.file);
        assert!(
            last < Some((major, minor)),
            "revisions out of order at {}",
            s.revision
        );
        last = Some((major, minor));
        let expected_file = if minor == 0 {
            format!("record.v{major}.json")
        } else {
            format!("record.v{major}.{minor}.json")
        };
        assert_eq!(s.file, expected_file);
        assert!(revisions.insert(s.revision.clone()));
        assert!(!s.changes.trim().is_empty(), "{}: say what changed", s.file);
    }
    // This build reads every published version, and only those.
    let published: BTreeSet<u32> = r.schemas.iter().map(|s| s.v).collect();
    let known: BTreeSet<u32> = KNOWN_SCHEMA_VERSIONS.iter().copied().collect();
    assert_eq!(
        published, known,
        "KNOWN_SCHEMA_VERSIONS against registry.json"
    );
    // Every record schema file in docs/schema/ is in the registry (the directory also holds
    // the schemas of other documents, such as the coverage report's).
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name.starts_with("record.") {
            assert!(
                r.schemas.iter().any(|s| s.file == name),
                "docs/schema/{name} is not in registry.json"
            );
        }
    }
}

/// BACKWARD_TRANSITIVE: every record valid under any published schema of the current `v` is
/// valid, with the same meaning, under the schema this build writes. Across a `v` bump the
/// schemas may differ incompatibly (that is what the bump is for); the upcaster then carries
/// the old records over, and `tests/schema_matrix.rs` reads the old logs to prove it.
#[test]
fn the_current_schema_is_compatible_with_every_published_one() {
    let dir = schema_dir();
    let current: Value = serde_json::from_str(&json_schema()).unwrap();
    let mut checked = 0;
    for s in &registry().schemas {
        let published = s.schema(&dir).unwrap();
        let found = check(&published, &current);
        if s.v == SCHEMA_VERSION {
            assert!(
                found.is_empty(),
                "the schema this build writes is not compatible with the published {} \
                 ({}):\n{}",
                s.file,
                s.revision,
                found.iter().map(|i| format!("  {i}\n")).collect::<String>()
            );
            checked += 1;
        } else {
            assert!(
                s.v < SCHEMA_VERSION && KNOWN_SCHEMA_VERSIONS.contains(&s.v),
                "schema {} is published but this build has no reader (upcaster) for it",
                s.v
            );
            for i in &found {
                eprintln!("{} -> current: bridged by the upcaster: {i}", s.file);
            }
        }
    }
    assert!(checked > 0);
}

/// The checker is not vacuous on the real schema: breaking the current schema in each way the
/// policy forbids is caught.
#[test]
fn breaking_the_real_schema_is_caught() {
    let current: Value = serde_json::from_str(&json_schema()).unwrap();
    let broken = |f: &dyn Fn(&mut Value)| {
        let mut s = current.clone();
        f(&mut s);
        check(&current, &s)
    };
    let fired = |found: Vec<audit_tests::compat::Incompatibility>, path: &str, rule: Rule| {
        assert!(
            found.iter().any(|i| i.path == path && i.rule == rule),
            "expected {rule:?} at {path}: {found:#?}"
        );
    };
    fired(
        broken(&|s| drop(s["properties"].as_object_mut().unwrap().remove("finding"))),
        "$.finding",
        Rule::RemovedProperty,
    );
    fired(
        broken(&|s| s["required"].as_array_mut().unwrap().push("outcome".into())),
        "$.outcome",
        Rule::NewlyRequired,
    );
    fired(
        broken(&|s| s["properties"]["seq"]["type"] = "string".into()),
        "$.seq",
        Rule::ChangedType,
    );
    // A removed record kind, behind the open enum's $ref.
    fired(
        broken(&|s| {
            let kinds = s["$defs"]["RecordKind"]["oneOf"].as_array_mut().unwrap();
            kinds.retain(|k| k["const"] != "lineage");
        }),
        "$.kind",
        Rule::RemovedEnumValue,
    );
    // A removed outcome status, two $refs and an anyOf deep.
    fired(
        broken(&|s| {
            let st = s["$defs"]["OutcomeStatus"]["oneOf"].as_array_mut().unwrap();
            st.retain(|k| k["const"] != "cancelled");
        }),
        "$.outcome.status",
        Rule::RemovedEnumValue,
    );
    fired(
        broken(&|s| {
            s["$defs"]["TimeInfo"]["properties"]["duration_ns"]["format"] = "uint32".into()
        }),
        "$.time.duration_ns",
        Rule::NarrowedFormat,
    );
    fired(
        broken(&|s| s["properties"]["prev"]["pattern"] = "^[0-9a-f]{64}$".into()),
        "$.prev",
        Rule::NarrowedPattern,
    );
}
