//! The `audit` command end to end: a real log written through the runtime (an agent run, two
//! decisions with nested tools, a model call and a policy check, an error, a human override and
//! an outcome), read by the library and by the real `audit` binary; filters return exact sets,
//! the tree has the override attached, unknown ids get suggestions, tampered lines are marked
//! or refused, and evidence bundles verify and fail when a record is removed or edited.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::Command;

use audit_exporters::file::FileExporter;
use audit_exporters::investigate::{
    Filter, Integrity, LoadOptions, SortKey, Store, make_bundle, select, tree, verify_bundle,
};
use audit_runtime::{
    AuditRuntime, HumanAction, HumanActionKind, RecordId, audited_agent, audited_decision,
    audited_model_call, audited_policy_check, audited_tool,
};
use common::*;

#[audited_tool(name = "inv.bureau", capture(applicant), output = capture, side_effect = read)]
fn bureau(applicant: &str) -> u32 {
    600 + applicant.len() as u32 * 10
}

#[audited_model_call(name = "inv.llm", model = "inv-llm", model_version = "v1", capture(prompt), output = capture)]
fn llm(prompt: &str) -> String {
    if prompt.contains("score=62") {
        "REVIEW".into()
    } else {
        "APPROVE".into()
    }
}

#[audited_policy_check(
    name = "inv.policy",
    policy = "lending",
    policy_version = "2026-10",
    capture(amount)
)]
fn policy(amount: u64) -> Result<(), String> {
    if amount > 50_000 {
        Err(format!("amount {amount} above 50000"))
    } else {
        Ok(())
    }
}

#[audited_decision(
    name = "inv.approve",
    model = "inv-llm",
    model_version = "v1",
    capture(applicant, amount),
    output = capture
)]
fn approve(applicant: &str, amount: u64) -> Result<String, String> {
    let score = bureau(applicant);
    policy(amount)?;
    Ok(llm(&format!("score={score}")))
}

struct Written {
    chain: RecordId,
    run: String,
    decisions: Vec<String>,
    overridden: String,
}

