//! The OTLP mapping, end to end over real sockets: an agent run exported over OTLP/HTTP and
//! OTLP/gRPC to the loopback receiver, which decodes the real protobuf. Every span and log
//! record is checked against the sealed record the memory exporter saw in the same run.

#![allow(clippy::unwrap_used)]

mod otlp_common;

use std::collections::HashMap;
use std::time::Duration;

use audit_exporters::MemoryExporter;
use audit_exporters::otlp::receiver::Receiver;
use audit_exporters::otlp::{Compression, OtlpExporter, Protocol};
use audit_runtime::record::{AuditRecord, RecordKind};
use audit_runtime::{
    AuditRuntime, audited_agent, audited_decision, audited_model_call, audited_tool,
};
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use otlp_common::{attr, fast_config, hex, temp_dir};

#[audited_tool(capture(account), side_effect = read)]
fn fetch_balance(account: &str) -> Result<u64, String> {
    if account.is_empty() {
        Err("no account".into())
    } else {
        Ok(1_200)
    }
}

#[audited_model_call(model = "gpt-4o", model_version = "2024-08-06", capture(prompt))]
fn ask_model(prompt: &str) -> String {
    audit_runtime::signal("gen_ai.usage.input_tokens", 42);
    audit_runtime::signal("gen_ai.usage.output_tokens", 7);
    format!("ok: {}", prompt.len())
}

#[audited_decision(
    name = "loan.approve",
    model = "credit-scorer",
    model_version = "2.3.1",
    policy = "lending",
    policy_version = "2026-10",
    capture(amount),
    output = capture
)]
fn approve(amount: u64) -> bool {
    let balance = fetch_balance("acc-1").unwrap_or(0);
    let _ = fetch_balance("");
    let _ = ask_model("should we lend?");
    audit_runtime::signal("score", 0.82);
    audit_runtime::explain("score above threshold");
    amount < balance * 10
}

#[audited_agent(name = "loan.agent", session = "conv-7")]
fn agent_run() -> bool {
    approve(5_000)
}

