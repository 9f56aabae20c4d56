//! The root of a test target.
#[test]
fn decide_in_integration_test() {}
