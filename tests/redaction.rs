//! Redaction end to end: the attribute's `redact(..)` rules on every shape serde produces, the
//! built-in detectors on every string of a record, the runtime rule set (code and TOML file),
//! fail-closed behaviour, the explicit opt-out, and the property that no exporter's bytes
//! (memory, file, stdout) ever contain a secret. The corpus measurement (recall and
//! false-positive rate per detector over `tests/redaction-corpus/`) is `corpus_recall_and_fpr`.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;

use audit_exporters::{FileExporter, FsyncPolicy, MemoryExporter, StdoutExporter};
use audit_runtime::digest::DigestKey;
use audit_runtime::install::InstallError;
use audit_runtime::point::RedactAction;
use audit_runtime::record::{AuditRecord, RecordKind};
use audit_runtime::redact::{
    Detector, RedactContext, RedactionConfig, RedactionEngine, Redactor, Validator,
};
use audit_runtime::{
    AuditBuilder, AuditGuard, AuditRuntime, HumanAction, HumanActionKind, audited_decision,
    audited_tool, explain, record_human_action, record_outcome, signal,
};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use serde::Serialize;
use serde_json::{Value, json};

fn builder(mem: &MemoryExporter) -> AuditBuilder {
    AuditRuntime::builder()
        .service("redaction-tests")
        .digest_key(DigestKey::from_bytes([5; 32]))
        .exporter(mem.clone())
}

fn install(mem: &MemoryExporter) -> AuditGuard {
    builder(mem).install_thread_local().expect("install")
}

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "audit-redaction-{tag}-{}",
        audit_runtime::RecordId::now()
    ));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// (path, rule, action) of every provenance entry.
fn entries(r: &AuditRecord) -> Vec<(String, String, String)> {
    r.redactions
        .entries
        .iter()
        .map(|e| (e.path.clone(), e.rule.clone(), e.action.to_string()))
        .collect()
}

fn has_entry(r: &AuditRecord, path: &str, rule: &str, action: &str) -> bool {
    r.redactions
        .entries
        .iter()
        .any(|e| e.path == path && e.rule == rule && e.action.to_string() == action)
}

fn all_file_bytes(dir: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let p = entry.expect("entry").path();
        if p.is_file() {
            out.extend(std::fs::read(&p).expect("read"));
        }
    }
    out
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

// ---- the attribute's rules on every shape ----------------------------------------------------

#[derive(Serialize)]
struct Address {
    street: String,
    city: String,
}

#[derive(Serialize)]
enum Payment {
    Card { number: String, holder: String },
    Cash,
}

#[derive(Serialize)]
#[serde(tag = "type")]
enum Contact {
    Email { address: String },
    Phone { number: String },
}

#[derive(Serialize)]
#[serde(tag = "t", content = "c")]
enum Tag {
    Label(String),
    Secret { value: String },
}

#[derive(Serialize)]
struct Applicant {
    name: String,
    email: String,
    ssn: String,
    phones: Vec<String>,
    address: Option<Address>,
    notes: BTreeMap<String, String>,
    payment: Payment,
    contact: Contact,
    tags: Vec<Tag>,
}

#[audited_decision(
    name = "red.shapes",
    unversioned = "test",
    capture(applicant, extra),
    output = capture,
    redact(
        applicant.email = mask(4),
        applicant.ssn = erase,
        applicant.phones[] = hash,
        applicant.address.street = erase,
        applicant.notes.* = erase,
        applicant.payment.Card.number = mask(4),
        applicant.contact.address = hash,
        applicant.tags[].c.value = erase,
        extra."e-mail" = hash,
        output.card = digest,
        output.history[].ip = erase
    )
)]
fn shapes(applicant: &Applicant, extra: &HashMap<String, String>) -> Value {
    json!({
        "card": format!("{} ok", applicant.name),
        "history": [{"ip": "ten-dot-zero", "at": 1}, {"ip": "other", "at": 2}],
        "status": "approved",
    })
}

fn applicant(first: bool) -> Applicant {
    Applicant {
        name: "Jane Doe".into(),
        email: "jane.doe@example.com".into(),
        ssn: "123-45-6789".into(),
        phones: vec!["+1 415 555 0132".into(), "+44 20 7946 0958".into()],
        address: first.then(|| Address {
            street: "1 Main Street".into(),
            city: "Springfield".into(),
        }),
        notes: BTreeMap::from([
            ("a".into(), "private one".into()),
            ("b".into(), "private two".into()),
        ]),
        payment: if first {
            Payment::Card {
                number: "4111111111111111".into(),
                holder: "JANE DOE".into(),
            }
        } else {
            Payment::Cash
        },
        contact: if first {
            Contact::Email {
                address: "jd@example.org".into(),
            }
        } else {
            Contact::Phone {
                number: "call me".into(),
            }
        },
        tags: vec![
            Tag::Label("vip".into()),
            Tag::Secret {
                value: "the vault code".into(),
            },
        ],
    }
}

