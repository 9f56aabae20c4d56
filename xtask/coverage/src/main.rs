//! `audit-coverage [OPTIONS]`: the audit coverage command line for workspaces without an xtask
//! of their own (`cargo install --path xtask/coverage`, or `cargo install audit-coverage`).
//! `audit-coverage --help` lists the options; `docs/COVERAGE.md` explains them.

fn main() -> std::process::ExitCode {
    audit_coverage::main_from_args(std::env::args().skip(1))
}
