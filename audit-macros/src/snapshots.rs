//! Expansion snapshots: what each attribute generates for a few representative functions,
//! pretty-printed with `prettyplease` and compared byte for byte with the checked-in files in
//! `audit-macros/tests/snapshots/<case>.rs` (each starts with its input, as a comment).
//!
//! Review: a change to code generation shows up as a diff of those files; read it like code.
//! Regenerate after an intended change with
//! `UPDATE_SNAPSHOTS=1 cargo test -p audit-macros snapshots`, then check
//! `git diff audit-macros/tests/snapshots` before committing. A failing run names the first
//! differing line of every case that changed.
//!
//! This lives inside the crate (not in `tests/`) because a proc-macro crate exports only its
//! macros: the plain `expand_item` function is reachable from unit tests alone.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use crate::{Kind, expand_item};

/// One input: the attribute (kind and arguments) and the function it is applied to.
struct Case {
    name: &'static str,
    what: &'static str,
    kind: Kind,
    args: TokenStream,
    item: TokenStream,
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "sync_decision",
            what: "a sync decision with literal versions and one captured argument",
            kind: Kind::Decision,
            args: quote!(
                name = "loan.approve",
                model = "credit-scorer",
                model_version = "2.3.1",
                policy = "lending",
                policy_version = "2026-10",
                capture(applicant)
            ),
            item: quote!(
                pub fn approve(applicant: &Applicant, threshold: u32) -> Decision {
                    if applicant.score < threshold {
                        return Decision::Deny;
                    }
                    Decision::Approve
                }
            ),
        },
        Case {
            name: "async_tool_result",
            what: "an async tool returning `Result`, its output captured",
            kind: Kind::Tool,
            args: quote!(
                name = "bureau.lookup",
                side_effect = read,
                output = capture,
                capture(applicant_id)
            ),
            item: quote!(
                async fn credit_report(applicant_id: &str) -> Result<Report, ToolError> {
                    let raw = fetch(applicant_id).await?;
                    Ok(Report::parse(&raw)?)
                }
            ),
        },
        Case {
            name: "method_hash_only_redact_rationale",
            what: "a `&self` method (as the macro sees it inside its `impl`) with `hash_only`, \
                   a redaction rule and a rationale closure",
            kind: Kind::Decision,
            args: quote!(
                name = "claims.triage",
                model = "triage-llm",
                model_version = MODEL_VERSION,
                prompt = "triage",
                prompt_version = self.prompt_version(),
                capture(claim),
                hash_only(customer),
                redact(claim.contact.email = mask(4), claim.notes = erase),
                rationale = |r| r.reason.clone()
            ),
            item: quote!(
                pub fn triage(&self, claim: &Claim, customer: CustomerId) -> Triage {
                    self.rules.apply(claim)
                }
            ),
        },
        Case {
            name: "tail_async_impl_future",
            what: "a `fn -> impl Future` whose body ends in an `async move` block",
            kind: Kind::Tool,
            args: quote!(name = "search", capture(query)),
            item: quote!(
                fn search(&self, query: String) -> impl Future<Output = Vec<Hit>> + Send {
                    let index = self.index.clone();
                    async move { index.lookup(&query).await }
                }
            ),
        },
        Case {
            name: "async_trait_box_pin",
            what: "an `#[async_trait]`-style method: `Box::pin(async move { .. })` in a \
                   `Pin<Box<dyn Future>>` return",
            kind: Kind::PolicyCheck,
            args: quote!(policy = "kyc", policy_version = "7", capture(customer)),
            item: quote!(
                fn check<'a>(
                    &'a self,
                    customer: &'a Customer,
                ) -> Pin<Box<dyn Future<Output = Result<Verdict, PolicyError>> + Send + 'a>>
                {
                    Box::pin(async move {
                        let list = self.sanctions.load().await?;
                        Ok(list.verdict(customer))
                    })
                }
            ),
        },
        Case {
            name: "track_caller_inline",
            what: "`#[track_caller]`: the body runs inline in a labelled block; `return` and `?` \
                   leave the block, not the function, so the outcome is still recorded",
            kind: Kind::Tool,
            args: quote!(name = "config.read"),
            item: quote!(
                #[track_caller]
                fn read(path: &str) -> Result<u32, ConfigError> {
                    if path.is_empty() {
                        return Err(ConfigError::Empty);
                    }
                    let text = load(path)?;
                    Ok(text.len() as u32)
                }
            ),
        },
        Case {
            name: "errors_keep_original",
            what: "errors: an unknown option and a decision without versions; every error is \
                   reported and the function is emitted unchanged",
            kind: Kind::Decision,
            args: quote!(captur(amount), name = "refund.approve"),
            item: quote!(
                fn approve_refund(amount: u64) -> bool {
                    amount < 100
                }
            ),
        },
    ]
}

fn parse_file(tokens: TokenStream, what: &str) -> Result<syn::File, String> {
    syn::parse2(tokens).map_err(|e| format!("{what} does not parse as a Rust file: {e}"))
}

