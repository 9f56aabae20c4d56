//! An application that uses `tracing-opentelemetry` itself: the audit records (and the OTLP
//! spans the audit exporter sends) share its trace ids. Needs the `opentelemetry` feature, which
//! turns on `audit-runtime/opentelemetry`.
//!
//! Two set-ups are covered:
//! * the OpenTelemetry layer sees the `audit` spans: each record takes the span id of its
//!   `audit.*` tracing span, so the audit span and the application's span are the same span;
//! * the OpenTelemetry layer filters the `audit` target out: records join the application's
//!   trace and nest under the application span that was current when the audited call began.

#![allow(clippy::unwrap_used)]

mod otlp_common;

use std::time::Duration;

use audit_exporters::MemoryExporter;
use audit_exporters::otlp::OtlpExporter;
use audit_exporters::otlp::receiver::Receiver;
use audit_runtime::record::RecordKind;
use audit_runtime::{AuditRuntime, audited_agent, audited_tool};
use opentelemetry::trace::{SpanContext, TraceContextExt as _, TracerProvider as _};
use opentelemetry_sdk::trace::SdkTracerProvider;
use otlp_common::{attr, fast_config, hex, temp_dir};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::Layer as _;
use tracing_subscriber::layer::SubscriberExt as _;

fn current_otel() -> SpanContext {
    tracing::Span::current()
        .context()
        .span()
        .span_context()
        .clone()
}

#[audited_tool]
fn lookup() -> SpanContext {
    current_otel()
}

#[audited_agent(name = "aligned.agent")]
fn agent() -> (SpanContext, SpanContext) {
    let own = current_otel();
    let tool = lookup();
    (own, tool)
}

fn run(audit_spans_in_otel: bool) {
    let provider = SdkTracerProvider::builder().build();
    let tracer = provider.tracer("app");
    let otel_layer = tracing_opentelemetry::layer().with_tracer(tracer);
    let subscriber = tracing_subscriber::registry().with(if audit_spans_in_otel {
        otel_layer.boxed()
    } else {
        otel_layer
            .with_filter(tracing_subscriber::filter::filter_fn(|m| {
                m.target() != "audit"
            }))
            .boxed()
    });
    let _sub = tracing::subscriber::set_default(subscriber);

    let rx = Receiver::start().expect("receiver");
    let spill = temp_dir("align");
    let otlp =
        OtlpExporter::new(fast_config(&spill).endpoint(rx.http_endpoint())).expect("exporter");
    let mem = MemoryExporter::new();
    let guard = AuditRuntime::builder()
        .service("aligned")
        .exporter(mem.clone())
        .exporter(otlp)
        .install_thread_local()
        .expect("install");

    let app_span = tracing::info_span!("app.request");
    let (app, (in_agent, in_tool)) = app_span.in_scope(|| (current_otel(), agent()));
    assert!(
        app.is_valid(),
        "the application span has an OpenTelemetry context"
    );
    guard.flush().expect("flush");

    let runs = mem.of_kind(RecordKind::AgentRun);
    let run = runs.expect_one();
    let run = run.record();
    let tools = mem.of_kind(RecordKind::Tool);
    let tool = tools.expect_one();
    let tool = tool.record();
    let app_trace = hex(&app.trace_id().to_bytes());
    let app_span_id = hex(&app.span_id().to_bytes());
    for r in [run, tool] {
        assert_eq!(
            r.correlation.trace_id.map(|t| t.to_string()),
            Some(app_trace.clone()),
            "same trace"
        );
    }
    assert_eq!(
        run.correlation.parent_span_id.map(|s| s.to_string()),
        Some(app_span_id.clone()),
        "the audited root call nests under the application span"
    );
    assert_eq!(tool.correlation.parent_span_id, run.correlation.span_id);

    if audit_spans_in_otel {
        // The audit spans are OpenTelemetry spans: the records carry their ids.
        assert_eq!(
            run.correlation.span_id.map(|s| s.to_string()),
            Some(hex(&in_agent.span_id().to_bytes()))
        );
        assert_eq!(
            tool.correlation.span_id.map(|s| s.to_string()),
            Some(hex(&in_tool.span_id().to_bytes()))
        );
    } else {
        // Untracked audit spans carry no OpenTelemetry context of their own; the records get
        // their own span ids, distinct from the application's.
        assert!(!in_agent.is_valid() || in_agent.span_id() == app.span_id());
        assert_ne!(
            run.correlation.span_id.map(|s| s.to_string()),
            Some(app_span_id.clone())
        );
    }

    // The OTLP spans the audit exporter sent line up the same way.
    assert!(rx.wait_for_spans(2, Duration::from_secs(10)));
    for s in rx.spans() {
        assert_eq!(hex(&s.trace_id), app_trace);
        let id = attr(&s.attributes, "audit.record_id").expect("id");
        let r = if id == run.record_id.to_string() {
            run
        } else {
            tool
        };
        assert_eq!(
            Some(hex(&s.span_id)),
            r.correlation.span_id.map(|x| x.to_string())
        );
        assert_eq!(
            Some(hex(&s.parent_span_id)),
            r.correlation.parent_span_id.map(|x| x.to_string())
        );
    }
    drop(guard);
}

#[test]
fn audit_spans_tracked_by_the_otel_layer_share_trace_and_span_ids() {
    run(true);
}

#[test]
fn audit_spans_filtered_from_the_otel_layer_join_the_app_trace() {
    run(false);
}

#[audited_tool(name = "aligned.remote_tool")]
fn remote_tool() -> SpanContext {
    current_otel()
}

/// A service that runs audited work under a context extracted from a remote caller: the audit
/// span, tracked by the OpenTelemetry layer, joins the caller's trace, so the record and the
/// OpenTelemetry span agree with each other and with the caller (`docs/PROPAGATION.md`).
#[test]
fn remote_context_joins_the_otel_span_to_the_callers_trace() {
    let provider = SdkTracerProvider::builder().build();
    let otel_layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("svc"));
    let _sub = tracing::subscriber::set_default(tracing_subscriber::registry().with(otel_layer));
    let mem = MemoryExporter::new();
    let guard = AuditRuntime::builder()
        .service("svc")
        .exporter(mem.clone())
        .install_thread_local()
        .expect("install");
    let caller = audit_runtime::RecordId::now();
    let headers = vec![
        (
            "traceparent".to_owned(),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned(),
        ),
        ("baggage".to_owned(), format!("audit.parent={caller}")),
    ];
    let remote = audit_runtime::propagation::extract(&headers).expect("valid context");
    let in_tool = audit_runtime::propagation::with_remote_context_sync(Some(&remote), remote_tool);
    guard.flush().expect("flush");
    let tools = mem.of_kind(RecordKind::Tool);
    let tool = tools.expect_one();
    let tool = tool.record();
    assert_eq!(
        hex(&in_tool.trace_id().to_bytes()),
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
    assert_eq!(
        tool.correlation.trace_id.map(|t| t.to_string()).as_deref(),
        Some("4bf92f3577b34da6a3ce929d0e0e4736")
    );
    assert_eq!(
        tool.correlation.span_id.map(|s| s.to_string()),
        Some(hex(&in_tool.span_id().to_bytes())),
        "the record and the OpenTelemetry span are one span"
    );
    assert_eq!(
        tool.correlation
            .parent_span_id
            .map(|s| s.to_string())
            .as_deref(),
        Some("00f067aa0ba902b7")
    );
    assert_eq!(tool.correlation.parent_id, Some(caller));
}
