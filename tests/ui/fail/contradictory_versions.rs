use audit_runtime::audited_decision;

#[audited_decision(policy = "lending", policy_version = "2026-10", unversioned = "rules only")]
fn approve(amount: u64) -> bool {
    amount < 10_000
}

#[audited_decision(prompt_version = "7", unversioned = "")]
fn classify(text: &str) -> bool {
    text.is_empty()
}

fn main() {}
