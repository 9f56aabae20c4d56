#[audit_runtime::audited_decision(unversioned = "experiment")]
pub fn decide_experiment() -> bool {
    false
}
