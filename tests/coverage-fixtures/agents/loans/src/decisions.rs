//! Everything in this module is a decision point (module rule).
use audit_runtime as audit;

pub struct Customer {
    pub ssn: String,
}

#[audit::audited_decision(
    policy = "kyc",
    policy_version = "7",
    capture_all,
    skip(notes),
    redact(customer.ssn = erase)
)]
pub fn kyc(customer: &Customer, notes: &str) -> bool {
    !customer.ssn.is_empty() && notes.is_empty()
}

pub fn escalate(level: u8) -> u8 {
    level + 1
}

#[cfg_attr(any(), audit_exempt(reason = "logging only"))]
pub fn log_decision() {}

pub mod nested;
