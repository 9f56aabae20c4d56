//! The JSON report against its published JSON Schema, `docs/schema/coverage-report.v1.json`:
//! the real binary's reports of every fixture workspace (with gates, a change since a previous
//! run, `--package`, parse errors and zero points among them) must fit it, and reports broken
//! on purpose must not, so the check is known to bite. That the schema file is what the report
//! types generate is pinned by a unit test beside the types (`model.rs`,
//! `UPDATE_SCHEMA=1 cargo test -p xtask checked_in_schema` regenerates it).

#[path = "support/schema.rs"]
mod schema;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/coverage-fixtures")
}

fn report(ws: &Path, out: &Path, extra: &[&str]) -> Value {
    let run = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("coverage")
        .arg("--workspace")
        .arg(ws)
        .arg("--output-dir")
        .arg(out)
        .args(["--format", "json"])
        .args(extra)
        .output()
        .expect("run xtask");
    let code = run.status.code();
    assert!(
        code == Some(0) || code == Some(1),
        "exit {code:?}: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    serde_json::from_slice(&run.stdout).expect("a JSON report")
}

fn temp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("xtask-schema-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn every_fixture_report_fits_the_published_schema() {
    let out = temp("fixtures");
    let agents = fixtures().join("agents");
    // First run writes coverage.json; the second compares with it (the `change` member) and
    // evaluates gates (the `gates` member, one of them failing).
    report(&agents, &out.join("agents"), &[]);
    let second = report(
        &agents,
        &out.join("agents"),
        &["--fail-under", "99", "--max-unaudited", "100"],
    );
    assert!(second["change"].is_object(), "a change since the first run");
    assert_eq!(second["gates"].as_array().map(Vec::len), Some(2));
    assert!(
        !second["parse_errors"]
            .as_array()
            .expect("parse_errors")
            .is_empty(),
        "the agents fixture has a file that does not parse"
    );
    schema::assert_fits(&second, "agents, second run with gates");
    let scoped = report(&agents, &out.join("scoped"), &["-p", "loans"]);
    assert_eq!(scoped["packages"], serde_json::json!(["loans"]));
    schema::assert_fits(&scoped, "agents -p loans");
    for name in ["generics", "metadata-config", "no-points"] {
        let r = report(&fixtures().join(name), &out.join(name), &[]);
        schema::assert_fits(&r, name);
    }
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn reports_broken_on_purpose_do_not_fit() {
    let out = temp("broken");
    let good = report(&fixtures().join("agents"), &out, &["--no-write"]);
    schema::assert_fits(&good, "agents");
    let published = schema::published();
    let strict = schema::strict();
    let broken = |f: &dyn Fn(&mut Value)| {
        let mut r = good.clone();
        f(&mut r);
        r
    };
    for (what, r) in [
        (
            "unknown status",
            broken(&|r| r["points"][0]["status"] = "bogus".into()),
        ),
        (
            "no summary",
            broken(&|r| {
                r.as_object_mut().expect("object").remove("summary");
            }),
        ),
        (
            "a count as a string",
            broken(&|r| r["summary"]["points"] = "20".into()),
        ),
        (
            "a later schema version",
            broken(&|r| r["schema_version"] = 2.into()),
        ),
        (
            "a negative line",
            broken(&|r| r["points"][0]["line"] = (-1).into()),
        ),
        (
            "a crate without its modules",
            broken(&|r| {
                r["crates"][0]
                    .as_object_mut()
                    .expect("object")
                    .remove("modules");
            }),
        ),
    ] {
        let errs = schema::errors(&published, &r);
        assert!(!errs.is_empty(), "{what}: the schema accepted it");
        eprintln!("{what}: rejected: {}", errs[0]);
    }
    // A member added later is compatible for readers (the published schema accepts it), but
    // the tool itself writing a member the schema does not describe is caught.
    let extra = broken(&|r| r["points"][0]["new_member"] = true.into());
    assert!(schema::errors(&published, &extra).is_empty());
    assert!(!schema::errors(&strict, &extra).is_empty());
    let _ = std::fs::remove_dir_all(&out);
}
