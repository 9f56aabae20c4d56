//! A child process for the crash-at-every-point test (`tests/crash_recovery.rs`): writes a small,
//! fixed workload (rotations, checkpoints, a gap, shutdown) into a file log on the real file
//! system, and stops before its `n`-th mutating file operation (create, write, fsync, directory
//! fsync, truncate, rename, remove): it prints `paused <n> <operation> <file>` and waits there,
//! so that the test can `kill -9` it at exactly that point of the write order. After each batch
//! it prints `acked <records synced>`; with no pause point reached it prints `done <ops>`.
//! `--unsigned` writes checkpoints without a signature (debug-build Ed25519 is slow, and the
//! test checks signatures on the uninterrupted run only).
//!
//! ```text
//! cargo run -p audit-exporters --example crash_point -- <dir> <n> [--unsigned]
//! ```

use std::io::{self, Write};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use audit_exporters::MemoryExporter;
use audit_exporters::file::fs::{FsLock, ReadSeek};
use audit_exporters::file::{FileExporter, LogFile, LogFs, NoteSigner, RealFs};
use audit_runtime::chain::ChainHead;
use audit_runtime::export::Exporter;
use audit_runtime::{AuditRuntime, RecordId, audited_decision};

#[audited_decision(name = "crash.point", unversioned = "crash test", capture(i), output = capture)]
fn decide(i: u64) -> bool {
    i.is_multiple_of(3)
}

/// Counts mutating operations and parks the process before the `pause_at`-th.
#[derive(Debug, Clone)]
struct Pausing {
    ops: Arc<AtomicU64>,
    pause_at: u64,
}

impl Pausing {
    fn op(&self, what: &str, path: &Path) {
        let n = self.ops.fetch_add(1, Ordering::SeqCst);
        if n == self.pause_at {
            let name = path.file_name().map_or_else(
                || path.display().to_string(),
                |f| f.to_string_lossy().into_owned(),
            );
            let mut out = io::stdout().lock();
            let _ = writeln!(out, "paused {n} {what} {name}");
            let _ = out.flush();
            drop(out);
            // Wait for the SIGKILL.
            loop {
                std::thread::park();
            }
        }
    }
}

#[derive(Debug)]
struct PausingFile {
    inner: Box<dyn LogFile>,
    p: Pausing,
    path: std::path::PathBuf,
}

impl LogFile for PausingFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.p.op("write", &self.path);
        self.inner.write(buf)
    }
    fn sync(&mut self) -> io::Result<()> {
        self.p.op("fsync", &self.path);
        self.inner.sync()
    }
}

#[derive(Debug)]
struct PausingFs(Pausing);

impl LogFs for PausingFs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        RealFs.create_dir_all(dir)
    }
    fn list(&self, dir: &Path) -> io::Result<Vec<(String, u64)>> {
        RealFs.list(dir)
    }
    fn create_new(&self, path: &Path) -> io::Result<Box<dyn LogFile>> {
        self.0.op("create", path);
        Ok(Box::new(PausingFile {
            inner: RealFs.create_new(path)?,
            p: self.0.clone(),
            path: path.to_owned(),
        }))
    }
    fn open_append(&self, path: &Path) -> io::Result<Box<dyn LogFile>> {
        Ok(Box::new(PausingFile {
            inner: RealFs.open_append(path)?,
            p: self.0.clone(),
            path: path.to_owned(),
        }))
    }
    fn open_read(&self, path: &Path) -> io::Result<Box<dyn ReadSeek>> {
        RealFs.open_read(path)
    }
    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        self.0.op("truncate", path);
        RealFs.truncate(path, len)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.0.op("rename", from);
        RealFs.rename(from, to)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.0.op("remove", path);
        RealFs.remove_file(path)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.0.op("directory-fsync", dir);
        RealFs.sync_dir(dir)
    }
    fn try_lock(&self, path: &Path) -> io::Result<Option<FsLock>> {
        RealFs.try_lock(path)
    }
}

/// A real record from the runtime, to seal copies of into a chain of our own.
fn template() -> audit_runtime::record::AuditRecord {
    let mem = MemoryExporter::new();
    let guard = AuditRuntime::builder()
        .service("crash-point")
        .exporter(mem.clone())
        .install_thread_local()
        .expect("runtime");
    decide(1);
    drop(guard);
    mem.records().remove(0)
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(dir), Some(n)) = (args.next(), args.next()) else {
        anyhow::bail!("usage: crash_point <dir> <pause before op n>");
    };
    let signed = args.next().as_deref() != Some("--unsigned");
    let pausing = Pausing {
        ops: Arc::default(),
        pause_at: n.parse()?,
    };
    let tpl = template();
    let mut builder = FileExporter::builder(&dir)
        .file_system(PausingFs(pausing.clone()))
        .max_segment_bytes(4096)
        .checkpoint_every_records(Some(6));
    if signed {
        builder = builder.signing_key(NoteSigner::from_seed("audit-sdk.test/crash", [0x11; 32])?);
    }
    let mut w = builder.open()?;
    let durable = w.durable();
    let chain = RecordId::now();
    let mut head = ChainHead::default();
    let mut seal = |n: usize| -> Vec<audit_runtime::chain::SealedRecord> {
        (0..n)
            .map(|_| {
                let mut r = tpl.clone();
                r.record_id = RecordId::now();
                r.service.instance = chain;
                head.seal(r).expect("seal")
            })
            .collect()
    };
    let mut out = io::stdout();
    // Batches of 1..4 records, enough for several segments of 4 KiB, then a gap (as a fallback
    // receives), then more.
    for (i, n) in [1usize, 3, 2, 4, 3, 1, 4, 2].into_iter().enumerate() {
        let batch = seal(n);
        if i == 5 {
            let _skipped = seal(5);
        }
        w.export(&batch).map_err(|e| anyhow::anyhow!("{e}"))?;
        writeln!(out, "acked {}", durable.records())?;
        out.flush()?;
    }
    w.shutdown().map_err(|e| anyhow::anyhow!("{e}"))?;
    writeln!(out, "done {}", pausing.ops.load(Ordering::SeqCst))?;
    Ok(())
}
