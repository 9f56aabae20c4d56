pub fn decide_plat() -> u8 {
    0
}
