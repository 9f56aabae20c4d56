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

/// How many times each record id arrived at any of `rxs`, as a span or a log record.
pub fn arrivals(
    rxs: &[&audit_exporters::otlp::receiver::Receiver],
) -> std::collections::HashMap<String, usize> {
    let mut m = std::collections::HashMap::new();
    for rx in rxs {
        let ids = rx
            .spans()
            .into_iter()
            .map(|s| attr(&s.attributes, "audit.record_id"))
            .chain(
                rx.logs()
                    .into_iter()
                    .map(|l| attr(&l.attributes, "audit.record_id")),
            );
        for id in ids {
            *m.entry(id.expect("record id")).or_insert(0) += 1;
        }
    }
    m
}

/// Every record arrived exactly once at `rxs` taken together, and nothing else arrived.
pub fn assert_each_once(
    rxs: &[&audit_exporters::otlp::receiver::Receiver],
    records: &[audit_runtime::record::AuditRecord],
) {
    let got = arrivals(rxs);
    for r in records {
        assert_eq!(
            got.get(&r.record_id.to_string()),
            Some(&1),
            "record seq {} arrivals",
            r.seq
        );
    }
    assert_eq!(
        got.len(),
        records.len(),
        "nothing arrived that was not made"
    );
}
