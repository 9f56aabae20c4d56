//! The reader/writer matrix (`docs/SCHEMA-EVOLUTION.md`): the reader of every published schema
//! version against the log of every version, and a log from the future.
//!
//! Logs are golden files, written once and never rewritten (`write_golden_logs`, ignored, made
//! them; a new version adds its own):
//! - `tests/fixtures/schema/v1/records.jsonl`: a real sealed chain with every record kind, every
//!   capture mode, version origin, redaction action and most statuses;
//! - `audit-exporters/tests/fixtures/golden-log/`: the file log's golden segments (v1 records);
//! - `tests/fixtures/schema/future/records.jsonl`: what a later writer might write: v1 records
//!   with a new kind, status, side effect and new members, then a v2 record.
//!
//! Readers: the typed reader of this build (`read_record`, one entry per `v` in [`readers`]; a v2
//! reader is one more entry), and every *published* schema as the reader of its revision (a
//! record is readable by a reader of revision R if R's schema validates it), from the registry.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use std::collections::BTreeSet;
use std::path::PathBuf;

use audit_runtime::chain::{ChainVerifier, GENESIS_PREV, RecordHash, line};
use audit_runtime::record::{AuditRecord, OpenEnum, RecordKind, RecordRead, read_record};
use audit_tests::compat::registry::{Registry, schema_dir};
use audit_tests::compat::validate::Validator;
use serde_json::Value;

const FUTURE: &str = "future (v1 with additions, then v2)";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A log: the record lines of one writer version, in chain order.
struct Log {
    name: &'static str,
    /// The newest `v` its writer wrote.
    writer: u32,
    lines: Vec<String>,
    /// Whether the lines are one chain from `seq` 0.
    one_chain: bool,
}

fn read_lines(rel: &str) -> Vec<String> {
    let text = std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
    text.lines().map(str::to_owned).collect()
}

fn logs() -> Vec<Log> {
    // The file log's segments, in name order; only its record lines (headers and checkpoints
    // are the file format's, not records).
    let dir = root().join("audit-exporters/tests/fixtures/golden-log");
    let mut segments: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    segments.sort();
    let mut golden = Vec::new();
    for s in segments {
        for l in std::fs::read_to_string(s).unwrap().lines() {
            let v: Value = serde_json::from_str(l).unwrap();
            if v.get("v").is_some() {
                golden.push(l.to_owned());
            }
        }
    }
    assert!(!golden.is_empty());
    vec![
        Log {
            name: "v1",
            writer: 1,
            lines: read_lines("tests/fixtures/schema/v1/records.jsonl"),
            one_chain: true,
        },
        Log {
            name: "file-log golden (v1)",
            writer: 1,
            lines: golden,
            one_chain: true,
        },
        Log {
            name: FUTURE,
            writer: 2,
            lines: read_lines("tests/fixtures/schema/future/records.jsonl"),
            one_chain: true,
        },
    ]
}

/// A reader of one schema version: what it makes of a canonical record.
struct Reader {
    /// The newest `v` it reads.
    v: u32,
    name: &'static str,
    read: fn(&str) -> Result<RecordRead, String>,
}

fn readers() -> Vec<Reader> {
    vec![Reader {
        v: 1,
        name: "v1 (audit_runtime::record::read_record of this build)",
        read: |c| read_record(c).map_err(|e| e.to_string()),
    }]
}

/// Integrity with no schema knowledge: each line's hash, and `seq`/`prev` linking it to the one
/// before. Only these members are read, so it works for any `v`.
fn verify_integrity(log: &Log) {
    let mut head: Option<(u64, RecordHash)> = None;
    for (i, l) in log.lines.iter().enumerate() {
        let (canonical, hash) =
            line::open(l).unwrap_or_else(|e| panic!("{} line {i}: {e}", log.name));
        let v: Value = serde_json::from_str(&canonical).unwrap();
        let seq = v["seq"].as_u64().unwrap();
        let prev = v["prev"].as_str().unwrap();
        if log.one_chain {
            match head {
                None => assert_eq!((seq, prev), (0, GENESIS_PREV), "{}", log.name),
                Some((s, h)) => {
                    assert_eq!(seq, s + 1, "{} line {i}", log.name);
                    assert_eq!(prev, h.to_hex(), "{} line {i}", log.name);
                }
            }
        }
        head = Some((seq, hash));
    }
}

