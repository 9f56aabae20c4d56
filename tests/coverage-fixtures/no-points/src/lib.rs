//! Functions that would be decision points under the intended rule `decide_*`.

pub fn decide_route(q: &str) -> usize {
    q.len()
}

pub fn decide_limit(x: u64) -> u64 {
    x.min(100)
}
