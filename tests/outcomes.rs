//! Every outcome is recorded: Ok, Err, panic (which still reaches the caller), cancellation of a
//! dropped future, and `started` records for long or aborted calls; rationale from the attribute
//! and from the body.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use audit_runtime::record::{OutcomeStatus, RecordKind};
use audit_runtime::{Rationale, audited_agent, audited_decision, audited_tool};
use audit_tests::local_runtime;

#[audited_tool]
fn boom(x: u8) -> u8 {
    if x > 0 {
        panic!("tool exploded on {x}");
    }
    x
}

#[audited_tool]
async fn async_boom() -> u8 {
    tokio::task::yield_now().await;
    panic!("async tool exploded")
}

#[audited_tool]
async fn slow() -> u8 {
    tokio::time::sleep(Duration::from_secs(30)).await;
    1
}

#[audited_agent(name = "outcomes.run")]
async fn run_agent() -> u8 {
    slow().await
}

#[audited_decision(
    name = "outcomes.rationale",
    policy = "lending",
    policy_version = "2026-10",
    capture(score),
    rationale = |approved: &bool| Rationale::new()
        .explain(if *approved { "score above threshold" } else { "score below threshold" })
        .signal("threshold", 0.7)
)]
fn decide(score: f64) -> bool {
    audit_runtime::signal("score", score);
    audit_runtime::explain("checked against the lending policy");
    audit_runtime::lineage("bureau-snapshots", Some("2026-11-01"));
    score > 0.7
}

#[test]
fn panic_is_recorded_and_continues() {
    let (guard, mem) = local_runtime();
    let caught = catch_unwind(AssertUnwindSafe(|| boom(3)));
    let payload = caught.expect_err("the panic must reach the caller");
    assert_eq!(
        payload.downcast_ref::<String>().map(String::as_str),
        Some("tool exploded on 3")
    );
    assert_eq!(boom(0), 0);
    guard.flush().unwrap();
    let recs = mem.find("boom");
    assert_eq!(recs.count(), 2);
    let p = recs.all()[0].outcome.clone().unwrap();
    assert_eq!(p.status, OutcomeStatus::Panic);
    assert_eq!(p.error.as_deref(), Some("tool exploded on 3"));
    assert_eq!(
        recs.all()[1].outcome.as_ref().unwrap().status,
        OutcomeStatus::Ok
    );
}

#[tokio::test]
async fn async_panic_is_recorded_and_continues() {
    let (guard, mem) = local_runtime();
    let handle = tokio::spawn(async_boom());
    let err = handle.await.expect_err("the task panicked");
    assert!(err.is_panic());
    guard.flush().unwrap();
    // The spawned task ran on this (current-thread) runtime, so it reported to this runtime.
    let r = mem.find("async_boom").expect_one().assert_panicked();
    assert_eq!(
        r.record().outcome.as_ref().unwrap().error.as_deref(),
        Some("async tool exploded")
    );
}

#[tokio::test]
async fn dropped_future_is_cancelled_and_started_record_exists() {
    let (guard, mem) = local_runtime();
    let r = tokio::time::timeout(Duration::from_millis(20), run_agent()).await;
    assert!(r.is_err(), "timed out");
    guard.flush().unwrap();
    let run = mem.find("outcomes.run").expect_one().assert_cancelled();
    mem.find("slow")
        .expect_one()
        .assert_cancelled()
        .assert_parent(run.record().record_id);
    // The agent run wrote a `started` record first, referring to the run's record id.
    let started = mem.of_kind(RecordKind::Started).expect_one();
    assert_eq!(started.record().refers_to, Some(run.record().record_id));
    assert!(started.record().seq < run.record().seq);
    mem.assert_chain_valid();
}

#[test]
fn rationale_from_attribute_and_body() {
    let (guard, mem) = local_runtime();
    assert!(decide(0.9));
    assert!(!decide(0.1));
    guard.flush().unwrap();
    let recs = mem.find("outcomes.rationale");
    let yes = &recs.all()[0];
    assert_eq!(
        yes.rationale.explanation.as_deref(),
        Some("score above threshold\nchecked against the lending policy")
    );
    let names: Vec<&str> = yes
        .rationale
        .signals
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(names, ["threshold", "score"]);
    assert_eq!(yes.lineage[0].dataset, "bureau-snapshots");
    assert_eq!(yes.versions[0].version.as_deref(), Some("2026-10"));
    assert!(
        recs.all()[1]
            .rationale
            .explanation
            .as_deref()
            .unwrap()
            .starts_with("score below")
    );
}

#[test]
fn every_record_carries_its_point_and_timing() {
    let (guard, mem) = local_runtime();
    decide(0.5);
    guard.flush().unwrap();
    let r = mem.find("outcomes.rationale").expect_one();
    let rec = r.record();
    let p = rec.point.as_ref().unwrap();
    assert_eq!(p.function, "decide");
    assert_eq!(p.crate_name, "audit-tests");
    assert!(p.module.starts_with("outcomes"));
    assert!(rec.time.duration_ns.is_some() && rec.time.end.is_some());
    assert_eq!(
        rec.code_version.as_deref(),
        Some(concat!("audit-tests@", env!("CARGO_PKG_VERSION")))
    );
    assert_eq!(rec.correlation.decision_id, Some(rec.record_id));
}

#[audited_tool(name = "outcomes.nap")]
fn nap(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

#[audited_decision(name = "outcomes.timed", unversioned = "test")]
fn timed() -> u64 {
    nap(30) + nap(10)
}

fn unix_now() -> u64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970");
    u64::try_from(d.as_nanos()).expect("fits")
}

