//! How an audit record becomes an OTLP span or log record.
//!
//! The table in `docs/OTLP.md` is the contract; this module implements it. It follows the
//! OpenTelemetry semantic conventions **v1.41.0** for GenAI (`docs/gen-ai/gen-ai-agent-spans.md`
//! and `gen-ai-spans.md`), the last release before the GenAI conventions moved to their own
//! repository, plus `audit.*` attributes for everything the conventions have no name for.
//!
//! What must hold:
//! * Ids are the record's own: a span's trace id and span id are the record's
//!   `correlation.trace_id` / `span_id` (which match the application's OpenTelemetry spans when
//!   the runtime's `opentelemetry` feature is on), and its parent is `parent_span_id`. A record
//!   without them gets ids *derived* from its `record_id`, never random ones, so re-sending a
//!   record (after a spill, or a retry whose answer was lost) yields the same span, which a
//!   backend can deduplicate.
//! * The mapping is a pure function of the sealed record: the same line always maps to the same
//!   protobuf, whether it comes from memory or from the spill file.
//! * Every span also carries the OpenInference attributes (`openinference.span.kind`,
//!   `input.value` / `output.value` with their mime types, `tool.name`, `llm.model_name`), so
//!   OpenInference backends (Arize Phoenix) classify it and show its input and output (and a
//!   model call's `llm.token_count.*` from `gen_ai.usage.*`). Only
//!   what the sealed record holds is sent: values are already redacted, and hash-only or
//!   uncapturable values are never part of `input.value` / `output.value`.
//! * Completed calls are spans (they have a duration and a place in a trace). Records that are
//!   events about another record (`started`, outcome, human action, lineage, finding) are log
//!   records whose body is the exact, hash-verifiable JSON line: they often arrive long after
//!   the decision's span was exported, and a span cannot be amended.

use std::collections::BTreeMap;

use audit_runtime::chain::SealedRecord;
use audit_runtime::record::{AuditRecord, CapturedValue, OutcomeStatus, RecordKind};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, InstrumentationScope, KeyValue, any_value,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs, SeverityNumber};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status, status};
use serde_json::Value;

use super::config::Signal;

/// The semantic-conventions version this mapping follows.
pub const SEMCONV_VERSION: &str = "1.41.0";
/// `schema_url` written on every scope.
pub const SCHEMA_URL: &str = "https://opentelemetry.io/schemas/1.41.0";
/// Instrumentation scope name.
pub const SCOPE_NAME: &str = "audit-sdk";

/// W3C trace flags: sampled. Audit records are never sampled out.
const FLAG_SAMPLED: u32 = 0x01;

/// Which signal carries a record.
pub fn signal_of(r: &AuditRecord) -> Signal {
    match r.kind.known() {
        Some(
            RecordKind::AgentRun
            | RecordKind::Decision
            | RecordKind::Tool
            | RecordKind::ModelCall
            | RecordKind::PolicyCheck,
        ) => Signal::Traces,
        Some(
            RecordKind::Started
            | RecordKind::Outcome
            | RecordKind::HumanAction
            | RecordKind::Lineage
            | RecordKind::Finding,
        ) => Signal::Logs,
        // A kind a newer writer added: an event, so it is exported rather than dropped.
        None => Signal::Logs,
    }
}

/// Resource-level settings from the configuration.
#[derive(Debug, Clone, Default)]
pub struct ResourceConfig {
    /// Overrides each record's service name when set.
    pub service_name: Option<String>,
    /// Extra resource attributes.
    pub attributes: Vec<(String, String)>,
}

/// The two requests a batch becomes (either may be empty).
#[derive(Debug, Clone, Default)]
pub struct Requests {
    /// Spans.
    pub traces: Option<ExportTraceServiceRequest>,
    /// Log records.
    pub logs: Option<ExportLogsServiceRequest>,
    /// Number of spans in `traces`.
    pub span_count: usize,
    /// Number of log records in `logs`.
    pub log_count: usize,
}

