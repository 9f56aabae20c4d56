//! `audit-verify witness`: run a witness from the command line.
//!
//! ```text
//! audit-verify witness --listen 127.0.0.1:7380 --key witness.skey --state witness-state/ \
//!     --log audit.example/agent=log.vkey [--log <origin>=<vkey>]...
//! ```
//!
//! The signer key is a file (mode 0600) as `audit-verify keygen <witness name> <file>` writes
//! it, or the environment ([`WITNESS_KEY_ENV`], [`WITNESS_KEY_FILE_ENV`]) when `--key` is not
//! given. Each `--log` value is `<origin>=` (an origin ending with `/` is a prefix that trusts
//! every log under it, such as `audit-sdk/loan-agent/`) and either the log's verifier key text
//! (`<name>+<hex id>+<base64>`) or a file holding it; the origin is everything before the first
//! `=`. At start the command prints the witness verifier key (`<name>+<hex id>+<base64(0x04 ||
//! key)>`, what log writers pin) and the URL, then serves until it is killed: every state write
//! is atomic, so killing it loses nothing it has answered.
//!
//! Exit codes: 2 on a bad setting (the message names it), 1 if the server cannot start.

use std::io::Write as _;
use std::path::Path;

use super::{CosignatureSigner, Witness};
use crate::file::note::VerifierKey;

/// Environment variable holding the witness signer key (`PRIVATE+KEY+<name>+<id>+<base64>`).
pub const WITNESS_KEY_ENV: &str = "AUDIT_WITNESS_KEY";
/// Environment variable naming a file (mode 0600) that holds the witness signer key.
pub const WITNESS_KEY_FILE_ENV: &str = "AUDIT_WITNESS_KEY_FILE";

/// Usage of the witness command.
pub const WITNESS_USAGE: &str = "usage: witness --listen <addr:port> [--key <signer key file>] \
    --state <dir> --log <origin>=<verifier key or file>... [--print-vkey]\n\n\
    Runs a C2SP tlog-witness (POST /add-checkpoint over http://) that cosigns each log's\n\
    checkpoints only if they extend the latest one it cosigned (kept in <dir>, one file per\n\
    log). The key is a file written by `audit-verify keygen <witness name> <file>` (mode 0600),\n\
    or AUDIT_WITNESS_KEY / AUDIT_WITNESS_KEY_FILE. --print-vkey prints the witness verifier\n\
    key and exits. Exits 2 on a bad setting.";

fn load_key(file: Option<&str>) -> Result<CosignatureSigner, String> {
    let from_file = |path: &str, setting: &str| -> Result<CosignatureSigner, String> {
        let bytes = audit_runtime::digest::read_secret_file(Path::new(path))
            .map_err(|e| format!("{setting} {path}: cannot read the witness key: {e}"))?;
        let text = String::from_utf8(bytes)
            .map_err(|_| format!("{setting} {path}: the witness key is not text"))?;
        CosignatureSigner::parse(&text).map_err(|e| format!("{setting} {path}: {e}"))
    };
    if let Some(f) = file {
        return from_file(f, "--key");
    }
    if let Ok(v) = std::env::var(WITNESS_KEY_ENV) {
        return CosignatureSigner::parse(&v).map_err(|e| format!("{WITNESS_KEY_ENV}: {e}"));
    }
    match std::env::var(WITNESS_KEY_FILE_ENV) {
        Ok(p) => from_file(&p, WITNESS_KEY_FILE_ENV),
        Err(_) => Err(format!(
            "no witness key: give --key <file>, or set {WITNESS_KEY_ENV} or {WITNESS_KEY_FILE_ENV}"
        )),
    }
}

/// Parse one `--log <origin>=<verifier key text or file>`.
fn parse_log(value: &str) -> Result<(String, VerifierKey), String> {
    let Some((origin, key)) = value.split_once('=') else {
        return Err(format!(
            "--log {value:?}: expected <origin>=<verifier key or file>"
        ));
    };
    if origin.is_empty() {
        return Err(format!("--log {value:?}: the origin is empty"));
    }
    let text_error = match VerifierKey::parse(key) {
        Ok(k) => return Ok((origin.to_owned(), k)),
        Err(e) => e,
    };
    match std::fs::read_to_string(key) {
        Ok(text) => VerifierKey::parse(&text)
            .map(|k| (origin.to_owned(), k))
            .map_err(|e| format!("--log {origin}: verifier key file {key}: {e}")),
        Err(io) => Err(format!(
            "--log {origin}: {key:?} is neither a verifier key ({text_error}) nor a readable \
             file ({io})"
        )),
    }
}

/// Run `witness ...`; returns the exit code (it does not return while serving).
pub fn witness_command(args: &[String]) -> u8 {
    let mut listen = None;
    let mut key = None;
    let mut state = None;
    let mut logs = Vec::new();
    let mut print_vkey = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| {
            let v = it.next().cloned();
            if v.is_none() {
                eprintln!("{name} needs a value\n\n{WITNESS_USAGE}");
            }
            v
        };
        match a.as_str() {
            "--listen" => match value("--listen") {
                Some(v) => listen = Some(v),
                None => return 2,
            },
            "--key" => match value("--key") {
                Some(v) => key = Some(v),
                None => return 2,
            },
            "--state" => match value("--state") {
                Some(v) => state = Some(v),
                None => return 2,
            },
            "--log" => match value("--log") {
                Some(v) => logs.push(v),
                None => return 2,
            },
            "--print-vkey" => print_vkey = true,
            "-h" | "--help" => {
                println!("{WITNESS_USAGE}");
                return 0;
            }
            other => {
                eprintln!("unexpected argument {other}\n\n{WITNESS_USAGE}");
                return 2;
            }
        }
    }
    let signer = match load_key(key.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return 2;
        }
    };
    if print_vkey {
        println!("{}", signer.public().to_vkey());
        return 0;
    }
    let Some(listen) = listen else {
        eprintln!("--listen is required (e.g. --listen 127.0.0.1:7380)\n\n{WITNESS_USAGE}");
        return 2;
    };
    let Some(state) = state else {
        eprintln!("--state is required (the directory of the witness's state)\n\n{WITNESS_USAGE}");
        return 2;
    };
    if logs.is_empty() {
        eprintln!("--log is required at least once (<origin>=<verifier key>)\n\n{WITNESS_USAGE}");
        return 2;
    }
    let mut builder = Witness::builder(signer, &state);
    for l in &logs {
        match parse_log(l) {
            // An origin ending with `/` is a prefix: every log under it (the file log starts a
            // new origin, audit-sdk/<service>/<chain>, in each process).
            Ok((origin, k)) if origin.ends_with('/') => builder = builder.log_prefix(&origin, k),
            Ok((origin, k)) => builder = builder.log(&origin, k),
            Err(e) => {
                eprintln!("{e}");
                return 2;
            }
        }
    }
    let witness = match builder.build() {
        Ok(w) => w,
        Err(e) => {
            eprintln!("--state {state}: {e}");
            return 2;
        }
    };
    let handle = match witness.serve(listen.as_str()) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("--listen {listen}: {e}");
            return 1;
        }
    };
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "witness key: {}", witness.witness_key().to_vkey());
    let _ = writeln!(out, "listening on {}", handle.url());
    let _ = out.flush();
    drop(out);
    loop {
        std::thread::park();
    }
}
