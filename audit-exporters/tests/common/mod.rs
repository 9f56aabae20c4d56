//! Helpers shared by the file-log integration tests.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use audit_exporters::file::{FileExporter, FileExporterBuilder, NoteSigner};
use audit_runtime::{AuditRuntime, RecordId, audited_decision};

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!("audit-filelog-{tag}-{}", RecordId::now()));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The key the tests sign with.
pub fn signer() -> NoteSigner {
    NoteSigner::from_seed("audit-sdk.test/checkpoints", [0x5a; 32]).unwrap()
}

/// An attacker's key with the same name.
pub fn attacker() -> NoteSigner {
    NoteSigner::from_seed("audit-sdk.test/checkpoints", [0x66; 32]).unwrap()
}

#[audited_decision(name = "test.approve", unversioned = "test fixture", capture(amount, note), output = capture)]
pub fn approve(amount: u64, note: &str) -> bool {
    let _ = note;
    amount < 10_000
}

/// Write `n` decisions through a real runtime into an exporter built by `builder`; returns the
/// chain id.
pub fn write_log(builder: FileExporterBuilder, n: u64) -> RecordId {
    let exporter = builder.open().unwrap();
    let guard = AuditRuntime::builder()
        .service("tamper-test")
        .exporter(exporter)
        .install_thread_local()
        .unwrap();
    for i in 0..n {
        approve(i * 97 % 20_000, &format!("note {i}"));
    }
    let chain = guard.instance_id();
    let stats = guard.shutdown();
    assert_eq!(stats.exporters[0].failed, 0, "{stats:?}");
    chain
}

/// A signed log with several segments of one chain.
pub fn signed_log(dir: &Path, n: u64) -> RecordId {
    write_log(
        FileExporter::builder(dir)
            .max_segment_bytes(8192)
            .checkpoint_every_records(Some(25))
            .signing_key(signer()),
        n,
    )
}

/// Files of a directory whose names end with `suffix`, sorted.
pub fn files_ending(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().ends_with(suffix))
        .collect();
    v.sort();
    v
}

/// Copy every file of `from` into `to`.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

/// Lines of a file, newlines kept.
pub fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .split_inclusive('\n')
        .map(str::to_owned)
        .collect()
}

pub fn write_lines(path: &Path, lines: &[String]) {
    std::fs::write(path, lines.concat()).unwrap();
}

/// A real record, produced once by the runtime, to clone into synthetic chains.
pub fn template() -> audit_runtime::record::AuditRecord {
    let mem = audit_exporters::MemoryExporter::new();
    let guard = AuditRuntime::builder()
        .service("template")
        .exporter(mem.clone())
        .install_thread_local()
        .unwrap();
    approve(5, "template");
    drop(guard);
    mem.records().remove(0)
}

/// Seal `n` records of chain `chain` after `head` (for driving an exporter directly).
pub fn seal_records(
    head: &mut audit_runtime::chain::ChainHead,
    chain: RecordId,
    n: usize,
    template: &audit_runtime::record::AuditRecord,
) -> Vec<audit_runtime::chain::SealedRecord> {
    (0..n)
        .map(|_| {
            let mut r = template.clone();
            r.record_id = RecordId::now();
            r.service.instance = chain;
            r.attributes
                .insert("n".into(), serde_json::json!(head.next_seq));
            head.seal(r).unwrap()
        })
        .collect()
}