#[test]
fn attribute_rules_cover_nested_paths_collections_maps_enums_and_options() {
    let mem = MemoryExporter::new();
    let guard = install(&mem);
    let extra = HashMap::from([("e-mail".to_owned(), "ops@example.com".to_owned())]);
    shapes(&applicant(true), &extra);
    shapes(&applicant(false), &extra);
    guard.flush().unwrap();
    let stats = guard.stats();
    let recs = mem.find("red.shapes");
    let [first, second] = recs.all() else {
        panic!("two records expected")
    };

    let app = |r: &AuditRecord| {
        r.inputs.as_ref().unwrap().args[0]
            .captured
            .value
            .clone()
            .unwrap()
    };
    let v = app(first);
    assert_eq!(v["name"], "Jane Doe", "untouched fields stay");
    assert_eq!(v["email"], "****************.com");
    assert_eq!(v["ssn"], "[erased]");
    let phone0 = v["phones"][0].as_str().unwrap().to_owned();
    assert!(
        phone0.starts_with("hash:") && phone0.len() == 5 + 64,
        "{phone0}"
    );
    assert_ne!(v["phones"][0], v["phones"][1]);
    assert_eq!(
        v["address"],
        json!({"street": "[erased]", "city": "Springfield"})
    );
    assert_eq!(v["notes"], json!({"a": "[erased]", "b": "[erased]"}));
    assert_eq!(v["payment"]["Card"]["number"], "************1111");
    assert_eq!(v["payment"]["Card"]["holder"], "JANE DOE");
    assert!(
        v["contact"]["address"]
            .as_str()
            .unwrap()
            .starts_with("hash:")
    );
    // An adjacently tagged newtype variant holds text where the path expects an object: the
    // rule cannot be applied there, so the text is erased and the entry says why (fail closed).
    assert_eq!(v["tags"][0], json!({"t": "Label", "c": "[erased]"}));
    let why = first
        .redactions
        .entries
        .iter()
        .find(|e| e.path == "inputs.applicant.tags[0].c")
        .expect("entry");
    assert!(
        why.reason.as_deref().unwrap().contains("expects an object"),
        "{why:?}"
    );
    assert_eq!(
        v["tags"][1],
        json!({"t": "Secret", "c": {"value": "[erased]"}})
    );
    let extra_v = first.inputs.as_ref().unwrap().args[1]
        .captured
        .value
        .clone()
        .unwrap();
    assert!(extra_v["e-mail"].as_str().unwrap().starts_with("hash:"));
    let out = first
        .outcome
        .as_ref()
        .unwrap()
        .value
        .as_ref()
        .unwrap()
        .value
        .clone()
        .unwrap();
    assert_eq!(out["card"]["digest"]["alg"], "blake3-keyed");
    assert_eq!(
        out["history"],
        json!([{"ip": "[erased]", "at": 1}, {"ip": "[erased]", "at": 2}])
    );
    assert_eq!(out["status"], "approved");

    // Provenance: one entry per redacted place, with the rule and action, never the value.
    for (path, rule, action) in [
        (
            "inputs.applicant.email",
            "attribute:applicant.email",
            "mask(4)",
        ),
        ("inputs.applicant.ssn", "attribute:applicant.ssn", "erase"),
        (
            "inputs.applicant.phones[1]",
            "attribute:applicant.phones[]",
            "hash",
        ),
        (
            "inputs.applicant.notes.b",
            "attribute:applicant.notes.*",
            "erase",
        ),
        (
            "inputs.applicant.payment.Card.number",
            "attribute:applicant.payment.Card.number",
            "mask(4)",
        ),
        (
            "inputs.applicant.tags[1].c.value",
            "attribute:applicant.tags[].c.value",
            "erase",
        ),
        ("inputs.extra.e-mail", "attribute:extra.e-mail", "hash"),
        ("outcome.value.card", "attribute:output.card", "digest"),
        (
            "outcome.value.history[0].ip",
            "attribute:output.history[].ip",
            "erase",
        ),
    ] {
        assert!(
            has_entry(first, path, rule, action),
            "missing {path} {rule} {action} in {:#?}",
            entries(first)
        );
    }
    let line = mem.lines()[0].clone();
    for raw in [
        "jane.doe@example.com",
        "123-45-6789",
        "4111111111111111",
        "private one",
        "the vault code",
        "ops@example.com",
    ] {
        assert!(!line.contains(raw), "{raw} leaked: {line}");
    }
    assert!(
        first.redactions.rule_set.starts_with("builtin.2#"),
        "{}",
        first.redactions.rule_set
    );
    assert!(!first.redactions.detectors_disabled);

    // Keyed hashes keep equality across records; other variants and `None` are not errors.
    let w = app(second);
    assert_eq!(w["phones"][0].as_str().unwrap(), phone0);
    assert_eq!(w["address"], Value::Null);
    assert_eq!(w["payment"], "Cash");
    assert_eq!(w["contact"], json!({"type": "Phone", "number": "call me"}));
    let reasons: Vec<&str> = second
        .redactions
        .entries
        .iter()
        .filter(|e| e.reason.is_some())
        .map(|e| e.path.as_str())
        .collect();
    assert_eq!(
        reasons,
        ["inputs.applicant.tags[0].c"],
        "only the newtype variant fails closed"
    );
    assert_eq!(stats.redaction_unmatched_paths, 0);
    assert_eq!(stats.redaction_fail_closed, 2);
    mem.assert_chain_valid();
}

#[audited_decision(name = "red.misnamed", unversioned = "test", capture(applicant), redact(applicant.emial = erase))]
fn misnamed(applicant: &Value) -> bool {
    applicant.is_object()
}

#[test]
fn a_path_that_matches_nothing_is_reported_and_counted() {
    let mem = MemoryExporter::new();
    let guard = install(&mem);
    misnamed(&json!({"email": "x@example.com"}));
    misnamed(&json!({"email": "y@example.com"}));
    guard.flush().unwrap();
    assert_eq!(guard.stats().redaction_unmatched_paths, 2);
    // The detectors still catch what the misnamed rule missed.
    let r = mem.find("red.misnamed").all()[0].clone();
    assert!(
        has_entry(&r, "inputs.applicant.email", "detector:email", "hash"),
        "{:#?}",
        entries(&r)
    );
}

#[audited_decision(name = "red.untraversable", unversioned = "test", capture(doc), redact(doc.inner.secret = erase))]
fn untraversable(doc: &Value) -> usize {
    doc.to_string().len()
}

