//! A tool that is its own service: an HTTP/1.1 server on loopback whose requests run an audited
//! tool under the caller's propagated audit context (`docs/PROPAGATION.md`).
//!
//! ```text
//! cargo run -p examples --example tool_service -- <log dir>
//! ```
//!
//! It prints `listening <port>` on stdout, then serves, one connection at a time:
//!
//! * `POST /score` with a decimal amount as the body: extracts `traceparent`/`tracestate`/
//!   `baggage`, runs the audited tool `risk.score` under the extracted context (or, when the
//!   headers are absent or refused, as a new tree) and answers the score. The response says what
//!   extraction did (`x-propagation: ok | <error>`), the process's count of refused contexts
//!   (`x-propagation-rejected`) and the service name (`x-audit-service`), which the caller
//!   records on its own record;
//! * `POST /shutdown`: answers, flushes the audit log and exits.
//!
//! Its records go to a file log in `<log dir>` (service `tool-service`), so a test can read the
//! two processes' logs side by side. std::net only: no HTTP library.
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};

use audit_exporters::FileExporter;
use audit_runtime::propagation::{self, PropagationError};
use audit_runtime::{AuditRuntime, audited_tool};

/// The remote tool: a made-up risk score.
#[audited_tool(name = "risk.score", capture(amount), output = capture, side_effect = none)]
fn score(amount: u64) -> u64 {
    // A nested call, to show that the remote parent is marked only on the direct child.
    bucket(amount) * 10
}

#[audited_tool(name = "risk.bucket", side_effect = none)]
fn bucket(amount: u64) -> u64 {
    (amount / 1_000).min(9)
}

/// The longest request head read (request line and headers), like a small server's limit.
const MAX_HEAD: usize = 16 * 1024;

struct Request {
    path: String,
    headers: Vec<(String, String)>,
    body: String,
}

fn read_request(stream: &TcpStream) -> anyhow::Result<Request> {
    let mut reader = BufReader::new(stream.take(MAX_HEAD as u64 + 4096));
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let (_method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = path.to_owned();
    let mut headers = Vec::new();
    let mut head = line.len();
    loop {
        let mut h = Vec::new();
        reader.read_until(b'\n', &mut h)?;
        head += h.len();
        anyhow::ensure!(head <= MAX_HEAD, "request head over {MAX_HEAD} bytes");
        // A header that is not UTF-8 keeps its bytes visible as replacement characters, which
        // the propagation parser refuses like any other malformed value.
        let h = String::from_utf8_lossy(&h);
        let h = h.trim_end_matches(['\r', '\n']);
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
    }
    let len: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len.min(4096)];
    reader.read_exact(&mut body)?;
    Ok(Request {
        path,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn respond(mut stream: &TcpStream, status: &str, extra: &[(&str, String)], body: &str) {
    let mut out = format!(
        "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\nx-audit-service: tool-service\r\n",
        body.len()
    );
    for (k, v) in extra {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    out.push_str(body);
    let _ = stream.write_all(out.as_bytes());
}

fn main() -> anyhow::Result<()> {
    let dir = std::env::args()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("usage: tool_service <log dir>"))?;
    let file = FileExporter::builder(&dir).service("tool-service").open()?;
    let guard = AuditRuntime::builder()
        .service("tool-service")
        .digest_key(audit_runtime::digest::DigestKey::from_bytes([9; 32]))
        .exporter(file)
        .install()?;
    let listener = TcpListener::bind("127.0.0.1:0")?;
    println!("listening {}", listener.local_addr()?.port());
    std::io::stdout().flush()?;
    for stream in listener.incoming() {
        let stream = stream?;
        let req = match read_request(&stream) {
            Ok(r) => r,
            Err(e) => {
                respond(&stream, "400 Bad Request", &[], &e.to_string());
                continue;
            }
        };
        if req.path == "/shutdown" {
            respond(&stream, "200 OK", &[], "bye");
            break;
        }
        let extracted = propagation::extract(&req.headers);
        let outcome = match &extracted {
            Ok(_) => "ok".to_owned(),
            Err(PropagationError::Absent) => "absent".to_owned(),
            Err(e) => e.to_string(),
        };
        let Ok(amount) = req.body.trim().parse::<u64>() else {
            respond(&stream, "400 Bad Request", &[], "body: a decimal amount");
            continue;
        };
        let value =
            propagation::with_remote_context_sync(extracted.as_ref().ok(), || score(amount));
        let s = propagation::stats();
        respond(
            &stream,
            "200 OK",
            &[
                ("x-propagation", outcome.replace(['\r', '\n'], " ")),
                (
                    "x-propagation-rejected",
                    (s.rejected_traceparent + s.rejected_baggage).to_string(),
                ),
            ],
            &value.to_string(),
        );
    }
    guard.flush()?;
    drop(guard);
    Ok(())
}
