//! Fuzz-style test of the loopback OTLP receiver: arbitrary bytes on its HTTP and gRPC sockets,
//! well-framed HTTP requests whose headers and protobuf bodies are mutated, gzip bodies that
//! are damaged or expand far beyond the body cap. Property: the receiver answers or closes the
//! connection within bounded time, no connection thread panics, and afterwards it still accepts
//! a valid export. `AUDIT_FUZZ_CASES=<n>` runs longer.
#![allow(clippy::unwrap_used)]

mod fuzz_support;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};

use audit_exporters::otlp::receiver::{MAX_BODY, Receiver};
use fuzz_support::{HANG, apply, config, inputs, ops};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use prost::Message;

static PANICS: AtomicU64 = AtomicU64::new(0);

/// Count panics on the receiver's threads (they would only end their connection, unseen).
fn count_receiver_panics() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if std::thread::current()
            .name()
            .is_some_and(|n| n.starts_with("otlp-rx"))
        {
            PANICS.fetch_add(1, Ordering::SeqCst);
        }
        previous(info);
    }));
}

fn attr(key: &str, v: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.into())),
        }),
        ..Default::default()
    }
}

fn traces_body() -> Vec<u8> {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![Span {
                    trace_id: vec![1; 16],
                    span_id: vec![2; 8],
                    name: "audit.decision loan.approve".into(),
                    attributes: vec![attr("audit.record_id", "x"), attr("gen_ai.system", "y")],
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

fn logs_body() -> Vec<u8> {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: vec![LogRecord {
                    body: Some(AnyValue {
                        value: Some(any_value::Value::StringValue("{}".into())),
                    }),
                    attributes: vec![attr("audit.kind", "decision")],
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

fn request(path: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut r = format!("POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\n");
    for (k, v) in headers {
        r.push_str(&format!("{k}: {v}\r\n"));
    }
    r.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
    let mut r = r.into_bytes();
    r.extend_from_slice(body);
    r
}

fn chunked(path: &str, body: &[u8]) -> Vec<u8> {
    let mut r = format!("POST {path} HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n").into_bytes();
    for c in body.chunks(7) {
        r.extend(format!("{:x}\r\n", c.len()).bytes());
        r.extend_from_slice(c);
        r.extend(b"\r\n");
    }
    r.extend(b"0\r\n\r\n");
    r
}

fn seeds() -> Vec<Vec<u8>> {
    let ct = ("content-type", "application/x-protobuf");
    vec![
        request("/v1/traces", &[ct], &traces_body()),
        request("/v1/logs", &[ct], &logs_body()),
        request(
            "/v1/traces",
            &[ct, ("content-encoding", "gzip")],
            &gzip(&traces_body()),
        ),
        chunked("/v1/logs", &logs_body()),
    ]
}

/// Send `bytes`, close the sending half, read whatever comes back until the receiver closes.
/// Returns the reply bytes; fails the test if the receiver neither answers nor closes.
fn exchange(addr: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(HANG)).unwrap();
    // The receiver may close before reading everything (a refused header): ignore write errors.
    let _ = s.write_all(bytes);
    let _ = s.shutdown(Shutdown::Write);
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                panic!("the receiver neither answered nor closed within {HANG:?}")
            }
            // Reset by the receiver after a refused request: an answer of sorts.
            Err(_) => break,
        }
    }
    out
}

fn status(reply: &[u8]) -> Option<u16> {
    let line = reply.split(|&b| b == b'\r').next()?;
    std::str::from_utf8(line)
        .ok()?
        .split(' ')
        .nth(1)?
        .parse()
        .ok()
}

fn still_serves(rx: &Receiver) {
    let before = rx.accepted_counts();
    let reply = exchange(rx.http_addr(), &seeds()[0]);
    assert_eq!(
        status(&reply),
        Some(200),
        "{}",
        String::from_utf8_lossy(&reply)
    );
    assert_eq!(rx.accepted_counts().0, before.0 + 1);
}

/// A well-framed request (right content-length) with mutated path, headers and body, so the
/// bytes reach the gzip and protobuf decoders.
fn framed() -> impl Strategy<Value = Vec<u8>> {
    let bodies = [traces_body(), logs_body(), gzip(&traces_body())];
    (
        prop_oneof![Just("/v1/traces"), Just("/v1/logs"), Just("/x")],
        any::<bool>(),
        0..bodies.len(),
        ops(),
    )
        .prop_map(move |(path, gz, i, ops)| {
            let body = apply(&bodies[i], &ops);
            let headers: &[(&str, &str)] = if gz || i == 2 {
                &[("content-encoding", "gzip")]
            } else {
                &[]
            };
            request(path, headers, &body)
        })
}

/// A chunked request whose chunk-size lines are anything a client may write: right, too
/// large, near `usize::MAX`, negative, with extensions, not hex.
fn chunked_sizes() -> impl Strategy<Value = Vec<u8>> {
    let size = prop_oneof![
        3 => Just(None),
        1 => any::<u64>().prop_map(|n| Some(format!("{n:x}"))),
        2 => Just(Some("ffffffffffffffff".to_owned())),
        1 => Just(Some("fffffffffffffffff".to_owned())),
        1 => Just(Some("-1".to_owned())),
        1 => Just(Some("0x10".to_owned())),
        1 => Just(Some("4;ext=1".to_owned())),
        1 => Just(Some(String::new())),
        // Around the cap (a right size there allocates 64 MiB: rarely).
        1 => prop_oneof![
            8 => 0usize..0x10000,
            1 => Just(MAX_BODY),
            1 => Just(MAX_BODY + 1),
        ]
        .prop_map(|n| Some(format!("{n:x}"))),
    ];
    (
        proptest::collection::vec((size, 1usize..9), 1..5),
        any::<bool>(),
    )
        .prop_map(|(chunks, end)| {
            let body = logs_body();
            let mut r = b"POST /v1/logs HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n".to_vec();
            let mut at = 0;
            // A right first chunk, so a later size is added to a body already started.
            let chunks = std::iter::once((None, 4)).chain(chunks);
            for (size, len) in chunks {
                let piece = &body[at.min(body.len())..(at + len).min(body.len())];
                at += len;
                let line = size.unwrap_or_else(|| format!("{:x}", piece.len()));
                r.extend(line.bytes());
                r.extend(b"\r\n");
                r.extend_from_slice(piece);
                r.extend(b"\r\n");
            }
            if end {
                r.extend(b"0\r\n\r\n");
            }
            r
        })
}

#[test]
fn receiver_survives_any_bytes() {
    count_receiver_panics();
    let rx = Receiver::start().unwrap();
    rx.count_only();
    let mut runner = TestRunner::new(config(48));
    runner
        .run(&inputs(seeds()), |bytes| {
            exchange(rx.http_addr(), &bytes);
            Ok(())
        })
        .unwrap();
    let mut runner = TestRunner::new(config(48));
    runner
        .run(&framed(), |bytes| {
            let reply = exchange(rx.http_addr(), &bytes);
            // Framed requests are always answered.
            prop_assert!(status(&reply).is_some(), "no status line");
            Ok(())
        })
        .unwrap();
    let mut runner = TestRunner::new(config(48));
    runner
        .run(&chunked_sizes(), |bytes| {
            // The hook runs before the panicking thread drops the connection, so the count is
            // up to date once the exchange has seen the connection close.
            let before = PANICS.load(Ordering::SeqCst);
            exchange(rx.http_addr(), &bytes);
            prop_assert_eq!(
                PANICS.load(Ordering::SeqCst),
                before,
                "a receiver thread panicked"
            );
            Ok(())
        })
        .unwrap();
    let mut runner = TestRunner::new(config(16));
    runner
        .run(
            &inputs(vec![b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec()]),
            |bytes| {
                exchange(rx.grpc_addr(), &bytes);
                Ok(())
            },
        )
        .unwrap();
    assert_eq!(
        PANICS.load(Ordering::SeqCst),
        0,
        "a receiver thread panicked"
    );
    still_serves(&rx);
}

/// Regression: a gzip body that expands past the body cap is refused, not inflated in memory.
#[test]
fn gzip_bomb_is_refused() {
    let rx = Receiver::start().unwrap();
    // A valid export whose span name alone is over the cap: accepted if it were inflated.
    let huge = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![Span {
                    name: "a".repeat(MAX_BODY + 1),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec();
    let bomb = gzip(&huge);
    drop(huge);
    assert!(bomb.len() < 1 << 20, "{}", bomb.len());
    let reply = exchange(
        rx.http_addr(),
        &request("/v1/traces", &[("content-encoding", "gzip")], &bomb),
    );
    assert_eq!(status(&reply), Some(400));
    // A huge chunk size and an endless header line end the connection without an answer.
    let reply = exchange(
        rx.http_addr(),
        b"POST /v1/traces HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\nffffffffffffffff\r\n",
    );
    assert_eq!(status(&reply), None);
    let mut long = b"POST /v1/traces HTTP/1.1\r\nx: ".to_vec();
    long.extend(std::iter::repeat_n(b'a', 1 << 20));
    assert_eq!(status(&exchange(rx.http_addr(), &long)), None);
    still_serves(&rx);
}
