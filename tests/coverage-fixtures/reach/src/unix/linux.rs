pub fn decide_linux() -> u8 {
    0
}
