cfg_if::cfg_if! {
    if #[cfg(target_os = "linux")] {
        mod linux;
    }
}

#[audit_runtime::audited_decision(unversioned = "fixture")]
pub fn decide_unix() -> u8 {
    0
}
