//! File log throughput: records per second into the file exporter through the real runtime, per
//! fsync policy; bytes per record; verification speed; raw BLAKE3 throughput in the same run.
//!
//! ```text
//! cargo bench -p audit-benches --bench file_log
//! ```
//! Results and the machine they were measured on: `docs/BENCHMARKS.md`, "File log".

use std::path::{Path, PathBuf};

use audit_exporters::file::{FileExporter, FsyncPolicy, NoteSigner, VerifyOptions, verify_dir};
use audit_runtime::{AuditRuntime, audited_decision};
use divan::counter::{BytesCount, ItemsCount};
use divan::{Bencher, black_box};

fn main() {
    divan::main();
}

/// Records written per timed iteration.
const BATCH: u64 = 2_000;

#[audited_decision(name = "bench.approve", unversioned = "benchmark", capture(amount, note), output = capture)]
fn approve(amount: u64, note: &str) -> bool {
    black_box(note);
    amount < 10_000
}

fn temp_dir(tag: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!(
        "audit-bench-{tag}-{}",
        audit_runtime::RecordId::now()
    ));
    let _ = std::fs::create_dir_all(&p);
    p
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok()?.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

fn signer() -> NoteSigner {
    NoteSigner::from_seed("audit-sdk.bench/checkpoints", [9; 32]).unwrap_or_else(|e| panic!("{e}"))
}

fn write_through_runtime(bencher: Bencher<'_, '_>, policy: FsyncPolicy, tag: &str) {
    let dir = temp_dir(tag);
    let exporter = FileExporter::builder(&dir)
        .fsync(policy)
        .signing_key(signer())
        .open()
        .unwrap_or_else(|e| panic!("{e}"));
    let guard = AuditRuntime::builder()
        .service("bench")
        .exporter(exporter)
        .install_thread_local()
        .unwrap_or_else(|e| panic!("{e}"));
    let note = "a note of about forty bytes, captured..";
    bencher.counter(ItemsCount::new(BATCH)).bench_local(|| {
        for i in 0..BATCH {
            approve(i, note);
        }
        guard.flush().unwrap_or_else(|e| panic!("{e}"));
    });
    let stats = guard.shutdown();
    let records = stats.exporters[0].exported;
    if records > 0 {
        eprintln!(
            "file log {tag}: {} records, {} bytes/record on disk (segments, headers, checkpoints)",
            records,
            dir_bytes(&dir) / records
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[divan::bench(sample_count = 10, sample_size = 1)]
fn records_fsync_every_batch(bencher: Bencher<'_, '_>) {
    write_through_runtime(bencher, FsyncPolicy::EveryBatch, "every-batch");
}

#[divan::bench(sample_count = 10, sample_size = 1)]
fn records_fsync_every_10ms(bencher: Bencher<'_, '_>) {
    write_through_runtime(bencher, FsyncPolicy::EveryMillis(10), "every-10ms");
}

#[divan::bench(sample_count = 10, sample_size = 1)]
fn records_fsync_never(bencher: Bencher<'_, '_>) {
    write_through_runtime(bencher, FsyncPolicy::Never, "never");
}

#[divan::bench(sample_count = 5, sample_size = 1)]
fn verify_mb_per_s(bencher: Bencher<'_, '_>) {
    let dir = temp_dir("verify");
    {
        let exporter = FileExporter::builder(&dir)
            .fsync(FsyncPolicy::Never)
            .max_segment_bytes(4 << 20)
            .signing_key(signer())
            .open()
            .unwrap_or_else(|e| panic!("{e}"));
        let guard = AuditRuntime::builder()
            .service("bench")
            .exporter(exporter)
            .install_thread_local()
            .unwrap_or_else(|e| panic!("{e}"));
        for i in 0..40_000 {
            approve(i, "a note of about forty bytes, captured..");
        }
        drop(guard);
    }
    let bytes = dir_bytes(&dir);
    let opts = VerifyOptions::pinned(signer().verifier().clone());
    eprintln!("verify: directory of {:.1} MB", bytes as f64 / 1e6);
    bencher.counter(BytesCount::new(bytes)).bench_local(|| {
        let s = verify_dir(&dir, &opts).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.records(), 40_000);
    });
    let _ = std::fs::remove_dir_all(&dir);
}

#[divan::bench(args = [700, 1 << 20])]
fn blake3_raw(bencher: Bencher<'_, '_>, len: usize) {
    let data = vec![0x5au8; len];
    bencher
        .counter(BytesCount::new(len))
        .bench_local(|| blake3::hash(black_box(&data)));
}

/// The exporter alone, fed pre-sealed records in batches of 256: what the file log costs
/// without the runtime's record assembly, serialization and hashing in front of it.
fn exporter_only(bencher: Bencher<'_, '_>, policy: FsyncPolicy, tag: &str) {
    exporter_only_in(bencher, policy, tag, audit_exporters::file::FileFormat::Merkle);
}

/// [`exporter_only`] in a given file format: format 3 (the Merkle tree) beside format 1, the
/// cost of the tree in the writer.
fn exporter_only_in(
    bencher: Bencher<'_, '_>,
    policy: FsyncPolicy,
    tag: &str,
    format: audit_exporters::file::FileFormat,
) {
    use audit_runtime::chain::ChainHead;
    use audit_runtime::export::Exporter;
    let mem = audit_exporters::MemoryExporter::new();
    {
        let _g = AuditRuntime::builder()
            .service("bench")
            .exporter(mem.clone())
            .install_thread_local()
            .unwrap_or_else(|e| panic!("{e}"));
        approve(1, "a note of about forty bytes, captured..");
    }
    let template = mem.records().remove(0);
    let dir = temp_dir(tag);
    let mut exporter = FileExporter::builder(&dir)
        .fsync(policy)
        .file_format(format)
        .signing_key(signer())
        .open()
        .unwrap_or_else(|e| panic!("{e}"));
    let chain = audit_runtime::RecordId::now();
    let mut head = ChainHead::default();
    bencher
        .counter(ItemsCount::new(BATCH))
        .with_inputs(|| {
            (0..BATCH)
                .map(|_| {
                    let mut r = template.clone();
                    r.service.instance = chain;
                    head.seal(r).unwrap_or_else(|e| panic!("{e}"))
                })
                .collect::<Vec<_>>()
        })
        .bench_local_refs(|records| {
            for b in records.chunks(256) {
                exporter.export(b).unwrap_or_else(|e| panic!("{e}"));
            }
        });
    let _ = exporter.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
}

#[divan::bench(sample_count = 10, sample_size = 1)]
fn exporter_only_every_batch(bencher: Bencher<'_, '_>) {
    exporter_only(bencher, FsyncPolicy::EveryBatch, "x-every-batch");
}

#[divan::bench(sample_count = 10, sample_size = 1)]
fn exporter_only_never(bencher: Bencher<'_, '_>) {
    exporter_only(bencher, FsyncPolicy::Never, "x-never");
}

#[divan::bench(sample_count = 10, sample_size = 1)]
fn exporter_only_never_format_1(bencher: Bencher<'_, '_>) {
    exporter_only_in(
        bencher,
        FsyncPolicy::Never,
        "x-never-f1",
        audit_exporters::file::FileFormat::Chain,
    );
}
