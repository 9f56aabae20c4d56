//! Fuzz-style test of the coverage scanner (`scan::scan_source`, the function every scanned file
//! goes through): random bytes and text, and mutations of the fixture workspaces' real sources,
//! with Rust-shaped splices that make deep trees (operator chains, `&` types, nested generics,
//! brackets and blocks) around the nesting limit. Property: a `FileScan` comes back (scanned, or
//! with `parse_error` set), no panic, no abort, bounded time. `AUDIT_FUZZ_CASES=<n>` runs longer.

#[path = "../../../audit-exporters/tests/fuzz_support/mod.rs"]
mod fuzz_support;

use std::path::{Path, PathBuf};

use proptest::prelude::*;

use super::scan::{FileCtx, FileScan, scan_source};
use fuzz_support::{apply, bounded, config, inputs, ops};

fn fixture_sources() -> Vec<Vec<u8>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/coverage-fixtures");
    let mut out = Vec::new();
    let mut dirs = vec![root];
    while let Some(d) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "rs")
                && let Ok(b) = std::fs::read(&p)
            {
                out.push(b);
            }
        }
    }
    out.sort();
    assert!(!out.is_empty(), "no fixture sources");
    out
}

/// A construct repeated `n` times: deep trees with and without brackets.
fn deep(kind: u8, n: usize) -> String {
    match kind % 8 {
        0 => format!("fn f() -> u32 {{ {} }}", vec!["1"; n].join(" + ")),
        1 => format!("fn f(x: {}u8) {{}}", "&".repeat(n)),
        2 => format!("type T = {}u8{};", "A<".repeat(n), ">".repeat(n)),
        3 => format!("fn f() {{ {}1{}; }}", "(".repeat(n), ")".repeat(n)),
        4 => format!("fn f() {}{}", "{".repeat(n), "}".repeat(n)),
        5 => format!("fn f() {{ x{}; }}", ".a()".repeat(n)),
        // Items in function bodies and in macro bodies, scanned as items.
        6 => format!("{}{}", "fn f() { ".repeat(n), "}".repeat(n)),
        _ => format!("m! {{ {}mod a;{} }}", "{ m! { ".repeat(n), " } }".repeat(n)),
    }
}

/// What syn strips or reads specially at the start of a file: nothing, a byte-order mark,
/// `#!` lines that do and do not lex, an inner attribute.
const PREFIXES: &[&str] = &[
    "",
    "\u{feff}",
    "#!/usr/bin/env run\n",
    "#!/bin/run \"unterminated\n",
    "\u{feff}#!'\n",
    "#![allow(dead_code)]\n",
    "#! /* c */ [allow(dead_code)]\n",
];

fn scan(bytes: &[u8]) -> FileScan {
    let crates = vec!["audit_runtime".to_owned(), "audit_macros".to_owned()];
    let ctx = FileCtx {
        module: "fuzz".to_owned(),
        mod_dir: PathBuf::from("/nonexistent"),
        cfg: Vec::new(),
        macro_crates: &crates,
        include_tests: true,
    };
    let text = String::from_utf8_lossy(bytes);
    bounded("scan_source", || {
        scan_source(&text, Path::new("/nonexistent/lib.rs"), &ctx)
    })
}

fn sources() -> impl Strategy<Value = Vec<u8>> {
    let seeds = fixture_sources();
    let seeds2 = seeds.clone();
    prop_oneof![
        4 => inputs(seeds),
        // A deep construct spliced into a real source, then mutated.
        2 => (
            0..seeds2.len(),
            any::<u8>(),
            1usize..10_000,
            any::<usize>(),
            0..PREFIXES.len(),
            ops(),
        )
            .prop_map(move |(i, kind, n, at, prefix, ops)| {
                let mut s = seeds2[i].clone();
                let at = at % (s.len() + 1);
                s.splice(at..at, format!("\n{}\n", deep(kind, n)).into_bytes());
                let mut s = apply(&s, &ops[..1]);
                s.splice(0..0, PREFIXES[prefix].bytes());
                s
            }),
    ]
}

proptest! {
    #![proptest_config(config(64))]

    #[test]
    fn scanner_never_panics_or_aborts(src in sources()) {
        let _ = scan(&src);
    }
}

/// Each deep construct just under and far over the limit ends in a scan or a diagnostic.
#[test]
fn deep_constructs_end_in_a_report() {
    for kind in 0..6 {
        for n in [2_000, 100_000] {
            let s = scan(deep(kind, n).as_bytes());
            if n == 100_000 {
                let e = s.parse_error.expect("too deep");
                assert!(e.message.starts_with("too deep to scan"), "{kind}: {e:?}");
            }
        }
    }
}
