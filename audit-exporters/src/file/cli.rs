//! The command line of the file log, shared by the `audit-verify` binary and `cargo xtask
//! verify`: verify a directory, make a signing key, print a key's verifier key.
//!
//! Exit codes: 0 verified (or done), 1 the log is bad, 2 usage or I/O error before verifying.

use std::io::{IsTerminal, Write};
use std::path::Path;

use super::fs::RealFs;
use super::note::{NoteSigner, VerifierKey};
use super::verify::{Progress, VerifyOptions, verify_dir_with};

/// Usage of the verify command.
pub const VERIFY_USAGE: &str = "usage: verify <dir> [--key <verifier key file>] \
    [--allow-unsigned-tail] [--integrity-only] [--against <checkpoint note file>]... \
    [--threads <n>] [--quiet]\n\n\
    Checks every line, hash, link and segment of the audit log in <dir> (any number of chains),\n\
    and every checkpoint's signature against the pinned verifier key\n\
    (<name>+<hex id>+<base64 key>, as `audit-verify keygen` prints it).\n\
    With --key, records that no signed checkpoint covers are unverified and fail the check;\n\
    --allow-unsigned-tail accepts them (the tail a crashed writer leaves) and says how many.\n\
    Without --key nothing is signature-checked and the summary says so.\n\
    --integrity-only checks hashes, links, Merkle trees and signatures but does not parse the\n\
    records' schema (faster; no time span). --against <file> checks the log against a signed\n\
    checkpoint kept elsewhere (a witness's, another machine's): the log must still hold\n\
    everything it committed to, so truncation, rollback and forks fail. --threads <n> scans\n\
    segments on n threads (default 0: one per core).\n\
    Exits 0 when all is well, 1 naming the first problem (file:line: reason), 2 on usage errors.";

/// Run `verify <dir> [--key <file>] [--allow-unsigned-tail] [--quiet]`; returns the exit code.
pub fn verify_command(args: &[String]) -> u8 {
    let mut dir = None;
    let mut key_file = None;
    let mut quiet = false;
    let mut allow_unsigned_tail = false;
    let mut integrity_only = false;
    let mut anchors = Vec::new();
    let mut threads = 0usize;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--key" => match it.next() {
                Some(k) => key_file = Some(k.clone()),
                None => {
                    eprintln!("--key needs a file\n\n{VERIFY_USAGE}");
                    return 2;
                }
            },
            "--quiet" | "-q" => quiet = true,
            "--allow-unsigned-tail" => allow_unsigned_tail = true,
            "--integrity-only" => integrity_only = true,
            "--threads" => match it.next().and_then(|n| n.parse().ok()) {
                Some(n) => threads = n,
                None => {
                    eprintln!("--threads needs a number (0: one per core)\n\n{VERIFY_USAGE}");
                    return 2;
                }
            },
            "--against" => match it.next() {
                Some(f) => match std::fs::read_to_string(f) {
                    Ok(note) => anchors.push(note),
                    Err(e) => {
                        eprintln!("--against: cannot read {f}: {e}");
                        return 2;
                    }
                },
                None => {
                    eprintln!("--against needs a checkpoint note file\n\n{VERIFY_USAGE}");
                    return 2;
                }
            },
            "-h" | "--help" => {
                println!("{VERIFY_USAGE}");
                return 0;
            }
            other if other.starts_with('-') => {
                eprintln!("unknown option {other}\n\n{VERIFY_USAGE}");
                return 2;
            }
            other if dir.is_none() => dir = Some(other.to_owned()),
            other => {
                eprintln!("unexpected argument {other}\n\n{VERIFY_USAGE}");
                return 2;
            }
        }
    }
    let Some(dir) = dir else {
        eprintln!("{VERIFY_USAGE}");
        return 2;
    };
    let key = match key_file {
        None => None,
        Some(f) => match std::fs::read_to_string(&f) {
            Ok(text) => match VerifierKey::parse(&text) {
                Ok(k) => Some(k),
                Err(e) => {
                    eprintln!("verifier key {f}: {e}");
                    return 2;
                }
            },
            Err(e) => {
                eprintln!("cannot read verifier key {f}: {e}");
                return 2;
            }
        },
    };
    let options = VerifyOptions {
        key,
        allow_unsigned_tail,
        integrity_only,
        anchors,
        threads,
    };
    let tty = std::io::stderr().is_terminal();
    let mut last_decile = 0;
    let mut shown = false;
    let mut progress = |p: Progress| {
        // Only directories large enough to take a noticeable time get a progress display.
        if quiet || p.total < (32 << 20) {
            return;
        }
        let pct = p.done.saturating_mul(100) / p.total.max(1);
        if tty {
            eprint!(
                "\rverifying: {pct:3}% ({:.0} / {:.0} MB)",
                p.done as f64 / 1e6,
                p.total as f64 / 1e6
            );
            shown = true;
        } else if pct / 10 > last_decile {
            last_decile = pct / 10;
            eprintln!("verifying: {pct}%");
        }
    };
    let result = verify_dir_with(&RealFs, Path::new(&dir), &options, &mut progress);
    if shown {
        eprintln!();
    }
    match result {
        Ok(summary) => {
            if !quiet {
                print!("{summary}");
            }
            0
        }
        Err(e) => {
            eprintln!("FAILED: {e}");
            1
        }
    }
}

