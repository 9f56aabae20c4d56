pub fn deep() -> bool {
    true
}
