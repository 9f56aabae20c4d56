//! The file exporter as the runtime's fallback: it receives each failed batch once, however
//! many primaries failed it, writes the records it never received as gap lines, and its
//! directory verifies under the pinned key with those gaps reported.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use audit_exporters::file::format::{self, GapLine};
use audit_exporters::file::{FileExporter, GapInfo, VerifyOptions, verify_dir};
use audit_runtime::AuditRuntime;
use audit_runtime::chain::{ChainHead, SealedRecord};
use audit_runtime::export::{ExportError, Exporter};
use common::*;

/// A primary that is down while its switch is on, and remembers the seqs it took.
#[derive(Clone)]
struct Switchable {
    name: &'static str,
    down: Arc<AtomicBool>,
    took: Arc<Mutex<Vec<u64>>>,
}

impl Switchable {
    fn new(name: &'static str) -> Self {
        Switchable {
            name,
            down: Arc::default(),
            took: Arc::default(),
        }
    }
    fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }
    fn took(&self) -> Vec<u64> {
        self.took.lock().unwrap().clone()
    }
}

impl Exporter for Switchable {
    fn name(&self) -> &str {
        self.name
    }
    fn export(&mut self, batch: &[SealedRecord]) -> Result<(), ExportError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(ExportError::permanent(format!("{} is down", self.name)));
        }
        self.took
            .lock()
            .unwrap()
            .extend(batch.iter().map(SealedRecord::seq));
        Ok(())
    }
}

