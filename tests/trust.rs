//! Records that must never be silently wrong (issue "Trust"): outcomes decided by the value's
//! type behind aliases, futures behind aliases followed to their end, error chains kept, the
//! decision id right across tasks and threads, and follow-ups on the decision's trace.

use std::future::Future;
use std::pin::Pin;

use audit_runtime::record::{AuditRecord, OutcomeStatus, RecordKind};
use audit_runtime::{
    HumanAction, HumanActionKind, audited_decision, audited_tool, record_human_action,
    with_decision_id, with_decision_id_sync,
};
use audit_tests::local_runtime;

#[derive(Debug)]
struct AgentError(&'static str);
impl std::fmt::Display for AgentError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "agent error: {}", self.0)
    }
}
impl std::error::Error for AgentError {}

type AgentResult<T> = Result<T, AgentError>;
mod reexport {
    pub(crate) use super::AgentResult as Outcome;
}
type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
type LocalFut<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

fn status(r: &AuditRecord) -> OutcomeStatus {
    r.outcome
        .as_ref()
        .and_then(|o| o.status.known())
        .expect("an outcome with a known status")
}

#[audited_tool(name = "trust.alias")]
fn behind_alias(fail: bool) -> AgentResult<u8> {
    if fail {
        Err(AgentError("alias"))
    } else {
        Ok(1)
    }
}

#[audited_tool(name = "trust.reexport")]
fn behind_reexport(fail: bool) -> reexport::Outcome<u8> {
    if fail {
        Err(AgentError("reexport"))
    } else {
        Ok(1)
    }
}

#[audited_tool(name = "trust.generic")]
fn generic_error<E: std::fmt::Debug>(e: E) -> Result<(), E> {
    Err(e)
}

#[audited_tool(name = "trust.named_result_lookalike")]
fn not_a_result() -> SearchResult {
    SearchResult { hits: 3 }
}

#[derive(Debug)]
struct SearchResult {
    #[allow(dead_code)]
    hits: u32,
}

#[test]
fn results_behind_aliases_and_reexports_record_their_errors() {
    let (guard, mem) = local_runtime();
    assert!(behind_alias(true).is_err());
    assert!(behind_alias(false).is_ok());
    assert!(behind_reexport(true).is_err());
    assert!(generic_error("generic").is_err());
    let _ = not_a_result();
    guard.flush().unwrap();
    let alias = mem.find("trust.alias").all().to_vec();
    assert_eq!(status(&alias[0]), OutcomeStatus::Err);
    let o = alias[0].outcome.clone().unwrap();
    assert_eq!(o.error.as_deref(), Some("agent error: alias"));
    assert!(o.error_type.unwrap().ends_with("AgentError"));
    assert_eq!(status(&alias[1]), OutcomeStatus::Ok);
    let re = mem.find("trust.reexport").expect_one();
    assert_eq!(status(re.record()), OutcomeStatus::Err);
    let generic = mem.find("trust.generic").expect_one();
    assert_eq!(status(generic.record()), OutcomeStatus::Err);
    assert_eq!(
        generic.record().outcome.as_ref().unwrap().error.as_deref(),
        Some("\"generic\""),
        "an unbounded generic error is described by what the instance has (Debug here)"
    );
    let plain = mem.find("trust.named_result_lookalike").expect_one();
    assert_eq!(status(plain.record()), OutcomeStatus::Ok);
}

#[audited_tool(name = "trust.box_future")]
fn boxed(fail: bool) -> BoxFut<'static, AgentResult<u8>> {
    Box::pin(async move {
        tokio::task::yield_now().await;
        if fail {
            Err(AgentError("later"))
        } else {
            Ok(2)
        }
    })
}

/// Not a tail `Box::pin(async ..)`: the future comes from elsewhere, behind an alias.
#[audited_tool(name = "trust.box_future_indirect")]
#[allow(clippy::let_and_return)] // the `let` keeps the future from being a tail expression
fn boxed_indirect(fail: bool) -> BoxFut<'static, AgentResult<u8>> {
    let fut = boxed(fail);
    fut
}

#[audited_tool(name = "trust.local_box_future")]
fn local_boxed(fail: bool) -> LocalFut<'static, AgentResult<u8>> {
    let fut: LocalFut<'static, AgentResult<u8>> = Box::pin(async move {
        tokio::task::yield_now().await;
        if fail {
            Err(AgentError("local"))
        } else {
            Ok(3)
        }
    });
    fut
}

