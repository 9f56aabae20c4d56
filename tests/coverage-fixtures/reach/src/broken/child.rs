pub fn decide_child() -> u8 {
    0
}
