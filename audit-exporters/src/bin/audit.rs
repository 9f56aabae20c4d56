//! `audit`: investigate a file log offline — list and filter records, show a decision or run as
//! a tree with its follow-ups, a timeline, statistics, and evidence bundles with inclusion
//! proofs. Every command verifies what it shows. See `docs/INVESTIGATE.md`.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = audit_exporters::investigate::cli::run(
        &args,
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    );
    ExitCode::from(code)
}