#[audited_tool(name = "trust.impl_future_not_async_tail")]
#[allow(clippy::let_and_return)] // the `let` keeps the future from being a tail expression
fn impl_future(fail: bool) -> impl Future<Output = AgentResult<u8>> {
    let f = std::future::ready(if fail {
        Err(AgentError("ready"))
    } else {
        Ok(4)
    });
    f
}

#[audited_tool(name = "trust.unobservable")]
fn unobservable() -> std::future::Ready<u8> {
    std::future::ready(5)
}

#[tokio::test]
async fn futures_behind_aliases_are_followed_to_their_end() {
    let (guard, mem) = local_runtime();
    assert!(boxed(true).await.is_err());
    assert_eq!(boxed(false).await.unwrap(), 2);
    assert!(boxed_indirect(true).await.is_err());
    assert!(local_boxed(true).await.is_err());
    assert!(impl_future(true).await.is_err());
    assert_eq!(unobservable().await, 5);
    // Dropped before completion: cancelled, never `ok`.
    let pending = boxed_indirect(false);
    drop(pending);
    guard.flush().unwrap();

    let b = mem.find("trust.box_future").all().to_vec();
    // boxed(true), boxed(false), and the two made by boxed_indirect.
    assert_eq!(b.len(), 4);
    assert_eq!(status(&b[0]), OutcomeStatus::Err);
    assert_eq!(
        b[0].outcome.as_ref().unwrap().error.as_deref(),
        Some("agent error: later")
    );
    assert_eq!(status(&b[1]), OutcomeStatus::Ok);
    let ind = mem.find("trust.box_future_indirect").all().to_vec();
    assert_eq!(status(&ind[0]), OutcomeStatus::Err);
    assert_eq!(status(&ind[1]), OutcomeStatus::Cancelled);
    // The inner boxed call made by the indirect one nests under it.
    assert_eq!(b[2].correlation.parent_id, Some(ind[0].record_id));
    assert_eq!(
        status(mem.find("trust.local_box_future").expect_one().record()),
        OutcomeStatus::Err
    );
    assert_eq!(
        status(
            mem.find("trust.impl_future_not_async_tail")
                .expect_one()
                .record()
        ),
        OutcomeStatus::Err
    );
    let u = mem.find("trust.unobservable").expect_one();
    let o = u.record().outcome.clone().unwrap();
    assert_eq!(o.status, OutcomeStatus::Unobserved);
    assert!(o.error.unwrap().contains("Ready<u8>"));
    assert_eq!(guard.stats().unobserved_futures, 1);
    // An async record's duration covers the awaited work, not only the call that made it.
    assert!(b[0].time.duration_ns.is_some());
}

#[audited_tool(name = "trust.async_fn")]
async fn async_fn() -> u8 {
    1
}

#[audited_tool(name = "trust.tail_async")]
fn tail_async() -> impl Future<Output = u8> {
    async move { 1 }
}

#[tokio::test]
async fn futures_dropped_before_their_first_poll_behave_alike() {
    let (guard, mem) = local_runtime();
    drop(async_fn());
    drop(tail_async());
    // Polled once and then dropped: both cancelled.
    let mut a = Box::pin(async {
        async_fn().await;
        std::future::pending::<()>().await;
    });
    let mut t = Box::pin(async {
        tail_async().await;
        std::future::pending::<()>().await;
    });
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    assert!(a.as_mut().poll(&mut cx).is_pending());
    assert!(t.as_mut().poll(&mut cx).is_pending());
    drop((a, t));
    guard.flush().unwrap();
    // Never polled: no record for either (nothing of the body ran); polled: one `ok` each.
    assert_eq!(
        status(mem.find("trust.async_fn").expect_one().record()),
        OutcomeStatus::Ok
    );
    assert_eq!(
        status(mem.find("trust.tail_async").expect_one().record()),
        OutcomeStatus::Ok
    );
}

// ---- errors as they are -------------------------------------------------------------------------

#[audited_tool(name = "trust.anyhow")]
fn anyhow_chain() -> anyhow::Result<()> {
    use anyhow::Context as _;
    let io = std::io::Error::new(std::io::ErrorKind::NotFound, "applicant.json missing");
    Err(anyhow::Error::new(io))
        .context("reading the applicant")
        .context("scoring the loan")
}

#[audited_tool(name = "trust.box_dyn")]
fn box_dyn() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    Err(Box::new(std::io::Error::other("socket closed")))
}

