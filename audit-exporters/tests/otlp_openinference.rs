//! OpenInference attributes (what Arize Phoenix reads) on real OTLP/HTTP to the loopback
//! receiver: each record kind's `openinference.span.kind`, `input.value` / `output.value`
//! exactly when the record holds a (redacted) value, model names only on model calls.

#![allow(clippy::unwrap_used)]

mod otlp_common;

use std::collections::HashMap;
use std::time::Duration;

use audit_exporters::MemoryExporter;
use audit_exporters::otlp::receiver::Receiver;
use audit_exporters::otlp::{OtlpExporter, Protocol};
use audit_runtime::record::{AuditRecord, RecordKind};
use audit_runtime::{
    AuditRuntime, audited_agent, audited_decision, audited_model_call, audited_policy_check,
    audited_tool,
};
use otlp_common::{attr, fast_config, temp_dir};

const EMAIL: &str = "jane.doe@example.com";

#[audited_tool(capture(customer, note), hash_only(token), output = capture)]
fn lookup(customer: &str, note: &str, token: &str) -> Vec<u32> {
    vec![customer.len() as u32, note.len() as u32, token.len() as u32]
}

/// A tool whose only argument is kept as a digest and whose output is status only.
#[audited_tool(hash_only(secret))]
fn sign(secret: &str) -> usize {
    secret.len()
}

#[audited_model_call(model = "gpt-4o", model_version = "2024-08-06", capture(prompt), output = capture)]
fn ask(prompt: &str) -> String {
    audit_runtime::signal("gen_ai.usage.input_tokens", 42);
    audit_runtime::signal("gen_ai.usage.output_tokens", 7);
    format!("answer to {} chars", prompt.len())
}

#[audited_policy_check(policy = "kyc", policy_version = "3", capture(amount), output = capture)]
fn kyc(amount: u64) -> bool {
    amount < 10_000
}

#[audited_decision(
    name = "loan.approve",
    model = "credit-scorer",
    model_version = "2.3.1",
    capture(amount)
)]
fn approve(amount: u64) -> bool {
    let _ = lookup(&format!("mail {EMAIL} now"), "plain", "tok-123");
    let _ = sign("s3cret");
    let _ = ask("should we lend?");
    kyc(amount)
}

#[audited_agent(name = "loan.agent", model = "planner", model_version = "1")]
fn agent_run() -> bool {
    approve(5_000)
}

