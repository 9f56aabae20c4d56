//! Fuzz-style test of the redaction rule file: `RedactionConfig::from_toml_str` on random bytes
//! and mutations of valid rule files (bytes flipped, values replaced by wrong types, huge
//! numbers, deep nesting, invalid UTF-8, long strings), then compiling what parses
//! (`RedactionEngine::new`: patterns, validators, paths) and running it on text. Property: Ok
//! or Err, never a panic, bounded time. `AUDIT_FUZZ_CASES=<n>` runs longer.
#![allow(clippy::unwrap_used)]

#[path = "../../audit-exporters/tests/fuzz_support/mod.rs"]
mod fuzz_support;

use audit_runtime::digest::DigestKey;
use audit_runtime::redact::{RedactionConfig, RedactionEngine};
use fuzz_support::{bounded, config, inputs, text};
use proptest::prelude::*;

/// The example of docs/REDACTION.md, and smaller valid files.
const SEEDS: &[&str] = &[
    r#"format = 1                      # the file format; only 1 exists
version = "acme-2026-11-02"     # your rule-set version, written into every record

[detectors]
defaults = true                 # false switches the built-in detectors OFF (visible in records)
sensitive_keys = ["dob"]        # more object keys whose values are erased wherever they occur

[detectors.actions]             # per-detector action: erase, mask, mask(N), hash, digest, off
email = "mask(4)"
ipv4 = "off"

[[detector]]                    # user-defined detectors (regex crate syntax)
name = "employee_id"
pattern = 'EMP-(?P<value>[0-9]{6})'   # a group named `value` limits redaction to it
action = "hash"
validate = "luhn"

[[rule]]                        # path rules, like redact(..) in the attribute
point = "*"
path = "applicant.dob"
action = "erase"
"#,
    "format = 1\n[detectors]\ndefaults = false\n",
    "format = 1\n[[detector]]\nname = \"x\"\npattern = '(a|b)*c{2,5}'\naction = \"mask(3)\"\n",
    "format = 1\n[[rule]]\npoint = \"*\"\npath = \"a.b[].*.c\"\naction = \"digest\"\n",
    "format = 1\nversion = \"v\"\n[detectors.actions]\nemail = \"hash\"\n",
];

fn seeds() -> Vec<Vec<u8>> {
    SEEDS.iter().map(|s| s.as_bytes().to_vec()).collect()
}

fn load_and_run(bytes: &[u8]) {
    let Ok(cfg) = RedactionConfig::from_toml_str(&text(bytes), "fuzz.toml") else {
        return;
    };
    let Ok(engine) = RedactionEngine::new(&cfg) else {
        return;
    };
    let key = DigestKey::from_bytes([3; 32]);
    for t in [
        "EMP-123456 jane@example.com 4111 1111 1111 1111",
        "aabbcc 10.0.0.1",
        "",
    ] {
        let _ = engine.scan_text(t);
        let _ = engine.redact_text(t, &key);
    }
}

proptest! {
    #![proptest_config(config(192))]

    #[test]
    fn rule_files_never_panic(input in inputs(seeds())) {
        bounded("rule file", || load_and_run(&input));
    }
}

#[test]
fn seeds_are_valid_rule_files() {
    for s in SEEDS {
        let cfg = RedactionConfig::from_toml_str(s, "seed.toml").unwrap();
        RedactionEngine::new(&cfg).unwrap();
    }
}

/// Deep nesting in every TOML form (arrays, inline tables, dotted keys, table headers) is an
/// error or a value, never a stack overflow: the parser must bound its recursion.
#[test]
fn deeply_nested_toml_does_not_overflow() {
    let n = 100_000;
    let inputs = [
        format!("format = 1\nversion = {}{}\n", "[".repeat(n), "]".repeat(n)),
        format!(
            "format = 1\nversion = {}1{}\n",
            "{a=".repeat(n),
            "}".repeat(n)
        ),
        format!("format = 1\nversion.{} = 1\n", vec!["a"; n].join(".")),
        format!("format = 1\n[{}]\n", vec!["a"; n].join(".")),
    ];
    for input in inputs {
        let r = bounded("deep toml", || {
            RedactionConfig::from_toml_str(&input, "deep.toml")
        });
        assert!(r.is_err());
    }
}

/// Patterns that are costly for some regex engines: each compiles (or is refused for its size)
/// and then scans a long text, in bounded time.
#[test]
fn pathological_patterns_stay_bounded() {
    let key = DigestKey::from_bytes([3; 32]);
    let long = "a".repeat(100_000) + "!";
    let mut compiled = 0;
    for pattern in [
        "(a|aa)*b",
        "(a*)*b",
        "(?:a?){50}a{50}",
        "\\w{1000}{1000}",
        "(?i)\\p{L}{2000}",
        "((((((((((a))))))))))*",
        "[^\\n]{0,65535}x",
    ] {
        let file = format!(
            "format = 1\n[[detector]]\nname = \"p\"\npattern = '{pattern}'\naction = \"hash\"\n"
        );
        let cfg = RedactionConfig::from_toml_str(&file, "p.toml").unwrap();
        let Ok(engine) = bounded(pattern, || RedactionEngine::new(&cfg)) else {
            continue;
        };
        compiled += 1;
        bounded(pattern, || engine.redact_text(&long, &key));
    }
    assert!(compiled >= 3, "{compiled}");
}
