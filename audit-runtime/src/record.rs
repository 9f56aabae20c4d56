//! The audit record, schema version 1.
//!
//! One [`AuditRecord`] is one line of the audit log (and one span or log record in OTLP). The field
//! order of these structs *is* the canonical serialization order: the record hash is computed over
//! the bytes `serde_json` writes for them (see [`crate::chain`]), so reordering fields, renaming
//! them or changing `skip_serializing_if` rules is a schema change. `docs/RECORD-SCHEMA.md`
//! describes every field and `docs/schema/record.v1.json` is the JSON Schema.
//!
//! Outcomes that arrive later, human actions and lineage are separate records that refer to a
//! decision by id ([`AuditRecord::refers_to`]); nothing is ever rewritten.

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use crate::followup::HumanActionKind;
use crate::ids::{RecordId, SpanId, TraceId};
use crate::point::{ArtifactRole, PointKind, RedactAction, SideEffect};

/// The schema version written in every record's `v` field.
pub const SCHEMA_VERSION: u32 = 1;

/// What a record describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    /// A completed (or failed, panicked, cancelled) agent run.
    AgentRun,
    /// A completed decision.
    Decision,
    /// A completed tool call.
    Tool,
    /// A completed model call.
    ModelCall,
    /// A completed policy check.
    PolicyCheck,
    /// A call that has started; its completion is a later record with the same `record_id` in
    /// `refers_to`. Written for points with `started` (agent runs by default) so that a long or
    /// aborted call still leaves a trace.
    Started,
    /// An outcome reported after the decision (a repayment, a chargeback, a customer reply).
    Outcome,
    /// A human approval, override, rejection or appeal.
    HumanAction,
    /// Data sets and feature versions a decision read, reported separately.
    Lineage,
    /// A finding raised by the runtime about another record (for example a declared version that
    /// does not match the deployed artifact).
    Finding,
}

impl From<PointKind> for RecordKind {
    fn from(k: PointKind) -> Self {
        match k {
            PointKind::AgentRun => RecordKind::AgentRun,
            PointKind::Decision => RecordKind::Decision,
            PointKind::Tool => RecordKind::Tool,
            PointKind::ModelCall => RecordKind::ModelCall,
            PointKind::PolicyCheck => RecordKind::PolicyCheck,
        }
    }
}

/// The process that wrote the record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ServiceInfo {
    /// Service name (builder, `AUDIT_SERVICE_NAME` or `OTEL_SERVICE_NAME`).
    pub name: String,
    /// Service version, when configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The process instance: a UUIDv7 chosen when the runtime is installed. It names the chain.
    pub instance: RecordId,
}

/// Where the audited function lives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct PointInfo {
    /// Audit name.
    pub name: String,
    /// Point kind.
    pub kind: PointKind,
    /// Crate name.
    #[serde(rename = "crate")]
    pub crate_name: String,
    /// Crate version.
    pub crate_version: String,
    /// Module path.
    pub module: String,
    /// Function name.
    pub function: String,
    /// Source file.
    pub file: String,
    /// Source line.
    pub line: u32,
}

/// When the call ran. `seq` orders records; these are the process's wall clock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct TimeInfo {
    /// Start, RFC 3339 UTC with nanoseconds.
    pub start: String,
    /// End, RFC 3339 UTC with nanoseconds (absent for `started` and follow-up records).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
    /// Duration in nanoseconds, measured with the monotonic clock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ns: Option<u64>,
}

/// How the record relates to the calls around it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Correlation {
    /// The decision this record belongs to: its own id for a decision, the enclosing decision's
    /// id for tools, model calls and policy checks made inside one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision_id: Option<RecordId>,
    /// The record id of the immediately enclosing audited call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<RecordId>,
    /// The enclosing decision of a decision (nested decisions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_decision_id: Option<RecordId>,
    /// The enclosing agent run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<RecordId>,
    /// The session (conversation) id, when one was set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// W3C trace id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<TraceId>,
    /// W3C span id of this call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub span_id: Option<SpanId>,
    /// W3C span id of the parent span.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_span_id: Option<SpanId>,
}

/// A keyed BLAKE3 digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct KeyedDigest {
    /// The algorithm (`blake3-keyed`, the only one in schema 1).
    pub alg: DigestAlg,
    /// Identifies the key without revealing it (see [`crate::digest::DigestKey::key_id`]).
    pub key_id: String,
    /// 64 lower-case hex digits.
    pub value: String,
}

/// The algorithm of a [`KeyedDigest`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum DigestAlg {
    /// BLAKE3 in keyed mode with the deployment's 32-byte digest key.
    #[serde(rename = "blake3-keyed")]
    Blake3Keyed,
}

