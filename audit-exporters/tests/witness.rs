//! The C2SP tlog-witness over real loopback TCP: a real `Witness` server, the real
//! `WitnessClient`, hostile bytes on raw sockets, a restart on the same state directory, the
//! `audit-verify witness` binary, and a golden cosigned checkpoint.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use audit_exporters::file::note::NoteSigner;
use audit_exporters::witness::{
    CosignatureError, CosignatureSigner, TLOG_SIZE_CONTENT_TYPE, Witness, WitnessClient,
    WitnessError, WitnessHandle, WitnessKey, state_file_name, verify_cosignature,
};
use audit_runtime::merkle::tlog::Checkpoint;
use audit_runtime::merkle::{CompactTree, MerkleTree, TreeHash, consistency_proof_from_frontier};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

const ORIGIN: &str = "audit-sdk.test/log";
const WITNESS_NAME: &str = "witness.test/w1";
const NOW: u64 = 1_700_000_000;

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        static N: AtomicU64 = AtomicU64::new(0);
        let p = std::env::temp_dir().join(format!(
            "audit-witness-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        TempDir(p)
    }
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn log_signer() -> NoteSigner {
    NoteSigner::from_seed(ORIGIN, [0x11; 32]).unwrap()
}

fn witness_signer() -> CosignatureSigner {
    CosignatureSigner::from_seed(WITNESS_NAME, [0x22; 32]).unwrap()
}

/// A log of `leaf_hash(tag || i)` leaves, signed by `signer`.
struct Log {
    signer: NoteSigner,
    origin: String,
    tag: &'static str,
    tree: MerkleTree,
}

impl Log {
    fn new(tag: &'static str) -> Self {
        Self::with(log_signer(), ORIGIN, tag)
    }
    fn with(signer: NoteSigner, origin: &str, tag: &'static str) -> Self {
        Self {
            signer,
            origin: origin.to_owned(),
            tag,
            tree: MerkleTree::new(),
        }
    }
    fn grow_to(&mut self, n: u64) {
        while self.tree.len() < n {
            let i = self.tree.len();
            self.tree.push(format!("{} {i}", self.tag).as_bytes());
        }
    }
    fn note(&mut self, n: u64) -> String {
        self.grow_to(n);
        let body = Checkpoint::new(&self.origin, n, self.tree.root_at(n).unwrap())
            .unwrap()
            .to_body();
        self.signer.sign(&body).unwrap()
    }
    /// The proof the way a log writer makes it: frontier at `m` plus the new leaf hashes.
    fn proof(&mut self, m: u64, n: u64) -> Vec<TreeHash> {
        self.grow_to(n);
        let mut compact = CompactTree::new();
        for i in 0..m {
            compact
                .append_leaf_hash(self.tree.leaf_hash(i).unwrap())
                .unwrap();
        }
        let new: Vec<TreeHash> = (m..n).map(|i| self.tree.leaf_hash(i).unwrap()).collect();
        let proof = consistency_proof_from_frontier(&compact, &new).unwrap();
        assert_eq!(proof, self.tree.consistency_proof(m, n).unwrap());
        proof
    }
}

fn witness(dir: &Path) -> Witness {
    Witness::builder(witness_signer(), dir)
        .log(ORIGIN, log_signer().verifier().clone())
        .clock(|| NOW)
        .request_timeout(Duration::from_millis(800))
        .idle_timeout(Duration::from_secs(2))
        .build()
        .unwrap()
}

fn client(handle: &WitnessHandle) -> WitnessClient {
    WitnessClient::new(&handle.url(), witness_signer().public().clone())
        .unwrap()
        .timeout(Duration::from_secs(5))
}

/// An independent check of a cosignature line, written from C2SP tlog-cosignature alone:
/// key ID = SHA-256(name || 0x0A || 0x04 || public key)[:4], then a big-endian u64 timestamp,
/// then Ed25519 over "cosignature/v1\ntime <t>\n" || checkpoint text.
fn independent_check(line: &str, name: &str, public: &[u8; 32], text: &str) -> u64 {
    use sha2::Digest as _;
    let rest = line
        .strip_suffix('\n')
        .unwrap()
        .strip_prefix("\u{2014} ")
        .unwrap();
    let (n, b64) = rest.split_once(' ').unwrap();
    assert_eq!(n, name);
    let raw = B64.decode(b64).unwrap();
    assert_eq!(raw.len(), 76);
    let mut h = sha2::Sha256::new();
    h.update(name.as_bytes());
    h.update([0x0a, 0x04]);
    h.update(public);
    assert_eq!(raw[..4], h.finalize()[..4]);
    let t = u64::from_be_bytes(raw[4..12].try_into().unwrap());
    let msg = format!("cosignature/v1\ntime {t}\n{text}");
    let key = ed25519_dalek::VerifyingKey::from_bytes(public).unwrap();
    let sig = ed25519_dalek::Signature::from_bytes(&raw[12..].try_into().unwrap());
    key.verify_strict(msg.as_bytes(), &sig).unwrap();
    t
}

fn witness_public() -> [u8; 32] {
    ed25519_dalek::SigningKey::from_bytes(&[0x22; 32])
        .verifying_key()
        .to_bytes()
}

fn text_of(note: &str) -> &str {
    &note[..note.rfind("\n\n").unwrap() + 1]
}

#[test]
fn cosigns_a_first_checkpoint_then_a_consistent_extension() {
    let dir = TempDir::new("extend");
    let w = witness(dir.path());
    let handle = w.serve("127.0.0.1:0").unwrap();
    let c = client(&handle);
    let mut log = Log::new("record");

    let note5 = log.note(5);
    let cosig = c.add_checkpoint(0, &[], &note5).unwrap();
    assert_eq!(cosig.timestamp(), NOW);
    assert_eq!(
        independent_check(
            cosig.line(),
            WITNESS_NAME,
            &witness_public(),
            text_of(&note5)
        ),
        NOW
    );
    let cosigned = cosig.append_to(&note5);
    assert_eq!(
        verify_cosignature(witness_signer().public(), &cosigned),
        Ok(NOW)
    );
    // The log's own key still verifies the note with the cosignature appended.
    log_signer().verifier().verify(&cosigned).unwrap();
    assert_eq!(w.latest(ORIGIN), Some((5, log.tree.root_at(5).unwrap())));

    for (m, n) in [(5, 9), (9, 9), (9, 16), (16, 17), (17, 100)] {
        let proof = log.proof(m, n);
        let note = log.note(n);
        let cosig = c
            .add_checkpoint(m, &proof, &note)
            .unwrap_or_else(|e| panic!("{m} -> {n}: {e}"));
        independent_check(
            cosig.line(),
            WITNESS_NAME,
            &witness_public(),
            text_of(&note),
        );
        assert_eq!(w.latest(ORIGIN).unwrap().0, n);
    }
    // The state file is the signed checkpoint, verbatim, mode 0600.
    let file = dir.path().join(state_file_name(ORIGIN));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), log.note(100));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    assert!(handle.shutdown());
}

