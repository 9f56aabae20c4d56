mod child;

pub fn decide_broken( -> u8 {
    0
}