/// Run `keygen <name> <signer key file>`: write a new key (mode 0600, never overwriting) and
/// print its verifier key.
pub fn keygen_command(args: &[String]) -> u8 {
    let [name, out] = args else {
        eprintln!("usage: keygen <key name> <signer key file to create>");
        return 2;
    };
    let signer = match NoteSigner::generate(name) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return 2;
        }
    };
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let written = opts.open(out).and_then(|mut f| {
        f.write_all(format!("{}\n", signer.to_skey()).as_bytes())
            .and(f.sync_all())
    });
    if let Err(e) = written {
        eprintln!("cannot create {out}: {e}");
        return 2;
    }
    println!("{}", signer.verifier().to_vkey());
    0
}

/// Run `pubkey <signer key file>`: print the verifier key to pin.
pub fn pubkey_command(args: &[String]) -> u8 {
    let [file] = args else {
        eprintln!("usage: pubkey <signer key file>");
        return 2;
    };
    let text = match audit_runtime::digest::read_secret_file(Path::new(file)) {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(e) => {
            eprintln!("cannot read {file}: {e}");
            return 2;
        }
    };
    match NoteSigner::parse(&text) {
        Ok(s) => {
            println!("{}", s.verifier().to_vkey());
            0
        }
        Err(e) => {
            eprintln!("{file}: {e}");
            2
        }
    }
}

fn read_file(what: &str, path: &str) -> Result<String, u8> {
    std::fs::read_to_string(path).map_err(|e| {
        eprintln!("cannot read {what} {path}: {e}");
        2
    })
}

fn read_key(path: &str) -> Result<VerifierKey, u8> {
    let text = read_file("verifier key", path)?;
    VerifierKey::parse(&text).map_err(|e| {
        eprintln!("verifier key {path}: {e}");
        2
    })
}

/// Take `--key <file>` out of `args`; returns the rest.
fn split_key(args: &[String]) -> (Option<String>, Vec<String>) {
    let mut key = None;
    let mut rest = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--key" {
            key = it.next().cloned();
        } else {
            rest.push(a.clone());
        }
    }
    (key, rest)
}

/// Run `prove <dir> <record_id>`: print the record's inclusion proof (C2SP tlog-proof with the
/// record line in its `extra` line) against the latest signed checkpoint of its chain.
pub fn prove_command(args: &[String]) -> u8 {
    let [dir, id] = args else {
        eprintln!(
            "usage: prove <dir> <record_id>\n\nPrints a C2SP tlog-proof of the record against \
             the latest signed checkpoint; check it with `check-proof <file> --key <vkey>`."
        );
        return 2;
    };
    match super::proof::prove_record(Path::new(dir), id) {
        Ok(p) => {
            print!("{p}");
            0
        }
        Err(e) => {
            eprintln!("FAILED: {e}");
            1
        }
    }
}