#[test]
fn refuses_rollbacks_and_forks() {
    let dir = TempDir::new("refuse");
    let w = witness(dir.path());
    let handle = w.serve("127.0.0.1:0").unwrap();
    let c = client(&handle);
    let mut log = Log::new("record");
    let note9 = log.note(9);
    c.add_checkpoint(0, &[], &note9).unwrap();
    let root9 = log.tree.root_at(9).unwrap();

    // Rollback: a smaller checkpoint claimed from the witness's size: old above the size.
    let note7 = log.note(7);
    assert!(matches!(
        c.add_checkpoint(9, &[], &note7),
        Err(WitnessError::BadRequest(m)) if m.contains("old size 9 is above the checkpoint size 7")
    ));
    // Rollback: a smaller checkpoint from an older size: 409 with the witness's size.
    let proof = log.proof(5, 7);
    match c.add_checkpoint(5, &proof, &note7) {
        Err(WitnessError::Conflict { witness_size: 9 }) => {}
        other => panic!("{other:?}"),
    }
    // A client without state asks with old 0 and learns the size.
    assert!(matches!(
        c.add_checkpoint(0, &[], &log.note(12)),
        Err(WitnessError::Conflict { witness_size: 9 })
    ));

    // Fork at the same size: another tree of 9 leaves.
    let mut fork = Log::new("forged");
    let fork9 = fork.note(9);
    match c.add_checkpoint(9, &[], &fork9) {
        Err(WitnessError::Fork(m)) => assert!(m.contains("fork"), "{m}"),
        other => panic!("{other:?}"),
    }
    // Fork at a bigger size: the forged tree's proof does not start at the cosigned root.
    let proof = fork.proof(9, 12);
    let fork12 = fork.note(12);
    match c.add_checkpoint(9, &proof, &fork12) {
        Err(WitnessError::ProofRejected(m)) => assert!(m.contains("9 to 12"), "{m}"),
        other => panic!("{other:?}"),
    }
    // A tampered proof of the real log, and a proof of the wrong length.
    let mut proof = log.proof(9, 12);
    proof[0].0[0] ^= 1;
    let note12 = log.note(12);
    assert!(matches!(
        c.add_checkpoint(9, &proof, &note12),
        Err(WitnessError::ProofRejected(_))
    ));
    assert!(matches!(
        c.add_checkpoint(9, &proof[1..], &note12),
        Err(WitnessError::ProofRejected(_))
    ));
    // Nothing moved the state.
    assert_eq!(w.latest(ORIGIN), Some((9, root9)));
    let proof = log.proof(9, 12);
    c.add_checkpoint(9, &proof, &note12).unwrap();
    handle.shutdown();
}

