//! Fuzz-style tests of the file log's parsers of untrusted bytes: segment headers, checkpoint
//! lines and texts, C2SP signed notes and keys, record lines, and the whole verifier on a
//! directory of which one file is damaged. Property: every call returns (Ok or Err), never
//! panics, and takes bounded time. Inputs are random bytes and mutations of the golden log's
//! real lines (see `fuzz_support`). `AUDIT_FUZZ_CASES=<n>` runs longer.
#![allow(clippy::unwrap_used)]
// `..VerifyOptions::default()` keeps these tests compiling when the options gain fields.
#![allow(clippy::needless_update)]

mod fuzz_support;

use std::path::{Path, PathBuf};

use audit_exporters::file::format::{CheckpointBody, CheckpointLine, SegmentHeader, classify};
use audit_exporters::file::note::parse_note;
use audit_exporters::file::{MemFs, NoteSigner, VerifierKey, VerifyOptions, verify_dir_with};
use audit_runtime::chain::{ChainVerifier, check_line};
use fuzz_support::{bounded, config, inputs, text};
use proptest::prelude::*;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The golden logs' files (format 1 and format 3, two chains), by name.
fn golden_files() -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(fixtures().join("golden-log"))
        .unwrap()
        .chain(std::fs::read_dir(fixtures().join("golden-log-v3")).unwrap())
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

fn golden_key() -> VerifierKey {
    VerifierKey::parse(&std::fs::read_to_string(fixtures().join("golden.vkey")).unwrap()).unwrap()
}

/// Every line of the golden log, the golden and C2SP notes, and the keys: the seeds mutated.
fn seeds() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for (_, bytes) in golden_files() {
        for line in bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            out.push(line.to_vec());
        }
    }
    for f in [
        "golden-checkpoint.note",
        "golden-checkpoint-v3.note",
        "golden.vkey",
        "c2sp/signed-note-example.note",
        "c2sp/signed-note-example.vkey",
    ] {
        out.push(std::fs::read(fixtures().join(f)).unwrap());
    }
    let signer = NoteSigner::from_seed("fuzz", [7; 32]).unwrap();
    out.push(signer.to_skey().into_bytes());
    out
}

/// Every line parser on one input.
fn parse_all(bytes: &[u8]) {
    let s = text(bytes);
    let key = golden_key();
    let _ = SegmentHeader::parse(&s).map(|h| h.prev());
    if let Ok((line, _)) = CheckpointLine::parse(&s) {
        let _ = key.verify(&line.note);
        let _ = line.text();
    }
    let _ = CheckpointBody::parse(&s);
    if let Ok(n) = parse_note(&s) {
        assert!(s.starts_with(n.text));
    }
    let _ = key.verify(&s);
    let _ = VerifierKey::parse(&s);
    let _ = NoteSigner::parse(&s);
    let mut chain = ChainVerifier::new();
    let _ = chain.push(&s);
    let _ = audit_runtime::chain::envelope::scan(bytes);
    let _ = ChainVerifier::new().push_integrity(&s);
    let _ = audit_exporters::file::check_record_proof(&s, &key);
    let _ = audit_exporters::file::check_consistency_proof(&s, &s, &key);
    if let Ok((r, hash)) = check_line(&s) {
        // Resumed at any seq the files could claim, the edges included.
        for seq in [0, r.seq.wrapping_sub(1), u64::MAX - 1, u64::MAX] {
            let mut chain = ChainVerifier::resume(seq, hash, r.service.instance.to_string());
            let _ = chain.push(&s);
        }
    }
    let _ = classify(&s);
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn line_and_note_parsers_never_panic(input in inputs(seeds())) {
        bounded("line parsers", || parse_all(&input));
    }
}

/// The golden directory in memory with file `victim` replaced by `bytes`.
fn damaged_dir(victim: usize, bytes: Vec<u8>) -> (MemFs, PathBuf) {
    let fs = MemFs::new();
    let dir = PathBuf::from("/log");
    audit_exporters::file::LogFs::create_dir_all(&fs, &dir).unwrap();
    for (i, (name, data)) in golden_files().into_iter().enumerate() {
        let data = if i == victim { bytes.clone() } else { data };
        fs.write_file(&dir.join(name), data);
    }
    (fs, dir)
}

fn file_inputs() -> impl Strategy<Value = (usize, Vec<u8>)> {
    let files = golden_files();
    let n = files.len();
    (0..n).prop_flat_map(move |i| {
        let seed = files[i].1.clone();
        (Just(i), inputs(vec![seed]))
    })
}

proptest! {
    #![proptest_config(config(64))]

    /// The verifier on a directory with one damaged file, with and without the pinned key.
    #[test]
    fn verifier_never_panics_on_a_damaged_directory((victim, bytes) in file_inputs()) {
        let (fs, dir) = damaged_dir(victim, bytes);
        for key in [None, Some(golden_key())] {
            let options = VerifyOptions { key, ..VerifyOptions::default() };
            let _ = bounded("verify_dir", || verify_dir_with(&fs, &dir, &options, &mut |_| {}));
        }
    }
}

