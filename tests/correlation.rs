//! Correlation: tool calls nest under the decision that made them, decisions under the agent
//! run, across `.await`, `tokio::spawn` (with `with_audit_context`) and threads.

use audit_runtime::context::{self, FutureExt as _};
use audit_runtime::{audited_agent, audited_decision, audited_tool};
use audit_tests::local_runtime;

#[audited_tool(capture(q))]
async fn lookup(q: &str) -> usize {
    tokio::task::yield_now().await;
    q.len()
}

#[audited_tool]
fn sync_tool() -> u8 {
    1
}

#[audited_decision(unversioned = "test", capture(q))]
async fn decide(q: String) -> usize {
    let a = lookup(&q).await;
    tokio::task::yield_now().await;
    let b = lookup("again").await;
    let spawned = tokio::spawn(async { lookup("spawned").await }.with_audit_context());
    let c = spawned.await.unwrap_or(0);
    let ctx = context::current();
    let from_thread = std::thread::spawn(move || context::enter(ctx.as_ref(), sync_tool))
        .join()
        .unwrap_or(0);
    a + b + c + usize::from(from_thread)
}

#[audited_agent(name = "corr.run", session = "session-42")]
async fn run() -> usize {
    let first = decide("hello".into()).await;
    let nested = decide("x".into()).await;
    first + nested
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nesting_across_await_spawn_and_threads() {
    // Multi-threaded runtime: the global install is needed so that worker threads see it; run
    // the agent inside a task so polls hop between threads.
    let mem = audit_exporters::MemoryExporter::new();
    let guard = audit_runtime::AuditRuntime::builder()
        .service("corr")
        .exporter(mem.clone())
        .install()
        .expect("only this test in this binary installs globally");
    let total = tokio::spawn(run()).await.unwrap();
    assert_eq!(total, 5 + 5 + 7 + 1 + 1 + 5 + 7 + 1);
    guard.flush().unwrap();

    let run = mem.find("corr.run").expect_one().assert_ok();
    let run_rec = run.record();
    assert_eq!(
        run_rec.correlation.session_id.as_deref(),
        Some("session-42")
    );
    // A root call with no OpenTelemetry trace to join names its trace by its own record id.
    assert_eq!(
        run_rec.correlation.trace_id.map(|t| t.0),
        Some(run_rec.record_id.as_u128().to_be_bytes())
    );
    let decisions = mem.find("decide");
    assert_eq!(decisions.count(), 2);
    for d in decisions.all() {
        assert_eq!(d.correlation.parent_id, Some(run_rec.record_id));
        assert_eq!(d.correlation.run_id, Some(run_rec.record_id));
        assert_eq!(d.correlation.decision_id, Some(d.record_id));
        assert_eq!(d.correlation.trace_id, run_rec.correlation.trace_id);
        assert_eq!(d.correlation.session_id.as_deref(), Some("session-42"));
        assert_eq!(d.correlation.parent_span_id, run_rec.correlation.span_id);
        let tools = mem.children_of(d.record_id);
        let names: Vec<_> = tools
            .all()
            .iter()
            .map(|t| t.point.as_ref().unwrap().name.clone())
            .collect();
        assert_eq!(
            names,
            ["lookup", "lookup", "lookup", "sync_tool"],
            "children of {}",
            d.record_id
        );
        for t in tools.all() {
            assert_eq!(t.correlation.decision_id, Some(d.record_id));
            assert_eq!(t.correlation.run_id, Some(run_rec.record_id));
            assert_eq!(t.correlation.trace_id, run_rec.correlation.trace_id);
        }
    }
    mem.assert_chain_valid();
}

#[test]
fn ids_are_available_to_the_caller_and_body() {
    let (guard, mem) = local_runtime();
    #[audited_decision(unversioned = "test")]
    fn inner() -> Option<audit_runtime::RecordId> {
        audit_runtime::current_decision_id()
    }
    let (seen, decision) = audit_runtime::decision::with_decision_id_sync(inner);
    let last = decision.map(|d| d.id);
    guard.flush().unwrap();
    let rec = mem.find("inner").expect_one();
    assert_eq!(seen, Some(rec.record().record_id));
    assert_eq!(last, seen);
    assert!(audit_runtime::current_decision_id().is_none());
}
