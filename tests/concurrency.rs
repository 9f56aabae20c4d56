//! Many threads and tasks through one runtime: nothing lost, nothing duplicated, one valid chain.

use std::collections::HashSet;

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

#[test]
fn threads_and_tasks_lose_and_duplicate_nothing() {
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
    let input = |r: &audit_runtime::record::AuditRecord| {
        r.inputs.as_ref().unwrap().args[0]
            .captured
            .value
            .as_ref()
            .unwrap()
            .as_u64()
            .unwrap()
    };
    let mut seen = HashSet::new();
    for r in records
        .iter()
        .filter(|r| r.point.as_ref().unwrap().name == "work")
    {
        let i = input(r);
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
