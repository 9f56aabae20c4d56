// This file does not parse: the scanner must report it and go on.
pub fn decide_broken( {
