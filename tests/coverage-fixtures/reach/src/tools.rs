//! Tools named through the crate's prelude glob, some declared inside function bodies.
use crate::prelude::*;

pub struct Search;

impl Tool for Search {
    fn call(&self) -> u8 {
        0
    }
}

pub fn register() {
    struct Local;
    impl Tool for Local {
        fn call(&self) -> u8 {
            1
        }
    }
    #[tool]
    fn inline_tool() -> u8 {
        2
    }
    let _ = (Local.call(), inline_tool());
}

pub fn setup() {
    mod inner {
        pub fn decide_inner() -> u8 {
            3
        }
    }
    let _ = inner::decide_inner();
}

pub struct Zed;

// Another crate's trait of the same name: no tool of this rule.
impl other::Tool for Zed {
    fn call(&self) -> u8 {
        4
    }
}
