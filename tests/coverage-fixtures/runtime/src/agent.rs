//! Compiled into xtask's `runtime_coverage` test: these points are in its registry and logs.
use audit_runtime::{audited_decision, audited_tool};

#[audited_decision(
    name = "fixture.approve",
    model = "scorer",
    model_version = "1.0",
    capture(amount)
)]
pub fn approve(amount: u64) -> Result<bool, String> {
    if amount > 1_000 {
        Err("amount too large".to_owned())
    } else {
        Ok(amount < 500)
    }
}

#[audited_tool(name = "fixture.lookup", side_effect = read)]
pub fn lookup(id: u64) -> u64 {
    id * 2
}

#[audited_tool(name = "fixture.never", side_effect = write)]
pub fn never_called() {}
