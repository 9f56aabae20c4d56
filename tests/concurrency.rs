//! Many threads and tasks through one runtime: nothing lost, nothing duplicated, one valid chain;
//! the chain follows causal order across threads; threads that exit, and calls made while a
//! thread's thread-locals are torn down, lose nothing.
//!
//! Each test installs the process-wide runtime, so they take turns ([`serial`]).

use std::collections::HashSet;
use std::sync::{Mutex, MutexGuard};

use audit_runtime::{AuditRuntime, audited_decision, audited_tool};

#[audited_tool(capture(i))]
fn work(i: u64) -> u64 {
    i * 2
}

#[audited_decision(unversioned = "test", capture(i))]
async fn async_work(i: u64) -> u64 {
    tokio::task::yield_now().await;
    work(i)
}

/// The tests of this binary share the global runtime slot: one at a time.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[test]
fn threads_and_tasks_lose_and_duplicate_nothing() {
    let _serial = serial();
    let mem = audit_exporters::MemoryExporter::new();
    // A small queue so callers really contend for it and block.
    let guard = AuditRuntime::builder()
        .service("concurrency")
        .queue_capacity(64)
        .batch_max(16)
        .exporter(mem.clone())
        .install()
        .unwrap();
    const THREADS: u64 = 8;
    const PER_THREAD: u64 = 2_000;
    std::thread::scope(|s| {
        for t in 0..THREADS {
            s.spawn(move || {
                for i in 0..PER_THREAD {
                    assert_eq!(work(t * PER_THREAD + i), (t * PER_THREAD + i) * 2);
                }
            });
        }
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    const TASKS: u64 = 2_000;
    rt.block_on(async {
        let handles: Vec<_> = (0..TASKS)
            .map(|i| tokio::spawn(async_work(100_000 + i)))
            .collect();
        for h in handles {
            h.await.unwrap();
        }
    });
    guard.flush().unwrap();
    let stats = guard.stats();
    let records = mem.records();
    let total = THREADS * PER_THREAD + 2 * TASKS;
    assert_eq!(records.len() as u64, total);
    assert_eq!(stats.dropped, 0);
    assert_eq!(stats.sealed, total);
    assert_eq!(stats.exporters[0].exported, total);
    let mut seen = HashSet::new();
    for r in records
        .iter()
        .filter(|r| r.point.as_ref().unwrap().name == "work")
    {
        let i = input_of(r);
        // Every input appears exactly once among the tools...
        assert!(seen.insert(i), "input {i} recorded twice");
        // ...and tools called from the async decision nest under it.
        assert_eq!(r.correlation.parent_id.is_some(), i >= 100_000, "input {i}");
    }
    assert_eq!(seen.len() as u64, THREADS * PER_THREAD + TASKS);
    // Ids are unique and the chain is intact.
    let ids: HashSet<_> = records.iter().map(|r| r.record_id).collect();
    assert_eq!(ids.len(), records.len());
    mem.assert_chain_valid();
}

/// The one captured argument of a `work` or `step` record.
fn input_of(r: &audit_runtime::record::AuditRecord) -> u64 {
    r.inputs.as_ref().expect("inputs captured").args[0]
        .captured
        .value
        .as_ref()
        .and_then(serde_json::Value::as_u64)
        .expect("a captured integer")
}

#[audited_tool(capture(i))]
fn step(i: u64) -> u64 {
    i
}

/// Two threads take turns: each call happens after the other thread's previous call finished
/// (a channel hands the turn over), so call `i + 1` causally follows call `i`. Each thread
/// writes to its own lane; with a tiny queue the worker takes the lanes after nearly every
/// call, so many of its rounds fall between two turns. The chain must still list the calls in
/// turn order.
#[test]
fn chain_order_follows_causal_order_across_threads() {
    let _serial = serial();
    let mem = audit_exporters::MemoryExporter::new();
    let guard = AuditRuntime::builder()
        .service("causal")
        .queue_capacity(4)
        .exporter(mem.clone())
        .install()
        .unwrap();
    const TURNS: u64 = 2_000;
    let (to_b, b_rx) = std::sync::mpsc::channel::<u64>();
    let (to_a, a_rx) = std::sync::mpsc::channel::<u64>();
    std::thread::scope(|s| {
        s.spawn(move || {
            let mut i = 0;
            while i < TURNS {
                step(i);
                to_b.send(i + 1).unwrap();
                i = a_rx.recv().unwrap();
            }
            drop(to_b);
        });
        s.spawn(move || {
            while let Ok(i) = b_rx.recv() {
                step(i);
                if to_a.send(i + 1).is_err() {
                    break;
                }
            }
        });
    });
    guard.flush().unwrap();
    let order: Vec<u64> = mem.records().iter().map(input_of).collect();
    assert_eq!(order.len() as u64, TURNS);
    for (pos, w) in order.windows(2).enumerate() {
        assert!(
            w[0] < w[1],
            "call {} is sealed after call {} (chain positions {pos} and {})",
            w[0],
            w[1],
            pos + 1
        );
    }
    mem.assert_chain_valid();
}

/// Threads that make a few calls and exit: their lanes outlive them until the worker has
/// taken every record, and the counters still add up.
#[test]
fn records_of_exited_threads_are_all_exported() {
    let _serial = serial();
    let mem = audit_exporters::MemoryExporter::new();
    let guard = AuditRuntime::builder()
        .service("exited")
        .exporter(mem.clone())
        .install()
        .unwrap();
    const THREADS: u64 = 64;
    for t in 0..THREADS {
        std::thread::spawn(move || {
            for i in 0..3 {
                step(t * 3 + i);
            }
        })
        .join()
        .unwrap();
    }
    guard.flush().unwrap();
    let seen: HashSet<u64> = mem.records().iter().map(input_of).collect();
    assert_eq!(seen.len() as u64, THREADS * 3);
    let stats = guard.shutdown();
    assert_eq!(stats.submitted, THREADS * 3);
    assert_eq!(stats.sealed, THREADS * 3);
}

struct CallOnDrop(u64);

impl Drop for CallOnDrop {
    fn drop(&mut self) {
        step(self.0);
    }
}

thread_local! {
    static CALL_ON_EXIT: std::cell::RefCell<Option<CallOnDrop>> = const { std::cell::RefCell::new(None) };
}

/// An audited call made by a thread-local destructor, after (or before: the order is not
/// specified) the runtime's own thread-locals are gone, still reaches the record.
#[test]
fn calls_from_thread_local_destructors_are_recorded() {
    let _serial = serial();
    let mem = audit_exporters::MemoryExporter::new();
    let guard = AuditRuntime::builder()
        .service("tls-teardown")
        .exporter(mem.clone())
        .install()
        .unwrap();
    std::thread::spawn(|| {
        step(1);
        CALL_ON_EXIT.with(|c| *c.borrow_mut() = Some(CallOnDrop(2)));
    })
    .join()
    .unwrap();
    guard.flush().unwrap();
    let mut seen: Vec<u64> = mem.records().iter().map(input_of).collect();
    seen.sort_unstable();
    assert_eq!(seen, [1, 2]);
    assert_eq!(guard.shutdown().after_shutdown, 0);
}

/// An exporter runs on the worker thread; if it makes audited calls itself, the worker cannot
/// wait for room in its own lane (it is the only thread that empties it). Those calls are taken
/// over capacity instead of deadlocking, and their records follow in the next round.
#[test]
fn an_exporter_making_audited_calls_does_not_deadlock_the_worker() {
    struct CallsBack {
        inner: audit_exporters::MemoryExporter,
        exports: u64,
    }
    impl audit_runtime::export::Exporter for CallsBack {
        fn name(&self) -> &str {
            "calls-back"
        }
        fn export(
            &mut self,
            batch: &[audit_runtime::chain::SealedRecord],
        ) -> Result<(), audit_runtime::export::ExportError> {
            if self.exports < 3 {
                // Two calls: with a lane of one record the second would have to wait.
                step(1_000 + 2 * self.exports);
                step(1_001 + 2 * self.exports);
            }
            self.exports += 1;
            self.inner.export(batch)
        }
    }
    let _serial = serial();
    let mem = audit_exporters::MemoryExporter::new();
    let guard = AuditRuntime::builder()
        .service("calls-back")
        .queue_capacity(1)
        .exporter(CallsBack {
            inner: mem.clone(),
            exports: 0,
        })
        .install()
        .unwrap();
    step(1);
    // Flush from another thread, so a deadlocked worker fails the test instead of hanging it.
    let (done, flushed) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for _ in 0..4 {
            guard.flush().unwrap();
        }
        done.send(guard).unwrap();
    });
    let guard = flushed
        .recv_timeout(std::time::Duration::from_secs(30))
        .expect("the worker flushes; it must not wait for room in its own lane");
    drop(guard);
    let mut seen: Vec<u64> = mem.records().iter().map(input_of).collect();
    seen.sort_unstable();
    assert_eq!(seen, [1, 1_000, 1_001, 1_002, 1_003, 1_004, 1_005]);
    mem.assert_chain_valid();
}
