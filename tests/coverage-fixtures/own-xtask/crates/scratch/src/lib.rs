/// Not a member: never scanned.
pub fn decide_nothing() {}
