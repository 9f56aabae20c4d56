//! Delivery under faults, over real loopback sockets: a collector that throttles and fails and
//! then recovers, one that refuses data for good or in part, one that is down from the start
//! (records spill to disk and arrive later, in order, once), and a spill file that outlives
//! its process.

#![allow(clippy::unwrap_used)]

mod otlp_common;

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use audit_exporters::MemoryExporter;
use audit_exporters::otlp::receiver::{Receiver, Reply};
use audit_exporters::otlp::{OtlpExporter, Protocol};
use audit_runtime::{AuditGuard, AuditRuntime, audited_decision, audited_tool};
use otlp_common::{assert_each_once, attr, fast_config, temp_dir};

#[audited_tool(capture(i))]
fn step(i: u32) -> u32 {
    i * 2
}

#[audited_decision(unversioned = "test", capture(i))]
fn decide(i: u32) -> u32 {
    step(i) + 1
}

fn install(otlp: OtlpExporter, mem: &MemoryExporter) -> AuditGuard {
    AuditRuntime::builder()
        .service("otlp-faults")
        .exporter(mem.clone())
        .exporter(otlp)
        .install_thread_local()
        .expect("install")
}

fn endpoint(rx: &Receiver, p: Protocol) -> String {
    match p {
        Protocol::Grpc => rx.grpc_endpoint(),
        Protocol::HttpProtobuf => rx.http_endpoint(),
    }
}

/// Record id -> how many times it arrived in an accepted request (spans and logs).
/// Spans arrive in chain order: `audit.seq` increases in arrival order.
fn assert_span_order(rx: &Receiver) {
    let seqs: Vec<u64> = rx
        .spans()
        .iter()
        .map(|s| {
            attr(&s.attributes, "audit.seq")
                .and_then(|v| v.parse().ok())
                .expect("seq")
        })
        .collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "spans out of order: {seqs:?}"
    );
}

fn throttled_then_recovers(protocol: Protocol) {
    let rx = Receiver::start().expect("receiver");
    rx.script([
        Reply::Http {
            status: 429,
            retry_after: Some("1".into()),
        },
        Reply::Http {
            status: 503,
            retry_after: None,
        },
        Reply::Grpc {
            code: tonic::Code::Unavailable,
            retry_delay: None,
        },
        Reply::Grpc {
            code: tonic::Code::ResourceExhausted,
            retry_delay: Some(Duration::from_millis(700)),
        },
        Reply::Http {
            status: 503,
            retry_after: None,
        },
    ]);
    let spill = temp_dir("throttle");
    let otlp = OtlpExporter::new(
        fast_config(&spill)
            .protocol(protocol)
            .endpoint(endpoint(&rx, protocol))
            .batch_max(16)
            .spill_after(Duration::from_secs(120)),
    )
    .expect("exporter");
    let monitor = otlp.monitor();
    let mem = MemoryExporter::new();
    let guard = install(otlp, &mem);
    for i in 0..100 {
        decide(i);
    }
    guard.flush().expect("flush");
    let records = mem.records();
    assert_eq!(records.len(), 200);
    assert_each_once(&[&rx], &records);
    assert_span_order(&rx);

    let reqs = rx.requests();
    let failed = reqs.iter().filter(|r| !r.accepted()).count();
    assert_eq!(failed, 5, "every scripted failure was met");
    let stats = monitor.stats();
    assert_eq!(stats.retries, 5, "{stats:?}");
    assert_eq!(stats.sent_spans, 200);
    assert_eq!(
        (stats.pending, stats.spilled, stats.dead_lettered),
        (0, 0, 0),
        "{stats:?}"
    );
    // The server's requested delays were honoured: 1 s after the 429 (Retry-After: 1, or its
    // RetryInfo over gRPC), 700 ms after RESOURCE_EXHAUSTED with RetryInfo.
    let gap_after = |i: usize| reqs[i + 1].at.duration_since(reqs[i].at);
    assert!(
        gap_after(0) >= Duration::from_millis(950),
        "{:?}",
        gap_after(0)
    );
    assert!(
        gap_after(3) >= Duration::from_millis(650),
        "{:?}",
        gap_after(3)
    );
    drop(guard);
}

