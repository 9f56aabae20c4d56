//! OTLP export throughput and caller-thread cost, against the loopback receiver (which decodes
//! every request, as a collector would) on the same machine.
//!
//! ```text
//! cargo bench -p audit-benches --bench otlp
//! ```
//! Results and the machine they were measured on: `docs/BENCHMARKS.md`, "OTLP".
//!
//! * `export_*`: one timed iteration hands 512 sealed records (~1 KB of captured input each) to
//!   the exporter and flushes, i.e. waits until the collector accepted them: records per second
//!   end to end (mapping, protobuf encoding, the request, the receiver's decoding).
//! * `caller_*`: one audited call with ~1 KB of captured input, with the runtime installed and
//!   exporting to OTLP (or to an exporter that discards, as the baseline). The pipeline worker
//!   and the OTLP sender run on the other core; the queue blocks when full, so a slower exporter
//!   shows up here too.

use std::sync::Arc;
use std::time::Duration;

use audit_exporters::MemoryExporter;
use audit_exporters::otlp::receiver::Receiver;
use audit_exporters::otlp::{OtlpConfig, OtlpExporter, Protocol};
use audit_runtime::chain::{SealedRecord, check_line};
use audit_runtime::export::{ExportError, Exporter};
use audit_runtime::{AuditRuntime, audited_decision};
use divan::counter::ItemsCount;
use divan::{Bencher, black_box};

fn main() {
    divan::main();
}

const BATCH: usize = 512;

#[audited_decision(name = "bench.approve", unversioned = "benchmark", capture(amount, note), output = capture)]
fn approve(amount: u64, note: &str) -> bool {
    black_box(note);
    amount < 10_000
}

fn note() -> String {
    "lorem ipsum dolor sit amet ".repeat(38) // ~1 KB
}

/// Real sealed records, produced by the runtime.
fn sealed(n: usize) -> Vec<SealedRecord> {
    let mem = MemoryExporter::new();
    let guard = AuditRuntime::builder()
        .service("otlp-bench")
        .digest_key(audit_runtime::digest::DigestKey::from_bytes([7; 32]))
        .exporter(mem.clone())
        .install_thread_local()
        .expect("install");
    let note = note();
    for i in 0..n {
        approve(i as u64, &note);
    }
    guard.flush().expect("flush");
    drop(guard);
    mem.lines()
        .into_iter()
        .map(|l| {
            let (record, hash) = check_line(&l).expect("valid line");
            SealedRecord {
                record: Arc::new(record),
                hash,
                line: l.into(),
            }
        })
        .collect()
}

fn exporter(rx: &Receiver, protocol: Protocol) -> OtlpExporter {
    let endpoint = match protocol {
        Protocol::Grpc => rx.grpc_endpoint(),
        Protocol::HttpProtobuf => rx.http_endpoint(),
    };
    let spill = std::env::temp_dir().join(format!(
        "audit-otlp-bench-{}",
        audit_runtime::RecordId::now()
    ));
    OtlpExporter::new(
        OtlpConfig::from_lookup(|_| None)
            .protocol(protocol)
            .endpoint(endpoint)
            .spill_dir(spill)
            .batch_max(BATCH)
            .max_export_delay(Duration::from_millis(5))
            .flush_timeout(Duration::from_secs(60)),
    )
    .expect("exporter")
}

fn export(bencher: Bencher<'_, '_>, protocol: Protocol) {
    let rx = Receiver::start().expect("receiver");
    rx.count_only();
    let mut exp = exporter(&rx, protocol);
    let batch = sealed(BATCH);
    bencher.counter(ItemsCount::new(BATCH)).bench_local(|| {
        exp.export(&batch).expect("export");
        exp.flush().expect("flush");
    });
    let s = exp.stats();
    assert_eq!((s.pending, s.spilled, s.dead_lettered), (0, 0, 0), "{s:?}");
    exp.shutdown().expect("shutdown");
}

#[divan::bench(sample_count = 30)]
fn export_grpc(bencher: Bencher<'_, '_>) {
    export(bencher, Protocol::Grpc);
}

#[divan::bench(sample_count = 30)]
fn export_http(bencher: Bencher<'_, '_>) {
    export(bencher, Protocol::HttpProtobuf);
}

/// Takes records and drops them: the baseline for the caller-thread cost.
#[derive(Debug)]
struct Discard;

impl Exporter for Discard {
    fn name(&self) -> &str {
        "discard"
    }
    fn export(&mut self, batch: &[SealedRecord]) -> Result<(), ExportError> {
        black_box(batch);
        Ok(())
    }
}

fn caller(bencher: Bencher<'_, '_>, exp: impl Exporter) {
    let guard = AuditRuntime::builder()
        .service("otlp-bench")
        .digest_key(audit_runtime::digest::DigestKey::from_bytes([7; 32]))
        .exporter(exp)
        .install_thread_local()
        .expect("install");
    let note = note();
    let mut i = 0u64;
    bencher.bench_local(|| {
        i += 1;
        approve(black_box(i), &note)
    });
    guard.flush().expect("flush");
}

#[divan::bench(sample_count = 100, sample_size = 100)]
fn caller_discard(bencher: Bencher<'_, '_>) {
    caller(bencher, Discard);
}

#[divan::bench(sample_count = 100, sample_size = 100)]
fn caller_otlp_grpc(bencher: Bencher<'_, '_>) {
    let rx = Receiver::start().expect("receiver");
    rx.count_only();
    caller(bencher, exporter(&rx, Protocol::Grpc));
}

#[divan::bench(sample_count = 100, sample_size = 100)]
fn caller_otlp_http(bencher: Bencher<'_, '_>) {
    let rx = Receiver::start().expect("receiver");
    rx.count_only();
    caller(bencher, exporter(&rx, Protocol::HttpProtobuf));
}
