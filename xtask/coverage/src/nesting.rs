//! A bound on how deep syn and the scanner will recurse on a file, computed from its tokens
//! without recursion, so that no source file can overflow the scanner's stack.
//!
//! syn's parser, its `Visit` walk, `ToTokens` and the drop of its tree all recurse once per level
//! of the syntax tree. Rust's grammar lets that tree be as deep as the file is long without any
//! bracket: `1 + 1 + … + 1` is a left-deep chain of binary nodes (3 000 terms compile with
//! rustc), and so are `x.a().b()…`, `!!!!x`, `&&&&T`, `a as u8 as u8 …`, `if {} else if {} …`
//! and `|a| |b| …`. A check on bracket nesting alone therefore misses the common case.
//!
//! The bound: every level of the tree consumes at least one token, so within one delimited
//! group the depth reachable from a *segment* (a run of the group's own tokens between
//! separators) is at most the segment's length, and a nested group sits below at most the whole
//! segment that holds it (the chain above `(x)` in `(x) + 1 + 1` comes from tokens after it).
//! So for a group `g` at path `g0 ⊃ g1 ⊃ … ⊃ g`:
//!
//! ```text
//! bound(g) = Σ len(segment of g_i holding g_{i+1}) + max len(segment of g)
//! ```
//!
//! Separators are only those that end every syntax node started in the segment, so that no
//! chain continues across one:
//! - `;` always (statements, items; `[T; N]` lives in a group of its own);
//! - `,` only in a group with no `<` and no `|` of its own: a comma inside generic arguments
//!   (`A<x, B<x, …>>`) or closure parameters (`|a, b| |c, d| …`) does not end the chain, and
//!   telling those apart from comparisons and bit-or needs a parser. Without `<`/`|` a comma is a
//!   list separator of the group itself (arguments, tuple and array elements, fields, arms), so
//!   data tables `[1, 2, …]` and long struct literals stay shallow;
//! - a `{…}` group directly followed by `#` or by a keyword that can only start an item or a
//!   statement ([`STARTS_ITEM`]): no expression, type or pattern continues after a block with
//!   `fn`, `impl`, `let`, `if`…, so the items of a module or an impl and the block-like
//!   statements of a body are siblings (the keyword starts the next segment).
//!
//! `tests::oracle` checks the rule against syn itself: on random programs mixing every
//! separator with closures, generics and else-if chains, syn's deepest nesting never exceeds the
//! bound, and the same test fails when commas are always split or `else` is taken for a
//! statement keyword.
//!
//! Counting is conservative everywhere (a `->` counts two tokens, any group one), which only
//! raises the bound. The constant per token is taken care of by the stack the scan runs on:
//! [`MAX_NESTING`] times the worst stack use per token measured (see `scan::SCAN_STACK_BYTES`)
//! stays below that stack.

use proc_macro2::{Delimiter, TokenStream, TokenTree};

/// Files whose bound exceeds this are reported as too deep to scan instead of parsed.
///
/// The arithmetic: the worst stack use measured per counted token, in the debug build that
/// `cargo xtask` runs, is 32 KiB: nested types (`&&&…u8`, `[[…u8]]`, `((…u8))`, tuple types)
/// each reach about 250 MiB of peak memory at a bound just under 8 000; nested blocks, generics,
/// closures and `*const` stay under 130 MiB, expression chains (`1 + 1 + …`, `!!…`, `x.a().b()…`)
/// under 80 MiB (`docs/BENCHMARKS.md`, "Coverage scan stack"). So
/// `8 000 × 32 KiB = 250 MiB`, half of [`super::scan::SCAN_STACK_BYTES`] (512 MiB). Real code
/// sits far below: a 3 000-term sum counts 6 000, and items, statements and list elements are
/// separate segments, so file length does not add up.
pub const MAX_NESTING: u64 = 8_000;

/// Keywords that, right after a `{…}` group, can only start an item or a statement.
pub const STARTS_ITEM: &[&str] = &[
    "fn", "pub", "impl", "struct", "enum", "union", "mod", "use", "trait", "type", "const",
    "static", "extern", "unsafe", "async", "let", "if", "match", "for", "while", "loop",
];

/// Where the bound was highest: its value and the 1-based line of the group reaching it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Nesting {
    /// The bound (see the module docs).
    pub bound: u64,
    /// Line of the group (or file start) where it is reached.
    pub line: usize,
}

