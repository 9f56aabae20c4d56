//! The team's own `cargo xtask`: `audit-coverage` is one of its commands.

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    match args.next().as_deref() {
        Some("audit-coverage") => audit_coverage::main_from_args(args),
        _ => {
            eprintln!("usage: cargo xtask audit-coverage [--help]");
            ExitCode::from(2)
        }
    }
}