#[test]
fn refuses_unknown_logs_and_untrusted_keys() {
    let dir = TempDir::new("keys");
    let w = witness(dir.path());
    let handle = w.serve("127.0.0.1:0").unwrap();
    let c = client(&handle);
    let other_origin = NoteSigner::from_seed("other.test/log", [0x11; 32]).unwrap();
    let mut unknown = Log::with(other_origin, "other.test/log", "record");
    match c.add_checkpoint(0, &[], &unknown.note(3)) {
        Err(WitnessError::UnknownLog(m)) => assert!(m.contains("other.test/log"), "{m}"),
        other => panic!("{other:?}"),
    }
    // Same origin and key name, another key: 403.
    let attacker = NoteSigner::from_seed(ORIGIN, [0x66; 32]).unwrap();
    let mut forged = Log::with(attacker, ORIGIN, "record");
    match c.add_checkpoint(0, &[], &forged.note(3)) {
        Err(WitnessError::Untrusted(m)) => {
            assert!(m.contains("not signed by the pinned key"), "{m}")
        }
        other => panic!("{other:?}"),
    }
    // The right key over an altered text: 403 too.
    let mut log = Log::new("record");
    let altered = log.note(3).replacen("\n3\n", "\n4\n", 1);
    assert!(matches!(
        c.add_checkpoint(0, &[], &altered),
        Err(WitnessError::Untrusted(_))
    ));
    assert_eq!(w.latest(ORIGIN), None);
    // A note with a foreign signature as well as the log's is accepted: unknown keys are ignored.
    let note = log.note(3);
    let extra = NoteSigner::from_seed("someone.else", [0x77; 32])
        .unwrap()
        .sign(text_of(&note))
        .unwrap();
    let both = format!("{note}{}", &extra[extra.rfind("\n\n").unwrap() + 2..]);
    c.add_checkpoint(0, &[], &both).unwrap();
    // So is one that already carries another witness's cosignature (76-byte signature line).
    let proof = log.proof(3, 4);
    let note4 = log.note(4);
    let other_witness = CosignatureSigner::from_seed("witness.test/w2", [0x44; 32]).unwrap();
    let with_cosig = format!(
        "{note4}{}",
        other_witness.cosign(text_of(&note4), NOW).unwrap()
    );
    let cosig = c.add_checkpoint(3, &proof, &with_cosig).unwrap();
    let both = cosig.append_to(&with_cosig);
    assert_eq!(
        verify_cosignature(witness_signer().public(), &both),
        Ok(NOW)
    );
    assert_eq!(verify_cosignature(other_witness.public(), &both), Ok(NOW));
    handle.shutdown();
}

#[test]
fn state_survives_a_restart() {
    let dir = TempDir::new("restart");
    let mut log = Log::new("record");
    {
        let w = witness(dir.path());
        let handle = w.serve("127.0.0.1:0").unwrap();
        client(&handle)
            .add_checkpoint(0, &[], &log.note(10))
            .unwrap();
        assert!(handle.shutdown());
    }
    // A new server struct on the same state directory.
    let w = witness(dir.path());
    assert_eq!(w.latest(ORIGIN), Some((10, log.tree.root_at(10).unwrap())));
    let handle = w.serve("127.0.0.1:0").unwrap();
    let c = client(&handle);
    assert!(matches!(
        c.add_checkpoint(0, &[], &log.note(11)),
        Err(WitnessError::Conflict { witness_size: 10 })
    ));
    let proof = log.proof(10, 11);
    c.add_checkpoint(10, &proof, &log.note(11)).unwrap();
    handle.shutdown();

    // A state file that is not a checkpoint, or one under another origin's name, stops the load.
    let file = dir.path().join(state_file_name(ORIGIN));
    std::fs::write(&file, "garbage").unwrap();
    let err = Witness::builder(witness_signer(), dir.path())
        .log(ORIGIN, log_signer().verifier().clone())
        .build()
        .unwrap_err();
    assert!(err.to_string().contains(&state_file_name(ORIGIN)), "{err}");
    let mut other = Log::with(log_signer(), "other.test/log", "x");
    std::fs::write(&file, other.note(1)).unwrap();
    let err = Witness::builder(witness_signer(), dir.path())
        .log(ORIGIN, log_signer().verifier().clone())
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("other.test/log"), "{err}");
}

