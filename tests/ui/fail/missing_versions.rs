use audit_runtime::audited_decision;

#[audited_decision(name = "loan.approve")]
fn approve(amount: u64) -> bool {
    amount < 10_000
}

fn main() {
    // The function is still emitted, so calling it does not add errors.
    let _ = approve(3);
}
