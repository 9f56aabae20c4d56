pub fn decide_slow() -> u8 {
    0
}