/// Map a batch, in order, to its trace and log requests. Records of different services or
/// process instances (a spill file can hold several) get separate resources.
pub fn to_requests(batch: &[SealedRecord], res: &ResourceConfig) -> Requests {
    // BTreeMap keyed by first appearance keeps the output deterministic and in batch order.
    let mut spans: Vec<(ResourceKey, Vec<Span>)> = Vec::new();
    let mut logs: Vec<(ResourceKey, Vec<LogRecord>)> = Vec::new();
    let mut out = Requests::default();
    for s in batch {
        let key = ResourceKey::of(&s.record);
        match signal_of(&s.record) {
            Signal::Traces => {
                out.span_count += 1;
                push_grouped(&mut spans, key, to_span(s));
            }
            Signal::Logs => {
                out.log_count += 1;
                push_grouped(&mut logs, key, to_log(s));
            }
        }
    }
    if !spans.is_empty() {
        out.traces = Some(ExportTraceServiceRequest {
            resource_spans: spans
                .into_iter()
                .map(|(k, spans)| ResourceSpans {
                    resource: Some(k.resource(res)),
                    scope_spans: vec![ScopeSpans {
                        scope: Some(scope()),
                        spans,
                        schema_url: SCHEMA_URL.into(),
                    }],
                    schema_url: String::new(),
                })
                .collect(),
        });
    }
    if !logs.is_empty() {
        out.logs = Some(ExportLogsServiceRequest {
            resource_logs: logs
                .into_iter()
                .map(|(k, log_records)| ResourceLogs {
                    resource: Some(k.resource(res)),
                    scope_logs: vec![ScopeLogs {
                        scope: Some(scope()),
                        log_records,
                        schema_url: SCHEMA_URL.into(),
                    }],
                    schema_url: String::new(),
                })
                .collect(),
        });
    }
    out
}

fn push_grouped<T>(groups: &mut Vec<(ResourceKey, Vec<T>)>, key: ResourceKey, item: T) {
    match groups.iter_mut().find(|(k, _)| *k == key) {
        Some((_, v)) => v.push(item),
        None => groups.push((key, vec![item])),
    }
}

