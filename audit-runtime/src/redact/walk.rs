//! The record walk: every place of an [`AuditRecord`] that can hold data the program produced,
//! and nothing else.
//!
//! Each record type is taken apart by a `let Type { field, .. }`-free destructuring, so adding a
//! field to any type of [`crate::record`] fails to compile here until someone decides whether
//! the new field is scanned (and how) or is one of the runtime's own fixed shapes. The redaction
//! engine ([`super::RedactionEngine`]) and the fail-closed scrub ([`super::scrub`]) both visit the
//! record through [`walk`], so neither can miss a field the other covers.
//!
//! What is not visited, and why (each is named at its destructuring below):
//! - ids, hashes, sequence numbers, timestamps and keyed digests: written by the runtime in a
//!   fixed format ([`crate::ids`], [`crate::chain`], [`crate::clock`], [`crate::digest`]);
//! - enums (`kind`, `status`, `mode`, `role`, `source`, `action`, `side_effect`): closed sets
//!   on the write path ([`crate::record::Open`] holds an unknown word only in a record that was
//!   read, never in one this runtime builds);
//! - `service`, `point` and `code_version` (`crate@version+build`): fixed when the binary is
//!   built or the runtime is installed, the same in every record of the process, not data of a
//!   call (and a semver pre-release such as `app@1.0.0-beta.rc` would read as an e-mail address);
//! - argument names: identifiers of the audited function's signature (they are matched against
//!   the sensitive keys, and a sensitive name erases its value);
//! - `redactions`: what the engine itself wrote (paths, rule names, actions).

use serde_json::{Map, Value};

use crate::record::{
    AuditRecord, CapturedValue, Correlation, ErrorSource, HumanActionInfo, Inputs, KeyedDigest,
    LineageRef, NamedValue, Outcome, PointInfo, Rationale, Redactions, RemoteCall, RemoteParent,
    ServiceInfo, Signal, TimeInfo, VersionRef,
};

/// One segment of a [`Loc`].
#[derive(Clone, Copy)]
pub(crate) enum Seg<'a> {
    Key(&'a str),
    Index(usize),
}

/// A place in the record as a linked list on the stack, rendered (`outcome.error_sources[1].message`)
/// only when something there is redacted.
#[derive(Clone, Copy)]
pub(crate) struct Loc<'a> {
    parent: Option<&'a Loc<'a>>,
    seg: Seg<'a>,
}

impl<'a> Loc<'a> {
    pub(crate) fn root(name: &'a str) -> Self {
        Loc {
            parent: None,
            seg: Seg::Key(name),
        }
    }

    pub(crate) fn key(&'a self, k: &'a str) -> Loc<'a> {
        Loc {
            parent: Some(self),
            seg: Seg::Key(k),
        }
    }

    pub(crate) fn index(&'a self, i: usize) -> Loc<'a> {
        Loc {
            parent: Some(self),
            seg: Seg::Index(i),
        }
    }

    pub(crate) fn render(&self) -> String {
        let mut segs = Vec::new();
        let mut at = Some(self);
        while let Some(l) = at {
            segs.push(l.seg);
            at = l.parent;
        }
        let mut s = String::new();
        for (i, seg) in segs.iter().rev().enumerate() {
            match seg {
                Seg::Key(k) => {
                    if i > 0 {
                        s.push('.');
                    }
                    s.push_str(k);
                }
                Seg::Index(n) => {
                    use std::fmt::Write;
                    let _ = write!(s, "[{n}]");
                }
            }
        }
        s
    }
}