impl std::fmt::Display for DigestAlg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl DigestAlg {
    /// The name written in records.
    pub fn as_str(self) -> &'static str {
        match self {
            DigestAlg::Blake3Keyed => "blake3-keyed",
        }
    }
}

/// How a [`CapturedValue`] holds the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum CaptureMode {
    /// The serialized value is in `value` (after redaction).
    Captured,
    /// Only a keyed digest of it is in `digest` (`hash_only`, `output = digest`).
    Digest,
    /// It could not be serialized; `error` says why.
    Error,
}

impl std::fmt::Display for CaptureMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl CaptureMode {
    /// The name written in records.
    pub fn as_str(self) -> &'static str {
        match self {
            CaptureMode::Captured => "captured",
            CaptureMode::Digest => "digest",
            CaptureMode::Error => "error",
        }
    }
}

/// Where the version in a [`VersionRef`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum VersionOrigin {
    /// A literal or `const` in the attribute.
    Literal,
    /// An expression in the attribute, evaluated for the call.
    Expr,
    /// The runtime's artifact registry.
    Registry,
}

impl std::fmt::Display for VersionOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl VersionOrigin {
    /// The name written in records.
    pub fn as_str(self) -> &'static str {
        match self {
            VersionOrigin::Literal => "literal",
            VersionOrigin::Expr => "expr",
            VersionOrigin::Registry => "registry",
        }
    }
}

/// One captured argument (or output).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct CapturedValue {
    /// How the value is held.
    pub mode: CaptureMode,
    /// The serialized value, after redaction (mode `captured`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    /// Keyed digest of the canonical serialization (mode `digest`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<KeyedDigest>,
    /// Why the value could not be captured (mode `error`): the value is not in the record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What went in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Inputs {
    /// Keyed digest over the canonical serialization of every captured or hash-only argument,
    /// computed *before* redaction (see `docs/RECORD-SCHEMA.md` for the exact bytes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<KeyedDigest>,
    /// The arguments, by name, in declaration order.
    pub args: Vec<NamedValue>,
}

/// A captured value with its parameter name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct NamedValue {
    /// Parameter name.
    pub name: String,
    /// What was captured.
    #[serde(flatten)]
    pub captured: CapturedValue,
}

/// One versioned artifact in force for the call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct VersionRef {
    /// Its role.
    pub role: ArtifactRole,
    /// Its name.
    pub name: String,
    /// The version in force, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// BLAKE3 digest of the deployed artifact, when registered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// Where the version came from.
    pub source: VersionOrigin,
}

/// One signal that contributed to a decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Signal {
    /// Signal name (`score`, `dti`, `rule.7`).
    pub name: String,
    /// Its value (number, string, bool or any JSON).
    pub value: Value,
}

/// Why the decision was taken.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Rationale {
    /// Human-readable explanation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explanation: Option<String>,
    /// Signals and scores, in the order recorded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signals: Vec<Signal>,
}

impl Rationale {
    /// True if nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.explanation.is_none() && self.signals.is_empty()
    }
}

/// How a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum OutcomeStatus {
    /// Returned normally (`Ok` for `Result` functions).
    Ok,
    /// Returned `Err`.
    Err,
    /// Panicked; the panic continued to the caller.
    Panic,
    /// The future was dropped before it finished.
    Cancelled,
    /// The call has started (only in `started` records).
    Started,
    /// The function returned a future of a type the audit cannot follow (neither an `async fn`,
    /// an `async` block tail, `impl Future` nor a boxed `dyn Future`): the record covers only
    /// the synchronous call that made it, and `error` names the type. Never recorded as `ok`.
    Unobserved,
}

/// What came out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Outcome {
    /// How the call ended.
    pub status: OutcomeStatus,
    /// The returned value per the point's output mode (after redaction).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<CapturedValue>,
    /// Error description (`Display`, else `Debug`, else the type name) for `err`; the panic
    /// message for `panic`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The Rust type of the error, for `err`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_type: Option<String>,
    /// The concrete type behind a trait object (`Box<dyn Error>`, `anyhow::Error`), when the
    /// runtime could identify it (`std` error types and types registered with
    /// `audit_runtime::register_error_type`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_dyn_type: Option<String>,
    /// The error's `source()` chain, outermost first (for `anyhow::Error`: its contexts and
    /// the root cause).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub error_sources: Vec<ErrorSource>,
    /// The tool's side-effect class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub side_effect: Option<SideEffect>,
}

