//! Redaction cost per record: sealing a typical record (serialize + BLAKE3 + line) with and
//! without the built-in redaction engine, for 1 KB and 16 KB of captured text, with text that
//! holds nothing sensitive ("clean") and text with a few e-mails, card numbers and keys per KB
//! ("pii").
//!
//! Run: `cargo bench -p audit-benches --bench redaction`. Results go to `docs/BENCHMARKS.md`.

use std::hint::black_box;

use audit_runtime::RecordId;
use audit_runtime::chain::ChainHead;
use audit_runtime::digest::DigestKey;
use audit_runtime::point::PointKind;
use audit_runtime::record::{
    AuditRecord, CaptureMode, CapturedValue, Correlation, Inputs, NamedValue, Outcome,
    OutcomeStatus, PointInfo, Rationale, RecordKind, Redactions, SCHEMA_VERSION, ServiceInfo,
    TimeInfo,
};
use audit_runtime::redact::{
    RedactContext, RedactionConfig, RedactionCounters, RedactionEngine, Redactor,
};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use serde_json::json;

const WORDS: &[&str] = &[
    "the",
    "customer",
    "asked",
    "about",
    "their",
    "loan",
    "application",
    "and",
    "whether",
    "the",
    "income",
    "documents",
    "were",
    "received",
    "by",
    "underwriting",
    "on",
    "Tuesday",
    "agent",
    "reviewed",
    "policy",
    "section",
    "4.2",
    "score",
    "0.87",
    "threshold",
    "approved",
    "pending",
    "manual",
    "review",
    "order",
    "12345",
    "ticket",
    "v2.3.1",
    "at",
    "10:30",
    "2026-11-02",
];

const PII: &[&str] = &[
    "jane.doe@example.com",
    "4111 1111 1111 1111",
    "AKIAIOSFODNN7EXAMPLE",
    "+44 20 7946 0958",
    "GB82 WEST 1234 5698 7654 32",
];

/// About `bytes` of text; with `pii`, one sensitive item roughly every 330 bytes.
fn text(bytes: usize, pii: bool) -> String {
    let mut s = String::with_capacity(bytes + 64);
    let mut i = 0usize;
    while s.len() < bytes {
        if pii && i % 50 == 49 {
            s.push_str(PII[(i / 50) % PII.len()]);
        } else {
            s.push_str(WORDS[(i * 7 + i / 3) % WORDS.len()]);
        }
        s.push(' ');
        i += 1;
    }
    s
}

fn record(text_bytes: usize, pii: bool) -> AuditRecord {
    let message = text(text_bytes, pii);
    AuditRecord {
        v: SCHEMA_VERSION,
        record_id: RecordId::now(),
        kind: RecordKind::Decision.into(),
        seq: 0,
        prev: String::new(),
        service: ServiceInfo {
            name: "bench".into(),
            version: None,
            instance: RecordId::now(),
        },
        point: Some(PointInfo {
            name: "support.reply".into(),
            kind: PointKind::Decision.into(),
            crate_name: "bench".into(),
            crate_version: "0.1.0".into(),
            module: "bench".into(),
            function: "reply".into(),
            file: "benches/redaction.rs".into(),
            line: 1,
        }),
        time: TimeInfo {
            start: "2026-11-02T10:30:00.000000000Z".into(),
            end: None,
            duration_ns: Some(1000),
        },
        correlation: Correlation {
            session_id: Some("session-42".into()),
            ..Correlation::default()
        },
        refers_to: None,
        inputs: Some(Inputs {
            digest: None,
            args: vec![NamedValue {
                name: "request".into(),
                captured: CapturedValue {
                    mode: CaptureMode::Captured.into(),
                    value: Some(json!({
                        "customer_id": "c-1234",
                        "channel": "web",
                        "locale": "en-GB",
                        "message": message,
                        "history": ["hello", "I need help with my loan", "thanks"],
                        "amount": 12500,
                    })),
                    digest: None,
                    error: None,
                },
            }],
        }),
        versions: Vec::new(),
        unversioned: None,
        code_version: Some("bench@0.1.0".into()),
        rationale: Rationale {
            explanation: Some("score above threshold; no manual review needed".into()),
            signals: Vec::new(),
        },
        outcome: Some(Outcome {
            status: OutcomeStatus::Ok.into(),
            value: Some(CapturedValue {
                mode: CaptureMode::Captured.into(),
                value: Some(json!({"reply": "Your application is approved.", "approved": true})),
                digest: None,
                error: None,
            }),
            error: None,
            error_type: None,
            error_dyn_type: None,
            error_sources: Vec::new(),
            side_effect: None,
        }),
        lineage: Vec::new(),
        human_action: None,
        finding: None,
        redactions: Redactions::default(),
        attributes: serde_json::Map::new(),
        remote_parent: None,
        remote_calls: Vec::new(),
    }
}

fn bench(c: &mut Criterion) {
    let engine = RedactionEngine::new(&RedactionConfig::default()).expect("engine");
    let key = DigestKey::from_bytes([9; 32]);
    let counters = RedactionCounters::default();
    let cx = RedactContext::new(None, &key, &counters);
    let mut g = c.benchmark_group("redaction");
    for (label, bytes) in [("1KB", 1024), ("16KB", 16 * 1024)] {
        for (kind, pii) in [("clean", false), ("pii", true)] {
            let r = record(bytes, pii);
            let mut head = ChainHead::default();
            g.bench_function(format!("seal_only/{label}/{kind}"), |b| {
                b.iter_batched(
                    || r.clone(),
                    |rec| black_box(head.seal(rec)),
                    BatchSize::SmallInput,
                )
            });
            g.bench_function(format!("redact_only/{label}/{kind}"), |b| {
                b.iter_batched(
                    || r.clone(),
                    |mut rec| {
                        engine.redact(&cx, &mut rec);
                        black_box(rec)
                    },
                    BatchSize::SmallInput,
                )
            });
            let mut head = ChainHead::default();
            g.bench_function(format!("redact_and_seal/{label}/{kind}"), |b| {
                b.iter_batched(
                    || r.clone(),
                    |mut rec| {
                        engine.redact(&cx, &mut rec);
                        black_box(head.seal(rec))
                    },
                    BatchSize::SmallInput,
                )
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
