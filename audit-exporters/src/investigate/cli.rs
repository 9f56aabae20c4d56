//! The `audit` command line: argument parsing and the exit codes (0 ok, 1 not found or
//! verification failed, 2 usage). Output goes to the writers given, so tests can run it.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::evidence::{make_bundle, verify_bundle};
use super::query::{self, Filter, SortKey};
use super::store::{LoadOptions, Store};
use super::{stats, tree};
use crate::file::VerifierKey;

/// The usage text.
pub const USAGE: &str = "\
usage: audit <command> <dir> [options]

commands:
  ls <dir> [filters] [--sort time|duration|point|kind|seq] [--limit N] [--jsonl | --csv]
      filters: --point NAME --kind KIND --status STATUS --model NAME[@VER] --prompt NAME[@VER]
               --policy NAME[@VER] --session ID --run ID --trace ID --decision ID --actor WHO
               --since RFC3339|DATE --until RFC3339|DATE
  show <dir> <record|decision|run|trace|session id> [--json]
  timeline <dir> <run|session|trace|record id> [--wait-ms N]
  stats <dir> [filters] [--json]
  evidence <dir> <decision id> -o <bundle dir> [--key VKEY]
  verify-evidence <bundle dir> --key VKEY [--expect BUNDLE_DIGEST]

common options (every command that reads a log):
  --key VKEY               pin the verifier key: checkpoint signatures are checked too
  --allow-unsigned-tail    accept records after the latest signed checkpoint (with --key)
  --unverified             show records even when the log fails verification (each marked;
                           the exit status is still 1)

exit status: 0 ok, 1 not found or verification failed, 2 usage";

struct Args {
    positional: Vec<String>,
    filter: Filter,
    key: Option<VerifierKey>,
    key_file: Option<String>,
    allow_unsigned_tail: bool,
    unverified: bool,
    json: bool,
    jsonl: bool,
    csv: bool,
    sort: SortKey,
    limit: Option<usize>,
    out: Option<PathBuf>,
    expect: Option<String>,
    wait_ms: f64,
}

fn parse(args: &[String]) -> Result<Args, String> {
    let mut a = Args {
        positional: Vec::new(),
        filter: Filter::default(),
        key: None,
        key_file: None,
        allow_unsigned_tail: false,
        unverified: false,
        json: false,
        jsonl: false,
        csv: false,
        sort: SortKey::Time,
        limit: None,
        out: None,
        expect: None,
        wait_ms: 1.0,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut val = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        let f = &mut a.filter;
        match arg.as_str() {
            "--point" => f.point = Some(val("--point")?),
            "--kind" => f.kind = Some(val("--kind")?),
            "--status" => f.status = Some(val("--status")?),
            "--model" => f.model = Some(val("--model")?),
            "--prompt" => f.prompt = Some(val("--prompt")?),
            "--policy" => f.policy = Some(val("--policy")?),
            "--session" => f.session = Some(val("--session")?),
            "--run" => f.run = Some(val("--run")?),
            "--trace" => f.trace = Some(val("--trace")?),
            "--decision" => f.decision = Some(val("--decision")?),
            "--actor" => f.actor = Some(val("--actor")?),
            "--since" | "--until" => {
                let v = val(arg)?;
                let t = query::parse_time_arg(&v).ok_or_else(|| {
                    format!("{arg} {v}: not an RFC 3339 UTC time (2026-11-26T19:50:45Z) or date")
                })?;
                if arg == "--since" {
                    f.since_ns = Some(t);
                } else {
                    f.until_ns = Some(t);
                }
            }
            "--key" => {
                let file = val("--key")?;
                let text = std::fs::read_to_string(&file)
                    .map_err(|e| format!("--key: cannot read {file}: {e}"))?;
                a.key = Some(
                    VerifierKey::parse(text.trim())
                        .map_err(|e| format!("--key {file}: not a verifier key: {e}"))?,
                );
                a.key_file = Some(file);
            }
            "--allow-unsigned-tail" => a.allow_unsigned_tail = true,
            "--unverified" => a.unverified = true,
            "--json" => a.json = true,
            "--jsonl" => a.jsonl = true,
            "--csv" => a.csv = true,
            "--sort" => {
                let v = val("--sort")?;
                a.sort = SortKey::parse(&v).ok_or_else(|| {
                    format!("--sort {v}: expected time, duration, point, kind or seq")
                })?;
            }
            "--limit" => {
                let v = val("--limit")?;
                a.limit = Some(
                    v.parse()
                        .map_err(|_| format!("--limit {v}: not a non-negative integer"))?,
                );
            }
            "-o" | "--out" => a.out = Some(PathBuf::from(val("-o")?)),
            "--expect" => a.expect = Some(val("--expect")?),
            "--wait-ms" => {
                let v = val("--wait-ms")?;
                a.wait_ms = v
                    .parse()
                    .ok()
                    .filter(|x: &f64| x.is_finite() && *x >= 0.0)
                    .ok_or_else(|| format!("--wait-ms {v}: not a non-negative number"))?;
            }
            s if s.starts_with('-') => return Err(format!("unknown option {s}")),
            s => a.positional.push(s.to_owned()),
        }
    }
    if a.jsonl && a.csv {
        return Err("--jsonl and --csv are exclusive".into());
    }
    Ok(a)
}

