//! The coverage report: the one data structure every output format renders.
//!
//! What must hold: the JSON form of [`Report`] is a published interface (`docs/COVERAGE.md`
//! documents it field by field). Adding an optional field is compatible; renaming or removing a
//! field, or changing what a number means, bumps [`SCHEMA_VERSION`]. Lists are sorted (points by
//! file and line, findings by file, line and code) so two runs over the same sources give
//! byte-identical JSON and diffs of committed reports stay readable.

use serde::{Deserialize, Serialize};

/// Version of the JSON report schema.
pub const SCHEMA_VERSION: u32 = 1;

/// Whether a decision point is audited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Carries an `#[audited_*]` attribute.
    Audited,
    /// Matched a rule but carries no audit attribute and no exemption.
    Unaudited,
    /// Opted out with a reason.
    Exempt,
}

impl Status {
    /// The lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Audited => "audited",
            Status::Unaudited => "unaudited",
            Status::Exempt => "exempt",
        }
    }
}

/// One declared versioned artifact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct DeclaredVersion {
    /// `model`, `prompt`, `policy`, `feature_set` or `reference_data`.
    pub role: String,
    /// The artifact name.
    pub name: String,
    /// The version: the literal, or the expression's text; absent when looked up in the runtime
    /// artifact registry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// `literal`, `expr` or `registry`.
    pub source: String,
}

/// The declared options of an audited point.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct Annotation {
    /// The attribute as written (`audit_runtime::audited_decision`, `tool`).
    pub attribute: String,
    /// `unversioned = "reason"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unversioned: Option<String>,
    /// Declared versioned artifacts.
    #[serde(default)]
    pub versions: Vec<DeclaredVersion>,
    /// Parameters captured in full (from `capture(..)` or `capture_all`).
    #[serde(default)]
    pub captured: Vec<String>,
    /// Parameters recorded only as a keyed digest.
    #[serde(default)]
    pub hash_only: Vec<String>,
    /// `redact(..)` paths.
    #[serde(default)]
    pub redact: Vec<String>,
    /// `output = ..` (`status` when not given).
    pub output: String,
    /// `side_effect = ..` for tools.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub side_effect: Option<String>,
    /// The `cfg_attr` predicate when the attribute applies only under a cfg.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cfg_attr: Option<String>,
    /// Option keys this scanner does not know (kept so new macro options are visible).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub other_options: Vec<String>,
}

/// Runtime evidence for one audited point.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct PointRuntime {
    /// Whether the registry dump lists the point (`None` when no registry was given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_registry: Option<bool>,
    /// Completed calls found in the logs.
    pub calls: u64,
    /// Calls that ended in `err`, `panic` or `cancelled`.
    pub errors: u64,
    /// `errors / calls`, 0 when there were no calls.
    pub error_rate: f64,
    /// Versions seen in the logs, as `role:name@version`, sorted.
    #[serde(default)]
    pub versions_seen: Vec<String>,
}

/// One decision point: audited, unaudited or exempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct Point {
    /// Stable identifier: `module::function`, `module::Type::function` or
    /// `module::<Type as Trait>::function`. Baselines refer to points by it.
    pub id: String,
    /// Package name.
    #[serde(rename = "crate")]
    pub crate_name: String,
    /// Module path (`crate_ident::a::b`), as `module_path!()` gives it.
    pub module: String,
    /// Function name.
    pub function: String,
    /// Source file, relative to the workspace root, `/`-separated.
    pub file: String,
    /// Line of the function name.
    pub line: u32,
    /// Last line of the function.
    pub end_line: u32,
    /// The source line that declares the function.
    pub signature: String,
    /// Audited, unaudited or exempt.
    pub status: Status,
    /// Point kind for audited points (`decision`, `tool`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Audit name (the `name` option or the function name) for audited points.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Declared options for audited points.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotation: Option<Annotation>,
    /// Why the rules consider the function a decision point (empty for audited points no rule
    /// matched: the attribute itself makes them one).
    #[serde(default)]
    pub matched_rules: Vec<String>,
    /// The exemption reason for exempt points.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exemption: Option<String>,
    /// `cfg` predicates the function is compiled under.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cfg: Vec<String>,
    /// Whether every annotation quality check passed (audited points only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub complete: Option<bool>,
    /// Runtime evidence, when a registry or logs were given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<PointRuntime>,
}

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Breaks an invariant (duplicate names, an exemption without a reason).
    Error,
    /// Makes the annotation incomplete.
    Warning,
    /// Worth knowing.
    Info,
}

/// An annotation quality or runtime finding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct Finding {
    /// Machine-readable code (see `docs/COVERAGE.md`).
    pub code: String,
    /// Severity.
    pub severity: Severity,
    /// The point's id, when it concerns one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub point: Option<String>,
    /// File, relative to the workspace root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl Finding {
    /// The key a baseline stores: code and point (or file and message).
    pub fn key(&self) -> String {
        match &self.point {
            Some(p) => format!("{}@{p}", self.code),
            None => format!(
                "{}@{}:{}",
                self.code,
                self.file.as_deref().unwrap_or(""),
                self.message
            ),
        }
    }
}