fn run_once(protocol: Protocol, compression: Compression) {
    let rx = Receiver::start().expect("receiver");
    let endpoint = match protocol {
        Protocol::Grpc => rx.grpc_endpoint(),
        Protocol::HttpProtobuf => rx.http_endpoint(),
    };
    let spill = temp_dir("export");
    let otlp = OtlpExporter::new(
        fast_config(&spill)
            .protocol(protocol)
            .endpoint(endpoint)
            .compression(compression)
            .header("authorization", "Bearer t0ken")
            .resource_attributes("deployment.environment=test"),
    )
    .expect("exporter");
    let monitor = otlp.monitor();
    let mem = MemoryExporter::new();
    let guard = AuditRuntime::builder()
        .service("otlp-export-test")
        .service_version("9.9.9")
        .exporter(mem.clone())
        .exporter(otlp)
        .install_thread_local()
        .expect("install");

    assert!(agent_run());
    guard.flush().expect("flush");
    let decision_id = mem.find("loan.approve").expect_one().record().record_id;
    audit_runtime::record_outcome(decision_id, "repaid", true).expect("outcome");
    guard.flush().expect("flush");

    let records: Vec<AuditRecord> = mem.records();
    let lines = mem.lines();
    let calls: Vec<&AuditRecord> = records
        .iter()
        .filter(|r| {
            audit_exporters::otlp::mapping::signal_of(r) == audit_exporters::otlp::Signal::Traces
        })
        .collect();
    let events = records.len() - calls.len();
    assert_eq!(calls.len(), 5, "agent, decision, 2 tools, model call");
    assert!(rx.wait_for_spans(calls.len(), Duration::from_secs(10)));
    assert!(rx.wait_for_logs(events, Duration::from_secs(10)));
    let stats = monitor.stats();
    assert_eq!(stats.sent_spans, 5, "{stats:?}");
    assert_eq!(stats.sent_logs as usize, events, "{stats:?}");
    assert_eq!(stats.pending, 0);

    // Transport details: the right transport, our header, gzip when asked.
    for req in rx.requests() {
        assert_eq!(
            req.transport,
            if protocol == Protocol::Grpc {
                "grpc"
            } else {
                "http"
            }
        );
        assert!(
            req.headers
                .iter()
                .any(|(k, v)| k == "authorization" && v == "Bearer t0ken")
        );
        assert_eq!(req.gzip, compression == Compression::Gzip);
    }

    // Resource.
    let traces = rx.accepted_traces();
    let resource = traces[0].resource_spans[0]
        .resource
        .as_ref()
        .expect("resource");
    assert_eq!(
        attr(&resource.attributes, "service.name").as_deref(),
        Some("otlp-export-test")
    );
    assert_eq!(
        attr(&resource.attributes, "service.version").as_deref(),
        Some("9.9.9")
    );
    assert_eq!(
        attr(&resource.attributes, "service.instance.id"),
        Some(records[0].service.instance.to_string())
    );
    assert_eq!(
        attr(&resource.attributes, "deployment.environment").as_deref(),
        Some("test")
    );
    let scope = &traces[0].resource_spans[0].scope_spans[0];
    assert_eq!(
        scope.scope.as_ref().map(|s| s.name.as_str()),
        Some("audit-sdk")
    );
    assert_eq!(scope.schema_url, "https://opentelemetry.io/schemas/1.41.0");

    // Every span against its record.
    let spans = rx.spans();
    let by_id: HashMap<String, _> = spans
        .iter()
        .map(|s| {
            (
                attr(&s.attributes, "audit.record_id").expect("record id"),
                s,
            )
        })
        .collect();
    assert_eq!(by_id.len(), spans.len(), "each record exactly once");
    let line_of: HashMap<String, &String> = records
        .iter()
        .zip(&lines)
        .map(|(r, l)| (r.record_id.to_string(), l))
        .collect();
    let run = records
        .iter()
        .find(|r| r.kind == RecordKind::AgentRun)
        .expect("run");
    for r in &calls {
        let s = by_id[&r.record_id.to_string()];
        let a = &s.attributes;
        let c = &r.correlation;
        assert_eq!(hex(&s.trace_id), c.trace_id.expect("trace").to_string());
        assert_eq!(hex(&s.span_id), c.span_id.expect("span").to_string());
        assert_eq!(
            hex(&s.parent_span_id),
            c.parent_span_id.map(|p| p.to_string()).unwrap_or_default()
        );
        assert_eq!(
            hex(&s.trace_id),
            run.correlation.trace_id.expect("trace").to_string(),
            "one trace"
        );
        assert_eq!(
            s.end_time_unix_nano - s.start_time_unix_nano,
            r.time.duration_ns.expect("duration")
        );
        assert_eq!(attr(a, "audit.seq"), Some(r.seq.to_string()));
        assert_eq!(attr(a, "audit.prev").as_deref(), Some(r.prev.as_str()));
        let line = line_of[&r.record_id.to_string()];
        assert!(line.ends_with(&format!(
            "\"hash\":\"{}\"}}",
            attr(a, "audit.hash").expect("hash")
        )));
        assert_eq!(attr(a, "audit.chain"), Some(r.service.instance.to_string()));
        assert_eq!(
            attr(a, "audit.point.name"),
            r.point.as_ref().map(|p| p.name.clone())
        );
        assert_eq!(
            attr(a, "audit.decision_id"),
            c.decision_id.map(|d| d.to_string())
        );
        assert_eq!(
            attr(a, "audit.parent_id"),
            c.parent_id.map(|d| d.to_string())
        );
        assert_eq!(attr(a, "audit.run_id"), c.run_id.map(|d| d.to_string()));
        assert_eq!(attr(a, "gen_ai.conversation.id").as_deref(), Some("conv-7"));
        assert_eq!(
            attr(a, "audit.redaction.rule_set"),
            Some(r.redactions.rule_set.clone())
        );
        assert_eq!(attr(a, "audit.code_version"), r.code_version.clone());
        assert!(
            attr(a, "code.function.name")
                .is_some_and(|f| f.ends_with(&r.point.as_ref().expect("point").function))
        );
    }

    // Kind-specific GenAI attributes, span names and kinds.
    let one = |name: &str| {
        let r = calls
            .iter()
            .find(|r| r.point.as_ref().is_some_and(|p| p.name == name))
            .expect(name);
        (*r, by_id[&r.record_id.to_string()])
    };
    let (_, s) = one("loan.agent");
    assert_eq!(s.name, "invoke_agent loan.agent");
    assert_eq!(
        attr(&s.attributes, "gen_ai.operation.name").as_deref(),
        Some("invoke_agent")
    );
    assert_eq!(
        attr(&s.attributes, "gen_ai.agent.name").as_deref(),
        Some("loan.agent")
    );
    assert!(s.parent_span_id.is_empty(), "the run is the root");

    let (d, s) = one("loan.approve");
    assert_eq!(s.name, "decision loan.approve");
    assert_eq!(s.kind, SpanKind::Internal as i32);
    let a = &s.attributes;
    assert_eq!(
        attr(a, "gen_ai.operation.name"),
        None,
        "no GenAI operation for decisions"
    );
    assert_eq!(
        attr(a, "gen_ai.request.model"),
        None,
        "a decision that declares a model is not a model call"
    );
    assert_eq!(
        attr(a, "audit.version.model.credit-scorer").as_deref(),
        Some("2.3.1")
    );
    assert_eq!(
        attr(a, "audit.version.policy.lending").as_deref(),
        Some("2026-10")
    );
    assert_eq!(
        attr(a, "audit.version.policy.lending.source").as_deref(),
        Some("literal")
    );
    assert_eq!(attr(a, "audit.input.amount").as_deref(), Some("5000"));
    let digest = d
        .inputs
        .as_ref()
        .and_then(|i| i.digest.as_ref())
        .expect("digest");
    assert_eq!(attr(a, "audit.input.digest"), Some(digest.value.clone()));
    assert_eq!(
        attr(a, "audit.input.digest.key_id"),
        Some(digest.key_id.clone())
    );
    assert_eq!(
        attr(a, "audit.rationale.signal.score").as_deref(),
        Some("0.82")
    );
    assert_eq!(
        attr(a, "audit.rationale.explanation").as_deref(),
        Some("score above threshold")
    );
    assert_eq!(attr(a, "audit.outcome.status").as_deref(), Some("ok"));
    assert_eq!(attr(a, "audit.outcome.value").as_deref(), Some("true"));
    assert_eq!(attr(a, "audit.decision_id"), Some(d.record_id.to_string()));
    let decision_span = s.span_id.clone();

    let tools: Vec<_> = calls
        .iter()
        .filter(|r| r.kind == RecordKind::Tool)
        .collect();
    assert_eq!(tools.len(), 2);
    for t in tools {
        let s = by_id[&t.record_id.to_string()];
        assert_eq!(s.name, "execute_tool fetch_balance");
        assert_eq!(
            s.parent_span_id, decision_span,
            "tools nest under the decision"
        );
        let a = &s.attributes;
        assert_eq!(
            attr(a, "gen_ai.operation.name").as_deref(),
            Some("execute_tool")
        );
        assert_eq!(
            attr(a, "gen_ai.tool.name").as_deref(),
            Some("fetch_balance")
        );
        assert_eq!(
            attr(a, "gen_ai.tool.call.id"),
            Some(t.record_id.to_string())
        );
        assert_eq!(attr(a, "audit.tool.side_effect").as_deref(), Some("read"));
        if attr(a, "audit.input.account").as_deref() == Some("\"\"") {
            assert_eq!(
                s.status.as_ref().map(|st| st.code),
                Some(StatusCode::Error as i32)
            );
            assert_eq!(
                s.status.as_ref().map(|st| st.message.as_str()),
                Some("no account")
            );
            assert_eq!(attr(a, "audit.outcome.status").as_deref(), Some("err"));
            assert_eq!(
                attr(a, "audit.outcome.error").as_deref(),
                Some("no account")
            );
            assert!(attr(a, "error.type").is_some_and(|t| t.contains("String")));
        } else {
            assert_eq!(attr(a, "audit.input.account").as_deref(), Some("\"acc-1\""));
            assert_eq!(
                s.status.as_ref().map(|st| st.code),
                Some(StatusCode::Unset as i32)
            );
        }
    }

    let (_, s) = one("ask_model");
    assert_eq!(s.name, "chat gpt-4o");
    assert_eq!(s.kind, SpanKind::Client as i32);
    let a = &s.attributes;
    assert_eq!(attr(a, "gen_ai.operation.name").as_deref(), Some("chat"));
    assert_eq!(attr(a, "gen_ai.request.model").as_deref(), Some("gpt-4o"));
    assert_eq!(attr(a, "gen_ai.usage.input_tokens").as_deref(), Some("42"));
    assert_eq!(attr(a, "gen_ai.usage.output_tokens").as_deref(), Some("7"));
    assert_eq!(s.parent_span_id, decision_span);

    // Log records: `started` of the agent run and the later outcome; the body is the exact line.
    let logs = rx.logs();
    assert_eq!(logs.len(), events);
    for log in &logs {
        let id = attr(&log.attributes, "audit.record_id").expect("id");
        let body = match log.body.as_ref().and_then(|b| b.value.as_ref()) {
            Some(opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue(s)) => s,
            other => panic!("body {other:?}"),
        };
        assert_eq!(body, line_of[&id], "the body is the sealed line");
        audit_runtime::chain::check_line(body).expect("the line verifies");
    }
    let outcome = logs
        .iter()
        .find(|l| l.event_name == "audit.outcome")
        .expect("outcome log");
    assert_eq!(
        attr(&outcome.attributes, "audit.refers_to"),
        Some(decision_id.to_string())
    );
    assert_eq!(
        attr(&outcome.attributes, "audit.outcome.value").as_deref(),
        Some("true")
    );
    // The follow-up sits on its decision's trace, in the decision's span, so a backend shows
    // the outcome (or an override) on the decision it refers to.
    let decision = mem.find("loan.approve").expect_one().record().clone();
    assert_eq!(
        hex(&outcome.trace_id),
        decision.correlation.trace_id.expect("trace").to_string()
    );
    assert_eq!(
        hex(&outcome.span_id),
        decision.correlation.span_id.expect("span").to_string()
    );
    let started = logs
        .iter()
        .find(|l| l.event_name == "audit.started")
        .expect("started log");
    assert_eq!(
        hex(&started.trace_id),
        run.correlation.trace_id.expect("trace").to_string()
    );
    assert_eq!(
        hex(&started.span_id),
        run.correlation.span_id.expect("span").to_string()
    );

    drop(guard);
}

