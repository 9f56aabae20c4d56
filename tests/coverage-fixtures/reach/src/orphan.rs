//! Declared by no module: not compiled.
pub fn decide_orphan() -> u8 {
    0
}
