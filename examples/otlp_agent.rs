//! An agent run exported over OTLP, to a collector on loopback, over gRPC and then HTTP.
//!
//! Offline by default: the example starts the SDK's loopback OTLP receiver and prints what it
//! decoded. Point it at a real collector instead with the standard variables, for example
//! `OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317 OTEL_EXPORTER_OTLP_PROTOCOL=grpc`.
//!
//! ```text
//! cargo run -p examples --features otlp --example otlp_agent
//! ```
use std::time::Duration;

use anyhow::Context as _;
use audit_exporters::otlp::proto::common::v1::any_value::Value;
use audit_exporters::otlp::receiver::Receiver;
use audit_exporters::otlp::{OtlpConfig, OtlpExporter, Protocol};
use audit_runtime::{
    AuditRuntime, audited_agent, audited_decision, audited_model_call, audited_tool,
};

#[audited_tool(capture(city), side_effect = read)]
fn weather(city: &str) -> Result<String, String> {
    Ok(format!("sunny in {city}"))
}

#[audited_model_call(model = "gpt-4o", model_version = "2024-08-06", capture(prompt))]
fn plan(prompt: &str) -> String {
    audit_runtime::signal("gen_ai.usage.input_tokens", prompt.len() / 4);
    audit_runtime::signal("gen_ai.usage.output_tokens", 12);
    "call weather(Paris)".to_owned()
}

#[audited_decision(name = "trip.recommend", policy = "travel", policy_version = "2026-03",
                   capture(budget), output = capture)]
fn recommend(budget: u32) -> bool {
    let _ = plan("Where should I go this weekend?");
    let forecast = weather("Paris").unwrap_or_default();
    audit_runtime::signal("budget_ok", budget >= 300);
    audit_runtime::explain(format!("forecast: {forecast}"));
    budget >= 300 && forecast.starts_with("sunny")
}

#[audited_agent(name = "trip.agent", session = "conversation-1")]
fn run_agent() -> bool {
    recommend(450)
}

fn main() -> anyhow::Result<()> {
    let external = std::env::var_os("OTEL_EXPORTER_OTLP_ENDPOINT").is_some();
    let rx = if external {
        None
    } else {
        Some(Receiver::start().context("loopback receiver")?)
    };
    for protocol in [Protocol::Grpc, Protocol::HttpProtobuf] {
        let mut cfg = OtlpConfig::from_env()
            .spill_dir(std::env::temp_dir().join(format!("otlp-agent-spill-{protocol:?}")));
        if let Some(rx) = &rx {
            let endpoint = match protocol {
                Protocol::Grpc => rx.grpc_endpoint(),
                Protocol::HttpProtobuf => rx.http_endpoint(),
            };
            cfg = cfg.protocol(protocol).endpoint(endpoint);
        }
        let otlp = OtlpExporter::new(cfg).context("OTLP exporter")?;
        let monitor = otlp.monitor();
        let name = audit_runtime::export::Exporter::name(&otlp).to_owned();
        let guard = AuditRuntime::builder()
            .service("trip-agent")
            .exporter(otlp)
            .install()?;
        let approved = run_agent();
        guard.flush().map_err(|e| anyhow::anyhow!("flush: {e:?}"))?;
        drop(guard);
        let s = monitor.stats();
        println!(
            "{name}: approved={approved}; sent {} spans and {} log records, {} pending, {} retries",
            s.sent_spans, s.sent_logs, s.pending, s.retries
        );
        if external {
            break; // the environment chose one protocol
        }
    }
    if let Some(rx) = rx {
        rx.wait_for_spans(8, Duration::from_secs(5));
        println!("\nthe loopback collector decoded:");
        for req in rx.requests() {
            for rs in req.traces.iter().flat_map(|t| &t.resource_spans) {
                for span in rs.scope_spans.iter().flat_map(|s| &s.spans) {
                    let get = |k: &str| {
                        span.attributes.iter().find(|a| a.key == k).and_then(|a| {
                            match a.value.as_ref()?.value.as_ref()? {
                                Value::StringValue(s) => Some(s.clone()),
                                Value::IntValue(i) => Some(i.to_string()),
                                other => Some(format!("{other:?}")),
                            }
                        })
                    };
                    println!(
                        "  [{}] span {:<32} trace={} span={} parent={} op={} seq={}",
                        req.transport,
                        span.name,
                        hex(&span.trace_id),
                        hex(&span.span_id),
                        if span.parent_span_id.is_empty() {
                            "-".into()
                        } else {
                            hex(&span.parent_span_id)
                        },
                        get("gen_ai.operation.name").unwrap_or_else(|| "-".into()),
                        get("audit.seq").unwrap_or_default(),
                    );
                }
            }
            for rl in req.logs.iter().flat_map(|l| &l.resource_logs) {
                for log in rl.scope_logs.iter().flat_map(|s| &s.log_records) {
                    println!(
                        "  [{}] log  {:<32} trace={}",
                        req.transport,
                        log.event_name,
                        hex(&log.trace_id)
                    );
                }
            }
        }
    }
    Ok(())
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
