pub fn decide_kind() -> u8 {
    0
}
