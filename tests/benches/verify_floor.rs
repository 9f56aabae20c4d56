//! Verification beside its floors, in one run over the same files: the integrity pass
//! (`--integrity-only`) and the full pass of `verify_dir` over a large format-3 log, against
//! single-threaded BLAKE3 over the same bytes (what `b3sum --num-threads 1` does), a newline count
//! (what `wc -l` does), and the real `b3sum --num-threads 1` and `wc -l` when they are installed.
//!
//! ```text
//! AUDIT_VERIFY_MB=1024 cargo bench -p audit-benches --bench verify_floor
//! ```
//!
//! The log is written once by the file exporter (format 3, signed, 64 MiB segments) from real
//! records of the runtime (three small captured arguments and the output, ~700 B a line); every
//! figure is the best of three warm-cache runs (the files fit in memory, so the disk is out of
//! the comparison for every contestant alike). Results: `docs/BENCHMARKS.md`, "Verification".

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use audit_exporters::MemoryExporter;
use audit_exporters::file::{FileExporter, FsyncPolicy, NoteSigner, VerifyOptions, verify_dir};
use audit_runtime::chain::ChainHead;
use audit_runtime::export::Exporter;
use audit_runtime::{AuditRuntime, RecordId, audited_decision};

#[audited_decision(name = "bench.route", unversioned = "benchmark", capture(a, b, c), output = capture)]
fn route(a: u64, b: &str, c: bool) -> bool {
    std::hint::black_box((b, c));
    a.is_multiple_of(3)
}

fn signer() -> NoteSigner {
    NoteSigner::from_seed("audit-sdk.bench/verify", [7; 32]).unwrap_or_else(|e| panic!("{e}"))
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| Some(e.ok()?.path())).collect())
        .unwrap_or_default();
    v.sort();
    v
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    files(dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect()
}

/// Write a signed format-3 log of about `mb` MB.
fn write_log(dir: &Path, mb: u64) -> u64 {
    // One real record from the runtime, cloned with fresh ids and values.
    let mem = MemoryExporter::new();
    let guard = AuditRuntime::builder()
        .service("bench")
        .exporter(mem.clone())
        .install_thread_local()
        .unwrap_or_else(|e| panic!("{e}"));
    route(7, "eu-west", true);
    drop(guard);
    let template = mem.records().remove(0);
    let mut w = FileExporter::builder(dir)
        .fsync(FsyncPolicy::Never)
        .checkpoint_every_records(Some(10_000))
        .signing_key(signer())
        .open()
        .unwrap_or_else(|e| panic!("{e}"));
    let chain = RecordId::now();
    let mut head = ChainHead::default();
    let mut bytes = 0u64;
    let mut n = 0u64;
    while bytes < mb << 20 {
        let batch: Vec<_> = (0..1024)
            .map(|_| {
                let mut r = template.clone();
                r.record_id = RecordId::now();
                r.service.instance = chain;
                r.attributes.insert("n".into(), serde_json::json!(n));
                n += 1;
                head.seal(r).unwrap_or_else(|e| panic!("{e}"))
            })
            .collect();
        bytes += batch.iter().map(|s| s.line.len() as u64 + 1).sum::<u64>();
        w.export(&batch).unwrap_or_else(|e| panic!("{e}"));
    }
    w.shutdown().unwrap_or_else(|e| panic!("{e}"));
    n
}

fn best_of<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best = None;
    let mut out = None;
    for _ in 0..runs {
        let t = Instant::now();
        let v = f();
        let d = t.elapsed();
        if best.is_none_or(|b| d < b) {
            best = Some(d);
        }
        out = Some(v);
    }
    (
        best.unwrap_or_default(),
        out.unwrap_or_else(|| panic!("no run")),
    )
}

fn read_all(paths: &[PathBuf], mut each: impl FnMut(&[u8])) {
    let mut buf = vec![0u8; 1 << 20];
    for p in paths {
        let mut f = std::fs::File::open(p).unwrap_or_else(|e| panic!("{e}"));
        loop {
            let n = f.read(&mut buf).unwrap_or_else(|e| panic!("{e}"));
            if n == 0 {
                break;
            }
            each(&buf[..n]);
        }
    }
}