/// A file the scanner could not read or parse.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct ParseError {
    /// File, relative to the workspace root.
    pub file: String,
    /// 1-based line (0 when the file could not be read).
    pub line: u32,
    /// 1-based column.
    pub column: u32,
    /// The parser's message.
    pub message: String,
}

/// A `.rs` file under a target's source directory that the module walk did not reach, so none
/// of its functions is counted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct UnreachedFile {
    /// File, relative to the workspace root.
    pub file: String,
    /// Why, as a code: `not_declared`, `test_only`, `macro_unparsed`, `parent_unparsed`,
    /// `excluded`, `test_target` or `build_script`.
    pub reason: String,
    /// The reason in words, with where the file is declared when it is.
    pub detail: String,
}

/// Counts for the whole workspace, a crate, a module or a file.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct Counts {
    /// Decision points that count: audited plus unaudited.
    pub points: u64,
    /// Audited points.
    pub audited: u64,
    /// Unaudited points.
    pub unaudited: u64,
    /// Exempt points (not in `points`).
    pub exempt: u64,
    /// `100 * audited / points`; 100 when there are no points.
    pub coverage_percent: f64,
    /// Audited points whose annotation passed every quality check.
    pub complete: u64,
    /// `100 * complete / audited`; 100 when nothing is audited.
    pub complete_percent: f64,
}

impl Counts {
    /// Count one point.
    pub fn add(&mut self, p: &Point) {
        match p.status {
            Status::Audited => {
                self.points += 1;
                self.audited += 1;
                if p.complete == Some(true) {
                    self.complete += 1;
                }
            }
            Status::Unaudited => {
                self.points += 1;
                self.unaudited += 1;
            }
            Status::Exempt => self.exempt += 1,
        }
        self.finish();
    }

    fn finish(&mut self) {
        self.coverage_percent = percent(self.audited, self.points);
        self.complete_percent = percent(self.complete, self.audited);
    }
}

/// `100 * part / whole`, rounded to two decimals; 100 for an empty whole.
pub fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        return 100.0;
    }
    #[allow(clippy::cast_precision_loss)] // counts far below 2^52
    let p = 100.0 * part as f64 / whole as f64;
    (p * 100.0).round() / 100.0
}

/// Counts for one module of a crate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct ModuleSummary {
    /// Module path.
    pub module: String,
    /// Counts.
    #[serde(flatten)]
    pub counts: Counts,
}

/// Counts for one crate, with its modules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct CrateSummary {
    /// Package name.
    #[serde(rename = "crate")]
    pub crate_name: String,
    /// Counts.
    #[serde(flatten)]
    pub counts: Counts,
    /// Modules that hold at least one point.
    pub modules: Vec<ModuleSummary>,
}

/// Counts for one file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct FileSummary {
    /// File, relative to the workspace root.
    pub file: String,
    /// Counts.
    #[serde(flatten)]
    pub counts: Counts,
}

/// A disagreement between the static scan, the registry and the logs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct Disagreement {
    /// `registered_not_scanned`, `logged_not_scanned`, `scanned_not_registered` or
    /// `version_differs`.
    pub code: String,
    /// The point as the runtime names it (`crate module::function (name)`) or the static id.
    pub point: String,
    /// Details.
    pub detail: String,
}

/// Runtime coverage, when `--registry` or `--logs` was given.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct RuntimeSummary {
    /// The registry dump that was read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<String>,
    /// Points listed in the registry.
    pub registered: u64,
    /// The log directory or file that was read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logs: Option<String>,
    /// Log files read.
    pub log_files: u64,
    /// Call records counted.
    pub records: u64,
    /// Lines skipped: headers, checkpoints, follow-up records and `started` records.
    pub skipped_lines: u64,
    /// Lines that were not JSON.
    pub malformed_lines: u64,
    /// Statically audited points that fired at least once (logs only).
    pub exercised: u64,
    /// `100 * exercised / audited`.
    pub exercised_percent: f64,
    /// Ids of audited points that never fired (logs only).
    pub never_fired: Vec<String>,
    /// Disagreements between the sources.
    pub disagreements: Vec<Disagreement>,
}

/// Result of one gate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct GateResult {
    /// `fail_under`, `max_unaudited`, `min_complete_annotations`, `baseline` or
    /// `deny_parse_errors`.
    pub gate: String,
    /// Whether it passed.
    pub passed: bool,
    /// Required vs actual, in words.
    pub detail: String,
}

/// What changed since the previous report.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct Change {
    /// The report compared against.
    pub previous: String,
    /// Coverage now minus coverage then, in percentage points.
    pub coverage_delta: f64,
    /// Audited points now minus then.
    pub audited_delta: i64,
    /// Unaudited points now minus then.
    pub unaudited_delta: i64,
    /// Unaudited points that were not unaudited before.
    pub new_gaps: Vec<String>,
    /// Points unaudited before that are audited, exempt or gone now.
    pub closed_gaps: Vec<String>,
}

