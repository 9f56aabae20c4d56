use audit_runtime::audited_decision;

#[audited_decision(unversioned = "rules", side_effect = write)]
fn approve(amount: u64) -> bool {
    amount < 10_000
}

fn main() {}
