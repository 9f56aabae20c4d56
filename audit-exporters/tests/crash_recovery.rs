//! Crashes: a real `kill -9` under load, torn tails on the real file system, and every crash
//! image an in-memory file system can produce. After recovery the log verifies and holds every
//! record that was reported durable.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use audit_exporters::file::{
    FileExporter, FsyncPolicy, MemFs, NoteSigner, VerifyOptions, verify_dir, verify_dir_with,
};
use audit_runtime::RecordId;
use audit_runtime::chain::ChainHead;
use audit_runtime::export::Exporter;
use common::*;

/// The `crash_writer` example next to this test binary, built on demand.
fn crash_writer() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().unwrap().parent().unwrap().to_owned();
    let bin = profile_dir.join("examples").join("crash_writer");
    if !bin.exists() {
        let target = profile_dir.parent().unwrap();
        let status = Command::new(env!("CARGO"))
            .args([
                "build",
                "-p",
                "audit-exporters",
                "--example",
                "crash_writer",
                "--target-dir",
            ])
            .arg(target)
            .status()
            .unwrap();
        assert!(status.success(), "could not build the crash_writer example");
    }
    bin
}

#[test]
fn kill_9_under_load_loses_nothing_acknowledged() {
    let t = TempDir::new("kill9");
    let bin = crash_writer();
    let key = NoteSigner::from_seed("audit-sdk.test/crash", [0x11; 32]).unwrap();
    // Each child is killed between checkpoints: its tail is unsigned, and accepted as such.
    let opts = VerifyOptions::pinned(key.verifier().clone()).allow_unsigned_tail(true);
    let mut acked_by_chain = Vec::new();
    // Three processes in a row into one directory: three chains, each killed mid-flight.
    for round in 0..3u64 {
        let mut child = Command::new(&bin)
            .arg(t.path())
            .arg("4")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        let chain: RecordId = line.trim().strip_prefix("chain ").unwrap().parse().unwrap();
        let started = Instant::now();
        let mut acked = 0u64;
        // Let it run until it has acknowledged a few thousand records (and rotated segments),
        // with a different stopping point each round.
        while acked < 800 + round * 700 && started.elapsed() < Duration::from_secs(60) {
            line.clear();
            if out.read_line(&mut line).unwrap() == 0 {
                break;
            }
            if let Some(n) = line.trim().strip_prefix("acked ") {
                acked = n.parse().unwrap();
            }
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        // Acks printed before the kill count too: drain the pipe.
        for l in out.lines() {
            if let Some(n) = l.unwrap().trim().strip_prefix("acked ") {
                acked = acked.max(n.parse().unwrap());
            }
        }
        assert!(acked > 0, "the child acknowledged nothing");
        acked_by_chain.push((chain, acked));

        // Restart: recovery repairs any torn tail, then the directory verifies.
        let exporter = FileExporter::builder(t.path()).open().unwrap();
        let report = exporter.recovery().clone();
        assert_eq!(report.chains_live, 0);
        assert!(report.left_alone.is_empty(), "{report:?}");
        drop(exporter);
        let summary = verify_dir(t.path(), &opts).unwrap_or_else(|e| panic!("round {round}: {e}"));
        assert_eq!(summary.chains.len() as u64, round + 1);
        for (chain, acked) in &acked_by_chain {
            let c = summary.chains.iter().find(|c| c.chain == *chain).unwrap();
            assert!(
                c.records >= *acked,
                "chain {chain}: {} records on disk but {acked} were acknowledged as durable",
                c.records
            );
        }
    }
}

#[test]
fn torn_tail_on_disk_is_quarantined_and_the_chain_continues() {
    let t = TempDir::new("torn");
    let chain = signed_log(t.path(), 40);
    let segs = files_ending(t.path(), ".jsonl");
    let last = segs.last().unwrap();
    let ckpt = files_ending(t.path(), ".ckpt").remove(0);
    // What a crash mid-write leaves: half a record line, half a checkpoint line.
    let some_record = lines(last).last().unwrap().clone();
    let torn_record = &some_record.as_bytes()[..some_record.len() / 2];
    let ck_line = lines(&ckpt).last().unwrap().clone();
    let torn_ckpt = &ck_line.as_bytes()[..30];
    append(last, torn_record);
    append(&ckpt, torn_ckpt);
    let e = verify_dir(t.path(), &VerifyOptions::default()).unwrap_err();
    assert!(e.reason.contains("no newline"), "{e}");

    let exporter = FileExporter::builder(t.path()).open().unwrap();
    let report = exporter.recovery();
    assert_eq!(report.repairs.len(), 2, "{report:?}");
    let seg_repair = report.repairs.iter().find(|r| r.file == *last).unwrap();
    assert_eq!(std::fs::read(&seg_repair.quarantine).unwrap(), torn_record);
    assert_eq!(seg_repair.last_good_seq, Some(39));
    let ck_repair = report.repairs.iter().find(|r| r.file == ckpt).unwrap();
    assert_eq!(std::fs::read(&ck_repair.quarantine).unwrap(), torn_ckpt);
    drop(exporter);

    let s = verify_dir(
        t.path(),
        &VerifyOptions::pinned(signer().verifier().clone()),
    )
    .unwrap();
    assert_eq!(s.chains[0].chain, chain);
    assert_eq!(s.records(), 40);
    assert_eq!(s.quarantined.len(), 2, "{s}");
    // A second start finds nothing more to repair.
    let again = FileExporter::builder(t.path()).open().unwrap();
    assert!(again.recovery().repairs.is_empty());
}

#[test]
fn damage_in_the_middle_is_not_mistaken_for_a_torn_tail() {
    let t = TempDir::new("middle");
    signed_log(t.path(), 40);
    let last = files_ending(t.path(), ".jsonl").pop().unwrap();
    let mut l = lines(&last);
    assert!(l.len() >= 4);
    l[1] = l[1].replacen("note", "nope", 1);
    write_lines(&last, &l);
    append(&last, b"{\"torn");
    let before = std::fs::read(&last).unwrap();
    let exporter = FileExporter::builder(t.path()).open().unwrap();
    assert!(exporter.recovery().repairs.is_empty());
    assert_eq!(
        exporter.recovery().left_alone.len(),
        1,
        "{:?}",
        exporter.recovery()
    );
    assert_eq!(
        std::fs::read(&last).unwrap(),
        before,
        "recovery must not touch evidence"
    );
}

#[test]
fn recovery_skips_a_chain_that_is_being_written() {
    let t = TempDir::new("live");
    let template = template();
    let chain = RecordId::now();
    let mut head = ChainHead::default();
    let mut live = FileExporter::builder(t.path()).open().unwrap();
    live.export(&seal_records(&mut head, chain, 10, &template))
        .unwrap();
    // A torn-looking tail cannot exist on a live chain, but recovery must not even look.
    let other = FileExporter::builder(t.path()).open().unwrap();
    assert_eq!(other.recovery().chains_live, 1);
    assert_eq!(other.recovery().chains_checked, 0);
    live.export(&seal_records(&mut head, chain, 10, &template))
        .unwrap();
    live.shutdown().unwrap();
    let s = verify_dir(t.path(), &VerifyOptions::default()).unwrap();
    assert_eq!(s.records(), 20);
}

fn append(path: &Path, bytes: &[u8]) {
    use std::io::Write;
    std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .unwrap()
        .write_all(bytes)
        .unwrap();
}

/// Small deterministic generator for the crash schedule.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// After every batch, take the image a power loss would leave (synced bytes, plus a random
/// part of the unsynced ones, names only if a directory sync made them durable), recover it,
/// verify it, and check it holds every record the writer reported durable.
#[test]
fn every_crash_image_recovers_to_a_valid_log_with_all_durable_records() {
    let template = template();
    let dir = Path::new("/log");
    for (policy, seed) in [
        (FsyncPolicy::EveryBatch, 1u64),
        (FsyncPolicy::EveryMillis(0), 2),
        (FsyncPolicy::EveryMillis(3_600_000), 3),
        (FsyncPolicy::Never, 4),
    ] {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let fs = MemFs::new();
        let mut w = FileExporter::builder(dir)
            .file_system(fs.clone())
            .fsync(policy)
            .max_segment_bytes(4096)
            .checkpoint_every_records(Some(7))
            .signing_key(signer())
            .open()
            .unwrap();
        let durable = w.durable();
        let chain = RecordId::now();
        let mut head = ChainHead::default();
        for step in 0..40 {
            let n = 1 + (rng.next() % 5) as usize;
            w.export(&seal_records(&mut head, chain, n, &template))
                .unwrap();
            if step % 9 == 8 {
                w.flush().unwrap();
            }
            let acked = durable.records();
            if policy == FsyncPolicy::EveryBatch {
                assert_eq!(acked, head.next_seq);
            }
            let frac = rng.next() % 101;
            let image = fs.crash(|_, unsynced| unsynced * frac as usize / 100);
            let recovered = FileExporter::builder(dir)
                .file_system(image.clone())
                .open()
                .unwrap();
            assert!(
                recovered.recovery().left_alone.is_empty(),
                "{:?}",
                recovered.recovery()
            );
            drop(recovered);
            // Signatures are checked at the end (debug-build Ed25519 is slow); here the chain.
            let s = verify_dir_with(&image, dir, &VerifyOptions::default(), &mut |_| {})
                .unwrap_or_else(|e| panic!("{policy:?} step {step}: {e}"));
            let records = s.chains.first().map_or(0, |c| c.records);
            assert!(
                records >= acked,
                "{policy:?} step {step}: {records} < durable {acked}"
            );
            assert!(records <= head.next_seq);
        }
        w.shutdown().unwrap();
        let opts = VerifyOptions::pinned(signer().verifier().clone());
        let s = verify_dir_with(&fs, dir, &opts, &mut |_| {}).unwrap();
        assert_eq!(s.records(), head.next_seq);
        assert_eq!(s.chains[0].signed_checkpoints, s.chains[0].checkpoints);
        assert_eq!(s.chains[0].uncovered, 0);
    }
}

#[test]
fn many_threads_through_one_runtime() {
    let t = TempDir::new("threads");
    let exporter = FileExporter::builder(t.path())
        .fsync(FsyncPolicy::EveryMillis(5))
        .max_segment_bytes(64 * 1024)
        .signing_key(signer())
        .open()
        .unwrap();
    let durable = exporter.durable();
    let guard = audit_runtime::AuditRuntime::builder()
        .service("threads")
        .exporter(exporter)
        .install()
        .unwrap();
    let handles: Vec<_> = (0..8u64)
        .map(|t| {
            std::thread::spawn(move || {
                for i in 0..400 {
                    approve(t * 1000 + i, "from a thread");
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    guard.flush().unwrap();
    assert_eq!(durable.records(), 3200);
    let stats = guard.shutdown();
    assert_eq!(stats.exporters[0].exported, 3200);
    let s = verify_dir(
        t.path(),
        &VerifyOptions::pinned(signer().verifier().clone()),
    )
    .unwrap();
    assert_eq!(s.records(), 3200);
    assert!(s.segments() > 1);
    assert_eq!(s.chains[0].uncovered, 0);
}
