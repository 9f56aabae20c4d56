#![deny(warnings, missing_docs, unused, unsafe_code, rust_2018_idioms, unreachable_pub)]
//! Generated code must be clean under the strictest lints a user may set.

use audit_runtime::{audited_agent, audited_decision, audited_model_call, audited_policy_check, audited_tool};
use serde::Serialize;

/// An applicant.
#[derive(Serialize)]
pub struct Applicant {
    /// Name.
    pub name: String,
    /// E-mail.
    pub email: String,
}

const MODEL_VERSION: &str = "2.3.1";

/// Decide.
#[audited_decision(
    name = "lint.approve",
    model = "credit-scorer",
    model_version = MODEL_VERSION,
    policy = "lending",
    policy_version = format!("{}-{}", 2026, 10),
    prompt = "approve-prompt",
    capture(applicant),
    hash_only(amount),
    redact(applicant.email = mask(4)),
    output = capture,
    session = "s-1",
    rationale = |r: &Result<bool, String>| format!("{r:?}"),
    started
)]
pub fn approve(applicant: &Applicant, amount: u64) -> Result<bool, String> {
    audit_runtime::signal("amount", amount);
    if applicant.name.is_empty() {
        return Err("no name".to_owned());
    }
    Ok(amount < 10_000)
}

/// Tool.
#[audited_tool(capture_all, skip(secret), side_effect = irreversible)]
pub fn pay(to: &str, cents: u64, secret: &str) -> Result<(), std::io::Error> {
    let _ = (to, cents, secret);
    Ok(())
}

/// Model call.
#[audited_model_call(model = "llm", model_version = "x")]
pub async fn complete(prompt: String) -> String {
    prompt
}

/// Policy.
#[audited_policy_check(policy = "kyc")]
pub fn kyc(_: u8) -> bool {
    true
}

/// Agent.
#[audited_agent(name = "lint.run", started = false)]
pub async fn run() -> usize {
    complete("hi".to_owned()).await.len()
}

fn main() {
    let a = Applicant { name: "a".into(), email: "a@example.com".into() };
    let _ = approve(&a, 1);
    let _ = pay("b", 1, "s");
    let _ = kyc(1);
    drop(run());
}
