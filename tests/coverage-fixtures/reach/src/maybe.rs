pub fn decide_maybe() -> u8 {
    0
}