#[test]
fn http_throttled_and_unavailable_then_recovers_every_record_once() {
    throttled_then_recovers(Protocol::HttpProtobuf);
}

#[test]
fn grpc_throttled_and_unavailable_then_recovers_every_record_once() {
    throttled_then_recovers(Protocol::Grpc);
}

#[test]
fn partial_success_is_counted_and_not_resent() {
    for protocol in [Protocol::HttpProtobuf, Protocol::Grpc] {
        let rx = Receiver::start().expect("receiver");
        rx.script([Reply::Partial {
            rejected: 3,
            message: "3 spans too large".into(),
        }]);
        let spill = temp_dir("partial");
        let otlp = OtlpExporter::new(
            fast_config(&spill)
                .protocol(protocol)
                .endpoint(endpoint(&rx, protocol)),
        )
        .expect("exporter");
        let monitor = otlp.monitor();
        let mem = MemoryExporter::new();
        let guard = install(otlp, &mem);
        for i in 0..10 {
            decide(i);
        }
        guard.flush().expect("flush");
        assert_each_once(&[&rx], &mem.records());
        let stats = monitor.stats();
        assert_eq!(stats.partially_rejected, 3, "{protocol:?} {stats:?}");
        assert_eq!(stats.retries, 0);
    }
}

#[test]
fn permanent_refusal_is_dead_lettered_not_retried() {
    for protocol in [Protocol::HttpProtobuf, Protocol::Grpc] {
        let rx = Receiver::start().expect("receiver");
        rx.script([Reply::Http {
            status: 400,
            retry_after: None,
        }]);
        let spill = temp_dir("refused");
        let otlp = OtlpExporter::new(
            fast_config(&spill)
                .protocol(protocol)
                .endpoint(endpoint(&rx, protocol))
                .batch_max(10),
        )
        .expect("exporter");
        let monitor = otlp.monitor();
        let mem = MemoryExporter::new();
        let guard = install(otlp, &mem);
        for i in 0..5 {
            decide(i); // 10 records: exactly one batch
        }
        guard.flush().expect("flush");
        for i in 5..10 {
            decide(i);
        }
        guard.flush().expect("flush");
        let stats = monitor.stats();
        assert_eq!(stats.dead_lettered, 10, "{protocol:?} {stats:?}");
        assert_eq!(stats.sent_spans, 10, "{stats:?}");
        assert_eq!(stats.retries, 0, "a 400 is not retried");
        let lines = mem.lines();
        let rejected =
            std::fs::read_to_string(spill.join("otlp-rejected.jsonl")).expect("rejected file");
        let rejected: Vec<&str> = rejected.lines().collect();
        assert_eq!(
            rejected,
            lines[..10].iter().map(String::as_str).collect::<Vec<_>>()
        );
        assert_eq!(rx.spans().len(), 10, "the later batch was delivered");
        drop(guard);
    }
}

/// A loopback address nothing listens on (yet).
fn free_addr() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr")
}

