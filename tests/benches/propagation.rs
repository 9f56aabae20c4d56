//! Cost per request of carrying the audit context across a service boundary
//! (`audit_runtime::propagation`): `inject` inside an audited call (three headers into a
//! `Vec<(String, String)>`), `extract` of those headers, and both in a row, as a request that
//! goes out of one service and into another pays them.
//!
//! Run: `cargo bench -p audit-benches --bench propagation`. Results go to `docs/BENCHMARKS.md`.

use audit_exporters::MemoryExporter;
use audit_runtime::propagation;
use audit_runtime::{AuditGuard, AuditRuntime, audited_tool};
use divan::{Bencher, black_box};

fn main() {
    divan::main();
}

fn runtime() -> AuditGuard {
    AuditRuntime::builder()
        .service("bench-agent")
        .digest_key(audit_runtime::digest::DigestKey::from_bytes([3; 32]))
        .exporter(MemoryExporter::new())
        .install_thread_local()
        .expect("install")
}

/// An audited call (a decision's id, a session) to inject from: the bench runs in its body.
#[audited_tool(name = "bench.caller", side_effect = none, session = "conv-7")]
fn in_call(f: &mut dyn FnMut()) {
    f();
}

fn injected() -> Vec<(String, String)> {
    let mut h = Vec::new();
    in_call(&mut || {
        assert!(propagation::inject(&mut h));
    });
    h
}

#[divan::bench]
fn inject(b: Bencher<'_, '_>) {
    let _g = runtime();
    let mut b = Some(b);
    in_call(&mut || {
        if let Some(b) = b.take() {
            b.bench_local(|| {
                let mut h: Vec<(String, String)> = Vec::with_capacity(3);
                propagation::inject(&mut h);
                h
            });
        }
    });
}

#[divan::bench]
fn extract(b: Bencher<'_, '_>) {
    let _g = runtime();
    let h = injected();
    b.bench_local(|| propagation::extract(black_box(&h)));
}

#[divan::bench]
fn inject_and_extract(b: Bencher<'_, '_>) {
    let _g = runtime();
    let mut b = Some(b);
    in_call(&mut || {
        if let Some(b) = b.take() {
            b.bench_local(|| {
                let mut h: Vec<(String, String)> = Vec::with_capacity(3);
                propagation::inject(&mut h);
                propagation::extract(black_box(&h))
            });
        }
    });
}

/// A refused header costs no more than an accepted one (no error path allocates much).
#[divan::bench]
fn extract_malformed(b: Bencher<'_, '_>) {
    let h = vec![(
        "traceparent".to_owned(),
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01".to_owned(),
    )];
    b.bench_local(|| propagation::extract(black_box(&h)));
}