/// Where the rules came from and what they were.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct ConfigInfo {
    /// `audit_toml`, `workspace_metadata`, `explicit` or `defaults`.
    pub source: String,
    /// The file, when one was read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The rules in force.
    pub rules: serde_json::Value,
}

/// The whole report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct Report {
    /// [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Workspace root, absolute.
    pub workspace_root: String,
    /// The members scanned when `--package` scoped the run (empty: every member).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub packages: Vec<String>,
    /// The rules.
    pub config: ConfigInfo,
    /// Files scanned.
    pub files_scanned: u64,
    /// Lines scanned.
    pub lines_scanned: u64,
    /// `.rs` files under the source directories of the scanned targets, reached or not, plus
    /// reached files outside them: the report reached `files_scanned` of them.
    #[serde(default)]
    pub files_total: u64,
    /// The files of `files_total` the module walk did not reach, sorted, with the reason.
    #[serde(default)]
    pub unreached_files: Vec<UnreachedFile>,
    /// Totals.
    pub summary: Counts,
    /// Per crate (and module).
    pub crates: Vec<CrateSummary>,
    /// Per file.
    pub files: Vec<FileSummary>,
    /// Every point, sorted by file and line.
    pub points: Vec<Point>,
    /// Findings, sorted by file, line and code.
    pub findings: Vec<Finding>,
    /// Files that could not be parsed.
    pub parse_errors: Vec<ParseError>,
    /// Runtime coverage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<RuntimeSummary>,
    /// Change since the previous report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<Change>,
    /// Gate results (empty when no gate was asked for).
    #[serde(default)]
    pub gates: Vec<GateResult>,
}

impl Report {
    /// Recompute the totals, per-crate, per-module and per-file counts from `points`.
    pub fn recount(&mut self) {
        use std::collections::BTreeMap;
        let mut summary = Counts::default();
        let mut crates: BTreeMap<&str, (Counts, BTreeMap<&str, Counts>)> = BTreeMap::new();
        let mut files: BTreeMap<&str, Counts> = BTreeMap::new();
        for p in &self.points {
            summary.add(p);
            let c = crates.entry(&p.crate_name).or_default();
            c.0.add(p);
            c.1.entry(&p.module).or_default().add(p);
            files.entry(&p.file).or_default().add(p);
        }
        summary.finish();
        self.crates = crates
            .into_iter()
            .map(|(name, (counts, modules))| CrateSummary {
                crate_name: name.to_owned(),
                counts,
                modules: modules
                    .into_iter()
                    .map(|(m, counts)| ModuleSummary {
                        module: m.to_owned(),
                        counts,
                    })
                    .collect(),
            })
            .collect();
        self.files = files
            .into_iter()
            .map(|(f, counts)| FileSummary {
                file: f.to_owned(),
                counts,
            })
            .collect();
        self.summary = summary;
    }

    /// Whether any gate failed.
    pub fn gates_failed(&self) -> bool {
        self.gates.iter().any(|g| !g.passed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The JSON Schema of the JSON report, as published in
    /// `docs/schema/coverage-report.v1.json`: generated from these types with the serialize
    /// contract (a field is required when it is always written, optional when it is skipped
    /// when empty), so it describes what the tool writes. Readers of schema 1 must accept
    /// members they do not know: fields may be added without a version bump.
    pub(crate) fn json_schema() -> String {
        let generator = schemars::generate::SchemaSettings::draft2020_12()
            .for_serialize()
            .into_generator();
        let mut schema = generator.into_root_schema_for::<Report>();
        schema.insert(
            "$id".into(),
            "https://audit-sdk.invalid/schema/coverage-report.v1.json".into(),
        );
        // This file describes version 1 only: a reader can tell a later report by this.
        if let Some(v) = schema.pointer_mut("/properties/schema_version") {
            v["const"] = SCHEMA_VERSION.into();
        }
        schema.insert(
            "title".into(),
            format!("cargo xtask coverage JSON report, schema_version {SCHEMA_VERSION}").into(),
        );
        let mut out = serde_json::to_string_pretty(&schema).unwrap_or_default();
        out.push('\n');
        out
    }

    #[test]
    fn checked_in_schema_matches_the_report_types() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../docs/schema/coverage-report.v1.json");
        let generated = json_schema();
        if std::env::var_os("UPDATE_SCHEMA").is_some() {
            std::fs::write(&path, &generated).expect("write the schema");
        }
        let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            checked_in == generated,
            "docs/schema/coverage-report.v1.json is out of date with xtask/coverage/src/model.rs; \
             regenerate with `UPDATE_SCHEMA=1 cargo test -p audit-coverage checked_in_schema` and review \
             the diff (a removed or renamed field bumps SCHEMA_VERSION)"
        );
    }

    #[test]
    fn percent_rounds_and_handles_empty() {
        assert!((percent(1, 3) - 33.33).abs() < 1e-9);
        assert!((percent(0, 0) - 100.0).abs() < 1e-9);
        assert!((percent(2, 2) - 100.0).abs() < 1e-9);
    }
}
