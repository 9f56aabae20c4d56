//! Fuzz-style tests of the witness's parsers of untrusted bytes: the add-checkpoint handler
//! (request body, signed note, proof), cosigned-note verification, witness keys, and the HTTP
//! server over loopback. Property: every call returns, never panics, takes bounded time, and
//! a mutated request is never cosigned unless it is byte-for-byte a valid one. Inputs are
//! random bytes and mutations of real requests (see `fuzz_support`).
//! `AUDIT_FUZZ_CASES=<n>` runs longer.
#![allow(clippy::unwrap_used)]

mod fuzz_support;

use std::io::{Read as _, Write as _};
use std::net::{Shutdown, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use audit_exporters::file::note::NoteSigner;
use audit_exporters::witness::{CosignatureSigner, Witness, WitnessKey, verify_cosignature};
use audit_runtime::merkle::MerkleTree;
use audit_runtime::merkle::tlog::Checkpoint;
use fuzz_support::{bounded, config, inputs, text};
use proptest::prelude::*;

const ORIGIN: &str = "audit-sdk.test/log";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn log_signer() -> NoteSigner {
    NoteSigner::from_seed(ORIGIN, [0x11; 32]).unwrap()
}

fn witness_signer() -> CosignatureSigner {
    CosignatureSigner::from_seed("witness.test/w1", [0x22; 32]).unwrap()
}

fn state_dir(tag: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("audit-fuzz-witness-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    p
}

/// The add-checkpoint bodies a witness at size 5 accepts (5 -> 5 and 5 -> 8).
fn valid_bodies() -> Vec<Vec<u8>> {
    let mut tree = MerkleTree::new();
    for i in 0..8u32 {
        tree.push(&i.to_be_bytes());
    }
    let note = |n: u64| {
        let body = Checkpoint::new(ORIGIN, n, tree.root_at(n).unwrap())
            .unwrap()
            .to_body();
        log_signer().sign(&body).unwrap()
    };
    let mut out = vec![format!("old 5\n\n{}", note(5)).into_bytes()];
    let mut b = String::from("old 5\n");
    for h in tree.consistency_proof(5, 8).unwrap() {
        b.push_str(&h.to_base64());
        b.push('\n');
    }
    b.push('\n');
    b.push_str(&note(8));
    out.push(b.into_bytes());
    out
}

/// A witness whose state (in `dir`, emptied first) is the 5-leaf checkpoint.
fn witness_at_5(dir: &Path) -> Witness {
    let _ = std::fs::remove_dir_all(dir);
    let w = Witness::builder(witness_signer(), dir)
        .log(ORIGIN, log_signer().verifier().clone())
        .clock(|| 1_700_000_000)
        .build()
        .unwrap();
    let mut tree = MerkleTree::new();
    for i in 0..5u32 {
        tree.push(&i.to_be_bytes());
    }
    let body = Checkpoint::new(ORIGIN, 5, tree.root()).unwrap().to_body();
    let r = w.add_checkpoint(format!("old 0\n\n{}", log_signer().sign(&body).unwrap()).as_bytes());
    assert_eq!(r.status, 200);
    w
}

fn seeds() -> Vec<Vec<u8>> {
    let mut out = valid_bodies();
    for f in ["witness/cosigned-checkpoint.note", "witness/witness.vkey"] {
        out.push(std::fs::read(fixtures().join(f)).unwrap());
    }
    out.push(log_signer().to_skey().into_bytes());
    out
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn add_checkpoint_and_cosignature_parsers_never_panic(input in inputs(seeds())) {
        let dir = state_dir("handler");
        let w = witness_at_5(&dir);
        let valid = valid_bodies();
        let r = bounded("add_checkpoint", || w.add_checkpoint(&input));
        if valid.contains(&input) {
            prop_assert_eq!(r.status, 200);
        } else {
            prop_assert!((400..500).contains(&r.status), "{:?}", r);
        }
        let s = text(&input);
        let key = witness_signer().public().clone();
        let _ = bounded("verify_cosignature", || verify_cosignature(&key, &s));
        let _ = WitnessKey::parse(&s);
        let _ = CosignatureSigner::parse(&s);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

proptest! {
    #![proptest_config(config(48))]

    /// Mutated whole HTTP requests on a real socket: a 4xx, a 200 for an unchanged valid
    /// request, or a closed connection; and the server still answers afterwards.
    #[test]
    fn http_server_never_fails_on_mutated_requests(input in inputs(valid_bodies().into_iter().map(|b| {
        let mut r = format!("POST /add-checkpoint HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n", b.len()).into_bytes();
        r.extend_from_slice(&b);
        r
    }).collect())) {
        let dir = state_dir("http");
        let w = witness_at_5(&dir);
        let handle = w
            .serve("127.0.0.1:0")
            .unwrap();
        let mut s = TcpStream::connect(handle.local_addr()).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
        let _ = s.write_all(&input);
        let _ = s.shutdown(Shutdown::Write);
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        let out = String::from_utf8_lossy(&out);
        if !out.is_empty() {
            let code: u16 = out.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
            prop_assert!(code == 200 || (400..500).contains(&code), "{}", out);
        }
        let mut s = TcpStream::connect(handle.local_addr()).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n").unwrap();
        let mut again = String::new();
        let _ = s.read_to_string(&mut again);
        prop_assert!(again.starts_with("HTTP/1.1 404"), "{}", again);
        prop_assert!(handle.shutdown());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