/// Run `audit` with `args` (without the program name). Returns the exit status.
pub fn run(args: &[String], out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let Some(cmd) = args.first() else {
        let _ = writeln!(err, "{USAGE}");
        return 2;
    };
    if cmd == "-h" || cmd == "--help" || cmd == "help" {
        let _ = writeln!(out, "{USAGE}");
        return 0;
    }
    let a = match parse(&args[1..]) {
        Ok(a) => a,
        Err(e) => {
            let _ = writeln!(err, "audit {cmd}: {e}\n\n{USAGE}");
            return 2;
        }
    };
    let want = |n: usize, what: &str, err: &mut dyn Write| {
        if a.positional.len() != n {
            let _ = writeln!(err, "audit {cmd}: expected {what}\n\n{USAGE}");
            false
        } else {
            true
        }
    };
    match cmd.as_str() {
        "ls" | "stats" if !want(1, "<dir>", err) => 2,
        "show" | "timeline" if !want(2, "<dir> <id>", err) => 2,
        "evidence" if !want(2, "<dir> <decision id>", err) => 2,
        "verify-evidence" if !want(1, "<bundle dir>", err) => 2,
        "ls" | "stats" | "show" | "timeline" | "evidence" => read_command(cmd, &a, out, err),
        "verify-evidence" => {
            let Some(key) = &a.key else {
                let _ = writeln!(
                    err,
                    "audit verify-evidence: --key <vkey file> is required: the key in the bundle \
                     proves nothing, pin the one you trust"
                );
                return 2;
            };
            match verify_bundle(Path::new(&a.positional[0]), key, a.expect.as_deref()) {
                Ok(v) => {
                    let _ = writeln!(
                        out,
                        "OK: evidence for decision {}: {} record(s), each proven under a \
                         checkpoint signed by {}; bundle digest {}{}",
                        v.decision,
                        v.records,
                        key.label(),
                        v.digest,
                        if a.expect.is_some() {
                            " (as expected)"
                        } else {
                            " (compare it with the one given when the bundle was made: \
                             without it, a leaf record removed together with its manifest \
                             entry and summary is not detected)"
                        }
                    );
                    0
                }
                Err(e) => {
                    let _ = writeln!(out, "FAILED: {e}");
                    1
                }
            }
        }
        other => {
            let _ = writeln!(err, "audit: unknown command {other}\n\n{USAGE}");
            2
        }
    }
}

fn not_found(store: &Store, id: &str, err: &mut dyn Write) -> u8 {
    let close = store.closest_ids(id, 5);
    let _ = writeln!(
        err,
        "no record, decision, run, trace or session with id {id} in {}",
        store.dir.display()
    );
    if !close.is_empty() {
        let _ = writeln!(err, "closest ids:");
        for c in close {
            let _ = writeln!(err, "  {c}");
        }
    }
    1
}

