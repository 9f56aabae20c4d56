//! A child process for the `kill -9` test (`tests/crash_recovery.rs`): writes audited decisions
//! from several threads through the real runtime into a file log, and after each flush prints
//! `acked <n>`, meaning the first `n` records of its chain are on stable storage (fsynced).
//! It runs until it is killed.
//!
//! ```text
//! cargo run -p audit-exporters --example crash_writer -- <dir> [threads]
//! ```

use std::io::Write;
use std::time::Duration;

use audit_exporters::file::{FileExporter, FsyncPolicy, NoteSigner};
use audit_runtime::{AuditRuntime, audited_decision};

#[audited_decision(name = "crash.decide", unversioned = "crash test", capture(i, payload), output = capture)]
fn decide(i: u64, payload: &str) -> bool {
    payload.len() as u64 % 7 == i % 7
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = args
        .next()
        .ok_or_else(|| anyhow::anyhow!("usage: crash_writer <dir> [threads]"))?;
    let threads: u64 = args.next().map_or(Ok(4), |t| t.parse())?;
    let file = FileExporter::builder(&dir)
        .fsync(FsyncPolicy::EveryBatch)
        .max_segment_bytes(256 * 1024)
        .checkpoint_every_records(Some(500))
        .signing_key(NoteSigner::from_seed("audit-sdk.test/crash", [0x11; 32])?)
        .open()?;
    let durable = file.durable();
    let guard = AuditRuntime::builder()
        .service("crash-writer")
        .exporter(file)
        .install()?;
    println!("chain {}", guard.instance_id());
    for t in 0..threads {
        std::thread::spawn(move || {
            let payload = "x".repeat(200);
            for i in 0.. {
                decide(t * 1_000_000_000 + i, &payload);
            }
        });
    }
    let stdout = std::io::stdout();
    loop {
        std::thread::sleep(Duration::from_millis(3));
        guard.flush()?;
        let mut out = stdout.lock();
        writeln!(out, "acked {}", durable.records())?;
        out.flush()?;
    }
}
