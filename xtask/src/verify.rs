//! `cargo xtask verify <dir> [--key <vkey file>] [--allow-unsigned-tail] [--quiet]`: verify an
//! audit log directory.
//!
//! The checks live in `audit_exporters::file::verify`; this is the command-line face, shared
//! with the `audit-verify` binary. See `docs/FILE-FORMAT.md` for what is checked.

use std::process::ExitCode;

/// Run the command; exit 0 when the log verifies, 1 naming the first problem, 2 on usage errors.
pub fn run(args: &[String]) -> ExitCode {
    ExitCode::from(audit_exporters::file::cli::verify_command(args))
}

/// `cargo xtask prove|check-proof|consistency|check-consistency ...`: the proof commands of
/// `audit-verify` (see `docs/FILE-FORMAT.md`, "Proofs").
pub fn proof(command: &str, args: &[String]) -> ExitCode {
    use audit_exporters::file::cli;
    ExitCode::from(match command {
        "prove" => cli::prove_command(args),
        "check-proof" => cli::check_proof_command(args),
        "consistency" => cli::consistency_command(args),
        _ => cli::check_consistency_command(args),
    })
}