/// Runs of consecutive seqs in `0..end` that are not in `present`.
fn missing_runs(present: &[u64], end: u64) -> Vec<(u64, u64)> {
    let mut runs = Vec::new();
    let mut start = None;
    for s in 0..end {
        match (present.contains(&s), start) {
            (false, None) => start = Some(s),
            (true, Some(a)) => {
                runs.push((a, s - 1));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(a) = start {
        runs.push((a, end - 1));
    }
    runs
}

#[test]
fn two_failing_primaries_and_a_file_fallback() {
    let t = TempDir::new("fallback");
    let a = Switchable::new("primary-a");
    let b = Switchable::new("primary-b");
    let file = FileExporter::builder(t.path())
        .max_segment_bytes(4096)
        .checkpoint_every_records(Some(4))
        .signing_key(signer())
        .open()
        .unwrap();
    let guard = AuditRuntime::builder()
        .service("fallback-test")
        .retries(0, std::time::Duration::from_millis(1))
        .exporter(a.clone())
        .exporter(b.clone())
        .fallback(file)
        .install_thread_local()
        .unwrap();
    // (a down, b down, decisions): both up, one down, both down, both up, both down.
    let phases = [
        (false, false, 5),
        (true, false, 4),
        (true, true, 6),
        (false, false, 7),
        (false, true, 3),
        (true, true, 5),
    ];
    for (i, &(a_down, b_down, n)) in phases.iter().enumerate() {
        a.set_down(a_down);
        b.set_down(b_down);
        for k in 0..n {
            approve(i as u64 * 100 + k, "phase");
        }
        guard.flush().unwrap();
    }
    let stats = guard.shutdown();
    let (took_a, took_b) = (a.took(), b.took());
    let end = stats.sealed;
    // What the fallback must hold: every record some primary failed, each once.
    let mut expected: Vec<u64> = (0..end)
        .filter(|s| !took_a.contains(s) || !took_b.contains(s))
        .collect();
    expected.sort_unstable();
    let fb = stats.fallback.clone().unwrap();
    assert_eq!(fb.failed, 0, "{stats:?}");
    assert_eq!(
        fb.exported,
        expected.len() as u64,
        "each batch once: {stats:?}"
    );
    assert_eq!(
        stats.exporters[0].fell_back,
        end - took_a.len() as u64,
        "{stats:?}"
    );
    assert_eq!(
        stats.exporters[1].fell_back,
        end - took_b.len() as u64,
        "{stats:?}"
    );

    let s = verify_dir(
        t.path(),
        &VerifyOptions::pinned(signer().verifier().clone()),
    )
    .unwrap_or_else(|e| panic!("the fallback's directory does not verify: {e}"));
    let c = &s.chains[0];
    assert_eq!(c.chain, stats_chain(t.path()));
    assert_eq!(c.records, expected.len() as u64);
    assert_eq!(c.records + c.absent, end);
    assert_eq!(c.uncovered, 0, "closed at shutdown with a checkpoint");
    let gaps: Vec<(u64, u64)> = c.gaps.iter().map(|g| (g.from_seq, g.to_seq)).collect();
    assert_eq!(gaps, missing_runs(&expected, end));
    assert!(!gaps.is_empty());
    assert!(
        c.gaps
            .iter()
            .all(|g: &GapInfo| g.reason == format::GAP_NOT_RECEIVED)
    );

    // The command line says the same, with the gaps, and exits 0.
    let vkey = t.path().join("..").join(format!("{}.vkey", c.chain));
    std::fs::write(&vkey, signer().verifier().to_vkey()).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_audit-verify"))
        .arg(t.path())
        .args(["--key".as_ref(), vkey.as_os_str()])
        .output()
        .unwrap();
    std::fs::remove_file(&vkey).unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (g0, g1) = gaps[0];
    assert!(
        text.contains(&format!(
            "{} records absent in {} gap(s)",
            c.absent,
            gaps.len()
        )) && text.contains(&format!("gap: seq {g0}..={g1} absent: not received")),
        "{text}"
    );
}

/// The chain id from the fallback directory's checkpoint log name.
fn stats_chain(dir: &std::path::Path) -> audit_runtime::RecordId {
    let ckpt = &files_ending(dir, ".ckpt")[0];
    match format::classify(&ckpt.file_name().unwrap().to_string_lossy()) {
        format::FileKind::CheckpointLog { chain, .. } => chain,
        other => panic!("{other:?}"),
    }
}

/// A log with a gap in the middle, written by driving the exporter directly: it starts in
/// format 1 and moves to a format-2 segment at the gap.
fn gapped_log(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    gapped_log_in(dir, audit_exporters::file::FileFormat::Chain)
}

fn gapped_log_in(
    dir: &std::path::Path,
    format: audit_exporters::file::FileFormat,
) -> Vec<std::path::PathBuf> {
    let mut w = FileExporter::builder(dir)
        .file_format(format)
        .checkpoint_every_records(Some(3))
        .signing_key(signer())
        .open()
        .unwrap();
    let chain = audit_runtime::RecordId::now();
    let tpl = template();
    let mut head = ChainHead::default();
    w.export(&seal_records(&mut head, chain, 4, &tpl)).unwrap();
    let _skipped = seal_records(&mut head, chain, 6, &tpl);
    w.export(&seal_records(&mut head, chain, 3, &tpl)).unwrap();
    let _skipped = seal_records(&mut head, chain, 2, &tpl);
    w.export(&seal_records(&mut head, chain, 2, &tpl)).unwrap();
    w.shutdown().unwrap();
    files_ending(dir, ".jsonl")
}

#[test]
fn a_gap_moves_the_chain_to_format_2_and_the_verifier_reports_it() {
    let t = TempDir::new("gap-format");
    let segs = gapped_log(t.path());
    assert_eq!(segs.len(), 2, "{segs:?}");
    assert!(lines(&segs[0])[0].contains("\"format\":1"));
    assert!(lines(&segs[1])[0].contains("\"format\":2"));
    assert!(lines(&segs[0]).iter().all(|l| !GapLine::is_gap(l)));
    let s = verify_dir(
        t.path(),
        &VerifyOptions::pinned(signer().verifier().clone()),
    )
    .unwrap();
    let c = &s.chains[0];
    let gaps: Vec<(u64, u64)> = c.gaps.iter().map(|g| (g.from_seq, g.to_seq)).collect();
    assert_eq!(gaps, [(4, 9), (13, 14)]);
    assert_eq!((c.records, c.absent), (9, 8));
    let ckpt = lines(&files_ending(t.path(), ".ckpt")[0]);
    assert!(
        ckpt[0].contains("\"format\":1"),
        "before the gap: {}",
        ckpt[0]
    );
    assert!(
        ckpt.last().unwrap().contains("\"format\":2")
            && ckpt.last().unwrap().contains("\"absent\":8"),
        "{}",
        ckpt.last().unwrap()
    );
}

#[test]
fn gaps_cannot_be_removed_widened_or_made_up() {
    let key = VerifyOptions::pinned(signer().verifier().clone());
    let pristine = TempDir::new("gap-pristine");
    let segs = gapped_log(pristine.path());
    let seg2 = segs[1].file_name().unwrap().to_owned();

    // A gap line deleted: the record after it no longer links.
    let t = TempDir::new("gap-deleted");
    copy_dir(pristine.path(), t.path());
    let mut l = lines(&t.path().join(&seg2));
    let at = l.iter().position(|x| GapLine::is_gap(x)).unwrap();
    l.remove(at);
    write_lines(&t.path().join(&seg2), &l);
    assert!(verify_dir(t.path(), &key).is_err());

    // The second gap widened over a real record (which is removed) and resealed: the gap chain
    // still links, but the signed checkpoints stated fewer absent records.
    let t = TempDir::new("gap-widened");
    copy_dir(pristine.path(), t.path());
    let mut l = lines(&t.path().join(&seg2));
    let second = l
        .iter()
        .enumerate()
        .filter(|(_, x)| GapLine::is_gap(x))
        .nth(1)
        .unwrap()
        .0;
    let (mut g, _) = GapLine::parse(l[second].trim_end()).unwrap();
    let (removed, _) = audit_runtime::chain::check_line(l[second - 1].trim_end()).unwrap();
    g.from_seq -= 1;
    g.prev = removed.prev.clone();
    l[second] = format!("{}\n", format::seal(&g).unwrap().0);
    l.remove(second - 1);
    write_lines(&t.path().join(&seg2), &l);
    let e = verify_dir(t.path(), &key).unwrap_err();
    assert!(
        e.reason.contains("gap was added, removed or altered"),
        "{e}"
    );

    // A gap line in a format-1 segment is refused as such.
    let t = TempDir::new("gap-in-v1");
    copy_dir(pristine.path(), t.path());
    let seg1 = t.path().join(segs[0].file_name().unwrap());
    let mut l = lines(&seg1);
    let gap = lines(&t.path().join(&seg2))
        .into_iter()
        .find(|x| GapLine::is_gap(x))
        .unwrap();
    l.insert(2, gap);
    write_lines(&seg1, &l);
    let e = verify_dir(t.path(), &key).unwrap_err();
    assert!(e.reason.contains("format-1 segment"), "{e}");
}

#[test]
fn every_edit_of_a_gapped_segment_fails_under_the_pinned_key_and_none_panics() {
    use audit_exporters::file::FileFormat;
    for format in [FileFormat::Chain, FileFormat::Merkle] {
        every_edit_fails_in(format);
    }
}

fn every_edit_fails_in(format: audit_exporters::file::FileFormat) {
    let key = VerifyOptions::pinned(signer().verifier().clone());
    let pristine = TempDir::new("gap-edits");
    let segs = gapped_log_in(pristine.path(), format);
    if format == audit_exporters::file::FileFormat::Merkle {
        assert!(lines(&segs[0])[0].contains("\"format\":3"));
        assert!(lines(&segs[0]).iter().any(|l| GapLine::is_gap(l)));
        let s = verify_dir(pristine.path(), &key).unwrap();
        let gaps: Vec<(u64, u64)> = s.chains[0]
            .gaps
            .iter()
            .map(|g| (g.from_seq, g.to_seq))
            .collect();
        assert_eq!(gaps, [(4, 9), (13, 14)]);
    }
    let mut cases = 0;
    for seg in &segs {
        let name = seg.file_name().unwrap().to_owned();
        let l = lines(seg);
        for i in 0..l.len() {
            let mut edits: Vec<Vec<String>> = Vec::new();
            let mut deleted = l.clone();
            deleted.remove(i);
            edits.push(deleted);
            let mut doubled = l.clone();
            doubled.insert(i, l[i].clone());
            edits.push(doubled);
            if i + 1 < l.len() {
                let mut swapped = l.clone();
                swapped.swap(i, i + 1);
                edits.push(swapped);
            }
            let mut cut = l.clone();
            cut[i] = format!("{}\n", &l[i][..l[i].len() / 2]);
            edits.push(cut);
            let mut flipped = l.clone();
            let mut bytes = l[i].clone().into_bytes();
            let at = (i * 7919) % (bytes.len() - 1);
            bytes[at] ^= 0x01;
            flipped[i] = String::from_utf8_lossy(&bytes).into_owned();
            edits.push(flipped);
            for edited in edits {
                let t = TempDir::new("gap-edit");
                copy_dir(pristine.path(), t.path());
                write_lines(&t.path().join(&name), &edited);
                let r = std::panic::catch_unwind(|| verify_dir(t.path(), &key));
                let r =
                    r.unwrap_or_else(|_| panic!("the verifier panicked on an edit of line {i}"));
                assert!(
                    r.is_err(),
                    "an edit of {}:{} went unnoticed",
                    name.to_string_lossy(),
                    i + 1
                );
                cases += 1;
            }
        }
    }
    assert!(cases > 50, "{cases}");
}

#[test]
fn a_gap_line_after_the_latest_checkpoint_is_unverified() {
    // Someone appends a gap line claiming later records were "not received": valid hashes and
    // links, but no signature covers the claim.
    let t = TempDir::new("gap-appended");
    let segs = gapped_log(t.path());
    let last = segs.last().unwrap();
    let l = lines(last);
    let (_, prev_gap) = GapLine::parse(
        l.iter()
            .rev()
            .find(|x| GapLine::is_gap(x))
            .unwrap()
            .trim_end(),
    )
    .unwrap();
    let (tail, hash) = audit_runtime::chain::check_line(l.last().unwrap().trim_end()).unwrap();
    let fake = GapLine::new(
        tail.service.instance,
        tail.seq + 1,
        tail.seq + 50,
        hash,
        audit_runtime::chain::RecordHash([7; 32]),
        prev_gap,
        format::GAP_NOT_RECEIVED,
    );
    let mut l = l;
    l.push(format!("{}\n", format::seal(&fake).unwrap().0));
    write_lines(last, &l);
    let key = VerifyOptions::pinned(signer().verifier().clone());
    let e = verify_dir(t.path(), &key).unwrap_err();
    assert!(
        e.reason
            .starts_with("unverified: 0 record(s) and 1 gap line(s)"),
        "{e}"
    );
    let s = verify_dir(t.path(), &key.allow_unsigned_tail(true)).unwrap();
    assert!(
        s.to_string()
            .contains("0 record(s) and 1 gap line(s) after the latest signed"),
        "{s}"
    );
}