/// Remove the member at `path` (`a.b`, `a[0].b`) from `v`.
fn remove(v: &mut Value, path: &str) {
    let mut segs: Vec<&str> = path.split('.').collect();
    let last = segs.pop().unwrap();
    let mut at = v;
    for seg in segs {
        let (name, index) = match seg.split_once('[') {
            Some((n, i)) => (n, i.strip_suffix(']').and_then(|i| i.parse::<usize>().ok())),
            None => (seg, None),
        };
        at = &mut at[name];
        if let Some(i) = index {
            at = &mut at[i];
        }
    }
    assert!(at.as_object_mut().unwrap().remove(last).is_some(), "{path}");
}

#[test]
fn every_reader_reads_every_log() {
    let logs = logs();
    for log in &logs {
        verify_integrity(log);
    }
    for reader in readers() {
        for log in &logs {
            let mut kinds = BTreeSet::new();
            for (i, l) in log.lines.iter().enumerate() {
                let at = format!("reader {} on log {} line {i}", reader.name, log.name);
                let (canonical, _) = line::split(l).unwrap();
                let v = serde_json::from_str::<Value>(&canonical).unwrap()["v"]
                    .as_u64()
                    .unwrap();
                let read = (reader.read)(&canonical).unwrap_or_else(|e| panic!("{at}: {e}"));
                if v > u64::from(reader.v) {
                    // Newer than the reader: reported, never guessed at.
                    assert_eq!(read, RecordRead::UnknownSchema { v }, "{at}");
                    assert_eq!(
                        read.to_string(),
                        format!("schema {v} not known to this verifier")
                    );
                    continue;
                }
                let RecordRead::Known {
                    schema,
                    record,
                    unknown_members,
                } = &read
                else {
                    panic!("{at}: {read:?}");
                };
                assert_eq!(u64::from(*schema), v, "{at}");
                kinds.insert(record.kind.as_str().into_owned());
                // Nothing is lost: written back, the record is its canonical bytes exactly,
                // unless members unknown to the reader were skipped (and then they are named).
                let back = serde_json::to_string(record).unwrap();
                if log.writer <= reader.v {
                    assert_eq!(unknown_members, &Vec::<String>::new(), "{at}");
                    assert_eq!(back, canonical, "{at}");
                } else {
                    // The record holds everything but the named members, value for value.
                    let mut expected: Value = serde_json::from_str(&canonical).unwrap();
                    for path in unknown_members {
                        remove(&mut expected, path);
                    }
                    assert_eq!(
                        serde_json::from_str::<Value>(&back).unwrap(),
                        expected,
                        "{at}"
                    );
                    if unknown_members.is_empty() {
                        assert_eq!(back, canonical, "{at}");
                    }
                }
            }
            if log.name == "v1" {
                // The v1 golden log covers every record kind.
                let all: BTreeSet<String> = <RecordKind as OpenEnum>::KNOWN
                    .iter()
                    .map(|k| k.as_str().to_owned())
                    .collect();
                assert_eq!(kinds, all, "record kinds of the v1 log");
            }
        }
    }
}