#[test]
fn spans_carry_openinference_attributes() {
    let rx = Receiver::start().expect("receiver");
    let spill = temp_dir("openinference");
    let otlp = OtlpExporter::new(
        fast_config(&spill)
            .protocol(Protocol::HttpProtobuf)
            .endpoint(rx.http_endpoint()),
    )
    .expect("exporter");
    let mem = MemoryExporter::new();
    let guard = AuditRuntime::builder()
        .service("otlp-openinference-test")
        .exporter(mem.clone())
        .exporter(otlp)
        .install_thread_local()
        .expect("install");
    assert!(agent_run());
    guard.flush().expect("flush");

    let records: Vec<AuditRecord> = mem.records();
    let calls: Vec<&AuditRecord> = records
        .iter()
        .filter(|r| {
            audit_exporters::otlp::mapping::signal_of(r) == audit_exporters::otlp::Signal::Traces
        })
        .collect();
    assert_eq!(
        calls.len(),
        6,
        "agent, decision, 2 tools, model call, policy check"
    );
    assert!(rx.wait_for_spans(calls.len(), Duration::from_secs(10)));
    let events = records.len() - calls.len();
    assert!(rx.wait_for_logs(events, Duration::from_secs(10)));
    let spans = rx.spans();
    let by_id: HashMap<String, _> = spans
        .iter()
        .map(|s| (attr(&s.attributes, "audit.record_id").unwrap(), s))
        .collect();
    let span_of = |name: &str| {
        let r = calls
            .iter()
            .find(|r| r.point.as_ref().is_some_and(|p| p.name == name))
            .expect(name);
        (*r, by_id[&r.record_id.to_string()])
    };

    // Span kinds, model names only on the model call.
    for (name, kind) in [
        ("loan.agent", "AGENT"),
        ("loan.approve", "CHAIN"),
        ("lookup", "TOOL"),
        ("sign", "TOOL"),
        ("ask", "LLM"),
        ("kyc", "GUARDRAIL"),
    ] {
        let (r, s) = span_of(name);
        let a = &s.attributes;
        assert_eq!(
            attr(a, "openinference.span.kind").as_deref(),
            Some(kind),
            "{name}"
        );
        let model = (r.kind == RecordKind::ModelCall).then(|| "gpt-4o".to_owned());
        assert_eq!(attr(a, "gen_ai.request.model"), model, "{name}");
        assert_eq!(attr(a, "llm.model_name"), model, "{name}");
        let tool = (r.kind == RecordKind::Tool).then(|| name.to_owned());
        assert_eq!(attr(a, "tool.name"), tool, "{name}");
        // Declared models stay visible as audit attributes.
        match name {
            "loan.approve" => assert_eq!(
                attr(a, "audit.version.model.credit-scorer").as_deref(),
                Some("2.3.1")
            ),
            "loan.agent" => {
                assert_eq!(attr(a, "audit.version.model.planner").as_deref(), Some("1"));
            }
            _ => {}
        }
        // `input.value` is there exactly when the record captured an argument's value, and
        // its mime type exactly with it; same for the output.
        let captured_in = r
            .inputs
            .as_ref()
            .is_some_and(|i| i.args.iter().any(|a| a.captured.value.is_some()));
        assert_eq!(attr(a, "input.value").is_some(), captured_in, "{name}");
        assert_eq!(
            attr(a, "input.mime_type").as_deref(),
            captured_in.then_some("application/json"),
            "{name}"
        );
        let captured_out = r
            .outcome
            .as_ref()
            .and_then(|o| o.value.as_ref())
            .and_then(|v| v.value.as_ref());
        assert_eq!(
            attr(a, "output.value"),
            captured_out.map(|v| v.to_string()),
            "{name}"
        );
        assert_eq!(
            attr(a, "output.mime_type").as_deref(),
            captured_out.map(|_| "application/json"),
            "{name}"
        );
    }

    // Expected values, literally.
    let (_, s) = span_of("loan.approve");
    assert_eq!(
        attr(&s.attributes, "input.value").as_deref(),
        Some(r#"{"amount":5000}"#)
    );
    assert_eq!(attr(&s.attributes, "output.value"), None, "status only");
    let (_, s) = span_of("kyc");
    assert_eq!(attr(&s.attributes, "output.value").as_deref(), Some("true"));
    let (_, s) = span_of("ask");
    assert_eq!(
        attr(&s.attributes, "input.value").as_deref(),
        Some(r#"{"prompt":"should we lend?"}"#)
    );
    assert_eq!(
        attr(&s.attributes, "output.value").as_deref(),
        Some(r#""answer to 15 chars""#)
    );
    assert_eq!(
        attr(&s.attributes, "llm.token_count.prompt").as_deref(),
        Some("42")
    );
    assert_eq!(
        attr(&s.attributes, "llm.token_count.completion").as_deref(),
        Some("7")
    );
    assert_eq!(
        attr(&s.attributes, "llm.token_count.total").as_deref(),
        Some("49")
    );
    for other in ["loan.approve", "loan.agent", "lookup", "kyc"] {
        let (_, s) = span_of(other);
        assert_eq!(
            attr(&s.attributes, "llm.token_count.prompt"),
            None,
            "{other}"
        );
    }
    let (_, s) = span_of("sign");
    assert_eq!(attr(&s.attributes, "input.value"), None, "hash-only only");
    assert!(attr(&s.attributes, "audit.input.secret").is_some_and(|v| v.starts_with("digest:")));

    // The tool: the hash-only argument is left out of `input.value`, the e-mail arrives
    // redacted, in declaration order.
    let (r, s) = span_of("lookup");
    assert!(
        !r.redactions.entries.is_empty(),
        "the e-mail detector fired: {:?}",
        r.redactions
    );
    let input = attr(&s.attributes, "input.value").unwrap();
    let parsed: serde_json::Value = serde_json::from_str(&input).unwrap();
    let keys: Vec<&String> = parsed.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["customer", "note"], "{input}");
    assert_eq!(parsed["note"], "plain");
    let customer = parsed["customer"].as_str().unwrap();
    assert!(
        customer.starts_with("mail ") && customer.ends_with(" now"),
        "{customer}"
    );
    assert!(
        customer.contains("[email:"),
        "the default rule set hashes e-mails: {customer}"
    );
    assert!(!input.contains(EMAIL), "{input}");
    assert!(!input.contains("tok-123"), "{input}");
    assert_eq!(
        attr(&s.attributes, "output.value").as_deref(),
        Some("[29,5,7]")
    );

    // Nothing the receiver decoded holds the raw e-mail or the hash-only token.
    let everything = format!("{:?} {:?}", rx.accepted_traces(), rx.logs());
    assert!(!everything.contains(EMAIL));
    assert!(!everything.contains("tok-123"));
    assert!(!everything.contains("s3cret"));

    // Log records carry no OpenInference attributes.
    for log in rx.logs() {
        assert_eq!(attr(&log.attributes, "openinference.span.kind"), None);
        assert_eq!(attr(&log.attributes, "input.value"), None);
    }
    drop(guard);
    let _ = std::fs::remove_dir_all(&spill);
}

/// The same run sent to a real Arize Phoenix (`pip install arize-phoenix`, `phoenix serve`),
/// then read back through Phoenix's GraphQL API: the span kinds Phoenix stored and the
/// input/output it shows. Needs `AUDIT_TEST_PHOENIX_URL` (e.g. `http://127.0.0.1:6006`); see
/// docs/OTLP.md.
#[test]
#[ignore = "needs a running Phoenix at AUDIT_TEST_PHOENIX_URL"]
fn phoenix_classifies_spans_and_shows_io() {
    let url = std::env::var("AUDIT_TEST_PHOENIX_URL").expect("AUDIT_TEST_PHOENIX_URL");
    let url = url.trim_end_matches('/');
    let project = format!("audit-sdk-test-{}", audit_runtime::RecordId::now());
    let spill = temp_dir("phoenix");
    // Phoenix takes traces only; log records go to a receiver that accepts them.
    let logs_rx = Receiver::start().expect("receiver");
    let otlp = OtlpExporter::new(
        fast_config(&spill)
            .protocol(Protocol::HttpProtobuf)
            .signal_endpoint(
                audit_exporters::otlp::Signal::Traces,
                format!("{url}/v1/traces"),
            )
            .signal_endpoint(
                audit_exporters::otlp::Signal::Logs,
                format!("{}/v1/logs", logs_rx.http_endpoint()),
            )
            .resource_attributes(format!("openinference.project.name={project}")),
    )
    .expect("exporter");
    let monitor = otlp.monitor();
    let guard = AuditRuntime::builder()
        .service("otlp-phoenix-test")
        .exporter(otlp)
        .install_thread_local()
        .expect("install");
    assert!(agent_run());
    guard.flush().expect("flush");
    let stats = monitor.stats();
    assert_eq!(stats.sent_spans, 6, "{stats:?}");

    let query = serde_json::json!({
        "query": "{ projects { edges { node { name spans(first: 100) { edges { node { \
                  name spanKind input { value mimeType } output { value mimeType } } } } } } } }"
    })
    .to_string();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let spans = loop {
        let mut resp = ureq::post(format!("{url}/graphql"))
            .header("content-type", "application/json")
            .send(query.as_str())
            .expect("graphql");
        let body: serde_json::Value =
            serde_json::from_str(&resp.body_mut().read_to_string().expect("body")).unwrap();
        let spans: Vec<serde_json::Value> = body["data"]["projects"]["edges"]
            .as_array()
            .expect("projects")
            .iter()
            .filter(|p| p["node"]["name"] == project.as_str())
            .flat_map(|p| {
                p["node"]["spans"]["edges"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .map(|e| e["node"].clone())
            .collect();
        if spans.len() >= 6 || std::time::Instant::now() > deadline {
            break spans;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let by_name: HashMap<String, &serde_json::Value> = spans
        .iter()
        .map(|s| (s["name"].as_str().unwrap().to_owned(), s))
        .collect();
    assert_eq!(by_name.len(), 6, "{spans:#?}");
    for (name, kind) in [
        ("invoke_agent loan.agent", "agent"),
        ("decision loan.approve", "chain"),
        ("execute_tool lookup", "tool"),
        ("execute_tool sign", "tool"),
        ("chat gpt-4o", "llm"),
        ("policy_check kyc", "guardrail"),
    ] {
        let s = by_name
            .get(name)
            .unwrap_or_else(|| panic!("{name}: {spans:#?}"));
        assert_eq!(s["spanKind"], kind, "{name}: {s}");
    }
    let approve = by_name["decision loan.approve"];
    assert_eq!(approve["input"]["value"], r#"{"amount":5000}"#);
    assert_eq!(approve["input"]["mimeType"], "json");
    assert!(approve["output"].is_null(), "{approve}");
    let kyc = by_name["policy_check kyc"];
    assert_eq!(kyc["output"]["value"], "true");
    let lookup = by_name["execute_tool lookup"];
    let input = lookup["input"]["value"].as_str().unwrap();
    assert!(
        input.contains("[email:") && !input.contains(EMAIL),
        "{input}"
    );
    assert!(by_name["execute_tool sign"]["input"].is_null());
    drop(guard);
    let _ = std::fs::remove_dir_all(&spill);
}