fn scope() -> InstrumentationScope {
    InstrumentationScope {
        name: SCOPE_NAME.into(),
        version: env!("CARGO_PKG_VERSION").into(),
        attributes: Vec::new(),
        dropped_attributes_count: 0,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct ResourceKey {
    service: String,
    version: Option<String>,
    instance: String,
}

impl ResourceKey {
    fn of(r: &AuditRecord) -> Self {
        ResourceKey {
            service: r.service.name.clone(),
            version: r.service.version.clone(),
            instance: r.service.instance.to_string(),
        }
    }

    fn resource(&self, cfg: &ResourceConfig) -> Resource {
        let mut attributes = Vec::with_capacity(cfg.attributes.len() + 4);
        attributes.push(kv_str(
            "service.name",
            cfg.service_name.as_deref().unwrap_or(&self.service),
        ));
        if let Some(v) = &self.version {
            attributes.push(kv_str("service.version", v));
        }
        attributes.push(kv_str("service.instance.id", &self.instance));
        attributes.push(kv_str("telemetry.sdk.name", SCOPE_NAME));
        attributes.push(kv_str("telemetry.sdk.language", "rust"));
        for (k, v) in &cfg.attributes {
            if !attributes.iter().any(|a| a.key == *k) {
                attributes.push(kv_str(k, v));
            }
        }
        Resource {
            attributes,
            dropped_attributes_count: 0,
            entity_refs: Vec::new(),
        }
    }
}

/// The span of a completed call.
pub fn to_span(s: &SealedRecord) -> Span {
    let r = &*s.record;
    let (trace_id, span_id) = ids_of(r);
    let start = parse_rfc3339_nanos(&r.time.start).unwrap_or(0);
    let end = match (
        r.time.duration_ns,
        r.time.end.as_deref().and_then(parse_rfc3339_nanos),
    ) {
        (Some(d), _) => start.saturating_add(d),
        (None, Some(e)) => e,
        (None, None) => start,
    };
    let op = operation(r);
    let name = span_name(r, op);
    let kind = if r.kind == RecordKind::ModelCall {
        SpanKind::Client
    } else {
        SpanKind::Internal
    };
    let status = r.outcome.as_ref().map(|o| match o.status.known() {
        // `unobserved`: the asynchronous work was not seen, so neither Ok nor Error can be
        // claimed (the `audit.status` attribute says which); nor for a status a newer writer
        // added.
        Some(OutcomeStatus::Ok | OutcomeStatus::Started | OutcomeStatus::Unobserved) | None => {
            Status {
                message: String::new(),
                code: status::StatusCode::Unset as i32,
            }
        }
        Some(OutcomeStatus::Err | OutcomeStatus::Panic | OutcomeStatus::Cancelled) => Status {
            message: o.error.clone().unwrap_or_else(|| o.status.to_string()),
            code: status::StatusCode::Error as i32,
        },
    });
    Span {
        trace_id: trace_id.to_vec(),
        span_id: span_id.to_vec(),
        trace_state: String::new(),
        parent_span_id: r
            .correlation
            .parent_span_id
            .map(|p| p.0.to_vec())
            .unwrap_or_default(),
        flags: FLAG_SAMPLED,
        name,
        kind: kind as i32,
        start_time_unix_nano: start,
        end_time_unix_nano: end,
        attributes: {
            let mut a = attributes(s, op);
            a.extend(openinference(r));
            a
        },
        dropped_attributes_count: 0,
        events: Vec::new(),
        dropped_events_count: 0,
        links: Vec::new(),
        dropped_links_count: 0,
        status,
    }
}

/// The log record of an event-like record. Its body is the exact sealed line.
pub fn to_log(s: &SealedRecord) -> LogRecord {
    let r = &*s.record;
    let time = parse_rfc3339_nanos(&r.time.start).unwrap_or(0);
    let (severity, text) = match r.kind.known() {
        Some(RecordKind::Finding) => (SeverityNumber::Warn, "WARN"),
        _ => (SeverityNumber::Info, "INFO"),
    };
    // A follow-up has no span of its own: it is logged in its decision's span
    // (`parent_span_id`), on the decision's trace.
    let span = r.correlation.span_id.or(r.correlation.parent_span_id);
    let (trace_id, span_id) = match (r.correlation.trace_id, span) {
        (Some(t), Some(sp)) => (t.0.to_vec(), sp.0.to_vec()),
        _ => (Vec::new(), Vec::new()),
    };
    LogRecord {
        time_unix_nano: time,
        observed_time_unix_nano: time,
        severity_number: severity as i32,
        severity_text: text.into(),
        body: Some(any_str(&s.line)),
        attributes: attributes(s, None),
        dropped_attributes_count: 0,
        flags: if trace_id.is_empty() { 0 } else { FLAG_SAMPLED },
        trace_id,
        span_id,
        event_name: format!("audit.{}", r.kind),
    }
}

/// The record's trace and span ids, or ids derived from `record_id` when it has none:
/// trace id = the 16 UUID bytes; span id = their last 8 bytes (UUIDv7's `var` + `rand_b`: never
/// zero, because the variant bits are set).
pub fn ids_of(r: &AuditRecord) -> ([u8; 16], [u8; 8]) {
    let uuid = r.record_id.as_u128().to_be_bytes();
    let trace = r.correlation.trace_id.map_or(uuid, |t| t.0);
    let mut derived = [0u8; 8];
    derived.copy_from_slice(&uuid[8..]);
    let span = r.correlation.span_id.map_or(derived, |s| s.0);
    (trace, span)
}

/// `gen_ai.operation.name` of a call, where the GenAI conventions have one.
fn operation(r: &AuditRecord) -> Option<&'static str> {
    match r.kind.known()? {
        RecordKind::AgentRun => Some("invoke_agent"),
        RecordKind::Tool => Some("execute_tool"),
        RecordKind::ModelCall => Some("chat"),
        _ => None,
    }
}

fn model_name(r: &AuditRecord) -> Option<&str> {
    r.versions
        .iter()
        .find(|v| v.role.as_str() == "model")
        .map(|v| v.name.as_str())
}

fn span_name(r: &AuditRecord, op: Option<&str>) -> String {
    let point = r.point.as_ref().map_or("unknown", |p| p.name.as_str());
    match (r.kind.known(), op) {
        (Some(RecordKind::ModelCall), Some(op)) => match model_name(r) {
            Some(m) => format!("{op} {m}"),
            None => op.to_owned(),
        },
        (_, Some(op)) => format!("{op} {point}"),
        (_, None) => format!("{} {point}", r.kind),
    }
}

fn attributes(s: &SealedRecord, op: Option<&str>) -> Vec<KeyValue> {
    let r = &*s.record;
    let mut a = Vec::with_capacity(32);
    // GenAI semantic conventions.
    if let Some(op) = op {
        a.push(kv_str("gen_ai.operation.name", op));
    }
    let point = r.point.as_ref();
    match r.kind.known() {
        Some(RecordKind::AgentRun) => {
            if let Some(p) = point {
                a.push(kv_str("gen_ai.agent.name", &p.name));
            }
            if let Some(run) = r.correlation.run_id {
                a.push(kv_str("gen_ai.agent.id", &run.to_string()));
            }
        }
        Some(RecordKind::Tool) => {
            if let Some(p) = point {
                a.push(kv_str("gen_ai.tool.name", &p.name));
            }
            a.push(kv_str("gen_ai.tool.call.id", &r.record_id.to_string()));
            a.push(kv_str("gen_ai.tool.type", "function"));
        }
        _ => {}
    }
    // Only a model call *requests* a model: a decision or agent that declares the model it
    // uses keeps it in `audit.version.model.<name>`, and a backend must not take it for an
    // LLM call.
    if r.kind == RecordKind::ModelCall
        && let Some(m) = model_name(r)
    {
        a.push(kv_str("gen_ai.request.model", m));
    }
    if let Some(session) = &r.correlation.session_id {
        a.push(kv_str("gen_ai.conversation.id", session));
    }
    // Users report usage and other GenAI facts as signals or follow-up attributes named
    // `gen_ai.*`; they pass through under their own names.
    let mut gen_ai: BTreeMap<&str, &Value> = BTreeMap::new();
    for sig in &r.rationale.signals {
        if sig.name.starts_with("gen_ai.") {
            gen_ai.insert(&sig.name, &sig.value);
        }
    }
    for (k, v) in &r.attributes {
        if k.starts_with("gen_ai.") {
            gen_ai.insert(k, v);
        }
    }
    for (k, v) in gen_ai {
        if !a.iter().any(|x| x.key == k) {
            a.push(kv_json(k, v));
        }
    }
    if let Some(o) = &r.outcome {
        let t = match o.status.known() {
            Some(OutcomeStatus::Err) => Some(o.error_type.as_deref().unwrap_or("err")),
            Some(OutcomeStatus::Panic) => Some("panic"),
            Some(OutcomeStatus::Cancelled) => Some("cancelled"),
            Some(OutcomeStatus::Ok | OutcomeStatus::Started | OutcomeStatus::Unobserved) | None => {
                None
            }
        };
        if let Some(t) = t {
            a.push(kv_str("error.type", t));
        }
    }
    // Code location (semantic conventions `code.*`).
    if let Some(p) = point {
        a.push(kv_str(
            "code.function.name",
            &format!("{}::{}", p.module, p.function),
        ));
        a.push(kv_str("code.file.path", &p.file));
        a.push(kv_i64("code.line.number", i64::from(p.line)));
    }

    // Audit attributes: identity and chain.
    a.push(kv_str("audit.record_id", &r.record_id.to_string()));
    a.push(kv_str("audit.kind", &r.kind.as_str()));
    a.push(kv_i64("audit.schema_version", i64::from(r.v)));
    a.push(kv_str("audit.chain", &r.service.instance.to_string()));
    a.push(kv_i64(
        "audit.seq",
        i64::try_from(r.seq).unwrap_or(i64::MAX),
    ));
    a.push(kv_str("audit.prev", &r.prev));
    a.push(kv_str("audit.hash", &s.hash.to_hex()));
    if let Some(p) = point {
        a.push(kv_str("audit.point.name", &p.name));
        a.push(kv_str("audit.point.kind", &p.kind.as_str()));
        a.push(kv_str("audit.point.crate", &p.crate_name));
        a.push(kv_str("audit.point.crate_version", &p.crate_version));
    }
    if let Some(cv) = &r.code_version {
        a.push(kv_str("audit.code_version", cv));
    }
    // Correlation.
    let c = &r.correlation;
    let ids = [
        ("audit.decision_id", c.decision_id),
        ("audit.parent_id", c.parent_id),
        ("audit.parent_decision_id", c.parent_decision_id),
        ("audit.run_id", c.run_id),
        ("audit.refers_to", r.refers_to),
    ];
    for (k, v) in ids {
        if let Some(id) = v {
            a.push(kv_str(k, &id.to_string()));
        }
    }
    // Inputs.
    if let Some(inputs) = &r.inputs {
        if let Some(d) = &inputs.digest {
            a.push(kv_str("audit.input.digest", &d.value));
            a.push(kv_str("audit.input.digest.alg", &d.alg.as_str()));
            a.push(kv_str("audit.input.digest.key_id", &d.key_id));
        }
        for arg in &inputs.args {
            a.push(kv_str(
                &format!("audit.input.{}", arg.name),
                &captured_str(&arg.captured),
            ));
        }
    }
    // Versions: `audit.version.<role>.<name>` = version, `.digest`, `.source`.
    for v in &r.versions {
        let base = format!("audit.version.{}.{}", v.role.as_str(), v.name);
        if let Some(ver) = &v.version {
            a.push(kv_str(&base, ver));
        }
        if let Some(d) = &v.digest {
            a.push(kv_str(&format!("{base}.digest"), d));
        }
        a.push(kv_str(&format!("{base}.source"), &v.source.as_str()));
    }
    if let Some(u) = &r.unversioned {
        a.push(kv_str("audit.unversioned", u));
    }
    // Rationale.
    if let Some(e) = &r.rationale.explanation {
        a.push(kv_str("audit.rationale.explanation", e));
    }
    for sig in &r.rationale.signals {
        a.push(kv_json(
            &format!("audit.rationale.signal.{}", sig.name),
            &sig.value,
        ));
    }
    // Outcome.
    if let Some(o) = &r.outcome {
        a.push(kv_str("audit.outcome.status", &o.status.as_str()));
        if let Some(v) = &o.value {
            a.push(kv_str("audit.outcome.value", &captured_str(v)));
        }
        if let Some(e) = &o.error {
            a.push(kv_str("audit.outcome.error", e));
        }
        if let Some(t) = &o.error_type {
            a.push(kv_str("audit.outcome.error_type", t));
        }
        if let Some(se) = &o.side_effect {
            a.push(kv_str("audit.tool.side_effect", &se.as_str()));
        }
    }
    // Lineage.
    if !r.lineage.is_empty() {
        let items = r.lineage.iter().map(|l| {
            let mut s = l.dataset.clone();
            if let Some(v) = &l.version {
                s.push('@');
                s.push_str(v);
            }
            if let Some(d) = &l.digest {
                s.push('#');
                s.push_str(d);
            }
            s
        });
        a.push(kv_str_array("audit.lineage", items));
    }
    // Human action, finding, free attributes.
    if let Some(h) = &r.human_action {
        a.push(kv_str("audit.human_action.action", &h.action.as_str()));
        a.push(kv_str("audit.human_action.actor", &h.actor));
        if let Some(n) = &h.note {
            a.push(kv_str("audit.human_action.note", n));
        }
        if let Some(v) = &h.new_value {
            a.push(kv_str("audit.human_action.new_value", &v.to_string()));
        }
    }
    if let Some(f) = &r.finding {
        a.push(kv_str("audit.finding", f));
    }
    for (k, v) in &r.attributes {
        a.push(kv_json(&format!("audit.attr.{k}"), v));
    }
    // Redaction provenance.
    a.push(kv_str("audit.redaction.rule_set", &r.redactions.rule_set));
    if r.redactions.detectors_disabled {
        a.push(kv_bool("audit.redaction.detectors_disabled", true));
    }
    if !r.redactions.entries.is_empty() {
        let items = r
            .redactions
            .entries
            .iter()
            .map(|e| format!("{} {} {}", e.path, e.action, e.rule));
        a.push(kv_str_array("audit.redaction.entries", items));
    }
    a
}

/// `openinference.span.kind` of a span. OpenInference has no kind for a decision: `CHAIN` ("a
/// link between application steps") is the kind its backends render for application logic
/// that is neither a model, tool nor agent call; `LLM` would be wrong even when the decision
/// declares a model, since the model call itself is its own span.
pub fn openinference_kind(k: RecordKind) -> Option<&'static str> {
    match k {
        RecordKind::AgentRun => Some("AGENT"),
        RecordKind::Tool => Some("TOOL"),
        RecordKind::ModelCall => Some("LLM"),
        RecordKind::PolicyCheck => Some("GUARDRAIL"),
        RecordKind::Decision => Some("CHAIN"),
        RecordKind::Started
        | RecordKind::Outcome
        | RecordKind::HumanAction
        | RecordKind::Lineage
        | RecordKind::Finding => None,
    }
}