/// Whether a segment ends before `tts[i]` (the token is the next segment's first) or at it (a
/// separator, in no segment).
enum Split {
    Before,
    At,
}

fn split_at(tts: &[TokenTree], i: usize, comma_splits: bool) -> Option<Split> {
    match &tts[i] {
        TokenTree::Punct(p) if p.as_char() == ';' || (comma_splits && p.as_char() == ',') => {
            Some(Split::At)
        }
        t if i > 0
            && matches!(&tts[i - 1], TokenTree::Group(g) if g.delimiter() == Delimiter::Brace) =>
        {
            let starts = match t {
                TokenTree::Punct(p) => p.as_char() == '#',
                TokenTree::Ident(id) => STARTS_ITEM.iter().any(|k| id == k),
                _ => false,
            };
            starts.then_some(Split::Before)
        }
        _ => None,
    }
}

/// The nesting bound of a token stream, computed with an explicit work list (no recursion on
/// the depth of `tokens`). Stops early once the bound passes `limit`.
pub fn nesting_bound(tokens: TokenStream, limit: u64) -> Nesting {
    let mut worst = Nesting { bound: 0, line: 1 };
    // (stream of a group, bound above it, line of the group)
    let mut work: Vec<(TokenStream, u64, usize)> = vec![(tokens, 0, 1)];
    while let Some((stream, base, line)) = work.pop() {
        let tts: Vec<TokenTree> = stream.into_iter().collect();
        let comma_splits = !tts
            .iter()
            .any(|t| matches!(t, TokenTree::Punct(p) if matches!(p.as_char(), '<' | '|')));
        let mut start = 0;
        while start < tts.len() {
            let mut end = start;
            let mut next = tts.len();
            while end < tts.len() {
                match split_at(&tts, end, comma_splits) {
                    Some(Split::At) => {
                        next = end + 1;
                        break;
                    }
                    Some(Split::Before) if end > start => {
                        next = end;
                        break;
                    }
                    _ => end += 1,
                }
            }
            let here = base.saturating_add((end - start) as u64);
            if here > worst.bound {
                worst = Nesting { bound: here, line };
            }
            if worst.bound > limit {
                return worst;
            }
            for t in &tts[start..end] {
                // An empty group adds one level (counted in the segment) and nothing below.
                if let TokenTree::Group(g) = t
                    && !g.stream().is_empty()
                {
                    work.push((g.stream(), here, g.span().start().line));
                }
            }
            start = next;
        }
    }
    worst
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bound(src: &str) -> u64 {
        nesting_bound(src.parse().expect("tokens"), u64::MAX).bound
    }

    #[test]
    fn chains_without_brackets_count() {
        let sum = vec!["1"; 3000].join(" + ");
        assert!(bound(&format!("fn f() -> u32 {{ {sum} }}")) >= 5999);
        let nots = "!".repeat(500);
        assert!(bound(&format!("fn f() {{ let _ = {nots}x; }}")) >= 500);
    }

    #[test]
    fn separators_that_cannot_end_a_chain_do_not_split() {
        // Generic arguments and closure parameters hold commas inside a chain.
        let generics = "A<x, ".repeat(300) + &">".repeat(300);
        assert!(bound(&format!("type T = {generics};")) >= 900);
        let closures = "|a, b| ".repeat(300);
        assert!(bound(&format!("fn f() {{ let c = {closures} 0; }}")) >= 1200);
    }

    #[test]
    fn lists_and_statements_split() {
        let table = vec!["1"; 50_000].join(", ");
        assert!(bound(&format!("const T: [u8; 50000] = [{table}];")) < 20);
        let stmts = "let a = 1;".repeat(10_000);
        assert!(bound(&format!("fn f() {{ {stmts} }}")) < 20);
        let items = "#[inline] pub fn f(a: Vec<u8>) -> u8 { if a {} if b {} 0 }\n".repeat(5_000);
        assert!(bound(&format!("impl S {{ {items} }}")) < 30);
        // ... but a block does not end an expression that goes on.
        let sum = vec!["{ 1 }"; 3000].join(" + ");
        assert!(bound(&format!("fn f() -> u32 {{ {sum} }}")) >= 5999);
    }

    #[test]
    fn nested_groups_add_up_without_recursion() {
        let n = 100_000;
        let src = "(".repeat(n) + &")".repeat(n);
        assert!(bound(&src) >= n as u64);
        let stopped = nesting_bound(src.parse().expect("tokens"), 1000);
        assert!(stopped.bound > 1000 && stopped.bound < 1100);
    }

    /// An independent oracle for the bound: random programs from a small grammar that mixes
    /// every separator the bound splits at (`;`, list commas, `}` before an item or statement
    /// keyword) with the constructs whose commas it must not split at (closure parameters,
    /// generic arguments), parsed by syn; the deepest expression/type/pattern/item nesting syn
    /// builds must stay within the bound (plus the few levels an item adds without a token).
    mod oracle {
        use proptest::prelude::*;
        use syn::visit::Visit;

        #[derive(Default)]
        struct Depth {
            now: u64,
            max: u64,
        }

        impl Depth {
            fn enter(&mut self) {
                self.now += 1;
                self.max = self.max.max(self.now);
            }
        }

        impl<'a> Visit<'a> for Depth {
            fn visit_expr(&mut self, e: &'a syn::Expr) {
                self.enter();
                syn::visit::visit_expr(self, e);
                self.now -= 1;
            }
            fn visit_type(&mut self, t: &'a syn::Type) {
                self.enter();
                syn::visit::visit_type(self, t);
                self.now -= 1;
            }
            fn visit_pat(&mut self, p: &'a syn::Pat) {
                self.enter();
                syn::visit::visit_pat(self, p);
                self.now -= 1;
            }
            fn visit_item(&mut self, i: &'a syn::Item) {
                self.enter();
                syn::visit::visit_item(self, i);
                self.now -= 1;
            }
        }

        fn ty() -> impl Strategy<Value = String> {
            Just("u8".to_owned()).prop_recursive(6, 32, 2, |t| {
                prop_oneof![
                    t.clone().prop_map(|a| format!("&{a}")),
                    (t.clone(), t.clone()).prop_map(|(a, b)| format!("A<{a}, {b}>")),
                    (t.clone(), t.clone()).prop_map(|(a, b)| format!("({a}, {b})")),
                    t.clone().prop_map(|a| format!("[{a}; 3]")),
                    // A chain whose commas do not end it.
                    (1usize..12, t.clone()).prop_map(|(n, a)| {
                        format!("{}{a}{}", "A<u8, &&".repeat(n), ">".repeat(n))
                    }),
                    (t.clone(), t.clone()).prop_map(|(a, b)| format!("fn({a}) -> {b}")),
                ]
            })
        }

        fn expr() -> impl Strategy<Value = String> {
            // Operands that could change how their neighbours parse are parenthesised; the
            // commas of closures, generic arguments and comparisons stay at the group's level.
            prop_oneof![Just("x".to_owned()), Just("1".to_owned())].prop_recursive(
                24,
                256,
                3,
                |e| {
                    prop_oneof![
                        (e.clone(), e.clone()).prop_map(|(a, b)| format!("({a}) + ({b})")),
                        (e.clone(), e.clone()).prop_map(|(a, b)| format!("x + ({a}) + 1 + ({b})")),
                        e.clone().prop_map(|a| format!("({a})")),
                        (e.clone(), e.clone()).prop_map(|(a, b)| format!("[{a}, {b}]")),
                        (e.clone(), e.clone()).prop_map(|(a, b)| format!("f({a}, {b})")),
                        e.clone().prop_map(|a| format!("|a, b| {a}")),
                        // A chain whose commas do not end it.
                        (1usize..12, e.clone())
                            .prop_map(|(n, a)| format!("{}({a})", "|a, b| ".repeat(n))),
                        (1usize..12, e.clone()).prop_map(|(n, a)| format!(
                            "if x {{ 1 }} {}else {{ ({a}) }}",
                            "else if x { 1 } ".repeat(n)
                        )),
                        e.clone().prop_map(|a| format!("move |a: u8, b| |c, d| ({a})")),
                        (e.clone(), e.clone())
                            .prop_map(|(a, b)| format!("{{ let y = {a}; ({b}) }}")),
                        (e.clone(), e.clone(), e.clone()).prop_map(|(a, b, c)| format!(
                            "if ({a}) {{ ({b}) }} else if x {{ 1 }} else {{ ({c}) }}"
                        )),
                        (e.clone(), e.clone(), e.clone()).prop_map(|(a, b, c)| format!(
                            "match ({a}) {{ P => {b}, Q | R => {{ ({c}) }} S {{ .. }} if x => 1, _ => 0 }}"
                        )),
                        (e.clone(), e.clone())
                            .prop_map(|(a, b)| format!("S {{ a: {a}, b: {b} }}")),
                        (e.clone(), e.clone()).prop_map(|(a, b)| format!("({a}).m({b}).n()")),
                        e.clone().prop_map(|a| format!("&({a})")),
                        e.clone().prop_map(|a| format!("!!({a})")),
                        (e.clone(), ty()).prop_map(|(a, t)| format!("(({a}) as {t})")),
                        (e.clone(), e.clone()).prop_map(|(a, b)| format!(
                            "{{ if x {{}} let z = {a}; loop {{ ({b}) }} }}"
                        )),
                        (e.clone(), ty()).prop_map(|(a, t)| format!("g::<{t}, u8>({a})")),
                        (e.clone(), e.clone())
                            .prop_map(|(a, b)| format!("f(x < ({a}), ({b}) > x)")),
                    ]
                },
            )
        }

        fn function() -> impl Strategy<Value = String> {
            (expr(), ty()).prop_map(|(e, t)| format!("fn f(p: {t}) -> {t} {{ ({e}) }}"))
        }

        fn item() -> impl Strategy<Value = String> {
            function().prop_recursive(4, 16, 3, |i| {
                prop_oneof![
                    proptest::collection::vec(i.clone(), 1..4)
                        .prop_map(|v| format!("mod m {{ {} }}", v.join(" "))),
                    proptest::collection::vec(function(), 1..4)
                        .prop_map(|v| format!("impl S {{ {} }}", v.join("\n#[inline] "))),
                    (ty(), i.clone())
                        .prop_map(|(t, i)| format!("struct S {{ a: {t}, b: u8 }} {i}")),
                ]
            })
        }

        /// The deepest nesting syn builds for `src` (parsed on the scan's stack, not a test
        /// thread's 2 MiB), and the bound.
        fn depth_and_bound(src: &str) -> (u64, u64) {
            let depth = std::thread::Builder::new()
                .stack_size(crate::scan::SCAN_STACK_BYTES)
                .spawn({
                    let src = src.to_owned();
                    move || {
                        let file = syn::parse_file(&src).unwrap_or_else(|e| {
                            panic!("the grammar made invalid Rust: {e}\n{src}")
                        });
                        let mut d = Depth::default();
                        d.visit_file(&file);
                        d.max
                    }
                })
                .expect("thread")
                .join()
                .expect("parsed");
            let bound = super::super::nesting_bound(src.parse().expect("lexes"), u64::MAX).bound;
            (depth, bound)
        }

        proptest! {
            #![proptest_config(proptest::test_runner::Config {
                cases: std::env::var("AUDIT_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64),
                failure_persistence: None,
                ..proptest::test_runner::Config::default()
            })]

            #[test]
            fn syn_nests_no_deeper_than_the_bound(items in proptest::collection::vec(item(), 1..4)) {
                let src = items.join("\n");
                let (depth, bound) = depth_and_bound(&src);
                prop_assert!(depth <= bound + 2, "syn depth {} > bound {} + 2 in\n{}", depth, bound, src);
            }

            /// One long chain alone, so that no other part of the file masks it.
            #[test]
            fn chains_alone_stay_within_the_bound(n in 1usize..60, kind in 0u8..4) {
                let src = match kind {
                    0 => format!("fn f() {{ {}x; }}", "|a, b| ".repeat(n)),
                    1 => format!("type T = {}u8{};", "A<u8, &&".repeat(n), ">".repeat(n)),
                    2 => format!("fn f() {{ if x {{ 1 }} {}else {{ 2 }} }}", "else if x { 1 } ".repeat(n)),
                    _ => format!("fn f() {{ {}x; }}", "move |a: u8, b| &".repeat(n)),
                };
                let (depth, bound) = depth_and_bound(&src);
                prop_assert!(depth <= bound + 2, "syn depth {} > bound {} + 2 in\n{}", depth, bound, src);
            }
        }
    }
}