impl Outcome {
    /// An outcome with `status` and nothing else.
    pub fn new(status: OutcomeStatus) -> Self {
        Outcome {
            status,
            value: None,
            error: None,
            error_type: None,
            error_dyn_type: None,
            error_sources: Vec::new(),
            side_effect: None,
        }
    }
}

/// One error of an `Err`'s `source()` chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ErrorSource {
    /// Its `Display` text (redacted like any other text).
    pub message: String,
    /// Its concrete type, when the runtime could identify it.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub error_type: Option<String>,
}

/// A data set or feature version a decision read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct LineageRef {
    /// Data set or feature view name.
    pub dataset: String,
    /// Its version, snapshot or partition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// A digest of the data read, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

/// One redaction applied to the record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RedactionEntry {
    /// JSON path of the value within the record (`inputs.applicant.email`).
    pub path: String,
    /// The rule or detector that matched.
    pub rule: String,
    /// What was done: written `erase`, `mask(N)`, `hash` or `digest`.
    #[serde(with = "action_text")]
    #[cfg_attr(feature = "schema", schemars(schema_with = "action_text::schema"))]
    pub action: RedactAction,
    /// Why a rule was not applied as written (fail closed: the value was erased instead), or
    /// why the whole record was scrubbed. Never contains the original value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `RedactAction` as the text of a provenance entry (`mask(4)`), not the tagged object of the
/// point metadata.
mod action_text {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::point::RedactAction;

    pub(super) fn serialize<S: Serializer>(a: &RedactAction, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(a)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<RedactAction, D::Error> {
        let s = std::borrow::Cow::<str>::deserialize(d)?;
        let mask = || {
            s.strip_prefix("mask(")?
                .strip_suffix(')')?
                .parse::<u8>()
                .ok()
                .map(|keep| RedactAction::Mask { keep })
        };
        match &*s {
            "erase" => Ok(RedactAction::Erase),
            "hash" => Ok(RedactAction::Hash),
            "digest" => Ok(RedactAction::Digest),
            _ => mask().ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "unknown redaction action `{s}` (expected erase, mask(N), hash or digest)"
                ))
            }),
        }
    }

    #[cfg(feature = "schema")]
    pub(super) fn schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^(erase|hash|digest|mask\\([0-9]{1,3}\\))$"
        })
    }
}

/// Written as in provenance entries and rule files: `erase`, `mask(4)`, `hash`, `digest`.
impl std::fmt::Display for RedactAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RedactAction::Erase => f.write_str("erase"),
            RedactAction::Mask { keep } => write!(f, "mask({keep})"),
            RedactAction::Hash => f.write_str("hash"),
            RedactAction::Digest => f.write_str("digest"),
        }
    }
}

/// What redaction did to the record. The original values are never recorded.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Redactions {
    /// Version of the rule set in force.
    pub rule_set: String,
    /// Whether the default detectors were switched off by configuration.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub detectors_disabled: bool,
    /// The redactions applied.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entries: Vec<RedactionEntry>,
}

/// A human action on a decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct HumanActionInfo {
    /// What the human did.
    pub action: HumanActionKind,
    /// Who acted (a user id, not a name, where privacy requires).
    pub actor: String,
    /// Free-text note (redacted like any other text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The value that replaced the decision's outcome, for overrides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_value: Option<Value>,
}

/// One audit record. Field order is the canonical serialization order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct AuditRecord {
    /// Schema version ([`SCHEMA_VERSION`]).
    pub v: u32,
    /// This record's id (UUIDv7).
    pub record_id: RecordId,
    /// What the record describes.
    pub kind: RecordKind,
    /// Position in the writing process's chain: the first record is 0, each next one adds 1.
    pub seq: u64,
    /// `hash` of the previous record in the chain (64 hex digits; all zeros for `seq` 0).
    pub prev: String,
    /// The writing process.
    pub service: ServiceInfo,
    /// The audited function, for call records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub point: Option<PointInfo>,
    /// When.
    pub time: TimeInfo,
    /// How it relates to other records.
    pub correlation: Correlation,
    /// The record this one refers to (follow-ups, completions of `started` records, findings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refers_to: Option<RecordId>,
    /// What went in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs: Option<Inputs>,
    /// Versioned artifacts in force.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub versions: Vec<VersionRef>,
    /// `unversioned = "reason"` from the attribute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unversioned: Option<String>,
    /// Version of the code that ran (crate version, plus the configured build id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_version: Option<String>,
    /// Why.
    #[serde(default, skip_serializing_if = "Rationale::is_empty")]
    pub rationale: Rationale,
    /// What came out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    /// Data read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lineage: Vec<LineageRef>,
    /// A human action (kind `human_action`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub human_action: Option<HumanActionInfo>,
    /// A finding (kind `finding`): what is wrong, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finding: Option<String>,
    /// What redaction did.
    pub redactions: Redactions,
    /// Free attributes reported with follow-up records.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub attributes: serde_json::Map<String, Value>,
    /// Set on a call whose parent is a record of another process, named by a propagated context
    /// (`docs/PROPAGATION.md`): which record the remote side *claims* as the parent, and how the
    /// claim arrived. `correlation.parent_id` then holds the same id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_parent: Option<RemoteParent>,
    /// Calls to other services that this call made with its context injected
    /// ([`crate::propagation::note_remote_call`]), in the order they were noted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remote_calls: Vec<RemoteCall>,
}

