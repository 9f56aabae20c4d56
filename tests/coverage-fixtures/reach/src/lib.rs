//! Reach fixture: each module below is declared in a way a plain `mod name;` walk misses.

// A raw identifier: the file is `type.rs`, the module `reach::r#type`.
mod r#type;

macro_rules! my_cfg_unix {
    ($($item:item)*) => { $( #[cfg(unix)] $item )* };
}

// A crate's own `cfg_*!` wrapper: its body parses as items.
my_cfg_unix! {
    mod plat;
}

// cfg_if: branches under `#[cfg(..)]`, the `else` branch under the negation.
cfg_if::cfg_if! {
    if #[cfg(unix)] {
        mod unix;
        pub fn decide_inline() -> u8 { 1 }
    } else {
        mod other;
    }
}

// A macro whose body is no item syntax the scanner reads: `hidden.rs` is listed as not reached.
declare_hidden! { mod hidden => on; }

// Only under test: not production code.
#[cfg(all(test, feature = "slow"))]
mod slow_tests;
#[cfg(test)]
mod tests;

// May hold outside tests: production code.
#[cfg(any(test, feature = "extra"))]
mod maybe;

mod agent;
mod broken;
mod glob_tools;
mod prelude;
mod reexport;
mod tools;

pub fn decide_root() -> u8 {
    0
}