fn read_command(cmd: &str, a: &Args, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let dir = Path::new(&a.positional[0]);
    let store = match Store::load(
        dir,
        &LoadOptions {
            key: a.key.clone(),
            allow_unsigned_tail: a.allow_unsigned_tail,
        },
    ) {
        Ok(s) => s,
        Err(e) => {
            let _ = writeln!(err, "audit {cmd}: {e}");
            return 1;
        }
    };
    if let Err(e) = &store.verdict {
        if !a.unverified || cmd == "evidence" {
            let _ = writeln!(
                err,
                "audit {cmd}: FAILED verification: {e}\n(nothing is shown from a log that fails \
                 verification; --unverified shows the records, each marked)"
            );
            return 1;
        }
        let _ = writeln!(err, "WARNING: {}", store.verdict_line());
    }
    let status = u8::from(!store.verified());
    let w = |out: &mut dyn Write, s: &str| {
        let _ = out.write_all(s.as_bytes());
    };
    match cmd {
        "ls" => {
            let rows = query::select(&store, &a.filter, a.sort, a.limit);
            if a.jsonl {
                w(out, &query::jsonl(&store, &rows));
            } else if a.csv {
                w(out, &query::csv(&store, &rows));
            } else {
                let _ = writeln!(err, "{}", store.verdict_line());
                w(out, &query::table(&store, &rows));
                let _ = writeln!(err, "{} record(s)", rows.len());
            }
            status
        }
        "stats" => {
            let rows = query::select(&store, &a.filter, SortKey::Seq, None);
            let s = stats::stats(&store, &rows);
            if a.json {
                let _ = writeln!(out, "{}", stats::to_json(&s));
            } else {
                let _ = writeln!(out, "{}", store.verdict_line());
                w(out, &stats::render(&s));
            }
            status
        }
        "show" => match tree::tree(&store, &a.positional[1]) {
            Some(t) => {
                if a.json {
                    let _ = writeln!(out, "{:#}", tree::to_json(&store, &t));
                } else {
                    w(out, &tree::render(&store, &t));
                }
                status
            }
            None => not_found(&store, &a.positional[1], err),
        },
        "timeline" => match tree::timeline(&store, &a.positional[1]) {
            Some((m, rows)) => {
                let _ = writeln!(out, "timeline of {} {}", m.as_str(), a.positional[1]);
                w(
                    out,
                    &tree::render_timeline(&store, &rows, (a.wait_ms * 1e6) as u64),
                );
                status
            }
            None => not_found(&store, &a.positional[1], err),
        },
        "evidence" => {
            let Some(o) = &a.out else {
                let _ = writeln!(
                    err,
                    "audit evidence: -o <bundle dir> is required\n\n{USAGE}"
                );
                return 2;
            };
            let id = &a.positional[1];
            if store.record(id).is_none() {
                return not_found(&store, id, err);
            }
            match make_bundle(&store, id, o, a.key.as_ref()) {
                Ok(r) => {
                    // Never hand out a bundle that does not check: verify it as a recipient
                    // would, with the pinned key.
                    if let Some(k) = &a.key
                        && let Err(e) = verify_bundle(o, k, Some(&r.digest))
                    {
                        let _ = writeln!(
                            err,
                            "audit evidence: the bundle written to {} does not verify: {e}",
                            o.display()
                        );
                        return 1;
                    }
                    let _ = writeln!(
                        out,
                        "wrote {}: {} record(s) with inclusion proofs\nbundle digest {} (keep \
                         it apart from the bundle: `audit verify-evidence {} --key <vkey> \
                         --expect {}`)",
                        r.path.display(),
                        r.records,
                        r.digest,
                        r.path.display(),
                        r.digest
                    );
                    if a.key_file.is_none() {
                        let _ = writeln!(
                            err,
                            "note: no --key given: the log's signatures were not checked while \
                             making the bundle, and it holds no key.vkey"
                        );
                    }
                    0
                }
                Err(e) => {
                    let _ = writeln!(err, "audit evidence: {e}");
                    1
                }
            }
        }
        _ => 2,
    }
}
