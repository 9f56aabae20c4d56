//! audit-coverage where teams run it: in their own workspace, from their own `cargo xtask`, or as
//! the installed binary, in a repository whose `rust-toolchain.toml` names a toolchain that is
//! not installed. The fixture is `tests/coverage-fixtures/own-xtask`: globbed members, an
//! excluded directory, a binary found by `src/bin/` discovery, the audit macros reached through
//! a renamed, workspace-inherited dependency, and an `xtask` crate that depends on this library
//! by path and calls `audit_coverage::main_from_args` (the lines `docs/COVERAGE.md` shows).
//!
//! The first test runs the installed binary (this package's `audit-coverage`) three ways and
//! needs no build of its own. The second builds the fixture's xtask for real (`cargo xtask
//! audit-coverage` in the fixture, offline, into `target/tmp/own-xtask-target` so later runs
//! reuse the build); a cold build of the library's dependencies takes about a minute, so it runs
//! only with `AUDIT_COVERAGE_OWN_XTASK=1` (`.ci/run` and `cargo xtask ci` set it).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/coverage-fixtures/own-xtask")
}

/// The cargo running these tests: the real binary of the toolchain in use, not rustup's proxy.
fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

/// A command run in the fixture as from a shell there: no `CARGO` or `RUSTUP_TOOLCHAIN` from
/// an enclosing cargo, and rustup told never to download (so its proxy obeys the fixture's
/// `rust-toolchain.toml` and fails).
fn in_fixture_shell(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut cmd = Command::new(program);
    cmd.current_dir(fixture())
        .env_remove("CARGO")
        .env_remove("RUSTUP_TOOLCHAIN")
        .env("RUSTUP_AUTO_INSTALL", "0");
    cmd
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn json(out: &Output, what: &str) -> Value {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{what}: exit {:?}\nstderr: {}",
        out.status.code(),
        text(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{what}: not a JSON report ({e}): {}", text(&out.stdout)))
}

/// What the fixture holds, written by hand from its sources.
fn check_report(r: &Value, what: &str) {
    let mut points: Vec<(&str, &str)> = r["points"]
        .as_array()
        .unwrap_or_else(|| panic!("{what}: no points"))
        .iter()
        .map(|p| {
            (
                p["id"].as_str().unwrap_or(""),
                p["status"].as_str().unwrap_or(""),
            )
        })
        .collect();
    points.sort_unstable();
    assert_eq!(
        points,
        [
            // The audited ones carry `#[audit::audited_*]`: `audit` is audit-runtime, renamed
            // in [workspace.dependencies] and inherited with `workspace = true`.
            ("triage::<Lookup as Tool>::call", "audited"),
            ("triage::decide_escalation", "unaudited"),
            ("triage::decide_route", "audited"),
            // Only Cargo's `src/bin/` discovery finds this binary.
            ("triage_cli::decide_refund", "unaudited"),
        ],
        "{what}"
    );
    assert_eq!(r["summary"]["points"], 4, "{what}");
    // crates/scratch is excluded; the xtask member is scanned (and has no point).
    assert_eq!(r["files_scanned"], 3, "{what}");
    assert_eq!(r["config"]["source"], "audit_toml", "{what}");
}

fn points(r: &Value) -> &Value {
    &r["points"]
}

#[test]
fn installed_binary_works_where_the_toolchain_file_names_a_missing_toolchain() {
    let bin = env!("CARGO_BIN_EXE_audit-coverage");
    let args = ["--no-write", "--format", "json"];

    // 1. With cargo given (`$CARGO`, as when a cargo command runs the binary): cargo metadata.
    let with_cargo = in_fixture_shell(bin)
        .env("CARGO", cargo())
        .args(args)
        .output()
        .expect("run audit-coverage");
    let by_metadata = json(&with_cargo, "with $CARGO");
    check_report(&by_metadata, "with $CARGO");
    assert!(
        !text(&with_cargo.stderr).contains("read the manifests"),
        "cargo metadata answered: {}",
        text(&with_cargo.stderr)
    );

    // 2. From a shell in the repository: `cargo` on PATH. Under rustup, that proxy obeys
    // rust-toolchain.toml and fails on the missing toolchain; the engine reads the manifests.
    let proxy = in_fixture_shell("cargo")
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--offline",
        ])
        .output();
    let proxy_fails = proxy.as_ref().map_or(true, |o| !o.status.success());
    let shell = in_fixture_shell(bin)
        .args(args)
        .output()
        .expect("run audit-coverage");
    let from_shell = json(&shell, "from a shell");
    check_report(&from_shell, "from a shell");
    if proxy_fails {
        let err = text(&shell.stderr);
        assert!(
            err.contains("read the manifests directly") && err.contains("1.42.0"),
            "the note names the fallback and the toolchain: {err}"
        );
    } else {
        eprintln!("note: `cargo` here is not rustup's proxy; case 3 covers the fallback");
    }
    assert_eq!(
        points(&from_shell),
        points(&by_metadata),
        "the manifests give what cargo metadata gives"
    );

    // 3. No cargo at all: the fallback, whatever the machine has.
    let none = in_fixture_shell(bin)
        .env("CARGO", "/nonexistent/cargo")
        .args(args)
        .output()
        .expect("run audit-coverage");
    let no_cargo = json(&none, "without cargo");
    assert!(
        text(&none.stderr).contains("cannot run `/nonexistent/cargo metadata`"),
        "{}",
        text(&none.stderr)
    );
    assert_eq!(
        serde_json::to_string(&no_cargo).expect("json"),
        serde_json::to_string(&by_metadata).expect("json"),
        "the whole report is the same without cargo"
    );

    // A member directory, and a path given as the workspace, find the same workspace root.
    let member = in_fixture_shell(bin)
        .env("CARGO", "/nonexistent/cargo")
        .args(args)
        .arg("--workspace")
        .arg(fixture().join("crates/triage"))
        .output()
        .expect("run audit-coverage");
    assert_eq!(
        points(&json(&member, "member path")),
        points(&by_metadata),
        "a member's path covers its whole workspace, as cargo metadata does"
    );
}

