//! Golden fixtures: a checked-in log directory that every later version must verify, lines that
//! must re-serialize byte for byte, a signed checkpoint pinned byte for byte, and the C2SP
//! signed-note specification's own example.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};

use audit_exporters::file::format::{self, CheckpointBody, CheckpointLine, SegmentHeader};
use audit_exporters::file::{FileExporter, NoteSigner, VerifierKey, VerifyOptions, verify_dir};
use audit_runtime::RecordId;
use audit_runtime::chain::{ChainHead, RecordHash, check_line};
use common::*;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The golden log's key: a fixed seed, so the fixture can be regenerated with the same key.
fn golden_signer() -> NoteSigner {
    NoteSigner::from_seed("audit-sdk.example/golden", [0x42; 32]).unwrap()
}

/// Regenerate the fixtures (run once, by hand, when the format version changes):
/// `cargo test -p audit-exporters --test golden -- --ignored regenerate`
#[test]
#[ignore = "writes the checked-in fixtures"]
fn regenerate() {
    let dir = fixtures().join("golden-log");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    write_log(
        FileExporter::builder(&dir)
            .max_segment_bytes(4096)
            .checkpoint_every_records(Some(5))
            .signing_key(golden_signer()),
        12,
    );
    std::fs::write(
        fixtures().join("golden.vkey"),
        golden_signer().verifier().to_vkey() + "\n",
    )
    .unwrap();
    std::fs::write(fixtures().join("golden-checkpoint.note"), golden_note()).unwrap();
}

/// Regenerate the format-3 fixtures (run once, by hand; format 3 is pinned from here on):
/// `cargo test -p audit-exporters --test golden -- --ignored regenerate_v3`
#[test]
#[ignore = "writes the checked-in fixtures"]
fn regenerate_v3() {
    let dir = fixtures().join("golden-log-v3");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    write_log(
        FileExporter::builder(&dir)
            .max_segment_bytes(4096)
            .checkpoint_every_records(Some(5))
            .signing_key(golden_signer()),
        12,
    );
    std::fs::write(
        fixtures().join("golden-checkpoint-v3.note"),
        golden_note_v3(),
    )
    .unwrap();
}

fn golden_body_v3() -> CheckpointBody {
    CheckpointBody {
        tree: Some(format::TreeState {
            size: 45,
            root: audit_runtime::merkle::TreeHash(*blake3::hash(b"golden root").as_bytes()),
        }),
        ..golden_body()
    }
}

fn golden_note_v3() -> String {
    golden_signer().sign(&golden_body_v3().to_text()).unwrap()
}

#[test]
fn golden_v3_log_verifies_and_reserializes_byte_for_byte() {
    let vkey = std::fs::read_to_string(fixtures().join("golden.vkey")).unwrap();
    let key = VerifierKey::parse(&vkey).unwrap();
    let dir = fixtures().join("golden-log-v3");
    let s = verify_dir(&dir, &VerifyOptions::pinned(key)).unwrap();
    assert_eq!(s.records(), 12);
    assert!(s.segments() >= 2, "{s}");
    let c = &s.chains[0];
    assert_eq!((c.format, c.uncovered), (3, 0));
    assert_eq!(c.signed_checkpoints, c.checkpoints);
    let mut head = ChainHead::default();
    for seg in files_ending(&dir, ".jsonl") {
        let l = lines(&seg);
        let header = SegmentHeader::parse(l[0].trim_end()).unwrap();
        assert!(header.is_merkle());
        assert_eq!(format!("{}\n", format::seal(&header).unwrap().0), l[0]);
        for line in &l[1..] {
            let (record, _) = check_line(line.trim_end()).unwrap();
            assert_eq!(format!("{}\n", head.seal(record).unwrap().line), *line);
        }
    }
    for line in lines(&files_ending(&dir, ".ckpt")[0]) {
        let (c, body) = CheckpointLine::parse(line.trim_end()).unwrap();
        assert_eq!(format!("{}\n", format::seal(&c).unwrap().0), line);
        assert_eq!(golden_signer().sign(&body.to_text()).unwrap(), c.note);
    }
}

#[test]
fn signed_v3_checkpoint_note_is_pinned_byte_for_byte() {
    let pinned = std::fs::read_to_string(fixtures().join("golden-checkpoint-v3.note")).unwrap();
    assert_eq!(golden_note_v3(), pinned);
    let text = pinned.split_once("\n\n").unwrap().0;
    assert!(
        text.starts_with("audit-sdk/loan-agent/01900000-0000-7000-8000-000000000001\n45\n")
            && text
                .contains("\nrecords 42 3C6EThdzju8si9Y0J2JQXEuJn7PSPvFA/nvQUctx56U=\nsegment 3\n"),
        "{text}"
    );
    // A C2SP tlog-checkpoint that generic tooling parses: origin, size, root, extensions.
    let c =
        audit_runtime::merkle::tlog::Checkpoint::parse_body(golden_body_v3().to_text().as_bytes())
            .unwrap();
    assert_eq!(c.size(), 45);
    assert_eq!(c.extensions().len(), 3);
}