#[test]
fn agent_run_over_http_protobuf() {
    run_once(Protocol::HttpProtobuf, Compression::None);
}

#[test]
fn agent_run_over_http_protobuf_gzip() {
    run_once(Protocol::HttpProtobuf, Compression::Gzip);
}

#[test]
fn agent_run_over_grpc() {
    run_once(Protocol::Grpc, Compression::None);
}

#[test]
fn agent_run_over_grpc_gzip() {
    run_once(Protocol::Grpc, Compression::Gzip);
}

#[test]
fn invalid_settings_fail_at_construction_naming_the_setting() {
    let spill = temp_dir("invalid");
    let err = OtlpExporter::new(fast_config(&spill).endpoint("localhost:4318")).unwrap_err();
    assert!(err.to_string().contains("OtlpConfig::endpoint"), "{err}");
    let env = |k: &str| (k == "OTEL_EXPORTER_OTLP_PROTOCOL").then(|| "http/json".to_owned());
    let err =
        OtlpExporter::new(audit_exporters::otlp::OtlpConfig::from_lookup(env).spill_dir(&spill))
            .unwrap_err();
    assert!(
        err.to_string().contains("OTEL_EXPORTER_OTLP_PROTOCOL"),
        "{err}"
    );
    let env = |k: &str| (k == "OTEL_EXPORTER_OTLP_HEADERS").then(|| "api-key".to_owned());
    let err =
        OtlpExporter::new(audit_exporters::otlp::OtlpConfig::from_lookup(env).spill_dir(&spill))
            .unwrap_err();
    assert!(
        err.to_string().contains("OTEL_EXPORTER_OTLP_HEADERS"),
        "{err}"
    );
}