/// The lines docs/COVERAGE.md tells teams to write are the fixture's, which the tests build.
#[test]
fn the_documented_lines_are_the_tested_ones() {
    let main = std::fs::read_to_string(fixture().join("xtask/src/main.rs")).expect("main.rs");
    let code: String = main
        .lines()
        .filter(|l| !l.starts_with("//!"))
        .skip_while(|l| l.is_empty())
        .map(|l| format!("{l}\n"))
        .collect();
    let docs = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/COVERAGE.md"),
    )
    .expect("docs/COVERAGE.md");
    assert!(
        docs.contains(&format!("```rust\n{code}```")),
        "docs/COVERAGE.md (From your own xtask) must show the fixture's xtask/src/main.rs:\n{code}"
    );
    let manifest = std::fs::read_to_string(fixture().join("xtask/Cargo.toml")).expect("Cargo.toml");
    assert!(
        manifest.contains("audit-coverage = { path = "),
        "{manifest}"
    );
}

#[test]
fn the_library_gives_what_the_command_line_gives() {
    use audit_coverage::{Coverage, Format, Gates};

    let cli = Command::new(env!("CARGO_BIN_EXE_audit-coverage"))
        .args(["--no-write", "--format", "json", "--workspace"])
        .arg(fixture())
        .output()
        .expect("run audit-coverage");
    let mut report = Coverage::new(fixture())
        .config(fixture().join("audit.toml"))
        .run()
        .expect("coverage of the fixture");
    let from_cli = json(&cli, "command line");
    let mut from_lib: Value = serde_json::from_str(&report.render(Format::Json)).expect("json");
    // An explicit rules file is reported as such; everything else is the same.
    assert_eq!(from_lib["config"]["source"], "explicit");
    from_lib["config"]["source"] = from_cli["config"]["source"].clone();
    assert_eq!(from_lib, from_cli);
    check_report(&from_cli, "command line");

    assert!(report.gate(&Gates {
        fail_under: Some(50.0),
        ..Gates::default()
    }));
    assert!(!report.gate(&Gates {
        max_unaudited: Some(1),
        ..Gates::default()
    }));
    assert!(report.gates_failed());
    let terminal = report.render(Format::Terminal { show_missing: true });
    assert!(
        terminal.contains("triage_cli::decide_refund") && terminal.contains("FAIL max_unaudited"),
        "{terminal}"
    );
    let summary = report.render(Format::SUMMARY);
    assert!(
        summary.len() <= 60_000 && summary.contains("50.00%"),
        "{summary}"
    );
    assert!(
        report
            .render(Format::Lcov)
            .contains("SF:crates/triage/src/lib.rs")
    );
    assert!(report.render(Format::Html).starts_with("<!DOCTYPE html>"));

    let err = Coverage::new(fixture().join("no-such-dir"))
        .run()
        .expect_err("no workspace there");
    assert!(
        err.to_string().contains("no Cargo.toml at") && err.to_string().contains("no-such-dir"),
        "{err}"
    );
    let err = Coverage::new(fixture())
        .config(fixture().join("missing.toml"))
        .run()
        .expect_err("no rules file");
    assert!(err.to_string().contains("missing.toml"), "{err}");
}

