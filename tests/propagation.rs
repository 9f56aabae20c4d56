//! Two real processes on loopback, each with its own runtime and file log: this test is the
//! agent service, `examples/tool_service.rs` the tool service. The audit context crosses in
//! W3C `traceparent` + `baggage` headers over HTTP/1.1 (`docs/PROPAGATION.md`).
//!
//! Checked: the tool service's record names the caller's record as parent (and as
//! `remote_parent`, with the caller's service and the carrier), has the caller's trace id and
//! decision; the caller's record names the remote call; forged and malformed headers are
//! refused and counted by the tool service, whose records then start a tree of their own.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use audit_exporters::FileExporter;
use audit_runtime::propagation::{self, HeaderSink as _};
use audit_runtime::record::{AuditRecord, PropagationVia, RecordKind};
use audit_runtime::{AuditRuntime, audited_decision, audited_tool};

/// A fresh directory under the target dir's tmp (kept on failure for a look).
fn temp_dir(tag: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "propagation-{tag}-{}-{}",
        std::process::id(),
        audit_runtime::RecordId::now()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The tool service binary, built once for this run (like `crash_recovery.rs` does).
fn tool_service_bin() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().unwrap().parent().unwrap().to_owned();
    let target = profile_dir.parent().unwrap();
    let status = Command::new(env!("CARGO"))
        .args([
            "build",
            "-p",
            "examples",
            "--example",
            "tool_service",
            "--target-dir",
        ])
        .arg(target)
        .status()
        .unwrap();
    assert!(status.success(), "could not build the tool_service example");
    profile_dir.join("examples").join("tool_service")
}

struct Service {
    child: Child,
    port: u16,
}

fn start_service(log: &Path) -> Service {
    let mut child = Command::new(tool_service_bin())
        .arg(log)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line
        .trim()
        .strip_prefix("listening ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line from tool_service: {line:?}"));
    Service { child, port }
}

/// One HTTP/1.1 request: the response's headers (lower-case names) and body.
fn post(
    port: u16,
    path: &str,
    headers: &[(String, String)],
    body: &str,
) -> (Vec<(String, String)>, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\ncontent-length: {}\r\nconnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let (head, body) = resp.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    assert!(lines.next().unwrap().contains("200"), "{resp}");
    let hs = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    (hs, body.to_owned())
}

fn header<'a>(hs: &'a [(String, String)], name: &str) -> &'a str {
    hs.iter().find(|(k, _)| k == name).map_or("", |(_, v)| v)
}

/// Every record of a file log directory (segment lines that are records, not headers, gaps or
/// checkpoints).
fn read_log(dir: &Path) -> Vec<AuditRecord> {
    let mut out = Vec::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    files.sort();
    for f in files {
        for line in std::fs::read_to_string(&f).unwrap().lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            if v.get("type").is_none() {
                out.push(serde_json::from_value(v).unwrap());
            }
        }
    }
    out
}

/// The agent's tool: calls the tool service with the audit context injected, plus `extra`
/// headers that override the injected ones (to forge), and notes the call on its own record.
#[audited_tool(name = "agent.remote_score", capture(amount), side_effect = read)]
fn remote_score(port: u16, amount: u64, extra: &[(&str, &str)]) -> Result<(u64, String), String> {
    let mut headers: Vec<(String, String)> = Vec::new();
    if !propagation::inject(&mut headers) {
        return Err("no audit context to inject".into());
    }
    for (k, v) in extra {
        headers.set_header(k, (*v).to_owned());
    }
    let (hs, body) = post(port, "/score", &headers, &amount.to_string());
    let service = header(&hs, "x-audit-service");
    let target = format!("http://127.0.0.1:{port}/score");
    propagation::note_remote_call(target, Some(service).filter(|s| !s.is_empty()));
    let score = body
        .parse()
        .map_err(|e| format!("bad body {body:?}: {e}"))?;
    Ok((
        score,
        format!(
            "{}|{}",
            header(&hs, "x-propagation"),
            header(&hs, "x-propagation-rejected")
        ),
    ))
}

#[audited_decision(
    name = "agent.approve",
    unversioned = "test",
    capture(amount),
    session = "conv-42"
)]
fn approve(port: u16, amount: u64, extra: &[(&str, &str)]) -> Result<(bool, String), String> {
    let (score, prop) = remote_score(port, amount, extra)?;
    Ok((score < 50, prop))
}

