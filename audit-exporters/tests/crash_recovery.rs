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
    FaultPlan, Faults, FaultyFs, FileExporter, FsyncPolicy, LogFs, MemFs, NoteSigner,
    VerifyOptions, verify_dir, verify_dir_with,
};
use audit_runtime::RecordId;
use audit_runtime::chain::ChainHead;
use audit_runtime::export::Exporter;
use common::*;

/// The `crash_writer` example next to this test binary, built on demand.
fn crash_writer() -> PathBuf {
    example("crash_writer")
}

/// An example of this crate next to this test binary, built (or brought up to date: a stale
/// binary from before a format change would write what this verifier no longer accepts) once per
/// test process.
fn example(name: &str) -> PathBuf {
    static BUILT: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().unwrap().parent().unwrap().to_owned();
    let bin = profile_dir.join("examples").join(name);
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if !built.iter().any(|b| b == name) {
        built.push(name.to_owned());
        let target = profile_dir.parent().unwrap();
        let status = Command::new(env!("CARGO"))
            .args([
                "build",
                "-p",
                "audit-exporters",
                "--example",
                name,
                "--target-dir",
            ])
            .arg(target)
            .status()
            .unwrap();
        assert!(status.success(), "could not build the {name} example");
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
    assert_eq!(
        std::fs::read(seg_repair.quarantine.as_ref().unwrap()).unwrap(),
        torn_record
    );
    assert_eq!(seg_repair.last_good_seq, Some(39));
    let ck_repair = report.repairs.iter().find(|r| r.file == ckpt).unwrap();
    assert_eq!(
        std::fs::read(ck_repair.quarantine.as_ref().unwrap()).unwrap(),
        torn_ckpt
    );
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

/// The key of the `crash_point` example.
fn crash_key() -> NoteSigner {
    NoteSigner::from_seed("audit-sdk.test/crash", [0x11; 32]).unwrap()
}

/// Open (recover) `dir` on `fs`, check recovery left nothing alone, verify it, check a second
/// start repairs nothing, and return the seqs the chain reaches (records plus those absent in
/// gaps). `opts` decides whether signatures are checked (debug-build Ed25519 costs ~3 ms per
/// checkpoint, so the many-image tests check them on the complete run only).
fn recover_and_verify(
    fs: &(impl LogFs + Clone),
    dir: &Path,
    opts: &VerifyOptions,
    at: &str,
) -> u64 {
    let r = FileExporter::builder(dir)
        .file_system(fs.clone())
        .open()
        .unwrap_or_else(|e| panic!("{at}: open after the crash: {e}"));
    assert!(
        r.recovery().left_alone.is_empty(),
        "{at}: {:?}",
        r.recovery()
    );
    drop(r);
    let log_files = fs.list(dir).unwrap().into_iter().filter(|(name, _)| {
        !matches!(
            audit_exporters::file::format::classify(name),
            audit_exporters::file::format::FileKind::Foreign
        )
    });
    if log_files.count() == 0 {
        // Crashed before the chain's first file (or before any name was durable): an empty
        // directory, which holds no record and is not a log yet.
        return 0;
    }
    let s = verify_dir_with(fs, dir, opts, &mut |_| {})
        .unwrap_or_else(|e| panic!("{at}: the directory does not verify after recovery: {e}"));
    let again = FileExporter::builder(dir)
        .file_system(fs.clone())
        .open()
        .unwrap();
    assert!(
        again.recovery().repairs.is_empty(),
        "{at}: a second start repaired again: {:?}",
        again.recovery()
    );
    // The durable count counts seqs, absent ones (in gap lines) included.
    s.chains.iter().map(|c| c.records + c.absent).sum()
}

#[test]
fn empty_or_torn_header_segment_left_by_a_crash_is_repaired() {
    // The image `kill -9` leaves between creating segment n+1 (at a rotation) and writing its
    // header: a 0-byte last segment. And the same for segment 1, right after the chain's
    // checkpoint log was created.
    let t = TempDir::new("empty-seg");
    let chain = signed_log(t.path(), 40);
    let n = files_ending(t.path(), ".jsonl").len() as u32;
    let empty = t
        .path()
        .join(audit_exporters::file::format::segment_file_name(
            "tamper-test",
            chain,
            n + 1,
        ));
    std::fs::write(&empty, b"").unwrap();
    let fresh = RecordId::now();
    let fresh_ckpt = t
        .path()
        .join(audit_exporters::file::format::checkpoint_file_name(
            "tamper-test",
            fresh,
        ));
    std::fs::write(&fresh_ckpt, b"").unwrap();
    let empty1 = t
        .path()
        .join(audit_exporters::file::format::segment_file_name(
            "tamper-test",
            fresh,
            1,
        ));
    std::fs::write(&empty1, b"").unwrap();
    // Before the repair, the directory does not verify.
    assert!(verify_dir(t.path(), &VerifyOptions::default()).is_err());

    let exporter = FileExporter::builder(t.path()).open().unwrap();
    let report = exporter.recovery().clone();
    drop(exporter);
    for path in [&empty, &empty1] {
        let r = report
            .repairs
            .iter()
            .find(|r| r.file == *path)
            .unwrap_or_else(|| panic!("{} not repaired: {report:?}", path.display()));
        assert_eq!(
            (r.kept_bytes, r.quarantined_bytes, &r.quarantine),
            (0, 0, &None)
        );
        assert!(r.reason.contains("empty segment"), "{}", r.reason);
        assert!(!path.exists());
    }
    let s = verify_dir(
        t.path(),
        &VerifyOptions::pinned(signer().verifier().clone()),
    )
    .unwrap();
    assert_eq!(s.records(), 40);
    assert!(s.quarantined.is_empty(), "nothing to quarantine: {s}");

    // One step later the header is torn: the segment moves to quarantine whole.
    let first = lines(&files_ending(t.path(), ".jsonl")[0]).remove(0);
    let torn = &first.as_bytes()[..first.len() / 2];
    std::fs::write(&empty, torn).unwrap();
    let exporter = FileExporter::builder(t.path()).open().unwrap();
    let r = exporter.recovery().repairs[0].clone();
    drop(exporter);
    assert_eq!(r.file, empty);
    assert_eq!((r.kept_bytes, r.quarantined_bytes), (0, torn.len() as u64));
    assert_eq!(std::fs::read(r.quarantine.unwrap()).unwrap(), torn);
    assert!(!empty.exists());
    let s = verify_dir(
        t.path(),
        &VerifyOptions::pinned(signer().verifier().clone()),
    )
    .unwrap();
    assert_eq!((s.records(), s.quarantined.len()), (40, 1));
}

#[test]
fn reopening_on_a_full_disk_leaves_no_quarantine_file_and_changes_nothing() {
    let dir = Path::new("/log");
    let mem = MemFs::new();
    let mut w = FileExporter::builder(dir)
        .file_system(mem.clone())
        .signing_key(signer())
        .open()
        .unwrap();
    let chain = RecordId::now();
    let mut head = ChainHead::default();
    let tpl = template();
    w.export(&seal_records(&mut head, chain, 5, &tpl)).unwrap();
    w.shutdown().unwrap();
    let seg = mem
        .paths()
        .into_iter()
        .find(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .unwrap();
    let mut torn = mem.read(&seg).unwrap();
    torn.extend_from_slice(b"{\"v\":1,\"torn");
    mem.write_file(&seg, torn.clone());
    let before: Vec<_> = mem.paths().into_iter().map(|p| (mem.read(&p), p)).collect();

    // The disk is full: recovery cannot write the quarantine file.
    let faults = Faults::new();
    faults.set(FaultPlan {
        capacity: Some(0),
        ..FaultPlan::default()
    });
    for _ in 0..3 {
        let e = FileExporter::builder(dir)
            .file_system(FaultyFs::new(mem.clone(), faults.clone()))
            .open()
            .unwrap_err();
        assert!(e.to_string().contains("disk full"), "{e}");
        let after: Vec<_> = mem.paths().into_iter().map(|p| (mem.read(&p), p)).collect();
        assert_eq!(
            after, before,
            "a failed repair must leave the directory as it was"
        );
        // Nor may a power loss right now bring a partial quarantine file back.
        assert!(
            mem.crash(|_, n| n)
                .paths()
                .iter()
                .all(|p| !p.to_string_lossy().contains(".quarantine-")),
            "{:?}",
            mem.paths()
        );
    }
    // Space again: the repair happens, once.
    let r = FileExporter::builder(dir)
        .file_system(mem.clone())
        .open()
        .unwrap();
    assert_eq!(r.recovery().repairs.len(), 1, "{:?}", r.recovery());
    drop(r);
    let s = verify_dir_with(
        &mem,
        dir,
        &VerifyOptions::pinned(signer().verifier().clone()),
        &mut |_| {},
    )
    .unwrap();
    assert_eq!((s.records(), s.quarantined.len()), (5, 1));
}

/// The workload of the `crash_point` example, on an in-memory file system that stops dead
/// after `crash_after` mutating operations; returns the records reported durable before that.
fn workload(mem: &MemFs, dir: &Path, crash_after: Option<u64>, signed: bool) -> (u64, u64) {
    let faults = Faults::new();
    let mut builder = FileExporter::builder(dir)
        .file_system(FaultyFs::new(mem.clone(), faults.clone()))
        .max_segment_bytes(4096)
        .checkpoint_every_records(Some(6));
    if signed {
        builder = builder.signing_key(crash_key());
    }
    let mut w = builder.open().unwrap();
    faults.set(FaultPlan {
        crash_after_ops: crash_after,
        ..FaultPlan::default()
    });
    let durable = w.durable();
    let chain = RecordId::now();
    let tpl = template();
    let mut head = ChainHead::default();
    for (i, n) in [1usize, 3, 2, 4, 3, 1, 4, 2].into_iter().enumerate() {
        let batch = seal_records(&mut head, chain, n, &tpl);
        if i == 5 {
            seal_records(&mut head, chain, 5, &tpl);
        }
        if w.export(&batch).is_err() {
            break;
        }
    }
    let _ = w.shutdown();
    (durable.records(), faults.ops())
}

#[test]
fn a_crash_at_any_point_of_the_write_order_recovers_and_verifies() {
    let dir = Path::new("/log");
    let complete = MemFs::new();
    let (durable, total) = workload(&complete, dir, None, true);
    assert!(
        total > 30,
        "the workload should exercise rotations: {total} ops"
    );
    // Uninterrupted, it closes with a signed checkpoint over everything: no unsigned tail.
    let pinned = VerifyOptions::pinned(crash_key().verifier().clone());
    assert_eq!(
        recover_and_verify(&complete, dir, &pinned, "complete"),
        durable
    );
    let opts = VerifyOptions::default();
    for k in 0..total {
        let mem = MemFs::new();
        let (durable, _) = workload(&mem, dir, Some(k), false);
        // kill -9 (every byte and name the process made), and power loss (synced bytes and
        // durable names only, with none or half of the unsynced bytes: a torn write).
        for (what, image) in [
            ("kill -9", mem.killed()),
            ("power loss", mem.crash(|_, _| 0)),
            ("power loss, torn", mem.crash(|_, n| n / 2)),
        ] {
            let at = format!("{what} before op {k} of {total}");
            // Recovery itself may be killed at any of its own steps; the start after that
            // still recovers.
            let faults = Faults::new();
            drop(
                FileExporter::builder(dir)
                    .file_system(FaultyFs::new(image.killed(), faults.clone()))
                    .open()
                    .unwrap(),
            );
            for j in 0..faults.ops() {
                let copy = image.killed();
                let faults = Faults::new();
                faults.set(FaultPlan {
                    crash_after_ops: Some(j),
                    ..FaultPlan::default()
                });
                let _ = FileExporter::builder(dir)
                    .file_system(FaultyFs::new(copy.clone(), faults))
                    .open();
                let at = format!("{at}, recovery killed before its op {j}");
                let records = recover_and_verify(&copy.killed(), dir, &opts, &at);
                assert!(
                    records >= durable,
                    "{at}: chain of {records} < durable {durable}"
                );
            }
            let records = recover_and_verify(&image, dir, &opts, &at);
            assert!(
                records >= durable,
                "{at}: chain of {records} < durable {durable}"
            );
        }
    }
}

#[test]
fn kill_9_at_every_point_of_the_write_order() {
    let bin = example("crash_point");
    let t = TempDir::new("crash-point");
    let probe = t.path().join("probe");
    let out = Command::new(&bin)
        .arg(&probe)
        .arg(u64::MAX.to_string())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let total: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("done "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(total > 30, "{text}");
    let pinned = VerifyOptions::pinned(crash_key().verifier().clone());
    let complete = recover_and_verify(&audit_exporters::file::RealFs, &probe, &pinned, "complete");
    assert!(complete > 0);
    let opts = VerifyOptions::default();
    let mut seen = std::collections::BTreeSet::new();
    for k in 0..total {
        let dir = t.path().join(format!("k{k}"));
        let mut child = Command::new(&bin)
            .arg(&dir)
            .arg(k.to_string())
            .arg("--unsigned")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut acked = 0u64;
        let mut paused = None;
        let mut line = String::new();
        while out.read_line(&mut line).unwrap() > 0 {
            if let Some(n) = line.trim().strip_prefix("acked ") {
                acked = n.parse().unwrap();
            } else if let Some(p) = line.trim().strip_prefix("paused ") {
                paused = Some(p.to_owned());
                break;
            }
            line.clear();
        }
        let paused = paused.unwrap_or_else(|| panic!("op {k}: the child never paused"));
        child.kill().unwrap(); // SIGKILL, while it waits before the operation
        child.wait().unwrap();
        // "<n> <op> <file>": which kinds of step were interrupted.
        let mut parts = paused.splitn(3, ' ');
        let (_, op, file) = (
            parts.next(),
            parts.next().unwrap(),
            parts.next().unwrap_or(""),
        );
        let kind = if file.ends_with(".ckpt") {
            "ckpt"
        } else if file.ends_with(".jsonl") {
            "segment"
        } else {
            "dir"
        };
        seen.insert(format!("{op} {kind}"));
        let at = format!("kill -9 before op {k} ({paused})");
        let records = recover_and_verify(&audit_exporters::file::RealFs, &dir, &opts, &at);
        assert!(records >= acked, "{at}: chain of {records} < acked {acked}");
    }
    // The points the issue names are among those crashed at.
    for must in [
        "create segment",
        "write segment",
        "fsync segment",
        "directory-fsync dir",
    ] {
        assert!(
            seen.contains(must),
            "never crashed before `{must}`: {seen:?}"
        );
    }
}
