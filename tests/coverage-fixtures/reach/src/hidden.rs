pub fn decide_hidden() -> u8 {
    0
}
