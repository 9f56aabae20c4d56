//! Every tampering of a signed log is caught, and located (file, line, reason).
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use audit_exporters::file::format::{self, CheckpointLine, SegmentHeader};
use audit_exporters::file::{FileExporter, VerifyError, VerifyOptions, verify_dir};
use audit_runtime::chain::{ChainHead, RecordHash, check_line};
use common::*;

/// One pristine signed log (built once, copied per case): 160 records over ~20 segments.
fn pristine() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!(
            "audit-filelog-pristine-{}-{}",
            std::process::id(),
            audit_runtime::RecordId::now()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        signed_log(&dir, 160);
        dir
    })
}

fn pinned() -> VerifyOptions {
    VerifyOptions::pinned(signer().verifier().clone())
}

/// A copy of the pristine log to tamper with.
fn copy(tag: &str) -> TempDir {
    let t = TempDir::new(tag);
    copy_dir(pristine(), t.path());
    t
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    files_ending(dir, ".jsonl")
}

fn ckpt(dir: &Path) -> PathBuf {
    files_ending(dir, ".ckpt").remove(0)
}

#[track_caller]
fn expect_failure(dir: &Path, file: &Path, line: Option<u64>, reason: &str) -> VerifyError {
    let e = verify_dir(dir, &pinned()).expect_err("tampering went unnoticed");
    assert_eq!(e.file, file, "wrong file in: {e}");
    assert_eq!(e.line, line, "wrong line in: {e}");
    assert!(e.reason.contains(reason), "expected {reason:?} in: {e}");
    e
}

#[test]
fn pristine_log_verifies_with_the_pinned_key() {
    let s = verify_dir(pristine(), &pinned()).unwrap();
    assert_eq!(s.records(), 160);
    assert!(s.segments() >= 5, "{s}");
    assert_eq!(s.chains.len(), 1);
    let c = &s.chains[0];
    assert!(
        c.checkpoints >= 7 && c.signed_checkpoints == c.checkpoints,
        "{s}"
    );
    assert_eq!(c.uncovered, 0, "shutdown writes a final checkpoint");
    assert!(s.time_span().is_some());
    let text = s.to_string();
    assert!(text.contains("OK: 160 records"), "{text}");
}

#[test]
fn edited_byte_in_a_value() {
    let t = copy("edit-value");
    let seg = &segments(t.path())[1];
    let mut l = lines(seg);
    assert!(l[2].contains("\"note "), "{}", l[2]);
    l[2] = l[2].replacen("\"note ", "\"nute ", 1);
    write_lines(seg, &l);
    expect_failure(t.path(), seg, Some(3), "hash mismatch");
}

#[test]
fn edited_hash() {
    let t = copy("edit-hash");
    let seg = &segments(t.path())[1];
    let mut l = lines(seg);
    let i = l[2].len() - 5;
    let flipped = if &l[2][i..i + 1] == "0" { "1" } else { "0" };
    l[2].replace_range(i..i + 1, flipped);
    write_lines(seg, &l);
    expect_failure(t.path(), seg, Some(3), "hash mismatch");
}

#[test]
fn deleted_line() {
    let t = copy("delete-line");
    let seg = &segments(t.path())[1];
    let mut l = lines(seg);
    l.remove(2);
    write_lines(seg, &l);
    expect_failure(t.path(), seg, Some(3), "a record is missing");
}

#[test]
fn inserted_line() {
    let t = copy("insert-line");
    let seg = &segments(t.path())[1];
    let mut l = lines(seg);
    let dup = l[2].clone();
    l.insert(3, dup);
    write_lines(seg, &l);
    expect_failure(t.path(), seg, Some(4), "seq");
}

#[test]
fn swapped_lines() {
    let t = copy("swap-lines");
    let seg = &segments(t.path())[1];
    let mut l = lines(seg);
    l.swap(2, 3);
    write_lines(seg, &l);
    expect_failure(t.path(), seg, Some(3), "out of order");
}

#[test]
fn truncated_inside_a_line() {
    let t = copy("truncate-mid");
    let seg = &segments(t.path())[2];
    let len = std::fs::metadata(seg).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(seg)
        .unwrap()
        .set_len(len - 10)
        .unwrap();
    let n = lines(seg).len() as u64;
    expect_failure(t.path(), seg, Some(n), "truncated");
}