/// Times come from the call clock (the TSC where the kernel trusts it, else `Instant`) and are
/// turned into wall-clock time by the worker: a call's start lies between wall-clock readings
/// taken around it, its duration covers its sleep, and a child lies inside its parent.
#[allow(
    clippy::unwrap_used,
    reason = "a test helper: a panic is the test failing"
)]
fn check_times() {
    let (guard, mem) = local_runtime();
    let before = unix_now();
    timed();
    let after = unix_now();
    guard.flush().unwrap();
    // Same fixed-width format, so string order is time order.
    let (lo, hi) = (
        audit_runtime::ids::rfc3339_nanos(before.saturating_sub(2_000_000)),
        audit_runtime::ids::rfc3339_nanos(after + 2_000_000),
    );
    let parent = mem.find("outcomes.timed").expect_one().record().clone();
    let naps = mem.find("outcomes.nap").all().to_vec();
    assert_eq!(naps.len(), 2);
    let p_dur = parent.time.duration_ns.unwrap();
    assert!(
        (40_000_000..2_000_000_000).contains(&p_dur),
        "slept 40 ms, measured {p_dur} ns"
    );
    for r in naps.iter().chain([&parent]) {
        let start = &r.time.start;
        let end = r.time.end.as_ref().unwrap();
        assert!(
            *start >= lo && *end <= hi,
            "{start}..{end} not within {lo}..{hi}"
        );
        assert!(start <= end);
    }
    for n in &naps {
        assert!(
            n.time.start >= parent.time.start,
            "child starts before its parent"
        );
        assert!(n.time.end <= parent.time.end, "child ends after its parent");
    }
    let mut naps_ns: Vec<u64> = naps.iter().map(|n| n.time.duration_ns.unwrap()).collect();
    naps_ns.sort_unstable();
    assert!(
        naps_ns[0] >= 10_000_000 && naps_ns[1] >= 30_000_000 && naps_ns[1] < p_dur,
        "naps of 10 and 30 ms measured {naps_ns:?} ns, their parent {p_dur} ns"
    );
    // The record id's millisecond field is taken on the caller from the same clock.
    let id_ms = parent.record_id.unix_millis();
    assert!((before / 1_000_000).saturating_sub(5) <= id_ms && id_ms <= after / 1_000_000 + 5);
}

#[test]
fn times_follow_the_call_clock_and_the_wall_clock() {
    check_times();
    let expected = if std::env::var("AUDIT_CLOCK").as_deref() == Ok("std") {
        "monotonic"
    } else if std::fs::read_to_string(
        "/sys/devices/system/clocksource/clocksource0/current_clocksource",
    )
    .is_ok_and(|s| s.trim() == "tsc")
        && cfg!(target_arch = "x86_64")
    {
        "tsc"
    } else {
        "monotonic"
    };
    assert_eq!(audit_runtime::call_clock(), expected);
}

/// The same with the portable clock (`AUDIT_CLOCK=std`, what platforms without a trusted TSC
/// use), in a child process since the clock is chosen once per process.
#[test]
fn times_with_the_std_clock() {
    if std::env::var_os("AUDIT_TEST_CLOCK_CHILD").is_some() {
        check_times();
        assert_eq!(audit_runtime::call_clock(), "monotonic");
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "times_with_the_std_clock", "--test-threads=1"])
        .env("AUDIT_CLOCK", "std")
        .env("AUDIT_TEST_CLOCK_CHILD", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "child failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[audited_tool(name = "outcomes.inner_note")]
fn inner_note() -> u8 {
    audit_runtime::signal("inner", 1);
    1
}

#[audited_decision(name = "outcomes.outer_note", unversioned = "test")]
fn outer_note() -> u8 {
    audit_runtime::signal("before", 1);
    inner_note();
    audit_runtime::explain("after the tool");
    audit_runtime::signal("after", 2);
    2
}

#[audited_decision(name = "outcomes.async_notes", unversioned = "test")]
async fn async_notes() -> u8 {
    audit_runtime::signal("first_poll", 1);
    tokio::task::yield_now().await;
    inner_note();
    audit_runtime::signal("second_poll", 2);
    3
}

fn signal_names(r: &audit_runtime::record::AuditRecord) -> Vec<&str> {
    r.rationale
        .signals
        .iter()
        .map(|s| s.name.as_str())
        .collect()
}

/// Notes made in a body belong to the innermost call, also around a nested call and across the
/// polls of an `async` body; a note made outside any call reaches no record and is counted.
#[tokio::test]
async fn notes_go_to_the_innermost_call() {
    let (guard, mem) = local_runtime();
    outer_note();
    async_notes().await;
    audit_runtime::signal("nobody", 0);
    guard.flush().unwrap();
    let outer = mem
        .find("outcomes.outer_note")
        .expect_one()
        .record()
        .clone();
    assert_eq!(signal_names(&outer), ["before", "after"]);
    assert_eq!(
        outer.rationale.explanation.as_deref(),
        Some("after the tool")
    );
    let asynchronous = mem
        .find("outcomes.async_notes")
        .expect_one()
        .record()
        .clone();
    assert_eq!(signal_names(&asynchronous), ["first_poll", "second_poll"]);
    let inner = mem.find("outcomes.inner_note").all().to_vec();
    assert_eq!(inner.len(), 2);
    for r in &inner {
        assert_eq!(signal_names(r), ["inner"]);
    }
    assert_eq!(guard.stats().orphan_notes, 1);
}