/// MIME type of `input.value` / `output.value`: always JSON text.
const MIME_JSON: &str = "application/json";

/// The OpenInference attributes of a span (none for log records).
///
/// `input.value` is a JSON object of the arguments the record holds a value for (after
/// redaction), in declaration order; arguments kept only as a digest, or that could not be
/// serialized, are left out, and with none left there is no `input.value`. `output.value` is
/// the JSON of `outcome.value` when it holds a value.
fn openinference(r: &AuditRecord) -> Vec<KeyValue> {
    let mut a = Vec::with_capacity(8);
    let Some(kind) = r.kind.known().and_then(openinference_kind) else {
        return a;
    };
    a.push(kv_str("openinference.span.kind", kind));
    if let Some(inputs) = &r.inputs {
        // Written by hand to keep declaration order (`serde_json::Map` sorts its keys).
        let mut obj = String::from("{");
        for arg in &inputs.args {
            if let Some(v) = &arg.captured.value {
                if obj.len() > 1 {
                    obj.push(',');
                }
                obj.push_str(&Value::String(arg.name.clone()).to_string());
                obj.push(':');
                obj.push_str(&v.to_string());
            }
        }
        if obj.len() > 1 {
            obj.push('}');
            a.push(kv_str("input.value", &obj));
            a.push(kv_str("input.mime_type", MIME_JSON));
        }
    }
    if let Some(v) = r
        .outcome
        .as_ref()
        .and_then(|o| o.value.as_ref()?.value.as_ref())
    {
        a.push(kv_str("output.value", &v.to_string()));
        a.push(kv_str("output.mime_type", MIME_JSON));
    }
    match r.kind.known() {
        Some(RecordKind::Tool) => {
            if let Some(p) = &r.point {
                a.push(kv_str("tool.name", &p.name));
            }
        }
        Some(RecordKind::ModelCall) => {
            if let Some(m) = model_name(r) {
                a.push(kv_str("llm.model_name", m));
            }
            // Token usage reported as `gen_ai.usage.*` (whole numbers only), under the names
            // OpenInference backends count.
            let prompt = gen_ai_count(r, "gen_ai.usage.input_tokens");
            let completion = gen_ai_count(r, "gen_ai.usage.output_tokens");
            if let Some(n) = prompt {
                a.push(kv_i64("llm.token_count.prompt", n));
            }
            if let Some(n) = completion {
                a.push(kv_i64("llm.token_count.completion", n));
            }
            if let (Some(p), Some(c)) = (prompt, completion) {
                a.push(kv_i64("llm.token_count.total", p.saturating_add(c)));
            }
        }
        _ => {}
    }
    a
}

