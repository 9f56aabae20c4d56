pub fn decide_in_test() -> u8 {
    0
}
