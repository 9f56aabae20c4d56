// Expansion snapshot, written by audit-macros/src/snapshots.rs; do not edit.
// Regenerate: UPDATE_SNAPSHOTS=1 cargo test -p audit-macros snapshots
// Spans are not shown: `audit_*` and `__AUDIT_POINT` are mixed-site hygienic locals,
// invisible to (and never colliding with) the function's own names.
//
// Case: errors: an unknown option and a decision without versions; every error is reported and the function is emitted unchanged
//
// Input:
//     #[audited_decision(captur(amount), name = "refund.approve")]
//     fn approve_refund(amount: u64) -> bool {
//         amount < 100
//     }
//
// Expansion:

fn approve_refund(amount: u64) -> bool {
    amount < 100
}
::core::compile_error! {
    "unknown audit option `captur`; did you mean `capture`? (known options: name, model, model_version, prompt, prompt_version, policy, policy_version, feature_set, feature_set_version, reference_data, reference_data_version, unversioned, capture, capture_all, hash_only, skip, output, result, rationale, session, side_effect, started, redact, crate)"
}
::core::compile_error! {
    "`#[audited_decision]` must declare the versions in force or that none apply: add e.g. `model = \"credit-scorer\", model_version = \"2.3.1\"` (also prompt, policy, feature_set, reference_data; a name without a version is looked up in the runtime artifact registry), or `unversioned = \"<why no versioned artifact applies>\"`"
}
