//! `cargo xtask ci` (exactly what CI runs), `cargo xtask loom` (the model checker over the
//! queue's lock-free ring) and `cargo xtask demo` (the main job).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

fn root() -> PathBuf {
    // xtask lives one level below the workspace root.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

fn cargo() -> Command {
    let mut c = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    c.current_dir(root());
    c
}

/// Run a step; print it first so CI logs show what ran.
fn step(name: &str, mut cmd: Command) -> Result<(), String> {
    eprintln!("\n==> {name}: {cmd:?}");
    let status = cmd
        .status()
        .map_err(|e| format!("{name}: cannot start: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{name} failed ({status})"))
    }
}

fn finish(result: Result<(), String>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("\nxtask: {e}");
            ExitCode::FAILURE
        }
    }
}

/// fmt, clippy (warnings denied; also audit-runtime and audit-exporters without their default
/// features), the audit-coverage gate on this repository (whose examples
/// carry deliberate gaps), every test of every crate with every feature (trybuild UI tests,
/// kill -9 crash tests, OTLP over real loopback sockets), then the loom models of the ring.
pub(crate) fn ci(_args: &[String]) -> ExitCode {
    finish((|| {
        let mut fmt = cargo();
        fmt.args(["fmt", "--all", "--check"]);
        step("format", fmt)?;
        let mut clippy = cargo();
        clippy.args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--all-features",
            "--",
            "-D",
            "warnings",
        ]);
        step("clippy", clippy)?;
        // The slim builds (docs/BENCHMARKS.md, "Build cost"): the libraries without their
        // default features still compile, warning-free.
        for krate in ["audit-runtime", "audit-exporters"] {
            let mut slim = cargo();
            slim.args([
                "clippy",
                "-p",
                krate,
                "--lib",
                "--no-default-features",
                "--",
                "-D",
                "warnings",
            ]);
            step(&format!("{krate} without default features"), slim)?;
        }
        let mut cov = cargo();
        cov.args([
            "xtask",
            "coverage",
            "--fail-under",
            "80",
            "--min-complete-annotations",
            "50",
            "--no-write",
        ]);
        step("audit coverage gate", cov)?;
        // What docs.rs builds, with every warning (broken or ambiguous links) an error.
        let mut doc = cargo();
        doc.args(["doc", "--workspace", "--no-deps", "--all-features"])
            .env("RUSTDOCFLAGS", "-D warnings");
        step("rustdoc", doc)?;
        // The library crates as crates.io would take them: packaged, then built from the
        // package alone (a file outside a crate's directory, a missing readme or license fails).
        forget_packaged_sources();
        let mut package = cargo();
        package.args([
            "package",
            "-p",
            "audit-macros",
            "-p",
            "audit-runtime",
            "-p",
            "audit-exporters",
            "-p",
            "audit-coverage",
            "--allow-dirty",
        ]);
        step("package", package)?;
        let mut test = cargo();
        test.args(["test", "--workspace", "--all-features", "--no-fail-fast"])
            // Also build and run a team's own xtask on audit-coverage (a second workspace: about
            // a minute cold, so `cargo test` alone skips it).
            .env("AUDIT_COVERAGE_OWN_XTASK", "1");
        run_tests(test)?;
        run_loom()
    })())
}

/// The crates `cargo package` packaged last time, as cargo unpacked them from its local overlay
/// registry into `$CARGO_HOME/registry/src/-<hash>/`. Cargo does not unpack a crate again when
/// its directory exists, so a second run at the same version would verify against the old
/// sources (and fail on anything added since). Registries of the network (`index.*`) are not
/// touched.
fn forget_packaged_sources() {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    let Some(src) = home.map(|h| h.join("registry/src")) else {
        return;
    };
    let Ok(registries) = std::fs::read_dir(&src) else {
        return;
    };
    for registry in registries.flatten() {
        if registry.file_name().to_string_lossy().starts_with("index.") {
            continue;
        }
        let Ok(crates) = std::fs::read_dir(registry.path()) else {
            continue;
        };
        for krate in crates.flatten() {
            let name = krate.file_name().to_string_lossy().into_owned();
            if [
                "audit-macros-",
                "audit-runtime-",
                "audit-exporters-",
                "audit-coverage-",
            ]
            .iter()
            .any(|p| name.starts_with(p))
            {
                let _ = std::fs::remove_dir_all(krate.path());
            }
        }
    }
}

/// loom's model checker over the queue's lock-free ring (`audit-runtime/src/ring.rs`): every
/// interleaving of each model in `ring/loom_tests.rs`, run through the ring's own code.
pub(crate) fn loom(_args: &[String]) -> ExitCode {
    finish(run_loom())
}