/// The origin of a propagated context: the parent a remote caller named.
///
/// Everything here is the remote side's claim, read from the request: the record id is not
/// checked against any log here (`docs/PROPAGATION.md`, trust across the boundary).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RemoteParent {
    /// The calling record's id (baggage entry `audit.parent`), when the caller sent one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_id: Option<RecordId>,
    /// The caller's service name (baggage entry `audit.service`), when it sent one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// The carrier the context came in.
    pub via: PropagationVia,
}

/// How a propagated context travelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum PropagationVia {
    /// W3C `traceparent` (+ `tracestate`) and `baggage` headers (HTTP, gRPC metadata).
    Headers,
    /// The same keys in an MCP request's `params._meta`.
    McpMeta,
}

/// An outgoing call to another service, noted on the calling record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RemoteCall {
    /// What was called, as the caller names it (a URL, `host:port/path`, an MCP method).
    pub target: String,
    /// The remote service's name, when the caller knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// The span id sent in the outgoing `traceparent` (the calling record's span): the remote
    /// side's `correlation.parent_span_id`.
    pub span_id: SpanId,
}

/// The JSON Schema (draft 2020-12) of a schema-1 record line: an [`AuditRecord`] plus the `hash`
/// member the chain appends. `docs/schema/record.v1.json` is this output, checked by a test.
#[cfg(feature = "schema")]
pub fn json_schema() -> String {
    let mut schema = schemars::schema_for!(AuditRecord);
    if let Some(props) = schema.get_mut("properties").and_then(|p| p.as_object_mut()) {
        props.insert(
            "hash".into(),
            serde_json::json!({
                "description": "BLAKE3-256 of the record's canonical bytes, 64 lower-case hex digits (see docs/FILE-FORMAT.md)",
                "type": "string",
                "pattern": "^[0-9a-f]{64}$"
            }),
        );
    }
    if let Some(req) = schema.get_mut("required").and_then(|r| r.as_array_mut()) {
        req.push(serde_json::Value::String("hash".into()));
    }
    schema.insert(
        "$id".into(),
        "https://audit-sdk.invalid/schema/record.v1.json".into(),
    );
    let mut out = serde_json::to_string_pretty(&schema).unwrap_or_default();
    out.push('\n');
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn typed_fields_write_the_schema_words_and_reject_others() {
        let e = RedactionEntry {
            path: "inputs.card".into(),
            rule: "detector:payment_card".into(),
            action: RedactAction::Mask { keep: 4 },
            reason: None,
        };
        let text = serde_json::to_string(&e).unwrap();
        assert_eq!(
            text,
            r#"{"path":"inputs.card","rule":"detector:payment_card","action":"mask(4)"}"#
        );
        assert_eq!(serde_json::from_str::<RedactionEntry>(&text).unwrap(), e);
        for bad in ["mask(256)", "mask(x)", "Mask(4)", "erased", " hash"] {
            let line = text.replace("mask(4)", bad);
            assert!(
                serde_json::from_str::<RedactionEntry>(&line).is_err(),
                "{bad}"
            );
        }
        for (mode, word) in [
            (CaptureMode::Captured, "captured"),
            (CaptureMode::Digest, "digest"),
            (CaptureMode::Error, "error"),
        ] {
            assert_eq!(serde_json::to_value(mode).unwrap(), word);
        }
        for (origin, word) in [
            (VersionOrigin::Literal, "literal"),
            (VersionOrigin::Expr, "expr"),
            (VersionOrigin::Registry, "registry"),
        ] {
            assert_eq!(serde_json::to_value(origin).unwrap(), word);
        }
        assert_eq!(
            serde_json::to_value(HumanActionKind::Override).unwrap(),
            "override"
        );
        assert_eq!(
            serde_json::to_value(DigestAlg::Blake3Keyed).unwrap(),
            "blake3-keyed"
        );
        assert!(serde_json::from_value::<CaptureMode>("hashed".into()).is_err());
    }
}
