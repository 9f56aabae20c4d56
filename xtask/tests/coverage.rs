//! End-to-end tests of `cargo xtask coverage`: the real binary on fixture workspaces under
//! `tests/coverage-fixtures/`, with expectations written by hand from reading the fixtures,
//! plus golden reports (`expected.json`, `expected.lcov`) that pin the whole output.
//!
//! Regenerate the golden files after an intended change with `UPDATE_EXPECT=1 cargo test -p
//! xtask --test coverage`, and review the diff.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/coverage-fixtures")
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn xtask(args: &[&str]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
    cmd.arg("coverage").args(args);
    // Without an explicit output directory the report lands in (and is compared with the previous
    // report in) `<target-dir>/audit-coverage`, and the target dir follows CARGO_TARGET_DIR: a
    // report left there by `cargo xtask demo` would leak into the expected output. Isolate it.
    if !args.contains(&"--output-dir") {
        let dir = std::env::temp_dir().join(format!(
            "xtask-coverage-out-{}-{}",
            std::process::id(),
            CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        cmd.arg("--output-dir").arg(dir);
    }
    let out = cmd.output().expect("run xtask");
    Run {
        code: out.status.code().expect("exit code"),
        stdout: String::from_utf8(out.stdout).expect("utf-8 stdout"),
        stderr: String::from_utf8(out.stderr).expect("utf-8 stderr"),
    }
}

fn json_report(ws: &Path, extra: &[&str]) -> Value {
    let ws = ws.to_str().expect("utf-8 path");
    let mut args = vec!["--workspace", ws, "--no-write", "--format", "json"];
    args.extend_from_slice(extra);
    let r = xtask(&args);
    assert!(r.code == 0 || r.code == 1, "exit {}: {}", r.code, r.stderr);
    serde_json::from_str(&r.stdout).expect("JSON report")
}

fn statuses(report: &Value) -> BTreeMap<String, String> {
    report["points"]
        .as_array()
        .expect("points")
        .iter()
        .map(|p| {
            (
                p["id"].as_str().expect("id").to_owned(),
                p["status"].as_str().expect("status").to_owned(),
            )
        })
        .collect()
}

fn findings(report: &Value) -> Vec<(String, String)> {
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            (
                f["code"].as_str().expect("code").to_owned(),
                f["point"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

/// Compare with a golden file, or write it when `UPDATE_EXPECT` is set.
fn golden(path: &Path, actual: &str) {
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        std::fs::write(path, actual).expect("write golden");
        return;
    }
    let expected = std::fs::read_to_string(path).expect("golden file (UPDATE_EXPECT=1 to create)");
    if expected != actual {
        let first = expected
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b);
        panic!(
            "{} differs from the actual output (first differing line {:?}); UPDATE_EXPECT=1 regenerates it\n--- actual ---\n{actual}",
            path.display(),
            first.map(|i| i + 1)
        );
    }
}

fn normalized(report: &Value, root: &Path) -> String {
    let text = serde_json::to_string_pretty(report).expect("serialize");
    let root = std::fs::canonicalize(root).expect("canonical root");
    text.replace(root.to_str().expect("utf-8"), "<root>") + "\n"
}

#[test]
fn agents_fixture_gives_the_expected_report() {
    let ws = fixtures().join("agents");
    let report = json_report(&ws, &[]);
    let expected: BTreeMap<String, String> = [
        // renamed import `use audit_runtime::audited_tool as tool`, `use ...::audited_decision`
        ("loans::approve", "audited"),
        ("loans::approve_small", "audited"),
        ("loans::lookup", "audited"),
        ("loans::decide_triage", "audited"),
        // impl blocks: an audited method (full path) and an unaudited LLM client caller
        ("loans::Agent::ask", "audited"),
        ("loans::Agent::summarize", "unaudited"),
        // exemptions: with a reason (exempt), without (stays unaudited)
        ("loans::decide_rate", "exempt"),
        ("loans::decide_fee", "unaudited"),
        ("loans::decide_limit", "unaudited"),
        // module rules; `use audit_runtime as audit; #[audit::audited_decision]`
        ("loans::decisions::kyc", "audited"),
        ("loans::decisions::escalate", "unaudited"),
        ("loans::decisions::log_decision", "exempt"),
        ("loans::decisions::nested::deep", "unaudited"),
        // cfg-gated module, still scanned
        ("loans::experimental::decide_experiment", "audited"),
        // traits: impl methods, a trait default method, a foreign tool attribute, cfg_attr
        ("loans::tools::<Search as Tool>::call", "audited"),
        ("loans::tools::<Email as Tool>::call", "unaudited"),
        ("loans::tools::Planner::choose", "audited"),
        ("loans::tools::web_fetch", "unaudited"),
        ("loans::tools::save", "audited"),
        // the crate renamed in Cargo.toml: `audit = { package = "audit-runtime" }`
        ("support::run", "audited"),
        ("support::reply", "audited"),
        ("support::decide_route", "unaudited"),
        ("support::decide_banner", "exempt"),
    ]
    .into_iter()
    .map(|(a, b)| (a.to_owned(), b.to_owned()))
    .collect();
    assert_eq!(statuses(&report), expected);
    let s = &report["summary"];
    assert_eq!(
        (
            s["points"].as_u64(),
            s["audited"].as_u64(),
            s["unaudited"].as_u64(),
            s["exempt"].as_u64()
        ),
        (Some(20), Some(12), Some(8), Some(3))
    );
    assert_eq!(s["coverage_percent"].as_f64(), Some(60.0));
    // Not points: helpers, a trait method outside the `Tool::call` rule, test functions.
    for id in [
        "loans::Agent::helper",
        "loans::tools::<Search as Tool>::describe",
        "support::decide_in_test",
        "support::main",
    ] {
        assert!(
            !statuses(&report).contains_key(id),
            "{id} must not be a point"
        );
    }
    let f = findings(&report);
    for (code, point) in [
        ("duplicate_name", "loans::approve"),
        ("duplicate_name", "loans::approve_small"),
        ("personal_data_unredacted", "loans::approve"),
        ("tool_without_side_effect", "loans::lookup"),
        ("exemption_without_reason", "loans::decide_fee"),
        ("missing_version", "loans::decide_triage"),
        ("secret_captured", "loans::decide_triage"),
        ("unversioned", "loans::approve_small"),
        ("audited_under_cfg", "loans::tools::save"),
    ] {
        assert!(
            f.contains(&(code.to_owned(), point.to_owned())),
            "missing finding {code} on {point}: {f:?}"
        );
    }
    // `customer` is captured by capture_all but redacted; `notes` is skipped.
    assert!(
        !f.iter().any(|(_, p)| p == "loans::decisions::kyc"),
        "{f:?}"
    );
    let complete: Vec<&str> = report["points"]
        .as_array()
        .expect("points")
        .iter()
        .filter(|p| p["complete"] == Value::Bool(false))
        .map(|p| p["id"].as_str().expect("id"))
        .collect();
    assert_eq!(
        complete,
        vec![
            "loans::approve",
            "loans::approve_small",
            "loans::lookup",
            "loans::decide_triage"
        ]
    );
    // The unparseable file and the missing module are reported, not fatal.
    let errors: Vec<(&str, u64)> = report["parse_errors"]
        .as_array()
        .expect("parse errors")
        .iter()
        .map(|e| {
            (
                e["file"].as_str().expect("file"),
                e["line"].as_u64().expect("line"),
            )
        })
        .collect();
    assert_eq!(
        errors,
        vec![("loans/src/broken.rs", 2), ("loans/src/lib.rs", 11)]
    );
    let exp = report["points"]
        .as_array()
        .expect("points")
        .iter()
        .find(|p| p["function"] == "decide_experiment")
        .expect("gated point");
    assert_eq!(
        exp["cfg"],
        serde_json::json!(["feature = \"experimental\""])
    );
    assert_eq!(report["config"]["source"], "audit_toml");
    golden(&ws.join("expected.json"), &normalized(&report, &ws));
}

#[test]
fn manifest_metadata_rules_and_custom_personal_data_words() {
    let ws = fixtures().join("metadata-config");
    let report = json_report(&ws, &[]);
    assert_eq!(report["config"]["source"], "workspace_metadata");
    let s = statuses(&report);
    assert_eq!(
        s.get("helpdesk::handlers::handle_callback")
            .map(String::as_str),
        Some("audited")
    );
    assert_eq!(
        s.get("helpdesk::handlers::handle_refund")
            .map(String::as_str),
        Some("unaudited")
    );
    // The configured list replaces the defaults: `phone` is flagged, `customer_email` is not.
    let f = findings(&report);
    assert_eq!(
        f,
        vec![(
            "personal_data_unredacted".to_owned(),
            "helpdesk::handlers::handle_callback".to_owned()
        )]
    );
    let msg = report["findings"][0]["message"].as_str().expect("message");
    assert!(msg.contains("`phone`"), "{msg}");
}

#[test]
fn lcov_has_one_function_record_per_point() {
    let ws = fixtures().join("agents");
    let r = xtask(&[
        "--workspace",
        ws.to_str().expect("utf-8"),
        "--no-write",
        "--format",
        "lcov",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let fns = r.stdout.lines().filter(|l| l.starts_with("FN:")).count();
    let hits = r
        .stdout
        .lines()
        .filter(|l| l.starts_with("FNDA:1,"))
        .count();
    assert_eq!((fns, hits), (20, 12), "exempt points are left out");
    assert!(r.stdout.contains("SF:loans/src/tools.rs\n"));
    assert!(
        r.stdout
            .contains("FN:25,loans::tools::<Email as Tool>::call\n")
    );
    assert!(
        r.stdout
            .contains("FNDA:0,loans::tools::<Email as Tool>::call\n")
    );
    golden(&ws.join("expected.lcov"), &r.stdout);
}

#[test]
fn gates_set_the_exit_code() {
    let ws = fixtures().join("agents");
    let ws = ws.to_str().expect("utf-8");
    let run = |extra: &[&str]| {
        let mut args = vec!["--workspace", ws, "--no-write"];
        args.extend_from_slice(extra);
        xtask(&args)
    };
    assert_eq!(run(&["--fail-under", "60"]).code, 0);
    let r = run(&["--fail-under", "60.01"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stdout
            .contains("FAIL fail_under: coverage 60.00% (required: at least 60.01%)"),
        "{}",
        r.stdout
    );
    assert_eq!(run(&["--max-unaudited", "8"]).code, 0);
    assert_eq!(run(&["--max-unaudited", "7"]).code, 1);
    // 8 of 12 audited points are complete: 66.67%.
    assert_eq!(run(&["--min-complete-annotations", "66"]).code, 0);
    assert_eq!(run(&["--min-complete-annotations", "67"]).code, 1);
    assert_eq!(run(&["--deny-parse-errors"]).code, 1);
    // Usage and input errors are 2, distinct from a failed gate.
    assert_eq!(run(&["--fail-under", "abc"]).code, 2);
    assert_eq!(run(&["--fail-under", "150"]).code, 2);
    assert_eq!(run(&["--no-such-flag"]).code, 2);
    assert_eq!(xtask(&["--workspace", "/nonexistent/workspace"]).code, 2);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read dir") {
        let e = e.expect("entry");
        let dest = to.join(e.file_name());
        if e.file_type().expect("type").is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).expect("copy");
        }
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("xtask-coverage-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

#[test]
fn baseline_fails_only_on_new_gaps_and_change_is_reported() {
    let tmp = temp_dir("baseline");
    let ws = tmp.join("ws");
    copy_dir(&fixtures().join("agents"), &ws);
    let out = tmp.join("out");
    let baseline = tmp.join("baseline.json");
    let (ws_s, out_s, base_s) = (
        ws.to_str().expect("utf-8"),
        out.to_str().expect("utf-8"),
        baseline.to_str().expect("utf-8"),
    );

    let first = xtask(&[
        "--workspace",
        ws_s,
        "--output-dir",
        out_s,
        "--write-baseline",
        base_s,
    ]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    for f in [
        "coverage.json",
        "coverage.md",
        "coverage.summary.md",
        "coverage.html",
        "coverage.lcov",
    ] {
        assert!(out.join(f).is_file(), "{f} written");
    }
    let b: Value =
        serde_json::from_str(&std::fs::read_to_string(&baseline).expect("baseline")).expect("json");
    assert_eq!(b["unaudited"].as_array().map(Vec::len), Some(8));

    // The known gaps pass against the baseline.
    assert_eq!(
        xtask(&[
            "--workspace",
            ws_s,
            "--output-dir",
            out_s,
            "--baseline",
            base_s
        ])
        .code,
        0
    );

    // A new unaudited decision point fails; an audited one added elsewhere does not matter.
    let lib = ws.join("loans/src/lib.rs");
    let mut src = std::fs::read_to_string(&lib).expect("lib.rs");
    src.push_str("\npub fn decide_bonus(x: u64) -> u64 {\n    x\n}\n");
    std::fs::write(&lib, src).expect("write");
    let r = xtask(&[
        "--workspace",
        ws_s,
        "--output-dir",
        out_s,
        "--baseline",
        base_s,
        "--format",
        "json",
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let report: Value = serde_json::from_str(&r.stdout).expect("json");
    let gate = &report["gates"][0];
    assert_eq!(gate["gate"], "baseline");
    assert!(
        gate["detail"]
            .as_str()
            .expect("detail")
            .contains("new gap: loans::decide_bonus"),
        "{gate}"
    );
    // The change since the previous run (the report left in the output directory).
    let change = &report["change"];
    assert_eq!(
        change["new_gaps"],
        serde_json::json!(["loans::decide_bonus"])
    );
    assert_eq!(change["unaudited_delta"], 1);
    assert!(change["coverage_delta"].as_f64().expect("delta") < 0.0);
    let _ = std::fs::remove_dir_all(&tmp);
}

/// A small well-formedness check: every non-void element is closed in order, attribute quotes
/// balance, and nothing from the sources appears unescaped.
fn check_html(html: &str) -> Result<usize, String> {
    const VOID: &[&str] = &["meta", "br", "hr", "img", "input", "link", "wbr"];
    let mut stack: Vec<String> = Vec::new();
    let mut rest = html.strip_prefix("<!DOCTYPE html>").ok_or("no doctype")?;
    let mut elements = 0;
    while let Some(at) = rest.find('<') {
        rest = &rest[at + 1..];
        let end = rest.find('>').ok_or("unterminated tag")?;
        let tag = &rest[..end];
        if tag.matches('"').count() % 2 != 0 {
            return Err(format!("unbalanced quotes in <{tag}>"));
        }
        let self_closing = tag.ends_with('/');
        if let Some(name) = tag.strip_prefix('/') {
            let open = stack
                .pop()
                .ok_or_else(|| format!("</{name}> closes nothing"))?;
            if open != name.trim() {
                return Err(format!("</{name}> closes <{open}>"));
            }
        } else {
            let name: String = tag
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect();
            if name.is_empty() {
                return Err(format!("bad tag <{tag}>"));
            }
            elements += 1;
            if !self_closing && !VOID.contains(&name.as_str()) {
                if name == "script" || name == "style" {
                    let close = format!("</{name}>");
                    let body_end = rest.find(&close).ok_or("unclosed script/style")?;
                    rest = &rest[body_end + close.len()..];
                    continue;
                }
                stack.push(name);
            }
        }
        rest = &rest[end + 1..];
    }
    if stack.is_empty() {
        Ok(elements)
    } else {
        Err(format!("unclosed: {stack:?}"))
    }
}

#[test]
fn html_report_is_well_formed_and_escapes_sources() {
    let tmp = temp_dir("html");
    let html_path = tmp.join("report.html");
    let ws = fixtures().join("agents");
    let r = xtask(&[
        "--workspace",
        ws.to_str().expect("utf-8"),
        "--no-write",
        "--format",
        "none",
        "--html",
        html_path.to_str().expect("utf-8"),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let html = std::fs::read_to_string(&html_path).expect("html");
    let elements = check_html(&html).unwrap_or_else(|e| panic!("malformed HTML: {e}"));
    assert!(elements > 200, "{elements}");
    // The exemption reason `renders a <b>banner</b> & "nothing else"` is text, not markup.
    assert!(html.contains("renders a &lt;b&gt;banner&lt;/b&gt; &amp; &quot;nothing else&quot;"));
    assert!(!html.contains("<b>banner</b>"));
    for needle in [
        "<svg",
        "class=sortable",
        "id=\"file-",
        "loans/src/tools.rs",
        "<script>",
        "60.00%",
    ] {
        assert!(html.contains(needle), "missing {needle}");
    }
    assert!(
        !html.contains("http://")
            || html
                .matches("http://")
                .all(|_| html.contains("xmlns=\"http://www.w3.org/2000/svg\"")),
        "no external resources"
    );
    let _ = std::fs::remove_dir_all(&tmp);
}

#[test]
fn the_checker_rejects_broken_html() {
    assert!(check_html("<!DOCTYPE html><html><body><p>x</body></html>").is_err());
    assert!(check_html("<!DOCTYPE html><html><a href=\"x>y</a></html>").is_err());
    assert_eq!(
        check_html("<!DOCTYPE html><html><meta charset=\"utf-8\"><p>x</p></html>"),
        Ok(3)
    );
}

/// The scan never aborts, whatever the source: the real binary, as `cargo xtask coverage` runs
/// it, on a workspace holding a 3 000-term sum (rustc compiles it; syn's tree is 3 000 levels
/// deep with no bracket, which used to overflow the scanner's stack and abort the process), a
/// 100 000-deep nesting of parentheses and one of blocks. The sum is scanned; the nestings are
/// reported as too deep to scan, counted with the parse errors; the other files are still
/// covered.
#[test]
fn deep_sources_end_in_a_report_not_an_abort() {
    let tmp = temp_dir("deep");
    std::fs::create_dir_all(tmp.join("src")).expect("mkdir");
    std::fs::write(
        tmp.join("Cargo.toml"),
        "[package]\nname = \"deep\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n",
    )
    .expect("write manifest");
    std::fs::write(
        tmp.join("src/lib.rs"),
        "mod sum;\nmod parens;\nmod blocks;\n\
         #[audit_runtime::audited_tool(side_effect = read)]\npub fn lookup() {}\n",
    )
    .expect("write lib.rs");
    let terms = vec!["1"; 3000].join(" + ");
    std::fs::write(
        tmp.join("src/sum.rs"),
        format!(
            "pub fn total() -> u32 {{ {terms} }}\n\
             #[audit_runtime::audited_decision(name = \"sum.after\", unversioned = \"t\")]\n\
             pub fn after() -> bool {{ true }}\n"
        ),
    )
    .expect("write sum.rs");
    let n = 100_000;
    std::fs::write(
        tmp.join("src/parens.rs"),
        format!(
            "pub fn f() -> u32 {{ {}1{} }}\n",
            "(".repeat(n),
            ")".repeat(n)
        ),
    )
    .expect("write parens.rs");
    std::fs::write(
        tmp.join("src/blocks.rs"),
        format!("pub fn g() -> u32 {}1{}\n", "{".repeat(n), "}".repeat(n)),
    )
    .expect("write blocks.rs");

    let ws = tmp.to_str().expect("utf-8 path");
    let r = xtask(&["--workspace", ws, "--no-write", "--format", "json"]);
    // `code()` is None when a signal (SIGABRT from a stack overflow) ended the process.
    assert!(r.code == 0 || r.code == 1, "exit {}: {}", r.code, r.stderr);
    let report: Value = serde_json::from_str(&r.stdout).expect("JSON report");
    let ids: Vec<&str> = report["points"]
        .as_array()
        .expect("points")
        .iter()
        .filter_map(|p| p["id"].as_str())
        .collect();
    assert!(ids.iter().any(|i| i.contains("lookup")), "{ids:?}");
    assert!(ids.iter().any(|i| i.contains("after")), "{ids:?}");
    let errors: Vec<(String, String)> = report["parse_errors"]
        .as_array()
        .expect("parse_errors")
        .iter()
        .map(|e| {
            (
                e["file"].as_str().unwrap_or("").to_owned(),
                e["message"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    assert_eq!(errors.len(), 2, "{errors:?}");
    for (file, message) in &errors {
        assert!(
            file.ends_with("parens.rs") || file.ends_with("blocks.rs"),
            "{file}: {message}"
        );
        assert!(message.starts_with("too deep to scan"), "{file}: {message}");
    }
    // The text report shows them too, and `--deny-parse-errors` fails on them.
    let r = xtask(&["--workspace", ws, "--no-write", "--deny-parse-errors"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("too deep to scan"), "{}", r.stdout);
    let _ = std::fs::remove_dir_all(&tmp);
}

/// Where the system refuses the scan's 512 MiB stack (here `ulimit -v` of 400 MB), files are
/// scanned on an eighth of it with an eighth of the nesting limit: shallow code is still
/// covered, a 3 000-term sum is reported as too deep for that limit, nothing aborts.
#[cfg(target_os = "linux")]
#[test]
fn a_refused_stack_reservation_falls_back_to_a_smaller_limit() {
    let tmp = temp_dir("ulimit");
    std::fs::create_dir_all(tmp.join("src")).expect("mkdir");
    std::fs::write(
        tmp.join("Cargo.toml"),
        "[package]\nname = \"lim\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n",
    )
    .expect("write manifest");
    std::fs::write(
        tmp.join("src/lib.rs"),
        "mod sum;\n#[audit_runtime::audited_tool(side_effect = read)]\npub fn lookup() {}\n",
    )
    .expect("write lib.rs");
    let terms = vec!["1"; 3000].join(" + ");
    std::fs::write(
        tmp.join("src/sum.rs"),
        format!("pub fn total() -> u32 {{ {terms} }}\n"),
    )
    .expect("write sum.rs");
    let out = Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 400000 && exec \"$0\" coverage --workspace \"$1\" --no-write --format json")
        .arg(env!("CARGO_BIN_EXE_xtask"))
        .arg(&tmp)
        .output()
        .expect("run sh");
    let code = out.status.code().expect("exit code, not a signal");
    assert!(
        code == 0 || code == 1,
        "exit {code}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    let ids = report["points"].to_string();
    assert!(ids.contains("lookup"), "{ids}");
    let errors = report["parse_errors"].as_array().expect("parse_errors");
    assert_eq!(errors.len(), 1, "{errors:?}");
    let message = errors[0]["message"].as_str().unwrap_or("");
    assert!(
        message.starts_with("too deep to scan") && message.contains("1000 levels"),
        "{message}"
    );
    let _ = std::fs::remove_dir_all(&tmp);
}

#[test]
fn impls_with_different_generic_arguments_get_distinct_ids() {
    let ws = fixtures().join("generics");
    let report = json_report(&ws, &[]);
    let expected: BTreeMap<String, String> = [
        // `impl Agent<Fast>` and `impl Agent<Careful>`: the arguments tell the points apart
        ("router::Agent<Fast>::decide_route", "audited"),
        ("router::Agent<Careful>::decide_route", "unaudited"),
        ("router::Pair<u8, u16>::decide_pair", "unaudited"),
        ("router::Pair<u16, u8>::decide_pair", "unaudited"),
        // one `impl<T> Wrapper<T>`: no collision, the id keeps its plain form
        ("router::Wrapper::decide_once", "unaudited"),
        // trait impls for both instances, and two instances of one generic trait
        ("router::<Agent<Fast> as Tool>::call", "unaudited"),
        ("router::<Agent<Careful> as Tool>::call", "unaudited"),
        ("router::<Route as From<u8>>::from", "unaudited"),
        ("router::<Route as From<&'static str>>::from", "unaudited"),
        // the same function under two cfgs: numbered in file order
        ("router::decide_platform", "unaudited"),
        ("router::decide_platform#2", "unaudited"),
    ]
    .into_iter()
    .map(|(a, b)| (a.to_owned(), b.to_owned()))
    .collect();
    assert_eq!(statuses(&report), expected);
    assert_eq!(report["summary"]["points"].as_u64(), Some(11));
    // The `<` and `>` of the ids are escaped in the HTML report.
    let tmp = temp_dir("generics-html");
    let html = tmp.join("r.html");
    let r = xtask(&[
        "--workspace",
        ws.to_str().expect("utf-8"),
        "--no-write",
        "--format",
        "none",
        "--html",
        html.to_str().expect("utf-8"),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let page = std::fs::read_to_string(&html).expect("html");
    check_html(&page).expect("well-formed HTML");
    // (`<wbr>` after each `::`: a long id wraps between its segments.)
    assert!(page.contains("router::<wbr>Agent&lt;Careful&gt;::<wbr>decide_route"));
    let _ = std::fs::remove_dir_all(&tmp);
}

#[test]
fn a_baseline_does_not_hide_a_gap_in_another_instance_of_a_generic_impl() {
    let tmp = temp_dir("generics-baseline");
    let ws = tmp.join("ws");
    copy_dir(&fixtures().join("generics"), &ws);
    let baseline = tmp.join("baseline.json");
    let (ws_s, base_s) = (
        ws.to_str().expect("utf-8"),
        baseline.to_str().expect("utf-8"),
    );
    let first = xtask(&[
        "--workspace",
        ws_s,
        "--no-write",
        "--write-baseline",
        base_s,
    ]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    // `--no-write` writes no report, but the baseline asked for explicitly.
    let b: Value =
        serde_json::from_str(&std::fs::read_to_string(&baseline).expect("baseline")).expect("json");
    let accepted: Vec<&str> = b["unaudited"]
        .as_array()
        .expect("unaudited")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        accepted.contains(&"router::Agent<Careful>::decide_route"),
        "{b}"
    );
    assert!(
        !accepted.iter().any(|id| id.contains("Fast>::decide_route")),
        "{b}"
    );
    assert_eq!(
        xtask(&["--workspace", ws_s, "--no-write", "--baseline", base_s]).code,
        0
    );

    // Drop the audit attribute of `Agent<Fast>::decide_route`: a new gap, with the same type
    // and function name as an accepted one. It must fail the gate.
    let lib = ws.join("src/lib.rs");
    let src = std::fs::read_to_string(&lib).expect("lib.rs");
    let edited = src.replacen(
        "    #[audited_decision(unversioned = \"fixture\")]\n",
        "",
        1,
    );
    assert_ne!(src, edited, "the fixture has the attribute");
    std::fs::write(&lib, edited).expect("write");
    let r = xtask(&[
        "--workspace",
        ws_s,
        "--no-write",
        "--baseline",
        base_s,
        "--format",
        "json",
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let report: Value = serde_json::from_str(&r.stdout).expect("json");
    let detail = report["gates"][0]["detail"].as_str().expect("detail");
    assert!(
        detail.contains("1 new unaudited points")
            && detail.contains("new gap: router::Agent<Fast>::decide_route"),
        "{detail}"
    );
    let _ = std::fs::remove_dir_all(&tmp);
}

#[test]
fn zero_candidate_points_fail_a_gate_and_never_read_as_full_coverage() {
    let ws = fixtures().join("no-points");
    let ws = ws.to_str().expect("utf-8");
    let run = |extra: &[&str]| {
        let mut args = vec!["--workspace", ws, "--no-write"];
        args.extend_from_slice(extra);
        xtask(&args)
    };
    // Every gate that 0 of 0 would pass trivially fails instead, with the reason.
    for gate in [
        &["--fail-under", "80"][..],
        &["--max-unaudited", "0"],
        &["--min-complete-annotations", "100"],
        &["--deny-parse-errors"],
    ] {
        let r = run(gate);
        assert_eq!(r.code, 1, "{gate:?}: {}", r.stdout);
        assert!(
            r.stdout
                .contains("FAIL no_points: no candidate points in 1 scanned files"),
            "{gate:?}: {}",
            r.stdout
        );
    }
    // Said to be expected: the gates pass.
    let r = run(&["--fail-under", "80", "--allow-no-points"]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert!(r.stdout.contains("PASS no_points"), "{}", r.stdout);
    // No gate: exit 0, but the table says so loudly and shows no percentage.
    let r = run(&[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("WARNING: no candidate points"),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("100.00%"), "{}", r.stdout);
    for (format, marker) in [
        ("markdown", "**Warning: no candidate points"),
        ("json", "\"points\": 0"),
    ] {
        let r = run(&["--format", format]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert!(r.stdout.contains(marker), "{format}: {}", r.stdout);
        assert!(!r.stdout.contains("100.00%"), "{format}: {}", r.stdout);
        assert!(
            r.stderr.contains("warning: no candidate points"),
            "{format}: {}",
            r.stderr
        );
    }
    // The intended rule: two unaudited points, none audited. Coverage is 0%, and the
    // completeness gate cannot pass on 0 of 0 annotations either.
    let tmp = temp_dir("no-audited");
    let fixed = tmp.join("rules.toml");
    std::fs::write(&fixed, "[coverage]\nfunctions = [\"decide_*\"]\n").expect("rules");
    let fixed = fixed.to_str().expect("utf-8");
    let r = run(&["--config", fixed, "--min-complete-annotations", "50"]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        r.stdout
            .contains("FAIL min_complete_annotations: no audited point, so no complete annotation"),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("no_points"), "{}", r.stdout);
    let r = run(&["--config", fixed, "--format", "markdown"]);
    assert!(
        r.stdout.contains("**0.00%** of 2 decision points audited")
            && r.stdout.contains("no annotation to judge")
            && !r.stdout.contains("100.00%"),
        "{}",
        r.stdout
    );
    let _ = std::fs::remove_dir_all(&tmp);
    let tmp = temp_dir("no-points-html");
    let html = tmp.join("r.html");
    let r = run(&["--html", html.to_str().expect("utf-8"), "--format", "none"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let page = std::fs::read_to_string(&html).expect("html");
    assert!(page.contains("no candidate points"));
    assert!(!page.contains("100.00%"));
    let _ = std::fs::remove_dir_all(&tmp);
}

/// Checks what lcov's own reader (genhtml, `lcov --summary`, 1.16 and 2.x) needs of a tracefile:
/// not empty, at least one `DA` record, `FN` names without a comma (it reads `[^,]+`), unique
/// within a file, and every `FNDA` naming an `FN`. Returns the number of `FN` records.
fn check_lcov(text: &str) -> Result<usize, String> {
    if !text.lines().any(|l| l.starts_with("DA:")) {
        return Err(format!(
            "no DA record: genhtml says \"no valid records\"\n{text}"
        ));
    }
    let mut fns = 0;
    for record in text.split_terminator("end_of_record\n") {
        let mut names = std::collections::BTreeSet::new();
        for l in record.lines() {
            if let Some(rest) = l.strip_prefix("FN:") {
                let (line, name) = rest.split_once(',').ok_or(format!("bad FN: {l}"))?;
                line.parse::<u32>()
                    .map_err(|_| format!("bad FN line: {l}"))?;
                if name.contains(',') {
                    return Err(format!("comma in a function name: {l}"));
                }
                if !names.insert(name.to_owned()) {
                    return Err(format!("function name twice in one file: {l}"));
                }
                fns += 1;
            }
        }
        for l in record.lines() {
            if let Some(rest) = l.strip_prefix("FNDA:") {
                let (_, name) = rest.split_once(',').ok_or(format!("bad FNDA: {l}"))?;
                if !names.contains(name) {
                    return Err(format!("FNDA without its FN: {l}"));
                }
            }
        }
    }
    Ok(fns)
}

/// Run the real genhtml on `lcov` from `ws` when it is installed (`apt-get install lcov`).
fn genhtml(ws: &Path, lcov: &str) -> Option<String> {
    let tmp = temp_dir(&format!(
        "genhtml-{}",
        ws.file_name().and_then(|n| n.to_str()).unwrap_or("ws")
    ));
    let file = tmp.join("coverage.lcov");
    std::fs::write(&file, lcov).expect("write lcov");
    let out = Command::new("genhtml")
        .arg("-q")
        .arg("-o")
        .arg(tmp.join("html"))
        .arg(&file)
        .current_dir(ws)
        .output();
    let result = match out {
        Err(_) => {
            eprintln!("genhtml not installed: checked the format only");
            None
        }
        Ok(o) => {
            assert!(
                o.status.success(),
                "genhtml rejected the tracefile: {}\n{lcov}",
                String::from_utf8_lossy(&o.stderr)
            );
            Some(std::fs::read_to_string(tmp.join("html/index.html")).expect("genhtml index"))
        }
    };
    let _ = std::fs::remove_dir_all(&tmp);
    result
}

#[test]
fn lcov_is_never_empty_and_names_every_point_once_without_commas() {
    let lcov_of = |ws: &Path| {
        let r = xtask(&[
            "--workspace",
            ws.to_str().expect("utf-8"),
            "--no-write",
            "--format",
            "lcov",
        ]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        r.stdout
    };
    // Generic impls: 11 points, names with the comma of `Pair<u8, u16>` rewritten.
    let ws = fixtures().join("generics");
    let text = lcov_of(&ws);
    assert_eq!(check_lcov(&text), Ok(11));
    assert!(
        text.contains("FN:26,router::Pair<u8; u16>::decide_pair\n"),
        "{text}"
    );
    assert!(
        text.contains("FNDA:0,router::Pair<u16; u8>::decide_pair\n"),
        "{text}"
    );
    assert!(
        text.contains("FNDA:0,router::decide_platform#2\n"),
        "{text}"
    );
    golden(&ws.join("expected.lcov"), &text);
    if let Some(index) = genhtml(&ws, &text) {
        // genhtml counted every function: 1 of 11 audited.
        assert!(
            index.contains("headerCovTableEntry\">1<")
                && index.contains("headerCovTableEntry\">11<"),
            "{index}"
        );
    }
    // No candidate point: still a valid tracefile, reading 0%, saying why in its test name.
    let ws = fixtures().join("no-points");
    let text = lcov_of(&ws);
    assert!(!text.is_empty());
    assert_eq!(check_lcov(&text), Ok(0));
    assert!(
        text.starts_with("TN:audit_coverage_no_candidate_points\nSF:Cargo.toml\n"),
        "{text}"
    );
    assert!(
        text.contains("DA:1,0\n") && text.contains("LH:0\n"),
        "{text}"
    );
    genhtml(&ws, &text);
    // The agents fixture passes the same checks.
    let ws = fixtures().join("agents");
    let text = lcov_of(&ws);
    assert_eq!(check_lcov(&text), Ok(20));
    genhtml(&ws, &text);
}

#[test]
fn package_scopes_a_run_and_a_bare_path_is_the_workspace() {
    let ws = fixtures().join("agents");
    let ws_s = ws.to_str().expect("utf-8");
    // `--package support` (and `-p`): only that member's points, counted alone.
    for flag in ["--package", "-p"] {
        let report = json_report(&ws, &[flag, "support"]);
        let ids: Vec<String> = statuses(&report).into_keys().collect();
        assert_eq!(
            ids,
            [
                "support::decide_banner",
                "support::decide_route",
                "support::reply",
                "support::run"
            ]
        );
        assert_eq!(report["packages"], serde_json::json!(["support"]));
        let s = &report["summary"];
        assert_eq!(
            (s["points"].as_u64(), s["audited"].as_u64()),
            (Some(3), Some(2))
        );
    }
    // Repeated: both members, the full report.
    let both = json_report(&ws, &["-p", "support", "--package", "loans"]);
    assert_eq!(both["summary"]["points"].as_u64(), Some(20));
    // Unscoped reports carry no `packages` field (the golden JSON is unchanged).
    assert!(json_report(&ws, &[]).get("packages").is_none());
    let r = xtask(&["--workspace", ws_s, "--no-write", "--package", "nope"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("--package nope: no such member of the workspace")
            && r.stderr.contains("(members: loans, support)"),
        "{}",
        r.stderr
    );

    // A bare path is the workspace, like `--workspace`.
    let r = xtask(&[ws_s, "--no-write", "--format", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let report: Value = serde_json::from_str(&r.stdout).expect("json");
    assert_eq!(report["summary"]["points"].as_u64(), Some(20));
    let manifest = ws.join("Cargo.toml");
    let r = xtask(&[
        manifest.to_str().expect("utf-8"),
        "--no-write",
        "-p",
        "loans",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains(", package loans ("), "{}", r.stdout);
    // A bare word that is no path gets the hint, not a scan of the current directory.
    let r = xtask(&["no-such-workspace", "--no-write"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains(
            "unexpected argument `no-such-workspace` (no such file or directory): did you mean \
             `--workspace no-such-workspace`"
        ),
        "{}",
        r.stderr
    );
    // Two workspaces, in any order: an error, not the last one silently.
    let other = fixtures().join("generics");
    let other = other.to_str().expect("utf-8");
    for args in [[ws_s, "--workspace", other], ["--workspace", other, ws_s]] {
        let r = xtask(&[&args[..], &["--no-write"]].concat());
        assert_eq!(r.code, 2, "{args:?}");
        assert!(r.stderr.contains("give one workspace path"), "{}", r.stderr);
    }
}

#[test]
fn config_paths_outside_the_workspace_are_printed_as_they_are() {
    let tmp = temp_dir("outside-config");
    let rules = tmp.join("rules.toml");
    std::fs::copy(fixtures().join("agents/audit.toml"), &rules).expect("copy rules");
    let rules_abs = std::fs::canonicalize(&rules).expect("canonical");
    let rules_abs = rules_abs.to_str().expect("utf-8");
    let ws = std::fs::canonicalize(fixtures().join("agents")).expect("canonical ws");
    // From a directory where the rules are `rules.toml` and the workspace is elsewhere: the
    // report must not say `rules.toml` (that reads as the workspace's) nor `//tmp/...`.
    let run = |cwd: &Path, config: &str, format: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
            .current_dir(cwd)
            .args(["coverage", "--workspace"])
            .arg(&ws)
            .args(["--no-write", "--config", config, "--format", format])
            .output()
            .expect("run xtask");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8")
    };
    for (cwd, config) in [(tmp.as_path(), "rules.toml"), (ws.as_path(), rules_abs)] {
        let report: Value = serde_json::from_str(&run(cwd, config, "json")).expect("json");
        assert_eq!(report["config"]["source"], "explicit");
        assert_eq!(
            report["config"]["path"], rules_abs,
            "--config {config} from {cwd:?}"
        );
        let text = run(cwd, config, "terminal");
        assert!(text.contains(&format!("\nRules: {rules_abs}\n")), "{text}");
    }
    // A relative path into the workspace from outside it prints relative to the workspace.
    let parent = ws.parent().expect("parent");
    let report: Value =
        serde_json::from_str(&run(parent, "agents/audit.toml", "json")).expect("json");
    assert_eq!(report["config"]["path"], "audit.toml");
    // Found in the workspace: relative, as before.
    let report = json_report(&ws, &[]);
    assert_eq!(report["config"]["path"], "audit.toml");
    let _ = std::fs::remove_dir_all(&tmp);
}

/// The `reach` fixture: every way a compiled file, an item or a client call used to be missed,
/// and every reason a file is not reached. Expected counts written from reading the fixture.
#[test]
fn every_compiled_file_is_reached_or_listed_with_the_reason() {
    let ws = fixtures().join("reach");
    let report = json_report(&ws, &[]);
    let expected: BTreeMap<String, String> = [
        // `mod r#type;` is `type.rs`, and module_path!() spells it `r#type`
        ("reach::r#type::decide_kind", "unaudited"),
        // a crate's own `cfg_*!` wrapper around `mod plat;`
        ("reach::plat::decide_plat", "unaudited"),
        // cfg_if: both branches, a function in a branch, a cfg_if in a file it declares
        ("reach::unix::decide_unix", "audited"),
        ("reach::unix::linux::decide_linux", "unaudited"),
        ("reach::other::decide_other", "unaudited"),
        ("reach::decide_inline", "unaudited"),
        // `any(test, ..)` may hold in production
        ("reach::maybe::decide_maybe", "unaudited"),
        ("reach::decide_root", "unaudited"),
        // items in function bodies, named through the prelude glob and its re-exports
        ("reach::tools::<Search as Tool>::call", "unaudited"),
        ("reach::tools::<Local as Tool>::call", "unaudited"),
        ("reach::tools::inline_tool", "unaudited"),
        ("reach::tools::inner::decide_inner", "unaudited"),
        // a glob import of the defining crate; a `use` of the crate's own re-export
        ("reach::glob_tools::<Web as Tool>::call", "unaudited"),
        ("reach::reexport::<Mail as Tool>::call", "unaudited"),
        // clients two fields deep, through Option and Arc, through a local, by path
        ("reach::agent::Agent::deep", "unaudited"),
        ("reach::agent::Agent::spare_chat", "unaudited"),
        ("reach::agent::Agent::shared_chat", "unaudited"),
        ("reach::agent::Agent::spare_if_let", "unaudited"),
        ("reach::agent::Agent::pool_chat", "unaudited"),
        ("reach::agent::Agent::embed", "unaudited"),
        ("reach::agent::Agent::embed_static", "unaudited"),
    ]
    .into_iter()
    .map(|(a, b)| (a.to_owned(), b.to_owned()))
    .collect();
    assert_eq!(statuses(&report), expected);
    assert_eq!(report["summary"]["points"].as_u64(), Some(21));
    assert_eq!(report["summary"]["audited"].as_u64(), Some(1));
    // Not points: `impl other::Tool`, the constructors, `clone()`, `tokens()` (the rule names
    // `chat`), `Option::is_some`, `Vec::len`.
    for absent in [
        "Zed",
        "make",
        "copy",
        "has_spare",
        "spare_cloned",
        "count",
        "tokens",
        "spare_tokens",
        "embedder_ready",
        "clone_embedder",
        "new_embedder",
    ] {
        assert!(
            !report["points"]
                .as_array()
                .expect("points")
                .iter()
                .any(|p| p["id"].as_str().expect("id").contains(absent)),
            "{absent} is no point"
        );
    }
    let cfg = |id: &str| -> Vec<String> {
        let p = report["points"]
            .as_array()
            .expect("points")
            .iter()
            .find(|p| p["id"] == id)
            .expect("point");
        p["cfg"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|c| c.as_str().expect("cfg").to_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(cfg("reach::other::decide_other"), ["not (any (unix))"]);
    assert_eq!(
        cfg("reach::unix::linux::decide_linux"),
        ["unix", "target_os = \"linux\""]
    );
    // 13 of 19 files reached; the other 6 each with its reason.
    assert_eq!(report["files_scanned"].as_u64(), Some(13));
    assert_eq!(report["files_total"].as_u64(), Some(19));
    let unreached: Vec<(String, String)> = report["unreached_files"]
        .as_array()
        .expect("unreached_files")
        .iter()
        .map(|u| {
            (
                u["file"].as_str().expect("file").to_owned(),
                u["reason"].as_str().expect("reason").to_owned(),
            )
        })
        .collect();
    let want: Vec<(String, String)> = [
        ("src/broken/child.rs", "parent_unparsed"),
        ("src/hidden.rs", "macro_unparsed"),
        ("src/inline_test.rs", "test_target"),
        ("src/orphan.rs", "not_declared"),
        ("src/slow_tests.rs", "test_only"),
        ("src/tests.rs", "test_only"),
    ]
    .into_iter()
    .map(|(a, b)| (a.to_owned(), b.to_owned()))
    .collect();
    assert_eq!(unreached, want);
    // The raw identifier is no "module not found": the only parse error is the broken file.
    let errors: Vec<&str> = report["parse_errors"]
        .as_array()
        .expect("parse_errors")
        .iter()
        .map(|e| e["file"].as_str().expect("file"))
        .collect();
    assert_eq!(errors, ["src/broken.rs"]);

    // Every rendering says how many files were reached and lists the others.
    let r = xtask(&["--workspace", ws.to_str().expect("utf-8"), "--no-write"]);
    assert!(
        r.stdout
            .contains("Files: reached 13 of 19 files (6 not reached"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("src/hidden.rs                            macro_unparsed: declared in a macro the scanner could not parse: `declare_hidden!` at src/lib.rs:26"),
        "{}",
        r.stdout
    );
    let md = xtask(&[
        "--workspace",
        ws.to_str().expect("utf-8"),
        "--no-write",
        "--format",
        "markdown",
    ]);
    assert!(
        md.stdout.contains("Files: reached 13 of 19 files"),
        "{}",
        md.stdout
    );
    assert!(
        md.stdout
            .contains("| `src/orphan.rs` | not_declared | not declared by any reached module |"),
        "{}",
        md.stdout
    );
    let tmp = temp_dir("reach-html");
    let html = tmp.join("r.html");
    let h = xtask(&[
        "--workspace",
        ws.to_str().expect("utf-8"),
        "--no-write",
        "--format",
        "none",
        "--html",
        html.to_str().expect("utf-8"),
    ]);
    assert_eq!(h.code, 0, "{}", h.stderr);
    let page = std::fs::read_to_string(&html).expect("html");
    check_html(&page).expect("well-formed HTML");
    assert!(page.contains("reached 13 of 19 files"));
    assert!(page.contains("<td><code>src/slow_tests.rs</code></td><td>test_only</td>"));

    // Without the broken file, `--deny-parse-errors` passes: `mod r#type;` is valid code.
    let copy = tmp.join("ws");
    copy_dir(&ws, &copy);
    let lib = copy.join("src/lib.rs");
    let src = std::fs::read_to_string(&lib).expect("lib.rs");
    std::fs::write(&lib, src.replace("mod broken;\n", "")).expect("write");
    let copy_s = copy.to_str().expect("utf-8");
    let d = xtask(&["--workspace", copy_s, "--no-write", "--deny-parse-errors"]);
    assert_eq!(d.code, 0, "{}{}", d.stdout, d.stderr);
    // broken.rs and its child are now simply not declared.
    assert!(
        d.stdout.contains("reached 12 of 19 files (7 not reached"),
        "{}",
        d.stdout
    );

    // With `include_tests`, the test-only modules and the test target are reached too.
    let toml = copy.join("audit.toml");
    let rules = std::fs::read_to_string(&toml).expect("audit.toml");
    std::fs::write(&toml, format!("{rules}include_tests = true\n")).expect("write");
    let t = json_report(&copy, &[]);
    assert_eq!(t["files_scanned"].as_u64(), Some(15));
    let reasons: Vec<&str> = t["unreached_files"]
        .as_array()
        .expect("unreached")
        .iter()
        .map(|u| u["reason"].as_str().expect("reason"))
        .collect();
    assert_eq!(
        reasons,
        [
            "not_declared",
            "not_declared",
            "macro_unparsed",
            "not_declared"
        ]
    );
    // decide_slow, decide_in_test and the `#[test]` fn decide_in_integration_test.
    assert_eq!(t["summary"]["points"].as_u64(), Some(24));
    let _ = std::fs::remove_dir_all(&tmp);
}

#[test]
fn markdown_summary_is_printed_written_and_kept_to_its_budget() {
    let ws = fixtures().join("agents");
    let ws = ws.to_str().expect("utf-8");
    let whole = xtask(&[
        "--workspace",
        ws,
        "--no-write",
        "--format",
        "markdown-summary",
    ]);
    assert_eq!(whole.code, 0, "{}", whole.stderr);
    assert!(whole.stdout.starts_with("# Audit coverage (summary)"));
    assert!(whole.stdout.contains("## Unaudited decision points (8)"));
    assert!(
        whole
            .stdout
            .contains("| `loans/src/tools.rs:25` | `loans::tools::<Email as Tool>::call` |")
    );
    assert!(!whole.stdout.contains("... and"), "the fixture fits whole");

    let tmp = temp_dir("summary");
    let file = tmp.join("pr-comment.md");
    let small = xtask(&[
        "--workspace",
        ws,
        "--no-write",
        "--format",
        "markdown-summary",
        "--summary-max-chars",
        "2500",
        "--markdown-summary",
        file.to_str().expect("utf-8"),
    ]);
    assert_eq!(small.code, 0, "{}", small.stderr);
    let n = small.stdout.chars().count();
    assert!(n <= 2500, "{n} characters");
    assert!(
        small
            .stdout
            .contains("more unaudited points (see the full report)")
            || small.stdout.contains("more findings (see the full report)"),
        "{}",
        small.stdout
    );
    assert_eq!(
        std::fs::read_to_string(&file).expect("summary file"),
        small.stdout
    );

    let bad = xtask(&["--workspace", ws, "--summary-max-chars", "100"]);
    assert_eq!(bad.code, 2);
    assert!(
        bad.stderr.contains("--summary-max-chars: 100 is too small"),
        "{}",
        bad.stderr
    );
}
