//! The audit record, schema version 1 (revision 1.1: open enums).
//!
//! One [`AuditRecord`] is one line of the audit log (and one span or log record in OTLP). The field
//! order of these structs *is* the canonical serialization order: the record hash is computed over
//! the bytes `serde_json` writes for them (see [`crate::chain`]), so reordering fields, renaming
//! them or changing `skip_serializing_if` rules is a schema change. `docs/RECORD-SCHEMA.md`
//! describes every field, `docs/schema/registry.json` lists the published JSON Schemas (the
//! current one is [`SCHEMA_URL`]) and `docs/SCHEMA-EVOLUTION.md` says which changes are
//! compatible.
//!
//! Every enum member of a record is an [`Open`] enum: a reader keeps a value written by a newer
//! writer instead of rejecting the record. Unknown *members* are tolerated (no type here denies
//! them) but not kept by these types: [`read_record`] names them.
//!
//! Outcomes that arrive later, human actions and lineage are separate records that refer to a
//! decision by id ([`AuditRecord::refers_to`]); nothing is ever rewritten.

use serde::{Deserialize, Serialize};
use serde_json::Value;

mod open;
mod read;

pub use open::{Open, OpenEnum, UnknownValue};
pub use read::{KNOWN_SCHEMA_VERSIONS, ReadError, RecordRead, read_record};

pub use crate::followup::HumanActionKind;
use crate::ids::{RecordId, SpanId, TraceId};
use crate::point::{ArtifactRole, PointKind, RedactAction, SideEffect};

/// The schema version written in every record's `v` field.
pub const SCHEMA_VERSION: u32 = 1;

/// The identifier (`$id`) of the JSON Schema this build writes: revision 1.1 of schema 1. An
/// identifier, not an address to fetch: the `.invalid` domain never resolves (RFC 2606); the file
/// is `docs/schema/record.v1.2.json`, listed in `docs/schema/registry.json`.
pub const SCHEMA_URL: &str = "https://audit-sdk.invalid/schema/record.v1.2.json";

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

impl RecordKind {
    /// The name written in records (`decision`, `human_action`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::AgentRun => "agent_run",
            RecordKind::Decision => "decision",
            RecordKind::Tool => "tool",
            RecordKind::ModelCall => "model_call",
            RecordKind::PolicyCheck => "policy_check",
            RecordKind::Started => "started",
            RecordKind::Outcome => "outcome",
            RecordKind::HumanAction => "human_action",
            RecordKind::Lineage => "lineage",
            RecordKind::Finding => "finding",
        }
    }
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
    pub kind: Open<PointKind>,
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
    pub alg: Open<DigestAlg>,
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
    pub mode: Open<CaptureMode>,
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
    pub role: Open<ArtifactRole>,
    /// Its name.
    pub name: String,
    /// The version in force, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// BLAKE3 digest of the deployed artifact, when registered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// Where the version came from.
    pub source: Open<VersionOrigin>,
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

impl OutcomeStatus {
    /// The name written in records.
    pub fn as_str(self) -> &'static str {
        match self {
            OutcomeStatus::Ok => "ok",
            OutcomeStatus::Err => "err",
            OutcomeStatus::Panic => "panic",
            OutcomeStatus::Cancelled => "cancelled",
            OutcomeStatus::Started => "started",
            OutcomeStatus::Unobserved => "unobserved",
        }
    }
}

/// What came out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Outcome {
    /// How the call ended.
    pub status: Open<OutcomeStatus>,
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
    pub side_effect: Option<Open<SideEffect>>,
}