#[test]
fn last_segment_truncated_at_a_line_boundary() {
    let t = copy("truncate-last");
    let segs = segments(t.path());
    let last = segs.last().unwrap();
    let mut l = lines(last);
    assert!(l.len() >= 3, "the last segment needs two records to drop");
    l.truncate(l.len() - 2);
    write_lines(last, &l);
    let n = lines(&ckpt(t.path())).len() as u64;
    let e = expect_failure(t.path(), &ckpt(t.path()), Some(n), "chain holds only 158");
    assert!(
        e.reason
            .contains(&format!("segment {} is truncated", segs.len())),
        "{e}"
    );
}

#[test]
fn deleted_middle_segment() {
    let t = copy("delete-middle");
    let segs = segments(t.path());
    std::fs::remove_file(&segs[2]).unwrap();
    expect_failure(
        t.path(),
        &segs[3],
        None,
        "segment 3 of this chain is missing",
    );
}

#[test]
fn deleted_last_segment() {
    let t = copy("delete-last");
    let segs = segments(t.path());
    std::fs::remove_file(segs.last().unwrap()).unwrap();
    let n = lines(&ckpt(t.path())).len() as u64;
    let e = expect_failure(
        t.path(),
        &ckpt(t.path()),
        Some(n),
        "the last segment(s) were deleted",
    );
    assert!(e.reason.contains(&format!("segment {}", segs.len())), "{e}");
}

#[test]
fn deleted_checkpoint_log() {
    let t = copy("delete-ckpt");
    let c = ckpt(t.path());
    std::fs::remove_file(&c).unwrap();
    expect_failure(
        t.path(),
        &c,
        None,
        "checkpoint log of this chain is missing",
    );
}

#[test]
fn segment_replaced_by_one_of_another_chain() {
    let other = TempDir::new("other-chain");
    signed_log(other.path(), 160);
    let t = copy("replace-segment");
    let mine = segments(t.path());
    let theirs = segments(other.path());
    std::fs::copy(&theirs[1], &mine[1]).unwrap();
    expect_failure(t.path(), &mine[1], Some(1), "a segment of another chain");
}

#[test]
fn segment_renamed_into_a_gap() {
    let t = copy("rename-segment");
    let segs = segments(t.path());
    // Drop segment 4 and put a copy of segment 3 in its place.
    std::fs::copy(&segs[2], &segs[3]).unwrap();
    expect_failure(t.path(), &segs[3], Some(1), "renamed copy");
}

/// The full forgery: change a record, recompute every hash, header and checkpoint after it, and
/// sign the checkpoints with the attacker's own key. Internally consistent, so only the pinned
/// key catches it.
#[test]
fn forged_and_resigned_with_another_key() {
    let t = copy("resign");
    let segs = segments(t.path());
    let mut head = ChainHead::default();
    let mut by_count = std::collections::BTreeMap::new();
    let mut last: Option<(u64, RecordHash)> = None;
    for seg in &segs {
        let l = lines(seg);
        let mut out = Vec::new();
        let mut header = SegmentHeader::parse(l[0].trim_end()).unwrap();
        header.prev_seq = last.map(|p| p.0);
        header.prev_hash = last.map_or(audit_runtime::chain::GENESIS_PREV.to_owned(), |p| {
            p.1.to_hex()
        });
        out.push(format!("{}\n", format::seal(&header).unwrap().0));
        for line in &l[1..] {
            let (mut r, _) = check_line(line.trim_end()).unwrap();
            if r.seq == 40 {
                r.outcome.as_mut().unwrap().value.as_mut().unwrap().value =
                    Some(serde_json::json!(false));
            }
            let sealed = head.seal(r).unwrap();
            last = Some((sealed.seq(), sealed.hash));
            by_count.insert(sealed.seq() + 1, sealed.hash);
            out.push(format!("{}\n", sealed.line));
        }
        write_lines(seg, &out);
    }
    // Format 3: the forger also recomputes the Merkle tree over every line it rewrote.
    let mut tree = audit_runtime::merkle::MerkleTree::new();
    for seg in &segs {
        for line in lines(seg) {
            tree.push(line.trim_end_matches('\n').as_bytes());
        }
    }
    let ck = ckpt(t.path());
    let mut out = Vec::new();
    for line in lines(&ck) {
        let (_, mut body) = CheckpointLine::parse(line.trim_end()).unwrap();
        body.head = by_count[&body.count];
        let t = body.tree.as_mut().unwrap();
        t.root = tree.root_at(t.size).unwrap();
        let note = attacker().sign(&body.to_text()).unwrap();
        out.push(format!(
            "{}\n",
            format::seal(&CheckpointLine::new(&body, note)).unwrap().0
        ));
    }
    write_lines(&ck, &out);
    // Without a pinned key the forgery is internally consistent.
    let unpinned = verify_dir(t.path(), &VerifyOptions::default()).unwrap();
    assert_eq!(unpinned.records(), 160);
    let e = expect_failure(t.path(), &ck, Some(1), "not signed by the pinned key");
    assert!(e.reason.contains(&attacker().verifier().label()), "{e}");
}