#[test]
fn a_failed_state_write_is_sticky_until_restart() {
    let dir = TempDir::new("sticky");
    let w = witness(dir.path());
    let mut log = Log::new("record");
    assert_eq!(
        w.add_checkpoint(format!("old 0\n\n{}", log.note(4)).as_bytes())
            .status,
        200
    );
    // A directory where the temporary state file goes: creating the file fails (as root too).
    let blocker = dir.path().join(format!("{}.tmp", state_file_name(ORIGIN)));
    std::fs::create_dir(&blocker).unwrap();
    let body = |m: u64, n: u64, log: &mut Log| {
        let mut b = format!("old {m}\n");
        for h in log.proof(m, n) {
            b.push_str(&h.to_base64());
            b.push('\n');
        }
        b.push('\n');
        b.push_str(&log.note(n));
        b
    };
    let r = w.add_checkpoint(body(4, 6, &mut log).as_bytes());
    assert_eq!(r.status, 500, "{r:?}");
    assert!(
        String::from_utf8_lossy(&r.body).contains("create of"),
        "{r:?}"
    );
    assert_eq!(w.latest(ORIGIN).unwrap().0, 4, "not cosigned, not moved");
    // Even once the fault is gone, this witness refuses to write: the disk state is unknown.
    std::fs::remove_dir(&blocker).unwrap();
    let r = w.add_checkpoint(body(4, 6, &mut log).as_bytes());
    assert_eq!(r.status, 503, "{r:?}");
    // A restart reloads the state from the directory and serves again.
    let w = witness(dir.path());
    assert_eq!(w.latest(ORIGIN).unwrap().0, 4);
    assert_eq!(
        w.add_checkpoint(body(4, 6, &mut log).as_bytes()).status,
        200
    );
    // Leftover temporary files are not state.
    std::fs::write(&blocker, "partial").unwrap();
    assert_eq!(witness(dir.path()).latest(ORIGIN).unwrap().0, 6);
}

