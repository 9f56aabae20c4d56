//! `cargo xtask <command>`: the repository's own tooling.
//!
//! Commands: `ci` (exactly what CI runs), `loom` (the model checker over the queue's lock-free
//! ring), `demo` (the main job: the loan agent, its verified
//! audit log and a coverage report), `coverage` (audit coverage reports and gates: the
//! `audit-coverage` package under `xtask/coverage`, see `docs/COVERAGE.md`), `verify` (check an
//! audit log directory, see `docs/FILE-FORMAT.md`), `prove`, `check-proof`, `consistency`,
//! `check-consistency` (the proofs of format 3).

use std::process::ExitCode;

mod tasks;
mod verify;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (command, rest) = match args.split_first() {
        Some((c, rest)) => (c.as_str(), rest),
        None => ("", &[][..]),
    };
    match command {
        "ci" => tasks::ci(rest),
        "demo" => tasks::demo(rest),
        "loom" => tasks::loom(rest),
        "coverage" => audit_coverage::main_from_args(rest.iter().cloned()),
        "verify" => verify::run(rest),
        c @ ("prove" | "check-proof" | "consistency" | "check-consistency") => {
            verify::proof(c, rest)
        }
        _ => {
            eprintln!(
                "usage: cargo xtask <command>\n\ncommands:\n  ci         format, clippy, all tests, coverage gate, loom (what .ci/run runs)\n  loom       the loom model checker over the queue's lock-free ring\n  demo       run the loan agent, verify its audit log, report coverage\n  coverage   audit coverage of a workspace (--help for options)\n  verify     verify an audit log directory: verify <dir> [--key <vkey file>] [--against <note>]\n  prove      inclusion proof of a record: prove <dir> <record_id> (check-proof <file> --key <vkey>)\n  consistency  consistency proof: consistency <dir> <old.note> [<new.note>] (check-consistency)"
            );
            ExitCode::from(2)
        }
    }
}