fn external(cmd: &str, args: &[&str], paths: &[PathBuf]) -> Option<Duration> {
    let probe = std::process::Command::new(cmd)
        .arg("--version")
        .output()
        .ok()?;
    if !probe.status.success() {
        return None;
    }
    let (d, ok) = best_of(3, || {
        std::process::Command::new(cmd)
            .args(args)
            .args(paths)
            .stdout(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    ok.then_some(d)
}

fn main() {
    let mb: u64 = std::env::var("AUDIT_VERIFY_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    let dir = std::env::temp_dir().join(format!("audit-bench-verify-{}", RecordId::now()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let t = Instant::now();
    let records = write_log(&dir, mb);
    let segs = segments(&dir);
    let all = files(&dir);
    let total: u64 = all
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    eprintln!(
        "wrote {records} records, {:.1} MB in {} segments in {:.1} s",
        total as f64 / 1e6,
        segs.len(),
        t.elapsed().as_secs_f64()
    );
    let mbps = |d: Duration| total as f64 / 1e6 / d.as_secs_f64();
    let row = |what: &str, d: Duration| {
        println!(
            "| {what} | {:.0} MB/s | {:.2} s |",
            mbps(d),
            d.as_secs_f64()
        );
    };
    println!("| what | throughput | time |\n|---|---|---|");
    let (d_b3, _) = best_of(3, || {
        let mut h = blake3::Hasher::new();
        read_all(&all, |b| {
            h.update(b);
        });
        h.finalize()
    });
    row(
        "floor: BLAKE3 over the files, 1 thread (= `b3sum --num-threads 1`)",
        d_b3,
    );
    let (d_nl, _) = best_of(3, || {
        let mut n = 0usize;
        read_all(&all, |b| n += b.iter().filter(|&&c| c == b'\n').count());
        n
    });
    row("floor: count newlines (= `wc -l`)", d_nl);
    if let Some(d) = external("b3sum", &["--num-threads", "1"], &all) {
        row("`b3sum --num-threads 1` (the real one)", d);
    }
    if let Some(d) = external("wc", &["-l"], &all) {
        row("`wc -l` (the real one)", d);
    }
    // The floor of this format: each line is hashed on its own (a record's hash is BLAKE3 of
    // its own bytes, so a verifier cannot hash the file as one input), one thread.
    let (d_lines, _) = best_of(3, || {
        let mut acc = 0u8;
        for p in &segs {
            let data = std::fs::read(p).unwrap_or_else(|e| panic!("{e}"));
            for line in data.split(|&c| c == b'\n') {
                acc ^= blake3::hash(line).as_bytes()[0];
            }
        }
        acc
    });
    row(
        "floor of the format: BLAKE3 of each line on its own, 1 thread",
        d_lines,
    );
    let key = signer().verifier().clone();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut d_int = Duration::MAX;
    let mut d_full = Duration::MAX;
    for threads in [1, cores] {
        let integrity = VerifyOptions {
            integrity_only: true,
            threads,
            ..VerifyOptions::pinned(key.clone())
        };
        let (d, s) = best_of(3, || {
            verify_dir(&dir, &integrity).unwrap_or_else(|e| panic!("{e}"))
        });
        assert_eq!(s.records(), records);
        row(
            &format!("`verify --integrity-only --key --threads {threads}`"),
            d,
        );
        d_int = d_int.min(d);
        let full = VerifyOptions {
            threads,
            ..VerifyOptions::pinned(key.clone())
        };
        let (d, _) = best_of(3, || {
            verify_dir(&dir, &full).unwrap_or_else(|e| panic!("{e}"))
        });
        row(
            &format!("`verify --key --threads {threads}` (integrity + schema)"),
            d,
        );
        d_full = d_full.min(d);
        if cores == 1 {
            break;
        }
    }
    let x = |d: Duration, floor: Duration| d.as_secs_f64() / floor.as_secs_f64();
    println!(
        "\nbest integrity pass: {:.2}x the time of BLAKE3 over the files, {:.2}x of BLAKE3 per \
         line; best full pass: {:.2}x / {:.2}x; {cores} cores",
        x(d_int, d_b3),
        x(d_int, d_lines),
        x(d_full, d_b3),
        x(d_full, d_lines),
    );
    let _ = std::fs::remove_dir_all(&dir);
}