#[audited_agent(name = "inv.run", session = session, capture(session))]
fn run_agent(session: &str) -> (Vec<String>, String) {
    let mut ids = Vec::new();
    let mut overridden = String::new();
    for (who, amount) in [("ann", 1_000u64), ("bo", 2_000), ("carla", 90_000)] {
        let (verdict, d) = audit_runtime::with_decision_id_sync(|| approve(who, amount));
        let d = d.unwrap();
        ids.push(d.id.to_string());
        if verdict.as_deref() == Ok("REVIEW") {
            audit_runtime::record_human_action(
                d,
                HumanAction::new(HumanActionKind::Override, "officer-17")
                    .note("reviewed by hand")
                    .new_value("APPROVE"),
            )
            .unwrap();
            overridden = d.id.to_string();
            // The officer takes a while: the timeline shows the run waiting.
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
    (ids, overridden)
}

fn write_log(dir: &Path) -> Written {
    let exporter = FileExporter::builder(dir)
        .service("inv-agent")
        .signing_key(signer())
        .open()
        .unwrap();
    let guard = AuditRuntime::builder()
        .service("inv-agent")
        .exporter(exporter)
        .install_thread_local()
        .unwrap();
    let (decisions, overridden) = run_agent("session-7");
    audit_runtime::record_outcome(
        decisions[0].parse::<RecordId>().unwrap(),
        "repayment",
        serde_json::json!({"status": "on_time"}),
    )
    .unwrap();
    let chain = guard.instance_id();
    let stats = guard.shutdown();
    assert_eq!(stats.exporters[0].failed, 0, "{stats:?}");
    let store = Store::load(dir, &LoadOptions::default()).unwrap();
    let run = store
        .entries
        .iter()
        .find(|e| e.kind() == "agent_run")
        .unwrap()
        .id()
        .to_owned();
    Written {
        chain,
        run,
        decisions,
        overridden,
    }
}

fn key_file(dir: &Path) -> std::path::PathBuf {
    let p = dir.join("test.vkey");
    std::fs::write(&p, signer().verifier().to_vkey() + "\n").unwrap();
    p
}

fn audit(args: &[&str]) -> (i32, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_audit"))
        .args(args)
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn loaded(dir: &Path) -> Store {
    Store::load(
        dir,
        &LoadOptions {
            key: Some(signer().verifier().clone()),
            allow_unsigned_tail: false,
        },
    )
    .unwrap()
}

fn ids(store: &Store, rows: &[usize]) -> Vec<String> {
    let mut v: Vec<String> = rows
        .iter()
        .map(|&i| store.entries[i].id().to_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn filters_return_exact_sets() {
    let tmp = TempDir::new("inv-ls");
    let log = tmp.path().join("log");
    let w = write_log(&log);
    let store = loaded(&log);
    assert!(store.verified(), "{:?}", store.verdict);
    assert!(
        store
            .entries
            .iter()
            .all(|e| e.integrity == Integrity::Verified)
    );

    let sel = |f: Filter| ids(&store, &select(&store, &f, SortKey::Time, None));
    let mut want = w.decisions.clone();
    want.sort();
    assert_eq!(
        sel(Filter {
            kind: Some("decision".into()),
            ..Filter::default()
        }),
        want
    );
    // The third applicant's amount fails the policy: that decision is `err`, the others `ok`.
    assert_eq!(
        sel(Filter {
            kind: Some("decision".into()),
            status: Some("err".into()),
            ..Filter::default()
        }),
        vec![w.decisions[2].clone()]
    );
    // Two model calls (the third decision stops at the policy), by name and version.
    let by_model = sel(Filter {
        kind: Some("model_call".into()),
        model: Some("inv-llm@v1".into()),
        ..Filter::default()
    });
    assert_eq!(by_model.len(), 2);
    assert!(
        sel(Filter {
            model: Some("inv-llm@v2".into()),
            ..Filter::default()
        })
        .is_empty()
    );
    assert_eq!(
        sel(Filter {
            policy: Some("lending@2026-10".into()),
            ..Filter::default()
        })
        .len(),
        3
    );
    assert_eq!(
        sel(Filter {
            actor: Some("officer-17".into()),
            ..Filter::default()
        })
        .len(),
        1
    );
    // Every call of the run carries its run id (follow-ups carry the decision's id instead).
    let in_run = sel(Filter {
        run: Some(w.run.clone()),
        ..Filter::default()
    });
    let calls = store
        .entries
        .iter()
        .filter(|e| !e.is_follow_up() || e.kind() == "started")
        .count();
    assert_eq!(in_run.len(), calls);
    // A time range that ends before the log starts selects nothing.
    assert!(
        sel(Filter {
            until_ns: Some(0),
            ..Filter::default()
        })
        .is_empty()
    );
    let limited = select(&store, &Filter::default(), SortKey::Duration, Some(2));
    assert_eq!(limited.len(), 2);
    assert!(store.entries[limited[0]].duration_ns() >= store.entries[limited[1]].duration_ns());

    // The binary: table, JSON Lines and CSV agree on the set.
    let d = log.to_str().unwrap();
    let (code, out, err) = audit(&["ls", d, "--kind", "decision"]);
    assert_eq!(code, 0, "{err}");
    for id in &w.decisions {
        assert!(out.contains(id.as_str()), "{out}");
    }
    assert!(err.contains("signatures NOT checked"), "{err}");
    let (code, out, _) = audit(&["ls", d, "--kind", "decision", "--status", "ok", "--jsonl"]);
    assert_eq!(code, 0);
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert!(lines.iter().all(|l| l["integrity"] == "verified"));
    let (code, out, _) = audit(&["ls", d, "--kind", "human_action", "--csv"]);
    assert_eq!(code, 0);
    assert_eq!(out.lines().count(), 2, "{out}");
    assert!(out.starts_with("time,kind,point,status"));
    assert!(out.contains("override by officer-17"));
    let _ = w.chain;
}

#[test]
fn show_has_the_override_attached_and_suggests_ids() {
    let tmp = TempDir::new("inv-show");
    let log = tmp.path().join("log");
    let w = write_log(&log);
    let store = loaded(&log);
    let t = tree(&store, &w.overridden).unwrap();
    let root = &t.roots[0];
    assert_eq!(store.entries[root.entry].id(), w.overridden);
    let attached: Vec<&str> = root
        .attached
        .iter()
        .map(|&a| store.entries[a].kind())
        .collect();
    assert_eq!(attached, vec!["human_action"]);
    let kids: Vec<&str> = root
        .children
        .iter()
        .map(|c| store.entries[c.entry].point_name())
        .collect();
    assert_eq!(kids, vec!["inv.bureau", "inv.policy", "inv.llm"]);
    assert_eq!(t.ancestors.len(), 1, "the agent run is above the decision");

    // The run's tree holds every decision, the override under the second, the outcome under
    // the first.
    let run = tree(&store, &w.run).unwrap();
    let r = &run.roots[0];
    assert_eq!(r.children.len(), 3);
    assert!(
        r.attached
            .iter()
            .any(|&a| store.entries[a].kind() == "started")
    );
    assert_eq!(store.entries[r.children[0].attached[0]].kind(), "outcome");

    let d = log.to_str().unwrap();
    let (code, out, err) = audit(&["show", d, &w.overridden]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("↳ human_action override by officer-17"),
        "{out}"
    );
    assert!(out.contains("new value: \"APPROVE\""), "{out}");
    assert!(out.contains("tool inv.bureau  ok"), "{out}");
    assert!(
        out.contains("versions: model inv-llm@v1 (literal)"),
        "{out}"
    );
    let (code, out, _) = audit(&["show", d, &w.decisions[2], "--json"]);
    assert_eq!(code, 0);
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j["roots"][0]["record"]["outcome"]["status"], "err");
    assert_eq!(
        j["roots"][0]["record"]["outcome"]["error"],
        "amount 90000 above 50000"
    );

    // An id with its last digit changed: not found, and the real id is suggested first.
    let real = &w.decisions[1];
    let mut wrong = real.clone();
    let last = wrong.pop().unwrap();
    wrong.push(if last == '0' { '1' } else { '0' });
    let (code, _, err) = audit(&["show", d, &wrong]);
    assert_eq!(code, 1);
    assert!(err.contains(&format!(
        "no record, decision, run, trace or session with id {wrong}"
    )));
    let first_suggestion = err.lines().nth(2).unwrap().trim();
    assert_eq!(first_suggestion, real.as_str(), "{err}");
    // A prefix suggests the ids it starts.
    assert_eq!(store.closest_ids(&real[..30], 5).first(), Some(real));

    let (code, out, _) = audit(&["timeline", d, "session-7"]);
    assert_eq!(code, 0);
    assert!(out.contains("timeline of session session-7"), "{out}");
    assert!(
        out.lines().filter(|l| l.contains(" +")).count() >= 10,
        "{out}"
    );
    let wait = out
        .lines()
        .find(|l| l.contains("… waiting"))
        .unwrap_or_else(|| panic!("{out}"));
    let ms: f64 = wait
        .split("waiting ")
        .nth(1)
        .unwrap()
        .trim_end_matches(" ms")
        .parse()
        .unwrap();
    assert!(ms >= 20.0, "{wait}");

    let (code, out, _) = audit(&["stats", d, "--json"]);
    assert_eq!(code, 0);
    let s: serde_json::Value = serde_json::from_str(&out).unwrap();
    let dec = s
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["point"] == "inv.approve")
        .unwrap();
    assert_eq!(dec["count"], 3);
    assert_eq!(dec["overridden"], 1);
    assert_eq!(dec["statuses"]["err"], 1);

    // Usage errors exit 2.
    assert_eq!(audit(&["show", d]).0, 2);
    assert_eq!(audit(&["ls", d, "--sort", "sideways"]).0, 2);
    assert_eq!(audit(&["frobnicate"]).0, 2);
    // Not a log.
    let (code, _, err) = audit(&["ls", tmp.path().to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("not an audit log directory"), "{err}");
}

/// Replace, in the segment holding it, the first occurrence of `from` on the line of record
/// `id`; when `rehash`, re-seal that line so its own hash holds (only the next link breaks).
fn tamper(dir: &Path, id: &str, from: &str, to: &str, rehash: bool) {
    for seg in files_ending(dir, ".jsonl") {
        let text = std::fs::read_to_string(&seg).unwrap();
        if !text.contains(id) {
            continue;
        }
        let out: Vec<String> = text
            .lines()
            .map(|l| {
                if l.contains(&format!("\"record_id\":\"{id}\"")) {
                    let edited = l.replacen(from, to, 1);
                    assert_ne!(edited, l, "nothing to replace");
                    if rehash {
                        let (canonical, _) = audit_runtime::chain::line::split(&edited).unwrap();
                        audit_runtime::chain::line::seal_canonical(canonical.into_bytes())
                            .unwrap()
                            .0
                    } else {
                        edited
                    }
                } else {
                    l.to_owned()
                }
            })
            .collect();
        std::fs::write(&seg, out.join("\n") + "\n").unwrap();
        return;
    }
    panic!("record {id} not found");
}

#[test]
fn tampered_lines_are_refused_or_marked() {
    let tmp = TempDir::new("inv-tamper");
    let log = tmp.path().join("log");
    let w = write_log(&log);
    let d = log.to_str().unwrap();
    let store = Store::load(&log, &LoadOptions::default()).unwrap();
    let action = store
        .entries
        .iter()
        .find(|e| e.kind() == "human_action")
        .unwrap()
        .id()
        .to_owned();
    tamper(&log, &action, "officer-17", "officer-99", false);
    let (code, out, err) = audit(&["show", d, &w.overridden]);
    assert_eq!(code, 1);
    assert!(out.is_empty(), "nothing shown without --unverified: {out}");
    assert!(err.contains("FAILED verification"), "{err}");
    let (code, out, _) = audit(&["show", d, &w.overridden, "--unverified"]);
    assert_eq!(code, 1);
    let line = out
        .lines()
        .find(|l| l.contains("officer-99"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(line.contains("TAMPERED"), "{line}");
    // The other records are UNVERIFIED, never `verified`.
    assert!(out.contains("UNVERIFIED"), "{out}");
    assert!(!out.contains("[verified]"), "{out}");

    // Re-sealed after the edit: its own hash holds, the next line's link does not; both marked.
    let tmp2 = TempDir::new("inv-tamper2");
    let log2 = tmp2.path().join("log");
    let w2 = write_log(&log2);
    tamper(&log2, &w2.decisions[0], "\"ann\"", "\"anx\"", true);
    let store = Store::load(&log2, &LoadOptions::default()).unwrap();
    assert!(!store.verified());
    let i = store.record_index(&w2.decisions[0]).unwrap();
    assert!(matches!(store.entries[i].integrity, Integrity::Tampered(_)));
    assert!(matches!(
        store.entries[i + 1].integrity,
        Integrity::Tampered(_)
    ));
    assert!(
        store.entries.iter().all(|e| !e.integrity.is_verified()),
        "nothing is verified in a directory that fails"
    );
}

#[test]
fn evidence_bundles_verify_and_fail_when_tampered() {
    let tmp = TempDir::new("inv-evidence");
    let log = tmp.path().join("log");
    let w = write_log(&log);
    let vkey = key_file(tmp.path());
    let (d, k) = (log.to_str().unwrap(), vkey.to_str().unwrap());
    let bundle = tmp.path().join("bundle");
    let b = bundle.to_str().unwrap();
    let (code, out, err) = audit(&["evidence", d, &w.overridden, "-o", b, "--key", k]);
    assert_eq!(code, 0, "{out}{err}");
    let digest = out
        .lines()
        .find_map(|l| l.strip_prefix("bundle digest "))
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .to_owned();
    let (code, out, _) = audit(&["verify-evidence", b, "--key", k, "--expect", &digest]);
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("OK: evidence for decision"), "{out}");
    let verdict = verify_bundle(&bundle, signer().verifier(), None).unwrap();
    // The bundle's proofs are made from the store's tree; they are byte for byte what
    // `file::prove_record` makes from the directory.
    let store = loaded(&log);
    for e in &store.entries {
        assert_eq!(
            audit_exporters::investigate::evidence::prove_entry(&store, e).unwrap(),
            audit_exporters::file::prove_record(&log, e.id()).unwrap(),
            "{}",
            e.id()
        );
    }
    // The run (and its started marker), the decision, three nested calls, the override.
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(bundle.join("manifest.json")).unwrap())
            .unwrap();
    let kinds: Vec<&str> = manifest["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["kind"].as_str().unwrap())
        .collect();
    assert_eq!(verdict.records, kinds.len());
    for k in [
        "agent_run",
        "started",
        "decision",
        "tool",
        "policy_check",
        "model_call",
        "human_action",
    ] {
        assert!(kinds.contains(&k), "{kinds:?}");
    }
    assert!(
        std::fs::read_to_string(bundle.join("summary.md"))
            .unwrap()
            .contains("human_action override by officer-17")
    );
    // Another key: refused.
    let other = tmp.path().join("other.vkey");
    std::fs::write(&other, attacker().verifier().to_vkey()).unwrap();
    assert_eq!(
        audit(&["verify-evidence", b, "--key", other.to_str().unwrap()]).0,
        1
    );

    let fresh = |tag: &str| {
        let p = tmp.path().join(tag);
        let st = loaded(&log);
        make_bundle(&st, &w.overridden, &p, None).unwrap();
        p
    };
    let override_id = manifest["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kind"] == "human_action")
        .unwrap()["record_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let fails = |p: &Path, expect: Option<&str>, what: &str| {
        let e = verify_bundle(p, signer().verifier(), expect).unwrap_err();
        assert!(e.0.contains(what), "{e}");
    };

    // 1. Edit a record inside its proof (the actor of the override).
    let p = fresh("edit");
    let proof_path = p.join(format!("proofs/{override_id}.tlog"));
    let proof = std::fs::read_to_string(&proof_path).unwrap();
    let extra = proof
        .lines()
        .nth(1)
        .unwrap()
        .strip_prefix("extra ")
        .unwrap();
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let line = String::from_utf8(b64.decode(extra).unwrap()).unwrap();
    let forged = line.replace("officer-17", "officer-99");
    std::fs::write(&proof_path, proof.replace(extra, &b64.encode(forged))).unwrap();
    fails(&p, None, "the proof's record line");

    // 2. Remove a record's proof, leaving the manifest.
    let p = fresh("rm-proof");
    std::fs::remove_file(p.join(format!("proofs/{override_id}.tlog"))).unwrap();
    fails(&p, None, "is missing");

    // 3. Remove it from the manifest only.
    let drop_entry = |p: &Path, fix_count: bool| {
        let mp = p.join("manifest.json");
        let mut m: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&mp).unwrap()).unwrap();
        m["records"]
            .as_array_mut()
            .unwrap()
            .retain(|r| r["record_id"] != override_id.as_str());
        if fix_count {
            m["count"] = (m["records"].as_array().unwrap().len() as u64).into();
        }
        std::fs::write(&mp, serde_json::to_vec_pretty(&m).unwrap()).unwrap();
    };
    let p = fresh("rm-entry");
    drop_entry(&p, false);
    fails(&p, None, "count");
    // 4. Manifest entry, count and proof removed: the summary still names it.
    let p = fresh("rm-all");
    drop_entry(&p, true);
    std::fs::remove_file(p.join(format!("proofs/{override_id}.tlog"))).unwrap();
    fails(&p, None, "summary.md");
    // 5. ... and the summary re-rendered too: only the bundle digest kept apart catches it.
    let summary = std::fs::read_to_string(p.join("summary.md")).unwrap();
    let kept: Vec<&str> = summary.split("\n## ").collect();
    let rebuilt = kept
        .iter()
        .filter(|s| !s.contains(&override_id))
        .copied()
        .collect::<Vec<_>>()
        .join("\n## ")
        .replace(
            &format!("{} record(s)", kinds.len()),
            &format!("{} record(s)", kinds.len() - 1),
        );
    std::fs::write(p.join("summary.md"), rebuilt).unwrap();
    verify_bundle(&p, signer().verifier(), None).expect("undetectable without the digest");
    fails(&p, Some(&digest), "bundle digest");
    // 6. A parent removed entirely: the closure check names it.
    let p = fresh("rm-parent");
    let dec = w.overridden.clone();
    let mp = p.join("manifest.json");
    let mut m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&mp).unwrap()).unwrap();
    m["records"]
        .as_array_mut()
        .unwrap()
        .retain(|r| r["kind"] != "agent_run");
    m["count"] = (m["records"].as_array().unwrap().len() as u64).into();
    let run_id = &w.run;
    std::fs::write(&mp, serde_json::to_vec_pretty(&m).unwrap()).unwrap();
    std::fs::remove_file(p.join(format!("proofs/{run_id}.tlog"))).unwrap();
    fails(&p, None, "not in the bundle");
    let _ = dec;

    // Format 1 logs have no proofs: a clear refusal.
    let v1 = tmp.path().join("v1");
    let exporter = FileExporter::builder(&v1)
        .file_format(audit_exporters::file::FileFormat::Chain)
        .signing_key(signer())
        .open()
        .unwrap();
    let guard = AuditRuntime::builder()
        .service("inv-v1")
        .exporter(exporter)
        .install_thread_local()
        .unwrap();
    let (_, dref) = audit_runtime::with_decision_id_sync(|| approve("dee", 10));
    guard.shutdown();
    let (code, _, err) = audit(&[
        "evidence",
        v1.to_str().unwrap(),
        &dref.unwrap().id.to_string(),
        "-o",
        tmp.path().join("b1").to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("only format-3 logs have proofs"), "{err}");
}

/// Hostile bytes: every single-byte mutation of a small real log (at spread positions) loads,
/// lists, shows and proves without a panic, and nothing from a mutated line is `verified`.
#[test]
fn mutated_logs_never_panic() {
    let tmp = TempDir::new("inv-fuzz");
    let log = tmp.path().join("log");
    let w = write_log(&log);
    let seg = files_ending(&log, ".jsonl").remove(0);
    let original = std::fs::read(&seg).unwrap();
    let step = (original.len() / 150).max(1);
    for (n, pos) in (0..original.len()).step_by(step).enumerate() {
        let mut bytes = original.clone();
        bytes[pos] = match n % 4 {
            0 => b'x',
            1 => b'"',
            2 => b'\n',
            _ => 0xff,
        };
        if bytes == original {
            continue;
        }
        std::fs::write(&seg, &bytes).unwrap();
        let Ok(store) = Store::load(&log, &LoadOptions::default()) else {
            continue;
        };
        // Every byte of a line is hashed: no mutation verifies.
        assert!(!store.verified(), "mutation at {pos} verified");
        assert!(store.entries.iter().all(|e| !e.integrity.is_verified()));
        let _ = select(&store, &Filter::default(), SortKey::Duration, Some(5));
        let _ = tree(&store, &w.run);
        let _ = tree(&store, &w.overridden);
        let _ = store.closest_ids("01a2", 3);
        let _ = audit_exporters::investigate::timeline(&store, "session-7");
        let all: Vec<usize> = (0..store.entries.len()).collect();
        let _ = audit_exporters::investigate::stats::stats(&store, &all);
    }
    std::fs::write(&seg, &original).unwrap();
    assert!(loaded(&log).verified());
}

/// A rough timing (not a floor): `AUDIT_INVESTIGATE_N` decisions (4 records each) written, then
/// the time to load (verify + index) and to answer `show` and a filtered `ls`. Ignored by
/// default; run with `cargo test --release -p audit-exporters --test investigate -- --ignored
/// --nocapture`.
#[test]
#[ignore]
fn timing_of_a_larger_log() {
    let n: usize = std::env::var("AUDIT_INVESTIGATE_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let tmp = TempDir::new("inv-timing");
    let log = tmp.path().join("log");
    let exporter = FileExporter::builder(&log)
        .service("inv-agent")
        .signing_key(signer())
        .open()
        .unwrap();
    let guard = AuditRuntime::builder()
        .service("inv-agent")
        .exporter(exporter)
        .install_thread_local()
        .unwrap();
    let mut last = None;
    for i in 0..n {
        let (_, d) =
            audit_runtime::with_decision_id_sync(|| approve("ann", (i * 7 % 60_000) as u64));
        last = d;
    }
    guard.shutdown();
    let bytes: u64 = files_ending(&log, ".jsonl")
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum();
    let t = std::time::Instant::now();
    audit_exporters::file::verify_dir(
        &log,
        &audit_exporters::file::VerifyOptions {
            integrity_only: true,
            ..audit_exporters::file::VerifyOptions::pinned(signer().verifier().clone())
        },
    )
    .unwrap();
    println!("verify_dir alone: {:?}", t.elapsed());
    let t = std::time::Instant::now();
    let store = loaded(&log);
    let load = t.elapsed();
    assert!(store.verified());
    let t = std::time::Instant::now();
    let mut parsed = 0usize;
    for e in &store.entries {
        parsed += usize::from(serde_json::from_str::<serde_json::Value>(&e.line).is_ok());
    }
    println!("parse alone: {:?} ({parsed})", t.elapsed());
    let t = std::time::Instant::now();
    for e in &store.entries {
        let _ = audit_runtime::chain::line::check_in_place(&e.line);
    }
    println!("hash alone: {:?}", t.elapsed());
    let t = std::time::Instant::now();
    let tr = tree(&store, &last.unwrap().id.to_string()).unwrap();
    let show = t.elapsed();
    let t = std::time::Instant::now();
    let rows = select(
        &store,
        &Filter {
            status: Some("err".into()),
            kind: Some("decision".into()),
            ..Filter::default()
        },
        SortKey::Time,
        None,
    );
    let ls = t.elapsed();
    println!(
        "{} records, {:.1} MB: load (verify + index) {load:?}, show {show:?} ({} children), \
         ls filter {ls:?} ({} rows)",
        store.entries.len(),
        bytes as f64 / 1e6,
        tr.roots[0].children.len(),
        rows.len()
    );
}
