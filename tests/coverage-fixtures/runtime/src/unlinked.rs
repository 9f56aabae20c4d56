//! Not compiled into the test binary: statically audited, absent from its registry.
#[audit_runtime::audited_decision(unversioned = "not linked into the test binary")]
pub fn unlinked() {}
