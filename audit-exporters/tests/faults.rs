//! Injected faults: failed writes and fsyncs make the writer refuse further work (sticky, no
//! fsync retry), short writes are completed, torn writes and a full disk damage nothing already
//! written, and recovery then yields a valid log.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use audit_exporters::file::{
    FaultPlan, Faults, FaultyFs, FileExporter, FsyncPolicy, MemFs, VerifyOptions, verify_dir_with,
};
use audit_runtime::RecordId;
use audit_runtime::chain::ChainHead;
use audit_runtime::export::{ErrorClass, Exporter};
use common::*;

const DIR: &str = "/log";

struct Rig {
    mem: MemFs,
    faults: Faults,
    w: FileExporter,
    head: ChainHead,
    chain: RecordId,
    template: audit_runtime::record::AuditRecord,
}

impl Rig {
    fn new(policy: FsyncPolicy) -> Self {
        Self::with_segment_bytes(policy, 4096)
    }

    /// A rig whose segments rotate after `max_segment_bytes` (rotation writes a checkpoint, so
    /// tests that aim a fault at one particular segment write must not rotate under it).
    fn with_segment_bytes(policy: FsyncPolicy, max_segment_bytes: u64) -> Self {
        let mem = MemFs::new();
        let faults = Faults::new();
        let w = FileExporter::builder(DIR)
            .file_system(FaultyFs::new(mem.clone(), faults.clone()))
            .fsync(policy)
            .max_segment_bytes(max_segment_bytes)
            .checkpoint_every_records(Some(10))
            .signing_key(signer())
            .open()
            .unwrap();
        Rig {
            mem,
            faults,
            w,
            head: ChainHead::default(),
            chain: RecordId::now(),
            template: template(),
        }
    }

    fn batch(&mut self, n: usize) -> Result<(), audit_runtime::export::ExportError> {
        let b = seal_records(&mut self.head, self.chain, n, &self.template);
        self.w.export(&b)
    }

    /// Recover what is on "disk" now and verify it; returns the records found.
    fn recover_and_verify(&self) -> u64 {
        let image = self.mem.crash(|_, _| usize::MAX);
        let r = FileExporter::builder(DIR)
            .file_system(image.clone())
            .open()
            .unwrap();
        assert!(r.recovery().left_alone.is_empty(), "{:?}", r.recovery());
        drop(r);
        // A crash image: records after the last checkpoint are an unsigned tail.
        let opts = VerifyOptions::pinned(signer().verifier().clone()).allow_unsigned_tail(true);
        let s = verify_dir_with(&image, Path::new(DIR), &opts, &mut |_| {})
            .unwrap_or_else(|e| panic!("after recovery: {e}"));
        s.records()
    }
}

#[test]
fn failed_write_is_sticky() {
    let mut rig = Rig::new(FsyncPolicy::EveryBatch);
    rig.batch(5).unwrap();
    let writes = rig.faults.writes();
    rig.faults.set(FaultPlan {
        fail_writes_after: Some(writes),
        ..FaultPlan::default()
    });
    let e = rig.batch(3).unwrap_err();
    assert_eq!(e.class(), ErrorClass::Permanent);
    assert!(e.to_string().contains("write of"), "{e}");
    // Even with the fault gone, the writer refuses: it does not know what reached the disk.
    rig.faults.set(FaultPlan::default());
    let e2 = rig.batch(1).unwrap_err();
    assert!(e2.to_string().contains("refuses writes"), "{e2}");
    assert!(rig.w.flush().is_err());
    assert!(rig.w.shutdown().is_err());
    assert!(rig.w.failure().unwrap().contains("injected I/O error"));
    assert_eq!(rig.recover_and_verify(), 5);
}

#[test]
fn failed_fsync_is_never_retried() {
    let mut rig = Rig::new(FsyncPolicy::EveryBatch);
    rig.batch(4).unwrap();
    let durable = rig.w.durable();
    assert_eq!(durable.records(), 4);
    let syncs = rig.faults.syncs();
    rig.faults.set(FaultPlan {
        fail_syncs_after: Some(syncs),
        ..FaultPlan::default()
    });
    let e = rig.batch(2).unwrap_err();
    assert!(e.to_string().contains("fsync"), "{e}");
    assert_eq!(
        durable.records(),
        4,
        "a failed fsync must not advance the durable count"
    );
    let attempted = rig.faults.syncs();
    rig.faults.set(FaultPlan::default());
    assert!(rig.w.flush().is_err());
    assert!(rig.batch(1).is_err());
    assert!(rig.w.shutdown().is_err());
    assert_eq!(
        rig.faults.syncs(),
        attempted,
        "no fsync may follow a failed one"
    );
    // The 2 unsynced records may or may not survive; the 4 synced ones must.
    assert!(rig.recover_and_verify() >= 4);
}

