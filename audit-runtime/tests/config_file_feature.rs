//! `AUDIT_REDACTION_CONFIG` with and without the `config-file` feature, in a child process (the
//! variable is process-wide, and setting it in this process would need `unsafe`).
//!
//! With the feature (the default) the file named by the variable is read: a file that is not
//! valid TOML makes installation fail naming the file. Without it (`cargo test -p audit-runtime
//! --no-default-features --test config_file_feature`) installation refuses
//! while the variable is set, naming the variable and the feature, instead of running without
//! the rules it names.
#![allow(clippy::unwrap_used)]

use std::process::Command;

use audit_runtime::AuditRuntime;
use audit_runtime::chain::SealedRecord;
use audit_runtime::export::{ExportError, Exporter};

struct Discard;

impl Exporter for Discard {
    fn name(&self) -> &str {
        "discard"
    }
    fn export(&mut self, _batch: &[SealedRecord]) -> Result<(), ExportError> {
        Ok(())
    }
}

/// Runs only in the child (the parent sets `AUDIT_REDACTION_CONFIG`): install and print the
/// error for the parent to check.
#[test]
fn child_install() {
    if std::env::var_os("AUDIT_REDACTION_CONFIG").is_none() {
        return;
    }
    match AuditRuntime::builder()
        .service("config-file-feature")
        .exporter(Discard)
        .install_thread_local()
    {
        Ok(_) => println!("INSTALLED"),
        Err(e) => println!("ERROR: {e}"),
    }
}

#[test]
fn the_redaction_config_variable_is_never_ignored() {
    let dir = std::env::temp_dir().join(format!("audit-cfg-feature-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("rules.toml");
    std::fs::write(&path, "this is = not [valid toml\n").unwrap();
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_install",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("AUDIT_REDACTION_CONFIG", &path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(!stdout.contains("INSTALLED"), "{stdout}");
    let shown = path.display().to_string();
    assert!(
        stdout.contains(&shown),
        "the error names the file: {stdout}"
    );
    if cfg!(feature = "config-file") {
        // The parser's message: the file was read.
        assert!(
            stdout.contains("audit redaction rules: redaction config"),
            "{stdout}"
        );
        assert!(!stdout.contains("`config-file` feature"), "{stdout}");
    } else {
        assert!(stdout.contains("AUDIT_REDACTION_CONFIG="), "{stdout}");
        assert!(stdout.contains("`config-file` feature"), "{stdout}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
