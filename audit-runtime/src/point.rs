//! Audit points: the static description of one annotated function, and the compile-time
//! registry of all of them.
//!
//! Every `#[audited_*]` expansion defines one `static` [`AuditPoint`] and submits it with
//! [`inventory`]. [`points()`] lists every point compiled into the running binary.
//!
//! Architecture Invariant: `inventory` sees only crates that are *linked* into the binary. A
//! library crate whose functions are never referenced may be dropped by the linker, and its points
//! with it. The static scan of `cargo xtask coverage` is therefore the denominator for coverage;
//! the registry is what a given binary actually carries.

use serde::Serialize;

/// What an audited function is, as declared by the attribute that annotates it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum PointKind {
    /// `#[audited_agent]`: one run of an agent, the root that decisions and tools nest under.
    AgentRun,
    /// `#[audited_decision]`: a place where the agent decides something.
    Decision,
    /// `#[audited_tool]`: a tool the agent calls.
    Tool,
    /// `#[audited_model_call]`: one call to a model (LLM or other).
    ModelCall,
    /// `#[audited_policy_check]`: a policy or guardrail evaluation.
    PolicyCheck,
}

impl PointKind {
    /// The name used in records and span names (`decision`, `tool`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            PointKind::AgentRun => "agent_run",
            PointKind::Decision => "decision",
            PointKind::Tool => "tool",
            PointKind::ModelCall => "model_call",
            PointKind::PolicyCheck => "policy_check",
        }
    }
}

/// How one parameter of an audited function enters the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ArgMode {
    /// Not captured and not digested (the default: capture is opt-in).
    Skip,
    /// Serialized with serde into the record (after redaction) and covered by the input digest.
    Capture,
    /// Only a keyed digest of the serialized value is recorded; covered by the input digest.
    HashOnly,
}

/// How the return value enters the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputMode {
    /// Only the status (ok, err, panic, cancelled) and, for errors, their description.
    Status,
    /// The Ok value (or the whole value, for non-`Result` functions) serialized with serde.
    Capture,
    /// A keyed digest of the serialized Ok value.
    HashOnly,
}

/// One parameter as declared in the attribute.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ArgSpec {
    /// The parameter name (`self` for receivers).
    pub name: &'static str,
    /// What the record keeps of it.
    pub mode: ArgMode,
}

/// The role a versioned artifact plays in a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ArtifactRole {
    /// A model (LLM, classifier, scorer).
    Model,
    /// A prompt or prompt template.
    Prompt,
    /// A policy or rule set.
    Policy,
    /// A feature set or feature-store view.
    FeatureSet,
    /// Reference data (tables, lists) the decision consults.
    ReferenceData,
}

impl ArtifactRole {
    /// The snake_case name used in records.
    pub fn as_str(self) -> &'static str {
        match self {
            ArtifactRole::Model => "model",
            ArtifactRole::Prompt => "prompt",
            ArtifactRole::Policy => "policy",
            ArtifactRole::FeatureSet => "feature_set",
            ArtifactRole::ReferenceData => "reference_data",
        }
    }
}

/// Where the version of a declared artifact comes from.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(tag = "from", content = "value", rename_all = "snake_case")]
pub enum VersionSource {
    /// A string literal or `const` in the attribute, known at compile time.
    Literal(&'static str),
    /// An expression in the attribute, evaluated on every call; the text is kept for reports.
    Expr(&'static str),
    /// Looked up by name in the runtime registry of deployed artifacts
    /// ([`crate::artifacts::register`]) when the record is assembled.
    Registry,
}

/// One versioned artifact declared by an audit point.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct VersionSpec {
    /// What the artifact is.
    pub role: ArtifactRole,
    /// Its name (for example `credit-scorer`).
    pub name: &'static str,
    /// Where its version comes from.
    pub version: VersionSource,
}

/// What a redaction rule does to the value at its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum RedactAction {
    /// Remove the value (replaced by the string `[erased]`).
    Erase,
    /// Replace every character but the last `keep` by `*` (strings; other values are erased).
    Mask {
        /// How many trailing characters stay visible.
        keep: u8,
    },
    /// Replace by a keyed BLAKE3 hash (`hash:<hex>`), so equal values stay comparable.
    Hash,
    /// Replace by a keyed digest object (`{"digest": {...}}`), like `hash_only` for a field.
    Digest,
}

