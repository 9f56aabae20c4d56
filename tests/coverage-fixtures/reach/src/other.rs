pub fn decide_other() -> u8 {
    0
}