/// Every published schema as a reader: it accepts every line of every log of its `v`, except
/// what was added after it, and the matrix below says exactly which lines those are.
#[test]
fn every_published_schema_reads_every_log_of_its_version() {
    let dir = schema_dir();
    let registry = Registry::load(&dir).unwrap();
    let logs = logs();
    for s in &registry.schemas {
        let schema = s.schema(&dir).unwrap();
        let mut validator = Validator::new(&schema);
        for log in &logs {
            // (line, a path the refusal must name)
            let expected: &[(usize, &str)] = match (s.revision.as_str(), log.name) {
                // Revision 1.0 had closed enums: its readers refuse the words added later.
                ("1.0", FUTURE) => &[
                    (0, "$.kind"),
                    (1, "$.outcome.status"),
                    (1, "$.outcome.side_effect"),
                ],
                _ => &[],
            };
            let mut refused: Vec<(usize, Vec<String>)> = Vec::new();
            for (n, l) in log.lines.iter().enumerate() {
                let value: Value = serde_json::from_str(l).unwrap();
                if value["v"].as_u64().unwrap() > u64::from(s.v) {
                    // Not this reader's schema: reported as unknown (the typed reader's test).
                    continue;
                }
                let errors = validator.validate(&value);
                if !errors.is_empty() {
                    refused.push((n, errors));
                }
            }
            let lines: BTreeSet<usize> = refused.iter().map(|(n, _)| *n).collect();
            let want: BTreeSet<usize> = expected.iter().map(|(n, _)| *n).collect();
            assert_eq!(lines, want, "{} on log {}: {refused:#?}", s.file, log.name);
            for (n, path) in expected {
                let errors = &refused.iter().find(|(m, _)| m == n).unwrap().1;
                assert!(
                    errors.iter().any(|e| e.starts_with(&format!("{path}:"))),
                    "{} on log {} line {n}: expected a refusal at {path}: {errors:#?}",
                    s.file,
                    log.name
                );
            }
        }
    }
}

/// What the v1 reader makes of each future line, in detail.
#[test]
fn the_v1_reader_keeps_and_shows_what_a_newer_writer_added() {
    let lines = read_lines("tests/fixtures/schema/future/records.jsonl");
    let read: Vec<RecordRead> = lines.iter().map(|l| read_record(l).unwrap()).collect();

    // 0: a new record kind and a new top-level member.
    let RecordRead::Known {
        record,
        unknown_members,
        ..
    } = &read[0]
    else {
        panic!("{:?}", read[0])
    };
    assert_eq!(record.kind.as_str(), "escalation");
    assert!(!record.kind.is_known());
    assert_eq!(record.kind.to_string(), "escalation");
    assert_eq!(unknown_members, &["priority"]);

    // 1: a known kind with a new status and side effect, new nested members.
    let RecordRead::Known {
        record,
        unknown_members,
        ..
    } = &read[1]
    else {
        panic!("{:?}", read[1])
    };
    assert_eq!(record.kind, RecordKind::Tool);
    let o = record.outcome.as_ref().unwrap();
    assert_eq!(o.status.as_str(), "timed_out");
    assert_eq!(o.side_effect.as_ref().unwrap().as_str(), "external");
    assert_eq!(
        unknown_members,
        &["inputs.args[0].encoding", "outcome.retries"]
    );
    // The line's own bytes, not a re-serialization, are what the hash covers: it verifies.
    line::open(&lines[1]).unwrap();

    // 2: schema 2.
    assert_eq!(read[2], RecordRead::UnknownSchema { v: 2 });

    // The chain verifier of this build takes the v1 lines with new words (open enums), and
    // hands back the unknown values as written.
    let mut chain = ChainVerifier::new();
    for l in &lines[..2] {
        let r: AuditRecord = chain.push(l).unwrap();
        assert!(!r.kind.is_known() || r.outcome.as_ref().is_some_and(|o| !o.status.is_known()));
    }
}

/// The golden logs, pinned byte for byte: a rewritten log would still be a valid chain, so
/// only its digest shows that it is not the log that was published.
const GOLDEN_LOGS: &[(&str, &str)] = &[
    (
        "tests/fixtures/schema/v1/records.jsonl",
        "5f036c4d5400049c6c8bbdca326287786a1f1b41606981b63c68efca4ddc0645",
    ),
    (
        "tests/fixtures/schema/future/records.jsonl",
        "8c451d615335991c986e1b8fb04fecde1d02a4869d455a06b708f62cdeb522bf",
    ),
];

#[test]
fn golden_logs_are_never_rewritten() {
    let changed: Vec<String> = GOLDEN_LOGS
        .iter()
        .filter_map(|(rel, pinned)| {
            let bytes = std::fs::read(root().join(rel)).unwrap();
            let digest = blake3::hash(&bytes).to_hex().to_string();
            (digest != *pinned).then(|| format!("{rel}: BLAKE3 {digest}, pinned {pinned}"))
        })
        .collect();
    assert!(changed.is_empty(), "golden logs changed: {changed:#?}");
}