#[test]
fn a_rule_that_cannot_be_applied_erases_and_says_why() {
    let mem = MemoryExporter::new();
    let guard = install(&mem);
    untraversable(&json!({"inner": "secret: opaque blob 42 not an object"}));
    guard.flush().unwrap();
    let r = mem.find("red.untraversable").all()[0].clone();
    let v = r.inputs.as_ref().unwrap().args[0]
        .captured
        .value
        .clone()
        .unwrap();
    assert_eq!(v["inner"], "[erased]");
    let e = r
        .redactions
        .entries
        .iter()
        .find(|e| e.path == "inputs.doc.inner")
        .expect("entry");
    assert_eq!(e.action, RedactAction::Erase);
    assert!(
        e.reason.as_deref().unwrap().contains("fail closed"),
        "{e:?}"
    );
    assert_eq!(guard.stats().redaction_fail_closed, 1);
}

#[derive(Debug)]
struct PanickingRedactor;

impl Redactor for PanickingRedactor {
    fn redact(&self, _cx: &RedactContext<'_>, _record: &mut AuditRecord) {
        panic!("redactor bug");
    }
}

#[test]
fn a_failing_redactor_scrubs_the_record() {
    let mem = MemoryExporter::new();
    let guard = builder(&mem)
        .redactor(PanickingRedactor)
        .install_thread_local()
        .unwrap();
    untraversable(&json!({"inner": {"secret": "jane@example.com"}}));
    guard.flush().unwrap();
    let r = mem.find("red.untraversable").all()[0].clone();
    assert_eq!(
        r.inputs.as_ref().unwrap().args[0].captured.value,
        Some(json!("[erased]"))
    );
    assert_eq!(r.redactions.entries[0].rule, "fail_closed");
    assert!(
        r.redactions.entries[0]
            .reason
            .as_deref()
            .unwrap()
            .contains("panicked")
    );
    assert!(!mem.lines()[0].contains("jane@example.com"));
    assert_eq!(guard.stats().redaction_fail_closed, 1);
    mem.assert_chain_valid();
}

// ---- detectors on every string of a record ---------------------------------------------------

#[audited_tool(name = "red.everywhere", capture(text), result = true)]
fn everywhere(text: &str, fail: bool) -> Result<u32, String> {
    explain(format!("card on file 4111 1111 1111 1111 for {text}"));
    signal("contact", "reach me at +44 20 7946 0958");
    if fail {
        return Err("upstream said: invalid key sk_live_abcdefghijklmnop1234".into());
    }
    Ok(1)
}

#[audited_tool(name = "red.panics", capture(n))]
fn panics(n: u32) -> u32 {
    if n > 0 {
        panic!("cannot reach db postgres://admin:hunter2secret@db.internal/app");
    }
    n
}

#[test]
fn detectors_run_over_every_string_of_every_record() {
    let mem = MemoryExporter::new();
    let guard = install(&mem);
    let _ = everywhere("jane.doe@example.com", true);
    let _ = std::panic::catch_unwind(|| panics(1));
    let _ = everywhere("x", false);
    guard.flush().unwrap();

    let r = mem.find("red.everywhere").all()[0].clone();
    let e = entries(&r);
    assert!(
        has_entry(&r, "inputs.text", "detector:email", "hash"),
        "{e:#?}"
    );
    assert!(
        has_entry(
            &r,
            "rationale.explanation",
            "detector:payment_card",
            "mask(4)"
        ),
        "{e:#?}"
    );
    assert!(
        has_entry(&r, "rationale.signals.contact", "detector:phone", "hash"),
        "{e:#?}"
    );
    assert!(
        has_entry(&r, "outcome.error", "detector:stripe_key", "erase"),
        "{e:#?}"
    );
    assert_eq!(
        r.outcome.as_ref().unwrap().error.as_deref(),
        Some("upstream said: invalid key [stripe_key]")
    );
    assert!(
        r.rationale
            .explanation
            .as_deref()
            .unwrap()
            .contains("***************1111")
    );
    let p = mem.find("red.panics").all()[0].clone();
    assert!(
        has_entry(&p, "outcome.error", "detector:url_password", "erase"),
        "{:#?}",
        entries(&p)
    );
    for line in mem.lines() {
        for raw in [
            "jane.doe@example.com",
            "4111 1111 1111 1111",
            "7946 0958",
            "sk_live_abcdefghijklmnop1234",
            "hunter2secret",
        ] {
            assert!(!line.contains(raw), "{raw} leaked: {line}");
        }
    }
}

// ---- fields computed at run time: versions, signal names, error chains, lineage -------------

#[derive(Debug)]
struct LookupError(std::io::Error);

impl std::fmt::Display for LookupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("account lookup failed")
    }
}

impl std::error::Error for LookupError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

fn model_for(user: &str) -> String {
    format!("scorer-2.1-pinned-for-{user}")
}

#[audited_decision(
    name = "red.runtime_fields",
    model = "scorer",
    model_version = model_for(user),
    capture(user),
    result = true
)]
fn runtime_fields(user: &str) -> Result<u32, LookupError> {
    signal(&format!("risk of {user}"), 0.7);
    Err(LookupError(std::io::Error::other(format!(
        "no account for {user}, card 4111 1111 1111 1111"
    ))))
}

#[test]
fn fields_computed_at_run_time_are_scanned() {
    let mem = MemoryExporter::new();
    let guard = install(&mem);
    let (_, id) = audit_runtime::decision::with_decision_id_sync(|| {
        let _ = runtime_fields("jane.doe@example.com");
    });
    audit_runtime::record_lineage(
        id.unwrap(),
        [audit_runtime::record::LineageRef {
            dataset: "crm/exports/jane.doe@example.com.parquet".into(),
            version: Some("snapshot for +44 20 7946 0958".into()),
            digest: None,
        }],
    )
    .unwrap();
    guard.flush().unwrap();
    let r = mem.find("red.runtime_fields").expect_one().record().clone();
    for (path, rule) in [
        ("versions[0].version", "detector:email"),
        ("outcome.error_sources[0].message", "detector:email"),
        ("outcome.error_sources[0].message", "detector:payment_card"),
    ] {
        assert!(
            r.redactions
                .entries
                .iter()
                .any(|e| e.path == path && e.rule == rule),
            "{path} {rule}: {:#?}",
            entries(&r)
        );
    }
    let name = &r.rationale.signals[0].name;
    assert!(name.starts_with("risk of [email:"), "{name}");
    let l = mem
        .of_kind(RecordKind::Lineage)
        .expect_one()
        .record()
        .clone();
    assert!(
        has_entry(&l, "lineage[0].dataset", "detector:email", "hash"),
        "{:#?}",
        entries(&l)
    );
    assert!(has_entry(
        &l,
        "lineage[0].version",
        "detector:phone",
        "hash"
    ));
    for line in mem.lines() {
        for raw in ["jane.doe@example.com", "4111 1111 1111 1111", "7946 0958"] {
            assert!(!line.contains(raw), "{raw} leaked: {line}");
        }
    }
}