impl Outcome {
    /// An outcome with `status` and nothing else.
    pub fn new(status: OutcomeStatus) -> Self {
        Outcome {
            status: Open::Known(status),
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
    pub action: Open<RedactAction>,
    /// Why a rule was not applied as written (fail closed: the value was erased instead), or
    /// why the whole record was scrubbed. Never contains the original value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Written as in provenance entries and rule files: `erase`, `mask(4)`, `hash`, `digest`.
impl std::fmt::Display for RedactAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.word())
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
    pub action: Open<HumanActionKind>,
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
    pub kind: Open<RecordKind>,
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

/// The JSON Schema (draft 2020-12) of a schema-1 record line as this build writes and reads it:
/// an [`AuditRecord`] plus the `hash` member the chain appends, with `$id` [`SCHEMA_URL`]. The
/// newest file of `docs/schema/registry.json` is this output, checked by a test.
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
    schema.insert("$id".into(), SCHEMA_URL.into());
    let mut out = serde_json::to_string_pretty(&schema).unwrap_or_default();
    out.push('\n');
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn typed_fields_write_the_schema_words_and_keep_others_as_written() {
        let e = RedactionEntry {
            path: "inputs.card".into(),
            rule: "detector:payment_card".into(),
            action: RedactAction::Mask { keep: 4 }.into(),
            reason: None,
        };
        let text = serde_json::to_string(&e).unwrap();
        assert_eq!(
            text,
            r#"{"path":"inputs.card","rule":"detector:payment_card","action":"mask(4)"}"#
        );
        assert_eq!(serde_json::from_str::<RedactionEntry>(&text).unwrap(), e);
        // Words this build does not know (or that would not write back the same) are kept as
        // unknown and written back byte for byte.
        for other in [
            "mask(256)",
            "mask(x)",
            "mask(04)",
            "mask(+4)",
            "Mask(4)",
            "erased",
            " hash",
        ] {
            let line = text.replace("mask(4)", other);
            let read = serde_json::from_str::<RedactionEntry>(&line).unwrap();
            assert!(!read.action.is_known(), "{other}");
            assert_eq!(read.action.as_str(), other);
            assert_eq!(serde_json::to_string(&read).unwrap(), line);
        }
        assert!(serde_json::from_str::<RedactionEntry>(&text.replace("\"mask(4)\"", "4")).is_err());
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
        let hashed: Open<CaptureMode> = serde_json::from_value("hashed".into()).unwrap();
        assert_eq!(hashed.as_str(), "hashed");
        assert_ne!(hashed, CaptureMode::Digest);
    }

    /// `Open<T>` writes exactly what `T`'s derived `Serialize` wrote before enums were open, and
    /// reads it back as `Known`: the canonical bytes of every record written so far are unchanged.
    fn same_bytes_as_the_derive<T>()
    where
        T: OpenEnum + Serialize + serde::de::DeserializeOwned,
    {
        for &k in T::KNOWN {
            let derived = serde_json::to_string(&k).unwrap();
            let open = serde_json::to_string(&Open::Known(k)).unwrap();
            assert_eq!(open, derived, "{k:?}");
            assert_eq!(derived, format!("\"{}\"", k.word()));
            let back: Open<T> = serde_json::from_str(&derived).unwrap();
            assert_eq!(back, k);
            assert_eq!(serde_json::from_str::<T>(&derived).unwrap(), k);
            assert_eq!(back.to_string(), k.word());
        }
        let new: Open<T> = serde_json::from_str("\"a_word_from_the_future\"").unwrap();
        assert_eq!(new.known(), None);
        assert_eq!(
            serde_json::to_string(&new).unwrap(),
            "\"a_word_from_the_future\""
        );
        for not_a_string in ["1", "null", "{}", "[\"decision\"]", "true"] {
            assert!(
                serde_json::from_str::<Open<T>>(not_a_string).is_err(),
                "{not_a_string}"
            );
        }
    }

    #[test]
    fn every_known_word_keeps_its_bytes() {
        same_bytes_as_the_derive::<RecordKind>();
        same_bytes_as_the_derive::<PointKind>();
        same_bytes_as_the_derive::<DigestAlg>();
        same_bytes_as_the_derive::<CaptureMode>();
        same_bytes_as_the_derive::<VersionOrigin>();
        same_bytes_as_the_derive::<ArtifactRole>();
        same_bytes_as_the_derive::<OutcomeStatus>();
        same_bytes_as_the_derive::<SideEffect>();
        same_bytes_as_the_derive::<HumanActionKind>();
        for keep in [0u8, 4, 255] {
            let a = RedactAction::Mask { keep };
            assert_eq!(
                Open::<RedactAction>::from_word(&a.to_string()),
                Open::Known(a)
            );
        }
        for &a in RedactAction::KNOWN {
            assert_eq!(Open::<RedactAction>::from_word(&a.to_string()), a);
        }
    }

    #[test]
    fn a_record_with_unknown_words_reads_and_writes_back_unchanged() {
        let line = r#"{"v":1,"record_id":"01a21957-cb29-7074-a2b6-1905c8c4fba1","kind":"escalation","seq":0,"prev":"0000000000000000000000000000000000000000000000000000000000000000","service":{"name":"s","instance":"01a21957-cb29-7074-a2b6-1905c8c4fba0"},"time":{"start":"2026-01-01T00:00:00.000000000Z"},"correlation":{},"outcome":{"status":"timed_out","side_effect":"external"},"redactions":{"rule_set":"r"}}"#;
        let r: AuditRecord = serde_json::from_str(line).unwrap();
        assert_eq!(r.kind.as_str(), "escalation");
        assert_eq!(r.kind.known(), None);
        let o = r.outcome.as_ref().unwrap();
        assert_eq!(o.status.to_string(), "timed_out");
        assert_eq!(o.side_effect.as_ref().unwrap().as_str(), "external");
        assert_eq!(serde_json::to_string(&r).unwrap(), line);
    }
}