/// Writes the golden logs that do not exist yet (a new version adds its own); an existing log is
/// never rewritten: the logs are the evidence that old records stay readable.
#[test]
#[ignore = "writes missing golden logs"]
fn write_golden_logs() {
    let write = |rel: &str, lines: &[String]| {
        let path = root().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
        std::fs::write(&path, text).unwrap();
        eprintln!("wrote {rel}: pin its BLAKE3 in GOLDEN_LOGS");
    };
    let (v1_rel, future_rel) = (GOLDEN_LOGS[0].0, GOLDEN_LOGS[1].0);
    let v1 = if root().join(v1_rel).exists() {
        read_lines(v1_rel)
    } else {
        let v1 = generate::v1_log();
        write(v1_rel, &v1);
        v1
    };
    if !root().join(future_rel).exists() {
        write(future_rel, &generate::future_log(&v1));
    }
}

mod generate {
    use std::collections::BTreeMap;

    use audit_runtime::artifacts::{self, Artifact};
    use audit_runtime::chain::{GENESIS_PREV, RecordHash, line};
    use audit_runtime::point::ArtifactRole;
    use audit_runtime::record::LineageRef;
    use audit_runtime::{
        HumanAction, HumanActionKind, audited_agent, audited_decision, audited_model_call,
        audited_policy_check, audited_tool, record_human_action, record_lineage, record_outcome,
    };
    use audit_tests::local_runtime;
    use serde::Serialize;

    #[derive(Serialize)]
    pub struct Applicant {
        name: String,
        email: String,
        ssn: String,
        phone: String,
        card: String,
    }

    fn scorer_version() -> String {
        "4.2.0".to_owned()
    }