#[audited_decision(name = "red.followups", unversioned = "test")]
fn decide_for_followups() -> bool {
    true
}

#[test]
fn follow_up_records_are_redacted_too() {
    let mem = MemoryExporter::new();
    let guard = install(&mem);
    let (_, decision) = audit_runtime::decision::with_decision_id_sync(decide_for_followups);
    let id = decision.unwrap();
    record_outcome(
        id,
        "chargeback from jane.doe@example.com",
        json!({"card": "5555 5555 5555 4444", "password": "swordfish"}),
    )
    .unwrap();
    record_human_action(
        id,
        HumanAction::new(HumanActionKind::Override, "officer@example.com")
            .note("called +1 415 555 0132, IBAN GB82 WEST 1234 5698 7654 32")
            .new_value(json!({"api_key": "abc", "ip": "203.0.113.7"})),
    )
    .unwrap();
    guard.flush().unwrap();
    let outcome = mem
        .of_kind(RecordKind::Outcome)
        .expect_one()
        .record()
        .clone();
    assert!(
        has_entry(&outcome, "attributes.label", "detector:email", "hash"),
        "{:#?}",
        entries(&outcome)
    );
    assert!(has_entry(
        &outcome,
        "outcome.value.card",
        "detector:payment_card",
        "mask(4)"
    ));
    assert!(has_entry(
        &outcome,
        "outcome.value.password",
        "detector:sensitive_key",
        "erase"
    ));
    let human = mem
        .of_kind(RecordKind::HumanAction)
        .expect_one()
        .record()
        .clone();
    for (path, rule) in [
        ("human_action.actor", "detector:email"),
        ("human_action.note", "detector:phone"),
        ("human_action.note", "detector:iban"),
        ("human_action.new_value.api_key", "detector:sensitive_key"),
        ("human_action.new_value.ip", "detector:ipv4"),
    ] {
        assert!(
            human
                .redactions
                .entries
                .iter()
                .any(|e| e.path == path && e.rule == rule),
            "{path} {rule}: {:#?}",
            entries(&human)
        );
    }
    for line in mem.lines() {
        for raw in [
            "jane.doe@example.com",
            "5555 5555 5555 4444",
            "swordfish",
            "officer@example.com",
            "555 0132",
            "GB82 WEST",
            "203.0.113.7",
        ] {
            assert!(!line.contains(raw), "{raw} leaked: {line}");
        }
    }
}

#[test]
fn object_keys_and_integers_are_scanned() {
    let engine = RedactionEngine::new(&RedactionConfig::default()).unwrap();
    let key = DigestKey::from_bytes([1; 32]);
    let mut r = sample_record(json!({
        "scores": {"jane@example.com": 0.9, "bob@example.com": 0.1},
        "pan": 4111111111111111u64,
        "ts": 1700000000000u64,
    }));
    let counters = Default::default();
    engine.redact(&RedactContext::new(None, &key, &counters), &mut r);
    let v = r.inputs.as_ref().unwrap().args[0]
        .captured
        .value
        .clone()
        .unwrap();
    let keys: Vec<&String> = v["scores"].as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 2, "distinct keys stay distinct: {keys:?}");
    assert!(keys.iter().all(|k| k.starts_with("[email:")), "{keys:?}");
    assert_eq!(v["pan"], "************1111");
    assert_eq!(v["ts"], 1700000000000u64, "a timestamp is not a card");
}

fn sample_record(value: Value) -> AuditRecord {
    let mem = MemoryExporter::new();
    let guard = builder(&mem)
        .redactor(Passthrough)
        .install_thread_local()
        .unwrap();
    untraversable(&value);
    guard.flush().unwrap();
    drop(guard);
    mem.records().remove(0)
}

#[derive(Debug)]
struct Passthrough;

impl Redactor for Passthrough {
    fn redact(&self, _cx: &RedactContext<'_>, r: &mut AuditRecord) {
        r.redactions.rule_set = "passthrough".into();
    }
}

// ---- the runtime rule set --------------------------------------------------------------------

#[audited_decision(name = "red.config", unversioned = "test", capture(req))]
fn configured(req: &Value) -> bool {
    req.is_object()
}

