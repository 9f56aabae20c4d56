//! `audit-verify`: check an audit log directory offline, and manage checkpoint keys.
//!
//! ```text
//! audit-verify <dir> [--key <vkey file>] [--allow-unsigned-tail] [--quiet]
//!                                                   verify (same as `cargo xtask verify`)
//! audit-verify keygen <name> <skey file>            new signing key (mode 0600); prints the vkey
//! audit-verify pubkey <skey file>                   print the verifier key to pin
//! audit-verify prove <dir> <record_id>              inclusion proof (C2SP tlog-proof)
//! audit-verify check-proof <proof> --key <vkey>     check it with the key and the proof alone
//! audit-verify consistency <dir> <old.note> [<new.note>]
//!                                                   consistency proof between two checkpoints
//! audit-verify check-consistency <old.note> <proof> --key <vkey>
//! audit-verify witness --listen <addr> --key <skey file> --state <dir> --log <origin>=<vkey>...
//!                                                   run a C2SP tlog-witness (prints its key)
//! ```

use std::process::ExitCode;

use audit_exporters::file::cli;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = match args.first().map(String::as_str) {
        Some("keygen") => cli::keygen_command(&args[1..]),
        Some("pubkey") => cli::pubkey_command(&args[1..]),
        Some("verify") => cli::verify_command(&args[1..]),
        Some("prove") => cli::prove_command(&args[1..]),
        Some("check-proof") => cli::check_proof_command(&args[1..]),
        Some("consistency") => cli::consistency_command(&args[1..]),
        Some("check-consistency") => cli::check_consistency_command(&args[1..]),
        Some("witness") => cli::witness_command(&args[1..]),
        _ => cli::verify_command(&args),
    };
    ExitCode::from(code)
}