    #[audited_policy_check(
        name = "matrix.screen",
        policy = "matrix-policy",
        policy_version = "3",
        capture(amount)
    )]
    fn screen(amount: u64) -> bool {
        amount < 50_000
    }

    #[audited_model_call(name = "matrix.score", model = "matrix-llm", model_version = scorer_version(), capture(prompt), output = capture)]
    fn score(prompt: &str) -> f64 {
        prompt.len() as f64 / 100.0
    }

    #[audited_tool(name = "matrix.fetch", side_effect = read, capture(account, odd), hash_only(token))]
    fn fetch(account: &str, token: &str, odd: &BTreeMap<Vec<u8>, u8>) -> Result<u64, String> {
        let _ = (token, odd);
        if account.is_empty() {
            Err("no account".into())
        } else {
            Ok(1200)
        }
    }

    #[audited_tool(name = "matrix.pay", side_effect = irreversible)]
    fn pay() {
        panic!("the payment rail is down");
    }

    #[audited_decision(
        name = "matrix.decide",
        model = "matrix-llm",
        model_version = "4.2.0",
        prompt = "matrix-prompt",
        capture(applicant),
        hash_only(amount),
        output = capture,
        redact(
            applicant.email = mask(4),
            applicant.ssn = erase,
            applicant.phone = hash,
            applicant.card = digest
        )
    )]
    fn decide(applicant: &Applicant, amount: u64) -> Result<bool, String> {
        audit_runtime::signal("score", 0.82);
        audit_runtime::explain("score above the cut-off");
        if amount == 0 {
            Err("zero amount".into())
        } else {
            Ok(true)
        }
    }

    #[audited_decision(name = "matrix.stale", model = "matrix-stale", model_version = "1.0.0")]
    fn stale() -> bool {
        true
    }

    #[audited_agent(name = "matrix.run", session = "session-7")]
    fn run() -> Result<bool, String> {
        let applicant = Applicant {
            name: "Ada".into(),
            email: "ada@example.com".into(),
            ssn: "078-05-1120".into(),
            phone: "+1 202 555 0143".into(),
            card: "4111 1111 1111 1111".into(),
        };
        screen(1_000);
        score("score this applicant");
        let odd = BTreeMap::from([(vec![1u8], 1u8)]);
        fetch("acct-1", "tok-secret", &odd)?;
        let _ = fetch("", "tok-secret", &odd);
        let _ = std::panic::catch_unwind(pay);
        let _ = decide(&applicant, 0);
        decide(&applicant, 1_000)
    }

    /// A real chain from a real runtime: every record kind.
    pub fn v1_log() -> Vec<String> {
        let (guard, mem) = local_runtime();
        artifacts::register(Artifact::from_bytes(
            ArtifactRole::Prompt,
            "matrix-prompt",
            "p9",
            b"Decide on the loan.",
        ));
        artifacts::register(Artifact::new(ArtifactRole::Model, "matrix-stale", "1.1.0"));
        let (_, decision) = audit_runtime::decision::with_decision_id_sync(run);
        stale();
        let id = decision.expect("a decision ran");
        record_outcome(id, "repaid", serde_json::json!({"on_time": true})).unwrap();
        record_human_action(
            id,
            HumanAction::new(HumanActionKind::Override, "officer-3")
                .note("manual review")
                .new_value(false),
        )
        .unwrap();
        record_lineage(
            id,
            [LineageRef {
                dataset: "applications".into(),
                version: Some("2026-12".into()),
                digest: None,
            }],
        )
        .unwrap();
        guard.flush().unwrap();
        mem.lines()
    }

    /// Reseal `canonical` texts as one chain from `seq` 0.
    fn chain(canonical: Vec<String>) -> Vec<String> {
        let mut prev = GENESIS_PREV.to_owned();
        let mut out = Vec::new();
        for (seq, c) in canonical.into_iter().enumerate() {
            let v: serde_json::Value = serde_json::from_str(&c).unwrap();
            let old = format!(
                "\"seq\":{},\"prev\":\"{}\"",
                v["seq"],
                v["prev"].as_str().unwrap()
            );
            let c = c.replacen(&old, &format!("\"seq\":{seq},\"prev\":\"{prev}\""), 1);
            let (l, h): (String, RecordHash) = line::seal_canonical(c.into_bytes()).unwrap();
            prev = h.to_hex();
            out.push(l);
        }
        out
    }

    fn replace_once(s: &str, from: &str, to: &str) -> String {
        assert!(s.contains(from), "{from} not in {s}");
        s.replacen(from, to, 1)
    }

    /// What a later writer might write, made from real v1 records by editing their text (so
    /// new members sit where a writer would put them, not where a JSON map would sort them).
    pub fn future_log(v1: &[String]) -> Vec<String> {
        let canonical = |kind: &str| {
            let l = v1
                .iter()
                .find(|l| l.contains(&format!("\"kind\":\"{kind}\"")))
                .unwrap();
            line::split(l).unwrap().0
        };
        let decision = canonical("decision");
        let escalation = replace_once(
            &decision,
            "\"kind\":\"decision\"",
            "\"kind\":\"escalation\"",
        );
        let escalation = replace_once(
            &escalation,
            ",\"service\":",
            ",\"priority\":\"high\",\"service\":",
        );
        let tool = v1
            .iter()
            .map(|l| line::split(l).unwrap().0)
            .find(|c| {
                c.contains("\"kind\":\"tool\"")
                    && c.contains("\"status\":\"ok\"")
                    && c.contains("\"args\"")
            })
            .unwrap();
        let tool = replace_once(
            &tool,
            "\"status\":\"ok\"",
            "\"status\":\"timed_out\",\"retries\":3",
        );
        let tool = replace_once(
            &tool,
            "\"side_effect\":\"read\"",
            "\"side_effect\":\"external\"",
        );
        let tool = replace_once(
            &tool,
            "{\"name\":\"account\",",
            "{\"name\":\"account\",\"encoding\":\"utf-8\",",
        );
        let v2 = format!(
            "{{\"v\":2,\"record_id\":\"01a21957-cb29-7fff-8000-000000000001\",\"kind\":\"decision\",\"seq\":0,\"prev\":\"{GENESIS_PREV}\",\"subject\":{{\"id\":\"applicant-9\"}},\"verdict\":{{\"value\":true}}}}"
        );
        chain(vec![escalation, tool, v2])
    }
}
