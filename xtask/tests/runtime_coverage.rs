//! Runtime coverage for real: the fixture's `src/agent.rs` is compiled into this test, which
//! installs the audit runtime with the real file exporter, calls some of the points (one of
//! them failing), dumps the registry with `audit_runtime::point::registry_json()`, and then
//! runs `cargo xtask coverage --registry --logs` against the fixture workspace.

use std::path::Path;
use std::process::Command;

#[path = "support/schema.rs"]
mod schema;

use serde_json::Value;

#[path = "../../tests/coverage-fixtures/runtime/src/agent.rs"]
mod agent;

/// Compiled and called here, but not part of the fixture: the scan cannot know it.
#[audit_runtime::audited_tool(name = "test.only", side_effect = none)]
fn test_only() -> u8 {
    7
}

fn point<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["points"]
        .as_array()
        .expect("points")
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no point named {name}"))
}

#[test]
fn registry_and_logs_are_matched_with_the_static_scan() {
    let tmp = std::env::temp_dir().join(format!("xtask-runtime-coverage-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let logs = tmp.join("logs");
    std::fs::create_dir_all(&logs).expect("log dir");
    {
        let exporter = audit_exporters::FileExporter::builder(&logs)
            .open()
            .expect("file exporter");
        let _guard = audit_runtime::AuditRuntime::builder()
            .service("runtime-fixture")
            .exporter(exporter)
            .install()
            .expect("install");
        assert_eq!(agent::approve(100), Ok(true));
        assert_eq!(agent::approve(700), Ok(false));
        assert!(agent::approve(5_000).is_err());
        assert_eq!(agent::lookup(21), 42);
        assert_eq!(test_only(), 7);
        // Dropping the guard flushes the pipeline and the file log.
    }
    // Lines that are not call records must be skipped or counted as malformed, not fail.
    std::fs::write(
        logs.join("zz-extra.jsonl"),
        "{\"type\":\"header\",\"v\":1}\nnot json at all\n\n",
    )
    .expect("extra segment");
    let registry = tmp.join("registry.json");
    std::fs::write(&registry, audit_runtime::point::registry_json()).expect("registry dump");

    let ws = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/coverage-fixtures/runtime");
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["coverage", "--no-write", "--format", "json", "--workspace"])
        .arg(&ws)
        .arg("--registry")
        .arg(&registry)
        .arg("--logs")
        .arg(&logs)
        .output()
        .expect("run xtask");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let report: Value = serde_json::from_slice(&out.stdout).expect("json report");
    // The `runtime` members only this fixture produces fit the published schema too.
    schema::assert_fits(&report, "runtime fixture with --registry and --logs");
    let rt = &report["runtime"];

    assert_eq!(rt["registered"], 4, "three fixture points and test.only");
    assert_eq!(rt["records"], 5);
    assert_eq!(rt["malformed_lines"], 1);
    assert!(rt["skipped_lines"].as_u64().expect("skipped") >= 1, "{rt}");

    let approve = &point(&report, "fixture.approve")["runtime"];
    assert_eq!(approve["in_registry"], true);
    assert_eq!(
        (approve["calls"].as_u64(), approve["errors"].as_u64()),
        (Some(3), Some(1))
    );
    assert_eq!(approve["error_rate"].as_f64(), Some(0.3333));
    assert_eq!(
        approve["versions_seen"],
        serde_json::json!(["model:scorer@1.0"])
    );
    assert_eq!(point(&report, "fixture.lookup")["runtime"]["calls"], 1);
    assert_eq!(point(&report, "fixture.never")["runtime"]["calls"], 0);

    let never: Vec<&str> = rt["never_fired"]
        .as_array()
        .expect("never")
        .iter()
        .map(|v| v.as_str().expect("id"))
        .collect();
    assert_eq!(
        never,
        vec![
            "runtime_fixture::agent::never_called",
            "runtime_fixture::unlinked::unlinked"
        ]
    );
    assert_eq!(rt["exercised"], 2);
    assert_eq!(rt["exercised_percent"].as_f64(), Some(50.0));

    let mut dis: Vec<(String, String)> = rt["disagreements"]
        .as_array()
        .expect("disagreements")
        .iter()
        .map(|d| {
            (
                d["code"].as_str().expect("code").to_owned(),
                d["point"].as_str().expect("point").to_owned(),
            )
        })
        .collect();
    dis.sort();
    assert_eq!(dis.len(), 3, "{dis:?}");
    assert_eq!(dis[0].0, "logged_not_scanned");
    assert!(dis[0].1.contains("test_only"), "{dis:?}");
    assert_eq!(dis[1].0, "registered_not_scanned");
    assert!(dis[1].1.contains("test_only"), "{dis:?}");
    assert_eq!(
        dis[2],
        (
            "scanned_not_registered".to_owned(),
            "runtime_fixture::unlinked::unlinked".to_owned()
        )
    );
    let _ = std::fs::remove_dir_all(&tmp);
}