/// What a walk does at each kind of place.
pub(crate) trait Visit {
    /// A free text (an error message, a note, a version string, a data-set name).
    fn text(&mut self, s: &mut String, loc: &Loc<'_>);
    /// A serialized value of the program (a captured argument or output, an override value).
    fn value(&mut self, v: &mut Value, loc: &Loc<'_>);
    /// A value under a name the program chose (a captured argument, a signal): a sensitive name
    /// (`password`) covers the whole value.
    fn named_value(&mut self, name: &str, v: &mut Value, loc: &Loc<'_>);
    /// A name that is also a segment of the paths below it (a signal name). Rewritten so equal
    /// names stay equal and distinct ones distinct.
    fn name(&mut self, s: &mut String, loc: &Loc<'_>);
    /// The free attributes of a follow-up record.
    fn attributes(&mut self, m: &mut Map<String, Value>, loc: &Loc<'_>);
}

fn opt_text(v: &mut impl Visit, s: &mut Option<String>, loc: &Loc<'_>) {
    if let Some(s) = s {
        v.text(s, loc);
    }
}

/// Visit every place of `r` that can hold program data, in serialization order.
pub(crate) fn walk(r: &mut AuditRecord, v: &mut impl Visit) {
    let AuditRecord {
        // Runtime-written fixed shapes: schema number, id, enum, chain position and hash.
        v: _,
        record_id: _,
        kind: _,
        seq: _,
        prev: _,
        service,
        point,
        time,
        correlation,
        refers_to: _,
        inputs,
        versions,
        unversioned,
        // `crate@version+build`: from the point and the builder, see the module docs.
        code_version: _,
        rationale,
        outcome,
        lineage,
        human_action,
        finding,
        redactions,
        attributes,
        remote_parent,
        remote_calls,
    } = r;
    fixed_service(service);
    if let Some(p) = point {
        fixed_point(p);
    }
    fixed_time(time);
    correlation_(v, correlation);
    if let Some(i) = inputs {
        inputs_(v, i);
    }
    let root = Loc::root("versions");
    for (i, ver) in versions.iter_mut().enumerate() {
        version(v, ver, &root.index(i));
    }
    opt_text(v, unversioned, &Loc::root("unversioned"));
    rationale_(v, rationale);
    if let Some(o) = outcome {
        outcome_(v, o);
    }
    let root = Loc::root("lineage");
    for (i, l) in lineage.iter_mut().enumerate() {
        lineage_(v, l, &root.index(i));
    }
    if let Some(h) = human_action {
        human(v, h);
    }
    opt_text(v, finding, &Loc::root("finding"));
    engine_output(redactions);
    if !attributes.is_empty() {
        v.attributes(attributes, &Loc::root("attributes"));
    }
    if let Some(p) = remote_parent {
        remote_parent_(v, p);
    }
    let root = Loc::root("remote_calls");
    for (i, c) in remote_calls.iter_mut().enumerate() {
        remote_call(v, c, &root.index(i));
    }
}

/// The remote caller's claim: its service name came over the wire, so it is scanned like any
/// text from outside; the id and the carrier are fixed shapes parsed by the runtime.
fn remote_parent_(v: &mut impl Visit, p: &mut RemoteParent) {
    let RemoteParent {
        record_id: _,
        service,
        via: _,
    } = p;
    let root = Loc::root("remote_parent");
    opt_text(v, service, &root.key("service"));
}

/// An outgoing call: the target is the program's (a URL can carry a query with personal data).
fn remote_call(v: &mut impl Visit, c: &mut RemoteCall, loc: &Loc<'_>) {
    let RemoteCall {
        target,
        service,
        span_id: _,
    } = c;
    v.text(target, &loc.key("target"));
    opt_text(v, service, &loc.key("service"));
}

/// Fixed for the process: from the builder or the environment at installation.
fn fixed_service(s: &ServiceInfo) {
    let ServiceInfo {
        name: _,
        version: _,
        instance: _,
    } = s;
}

/// Fixed when the binary was built: the audit point's static metadata.
fn fixed_point(p: &PointInfo) {
    let PointInfo {
        name: _,
        kind: _,
        crate_name: _,
        crate_version: _,
        module: _,
        function: _,
        file: _,
        line: _,
    } = p;
}

/// RFC 3339 times and a duration, written by the runtime's clock.
fn fixed_time(t: &TimeInfo) {
    let TimeInfo {
        start: _,
        end: _,
        duration_ns: _,
    } = t;
}

/// Algorithm, key id and hex value, written by [`crate::digest`].
fn fixed_digest(d: &KeyedDigest) {
    let KeyedDigest {
        alg: _,
        key_id: _,
        value: _,
    } = d;
}

/// Paths, rule names and actions the engine wrote.
fn engine_output(r: &Redactions) {
    let Redactions {
        rule_set: _,
        detectors_disabled: _,
        entries: _,
    } = r;
}

fn correlation_(v: &mut impl Visit, c: &mut Correlation) {
    let Correlation {
        decision_id: _,
        parent_id: _,
        parent_decision_id: _,
        run_id: _,
        // The program sets the session id (it may be an e-mail address or a phone number).
        session_id,
        trace_id: _,
        span_id: _,
        parent_span_id: _,
    } = c;
    let root = Loc::root("correlation");
    opt_text(v, session_id, &root.key("session_id"));
}

fn inputs_(v: &mut impl Visit, i: &mut Inputs) {
    let Inputs { digest, args } = i;
    if let Some(d) = digest {
        fixed_digest(d);
    }
    let root = Loc::root("inputs");
    for a in args {
        let NamedValue { name, captured } = a;
        let here = root.key(name);
        captured_(v, Some(name), captured, &here);
    }
}

fn captured_(v: &mut impl Visit, name: Option<&str>, c: &mut CapturedValue, loc: &Loc<'_>) {
    let CapturedValue {
        mode: _,
        value,
        digest,
        error,
    } = c;
    if let Some(val) = value {
        match name {
            Some(n) => v.named_value(n, val, loc),
            None => v.value(val, loc),
        }
    }
    if let Some(d) = digest {
        fixed_digest(d);
    }
    opt_text(v, error, &loc.key("error"));
}

fn version(v: &mut impl Visit, r: &mut VersionRef, loc: &Loc<'_>) {
    let VersionRef {
        role: _,
        name,
        version,
        digest,
        source: _,
    } = r;
    // Names and versions may be computed at run time (`version = expr`).
    v.text(name, &loc.key("name"));
    opt_text(v, version, &loc.key("version"));
    opt_text(v, digest, &loc.key("digest"));
}

fn rationale_(v: &mut impl Visit, r: &mut Rationale) {
    let Rationale {
        explanation,
        signals,
    } = r;
    let root = Loc::root("rationale");
    opt_text(v, explanation, &root.key("explanation"));
    let sigs = root.key("signals");
    for s in signals {
        let Signal { name, value } = s;
        v.name(name, &sigs);
        let here = sigs.key(name);
        v.named_value(name, value, &here);
    }
}

fn outcome_(v: &mut impl Visit, o: &mut Outcome) {
    let Outcome {
        status: _,
        value,
        error,
        error_type,
        error_dyn_type,
        error_sources,
        side_effect: _,
    } = o;
    let root = Loc::root("outcome");
    if let Some(c) = value {
        captured_(v, None, c, &root.key("value"));
    }
    opt_text(v, error, &root.key("error"));
    // Type names are the program's: generic arguments can carry anything a type can.
    opt_text(v, error_type, &root.key("error_type"));
    opt_text(v, error_dyn_type, &root.key("error_dyn_type"));
    let sources = root.key("error_sources");
    for (i, s) in error_sources.iter_mut().enumerate() {
        let here = sources.index(i);
        let ErrorSource {
            message,
            error_type,
        } = s;
        v.text(message, &here.key("message"));
        opt_text(v, error_type, &here.key("type"));
    }
}

fn lineage_(v: &mut impl Visit, l: &mut LineageRef, loc: &Loc<'_>) {
    let LineageRef {
        dataset,
        version,
        digest,
    } = l;
    v.text(dataset, &loc.key("dataset"));
    opt_text(v, version, &loc.key("version"));
    opt_text(v, digest, &loc.key("digest"));
}

fn human(v: &mut impl Visit, h: &mut HumanActionInfo) {
    let HumanActionInfo {
        action: _,
        actor,
        note,
        new_value,
    } = h;
    let root = Loc::root("human_action");
    v.text(actor, &root.key("actor"));
    opt_text(v, note, &root.key("note"));
    if let Some(val) = new_value {
        v.value(val, &root.key("new_value"));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::digest::DigestKey;
    use crate::ids::{RecordId, SpanId, TraceId};
    use crate::point::{ArtifactRole, PointKind, SideEffect};
    use crate::record::*;
    use crate::redact::{RedactContext, RedactionConfig, RedactionCounters, RedactionEngine};
    use crate::redact::{Redactor, scrub};

    /// Every field of every record type set, every string holding an e-mail address. Written as
    /// struct literals without `..`, so a new field must be added here too.
    fn full_record() -> AuditRecord {
        let pii = |tag: &str| format!("{tag} jane.{tag}@example.com");
        let digest = || KeyedDigest {
            alg: DigestAlg::Blake3Keyed.into(),
            key_id: pii("key_id"),
            value: pii("value"),
        };
        let captured = |tag: &str| CapturedValue {
            mode: CaptureMode::Captured.into(),
            value: Some(json!({ "k": pii(tag), pii("key"): [pii(tag)] })),
            digest: Some(digest()),
            error: Some(pii("error")),
        };
        AuditRecord {
            v: SCHEMA_VERSION,
            record_id: RecordId::now(),
            kind: RecordKind::Decision.into(),
            seq: 3,
            prev: pii("prev"),
            service: ServiceInfo {
                name: pii("service"),
                version: Some(pii("service_version")),
                instance: RecordId::now(),
            },
            point: Some(PointInfo {
                name: pii("point"),
                kind: PointKind::Decision.into(),
                crate_name: pii("crate"),
                crate_version: pii("crate_version"),
                module: pii("module"),
                function: pii("function"),
                file: pii("file"),
                line: 1,
            }),
            time: TimeInfo {
                start: pii("start"),
                end: Some(pii("end")),
                duration_ns: Some(1),
            },
            correlation: Correlation {
                decision_id: Some(RecordId::now()),
                parent_id: Some(RecordId::now()),
                parent_decision_id: Some(RecordId::now()),
                run_id: Some(RecordId::now()),
                session_id: Some(pii("session")),
                trace_id: Some(TraceId::random()),
                span_id: Some(SpanId::random()),
                parent_span_id: Some(SpanId::random()),
            },
            refers_to: Some(RecordId::now()),
            inputs: Some(Inputs {
                digest: Some(digest()),
                args: vec![NamedValue {
                    name: "applicant".into(),
                    captured: captured("arg"),
                }],
            }),
            versions: vec![VersionRef {
                role: ArtifactRole::Model.into(),
                name: pii("version_name"),
                version: Some(pii("version")),
                digest: Some(pii("version_digest")),
                source: VersionOrigin::Expr.into(),
            }],
            unversioned: Some(pii("unversioned")),
            code_version: Some(pii("code_version")),
            rationale: Rationale {
                explanation: Some(pii("explanation")),
                signals: vec![Signal {
                    name: pii("signal"),
                    value: json!(pii("signal_value")),
                }],
            },
            outcome: Some(Outcome {
                status: OutcomeStatus::Err.into(),
                value: Some(captured("output")),
                error: Some(pii("outcome_error")),
                error_type: Some(pii("error_type")),
                error_dyn_type: Some(pii("error_dyn_type")),
                error_sources: vec![ErrorSource {
                    message: pii("source"),
                    error_type: Some(pii("source_type")),
                }],
                side_effect: Some(SideEffect::Write.into()),
            }),
            lineage: vec![LineageRef {
                dataset: pii("dataset"),
                version: Some(pii("dataset_version")),
                digest: Some(pii("dataset_digest")),
            }],
            human_action: Some(HumanActionInfo {
                action: HumanActionKind::Override.into(),
                actor: pii("actor"),
                note: Some(pii("note")),
                new_value: Some(json!({ "v": pii("new_value") })),
            }),
            finding: Some(pii("finding")),
            redactions: Redactions {
                rule_set: pii("rule_set"),
                detectors_disabled: false,
                entries: vec![RedactionEntry {
                    path: pii("path"),
                    rule: pii("rule"),
                    action: crate::point::RedactAction::Erase.into(),
                    reason: Some(pii("reason")),
                }],
            },
            attributes: [(pii("attr_key"), json!(pii("attr")))]
                .into_iter()
                .collect(),
            remote_parent: Some(RemoteParent {
                record_id: Some(RecordId::now()),
                service: Some(pii("remote_service")),
                via: PropagationVia::Headers,
            }),
            remote_calls: vec![RemoteCall {
                target: pii("target"),
                service: Some(pii("callee")),
                span_id: SpanId::random(),
            }],
        }
    }

    /// Independent of the walk: the JSON paths of every string and object key of the serialized
    /// record that still holds an address.
    fn leaks(r: &AuditRecord) -> Vec<String> {
        fn go(v: &Value, path: &str, out: &mut Vec<String>) {
            match v {
                Value::String(s) if s.contains("@example.com") => out.push(path.to_owned()),
                Value::Array(a) => a
                    .iter()
                    .enumerate()
                    .for_each(|(i, x)| go(x, &format!("{path}[{i}]"), out)),
                Value::Object(m) => {
                    for (k, x) in m {
                        if k.contains("@example.com") {
                            out.push(format!("{path}.{{key}}"));
                        }
                        go(x, &format!("{path}.{k}"), out);
                    }
                }
                _ => {}
            }
        }
        let mut out = Vec::new();
        go(&serde_json::to_value(r).unwrap(), "", &mut out);
        out.sort();
        out
    }

    /// The fields documented as not visited: the runtime's fixed shapes and the engine's output.
    const NOT_VISITED: &[&str] = &[
        ".inputs.digest.key_id",
        ".inputs.digest.value",
        ".inputs.args[0].digest.key_id",
        ".inputs.args[0].digest.value",
        ".outcome.value.digest.key_id",
        ".outcome.value.digest.value",
        ".code_version",
        ".point.crate",
        ".point.crate_version",
        ".point.file",
        ".point.function",
        ".point.module",
        ".point.name",
        ".prev",
        ".redactions.entries[0].path",
        ".redactions.entries[0].reason",
        ".redactions.entries[0].rule",
        ".redactions.rule_set",
        ".service.name",
        ".service.version",
        ".time.end",
        ".time.start",
    ];

    fn expected() -> Vec<String> {
        let mut v: Vec<String> = NOT_VISITED.iter().map(|s| (*s).to_owned()).collect();
        v.sort();
        v
    }

    #[test]
    fn the_engine_scans_every_field_but_the_fixed_ones() {
        let mut r = full_record();
        let before = leaks(&r);
        assert!(before.len() > NOT_VISITED.len() + 20, "{before:#?}");
        let engine = RedactionEngine::new(&RedactionConfig::default()).unwrap();
        let key = DigestKey::from_bytes([1; 32]);
        let counters = RedactionCounters::default();
        let cx = RedactContext::new(None, &key, &counters);
        // The engine replaces `redactions`; put the probe back to see it was not scanned.
        engine.redact(&cx, &mut r);
        let mut probe = full_record();
        std::mem::swap(&mut r.redactions, &mut probe.redactions);
        let mut want = expected();
        let mut got = leaks(&r);
        assert_eq!(got, want);
        // And the engine said where it redacted: one entry per visited place at least.
        assert!(probe.redactions.entries.len() >= before.len() - NOT_VISITED.len());
        for path in [
            "lineage[0].dataset",
            "lineage[0].digest",
            "versions[0].version",
            "outcome.error_sources[0].message",
            "outcome.error_sources[0].type",
            "outcome.error_dyn_type",
            "unversioned",
        ] {
            assert!(
                probe.redactions.entries.iter().any(|e| e.path == path),
                "no entry at {path}"
            );
        }
        // A signal name is rewritten like an object key, and its value reached under it.
        let name = &r.rationale.signals[0].name;
        assert!(name.starts_with("signal [email:"), "{name}");

        // The scrub erases exactly the same places.
        let mut s = full_record();
        scrub(&mut s, "test");
        // (it keeps the rule-set version and replaces the entries by its own)
        want.retain(|p| !p.starts_with(".redactions.entries"));
        got = leaks(&s);
        assert_eq!(got, want);
    }
}