/// Run `check-proof <proof file> --key <vkey file>`: check an inclusion proof with the log's
/// public key and the proof alone; prints the record line.
pub fn check_proof_command(args: &[String]) -> u8 {
    let (key, rest) = split_key(args);
    let ([proof], Some(key)) = (rest.as_slice(), key) else {
        eprintln!("usage: check-proof <proof file> --key <verifier key file>");
        return 2;
    };
    let (proof, key) = match (read_file("proof", proof), read_key(&key)) {
        (Ok(p), Ok(k)) => (p, k),
        (Err(c), _) | (_, Err(c)) => return c,
    };
    match super::proof::check_record_proof(&proof, &key) {
        Ok(r) => {
            println!(
                "OK: line {} of the {} lines of {} is included, under a checkpoint signed by {}",
                r.index,
                r.size,
                r.origin,
                key.label()
            );
            println!("{}", r.line);
            0
        }
        Err(e) => {
            eprintln!("FAILED: {e}");
            1
        }
    }
}

/// Run `consistency <dir> <old checkpoint note file> [<new checkpoint note file>]`: print the
/// consistency proof (C2SP tlog-witness add-checkpoint body) from the old checkpoint to the new
/// one (default: the chain's latest).
pub fn consistency_command(args: &[String]) -> u8 {
    let (dir, old, new) = match args {
        [d, o] => (d, o, None),
        [d, o, n] => (d, o, Some(n)),
        _ => {
            eprintln!(
                "usage: consistency <dir> <old checkpoint note file> [<new checkpoint note \
                 file>]\n\nPrints the consistency proof from the old signed checkpoint to the \
                 new one (default: the chain's latest); check it with `check-consistency <old> \
                 <proof file> --key <vkey>`."
            );
            return 2;
        }
    };
    let old = match read_file("old checkpoint", old) {
        Ok(t) => t,
        Err(c) => return c,
    };
    let new = match new.map(|n| read_file("new checkpoint", n)).transpose() {
        Ok(t) => t,
        Err(c) => return c,
    };
    match super::proof::prove_consistency(Path::new(dir), &old, new.as_deref()) {
        Ok(p) => {
            print!("{p}");
            0
        }
        Err(e) => {
            eprintln!("FAILED: {e}");
            1
        }
    }
}

/// Run `check-consistency <old checkpoint note file> <proof file> --key <vkey file>`.
pub fn check_consistency_command(args: &[String]) -> u8 {
    let (key, rest) = split_key(args);
    let ([old, proof], Some(key)) = (rest.as_slice(), key) else {
        eprintln!(
            "usage: check-consistency <old checkpoint note file> <proof file> --key <verifier \
             key file>"
        );
        return 2;
    };
    let (old, proof, key) = match (
        read_file("old checkpoint", old),
        read_file("proof", proof),
        read_key(&key),
    ) {
        (Ok(o), Ok(p), Ok(k)) => (o, p, k),
        (Err(c), _, _) | (_, Err(c), _) | (_, _, Err(c)) => return c,
    };
    match super::proof::check_consistency_proof(&old, &proof, &key) {
        Ok((a, b)) => {
            println!(
                "OK: the tree of {b} lines extends the tree of {a} lines (both signed by {})",
                key.label()
            );
            0
        }
        Err(e) => {
            eprintln!("FAILED: {e}");
            1
        }
    }
}

/// Run `witness --listen <addr> --key <file> --state <dir> --log <origin>=<vkey>...`: a C2SP
/// tlog-witness for these logs (see [`crate::witness::command`]). Returns only on error or
/// for `--help` / `--print-vkey`.
pub fn witness_command(args: &[String]) -> u8 {
    crate::witness::command::witness_command(args)
}