/// `--cfg loom` changes every crate's flags, so the build has its own target directory
/// (`target/loom`) and leaves the normal one alone.
fn run_loom() -> Result<(), String> {
    use std::io::{BufRead as _, BufReader};
    let start = std::time::Instant::now();
    let flags = match std::env::var("RUSTFLAGS") {
        Ok(f) if !f.trim().is_empty() => format!("{f} --cfg loom"),
        _ => "--cfg loom".to_owned(),
    };
    let mut cmd = cargo();
    cmd.env("RUSTFLAGS", flags)
        // The dev profile: a cold build takes a third of a release one, and the models still
        // run in seconds (`docs/BENCHMARKS.md`).
        .args(["test", "-p", "audit-runtime", "--lib", "--target-dir"])
        .arg(root().join("target/loom"))
        .args(["ring::loom_tests::", "--", "--nocapture"]);
    eprintln!("\n==> loom: {cmd:?}");
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("loom: cannot start: {e}"))?;
    // Each model prints `loom: <name>: <n> executions`; none means the filter matched nothing.
    let mut models = 0;
    if let Some(out) = child.stdout.take() {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            println!("{line}");
            models += line.matches("loom: ").count();
        }
    }
    let status = child.wait().map_err(|e| format!("loom: {e}"))?;
    println!(
        "\nloom: {models} models checked in {:.1} s, build included",
        start.elapsed().as_secs_f64()
    );
    if !status.success() {
        return Err(format!("loom failed ({status})"));
    }
    if models == 0 {
        return Err("loom: no model ran (renamed tests?)".to_owned());
    }
    Ok(())
}

/// Run the test suite, echoing its output, and end the log with one line that totals every
/// `test result:` line (the per-binary summaries end with doc-test crates that hold no tests).
fn run_tests(mut cmd: Command) -> Result<(), String> {
    use std::io::{BufRead as _, BufReader};
    eprintln!("\n==> tests: {cmd:?}");
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("tests: cannot start: {e}"))?;
    let (mut passed, mut failed, mut ignored) = (0u64, 0u64, 0u64);
    if let Some(out) = child.stdout.take() {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            println!("{line}");
            if let Some(rest) = line.strip_prefix("test result: ") {
                let count = |what: &str| {
                    rest.split(';')
                        .find_map(|part| {
                            part.trim()
                                .strip_suffix(what)?
                                .trim()
                                .rsplit(' ')
                                .next()?
                                .parse::<u64>()
                                .ok()
                        })
                        .unwrap_or(0)
                };
                passed += count("passed");
                failed += count("failed");
                ignored += count("ignored");
            }
        }
    }
    let status = child.wait().map_err(|e| format!("tests: {e}"))?;
    println!("\ntests: {passed} passed, {failed} failed, {ignored} skipped");
    if status.success() {
        Ok(())
    } else {
        Err(format!("tests failed ({status})"))
    }
}