fn write_config(text: &str) -> PathBuf {
    let dir = temp_dir("config");
    let p = dir.join("redaction.toml");
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn a_config_file_adds_detectors_rules_and_actions() {
    let path = write_config(
        r#"
format = 1
version = "acme-7"
[detectors]
sensitive_keys = ["internal-ref"]
[detectors.actions]
email = "erase"
ipv4 = "off"
[[detector]]
name = "employee_id"
pattern = 'EMP-(?P<value>[0-9]{6})'
action = "hash"
[[rule]]
point = "red.config"
path = "req.dob"
action = "erase"
"#,
    );
    let mem = MemoryExporter::new();
    let guard = builder(&mem)
        .redaction_config_file(&path)
        .install_thread_local()
        .unwrap();
    configured(&json!({
        "dob": "1990-01-01",
        "note": "EMP-123456 wrote from jane@example.com at 10.1.2.3",
        "Internal_Ref": "R-77",
    }));
    guard.flush().unwrap();
    let r = mem.find("red.config").all()[0].clone();
    let v = r.inputs.as_ref().unwrap().args[0]
        .captured
        .value
        .clone()
        .unwrap();
    assert_eq!(v["dob"], "[erased]");
    assert_eq!(v["Internal_Ref"], "[erased]");
    let note = v["note"].as_str().unwrap();
    assert!(note.starts_with("EMP-[employee_id:"), "{note}");
    assert!(
        note.contains("wrote from [email] at 10.1.2.3"),
        "ipv4 is off: {note}"
    );
    assert!(
        has_entry(&r, "inputs.req.dob", "config:req.dob", "erase"),
        "{:#?}",
        entries(&r)
    );
    assert!(has_entry(
        &r,
        "inputs.req.note",
        "detector:employee_id",
        "hash"
    ));
    assert!(
        r.redactions.rule_set.starts_with("acme-7+builtin.2#"),
        "{}",
        r.redactions.rule_set
    );
}

fn install_err(b: AuditBuilder) -> String {
    match b.install_thread_local() {
        Err(e @ InstallError::Redaction(_)) => e.to_string(),
        Err(other) => panic!("unexpected error {other}"),
        Ok(_) => panic!("installed despite a bad rule set"),
    }
}

#[test]
fn bad_rule_sets_stop_installation_naming_the_rule() {
    let mem = MemoryExporter::new();
    let e = install_err(builder(&mem).redaction_config_file(write_config(
        "format = 1\n[[detector]]\nname = \"emp\"\npattern = 'EMP-([0-9]'\naction = \"hash\"\n",
    )));
    assert!(
        e.contains("detector \"emp\"") && e.contains("invalid pattern"),
        "{e}"
    );
    let e = install_err(builder(&mem).redaction_config_file(write_config(
        "format = 1\n[detectors.actions]\nemail = \"shred\"\n",
    )));
    assert!(
        e.contains("[detectors.actions] email") && e.contains("unknown action `shred`"),
        "{e}"
    );
    let e = install_err(builder(&mem).redaction_config_file(write_config(
        "format = 1\n[[rule]]\npoint = \"red.nope\"\npath = \"a.b\"\naction = \"erase\"\n",
    )));
    assert!(
        e.contains("[[rule]] #1 (red.nope: a.b)") && e.contains("no audit point named `red.nope`"),
        "{e}"
    );
    let e = install_err(builder(&mem).redaction_config_file(write_config(
        "format = 1\n[[rule]]\npoint = \"red.config\"\npath = \"request.b\"\naction = \"erase\"\n",
    )));
    assert!(e.contains("has no parameter `request`"), "{e}");
    let e = install_err(
        builder(&mem).redaction(RedactionConfig::new().detector(Detector::new(
            "bad name!",
            "x",
            RedactAction::Erase,
        ))),
    );
    assert!(e.contains("bad name!"), "{e}");
    let e = install_err(builder(&mem).redaction_config_file("/nonexistent/redaction.toml"));
    assert!(e.contains("/nonexistent/redaction.toml"), "{e}");
}

#[test]
fn code_config_user_detector_with_validator() {
    let mem = MemoryExporter::new();
    let guard = builder(&mem)
        .redaction(
            RedactionConfig::new()
                .version("v9")
                .detector(
                    Detector::new(
                        "loyalty_card",
                        r"LC[0-9]{8}",
                        RedactAction::Mask { keep: 2 },
                    )
                    .validate(Validator::Luhn),
                )
                .detector_action("email", RedactAction::Mask { keep: 4 }),
        )
        .install_thread_local()
        .unwrap();
    // LC12345674 passes Luhn (1234567 4); LC12345670 does not.
    configured(&json!({"a": "LC12345674 and LC12345670", "b": "jo@example.com"}));
    guard.flush().unwrap();
    let v = mem.find("red.config").all()[0]
        .inputs
        .as_ref()
        .unwrap()
        .args[0]
        .captured
        .value
        .clone()
        .unwrap();
    assert_eq!(v["a"], "********74 and LC12345670");
    assert_eq!(v["b"], "**********.com");
}

#[test]
fn turning_detectors_off_is_explicit_and_visible() {
    let mem = MemoryExporter::new();
    let guard = builder(&mem)
        .without_default_detectors()
        .install_thread_local()
        .unwrap();
    configured(&json!({"email": "jane@example.com"}));
    shapes(&applicant(true), &HashMap::new());
    guard.flush().unwrap();
    let r = mem.find("red.config").all()[0].clone();
    assert!(r.redactions.detectors_disabled);
    assert!(
        r.redactions.rule_set.starts_with("no-builtin-detectors#"),
        "{}",
        r.redactions.rule_set
    );
    assert_eq!(
        r.inputs.as_ref().unwrap().args[0].captured.value,
        Some(json!({"email": "jane@example.com"}))
    );
    assert!(mem.lines()[0].contains("\"detectors_disabled\":true"));
    // The attribute's rules still apply.
    let s = mem.find("red.shapes").all()[0].clone();
    assert!(has_entry(
        &s,
        "inputs.applicant.ssn",
        "attribute:applicant.ssn",
        "erase"
    ));
}

// ---- done means: every exporter -------------------------------------------------------------

#[derive(Serialize)]
struct ToolConfig {
    endpoint: String,
    stripe: String,
}

#[audited_tool(name = "red.charge", capture(config, message), side_effect = irreversible)]
fn charge(config: &ToolConfig, message: &str) -> bool {
    !config.endpoint.is_empty() && !message.is_empty()
}

const E2E_EMAIL: &str = "jane.doe@example.com";
const E2E_CARD: &str = "4012 8888 8888 1881";
const E2E_KEY: &str = "sk_live_4eC39HqLyjWDarjtT1zdp7dc";

fn e2e_call() {
    charge(
        &ToolConfig {
            endpoint: "https://api.stripe.example/v1".into(),
            stripe: E2E_KEY.into(),
        },
        &format!("Charge card {E2E_CARD} and send the receipt to {E2E_EMAIL}."),
    );
}

fn assert_e2e_record(r: &AuditRecord) {
    for (path, rule, action) in [
        ("inputs.config.stripe", "detector:stripe_key", "erase"),
        ("inputs.message", "detector:payment_card", "mask(4)"),
        ("inputs.message", "detector:email", "hash"),
    ] {
        assert!(
            has_entry(r, path, rule, action),
            "{path} {rule} {action}: {:#?}",
            entries(r)
        );
    }
}

/// The stdout exporter writes to the process's standard output, so it is tested in a child
/// process: this test binary, re-run with `E2E_CHILD` set, runs the call with a stdout exporter.
#[test]
fn e2e_stdout_child() {
    let Ok(mode) = std::env::var("AUDIT_REDACTION_CHILD") else {
        return;
    };
    let guard = AuditRuntime::builder()
        .service("redaction-child")
        .exporter(StdoutExporter::json())
        .install_thread_local()
        .unwrap();
    if mode == "e2e" {
        e2e_call();
    } else {
        let docs: Vec<Value> =
            serde_json::from_str(&std::fs::read_to_string(&mode).unwrap()).unwrap();
        for d in &docs {
            let _ = carry(d);
        }
    }
    guard.flush().unwrap();
}

fn run_child(mode: &str) -> String {
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "e2e_stdout_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("AUDIT_REDACTION_CHILD", mode)
        .output()
        .expect("run child");
    assert!(
        out.status.success(),
        "child failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn an_agent_call_with_an_email_a_card_and_an_api_key_is_redacted_in_every_exporter() {
    let mem = MemoryExporter::new();
    let dir = temp_dir("e2e");
    let file = FileExporter::builder(&dir)
        .fsync(FsyncPolicy::EveryBatch)
        .open()
        .unwrap();
    let guard = builder(&mem).exporter(file).install_thread_local().unwrap();
    e2e_call();
    guard.flush().unwrap();
    drop(guard);

    let r = mem.find("red.charge").expect_one().record().clone();
    assert_e2e_record(&r);
    let file_bytes = all_file_bytes(&dir);
    let file_line = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .flat_map(|p| {
            std::fs::read_to_string(p)
                .unwrap()
                .lines()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .find(|l| l.contains("\"red.charge\""))
        .expect("record in the file log");
    let from_file: AuditRecord =
        serde_json::from_str(&file_line).unwrap_or_else(|e| panic!("{e}: {file_line}"));
    assert_e2e_record(&from_file);

    let stdout = run_child("e2e");
    // libtest prints `test e2e_stdout_child ... ` before the test's own output on the same line.
    let line = stdout
        .lines()
        .find_map(|l| {
            l.find("{\"v\":1")
                .filter(|_| l.contains("\"red.charge\""))
                .map(|i| &l[i..])
        })
        .expect("record on stdout");
    let from_stdout: AuditRecord = serde_json::from_str(line).unwrap();
    assert_e2e_record(&from_stdout);

    for (what, bytes) in [
        ("memory", mem.lines().join("\n").into_bytes()),
        ("file", file_bytes),
        ("stdout", stdout.into_bytes()),
    ] {
        for raw in [E2E_EMAIL, E2E_CARD, E2E_KEY] {
            assert!(
                !contains(&bytes, raw),
                "{raw} leaked through the {what} exporter"
            );
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}

// ---- property: random secrets at random depths never reach an exporter ----------------------

#[audited_tool(name = "red.carry", capture(doc), output = capture)]
fn carry(doc: &Value) -> Result<Value, String> {
    if let Some(t) = doc.get("explain").and_then(Value::as_str) {
        explain(t);
    }
    match doc.get("fail").and_then(Value::as_str) {
        Some(e) => Err(e.to_owned()),
        None => Ok(doc.get("echo").cloned().unwrap_or(Value::Null)),
    }
}

fn luhn_complete(prefix: &str) -> String {
    (0..10)
        .map(|c| format!("{prefix}{c}"))
        .find(|s| audit_runtime::redact::validators::luhn(s))
        .expect("a check digit exists")
}

fn iban_de(bban: &str) -> String {
    let digits: String = format!("{bban}DE00")
        .chars()
        .map(|c| c.to_digit(36).unwrap().to_string())
        .collect();
    let rem = digits
        .bytes()
        .fold(0u32, |r, b| (r * 10 + u32::from(b - b'0')) % 97);
    format!("DE{:02}{bban}", 98 - rem)
}

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

fn pick(seed: &mut u64, set: &[u8], n: usize) -> String {
    (0..n)
        .map(|_| {
            *seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            char::from(set[((*seed >> 33) % set.len() as u64) as usize])
        })
        .collect()
}

/// A random secret of kind `kind`: (text to embed, the part that must never leak).
fn secret(kind: u8, mut seed: u64) -> (String, String) {
    let s = &mut seed;
    match kind % 16 {
        0 => {
            let e = format!(
                "{}.{}@{}.com",
                pick(s, b"abcdefghijklmnopqrstuvwxyz", 6),
                pick(s, b"abcdefghij", 4),
                pick(s, b"klmnopqrstu", 7)
            );
            (e.clone(), e)
        }
        1 => {
            let c = luhn_complete(&format!("4{}", pick(s, b"0123456789", 14)));
            (c.clone(), c)
        }
        2 => {
            let i = iban_de(&pick(s, b"0123456789", 18));
            (i.clone(), i)
        }
        3 => {
            let k = format!("AKIA{}", pick(s, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16));
            (k.clone(), k)
        }
        4 => {
            let k = format!("ghp_{}", pick(s, ALNUM, 36));
            (k.clone(), k)
        }
        5 => {
            let k = format!("sk-proj-{}", pick(s, ALNUM, 40));
            (k.clone(), k)
        }
        6 => {
            let area = 100 + (*s % 500);
            let v = format!(
                "{area}-{}-{}",
                10 + (*s >> 8) % 89,
                1000 + (*s >> 16) % 8999
            );
            (v.clone(), v)
        }
        7 => {
            let p = pick(s, ALNUM, 14);
            (format!("postgres://svc:{p}@db.internal:5432/app"), p)
        }
        8 => {
            let body = pick(s, ALNUM, 64);
            (
                format!("-----BEGIN RSA PRIVATE KEY-----\n{body}\n-----END RSA PRIVATE KEY-----"),
                body,
            )
        }
        9 => {
            let t = format!("xoxb-{}-{}", pick(s, b"0123456789", 12), pick(s, ALNUM, 24));
            (t.clone(), t)
        }
        10 => {
            let t = pick(s, ALNUM, 32);
            (format!("Authorization: Bearer {t}"), t)
        }
        11 => {
            let k = format!("AIza{}", pick(s, ALNUM, 35));
            (k.clone(), k)
        }
        // The ordinary variants of issue 11: percent-encoded, lower-case and compact, mixed
        // separators, a labelled bare number.
        12 => {
            let e = format!(
                "{}%40{}.example.org",
                pick(s, b"abcdefghijklmnopqrstuvwxyz", 8),
                pick(s, b"klmnopqrstu", 6)
            );
            (format!("GET /unsubscribe?email={e}&list=news"), e)
        }
        13 => {
            let i = iban_de(&pick(s, b"0123456789", 18)).to_ascii_lowercase();
            (i.clone(), i)
        }
        14 => {
            let c = luhn_complete(&format!(
                "5{}",
                pick(s, b"12345", 1) + &pick(s, b"0123456789", 13)
            ));
            let mixed = format!("{} {}-{} {}", &c[..4], &c[4..8], &c[8..12], &c[12..]);
            (mixed.clone(), mixed)
        }
        _ => {
            let v = format!(
                "{}{:02}{:04}",
                100 + (*s % 500),
                10 + (*s >> 8) % 89,
                1000 + (*s >> 16) % 8999
            );
            (format!("SSN: {v}"), v)
        }
    }
}

const FILLER: &[&str] = &[
    "please", "review", "the", "loan", "of", "customer", "today", "ok", "ref 42", "v1.2", "note:",
];
const KEYS: &[&str] = &[
    "data", "items", "meta", "payload", "x1", "body", "args", "ctx",
];

/// Place `text` at `depth` inside nested objects and arrays chosen by `seed`, within prose.
fn nest(text: &str, depth: u8, seed: u64, as_key: bool) -> Value {
    let words = |n: u64| -> String {
        (0..n)
            .map(|i| FILLER[((seed >> (i * 3)) % FILLER.len() as u64) as usize])
            .collect::<Vec<_>>()
            .join(" ")
    };
    let leaf = format!("{} {text}, {}", words(seed % 4), words((seed >> 5) % 3));
    let mut v = if as_key {
        json!({ text: 1 })
    } else {
        Value::String(leaf)
    };
    for level in 0..depth {
        v = if (seed >> level) & 1 == 0 {
            json!({ KEYS[((seed >> (level * 2)) % KEYS.len() as u64) as usize]: v, "n": level })
        } else {
            json!(["pad", v])
        };
    }
    v
}

fn doc_for(secrets: &[(u8, u64, u8, u8)]) -> (Value, Vec<String>) {
    let mut items = Vec::new();
    let mut raw = Vec::new();
    let mut doc = serde_json::Map::new();
    for (i, &(kind, seed, depth, place)) in secrets.iter().enumerate() {
        let (text, must_not_leak) = secret(kind, seed);
        raw.push(must_not_leak);
        match place % 5 {
            0 => doc.insert("explain".into(), Value::String(format!("because {text}"))),
            1 if !doc.contains_key("fail") => {
                doc.insert("fail".into(), Value::String(format!("tool failed: {text}")))
            }
            2 => doc.insert(format!("echo{i}"), nest(&text, depth, seed, false)),
            3 if !text.contains('\n') && !text.contains(' ') => {
                items.push(nest(&text, depth, seed, true));
                None
            }
            _ => {
                items.push(nest(&text, depth, seed, false));
                None
            }
        };
    }
    if let Some(first_echo) = doc.keys().find(|k| k.starts_with("echo")).cloned() {
        let v = doc[&first_echo].clone();
        doc.insert("echo".into(), v);
    }
    doc.insert("items".into(), Value::Array(items));
    (Value::Object(doc), raw)
}

fn secrets_strategy() -> impl Strategy<Value = Vec<(u8, u64, u8, u8)>> {
    proptest::collection::vec((0u8..16, any::<u64>(), 0u8..7, 0u8..5), 1..6)
}

proptest! {
    // Failures are not persisted (the file would land outside this package); regressions found
    // so far are unit tests in `audit-runtime/src/redact/scan.rs`.
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_secrets_at_random_depths_never_reach_memory_or_file_exporters(secrets in secrets_strategy()) {
        let (doc, raw) = doc_for(&secrets);
        let mem = MemoryExporter::new();
        let dir = temp_dir("prop");
        let file = FileExporter::builder(&dir).fsync(FsyncPolicy::Never).open().unwrap();
        let guard = builder(&mem).exporter(file).install_thread_local().unwrap();
        let _ = carry(&doc);
        guard.flush().unwrap();
        drop(guard);
        let mem_bytes = mem.lines().join("\n").into_bytes();
        let file_bytes = all_file_bytes(&dir);
        std::fs::remove_dir_all(&dir).ok();
        prop_assert!(mem.len() == 1);
        prop_assert!(contains(&file_bytes, "red.carry"), "the file log has the record");
        for s in &raw {
            prop_assert!(!contains(&mem_bytes, s), "memory exporter leaked {}: {}", s, String::from_utf8_lossy(&mem_bytes));
            prop_assert!(!contains(&file_bytes, s), "file exporter leaked {}", s);
        }
    }
}

#[test]
fn random_secrets_never_reach_the_stdout_exporter() {
    // One child process for many generated documents (a process per case would be slow).
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 32,
        ..ProptestConfig::default()
    });
    let mut docs = Vec::new();
    let mut raw = Vec::new();
    for _ in 0..32 {
        let secrets = secrets_strategy().new_tree(&mut runner).unwrap().current();
        let (d, r) = doc_for(&secrets);
        docs.push(d);
        raw.extend(r);
    }
    let dir = temp_dir("stdout");
    let path = dir.join("docs.json");
    std::fs::write(&path, serde_json::to_vec(&docs).unwrap()).unwrap();
    let stdout = run_child(path.to_str().unwrap());
    std::fs::remove_dir_all(&dir).ok();
    let records = stdout
        .lines()
        .filter(|l| l.contains("\"red.carry\""))
        .count();
    assert_eq!(records, docs.len(), "every call printed a record");
    for s in &raw {
        assert!(!stdout.contains(s.as_str()), "stdout exporter leaked {s}");
    }
}

// ---- corpus: recall and false-positive rate per detector ------------------------------------

struct Score {
    detector: String,
    positives: usize,
    found: usize,
    negatives: usize,
    false_pos: usize,
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("redaction-corpus")
}

/// Parse `+ text with {{span}}` into the text and the expected spans.
fn parse_positive(line: &str) -> (String, Vec<(usize, usize)>) {
    let mut text = String::new();
    let mut spans = Vec::new();
    let mut rest = line;
    while let Some(open) = rest.find("{{") {
        text.push_str(&rest[..open]);
        let close = rest[open..].find("}}").expect("unclosed {{") + open;
        let start = text.len();
        text.push_str(&rest[open + 2..close]);
        spans.push((start, text.len()));
        rest = &rest[close + 2..];
    }
    text.push_str(rest);
    (text, spans)
}

fn measure(engine: &RedactionEngine, detector: &str, corpus: &str) -> Score {
    let mut s = Score {
        detector: detector.to_owned(),
        positives: 0,
        found: 0,
        negatives: 0,
        false_pos: 0,
    };
    for line in corpus.lines() {
        let line = line.replace("\\n", "\n");
        if let Some(p) = line.strip_prefix("+ ") {
            let (text, spans) = parse_positive(p);
            let dets: Vec<_> = engine
                .scan_text(&text)
                .into_iter()
                .filter(|d| d.detector == detector)
                .collect();
            for (a, b) in spans {
                s.positives += 1;
                if dets.iter().any(|d| d.start <= a && d.end >= b) {
                    s.found += 1;
                } else {
                    eprintln!("MISSED  {detector}: {}", &text[a..b]);
                }
            }
        } else if let Some(n) = line.strip_prefix("- ") {
            s.negatives += 1;
            if engine.scan_text(n).iter().any(|d| d.detector == detector) {
                s.false_pos += 1;
                eprintln!("FALSE+  {detector}: {n}");
            }
        }
    }
    s
}

#[test]
fn corpus_recall_and_fpr() {
    let engine = RedactionEngine::new(&RedactionConfig::default()).unwrap();
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    files.sort();
    let mut table = String::from(
        "| detector | positives | recall | near-misses | false-positive rate |\n|---|---:|---:|---:|---:|\n",
    );
    let (mut tp, mut fp, mut pos, mut neg) = (0, 0, 0, 0);
    let mut failures = Vec::new();
    for f in &files {
        let name = f.file_stem().unwrap().to_str().unwrap().to_owned();
        let s = measure(&engine, &name, &std::fs::read_to_string(f).unwrap());
        let recall = s.found as f64 / s.positives as f64;
        let fpr = s.false_pos as f64 / s.negatives as f64;
        table.push_str(&format!(
            "| `{}` | {} | {:.1}% | {} | {:.1}% |\n",
            s.detector,
            s.positives,
            recall * 100.0,
            s.negatives,
            fpr * 100.0
        ));
        // The bar each detector must clear: most positives found, few near-misses flagged.
        if s.positives < 4 || s.negatives < 3 || recall < 0.85 || fpr > 0.2 {
            failures.push(format!("{}: recall {recall:.2}, fpr {fpr:.2}", s.detector));
        }
        tp += s.found;
        fp += s.false_pos;
        pos += s.positives;
        neg += s.negatives;
    }
    table.push_str(&format!(
        "| **all** | {pos} | {:.1}% | {neg} | {:.1}% |\n",
        tp as f64 / pos as f64 * 100.0,
        fp as f64 / neg as f64 * 100.0
    ));
    println!("{table}");
    assert_eq!(files.len(), 22, "one corpus file per built-in detector");
    assert!(
        failures.is_empty(),
        "detectors below the bar: {failures:#?}\n{table}"
    );
}

/// `[detectors.actions] sensitive_key = ..`, as docs/REDACTION.md documents it, sets the action
/// of the sensitive-key detector (it was refused as an unknown detector name).
#[test]
fn the_sensitive_key_action_can_be_set_in_the_rule_file() {
    let config = audit_runtime::redact::RedactionConfig::from_toml_str(
        "format = 1\n[detectors.actions]\nsensitive_key = \"hash\"\n",
        "rules.toml",
    )
    .expect("parses");
    let mem = MemoryExporter::new();
    let guard = builder(&mem)
        .redaction(config)
        .install_thread_local()
        .expect("a sensitive_key action is accepted at start");
    let (_, decision) = audit_runtime::decision::with_decision_id_sync(decide_for_followups);
    record_outcome(
        decision.unwrap(),
        "settled",
        json!({"password": "swordfish"}),
    )
    .unwrap();
    guard.flush().unwrap();
    let outcome = mem
        .of_kind(RecordKind::Outcome)
        .expect_one()
        .record()
        .clone();
    assert!(
        has_entry(
            &outcome,
            "outcome.value.password",
            "detector:sensitive_key",
            "hash"
        ),
        "{:#?}",
        entries(&outcome)
    );
}
