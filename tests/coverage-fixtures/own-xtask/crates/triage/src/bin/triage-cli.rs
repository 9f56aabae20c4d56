//! Found by Cargo's `src/bin/` discovery, not declared in the manifest.

fn main() {
    println!("{}", decide_refund(3));
}

/// A decision point in a binary target, without audit.
fn decide_refund(days: u32) -> bool {
    days < 14
}