fn down_from_start(protocol: Protocol) {
    let (http, grpc) = (free_addr(), free_addr());
    let target = match protocol {
        Protocol::Grpc => format!("http://{grpc}"),
        Protocol::HttpProtobuf => format!("http://{http}"),
    };
    let spill = temp_dir("down");
    let otlp = OtlpExporter::new(
        fast_config(&spill)
            .protocol(protocol)
            .endpoint(target)
            .batch_max(32)
            .spill_after(Duration::from_millis(300))
            .flush_timeout(Duration::from_secs(1)),
    )
    .expect("exporter");
    let monitor = otlp.monitor();
    let mem = MemoryExporter::new();
    let guard = install(otlp, &mem);
    for i in 0..150 {
        decide(i);
    }
    guard
        .flush()
        .expect("flush returns once records are durable in the spill file");
    let stats = monitor.stats();
    assert_eq!(stats.pending, 300, "{stats:?}");
    assert_eq!(stats.spilled, 300, "{stats:?}");
    assert!(stats.retries > 0 && stats.last_error.is_some(), "{stats:?}");
    let spilled = std::fs::read_to_string(spill.join("otlp-spill.jsonl")).expect("spill file");
    assert_eq!(
        spilled.lines().collect::<Vec<_>>(),
        mem.lines(),
        "the spill file holds the exact lines, in order"
    );

    // More records while the collector is still down go behind them.
    for i in 150..160 {
        decide(i);
    }
    guard.flush().expect("flush");

    // The collector comes up on the configured port.
    let rx = Receiver::bind(http, grpc).expect("receiver");
    guard.flush().expect("flush");
    let records = mem.records();
    assert_eq!(records.len(), 320);
    assert!(
        rx.wait_for_spans(320, Duration::from_secs(30)),
        "only {}",
        rx.spans().len()
    );
    assert_each_once(&[&rx], &records);
    assert_span_order(&rx);
    let stats = monitor.stats();
    assert_eq!((stats.pending, stats.unspilled), (0, 320), "{stats:?}");
    assert_eq!(
        std::fs::metadata(spill.join("otlp-spill.jsonl"))
            .expect("spill")
            .len(),
        0
    );
    drop(guard);
}

#[test]
fn http_collector_down_from_the_start_spills_then_delivers_in_order_once() {
    down_from_start(Protocol::HttpProtobuf);
}

#[test]
fn grpc_collector_down_from_the_start_spills_then_delivers_in_order_once() {
    down_from_start(Protocol::Grpc);
}

#[test]
fn spill_file_outlives_the_process_and_is_sent_by_the_next_exporter() {
    let (http, grpc) = (free_addr(), free_addr());
    let spill = temp_dir("restart");
    let first = OtlpExporter::new(
        fast_config(&spill)
            .endpoint(format!("http://{http}"))
            .spill_after(Duration::from_millis(100))
            .flush_timeout(Duration::from_millis(500)),
    )
    .expect("exporter");
    let mem = MemoryExporter::new();
    let guard = install(first, &mem);
    for i in 0..20 {
        decide(i);
    }
    let _ = guard.shutdown();
    let first_records = mem.records();
    assert_eq!(first_records.len(), 40);

    let rx = Receiver::bind(http, grpc).expect("receiver");
    let second =
        OtlpExporter::new(fast_config(&spill).endpoint(rx.http_endpoint())).expect("exporter");
    assert_eq!(second.recovered().pending_lines, 40);
    let monitor = second.monitor();
    assert!(rx.wait_for_spans(40, Duration::from_secs(20)));
    assert_each_once(&[&rx], &first_records);
    assert_span_order(&rx);
    drop(second);
    assert_eq!(monitor.stats().unspilled, 40);
}

#[test]
fn timed_out_request_is_retried_with_the_same_ids() {
    let rx = Receiver::start().expect("receiver");
    rx.script([Reply::Delay(Duration::from_millis(1500))]);
    let spill = temp_dir("timeout");
    let otlp = OtlpExporter::new(
        fast_config(&spill)
            .endpoint(rx.http_endpoint())
            .timeout(Duration::from_millis(300)),
    )
    .expect("exporter");
    let monitor = otlp.monitor();
    let mem = MemoryExporter::new();
    let guard = install(otlp, &mem);
    decide(1);
    guard.flush().expect("flush");
    assert!(rx.wait_for_spans(4, Duration::from_secs(10)));
    assert!(monitor.stats().retries >= 1);
    // The slow request was processed by the server *and* retried: at-least-once. Both copies
    // carry identical trace and span ids, which is what lets a backend deduplicate.
    let spans = rx.spans();
    let mut by_id: HashMap<Vec<u8>, Vec<&opentelemetry_proto::tonic::trace::v1::Span>> =
        HashMap::new();
    for s in &spans {
        by_id.entry(s.span_id.clone()).or_default().push(s);
    }
    assert_eq!(by_id.len(), 2, "two distinct spans");
    for copies in by_id.values() {
        assert!(copies.len() >= 2);
        assert!(
            copies.windows(2).all(|w| w[0] == w[1]),
            "copies are identical"
        );
    }
}
