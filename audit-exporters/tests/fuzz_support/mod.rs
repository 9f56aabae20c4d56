//! Shared by the fuzz-style tests of every parser of untrusted bytes (`fuzz_*.rs` in
//! `audit-exporters/tests`, `audit-runtime/tests`, `xtask`): case counts, and inputs that are
//! random bytes or structure-aware mutations of valid inputs (a real line with bytes flipped,
//! truncated or duplicated, a JSON value replaced by one of a wrong type, a huge number, deep
//! nesting, invalid UTF-8, a very long string).
//!
//! Each test runs [`cases`] cases: a default small enough for `cargo xtask ci` on two cores, or
//! `AUDIT_FUZZ_CASES=<n>` for a longer run (see ARCHITECTURE.md, "Fuzz-style tests").
#![allow(dead_code)]

use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::Config;

/// The case count: `AUDIT_FUZZ_CASES` when set, else `default`.
pub fn cases(default: u32) -> u32 {
    std::env::var("AUDIT_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A proptest config with [`cases`] cases and no regression files (a failure is turned into a
/// named regression test with its minimal input instead).
pub fn config(default: u32) -> Config {
    Config {
        cases: cases(default),
        failure_persistence: None,
        max_shrink_iters: 4096,
        ..Config::default()
    }
}

/// No single parse of a bounded input may take this long: a generous bound that only a hang
/// (or work far beyond linear) reaches, never a slow machine.
pub const HANG: Duration = Duration::from_secs(20);

/// Run `f`, failing if it takes longer than [`HANG`].
pub fn bounded<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let t = Instant::now();
    let out = f();
    let took = t.elapsed();
    assert!(took < HANG, "{what} took {took:?}");
    out
}

/// A value spliced into a JSON text.
#[derive(Debug, Clone)]
pub enum Splice {
    HugeNumber,
    NegativeNumber,
    Float,
    DeepArray(usize),
    DeepObject(usize),
    InvalidUtf8,
    LongString(usize),
    Null,
    Bool,
    EmptyObject,
    Raw(Vec<u8>),
}

impl Splice {
    fn bytes(&self) -> Vec<u8> {
        match self {
            Splice::HugeNumber => b"184467440737095516160000000000".to_vec(),
            Splice::NegativeNumber => b"-9223372036854775809".to_vec(),
            Splice::Float => b"1e309".to_vec(),
            Splice::DeepArray(n) => {
                let mut v = vec![b'['; *n];
                v.extend(std::iter::repeat_n(b']', *n));
                v
            }
            Splice::DeepObject(n) => {
                let mut v = b"{\"a\":".repeat(*n);
                v.extend_from_slice(b"1");
                v.extend(std::iter::repeat_n(b'}', *n));
                v
            }
            Splice::InvalidUtf8 => b"\"\xff\xfe\xc0\x80\"".to_vec(),
            Splice::LongString(n) => {
                let mut v = vec![b'"'];
                v.extend(std::iter::repeat_n(b'x', *n));
                v.push(b'"');
                v
            }
            Splice::Null => b"null".to_vec(),
            Splice::Bool => b"true".to_vec(),
            Splice::EmptyObject => b"{}".to_vec(),
            Splice::Raw(b) => b.clone(),
        }
    }
}

/// One mutation; positions are taken modulo the input's length.
#[derive(Debug, Clone)]
pub enum Op {
    Flip {
        at: usize,
        bit: u8,
    },
    Truncate(usize),
    Duplicate {
        at: usize,
        len: usize,
    },
    Delete {
        at: usize,
        len: usize,
    },
    Insert {
        at: usize,
        what: Splice,
    },
    /// Replace the JSON value after the `n`th `":` (up to the next `,` or `}`).
    ReplaceValue {
        nth: usize,
        what: Splice,
    },
}

fn splice() -> impl Strategy<Value = Splice> {
    prop_oneof![
        Just(Splice::HugeNumber),
        Just(Splice::NegativeNumber),
        Just(Splice::Float),
        (1usize..200).prop_map(Splice::DeepArray),
        (100usize..5000).prop_map(Splice::DeepArray),
        (1usize..300).prop_map(Splice::DeepObject),
        Just(Splice::InvalidUtf8),
        (0usize..100_000).prop_map(Splice::LongString),
        Just(Splice::Null),
        Just(Splice::Bool),
        Just(Splice::EmptyObject),
        proptest::collection::vec(any::<u8>(), 0..16).prop_map(Splice::Raw),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (any::<usize>(), 0u8..8).prop_map(|(at, bit)| Op::Flip { at, bit }),
        1 => any::<usize>().prop_map(Op::Truncate),
        1 => (any::<usize>(), 1usize..200).prop_map(|(at, len)| Op::Duplicate { at, len }),
        1 => (any::<usize>(), 1usize..50).prop_map(|(at, len)| Op::Delete { at, len }),
        2 => (any::<usize>(), splice()).prop_map(|(at, what)| Op::Insert { at, what }),
        3 => (any::<usize>(), splice()).prop_map(|(nth, what)| Op::ReplaceValue { nth, what }),
    ]
}

/// One to five mutations.
pub fn ops() -> impl Strategy<Value = Vec<Op>> {
    proptest::collection::vec(op(), 1..6)
}

/// `seed` with `ops` applied.
pub fn apply(seed: &[u8], ops: &[Op]) -> Vec<u8> {
    let mut v = seed.to_vec();
    for op in ops {
        let n = v.len();
        let at = |i: usize| if n == 0 { 0 } else { i % (n + 1) };
        match op {
            Op::Flip { at: i, bit } if n > 0 => v[i % n] ^= 1 << bit,
            Op::Flip { .. } => {}
            Op::Truncate(i) => v.truncate(at(*i)),
            Op::Duplicate { at: i, len } => {
                let s = at(*i);
                let e = (s + len).min(n);
                let dup = v[s..e].to_vec();
                v.splice(e..e, dup);
            }
            Op::Delete { at: i, len } => {
                let s = at(*i);
                let e = (s + len).min(n);
                v.drain(s..e);
            }
            Op::Insert { at: i, what } => {
                let s = at(*i);
                v.splice(s..s, what.bytes());
            }
            Op::ReplaceValue { nth, what } => {
                let colons: Vec<usize> = v
                    .windows(2)
                    .enumerate()
                    .filter(|(_, w)| w == b"\":")
                    .map(|(i, _)| i + 2)
                    .collect();
                if colons.is_empty() {
                    continue;
                }
                let s = colons[nth % colons.len()];
                let mut e = s;
                let mut in_str = false;
                while e < v.len() {
                    match v[e] {
                        b'"' => in_str = !in_str,
                        b'\\' if in_str => e += 1,
                        b',' | b'}' if !in_str => break,
                        _ => {}
                    }
                    e += 1;
                }
                let e = e.min(v.len());
                v.splice(s..e, what.bytes());
            }
        }
    }
    v
}

/// Random bytes, random text, or a mutation of one of `seeds`.
pub fn inputs(seeds: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    let n = seeds.len();
    prop_oneof![
        1 => proptest::collection::vec(any::<u8>(), 0..600),
        1 => "\\PC{0,300}".prop_map(String::into_bytes),
        6 => (0..n, ops()).prop_map(move |(i, ops)| apply(&seeds[i], &ops)),
    ]
}

/// Bytes as text the way a parser of `&str` sees them (invalid UTF-8 replaced).
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