/// A `gen_ai.*` whole number as the GenAI attributes carry it: a follow-up attribute wins over
/// a rationale signal of the same name (as in [`attributes`]), the last signal over earlier ones.
fn gen_ai_count(r: &AuditRecord, name: &str) -> Option<i64> {
    let v = match r.attributes.get(name) {
        Some(v) => v,
        None => {
            &r.rationale
                .signals
                .iter()
                .rev()
                .find(|s| s.name == name)?
                .value
        }
    };
    v.as_i64()
}

/// A captured value as an attribute string: the JSON of the value, or `digest:<alg>:<key_id>:
/// <hex>` for hash-only values, or `error:<why>`.
fn captured_str(c: &CapturedValue) -> String {
    match (&c.value, &c.digest, &c.error) {
        (Some(v), _, _) => v.to_string(),
        (None, Some(d), _) => format!("digest:{}:{}:{}", d.alg, d.key_id, d.value),
        (None, None, Some(e)) => format!("error:{e}"),
        (None, None, None) => c.mode.to_string(),
    }
}

fn any_str(s: &str) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::StringValue(s.to_owned())),
    }
}

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(value) }),
        key_strindex: 0,
    }
}

fn kv_str(key: &str, v: &str) -> KeyValue {
    kv(key, any_value::Value::StringValue(v.to_owned()))
}