#[test]
fn the_teams_own_xtask_builds_and_runs() {
    if std::env::var_os("AUDIT_COVERAGE_OWN_XTASK").is_none() {
        eprintln!(
            "skipped: set AUDIT_COVERAGE_OWN_XTASK=1 to build the fixture's xtask (about a \
             minute cold)"
        );
        return;
    }
    let root = fixture();
    // The repository's lock file, so the fixture builds offline with the versions already in
    // the cache (cargo drops what the fixture does not use); ignored by git.
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.lock"),
        root.join("Cargo.lock"),
    )
    .expect("copy Cargo.lock");
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("own-xtask-target");
    let start = std::time::Instant::now();
    // `cargo xtask audit-coverage` exactly as the team types it, through the fixture's alias,
    // with the toolchain chosen the way rustup chose it for this test (`RUSTUP_TOOLCHAIN` is
    // inherited, as it is by every command under a rustup proxy).
    let run = Command::new(cargo())
        .current_dir(&root)
        .env("CARGO_TARGET_DIR", &target)
        .env("RUSTUP_AUTO_INSTALL", "0")
        .args([
            "xtask",
            "audit-coverage",
            "--no-write",
            "--format",
            "json",
            "--fail-under",
            "40",
        ])
        .output()
        .expect("run cargo xtask");
    eprintln!(
        "cargo xtask audit-coverage: {:.1} s, build included",
        start.elapsed().as_secs_f64()
    );
    let report = json(&run, "cargo xtask audit-coverage");
    check_report(&report, "cargo xtask audit-coverage");
    assert_eq!(report["gates"][0]["passed"], true, "{}", report["gates"]);

    // The gate's exit code comes through the team's main unchanged.
    let exe = target
        .join("debug")
        .join(format!("xtask{}", std::env::consts::EXE_SUFFIX));
    let failing = in_fixture_shell(&exe)
        .args(["audit-coverage", "--no-write", "--fail-under", "90"])
        .output()
        .expect("run the built xtask");
    assert_eq!(
        failing.status.code(),
        Some(1),
        "a failed gate exits 1: {}",
        text(&failing.stderr)
    );
    // Run from a shell in the repository (no $CARGO, the proxy fails on the toolchain file):
    // the same points, from the manifests.
    let shell = in_fixture_shell(&exe)
        .args(["audit-coverage", "--no-write", "--format", "json"])
        .output()
        .expect("run the built xtask");
    assert_eq!(
        points(&json(&shell, "built xtask from a shell")),
        points(&report)
    );
    let usage = in_fixture_shell(&exe)
        .output()
        .expect("run the built xtask");
    assert_eq!(usage.status.code(), Some(2));
}