/// The snapshot text for one case: a header, the input as a comment, then the expansion.
fn render(case: &Case) -> Result<String, String> {
    let attr = format_ident!("{}", case.kind.attr_name());
    let args = &case.args;
    let item = &case.item;
    let input = prettyplease::unparse(&parse_file(quote!(#[#attr(#args)] #item), "the input")?);
    let output = expand_item(case.kind, case.args.clone(), case.item.clone());
    let output = prettyplease::unparse(&parse_file(output, "the expansion")?);
    let mut s = String::new();
    s.push_str("// Expansion snapshot, written by audit-macros/src/snapshots.rs; do not edit.\n");
    s.push_str("// Regenerate: UPDATE_SNAPSHOTS=1 cargo test -p audit-macros snapshots\n");
    s.push_str(
        "// Spans are not shown: `audit_*` and `__AUDIT_POINT` are mixed-site hygienic locals,\n",
    );
    s.push_str("// invisible to (and never colliding with) the function's own names.\n");
    // Writing to a String cannot fail.
    let _ = writeln!(s, "//\n// Case: {}\n//\n// Input:", case.what);
    for line in input.lines() {
        if line.is_empty() {
            s.push_str("//\n");
        } else {
            let _ = writeln!(s, "//     {line}");
        }
    }
    s.push_str("//\n// Expansion:\n\n");
    s.push_str(&output);
    Ok(s)
}

fn snapshot_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots")
}

/// `None` if equal, else a report naming the first differing line (1-based) with a few lines
/// of each side from there on.
fn first_difference(expected: &str, actual: &str) -> Option<String> {
    if expected == actual {
        return None;
    }
    let exp: Vec<&str> = expected.lines().collect();
    let act: Vec<&str> = actual.lines().collect();
    let at = exp
        .iter()
        .zip(&act)
        .position(|(e, a)| e != a)
        .unwrap_or(exp.len().min(act.len()));
    let mut report = format!(
        "first difference at line {} (expected {} lines, got {})\n",
        at + 1,
        exp.len(),
        act.len()
    );
    for (sign, side) in [("-", &exp), ("+", &act)] {
        let shown = side.iter().skip(at).take(3).collect::<Vec<_>>();
        if shown.is_empty() {
            let _ = writeln!(report, "  {sign} <end of file>");
        }
        for line in shown {
            let _ = writeln!(report, "  {sign} {line}");
        }
    }
    if at >= exp.len().min(act.len()) && exp.len() == act.len() {
        // Same lines, different line endings or trailing newline.
        report.push_str(
            "  (the lines match; the files differ in line endings or the final newline)\n",
        );
    }
    Some(report)
}

#[test]
fn expansions_match_snapshots() {
    let dir = snapshot_dir();
    let update = std::env::var_os("UPDATE_SNAPSHOTS").is_some_and(|v| v != "0");
    let cases = cases();
    let mut failures = Vec::new();
    for case in &cases {
        let path = dir.join(format!("{}.rs", case.name));
        let actual = match render(case) {
            Ok(s) => s,
            Err(e) => {
                failures.push(format!("{}: {e}", case.name));
                continue;
            }
        };
        if update {
            std::fs::create_dir_all(&dir).expect("create the snapshot directory");
            std::fs::write(&path, &actual)
                .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
            continue;
        }
        match std::fs::read_to_string(&path) {
            Ok(expected) => {
                if let Some(diff) = first_difference(&expected, &actual) {
                    failures.push(format!(
                        "{}: expansion differs from {}\n{diff}",
                        case.name,
                        path.display()
                    ));
                }
            }
            Err(e) => failures.push(format!(
                "{}: cannot read {}: {e}",
                case.name,
                path.display()
            )),
        }
    }
    // A snapshot without a case is a renamed or deleted case whose file was left behind.
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for entry in entries.flatten() {
            let file = entry.file_name().to_string_lossy().into_owned();
            let Some(stem) = file.strip_suffix(".rs") else {
                continue;
            };
            if !cases.iter().any(|c| c.name == stem) {
                failures.push(format!(
                    "{}: no case named `{stem}` in src/snapshots.rs; delete the file or restore the case",
                    entry.path().display()
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} expansion snapshot(s) out of date:\n\n{}\n\
         If the change is intended, regenerate with \
         `UPDATE_SNAPSHOTS=1 cargo test -p audit-macros snapshots` and review `git diff`.",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn case_names_are_unique() {
    let cases = cases();
    for (i, c) in cases.iter().enumerate() {
        assert!(
            cases[..i].iter().all(|d| d.name != c.name),
            "duplicate case `{}`",
            c.name
        );
    }
}

#[test]
fn differences_name_the_first_differing_line() {
    assert_eq!(first_difference("a\nb\n", "a\nb\n"), None);
    let d = first_difference("a\nb\nc\n", "a\nx\nc\n").expect("differs");
    assert!(
        d.starts_with("first difference at line 2 (expected 3 lines, got 3)"),
        "{d}"
    );
    assert!(
        d.contains("  - b\n  - c\n") && d.contains("  + x\n  + c\n"),
        "{d}"
    );
    let d = first_difference("a\n", "a\nb\n").expect("differs");
    assert!(d.starts_with("first difference at line 2"), "{d}");
    assert!(
        d.contains("  - <end of file>") && d.contains("  + b"),
        "{d}"
    );
    let d = first_difference("a\n", "a").expect("differs");
    assert!(d.contains("line endings or the final newline"), "{d}");
}