#[derive(Debug)]
struct Wrapped(AgentError);
impl std::fmt::Display for Wrapped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("tool failed")
    }
}
impl std::error::Error for Wrapped {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

#[audited_tool(name = "trust.registered")]
fn registered() -> Result<(), Box<dyn std::error::Error>> {
    Err(Box::new(Wrapped(AgentError("inner"))))
}

#[test]
fn errors_keep_their_source_chain_and_concrete_types() {
    let (guard, mem) = local_runtime();
    audit_runtime::register_error_type::<Wrapped>();
    audit_runtime::register_error_type::<AgentError>();
    assert!(anyhow_chain().is_err());
    assert!(box_dyn().is_err());
    assert!(registered().is_err());
    guard.flush().unwrap();

    let a = mem.find("trust.anyhow").expect_one();
    let o = a.record().outcome.clone().unwrap();
    assert_eq!(o.error.as_deref(), Some("scoring the loan"));
    let chain: Vec<_> = o.error_sources.iter().map(|s| s.message.as_str()).collect();
    assert_eq!(chain, ["reading the applicant", "applicant.json missing"]);
    assert_eq!(
        o.error_sources[1].error_type.as_deref(),
        Some("std::io::error::Error")
    );
    assert!(o.error_type.unwrap().contains("anyhow::Error"));

    let b = mem.find("trust.box_dyn").expect_one();
    let o = b.record().outcome.clone().unwrap();
    assert_eq!(o.error.as_deref(), Some("socket closed"));
    assert_eq!(o.error_dyn_type.as_deref(), Some("std::io::error::Error"));

    let r = mem.find("trust.registered").expect_one();
    let o = r.record().outcome.clone().unwrap();
    assert_eq!(
        o.error_dyn_type.as_deref(),
        Some(std::any::type_name::<Wrapped>())
    );
    assert_eq!(
        o.error_sources[0].error_type.as_deref(),
        Some(std::any::type_name::<AgentError>())
    );
}

// ---- the id of the decision you just made ---------------------------------------------------------

#[audited_decision(name = "trust.approve", unversioned = "test decision", capture(task))]
async fn approve(task: u32) -> AgentResult<u32> {
    // Let other tasks run (and finish their decisions) on this thread in between.
    tokio::task::yield_now().await;
    Ok(task)
}

/// 400 concurrent tasks on a multi-threaded runtime, each awaiting between its decision and
/// the override it attaches: every override must land on the task's own decision, on that
/// decision's trace.
#[test]
fn decision_ids_are_right_across_tasks_and_threads() {
    // Process-wide, so every worker thread reports to it (the other tests of this binary use
    // thread-local runtimes, which take precedence on their threads).
    let mem = audit_exporters::MemoryExporter::new();
    let guard = audit_runtime::AuditRuntime::builder()
        .service("audit-tests")
        .exporter(mem.clone())
        .install()
        .expect("install");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut tasks = Vec::new();
        for task in 0..400u32 {
            tasks.push(tokio::spawn(async move {
                let (value, decision) = with_decision_id(approve(task)).await;
                assert_eq!(value.unwrap(), task);
                let decision = decision.expect("the decision's id");
                for _ in 0..3 {
                    tokio::task::yield_now().await;
                }
                record_human_action(
                    decision,
                    HumanAction::new(HumanActionKind::Override, format!("officer-{task}")),
                )
                .unwrap();
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    });
    guard.flush().unwrap();
    let decisions = mem.find("trust.approve").all().to_vec();
    assert_eq!(decisions.len(), 400);
    let by_id: std::collections::HashMap<_, _> =
        decisions.iter().map(|d| (d.record_id, d)).collect();
    let actions = mem.of_kind(RecordKind::HumanAction).all().to_vec();
    assert_eq!(actions.len(), 400);
    let mut wrong = 0;
    for a in &actions {
        let d = by_id[&a.refers_to.unwrap()];
        let task = d.inputs.as_ref().unwrap().args[0]
            .captured
            .value
            .clone()
            .unwrap();
        let actor = &a.human_action.as_ref().unwrap().actor;
        if *actor != format!("officer-{task}") {
            wrong += 1;
        }
        assert_eq!(a.correlation.trace_id, d.correlation.trace_id);
        assert_eq!(a.correlation.parent_span_id, d.correlation.span_id);
    }
    assert_eq!(wrong, 0, "overrides attached to another task's decision");
}

#[audited_decision(name = "trust.sync_decision", unversioned = "test decision")]
fn sync_decision() -> bool {
    true
}

#[test]
fn sync_scopes_and_bare_ids_link_follow_ups_to_the_trace() {
    let (guard, mem) = local_runtime();
    let (_, d) = with_decision_id_sync(sync_decision);
    let d = d.unwrap();
    // A bare id (as from a database) still finds the decision's trace.
    audit_runtime::record_outcome(d.id, "repaid", true).unwrap();
    guard.flush().unwrap();
    let decision = mem.find("trust.sync_decision").expect_one();
    assert_eq!(decision.record().record_id, d.id);
    let o = mem.of_kind(RecordKind::Outcome).all().to_vec();
    assert_eq!(o[0].correlation.trace_id, Some(d.trace_id));
    assert_eq!(o[0].correlation.parent_span_id, Some(d.span_id));
}

// ---- #[track_caller] ----------------------------------------------------------------------

/// Where it was called from, as `#[track_caller]` promises, through the audit.
#[track_caller]
#[audited_tool(name = "trust.track_caller.location")]
fn caller_location() -> &'static std::panic::Location<'static> {
    std::panic::Location::caller()
}

/// `return` and `?` leave the function as written, and the record still gets the outcome.
#[audited_tool(name = "trust.track_caller.exits")]
#[track_caller]
fn parse_positive(s: &str) -> AgentResult<u32> {
    if s.is_empty() {
        return Err(AgentError("empty"));
    }
    let n: u32 = s.parse().map_err(|_| AgentError("not a number"))?;
    let checked = || -> Result<u32, AgentError> {
        // A closure's own `return` and `?` are the closure's.
        if n == 0 {
            return Err(AgentError("zero"));
        }
        Ok(n)
    };
    let n = checked()?;
    audit_runtime::signal("parsed", n);
    Ok(n)
}

#[audited_tool(name = "trust.track_caller.option")]
#[track_caller]
fn first_char(s: &str) -> Option<char> {
    let c = s.chars().next()?;
    Some(c.to_ascii_uppercase())
}

#[track_caller]
#[audited_tool(name = "trust.track_caller.unwrap")]
#[allow(clippy::unwrap_used)] // the panic's location is what the test looks at
fn must_have(v: Option<u8>) -> u8 {
    v.unwrap()
}

#[track_caller]
#[audited_tool(name = "trust.track_caller.never")]
fn give_up(why: &str) -> ! {
    panic!("giving up: {why}")
}

#[test]
fn track_caller_sees_the_callers_location_and_records_every_exit() {
    let (guard, mem) = local_runtime();
    let line = line!() + 1;
    let loc = caller_location();
    assert_eq!((loc.file(), loc.line()), (file!(), line));

    assert_eq!(parse_positive("42").unwrap(), 42);
    assert!(parse_positive("").is_err());
    assert!(parse_positive("x").is_err());
    assert!(parse_positive("0").is_err());
    assert_eq!(first_char("ab"), Some('A'));
    assert_eq!(first_char(""), None);

    // The panics inside the bodies (`unwrap`, `panic!`) name the calls' lines, not the macro's.
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let hook_seen = seen.clone();
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if let Some(l) = info.location() {
            hook_seen
                .lock()
                .unwrap()
                .push((l.file().to_owned(), l.line()));
        }
    }));
    let line = line!() + 1;
    let unwound = std::panic::catch_unwind(|| must_have(None));
    let never = std::panic::catch_unwind(|| give_up("test"));
    std::panic::set_hook(previous);
    assert!(unwound.is_err() && never.is_err());
    let here = file!().to_owned();
    assert_eq!(
        *seen.lock().unwrap(),
        [(here.clone(), line), (here, line + 1)]
    );
    guard.flush().unwrap();

    let loc_rec = mem.find("trust.track_caller.location").expect_one();
    assert_eq!(status(loc_rec.record()), OutcomeStatus::Ok);
    let exits = mem.find("trust.track_caller.exits").all().to_vec();
    let errors: Vec<Option<String>> = exits
        .iter()
        .map(|r| r.outcome.as_ref().unwrap().error.clone())
        .collect();
    assert_eq!(
        errors,
        [
            None,
            Some("agent error: empty".to_owned()),
            Some("agent error: not a number".to_owned()),
            Some("agent error: zero".to_owned()),
        ]
    );
    assert_eq!(
        exits[0].rationale.signals.len(),
        1,
        "notes made in an inline body belong to its record"
    );
    let opt = mem.find("trust.track_caller.option").all().to_vec();
    assert_eq!(opt.len(), 2);
    let unwrap = mem.find("trust.track_caller.unwrap").expect_one();
    assert_eq!(status(unwrap.record()), OutcomeStatus::Panic);
    let never = mem.find("trust.track_caller.never").expect_one();
    assert_eq!(status(never.record()), OutcomeStatus::Panic);
}