/// A change to the directory as a whole.
#[derive(Debug, Clone)]
enum DirOp {
    Remove(usize),
    Empty(usize),
    /// File `from`'s bytes under file `to`'s name.
    Copy {
        from: usize,
        to: usize,
    },
    /// A line of file `from` appended to file `to`.
    AppendLine {
        from: usize,
        line: usize,
        to: usize,
    },
    /// A file with a log-like name and these bytes.
    Add {
        name: usize,
        bytes: Vec<u8>,
    },
}

fn dir_op() -> impl Strategy<Value = DirOp> {
    let names = golden_files().len();
    prop_oneof![
        (0..names).prop_map(DirOp::Remove),
        (0..names).prop_map(DirOp::Empty),
        (0..names, 0..names).prop_map(|(from, to)| DirOp::Copy { from, to }),
        (0..names, 0usize..20, 0..names).prop_map(|(from, line, to)| DirOp::AppendLine {
            from,
            line,
            to
        }),
        (0usize..4, inputs(seeds())).prop_map(|(name, bytes)| DirOp::Add { name, bytes }),
    ]
}

/// Names a directory may hold besides the golden ones: the next segment, another chain's
/// files, a quarantine file, a foreign file.
const EXTRA_NAMES: [&str; 4] = [
    "tamper-test.01a21957-cb29-7074-a2b6-1905c8c4fba0.000005.jsonl",
    "tamper-test.01a21957-cb29-7074-a2b6-1905c8c4fbff.000001.jsonl",
    "tamper-test.01a21957-cb29-7074-a2b6-1905c8c4fba0.000002.jsonl.quarantine-1",
    "notes.txt",
];

proptest! {
    #![proptest_config(config(48))]

    /// The verifier on a directory with files removed, emptied, swapped, extended or added.
    #[test]
    fn verifier_never_panics_on_a_rearranged_directory(ops in proptest::collection::vec(dir_op(), 1..4)) {
        let files = golden_files();
        let (fs, dir) = damaged_dir(usize::MAX, Vec::new());
        for op in ops {
            match op {
                // (The file system seam has no delete: moving the file under a foreign name
                // takes it out of the log the same way.)
                DirOp::Remove(i) => {
                    let gone = dir.join(format!("removed-{i}"));
                    audit_exporters::file::LogFs::rename(&fs, &dir.join(&files[i].0), &gone).ok();
                }
                DirOp::Empty(i) => fs.write_file(&dir.join(&files[i].0), Vec::new()),
                DirOp::Copy { from, to } => {
                    let bytes = fs.read(&dir.join(&files[from].0)).unwrap_or_default();
                    fs.write_file(&dir.join(&files[to].0), bytes);
                }
                DirOp::AppendLine { from, line, to } => {
                    let src = fs.read(&dir.join(&files[from].0)).unwrap_or_default();
                    let lines: Vec<&[u8]> = src.split_inclusive(|&b| b == b'\n').collect();
                    if let Some(l) = lines.get(line % lines.len().max(1)) {
                        let mut dst = fs.read(&dir.join(&files[to].0)).unwrap_or_default();
                        dst.extend_from_slice(l);
                        fs.write_file(&dir.join(&files[to].0), dst);
                    }
                }
                DirOp::Add { name, bytes } => fs.write_file(&dir.join(EXTRA_NAMES[name]), bytes),
            }
        }
        for key in [None, Some(golden_key())] {
            let options = VerifyOptions { key, ..VerifyOptions::default() };
            let _ = bounded("verify_dir", || verify_dir_with(&fs, &dir, &options, &mut |_| {}));
        }
    }
}

/// The seeds themselves still parse: the mutations start from valid inputs, so the property
/// above exercises the deep paths of every parser, not only its first check.
#[test]
fn seeds_are_valid_inputs() {
    let files = golden_files();
    let header = files
        .iter()
        .find(|(n, _)| n.ends_with("000001.jsonl"))
        .unwrap();
    let first = text(header.1.split(|&b| b == b'\n').next().unwrap());
    SegmentHeader::parse(&first).unwrap();
    let ckpt = files.iter().find(|(n, _)| n.ends_with(".ckpt")).unwrap();
    let line = text(ckpt.1.split(|&b| b == b'\n').next().unwrap());
    let (c, _) = CheckpointLine::parse(&line).unwrap();
    golden_key().verify(&c.note).unwrap();
    let (fs, dir) = damaged_dir(usize::MAX, Vec::new());
    let options = VerifyOptions {
        key: Some(golden_key()),
        ..VerifyOptions::default()
    };
    verify_dir_with(&fs, &dir, &options, &mut |_| {}).unwrap();
}

/// Regression: `ChainVerifier::resume` at `u64::MAX` (a header's `prev_seq` is any number the
/// file says) overflowed `seq + 1` on the next record (a panic in debug builds).
#[test]
fn resume_at_the_largest_seq_does_not_overflow() {
    let files = golden_files();
    let seg = files
        .iter()
        .find(|(n, _)| n.ends_with("000001.jsonl"))
        .unwrap();
    let record = text(seg.1.split(|&b| b == b'\n').nth(1).unwrap());
    let (r, _) = check_line(&record).unwrap();
    let mut chain = ChainVerifier::resume(
        u64::MAX,
        audit_runtime::chain::RecordHash([0; 32]),
        r.service.instance.to_string(),
    );
    assert!(matches!(
        chain.push(&record),
        Err(audit_runtime::chain::LinkError::Seq { .. })
    ));
}