#[test]
fn checkpoint_edited_and_resealed_fails_its_signature() {
    let t = copy("ckpt-edit");
    let ck = ckpt(t.path());
    let mut l = lines(&ck);
    let (mut c, _) = CheckpointLine::parse(l[1].trim_end()).unwrap();
    // Format 3: the note's second line is the tree size.
    let size = c.size.unwrap();
    c.note = c
        .note
        .replacen(&format!("\n{size}\n"), &format!("\n{}\n", size - 1), 1);
    c.size = Some(size - 1);
    l[1] = format!("{}\n", format::seal(&c).unwrap().0);
    write_lines(&ck, &l);
    expect_failure(t.path(), &ck, Some(2), "does not verify");
}

#[test]
fn checkpoint_byte_flip_is_caught_without_a_key() {
    let t = copy("ckpt-flip");
    let ck = ckpt(t.path());
    let mut l = lines(&ck);
    l[0] = l[0].replacen("\"count\":", "\"count\":1", 1);
    write_lines(&ck, &l);
    let e = verify_dir(t.path(), &VerifyOptions::default()).unwrap_err();
    assert_eq!((e.file.as_path(), e.line), (ck.as_path(), Some(1)), "{e}");
}

#[test]
fn wrong_pinned_key() {
    let opts = VerifyOptions::pinned(attacker().verifier().clone());
    let e = verify_dir(pristine(), &opts).unwrap_err();
    assert!(e.reason.contains("not signed by the pinned key"), "{e}");
    assert!(
        e.reason.contains(&signer().verifier().label()),
        "names the key it is signed by: {e}"
    );
}

#[test]
fn corrupted_header() {
    let t = copy("header");
    let seg = &segments(t.path())[0];
    let mut l = lines(seg);
    l[0] = l[0].replacen("\"segment\":1", "\"segment\":2", 1);
    write_lines(seg, &l);
    expect_failure(t.path(), seg, Some(1), "corrupted header");
    l[0] = "{not json at all}\n".into();
    write_lines(seg, &l);
    expect_failure(t.path(), seg, Some(1), "hash");
}

#[test]
fn unknown_schema_format_and_hash_algorithm() {
    for (tag, field, value, reason) in [
        (
            "alg",
            "hash_alg",
            serde_json::json!("sha1"),
            "unknown hash algorithm \"sha1\"",
        ),
        (
            "format",
            "format",
            serde_json::json!(9),
            "unknown segment format 9",
        ),
    ] {
        let t = copy(tag);
        let seg = &segments(t.path())[0];
        let mut l = lines(seg);
        let mut v: serde_json::Value = serde_json::from_str(&l[0]).unwrap();
        v.as_object_mut().unwrap().remove("hash");
        v[field] = value;
        l[0] = format!("{}\n", format::seal(&v).unwrap().0);
        write_lines(seg, &l);
        expect_failure(t.path(), seg, Some(1), reason);
    }
    // In format 3 a header's `schema` only says what the writer wrote (integrity does not
    // depend on it), but the header is a leaf of the tree: changing it breaks the signed root.
    let t = copy("schema");
    let seg = &segments(t.path())[0];
    let mut l = lines(seg);
    let mut v: serde_json::Value = serde_json::from_str(&l[0]).unwrap();
    v.as_object_mut().unwrap().remove("hash");
    v["schema"] = serde_json::json!(2);
    l[0] = format!("{}\n", format::seal(&v).unwrap().0);
    write_lines(seg, &l);
    let e = verify_dir(t.path(), &pinned()).unwrap_err();
    assert!(e.reason.contains("a fork of the log"), "{e}");
}

