//! The README's quick start as a newcomer uses it: a fresh project outside this workspace whose
//! `Cargo.toml` has the README's dependency lines (the path form, pointed at this checkout) and
//! whose `main.rs` is the README's code block, built offline with cargo and run. (The code block
//! alone is also a doctest of `audit-tests`; this checks the dependency lines too.)
//!
//! The project gets this workspace's `Cargo.lock`, so cargo picks the versions already built,
//! and builds into `target/readme-project`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate is in the workspace")
        .to_owned()
}

/// The first fenced block of `lang` after the README's "## Quick start".
fn quick_start_block(readme: &str, lang: &str) -> String {
    let start = readme
        .find("## Quick start")
        .expect("a Quick start section");
    let rest = &readme[start..];
    let open = format!("```{lang}\n");
    let from = rest.find(&open).expect("the block") + open.len();
    let len = rest[from..].find("```").expect("the block's end");
    rest[from..from + len].to_owned()
}

#[test]
fn the_readme_dependency_lines_and_code_build_and_run_in_a_fresh_project() {
    let repo = repo();
    let readme = std::fs::read_to_string(repo.join("README.md")).expect("README.md");
    let deps = quick_start_block(&readme, "toml");
    assert!(
        deps.contains("path = \"../audit-sdk/audit-runtime\""),
        "{deps}"
    );
    let code = quick_start_block(&readme, "rust");
    let dir = std::env::temp_dir().join(format!("audit-readme-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("src")).expect("temp dir");
    // "Adjust the paths": the README's ../audit-sdk/ is this checkout.
    let deps = deps.replace("../audit-sdk/", &format!("{}/", repo.display()));
    let manifest = format!(
        "[package]\nname = \"readme-consumer\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\
         publish = false\n\n[workspace]\n\n{deps}"
    );
    std::fs::write(dir.join("Cargo.toml"), manifest).expect("Cargo.toml");
    // Doctest-hidden lines (`# ...`) are part of the program.
    let code: String = code
        .lines()
        .map(|l| l.strip_prefix("# ").unwrap_or(l))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(dir.join("src/main.rs"), code).expect("main.rs");
    std::fs::copy(repo.join("Cargo.lock"), dir.join("Cargo.lock")).expect("Cargo.lock");
    let target = repo.join("target/readme-project");
    let status = Command::new(env!("CARGO"))
        .args(["build", "--offline", "--quiet"])
        .arg("--manifest-path")
        .arg(dir.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", &target)
        .status()
        .expect("cargo runs");
    assert!(
        status.success(),
        "the README's project does not build: {status}"
    );
    let out = Command::new(target.join("debug/readme-consumer"))
        .current_dir(&dir)
        .env("AUDIT_DIGEST_KEY", "0".repeat(64))
        .output()
        .expect("the program runs");
    assert!(
        out.status.success(),
        "the README's program failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("Approve") || stdout.contains("Refer"),
        "{stdout}"
    );
    // It wrote a log the verifier accepts.
    let s = audit_exporters::file::verify_dir(
        &dir.join("audit-log"),
        &audit_exporters::file::VerifyOptions::default(),
    )
    .expect("the README's log verifies");
    assert!(s.records() >= 2, "{s}");
    let _ = std::fs::remove_dir_all(&dir);
}
