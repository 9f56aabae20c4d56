//! Errors about the spill directory name the setting it came from, on a real exporter and a
//! real directory.

#![allow(clippy::unwrap_used)]

mod otlp_common;

use audit_exporters::otlp::{OtlpConfig, OtlpError, OtlpExporter};
use otlp_common::temp_dir;

fn lookup(dir: &std::path::Path) -> OtlpConfig {
    let dir = dir.to_string_lossy().into_owned();
    OtlpConfig::from_lookup(move |k| (k == "AUDIT_OTLP_SPILL_DIR").then(|| dir.clone()))
}

fn setting_of(e: &OtlpError) -> &str {
    match e {
        OtlpError::Spill { setting, .. } => setting,
        other => panic!("not a spill error: {other}"),
    }
}

#[test]
fn unusable_spill_dir_names_its_setting() {
    let base = temp_dir("config");
    let file = base.join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let spill = file.join("spill");

    let err = OtlpExporter::new(lookup(&spill)).unwrap_err();
    assert_eq!(setting_of(&err), "AUDIT_OTLP_SPILL_DIR", "{err}");
    assert!(err.to_string().contains("AUDIT_OTLP_SPILL_DIR"), "{err}");

    let err = OtlpExporter::new(lookup(&base).spill_dir(&spill)).unwrap_err();
    assert_eq!(setting_of(&err), "OtlpConfig::spill_dir", "{err}");
    assert!(err.to_string().contains("OtlpConfig::spill_dir"), "{err}");
    assert!(
        !err.to_string().contains("from AUDIT_OTLP_SPILL_DIR"),
        "{err}"
    );
    std::fs::remove_dir_all(&base).unwrap();
}

#[test]
fn locked_spill_dir_names_its_setting() {
    let dir = temp_dir("config-locked");
    let first = OtlpExporter::new(lookup(&dir)).unwrap();
    let err = OtlpExporter::new(lookup(&dir)).unwrap_err();
    assert_eq!(setting_of(&err), "AUDIT_OTLP_SPILL_DIR", "{err}");
    let text = err.to_string();
    assert!(text.contains("locked"), "{text}");
    assert!(text.contains("from AUDIT_OTLP_SPILL_DIR"), "{text}");
    drop(first);
    // Released: the directory is usable again.
    drop(OtlpExporter::new(lookup(&dir)).unwrap());
    std::fs::remove_dir_all(&dir).unwrap();
}
