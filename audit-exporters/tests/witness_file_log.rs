//! A real format-3 file log witnessed: its signed checkpoints, and the consistency proofs
//! `prove_consistency` (`audit-verify consistency`) makes between them, go unchanged to a real
//! witness over loopback, which cosigns each and refuses the rollback to an older one.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;

use audit_exporters::FileExporter;
use audit_exporters::file::format::CheckpointLine;
use audit_exporters::file::prove_consistency;
use audit_exporters::witness::{
    CosignatureSigner, Witness, WitnessClient, WitnessError, verify_cosignature,
};
use audit_runtime::merkle::tlog::{AddCheckpointRequest, Checkpoint, split_note};
use common::*;

fn notes(dir: &Path) -> Vec<String> {
    let ckpt = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".ckpt"))
        .unwrap();
    std::fs::read_to_string(ckpt)
        .unwrap()
        .lines()
        .map(|l| CheckpointLine::parse(l).unwrap().0.note)
        .collect()
}

fn checkpoint(note: &str) -> Checkpoint {
    Checkpoint::parse_body(split_note(note.as_bytes()).unwrap().text.as_bytes()).unwrap()
}

#[test]
fn a_file_logs_checkpoints_are_cosigned_and_its_rollback_refused() {
    let t = TempDir::new("witnessed");
    write_log(
        FileExporter::builder(t.path())
            .max_segment_bytes(8192)
            .checkpoint_every_records(Some(25))
            .signing_key(signer()),
        120,
    );
    let notes = notes(t.path());
    assert!(notes.len() >= 4, "{}", notes.len());
    let origin = checkpoint(&notes[0]).origin().to_owned();

    let state = TempDir::new("witness-state");
    let witness_key = CosignatureSigner::from_seed("witness.test/w1", [0x22; 32]).unwrap();
    let w = Witness::builder(witness_key.clone(), state.path())
        .log(&origin, signer().verifier().clone())
        .build()
        .unwrap();
    let handle = w.serve("127.0.0.1:0").unwrap();
    let client = WitnessClient::new(&handle.url(), witness_key.public().clone()).unwrap();

    let first = client.add_checkpoint(0, &[], &notes[0]).unwrap();
    verify_cosignature(witness_key.public(), &first.append_to(&notes[0])).unwrap();
    for pair in notes.windows(2).take(2) {
        let body = prove_consistency(t.path(), &pair[0], Some(&pair[1])).unwrap();
        let req = AddCheckpointRequest::parse(body.as_bytes()).unwrap();
        let cosig = client
            .add_checkpoint(req.old_size(), req.proof(), req.signed_checkpoint())
            .unwrap();
        let cosigned = cosig.append_to(&pair[1]);
        verify_cosignature(witness_key.public(), &cosigned).unwrap();
        signer().verifier().verify(&cosigned).unwrap();
    }
    // The body as `audit-verify consistency` prints it, POSTed as it stands.
    let body = prove_consistency(t.path(), &notes[2], Some(&notes[3])).unwrap();
    let mut s = TcpStream::connect(handle.local_addr()).unwrap();
    write!(
        s,
        "POST /add-checkpoint HTTP/1.1\r\nHost: w\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    s.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let line = &response[response.find("\r\n\r\n").unwrap() + 4..];
    assert_eq!(
        witness_key
            .public()
            .verify_line(split_note(notes[3].as_bytes()).unwrap().text, line),
        Ok(verify_cosignature(witness_key.public(), &format!("{}{line}", notes[3])).unwrap())
    );
    let size3 = checkpoint(&notes[3]).size();
    assert_eq!(w.latest(&origin).unwrap().0, size3);

    // Rolling back to an older checkpoint: refused with the witness's size.
    let body = prove_consistency(t.path(), &notes[0], Some(&notes[1])).unwrap();
    let req = AddCheckpointRequest::parse(body.as_bytes()).unwrap();
    match client.add_checkpoint(req.old_size(), req.proof(), req.signed_checkpoint()) {
        Err(WitnessError::Conflict { witness_size }) => assert_eq!(witness_size, size3),
        other => panic!("{other:?}"),
    }
    assert!(handle.shutdown());
}