#[test]
fn racing_requests_from_one_size_cosign_exactly_one() {
    let dir = TempDir::new("race");
    let w = witness(dir.path());
    let handle = w.serve("127.0.0.1:0").unwrap();
    let c = client(&handle);
    let mut log = Log::new("record");
    c.add_checkpoint(0, &[], &log.note(4)).unwrap();
    let jobs: Vec<(u64, Vec<TreeHash>, String)> =
        (5..13).map(|n| (n, log.proof(4, n), log.note(n))).collect();
    let results: Vec<(u64, Result<_, WitnessError>)> = std::thread::scope(|s| {
        let hs: Vec<_> = jobs
            .iter()
            .map(|(n, p, note)| {
                let c = c.clone();
                s.spawn(move || (*n, c.add_checkpoint(4, p, note)))
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let winners: Vec<u64> = results
        .iter()
        .filter(|(_, r)| r.is_ok())
        .map(|(n, _)| *n)
        .collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    for (_, r) in &results {
        if let Err(e) = r {
            assert!(
                matches!(e, WitnessError::Conflict { witness_size } if *witness_size == winners[0]),
                "{e}"
            );
        }
    }
    assert_eq!(w.latest(ORIGIN).unwrap().0, winners[0]);
    handle.shutdown();
}

/// Send raw bytes, half-close, and read what comes back (empty if the server just closed).
fn raw_exchange(addr: std::net::SocketAddr, bytes: &[u8], half_close: bool) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    // The server may refuse and close before it has read everything: ignore write errors.
    let _ = s.write_all(bytes);
    if half_close {
        let _ = s.shutdown(Shutdown::Write);
    }
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn status_of(response: &str) -> u16 {
    response
        .strip_prefix("HTTP/1.1 ")
        .and_then(|r| r.get(..3))
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {response:?}"))
}

#[test]
fn hostile_requests_get_4xx_and_the_server_keeps_serving() {
    let dir = TempDir::new("hostile");
    let w = witness(dir.path());
    let handle = w.serve("127.0.0.1:0").unwrap();
    let addr = handle.local_addr();
    let mut log = Log::new("record");
    let good_body = format!("old 0\n\n{}", log.note(3));
    let post = |body: &str| {
        format!(
            "POST /add-checkpoint HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    let huge_head = format!(
        "POST /add-checkpoint HTTP/1.1\r\nX: {}\r\n",
        "a".repeat(20_000)
    );
    let cases: Vec<(Vec<u8>, u16)> = vec![
        (b"hello\r\n\r\n".to_vec(), 400),
        (b"\x00\xff\xfe garbage \r\n\r\n".to_vec(), 400),
        (b"POST /add-checkpoint HTTP/1.1\r\nHost: x\r\n".to_vec(), 400),
        (huge_head.into_bytes(), 431),
        (
            b"POST /add-checkpoint HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n".to_vec(),
            413,
        ),
        (
            b"POST /add-checkpoint HTTP/1.1\r\nContent-Length: 100\r\n\r\nold 0\n".to_vec(),
            400,
        ),
        (b"POST /add-checkpoint HTTP/1.1\r\n\r\n".to_vec(), 411),
        (
            b"POST /add-checkpoint HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nold 0\r\n0\r\n\r\n"
                .to_vec(),
            411,
        ),
        (
            b"POST /add-checkpoint HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"
                .to_vec(),
            400,
        ),
        (
            b"POST /add-checkpoint HTTP/1.1\r\nContent-Length: -1\r\n\r\n".to_vec(),
            400,
        ),
        (b"GET /add-checkpoint HTTP/1.1\r\n\r\n".to_vec(), 405),
        (b"GET / HTTP/1.1\r\n\r\n".to_vec(), 404),
        (b"POST /add-checkpoint HTTP/2.0\r\n\r\n".to_vec(), 400),
        (post("old 0\n").into_bytes(), 400),
        (post("old 00\n\n").into_bytes(), 400),
        (post("old 1\n!!!!\n\nx\n").into_bytes(), 400),
        (post(&format!("old 0\r\n\r\n{}", log.note(3))).into_bytes(), 400),
        (post(&good_body.replace("old 0", "old 18446744073709551616")).into_bytes(), 400),
        (post(&format!("old 0\n{}\n{}", "A".repeat(44), log.note(3))).into_bytes(), 400),
        (
            post(&format!(
                "old 0\n{}\n{}",
                format!("{}\n", TreeHash([0; 32]).to_base64()).repeat(64),
                log.note(3)
            ))
            .into_bytes(),
            400,
        ),
        // A proof from size 0 must be empty: 422.
        (
            post(&format!("old 0\n{}\n\n{}", TreeHash([0; 32]).to_base64(), log.note(3)))
                .into_bytes(),
            422,
        ),
    ];
    for (bytes, want) in &cases {
        let response = raw_exchange(addr, bytes, true);
        assert_eq!(
            status_of(&response),
            *want,
            "{:?} -> {response:?}",
            String::from_utf8_lossy(&bytes[..bytes.len().min(120)])
        );
    }
    // Deterministic random bytes, with and without a request line in front.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for round in 0..60 {
        let len = (round * 37) % 3000;
        let mut bytes: Vec<u8> = if round % 2 == 0 {
            b"POST /add-checkpoint HTTP/1.1\r\n".to_vec()
        } else {
            Vec::new()
        };
        for _ in 0..len {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            bytes.push(x as u8);
        }
        let response = raw_exchange(addr, &bytes, true);
        if !response.is_empty() {
            let s = status_of(&response);
            assert!((400..500).contains(&s), "{s}: {response:?}");
        }
    }
    // A request that stalls mid-head is cut at the request timeout with 408.
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(b"POST /add-checkpoint HTTP/1.1\r\nHost")
        .unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    assert_eq!(status_of(&out), 408, "{out}");

    // Still serving, on a keep-alive connection: two requests, one connection.
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(post(&good_body).as_bytes()).unwrap();
    s.write_all(post(&good_body).as_bytes()).unwrap();
    let mut reader = BufReader::new(s);
    for _ in 0..2 {
        let mut status = String::new();
        reader.read_line(&mut status).unwrap();
        let mut len = 0;
        let mut ct = String::new();
        loop {
            let mut h = String::new();
            reader.read_line(&mut h).unwrap();
            if h == "\r\n" {
                break;
            }
            if let Some(v) = h.strip_prefix("Content-Length: ") {
                len = v.trim().parse().unwrap();
            }
            if let Some(v) = h.strip_prefix("Content-Type: ") {
                ct = v.trim().to_owned();
            }
            assert!(h.ends_with("\r\n"));
        }
        let mut body = vec![0; len];
        reader.read_exact(&mut body).unwrap();
        if status.starts_with("HTTP/1.1 200") {
            let line = String::from_utf8(body).unwrap();
            independent_check(
                &line,
                WITNESS_NAME,
                &witness_public(),
                text_of(&log.note(3)),
            );
        } else {
            // The second, same old 0 after the first moved the state to 3: 409 with the size.
            assert!(status.starts_with("HTTP/1.1 409"), "{status}");
            assert_eq!(ct, TLOG_SIZE_CONTENT_TYPE);
            assert_eq!(body, b"3\n");
        }
    }
    assert!(handle.shutdown());
}

#[test]
fn mutated_bodies_never_cosign_nor_fail_the_server() {
    let dir = TempDir::new("mutate");
    let w = witness(dir.path());
    let mut log = Log::new("record");
    w.add_checkpoint(format!("old 0\n\n{}", log.note(5)).as_bytes());
    let proof = log.proof(5, 8);
    let mut body = String::from("old 5\n");
    for h in &proof {
        body.push_str(&h.to_base64());
        body.push('\n');
    }
    body.push('\n');
    body.push_str(&log.note(8));
    let body = body.into_bytes();
    for end in 0..body.len() {
        let r = w.add_checkpoint(&body[..end]);
        assert!((400..500).contains(&r.status), "prefix {end}: {r:?}");
    }
    for i in 0..body.len() {
        for bit in [0x01u8, 0x20, 0x80] {
            let mut b = body.clone();
            b[i] ^= bit;
            let r = w.add_checkpoint(&b);
            assert!(
                (400..500).contains(&r.status),
                "byte {i} ^ {bit:#x}: {r:?} {:?}",
                String::from_utf8_lossy(&b)
            );
        }
    }
    assert_eq!(w.latest(ORIGIN).unwrap().0, 5);
    assert_eq!(w.add_checkpoint(&body).status, 200);
}

/// A fake witness that answers one request with `response`.
fn fake_witness(response: Vec<u8>) -> (String, std::thread::JoinHandle<()>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    let t = std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let mut buf = [0u8; 65536];
        let _ = s.read(&mut buf);
        let _ = s.write_all(&response);
    });
    (url, t)
}

fn http_response(status: &str, content_type: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[test]
fn the_client_refuses_bad_witness_answers() {
    let mut log = Log::new("record");
    let note = log.note(5);
    let pinned = witness_signer();
    let stranger = CosignatureSigner::from_seed(WITNESS_NAME, [0x33; 32]).unwrap();
    let call = |response: Vec<u8>| {
        let (url, t) = fake_witness(response);
        let r = WitnessClient::new(&url, pinned.public().clone())
            .unwrap()
            .timeout(Duration::from_secs(3))
            .add_checkpoint(0, &[], &note);
        t.join().unwrap();
        r
    };
    // A cosignature by another key: not from the pinned witness.
    let line = stranger.cosign(text_of(&note), NOW).unwrap();
    match call(http_response("200 OK", "text/plain", &line)) {
        Err(WitnessError::BadCosignature(CosignatureError::NotCosignedByKey { found, .. })) => {
            assert_eq!(found.len(), 1)
        }
        other => panic!("{other:?}"),
    }
    // A witness that answers with its cosignature of an old checkpoint.
    let old = log.note(3);
    let line = pinned.cosign(text_of(&old), NOW).unwrap();
    assert!(matches!(
        call(http_response("200 OK", "text/plain", &line)),
        Err(WitnessError::BadCosignature(
            CosignatureError::BadSignature { .. }
        ))
    ));
    // The right cosignature among unknown ones is found.
    let good = pinned.cosign(text_of(&note), NOW).unwrap();
    let other = stranger.cosign(text_of(&note), NOW).unwrap();
    let cosig = call(http_response(
        "200 OK",
        "text/plain",
        &format!("{other}{good}"),
    ))
    .unwrap();
    assert_eq!(cosig.line(), good);
    // Malformed answers.
    for (response, what) in [
        (b"".to_vec(), "without a response"),
        (b"nonsense\r\n\r\n".to_vec(), "status line"),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nshort".to_vec(),
            "shorter",
        ),
        (
            http_response("200 OK", "text/plain", "not a signature\n"),
            "not a signature line",
        ),
        (http_response("200 OK", "text/plain", ""), "signature lines"),
        (
            http_response("409 Conflict", TLOG_SIZE_CONTENT_TYPE, "abc\n"),
            "decimal size",
        ),
        (
            http_response("409 Conflict", TLOG_SIZE_CONTENT_TYPE, "007\n"),
            "decimal size",
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 999999\r\n\r\n".to_vec(),
            "larger than 64 KiB",
        ),
    ] {
        match call(response) {
            Err(WitnessError::BadResponse(m)) => assert!(m.contains(what), "{m} / {what}"),
            other => panic!("{what}: {other:?}"),
        }
    }
    assert!(matches!(
        call(http_response(
            "409 Conflict",
            TLOG_SIZE_CONTENT_TYPE,
            "12\n"
        )),
        Err(WitnessError::Conflict { witness_size: 12 })
    ));
    assert!(matches!(
        call(http_response(
            "503 Service Unavailable",
            "text/plain",
            "busy\n"
        )),
        Err(WitnessError::Status { status: 503, .. })
    ));
    // Nothing listening.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let err = WitnessClient::new(&format!("http://{port}"), pinned.public().clone())
        .unwrap()
        .add_checkpoint(0, &[], &note)
        .unwrap_err();
    assert!(matches!(err, WitnessError::Connect { .. }), "{err}");
    for bad in [
        "https://127.0.0.1:1",
        "ftp://x",
        "http://",
        "http://127.0.0.1:1/a b",
    ] {
        assert!(
            matches!(
                WitnessClient::new(bad, pinned.public().clone()),
                Err(WitnessError::Url(_))
            ),
            "{bad}"
        );
    }
}

#[test]
fn shutdown_stops_serving() {
    let dir = TempDir::new("shutdown");
    let w = witness(dir.path());
    let handle = w.serve("127.0.0.1:0").unwrap();
    let addr = handle.local_addr();
    // An idle keep-alive connection does not hold the shutdown.
    let idle = TcpStream::connect(addr).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let started = std::time::Instant::now();
    assert!(handle.shutdown_within(Duration::from_secs(5)));
    // Well before the 2 s idle timeout: the idle connection was closed, not waited for.
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    drop(idle);
    assert!(TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err());
}

#[test]
fn connections_beyond_the_limit_get_503() {
    let dir = TempDir::new("limit");
    let w = Witness::builder(witness_signer(), dir.path())
        .log(ORIGIN, log_signer().verifier().clone())
        .max_connections(1)
        .build()
        .unwrap();
    let handle = w.serve("127.0.0.1:0").unwrap();
    let addr = handle.local_addr();
    let held = TcpStream::connect(addr).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    // Sends nothing, so the refusal cannot be cut by a reset over unread bytes.
    let response = raw_exchange(addr, b"", false);
    assert_eq!(status_of(&response), 503, "{response}");
    drop(held);
    // Once the held connection is gone, requests are served again.
    let mut served = false;
    for _ in 0..50 {
        std::thread::sleep(Duration::from_millis(20));
        let r = raw_exchange(addr, b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n", true);
        if r.starts_with("HTTP/1.1 404") {
            served = true;
            break;
        }
    }
    assert!(served);
    assert!(handle.shutdown());
}

const GOLDEN_NOTE: &str = "tests/fixtures/witness/cosigned-checkpoint.note";
const GOLDEN_VKEY: &str = "tests/fixtures/witness/witness.vkey";

/// The golden cosigned checkpoint: a 3-leaf tree of "a", "b", "c", signed by the log key of
/// seed 0x11 and cosigned by the witness key of seed 0x22 at time 1700000000.
fn golden() -> (String, String) {
    let mut tree = CompactTree::new();
    for l in [b"a", b"b", b"c"] {
        tree.append(l).unwrap();
    }
    let body = Checkpoint::new(ORIGIN, 3, tree.root()).unwrap().to_body();
    let note = log_signer().sign(&body).unwrap();
    let line = witness_signer().cosign(&body, NOW).unwrap();
    (
        format!("{note}{line}"),
        format!("{}\n", witness_signer().public().to_vkey()),
    )
}

#[test]
fn golden_cosigned_checkpoint_is_reproduced_byte_for_byte() {
    let (note, vkey) = golden();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    if std::env::var_os("AUDIT_UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(root.join("tests/fixtures/witness")).unwrap();
        std::fs::write(root.join(GOLDEN_NOTE), &note).unwrap();
        std::fs::write(root.join(GOLDEN_VKEY), &vkey).unwrap();
    }
    let fixed_note = std::fs::read_to_string(root.join(GOLDEN_NOTE)).unwrap();
    let fixed_vkey = std::fs::read_to_string(root.join(GOLDEN_VKEY)).unwrap();
    assert_eq!(fixed_note, note);
    assert_eq!(fixed_vkey, vkey);
    let key = WitnessKey::parse(&fixed_vkey).unwrap();
    assert_eq!(verify_cosignature(&key, &fixed_note), Ok(NOW));
    let line = fixed_note.lines().last().unwrap();
    assert_eq!(
        independent_check(
            &format!("{line}\n"),
            WITNESS_NAME,
            &witness_public(),
            text_of(&fixed_note)
        ),
        NOW
    );
    log_signer().verifier().verify(&fixed_note).unwrap();
    // The vkey holds the raw public key after the type byte 0x04.
    let b64 = fixed_vkey.trim().splitn(3, '+').nth(2).unwrap();
    let raw = B64.decode(b64).unwrap();
    assert_eq!(raw[0], 0x04);
    assert_eq!(raw[1..], witness_public());
}

fn write_secret(path: &Path, text: &str, mode: u32) {
    std::fs::write(path, text).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    #[cfg(not(unix))]
    let _ = mode;
}

#[test]
fn the_witness_command_serves_and_names_bad_settings() {
    let dir = TempDir::new("cli");
    std::fs::create_dir_all(dir.path()).unwrap();
    let key_file = dir.path().join("witness.skey");
    let skey = NoteSigner::from_seed(WITNESS_NAME, [0x22; 32])
        .unwrap()
        .to_skey();
    write_secret(&key_file, &format!("{skey}\n"), 0o600);
    let vkey_file = dir.path().join("log.vkey");
    std::fs::write(&vkey_file, log_signer().verifier().to_vkey()).unwrap();
    let state = dir.path().join("state");
    let bin = env!("CARGO_BIN_EXE_audit-verify");
    let run = |args: &[&str]| {
        std::process::Command::new(bin)
            .arg("witness")
            .args(args)
            .env_remove("AUDIT_WITNESS_KEY")
            .env_remove("AUDIT_WITNESS_KEY_FILE")
            .output()
            .unwrap()
    };
    let key = key_file.to_str().unwrap();
    let st = state.to_str().unwrap();
    let log_arg = format!("{ORIGIN}={}", vkey_file.display());
    // --print-vkey gives the cosignature/v1 key, not the note key of the same file.
    let out = run(&["--key", key, "--print-vkey"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        witness_signer().public().to_vkey()
    );
    let out = std::process::Command::new(bin)
        .args(["witness", "--print-vkey"])
        .env("AUDIT_WITNESS_KEY", &skey)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        witness_signer().public().to_vkey()
    );
    let out = std::process::Command::new(bin)
        .args(["witness", "--print-vkey"])
        .env("AUDIT_WITNESS_KEY", "PRIVATE+KEY+garbage")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("AUDIT_WITNESS_KEY"));
    for (args, needle) in [
        (
            vec!["--key", key, "--state", st, "--log", &log_arg],
            "--listen",
        ),
        (
            vec!["--key", key, "--listen", "127.0.0.1:0", "--log", &log_arg],
            "--state",
        ),
        (
            vec!["--key", key, "--listen", "127.0.0.1:0", "--state", st],
            "--log",
        ),
        (
            vec!["--listen", "127.0.0.1:0", "--state", st, "--log", &log_arg],
            "--key",
        ),
        (
            vec![
                "--key",
                key,
                "--listen",
                "127.0.0.1:0",
                "--state",
                st,
                "--log",
                "no-equals",
            ],
            "--log \"no-equals\"",
        ),
        (
            vec![
                "--key",
                key,
                "--listen",
                "127.0.0.1:0",
                "--state",
                st,
                "--log",
                "o=/nonexistent",
            ],
            "--log o",
        ),
        (vec!["--bogus"], "--bogus"),
    ] {
        let out = run(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    #[cfg(unix)]
    {
        let loose = dir.path().join("loose.skey");
        write_secret(&loose, &skey, 0o644);
        let out = run(&["--key", loose.to_str().unwrap(), "--print-vkey"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2));
        assert!(err.contains("--key") && err.contains("chmod 600"), "{err}");
    }

    // The real thing: start it, read the key and URL it prints, cosign over TCP, kill it.
    let vkey_text = log_signer().verifier().to_vkey();
    let log_text = format!("{ORIGIN}={vkey_text}");
    let mut child = std::process::Command::new(bin)
        .args([
            "witness",
            "--listen",
            "127.0.0.1:0",
            "--key",
            key,
            "--state",
            st,
            "--log",
        ])
        .arg(&log_text)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    let mut second = String::new();
    stdout.read_line(&mut second).unwrap();
    let printed = first
        .trim()
        .strip_prefix("witness key: ")
        .unwrap_or_else(|| {
            let _ = child.kill();
            panic!("{first:?}")
        });
    assert_eq!(printed, witness_signer().public().to_vkey());
    let url = second
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_owned();
    let key = WitnessKey::parse(printed).unwrap();
    let mut log = Log::new("record");
    let result = WitnessClient::new(&url, key.clone())
        .unwrap()
        .add_checkpoint(0, &[], &log.note(2));
    child.kill().unwrap();
    child.wait().unwrap();
    let cosig = result.unwrap();
    assert_eq!(
        verify_cosignature(&key, &cosig.append_to(&log.note(2))).map(|t| t > NOW),
        Ok(true)
    );
    assert!(state.join(state_file_name(ORIGIN)).exists());
}