#[test]
fn two_processes_form_one_tree() {
    let agent_log = temp_dir("agent");
    let tool_log = temp_dir("tool");
    let svc = start_service(&tool_log);
    let guard = AuditRuntime::builder()
        .service("loan-agent")
        .digest_key(audit_runtime::digest::DigestKey::from_bytes([7; 32]))
        .exporter(
            FileExporter::builder(&agent_log)
                .service("loan-agent")
                .open()
                .unwrap(),
        )
        .install_thread_local()
        .unwrap();

    // 1. A propagated call.
    let (ok, prop) = approve(svc.port, 3_000, &[]).unwrap();
    assert!(ok);
    assert!(prop.starts_with("ok|"), "{prop}");
    let rejected_before: u64 = prop.split('|').nth(1).unwrap().parse().unwrap();

    // 2. Forged and malformed headers: each refused, counted, never a wrong parent.
    let forged_parent = "audit.parent=6ba7b810-9dad-11d1-80b4-00c04fd430c8"; // a UUIDv1
    let cases: &[(&str, &str, &str)] = &[
        (
            "traceparent",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "trace-id",
        ),
        (
            "traceparent",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "all zero",
        ),
        (
            "traceparent",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "ff",
        ),
        ("baggage", forged_parent, "UUIDv7"),
        ("baggage", "audit.parent=not-a-record", "not a UUID"),
        ("baggage", "audit.session=%FF%FE", "UTF-8"),
    ];
    for (i, (name, value, why)) in cases.iter().enumerate() {
        let (_, prop) = approve(svc.port, 1_000 + i as u64, &[(name, value)]).unwrap();
        let (outcome, rejected) = prop.split_once('|').unwrap();
        assert!(outcome.contains(why), "{name}: {value}: {outcome}");
        assert_eq!(
            rejected.parse::<u64>().unwrap(),
            rejected_before + 1 + i as u64,
            "each refused context is counted"
        );
    }
    guard.flush().unwrap();
    drop(guard);
    post(svc.port, "/shutdown", &[], "");
    let mut child = svc.child;
    assert!(child.wait().unwrap().success());

    let agent = read_log(&agent_log);
    let tool = read_log(&tool_log);
    let calls = |rs: &[AuditRecord], name: &str| -> Vec<AuditRecord> {
        rs.iter()
            .filter(|r| r.point.as_ref().is_some_and(|p| p.name == name))
            .filter(|r| r.kind != RecordKind::Started)
            .cloned()
            .collect()
    };
    let caller = calls(&agent, "agent.remote_score");
    let decisions = calls(&agent, "agent.approve");
    let scores = calls(&tool, "risk.score");
    let buckets = calls(&tool, "risk.bucket");
    assert_eq!(caller.len(), 1 + cases.len());
    assert_eq!(scores.len(), 1 + cases.len());

    // The propagated pair: the first call on each side.
    let (c, d, s) = (&caller[0], &decisions[0], &scores[0]);
    assert_eq!(s.service.name, "tool-service");
    assert_ne!(
        s.service.instance, c.service.instance,
        "two processes, two chains"
    );
    assert_eq!(s.correlation.parent_id, Some(c.record_id));
    assert_eq!(s.correlation.trace_id, c.correlation.trace_id);
    assert_eq!(s.correlation.parent_span_id, c.correlation.span_id);
    assert_eq!(s.correlation.decision_id, Some(d.record_id));
    assert_eq!(s.correlation.session_id.as_deref(), Some("conv-42"));
    let rp = s.remote_parent.as_ref().expect("the remote child says so");
    assert_eq!(rp.record_id, Some(c.record_id));
    assert_eq!(rp.service.as_deref(), Some("loan-agent"));
    assert_eq!(rp.via, PropagationVia::Headers);
    // The nested call on the tool side is a plain local child.
    let b = buckets
        .iter()
        .find(|b| b.correlation.parent_id == Some(s.record_id))
        .unwrap();
    assert!(b.remote_parent.is_none());
    assert_eq!(b.correlation.trace_id, c.correlation.trace_id);
    assert_eq!(b.correlation.decision_id, Some(d.record_id));
    // The caller names the remote call.
    assert_eq!(c.remote_calls.len(), 1);
    // The target is program data, scanned by redaction: the default detectors pseudonymise the
    // IP address (`http://[ipv4:…]:port/score`).
    let target = &c.remote_calls[0].target;
    assert!(
        target.starts_with("http://") && target.ends_with(&format!(":{}/score", svc.port)),
        "{target}"
    );
    assert!(!target.contains("127.0.0.1"), "{target}");
    assert_eq!(c.remote_calls[0].service.as_deref(), Some("tool-service"));
    assert_eq!(c.remote_calls[0].span_id, c.correlation.span_id.unwrap());

    // Refused contexts: the tool's records start a tree of their own, linked to nobody.
    for (i, s) in scores[1..].iter().enumerate() {
        let c = &caller[1 + i];
        assert_eq!(s.correlation.parent_id, None, "case {i}");
        assert_eq!(s.correlation.decision_id, None, "case {i}");
        assert!(s.remote_parent.is_none(), "case {i}");
        assert_ne!(s.correlation.trace_id, c.correlation.trace_id, "case {i}");
    }
    let _ = std::fs::remove_dir_all(&agent_log);
    let _ = std::fs::remove_dir_all(&tool_log);
}