#[test]
fn foreign_files_are_listed_and_ignored() {
    let t = copy("foreign");
    std::fs::write(t.path().join("README.txt"), "hello").unwrap();
    std::fs::write(t.path().join("notes.jsonl"), "{}\n").unwrap();
    std::fs::write(t.path().join("x.not-a-uuid.000001.jsonl"), "garbage").unwrap();
    let s = verify_dir(t.path(), &pinned()).unwrap();
    assert_eq!(s.foreign.len(), 3, "{s}");
    assert!(
        s.to_string()
            .contains("ignored file that is not part of the log: README.txt")
    );
}

#[test]
fn empty_and_missing_directories_are_errors_not_panics() {
    let t = TempDir::new("empty");
    let e = verify_dir(t.path(), &pinned()).unwrap_err();
    assert!(e.reason.contains("no audit log here"), "{e}");
    let e = verify_dir(&t.path().join("nope"), &pinned()).unwrap_err();
    assert!(e.reason.contains("cannot list"), "{e}");
}

#[test]
fn garbage_in_every_file_never_panics() {
    // Every prefix of a real segment, and bytes of noise, give errors or success, never a panic.
    let t = copy("garbage");
    let seg = segments(t.path())[0].clone();
    let original = std::fs::read(&seg).unwrap();
    // Verification stops at the first segment, so each run is cheap; 40 cuts spread over it.
    for cut in (0..original.len()).step_by(original.len() / 40 + 1) {
        std::fs::write(&seg, &original[..cut]).unwrap();
        assert!(
            verify_dir(t.path(), &VerifyOptions::default()).is_err(),
            "cut at {cut}"
        );
    }
    let mut noise = original.clone();
    for (i, b) in noise.iter_mut().enumerate() {
        if i % 13 == 5 {
            *b = b.wrapping_mul(31).wrapping_add(7);
        }
    }
    std::fs::write(&seg, &noise).unwrap();
    assert!(verify_dir(t.path(), &pinned()).is_err());
}

#[test]
fn several_chains_in_one_directory() {
    let t = TempDir::new("two-chains");
    let a = signed_log(t.path(), 30);
    let b = write_log(FileExporter::builder(t.path()).signing_key(signer()), 12);
    assert_ne!(a, b);
    let s = verify_dir(t.path(), &pinned()).unwrap();
    assert_eq!(s.chains.len(), 2);
    assert_eq!(s.records(), 42);
    assert!(s.to_string().contains("2 chain(s)"));
}

#[test]
fn the_cli_exits_nonzero_and_names_the_problem() {
    let bin = env!("CARGO_BIN_EXE_audit-verify");
    let t = copy("cli");
    let vkey = t
        .path()
        .join("..")
        .join(format!("{}.vkey", t.path().display()));
    std::fs::write(&vkey, signer().verifier().to_vkey()).unwrap();
    let ok = std::process::Command::new(bin)
        .arg(t.path())
        .args(["--key".as_ref(), vkey.as_os_str()])
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let out = String::from_utf8_lossy(&ok.stdout);
    assert!(
        out.contains("OK: 160 records") && out.contains("time span"),
        "{out}"
    );
    let seg = &segments(t.path())[1];
    let mut l = lines(seg);
    l.remove(4);
    write_lines(seg, &l);
    let bad = std::process::Command::new(bin)
        .arg(t.path())
        .args(["--key".as_ref(), vkey.as_os_str()])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains(&format!("FAILED: {}:5:", seg.display())),
        "{err}"
    );
    let usage = std::process::Command::new(bin)
        .arg("--bogus")
        .output()
        .unwrap();
    assert_eq!(usage.status.code(), Some(2));
    std::fs::remove_file(&vkey).unwrap();
}

/// Run the `audit-verify` binary with the pinned key (and `extra` arguments).
fn cli(dir: &Path, extra: &[&str]) -> std::process::Output {
    let vkey = dir.with_extension("vkey");
    std::fs::write(&vkey, signer().verifier().to_vkey()).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_audit-verify"))
        .arg(dir)
        .args(["--key".as_ref(), vkey.as_os_str()])
        .args(extra)
        .output()
        .unwrap();
    std::fs::remove_file(&vkey).unwrap();
    out
}