#[test]
fn short_writes_are_completed() {
    let mut rig = Rig::new(FsyncPolicy::EveryBatch);
    rig.faults.set(FaultPlan {
        max_write: Some(7),
        ..FaultPlan::default()
    });
    for _ in 0..10 {
        rig.batch(3).unwrap();
    }
    rig.w.shutdown().unwrap();
    assert_eq!(rig.recover_and_verify(), 30);
}

#[test]
fn torn_write_leaves_a_tail_that_recovery_quarantines() {
    // Large segments: the torn write must hit the segment, not a rotation's checkpoint (records
    // grew past 4096 bytes per six once redaction provenance was added).
    let mut rig = Rig::with_segment_bytes(FsyncPolicy::EveryBatch, 1 << 20);
    rig.batch(6).unwrap();
    let at = rig.faults.writes();
    rig.faults.set(FaultPlan {
        torn_write: Some((at, 100)),
        ..FaultPlan::default()
    });
    assert!(rig.batch(4).is_err());
    assert!(rig.batch(1).is_err(), "sticky after a torn write");
    let image = rig.mem.crash(|_, _| usize::MAX);
    let r = FileExporter::builder(DIR)
        .file_system(image)
        .open()
        .unwrap();
    assert_eq!(r.recovery().repairs.len(), 1, "{:?}", r.recovery());
    assert_eq!(r.recovery().repairs[0].quarantined_bytes, 100);
    assert_eq!(r.recovery().repairs[0].last_good_seq, Some(5));
    assert_eq!(rig.recover_and_verify(), 6);
}

#[test]
fn full_disk_is_reported_and_damages_nothing_written() {
    let mut rig = Rig::new(FsyncPolicy::EveryBatch);
    rig.batch(8).unwrap();
    let used: u64 = rig
        .mem
        .paths()
        .iter()
        .map(|p| rig.mem.read(p).unwrap().len() as u64)
        .sum();
    rig.faults.set(FaultPlan {
        capacity: Some(used + 500),
        ..FaultPlan::default()
    });
    let mut err = None;
    for _ in 0..10 {
        if let Err(e) = rig.batch(2) {
            err = Some(e);
            break;
        }
    }
    let e = err.expect("the disk never filled");
    assert!(e.to_string().contains("disk full"), "{e}");
    assert_eq!(e.class(), ErrorClass::Permanent);
    assert!(rig.recover_and_verify() >= 8);
}

#[test]
fn failed_segment_creation_is_sticky() {
    let mut rig = Rig::new(FsyncPolicy::EveryBatch);
    rig.faults.set(FaultPlan {
        fail_create: true,
        ..FaultPlan::default()
    });
    let e = rig.batch(1).unwrap_err();
    assert!(e.to_string().contains("create of"), "{e}");
    rig.faults.set(FaultPlan::default());
    assert!(rig.batch(1).is_err());
}

#[test]
fn full_disk_through_the_runtime_is_counted() {
    let mem = MemFs::new();
    let faults = Faults::new();
    faults.set(FaultPlan {
        capacity: Some(6_000),
        ..FaultPlan::default()
    });
    let w = FileExporter::builder(DIR)
        .file_system(FaultyFs::new(mem.clone(), faults))
        .open()
        .unwrap();
    let guard = audit_runtime::AuditRuntime::builder()
        .service("full-disk")
        .exporter(w)
        .retries(0, std::time::Duration::from_millis(1))
        .install_thread_local()
        .unwrap();
    for i in 0..40 {
        approve(i, "fill the disk");
        guard.flush().unwrap();
    }
    let stats = guard.shutdown();
    let file = &stats.exporters[0];
    assert!(file.failed > 0, "{stats:?}");
    assert!(file.exported > 0, "{stats:?}");
    assert_eq!(file.exported + file.failed, 40);
    let image = mem.crash(|_, _| usize::MAX);
    drop(
        FileExporter::builder(DIR)
            .file_system(image.clone())
            .open()
            .unwrap(),
    );
    let s = verify_dir_with(
        &image,
        Path::new(DIR),
        &VerifyOptions::default(),
        &mut |_| {},
    )
    .unwrap();
    assert!(s.records() >= file.exported, "{s}");
}

#[test]
fn records_going_back_are_refused() {
    let mut rig = Rig::new(FsyncPolicy::EveryBatch);
    let mut before = rig.head;
    rig.batch(3).unwrap();
    // seq 1 again, after seq 2 was written: a gap forward is fine (a fallback's chain), a step
    // back never is.
    seal_records(&mut before, rig.chain, 1, &rig.template);
    let again = seal_records(&mut before, rig.chain, 1, &rig.template);
    let e = rig.w.export(&again).unwrap_err();
    assert!(e.to_string().contains("go back"), "{e}");
}
