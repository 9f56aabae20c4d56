//! The user's own lints are still reported inside audited bodies: clippy runs on
//! `tests/lint-fixture`, whose every `// LINT: name` line must get that warning at that line,
//! as it would without the attribute (the body keeps its own span in the expansion).

use std::path::PathBuf;
use std::process::Command;

#[test]
fn clippy_reports_lints_in_audited_bodies() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let fixture = root.join("lint-fixture");
    let out = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .current_dir(&fixture)
        .args([
            "clippy",
            "--quiet",
            "--message-format",
            "short",
            "--target-dir",
        ])
        .arg(root.join("../target/lint-fixture"))
        .env_remove("RUSTFLAGS")
        .output()
        .expect("run cargo clippy");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "clippy failed:\n{stderr}");
    let source = std::fs::read_to_string(fixture.join("src/lib.rs")).unwrap();
    let mut expected = 0;
    for (i, line) in source.lines().enumerate() {
        let Some((_, lint)) = line.split_once("// LINT: ") else {
            continue;
        };
        expected += 1;
        let at = format!("src/lib.rs:{}:", i + 1);
        let reported = stderr
            .lines()
            .any(|l| l.starts_with(&at) && l.contains("warning"));
        assert!(
            reported,
            "clippy::{lint} was not reported at line {} inside an audited body:\n{stderr}",
            i + 1
        );
    }
    assert!(expected >= 3, "the fixture lost its lint markers");
}