#[test]
fn emptied_checkpoint_log_under_a_pinned_key_is_unverified() {
    let t = copy("emptied-ckpt");
    let c = ckpt(t.path());
    std::fs::write(&c, b"").unwrap();
    let e = verify_dir(t.path(), &pinned()).expect_err("an emptied checkpoint log was vouched for");
    assert_eq!(e.file, c);
    assert!(
        e.reason.starts_with("unverified: 160 record(s)")
            && e.reason.contains("(seq 0..=159)")
            && e.reason.contains("the checkpoint log is empty"),
        "{e}"
    );
    let out = cli(t.path(), &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("FAILED:") && err.contains("unverified"),
        "{err}"
    );
    // Without a key the directory is only self-consistent, and the summary says so.
    let s = verify_dir(t.path(), &VerifyOptions::default()).unwrap();
    assert_eq!(s.uncovered(), 160);
    assert!(s.to_string().contains("nothing here is vouched for"), "{s}");
}

#[test]
fn fabricated_chain_without_a_checkpoint_is_unverified() {
    let t = copy("fabricated");
    // Whoever can write the directory adds a chain of their own: valid hashes and links, an
    // empty checkpoint log, no signature anywhere.
    let chain = audit_runtime::RecordId::now();
    let mut head = ChainHead::default();
    let records = seal_records(&mut head, chain, 12, &template());
    let header = SegmentHeader::new("tamper-test", chain, 1, None, "2026-12-01T00:00:00Z".into());
    let mut seg = format!("{}\n", format::seal(&header).unwrap().0);
    for r in &records {
        seg.push_str(&r.line);
        seg.push('\n');
    }
    std::fs::write(
        t.path()
            .join(format::segment_file_name("tamper-test", chain, 1)),
        seg,
    )
    .unwrap();
    let fake_ckpt = t
        .path()
        .join(format::checkpoint_file_name("tamper-test", chain));
    std::fs::write(&fake_ckpt, b"").unwrap();
    // Self-consistent, so without a key it passes (and says nothing is vouched for) ...
    let s = verify_dir(t.path(), &VerifyOptions::default()).unwrap();
    assert_eq!(s.records(), 172);
    // ... but under the pinned key it is named as unverified.
    let e = verify_dir(t.path(), &pinned()).expect_err("a fabricated chain was vouched for");
    assert_eq!(e.file, fake_ckpt);
    assert!(
        e.reason.contains("unverified: 12 record(s)") && e.reason.contains(&chain.to_string()),
        "{e}"
    );
    assert_eq!(cli(t.path(), &[]).status.code(), Some(1));
}

#[test]
fn crashed_tail_is_accepted_only_when_asked_and_said_so() {
    let t = copy("crashed-tail");
    // The image a crash between the last records and their checkpoint leaves: the final
    // checkpoint line is gone, the records it would have covered are there.
    let c = ckpt(t.path());
    let mut l = lines(&c);
    l.pop();
    let (_, before) = CheckpointLine::parse(l.last().unwrap().trim_end()).unwrap();
    write_lines(&c, &l);
    let tail = 160 - before.count;
    assert!(tail > 0);
    let e = verify_dir(t.path(), &pinned()).unwrap_err();
    assert!(
        e.reason
            .starts_with(&format!("unverified: {tail} record(s)")),
        "{e}"
    );
    let s = verify_dir(t.path(), &pinned().allow_unsigned_tail(true)).unwrap();
    assert_eq!((s.records(), s.uncovered()), (160, tail));
    let text = s.to_string();
    assert!(
        text.contains(&format!(
            "WARNING: {tail} record(s) after the latest signed checkpoint are unverified"
        )) && text.contains("--allow-unsigned-tail"),
        "{text}"
    );
    assert_eq!(cli(t.path(), &[]).status.code(), Some(1));
    let ok = cli(t.path(), &["--allow-unsigned-tail"]);
    assert_eq!(ok.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&ok.stdout).contains("WARNING"));
    // A clean log says nothing of the kind.
    let clean = verify_dir(pristine(), &pinned().allow_unsigned_tail(true)).unwrap();
    assert!(!clean.to_string().contains("WARNING"), "{clean}");
}