fn kv_i64(key: &str, v: i64) -> KeyValue {
    kv(key, any_value::Value::IntValue(v))
}

fn kv_bool(key: &str, v: bool) -> KeyValue {
    kv(key, any_value::Value::BoolValue(v))
}

fn kv_str_array(key: &str, items: impl Iterator<Item = String>) -> KeyValue {
    let values = items.map(|s| any_str(&s)).collect();
    kv(key, any_value::Value::ArrayValue(ArrayValue { values }))
}

/// JSON scalars keep their type (int, double, bool, string); objects, arrays and null become
/// their compact JSON text, since OTel attribute values are flat.
fn kv_json(key: &str, v: &Value) -> KeyValue {
    let value = match v {
        Value::Bool(b) => any_value::Value::BoolValue(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => any_value::Value::IntValue(i),
            None => any_value::Value::DoubleValue(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => any_value::Value::StringValue(s.clone()),
        other => any_value::Value::StringValue(other.to_string()),
    };
    kv(key, value)
}

/// Parse the runtime's timestamps, `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ` (fraction of 0 to 9 digits),
/// back into Unix nanoseconds. `None` for anything else.
pub fn parse_rfc3339_nanos(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u64> { s.get(r)?.parse().ok() };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1970..=9999).contains(&y)
        || !(1..=12).contains(&mo)
        || !(1..=31).contains(&d)
        || h > 23
        || mi > 59
        || se > 60
    {
        return None;
    }
    let rest = s.get(19..)?;
    let rest = rest.strip_suffix('Z')?;
    let nanos = match rest.strip_prefix('.') {
        Some(frac)
            if !frac.is_empty() && frac.len() <= 9 && frac.bytes().all(|c| c.is_ascii_digit()) =>
        {
            let v: u64 = frac.parse().ok()?;
            v * 10u64.pow(9 - u32::try_from(frac.len()).ok()?)
        }
        Some(_) => return None,
        None if rest.is_empty() => 0,
        None => return None,
    };
    // Howard Hinnant's days_from_civil.
    let (y, m) = if mo <= 2 {
        (y - 1, mo + 9)
    } else {
        (y, mo - 3)
    };
    let era = y / 400;
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = (era * 146_097 + doe).checked_sub(719_468)?;
    let secs = days * 86_400 + h * 3600 + mi * 60 + se;
    secs.checked_mul(1_000_000_000)?.checked_add(nanos)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use audit_runtime::ids::rfc3339_nanos;

    /// A record from a newer writer (a kind, status and side effect this build does not know)
    /// is exported, not dropped, and shows the words as written.
    #[test]
    fn words_this_build_does_not_know_are_exported_as_written() {
        let line = r#"{"v":1,"record_id":"01a21957-cb29-7074-a2b6-1905c8c4fba1","kind":"escalation","seq":0,"prev":"0000000000000000000000000000000000000000000000000000000000000000","service":{"name":"s","instance":"01a21957-cb29-7074-a2b6-1905c8c4fba0"},"time":{"start":"2026-01-01T00:00:00.000000000Z"},"correlation":{},"outcome":{"status":"timed_out","side_effect":"external"},"redactions":{"rule_set":"r"}}"#;
        let record: AuditRecord = serde_json::from_str(line).unwrap();
        assert_eq!(signal_of(&record), Signal::Logs);
        let sealed = SealedRecord {
            record: std::sync::Arc::new(record),
            hash: audit_runtime::chain::RecordHash([0; 32]),
            line: line.into(),
        };
        let log = to_log(&sealed);
        assert_eq!(log.event_name, "audit.escalation");
        let attr = |k: &str| {
            log.attributes.iter().find(|a| a.key == k).and_then(|a| {
                match a.value.as_ref()?.value.as_ref()? {
                    any_value::Value::StringValue(s) => Some(s.clone()),
                    _ => None,
                }
            })
        };
        assert_eq!(attr("audit.kind").as_deref(), Some("escalation"));
        assert_eq!(attr("audit.outcome.status").as_deref(), Some("timed_out"));
        assert_eq!(attr("audit.tool.side_effect").as_deref(), Some("external"));
        assert_eq!(attr("error.type"), None);
    }

    #[test]
    fn rfc3339_roundtrips_with_the_runtime_formatter() {
        for t in [
            0u64,
            951_827_696_000_000_007,
            1_798_761_599_999_999_999,
            1_764_183_248_123_456_789,
        ] {
            assert_eq!(parse_rfc3339_nanos(&rfc3339_nanos(t)), Some(t), "{t}");
        }
        assert_eq!(
            parse_rfc3339_nanos("2026-01-02T03:04:05Z"),
            Some(1_767_323_045_000_000_000)
        );
        assert_eq!(
            parse_rfc3339_nanos("2026-01-02T03:04:05.5Z"),
            Some(1_767_323_045_500_000_000)
        );
        for bad in [
            "",
            "2026-01-02",
            "2026-13-02T03:04:05Z",
            "2026-01-02T03:04:05.Z",
            "2026-01-02T03:04:05+01:00",
        ] {
            assert_eq!(parse_rfc3339_nanos(bad), None, "{bad}");
        }
    }

    #[test]
    fn json_scalars_keep_their_type() {
        let v = |x: &KeyValue| x.value.clone().and_then(|v| v.value);
        assert_eq!(
            v(&kv_json("a", &serde_json::json!(3))),
            Some(any_value::Value::IntValue(3))
        );
        assert_eq!(
            v(&kv_json("a", &serde_json::json!(0.5))),
            Some(any_value::Value::DoubleValue(0.5))
        );
        assert_eq!(
            v(&kv_json("a", &serde_json::json!(true))),
            Some(any_value::Value::BoolValue(true))
        );
        assert_eq!(
            v(&kv_json("a", &serde_json::json!({"k": [1]}))),
            Some(any_value::Value::StringValue("{\"k\":[1]}".into()))
        );
    }
}