// ---- MCP: the context in `params._meta` of JSON-RPC messages ---------------------------------

/// The MCP server's tool, run under the context its request carried.
#[audited_tool(name = "mcp.get_weather", capture(city), output = capture, side_effect = read)]
fn get_weather(city: &str) -> String {
    format!("sunny in {city}")
}

/// The MCP client's tool: sends `tools/call` with the context in `params._meta`, as one line of
/// newline-delimited JSON-RPC (the stdio transport's framing) over a loopback socket.
#[audited_tool(name = "agent.mcp_call", side_effect = read)]
fn mcp_call(stream: &mut TcpStream, id: u64, forge: Option<&str>) -> serde_json::Value {
    let mut req = serde_json::json!({
        "jsonrpc": "2.0",
        "id": id,
        "method": "tools/call",
        "params": { "name": "get_weather", "arguments": { "city": "Lyon" } }
    });
    assert!(propagation::inject_meta(&mut req));
    if let Some(bad) = forge {
        req["params"]["_meta"]["traceparent"] = bad.into();
    }
    let mut line = serde_json::to_string(&req).unwrap();
    line.push('\n');
    stream.write_all(line.as_bytes()).unwrap();
    let mut resp = String::new();
    BufReader::new(stream.try_clone().unwrap())
        .read_line(&mut resp)
        .unwrap();
    propagation::note_remote_call("mcp:tools/call get_weather", Some("weather-mcp"));
    serde_json::from_str(&resp).unwrap()
}

#[test]
fn mcp_meta_round_trips_through_json_rpc() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server_mem = audit_exporters::MemoryExporter::new();
    let server = {
        let mem = server_mem.clone();
        std::thread::spawn(move || {
            let guard = AuditRuntime::builder()
                .service("weather-mcp")
                .digest_key(audit_runtime::digest::DigestKey::from_bytes([5; 32]))
                .exporter(mem)
                .install_thread_local()
                .unwrap();
            let (stream, _) = listener.accept().unwrap();
            let mut out = stream.try_clone().unwrap();
            for line in BufReader::new(stream).lines() {
                let req: serde_json::Value = serde_json::from_str(&line.unwrap()).unwrap();
                let ctx = propagation::extract_meta(&req);
                let city = req["params"]["arguments"]["city"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned();
                let text =
                    propagation::with_remote_context_sync(ctx.as_ref().ok(), || get_weather(&city));
                let resp = serde_json::json!({
                    "jsonrpc": "2.0",
                    "id": req["id"],
                    "result": { "content": [{ "type": "text", "text": text }] },
                    "_extracted": ctx.is_ok(),
                });
                let mut l = serde_json::to_string(&resp).unwrap();
                l.push('\n');
                out.write_all(l.as_bytes()).unwrap();
            }
            guard.flush().unwrap();
        })
    };
    let client_mem = audit_exporters::MemoryExporter::new();
    let guard = AuditRuntime::builder()
        .service("mcp-agent")
        .digest_key(audit_runtime::digest::DigestKey::from_bytes([6; 32]))
        .exporter(client_mem.clone())
        .install_thread_local()
        .unwrap();
    let mut stream = TcpStream::connect(addr).unwrap();
    let good = mcp_call(&mut stream, 1, None);
    assert_eq!(good["result"]["content"][0]["text"], "sunny in Lyon");
    assert_eq!(good["_extracted"], true);
    let forged = mcp_call(
        &mut stream,
        2,
        Some("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"),
    );
    assert_eq!(
        forged["_extracted"], false,
        "an all-zero parent-id is refused"
    );
    drop(stream);
    server.join().unwrap();
    guard.flush().unwrap();

    let client: Vec<AuditRecord> = client_mem
        .records()
        .into_iter()
        .filter(|r| r.kind == RecordKind::Tool)
        .collect();
    let served: Vec<AuditRecord> = server_mem
        .records()
        .into_iter()
        .filter(|r| r.kind == RecordKind::Tool)
        .collect();
    assert_eq!((client.len(), served.len()), (2, 2));
    let (c, s) = (&client[0], &served[0]);
    assert_eq!(s.correlation.parent_id, Some(c.record_id));
    assert_eq!(s.correlation.trace_id, c.correlation.trace_id);
    let rp = s.remote_parent.as_ref().unwrap();
    assert_eq!(rp.via, PropagationVia::McpMeta);
    assert_eq!(rp.service.as_deref(), Some("mcp-agent"));
    assert_eq!(c.remote_calls[0].service.as_deref(), Some("weather-mcp"));
    let s2 = &served[1];
    assert_eq!(s2.correlation.parent_id, None);
    assert!(s2.remote_parent.is_none());
}
