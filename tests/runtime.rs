//! The runtime around the calls: follow-up records, the artifact registry and version findings,
//! queue policies and counters, filters that must not switch auditing off, configuration errors.

use audit_runtime::artifacts::{self, Artifact};
use audit_runtime::point::ArtifactRole;
use audit_runtime::record::RecordKind;
use audit_runtime::{
    AuditRuntime, HumanAction, HumanActionKind, QueueFull, audited_decision, record_human_action,
    record_lineage, record_outcome,
};
use audit_tests::local_runtime;

#[audited_decision(
    name = "rt.approve",
    model = "rt-scorer",
    model_version = "2.0.0",
    prompt = "rt-prompt"
)]
fn approve(amount: u64) -> bool {
    amount < 100
}

#[audited_decision(name = "rt.plain", model = "rt-plain-scorer", model_version = "1.0.0")]
fn plain(amount: u64) -> bool {
    amount < 100
}

#[audited_decision(
    name = "rt.mismatch",
    model = "rt-mismatch-scorer",
    model_version = "2.0.0"
)]
fn mismatch() -> bool {
    true
}

#[test]
fn follow_ups_refer_to_the_decision() {
    let (guard, mem) = local_runtime();
    artifacts::register(Artifact::from_bytes(
        ArtifactRole::Prompt,
        "rt-prompt",
        "v7",
        b"You are a careful loan officer.",
    ));
    let (_, decision) = audit_runtime::decision::with_decision_id_sync(|| approve(5));
    let id = decision.unwrap();
    record_outcome(id, "repaid", serde_json::json!({"on_time": true})).unwrap();
    record_human_action(
        id,
        HumanAction::new(HumanActionKind::Override, "officer-17")
            .note("customer hardship")
            .new_value(false),
    )
    .unwrap();
    record_lineage(
        id,
        [audit_runtime::record::LineageRef {
            dataset: "applications".into(),
            version: Some("2026-11".into()),
            digest: None,
        }],
    )
    .unwrap();
    guard.flush().unwrap();
    for kind in [
        RecordKind::Outcome,
        RecordKind::HumanAction,
        RecordKind::Lineage,
    ] {
        let r = mem.of_kind(kind).expect_one();
        assert_eq!(r.record().refers_to, Some(id.id));
        assert_eq!(r.record().correlation.decision_id, Some(id.id));
    }
    let h = mem.of_kind(RecordKind::HumanAction).expect_one();
    let ha = h.record().human_action.as_ref().unwrap();
    assert_eq!(
        (&*ha.action.as_str(), ha.actor.as_str()),
        ("override", "officer-17")
    );
    // The prompt's version came from the registry, with its digest.
    let d = mem
        .find("rt.approve")
        .expect_one()
        .assert_version("prompt", "v7")
        .assert_version("model", "2.0.0");
    let prompt = d
        .record()
        .versions
        .iter()
        .find(|v| v.name == "rt-prompt")
        .unwrap();
    assert_eq!(prompt.source.as_str(), "registry");
    assert_eq!(
        prompt.digest.as_deref(),
        Some(
            blake3::hash(b"You are a careful loan officer.")
                .to_hex()
                .as_str()
        )
    );
}

#[test]
fn unregistered_artifact_becomes_a_finding() {
    let (guard, mem) = local_runtime();
    #[audited_decision(name = "rt.unregistered", prompt = "rt-never-registered")]
    fn unregistered() {}
    unregistered();
    guard.flush().unwrap();
    let f = mem.of_kind(RecordKind::Finding).expect_one();
    assert!(
        f.record()
            .finding
            .as_deref()
            .unwrap()
            .contains("no such artifact is registered")
    );
    let d = mem.find("rt.unregistered").expect_one();
    assert_eq!(d.record().versions[0].version, None);
}

#[test]
fn version_mismatch_becomes_a_finding() {
    let (guard, mem) = local_runtime();
    artifacts::register(Artifact::new(
        ArtifactRole::Model,
        "rt-mismatch-scorer",
        "2.1.0",
    ));
    mismatch();
    guard.flush().unwrap();
    let f = mem.of_kind(RecordKind::Finding).expect_one();
    let text = f.record().finding.clone().unwrap();
    assert!(
        text.contains("version 2.0.0 but version 2.1.0 is deployed"),
        "{text}"
    );
    let d = mem.find("rt.mismatch").expect_one();
    assert_eq!(f.record().refers_to, Some(d.record().record_id));
}

#[test]
fn not_installed_means_plain_calls() {
    // No runtime on this thread (tests install thread-locally): the call still works.
    assert!(!audit_runtime::install::is_installed());
    assert!(plain(1));
    assert!(record_outcome(audit_runtime::RecordId::now(), "x", 1).is_err());
}

#[test]
fn global_warn_filter_does_not_switch_auditing_off() {
    use tracing_subscriber::layer::SubscriberExt as _;
    let filter = tracing_subscriber::EnvFilter::new("warn");
    let subscriber = tracing_subscriber::registry()
        .with(filter)
        .with(tracing_subscriber::fmt::layer());
    let (guard, mem) = local_runtime();
    tracing::subscriber::with_default(subscriber, || {
        plain(3);
        plain(4);
    });
    guard.flush().unwrap();
    assert_eq!(
        mem.find("rt.plain").count(),
        2,
        "records written despite RUST_LOG=warn"
    );
    assert_eq!(
        guard.stats().filtered_spans,
        2,
        "and the filtering was noticed"
    );
}

