//! Loan agent fixture: renamed imports, full paths, impl blocks, quality findings.
use audit_runtime::audited_decision;
use audit_runtime::audited_tool as tool;
use llm::ChatClient;

pub mod decisions;
mod tools;
#[cfg(feature = "experimental")]
mod experimental;
mod broken;
mod gone;
#[cfg(test)]
mod tests;

const POLICY: &str = "2026-01";

pub struct Agent {
    client: ChatClient,
    name: String,
}

impl Agent {
    /// Calls the model without an audit record.
    pub fn summarize(&self, text: &str) -> String {
        self.client.chat(text)
    }

    #[audit_runtime::audited_model_call(model = "gpt-x", model_version = "2024-05")]
    pub fn ask(&self, question: &str) -> String {
        self.client.chat(question)
    }

    pub fn helper(&self) -> usize {
        self.name.len()
    }
}

#[audited_decision(
    name = "loan.approve",
    model = "credit-scorer",
    model_version = "2.3.1",
    policy = "lending",
    policy_version = POLICY,
    capture(applicant_email, amount)
)]
pub fn approve(applicant_email: &str, amount: u64) -> bool {
    amount < 10_000 && !applicant_email.is_empty()
}

#[audited_decision(name = "loan.approve", unversioned = "fixed threshold")]
pub fn approve_small(amount: u64) -> bool {
    amount < 100
}

#[tool(name = "credit.lookup")]
pub fn lookup(id: u64) -> u64 {
    id
}

// audit: exempt(reason = "pure arithmetic, no decision")
pub fn decide_rate(x: f64) -> f64 {
    x * 1.05
}

// audit: exempt
pub fn decide_fee(x: u64) -> u64 {
    x / 100
}

pub fn decide_limit(income: u64) -> u64 {
    income * 3
}

#[audited_decision(prompt = "triage", prompt_version = "v3", capture(password))]
pub fn decide_triage(password: &str) -> bool {
    password.len() > 8
}
