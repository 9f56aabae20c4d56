//! The writer anchors its checkpoints: a real witness on loopback cosigns every signed
//! checkpoint of a real file log (with consistency proofs from the last cosigned one, made from
//! the writer's frontier), the cosigned note lands in a second directory, and `verify --against`
//! that note catches a rollback of the log that verifies on its own. A witness that is down
//! never fails the log.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use audit_exporters::FileExporter;
use audit_exporters::file::format::CheckpointLine;
use audit_exporters::file::{VerifyOptions, verify_dir};
use audit_exporters::witness::{CosignatureSigner, Witness, WitnessClient, verify_cosignature};
use common::*;

fn anchor_note(dir: &Path) -> String {
    let p = files_ending(dir, ".anchor.note");
    assert_eq!(p.len(), 1, "{p:?}");
    std::fs::read_to_string(&p[0]).unwrap()
}

fn against(note: &str) -> VerifyOptions {
    VerifyOptions {
        anchors: vec![note.to_owned()],
        ..VerifyOptions::pinned(signer().verifier().clone())
    }
}

#[test]
fn every_checkpoint_is_cosigned_and_anchored_elsewhere() {
    let state = TempDir::new("anchor-witness-state");
    let witness_key = CosignatureSigner::from_seed("witness.test/anchor", [0x31; 32]).unwrap();
    let witness = Witness::builder(witness_key.clone(), state.path())
        .log_prefix("audit-sdk/tamper-test/", signer().verifier().clone())
        .build()
        .unwrap();
    let handle = witness.serve("127.0.0.1:0").unwrap();
    let client = WitnessClient::new(&handle.url(), witness_key.public().clone()).unwrap();
    let log = TempDir::new("anchor-log");
    let elsewhere = TempDir::new("anchor-elsewhere");
    write_log(
        FileExporter::builder(log.path())
            .max_segment_bytes(8192)
            .checkpoint_every_records(Some(25))
            .signing_key(signer())
            .witness(client)
            .anchor_dir(elsewhere.path()),
        130,
    );
    let note = anchor_note(elsewhere.path());
    // The latest checkpoint, cosigned: the log's signature and the witness's.
    verify_cosignature(witness_key.public(), &note).unwrap();
    signer().verifier().verify(&note).unwrap();
    let ckpts = lines(&files_ending(log.path(), ".ckpt")[0]);
    let (last, _) = CheckpointLine::parse(ckpts.last().unwrap().trim_end()).unwrap();
    assert!(
        note.starts_with(&last.note),
        "the anchor is the latest checkpoint"
    );
    // The witness followed every checkpoint (each add-checkpoint needed a good proof).
    let (_, body) = CheckpointLine::parse(ckpts.last().unwrap().trim_end()).unwrap();
    let origin = format!("audit-sdk/tamper-test/{}", body.chain);
    let tree = body.tree.unwrap();
    assert_eq!(witness.latest(&origin).map(|l| l.0), Some(tree.size));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let p = &files_ending(elsewhere.path(), ".anchor.note")[0];
        assert_eq!(
            std::fs::metadata(p).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    verify_dir(log.path(), &against(&note)).unwrap();
    // Segments and checkpoint log cut back together: fine alone, caught against the anchor.
    let ck = files_ending(log.path(), ".ckpt")[0].clone();
    let first = ckpts[0].clone();
    let (_, b0) = CheckpointLine::parse(first.trim_end()).unwrap();
    let keep = b0.tree.unwrap().size as usize;
    write_lines(&ck, &[first]);
    let mut seen = 0;
    for seg in files_ending(log.path(), ".jsonl") {
        let l = lines(&seg);
        if seen >= keep {
            std::fs::remove_file(&seg).unwrap();
        } else if seen + l.len() > keep {
            write_lines(&seg, &l[..keep - seen]);
        }
        seen += l.len();
    }
    verify_dir(
        log.path(),
        &VerifyOptions::pinned(signer().verifier().clone()),
    )
    .unwrap();
    let e = verify_dir(log.path(), &against(&note)).unwrap_err();
    assert!(e.reason.contains("truncated or rolled back"), "{e}");
}

#[test]
fn a_witness_that_is_down_never_fails_the_log() {
    // A port nothing listens on: bind, take the port, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let witness_key = CosignatureSigner::from_seed("witness.test/down", [0x32; 32]).unwrap();
    let client = WitnessClient::new(
        &format!("http://127.0.0.1:{port}"),
        witness_key.public().clone(),
    )
    .unwrap()
    .timeout(std::time::Duration::from_millis(300));
    let log = TempDir::new("anchor-down");
    let elsewhere = TempDir::new("anchor-down-elsewhere");
    write_log(
        FileExporter::builder(log.path())
            .checkpoint_every_records(Some(25))
            .signing_key(signer())
            .witness(client)
            .anchor_dir(elsewhere.path()),
        60,
    );
    let s = verify_dir(
        log.path(),
        &VerifyOptions::pinned(signer().verifier().clone()),
    )
    .unwrap();
    assert_eq!(s.records(), 60);
    // The anchor is still written, signed by the log alone.
    let note = anchor_note(elsewhere.path());
    signer().verifier().verify(&note).unwrap();
    assert!(verify_cosignature(witness_key.public(), &note).is_err());
}