fn golden_body() -> CheckpointBody {
    CheckpointBody {
        service: "loan-agent".into(),
        chain: "01900000-0000-7000-8000-000000000001"
            .parse::<RecordId>()
            .unwrap(),
        count: 42,
        head: RecordHash(*blake3::hash(b"golden head").as_bytes()),
        segment: 3,
        gaps: None,
        tree: None,
        time: "2026-11-26T12:00:00.000000000Z".into(),
    }
}

fn golden_note() -> String {
    golden_signer().sign(&golden_body().to_text()).unwrap()
}

#[test]
fn golden_log_verifies_with_its_pinned_key() {
    let vkey = std::fs::read_to_string(fixtures().join("golden.vkey")).unwrap();
    let key = VerifierKey::parse(&vkey).unwrap();
    assert_eq!(key, *golden_signer().verifier());
    let s = verify_dir(&fixtures().join("golden-log"), &VerifyOptions::pinned(key)).unwrap();
    assert_eq!(s.records(), 12);
    assert!(s.segments() >= 2, "{s}");
    assert_eq!(s.chains[0].signed_checkpoints, s.chains[0].checkpoints);
    assert_eq!(s.chains[0].uncovered, 0);
}

#[test]
fn golden_lines_reserialize_byte_for_byte() {
    let dir = fixtures().join("golden-log");
    let mut head = ChainHead::default();
    for seg in files_ending(&dir, ".jsonl") {
        let l = lines(&seg);
        let header = SegmentHeader::parse(l[0].trim_end()).unwrap();
        assert_eq!(format!("{}\n", format::seal(&header).unwrap().0), l[0]);
        for line in &l[1..] {
            let (record, _) = check_line(line.trim_end()).unwrap();
            let sealed = head.seal(record).unwrap();
            assert_eq!(
                format!("{}\n", sealed.line),
                *line,
                "record canonical bytes changed"
            );
        }
    }
    for line in lines(&files_ending(&dir, ".ckpt")[0]) {
        let (c, body) = CheckpointLine::parse(line.trim_end()).unwrap();
        assert_eq!(format!("{}\n", format::seal(&c).unwrap().0), line);
        // Ed25519 is deterministic: re-signing reproduces the note exactly.
        assert_eq!(golden_signer().sign(&body.to_text()).unwrap(), c.note);
    }
}

#[test]
fn signed_checkpoint_note_is_pinned_byte_for_byte() {
    let pinned = std::fs::read_to_string(fixtures().join("golden-checkpoint.note")).unwrap();
    assert_eq!(golden_note(), pinned);
    assert_eq!(
        pinned.split_once("\n\n").unwrap().0,
        "audit-sdk/loan-agent/01900000-0000-7000-8000-000000000001\n42\n\
         3C6EThdzju8si9Y0J2JQXEuJn7PSPvFA/nvQUctx56U=\nsegment 3\n\
         time 2026-11-26T12:00:00.000000000Z"
    );
    let key = VerifierKey::parse(&std::fs::read_to_string(fixtures().join("golden.vkey")).unwrap())
        .unwrap();
    assert_eq!(key.verify(&pinned).unwrap(), golden_body().to_text());
}

/// A C2SP test vector: the copy vendored in `tests/fixtures/c2sp` (so a clean clone anywhere has
/// it), checked against the external original in `../shared/testdata` when that is present.
fn c2sp(name: &str) -> String {
    let vendored = fixtures().join("c2sp").join(name);
    let text = std::fs::read_to_string(&vendored)
        .unwrap_or_else(|e| panic!("the C2SP test vector {} is needed: {e}", vendored.display()));
    let original = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/testdata/c2sp")
        .join(name);
    if let Ok(external) = std::fs::read_to_string(&original) {
        assert_eq!(
            text,
            external,
            "{} differs from {}",
            vendored.display(),
            original.display()
        );
    }
    text
}

#[test]
fn c2sp_specification_example_verifies_and_every_flipped_byte_fails() {
    let note = c2sp("signed-note-example.note");
    let vkey = c2sp("signed-note-example.vkey");
    let key = VerifierKey::parse(&vkey).unwrap();
    assert_eq!(key.name(), "example.com/foo");
    assert_eq!(key.to_vkey(), vkey.trim(), "the vkey round-trips");
    assert_eq!(key.verify(&note).unwrap(), "This is an example message.\n");
    let bytes = note.as_bytes();
    for i in 0..bytes.len() {
        let mut b = bytes.to_vec();
        b[i] ^= 0x01;
        if let Ok(s) = String::from_utf8(b) {
            assert!(key.verify(&s).is_err(), "flipping byte {i} still verifies");
        }
    }
    // A flipped byte of the key itself is refused or fails to verify.
    let vb = vkey.trim().as_bytes();
    for i in 0..vb.len() {
        let mut b = vb.to_vec();
        b[i] ^= 0x01;
        if let Ok(k) = VerifierKey::parse(&String::from_utf8_lossy(&b)) {
            assert!(
                k.verify(&note).is_err(),
                "key with byte {i} flipped still verifies"
            );
        }
    }
}