/// The demo's proof step: an inclusion proof of the first decision that a third party checks
/// with the public key and the proof alone, and the log checked against its anchor (the latest
/// signed checkpoint, kept outside the log directory).
fn prove_a_decision(dir: &Path) -> Result<(), String> {
    use audit_exporters::file::{VerifierKey, VerifyOptions, check_record_proof, prove_record};
    let log = dir.join("log");
    let key_text = std::fs::read_to_string(dir.join("loan-agent.vkey"))
        .map_err(|e| format!("verifier key: {e}"))?;
    let key = VerifierKey::parse(&key_text).map_err(|e| format!("verifier key: {e}"))?;
    let mut id = None;
    let mut segs: Vec<PathBuf> = std::fs::read_dir(&log)
        .map_err(|e| format!("{}: {e}", log.display()))?
        .filter_map(|e| Some(e.ok()?.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    segs.sort();
    'find: for seg in &segs {
        let text = std::fs::read_to_string(seg).map_err(|e| format!("{}: {e}", seg.display()))?;
        for line in text.lines() {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            if v.get("kind").and_then(|k| k.as_str()) == Some("decision") {
                id = v
                    .get("record_id")
                    .and_then(|r| r.as_str())
                    .map(str::to_owned);
                break 'find;
            }
        }
    }
    let id = id.ok_or("the demo log holds no decision")?;
    eprintln!("\n==> prove decision {id} (C2SP tlog-proof), then check it with the key alone");
    let proof = prove_record(&log, &id).map_err(|e| e.to_string())?;
    let proof_file = dir.join("decision.proof");
    std::fs::write(&proof_file, &proof).map_err(|e| format!("{}: {e}", proof_file.display()))?;
    let r = check_record_proof(&proof, &key).map_err(|e| e.to_string())?;
    eprintln!(
        "proof in {}: OK, line {} of {} lines of {} is included under a checkpoint signed by {}",
        proof_file.display(),
        r.index,
        r.size,
        r.origin,
        key.label()
    );
    let anchors: Vec<String> = std::fs::read_dir(dir.join("anchor"))
        .map_err(|e| format!("anchor directory: {e}"))?
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
        .collect();
    eprintln!(
        "==> verify the log against its anchor ({} note(s) in {})",
        anchors.len(),
        dir.join("anchor").display()
    );
    let options = VerifyOptions {
        anchors,
        ..VerifyOptions::pinned(key)
    };
    let s = audit_exporters::file::verify_dir(&log, &options).map_err(|e| e.to_string())?;
    for c in &s.chains {
        for size in &c.anchored {
            eprintln!(
                "{}/{}: consistent with the anchored checkpoint of {size} lines",
                c.service, c.chain
            );
        }
    }
    Ok(())
}

/// The demo's investigation step (`audit` command, in process): the decision a loan officer
/// overrode, as a tree with the override attached, then its evidence bundle, checked offline.
fn investigate(dir: &Path) -> Result<(), String> {
    use audit_exporters::investigate::cli;
    let log = dir.join("log");
    let mut decision = None;
    for e in std::fs::read_dir(&log).map_err(|e| format!("{}: {e}", log.display()))? {
        let p = e.map_err(|e| e.to_string())?.path();
        if p.extension().is_none_or(|x| x != "jsonl") {
            continue;
        }
        let text = std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?;
        decision = decision.or_else(|| {
            text.lines()
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .find(|v| v.get("kind").and_then(|k| k.as_str()) == Some("human_action"))
                .and_then(|v| v["correlation"]["decision_id"].as_str().map(str::to_owned))
        });
    }
    let decision = decision.ok_or("the demo log holds no human action")?;
    let key = dir.join("loan-agent.vkey").display().to_string();
    let log = log.display().to_string();
    let bundle = dir.join("evidence").display().to_string();
    let _ = std::fs::remove_dir_all(&bundle);
    let s = |v: &[&str]| v.iter().map(|x| (*x).to_owned()).collect::<Vec<String>>();
    for (what, args) in [
        (
            "the overridden decision as a tree",
            s(&["show", &log, &decision, "--key", &key]),
        ),
        (
            "its evidence bundle (records, inclusion proofs, checkpoint, summary)",
            s(&["evidence", &log, &decision, "-o", &bundle, "--key", &key]),
        ),
        (
            "the bundle checked offline with the pinned key alone",
            s(&["verify-evidence", &bundle, "--key", &key]),
        ),
    ] {
        eprintln!("\n==> audit {}: {what}", args[0]);
        let mut out = Vec::new();
        let mut err = Vec::new();
        let code = cli::run(&args, &mut out, &mut err);
        eprint!(
            "{}{}",
            String::from_utf8_lossy(&out),
            String::from_utf8_lossy(&err)
        );
        if code != 0 {
            return Err(format!("audit {} exited {code}", args[0]));
        }
    }
    Ok(())
}

/// Run the loan agent (audit log to local files), verify the log offline, and report audit
/// coverage from the sources, the binary's registry and the log.
pub(crate) fn demo(args: &[String]) -> ExitCode {
    let dir = args
        .first()
        .map_or_else(|| root().join("target/audit-demo"), PathBuf::from);
    finish((|| {
        let mut run = cargo();
        run.args([
            "run",
            "--quiet",
            "-p",
            "examples",
            "--example",
            "loan_agent",
            "--",
        ])
        .arg(&dir);
        step("loan agent", run)?;
        let mut verify = cargo();
        verify
            .args(["xtask", "verify"])
            .arg(dir.join("log"))
            .arg("--key")
            .arg(dir.join("loan-agent.vkey"));
        step("verify the audit log", verify)?;
        prove_a_decision(&dir)?;
        investigate(&dir)?;
        let mut cov = cargo();
        cov.args(["xtask", "coverage", "--show-missing", "--registry"])
            .arg(dir.join("registry.json"))
            .arg("--logs")
            .arg(dir.join("log"));
        // The report is informational here; the demo's deliberate gaps make it fail no gate.
        step("audit coverage", cov)?;
        eprintln!(
            "\ndemo done: log in {}, reports in {}",
            dir.join("log").display(),
            root().join("target/audit-coverage").display()
        );
        Ok(())
    })())
}