#[test]
fn drop_and_count_counts() {
    struct Slow;
    impl audit_runtime::export::Exporter for Slow {
        fn name(&self) -> &str {
            "slow"
        }
        fn export(
            &mut self,
            _: &[audit_runtime::chain::SealedRecord],
        ) -> Result<(), audit_runtime::export::ExportError> {
            std::thread::sleep(std::time::Duration::from_millis(50));
            Ok(())
        }
    }
    let guard = AuditRuntime::builder()
        .service("drops")
        .queue_capacity(1)
        .batch_max(1)
        .on_full(QueueFull::DropAndCount)
        .exporter(Slow)
        .install_thread_local()
        .unwrap();
    for i in 0..20 {
        plain(i);
    }
    guard.flush().unwrap();
    let s = guard.stats();
    assert!(s.dropped > 0, "{s:?}");
    assert_eq!(s.sealed + s.dropped, 20, "{s:?}");
    assert_eq!(s.exporters[0].exported, s.sealed);
}

#[test]
fn failing_exporter_retries_then_falls_back() {
    struct Down(u32);
    impl audit_runtime::export::Exporter for Down {
        fn name(&self) -> &str {
            "down"
        }
        fn export(
            &mut self,
            _: &[audit_runtime::chain::SealedRecord],
        ) -> Result<(), audit_runtime::export::ExportError> {
            self.0 += 1;
            Err(audit_runtime::export::ExportError::transient(
                "collector unreachable",
            ))
        }
    }
    let fallback = audit_exporters::MemoryExporter::new();
    let guard = AuditRuntime::builder()
        .service("fallback")
        .retries(2, std::time::Duration::from_millis(1))
        .exporter(Down(0))
        .fallback(fallback.clone())
        .install_thread_local()
        .unwrap();
    plain(1);
    guard.flush().unwrap();
    let s = guard.stats();
    assert_eq!(s.exporters[0].retries, 2);
    assert_eq!(s.exporters[0].failed, 1);
    assert_eq!(s.exporters[0].fell_back, 1);
    assert_eq!(fallback.find("rt.plain").count(), 1);
}

#[test]
fn panicking_exporter_does_not_kill_the_pipeline() {
    struct Bomb;
    impl audit_runtime::export::Exporter for Bomb {
        fn name(&self) -> &str {
            "bomb"
        }
        fn export(
            &mut self,
            _: &[audit_runtime::chain::SealedRecord],
        ) -> Result<(), audit_runtime::export::ExportError> {
            panic!("exporter bug")
        }
    }
    let mem = audit_exporters::MemoryExporter::new();
    let guard = AuditRuntime::builder()
        .service("bomb")
        .exporter(Bomb)
        .exporter(mem.clone())
        .install_thread_local()
        .unwrap();
    plain(1);
    plain(2);
    guard.flush().unwrap();
    assert_eq!(mem.len(), 2);
    assert_eq!(guard.stats().exporters[0].failed, 2);
}

#[test]
fn bad_configuration_names_the_setting() {
    let e = AuditRuntime::builder()
        .service("x")
        .install_thread_local()
        .unwrap_err();
    assert!(e.to_string().contains("`exporter`"), "{e}");
    let e = AuditRuntime::builder()
        .service("x")
        .queue_capacity(0)
        .exporter(audit_exporters::MemoryExporter::new())
        .install_thread_local()
        .unwrap_err();
    assert!(e.to_string().contains("`queue_capacity`"), "{e}");
    // Too large: refused at install, not an allocation failure at the first audited call.
    for huge in [(1 << 20) + 1, 1 << 40, usize::MAX] {
        let e = AuditRuntime::builder()
            .service("x")
            .queue_capacity(huge)
            .exporter(audit_exporters::MemoryExporter::new())
            .install_thread_local()
            .unwrap_err();
        assert!(e.to_string().contains("`queue_capacity`"), "{e}");
    }
    let e = AuditRuntime::builder()
        .service(" ")
        .exporter(audit_exporters::MemoryExporter::new())
        .install_thread_local()
        .unwrap_err();
    assert!(e.to_string().contains("`service`"), "{e}");
}

/// With `seal_threads`, records are serialized on several threads and linked in order: the
/// chain is intact, complete, and each line is the one a single thread would have written.
#[test]
fn sealing_on_several_threads_keeps_the_chain() {
    let mem = audit_exporters::MemoryExporter::new();
    let guard = audit_runtime::AuditRuntime::builder()
        .service("seal-threads")
        .digest_key(audit_runtime::digest::DigestKey::from_bytes([7; 32]))
        .exporter(mem.clone())
        .seal_threads(4)
        .install_thread_local()
        .expect("install");
    for i in 0..3_000 {
        approve(i);
    }
    guard.flush().expect("flush");
    let (records, lines) = (mem.records(), mem.lines());
    // Every decision; findings may come too (other tests of this binary register artifacts).
    let decisions = records
        .iter()
        .filter(|r| r.kind.known() == Some(RecordKind::Decision))
        .count();
    assert_eq!(decisions, 3_000);
    mem.assert_chain_valid();
    // Re-sealed one by one from the same records, the lines are the same bytes.
    let mut head = audit_runtime::chain::ChainHead::default();
    for (r, line) in records.into_iter().zip(&lines) {
        let again = head.seal(r).expect("seal");
        assert_eq!(&*again.line, line.as_str());
    }
    drop(guard);
}
