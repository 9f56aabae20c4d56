//! `cargo xtask <command>`: the repository's own tooling.
//!
//! Commands: `coverage` (audit coverage reports and gates, see `docs/COVERAGE.md`), `verify`
//! (check an audit log directory, see `docs/FILE-FORMAT.md`).

use std::process::ExitCode;

mod coverage;
mod verify;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (command, rest) = match args.split_first() {
        Some((c, rest)) => (c.as_str(), rest),
        None => ("", &[][..]),
    };
    match command {
        "coverage" => coverage::run(rest),
        "verify" => verify::run(rest),
        _ => {
            eprintln!("usage: cargo xtask <command>\n\ncommands:\n  coverage   audit coverage of a workspace (--help for options)\n  verify     verify an audit log directory: verify <dir> [--key <vkey file>]");
            ExitCode::from(2)
        }
    }
}