/// A redaction rule declared in the attribute: `redact(applicant.email = mask(4))`.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct RedactSpec {
    /// The path, starting with a captured parameter's name or `output`: segments are serialized
    /// field names or map keys (`.name`), every element of a sequence (`[]`) or every member of a
    /// map (`.*`). Example: `applicant.phones[]`, `output.card`.
    pub path: &'static str,
    /// What to do with the value there.
    pub action: RedactAction,
}

/// The side-effect class of a tool, so reviewers can tell reads from writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum SideEffect {
    /// No side effects (pure computation).
    None,
    /// Reads external state.
    Read,
    /// Writes or changes external state.
    Write,
    /// Irreversible external action (payment, email, deletion).
    Irreversible,
}

impl SideEffect {
    /// The snake_case name used in records.
    pub fn as_str(self) -> &'static str {
        match self {
            SideEffect::None => "none",
            SideEffect::Read => "read",
            SideEffect::Write => "write",
            SideEffect::Irreversible => "irreversible",
        }
    }
}

/// The static description of one audited function. Built by the macros; read by the runtime,
/// the registry and coverage reports.
#[derive(Debug, Serialize)]
pub struct AuditPoint {
    /// The audit name (`loan.approve`); defaults to the function name.
    pub name: &'static str,
    /// What kind of point this is.
    pub kind: PointKind,
    /// The Rust function name.
    pub function: &'static str,
    /// `module_path!()` at the function.
    pub module_path: &'static str,
    /// `file!()` at the function.
    pub file: &'static str,
    /// `line!()` of the function's attribute.
    pub line: u32,
    /// `CARGO_PKG_NAME` of the crate that defines the function.
    pub crate_name: &'static str,
    /// `CARGO_PKG_VERSION` of that crate.
    pub crate_version: &'static str,
    /// Every named parameter with its capture mode.
    pub args: &'static [ArgSpec],
    /// What the record keeps of the return value.
    pub output: OutputMode,
    /// Whether the function returns a `Result` (detected from the signature or declared).
    pub returns_result: bool,
    /// Redaction rules declared in the attribute, applied before the record is hashed.
    pub redact: &'static [RedactSpec],
    /// Declared versioned artifacts.
    pub versions: &'static [VersionSpec],
    /// `unversioned = "reason"`: the declaration that no versioned artifact applies, and why.
    pub unversioned: Option<&'static str>,
    /// The tool's side-effect class, when declared.
    pub side_effect: Option<SideEffect>,
    /// Whether a `started` record is written when the call begins.
    pub started: bool,
    /// Whether the function is `async` (or returns a future the macro instrumented).
    pub is_async: bool,
}

/// A registered audit point (what `inventory` collects).
#[derive(Debug)]
pub struct RegisteredPoint(pub &'static AuditPoint);

inventory::collect!(RegisteredPoint);

/// Every audit point compiled into this binary, in no particular order.
///
/// Only crates linked into the binary contribute (see the module documentation).
pub fn points() -> impl Iterator<Item = &'static AuditPoint> {
    inventory::iter::<RegisteredPoint>.into_iter().map(|p| p.0)
}

/// Every audit point compiled into this binary as a JSON array, sorted by file and line: the
/// registry dump `cargo xtask coverage --registry <file>` reads to tell which points a binary
/// carries (see `docs/COVERAGE.md`). Each element is an [`AuditPoint`] as serde serializes it.
///
/// Serializing these static descriptions cannot fail (strings, numbers, enums and lists only);
/// should it ever, the result is a JSON object with an `error` field, which `--registry`
/// rejects with that message rather than reading it as an empty registry.
pub fn registry_json() -> String {
    let mut all: Vec<&'static AuditPoint> = points().collect();
    all.sort_by_key(|p| (p.file, p.line, p.name));
    serde_json::to_string_pretty(&all)
        .unwrap_or_else(|e| serde_json::json!({ "error": e.to_string() }).to_string())
}
