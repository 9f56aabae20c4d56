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
