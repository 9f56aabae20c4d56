//! Helpers shared by the OTLP integration tests.
#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Duration;

use audit_exporters::otlp::OtlpConfig;
use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value};

/// A fresh, empty directory under the target dir's temp area.
pub fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "audit-otlp-test-{name}-{}-{}",
        std::process::id(),
        audit_runtime::RecordId::now()
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// A configuration with short timers, so fault tests finish in seconds.
pub fn fast_config(spill: &std::path::Path) -> OtlpConfig {
    OtlpConfig::from_lookup(|_| None)
        .spill_dir(spill)
        .max_export_delay(Duration::from_millis(20))
        .backoff(Duration::from_millis(20), Duration::from_millis(200))
        .timeout(Duration::from_secs(2))
        .flush_timeout(Duration::from_secs(15))
}

/// The string form of an attribute value (ints, bools, doubles rendered; arrays joined by `|`).
pub fn attr(attrs: &[KeyValue], key: &str) -> Option<String> {
    let v = attrs
        .iter()
        .find(|kv| kv.key == key)?
        .value
        .as_ref()?
        .value
        .as_ref()?;
    Some(match v {
        any_value::Value::StringValue(s) => s.clone(),
        any_value::Value::IntValue(i) => i.to_string(),
        any_value::Value::BoolValue(b) => b.to_string(),
        any_value::Value::DoubleValue(d) => d.to_string(),
        any_value::Value::ArrayValue(a) => a
            .values
            .iter()
            .filter_map(|v| match &v.value {
                Some(any_value::Value::StringValue(s)) => Some(s.clone()),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join("|"),
        other => format!("{other:?}"),
    })
}

/// Lower-case hex.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
