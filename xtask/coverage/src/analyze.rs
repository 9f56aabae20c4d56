//! From a workspace and its rules to the static part of the report: which files are compiled
//! (following `mod` declarations from each target's root, as rustc does), which functions are
//! decision points, and how good their annotations are.
//!
//! What must hold:
//! - Files are found by following `mod` items from the crate roots Cargo names, so a file no
//!   target compiles is not counted, and `#[path]` and `mod.rs` layouts are honoured.
//! - Audited functions are always points; rules only add unaudited candidates. An exemption
//!   without a reason exempts nothing (it is reported as an error finding instead).
//! - The result does not depend on thread scheduling: files are scanned in parallel, then
//!   points and findings are sorted.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::config::{self, Config, glob_match, matching_term};
use super::model::{
    Annotation, DeclaredVersion, Finding, ParseError, Point, Report, SCHEMA_VERSION, Severity,
    Status, UnreachedFile,
};
use super::scan::{self, CallFact, FileCtx, FileScan, FnFacts, OptValue, PathSegs, Root, Step, Ty};
use super::workspace::Workspace;

/// The attributes' option keys and artifact roles: the macros' own table, so the scanner and the
/// macros cannot disagree (options missing from it are listed as `other_options`).
use super::grammar::{KEYS as KNOWN_OPTIONS, ROLES};

/// Named fields of every struct of one package, by struct name: for `self.client.chat()`.
type StructFields = HashMap<String, Vec<(String, Ty)>>;

/// What the `use` items of one package make of paths: `krate::prelude::Tool` stands for
/// `rig::tool::Tool` after `pub use rig::tool::Tool;` in `krate::prelude` (or after `pub use
/// rig::tool::*;` there), so a rule written with the defining path matches code that names the
/// re-export.
#[derive(Default)]
struct Reexports {
    names: HashMap<PathSegs, Vec<PathSegs>>,
    globs: Vec<(PathSegs, Vec<PathSegs>)>,
}

impl Reexports {
    /// `p` and every path it stands for through re-exports (a few rounds, bounded).
    fn expand(&self, p: &PathSegs) -> Vec<PathSegs> {
        let mut out = vec![p.clone()];
        let mut frontier = vec![p.clone()];
        for _ in 0..4 {
            let mut next = Vec::new();
            for q in &frontier {
                for k in 1..=q.len() {
                    if let Some(tos) = self.names.get(&q[..k]) {
                        for to in tos {
                            let mut v = to.clone();
                            v.extend(q[k..].iter().cloned());
                            next.push(v);
                        }
                    }
                }
                for (g, tos) in &self.globs {
                    if q.len() > g.len() && q.starts_with(g) {
                        for to in tos {
                            let mut v = to.clone();
                            v.extend(q[g.len()..].iter().cloned());
                            next.push(v);
                        }
                    }
                }
            }
            next.retain(|v| !out.contains(v));
            next.dedup();
            if next.is_empty() || out.len() > 64 {
                break;
            }
            out.extend(next.iter().cloned());
            frontier = next;
        }
        out
    }
}

/// What the rules match against, per package.
struct Known<'a> {
    structs: &'a StructFields,
    reexports: &'a Reexports,
}

/// A scanned file with the package it belongs to.
struct ScannedFile {
    rel: String,
    pkg: usize,
    mod_dir: PathBuf,
    scan: FileScan,
}

/// What the module walk saw besides the files it scanned: why other files were not reached.
#[derive(Default)]
struct Walk {
    /// Files declared only by test-only `mod` items, with where.
    test_only: HashMap<String, String>,
    /// Files a `mod` in an unparsed macro would be in, with the macro.
    in_macro: HashMap<String, String>,
}

struct Job {
    path: PathBuf,
    module: String,
    mod_dir: PathBuf,
    cfg: Vec<String>,
    pkg: usize,
}

/// How a path is shown in reports: relative to `root` with `/` separators when it lies inside
/// the workspace, else absolute. A relative `p` is taken from the current directory (as the
/// command line gave it), and `.` and `..` are resolved lexically, so `--config ../rules.toml`
/// prints `/abs/rules.toml` (not `../rules.toml`, which reads as relative to the workspace, nor
/// `//abs/rules.toml`), and a file reached through `#[path = "../../shared/x.rs"]` outside the
/// workspace prints its absolute path.
pub fn relative(root: &Path, p: &Path) -> String {
    let abs = if p.is_absolute() {
        normalize(p)
    } else {
        std::env::current_dir().map_or_else(|_| normalize(p), |cwd| normalize(&cwd.join(p)))
    };
    let root = normalize(root);
    let inside = abs
        .strip_prefix(&root)
        .ok()
        .map(Path::to_path_buf)
        .or_else(|| {
            // Through a symlink (a temp dir, a checkout under a linked home): compare real paths.
            let (a, r) = (
                std::fs::canonicalize(&abs).ok()?,
                std::fs::canonicalize(&root).ok()?,
            );
            a.strip_prefix(r).ok().map(Path::to_path_buf)
        });
    match inside {
        Some(rel) => rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/"),
        None => abs.to_string_lossy().replace('\\', "/"),
    }
}

/// `p` with `.` dropped and `..` applied to the component before it (no file system access).
fn normalize(p: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => match out.components().next_back() {
                Some(Component::Normal(_)) => {
                    out.pop();
                }
                // `/..` is `/`; a relative path keeps its leading `..`s.
                Some(Component::RootDir | Component::Prefix(_)) => {}
                _ => out.push(".."),
            },
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// Scan `jobs` on all cores; results in job order.
fn scan_parallel(jobs: &[Job], ws: &Workspace, config: &Config) -> Vec<FileScan> {
    let threads = std::thread::available_parallelism()
        .map_or(2, std::num::NonZero::get)
        .min(jobs.len().max(1));
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, FileScan)>> = Mutex::new(Vec::with_capacity(jobs.len()));
    let macro_crates: Vec<Vec<String>> = ws
        .packages
        .iter()
        .map(|p| {
            p.macro_crates
                .iter()
                .chain(&config.macro_crates)
                .map(|m| m.replace('-', "_"))
                .collect()
        })
        .collect();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                let mut local = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(job) = jobs.get(i) else { break };
                    let ctx = FileCtx {
                        module: job.module.clone(),
                        mod_dir: job.mod_dir.clone(),
                        cfg: job.cfg.clone(),
                        macro_crates: &macro_crates[job.pkg],
                        include_tests: config.include_tests,
                    };
                    local.push((i, scan::scan_file(&job.path, &ctx)));
                }
                if let Ok(mut r) = results.lock() {
                    r.extend(local);
                }
            });
        }
    });
    let mut r = results
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    r.sort_by_key(|(i, _)| *i);
    r.into_iter().map(|(_, s)| s).collect()
}

/// Scan every compiled file of every member, following `mod` declarations level by level.
fn scan_workspace(ws: &Workspace, config: &Config) -> (Vec<ScannedFile>, Vec<ParseError>, Walk) {
    let mut walk = Walk::default();
    // Normalized, so a file reached twice (`#[path = "../other/src/x.rs"]` and that crate's own
    // `mod x;`) is scanned and counted once, like a file shared by a lib and a bin.
    let mut seen: HashSet<PathBuf> = HashSet::new();
    let mut jobs = Vec::new();
    let mut errors = Vec::new();
    let excluded = |p: &Path| {
        let rel = relative(&ws.root, p);
        config
            .exclude
            .iter()
            .any(|g| config::path_glob_match(g, &rel))
    };
    for (pkg, p) in ws.packages.iter().enumerate() {
        for t in &p.targets {
            if t.is_build_script() || (t.is_test() && !config.include_tests) {
                continue;
            }
            if excluded(&t.src_path) || !seen.insert(normalize(&t.src_path)) {
                continue;
            }
            jobs.push(Job {
                path: t.src_path.clone(),
                module: t.crate_ident.clone(),
                mod_dir: t
                    .src_path
                    .parent()
                    .map(Path::to_path_buf)
                    .unwrap_or_default(),
                cfg: Vec::new(),
                pkg,
            });
        }
    }
    let mut files = Vec::new();
    while !jobs.is_empty() {
        let scans = scan_parallel(&jobs, ws, config);
        let mut next = Vec::new();
        for (job, scan) in jobs.iter().zip(scans) {
            for mm in &scan.macro_mods {
                for c in &mm.candidates {
                    walk.in_macro
                        .entry(relative(&ws.root, c))
                        .or_insert_with(|| {
                            format!(
                                "`{}!` at {}:{}",
                                mm.macro_name,
                                relative(&ws.root, &job.path),
                                mm.line
                            )
                        });
                }
            }
            for child in &scan.children {
                if child.in_test && !config.include_tests {
                    if let Some(f) = &child.file {
                        walk.test_only
                            .entry(relative(&ws.root, f))
                            .or_insert_with(|| {
                                format!("{}:{}", relative(&ws.root, &job.path), child.line)
                            });
                    }
                    continue;
                }
                match &child.file {
                    Some(f) => {
                        if !excluded(f) && seen.insert(normalize(f)) {
                            next.push(Job {
                                path: f.clone(),
                                module: child.module.clone(),
                                mod_dir: child.mod_dir.clone(),
                                cfg: child.cfg.clone(),
                                pkg: job.pkg,
                            });
                        }
                    }
                    // A module that only exists on other platforms or features is not an error.
                    None if child.cfg.len() > job.cfg.len() => {}
                    None => errors.push(ParseError {
                        file: relative(&ws.root, &job.path),
                        line: child.line,
                        column: 1,
                        message: format!(
                            "module `{}` not found (tried {})",
                            child.module,
                            child
                                .tried
                                .iter()
                                .map(|p| relative(&ws.root, p))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    }),
                }
            }
            files.push(ScannedFile {
                rel: relative(&ws.root, &job.path),
                pkg: job.pkg,
                mod_dir: job.mod_dir.clone(),
                scan,
            });
        }
        jobs = next;
    }
    (files, errors, walk)
}

/// Every `.rs` file under `dir`, not descending into other packages (a directory with a
/// `Cargo.toml`), hidden directories, Cargo target directories or symbolic links.
fn rust_files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            let name = e.file_name().to_string_lossy().into_owned();
            if meta.is_dir() {
                if name.starts_with('.')
                    || path.join("Cargo.toml").is_file()
                    || path.join("CACHEDIR.TAG").is_file()
                {
                    continue;
                }
                stack.push(path);
            } else if meta.is_file() && name.ends_with(".rs") {
                out.push(path);
            }
        }
    }
    out
}

/// The `.rs` files under the source directories of the scanned targets that the walk did not
/// reach, each with the reason; and how many files there are in all.
fn unreached(
    ws: &Workspace,
    config: &Config,
    files: &[ScannedFile],
    walk: &Walk,
) -> (Vec<UnreachedFile>, u64) {
    let mut dirs: Vec<PathBuf> = Vec::new();
    let mut skipped_roots: HashMap<String, &'static str> = HashMap::new();
    for p in &ws.packages {
        for t in &p.targets {
            if t.is_build_script() {
                skipped_roots.insert(relative(&ws.root, &t.src_path), "build_script");
                continue;
            }
            if t.is_test() && !config.include_tests {
                skipped_roots.insert(relative(&ws.root, &t.src_path), "test_target");
                continue;
            }
            if let Some(d) = t.src_path.parent() {
                dirs.push(normalize(d));
            }
        }
    }
    dirs.sort();
    dirs.dedup();
    let tops: Vec<&PathBuf> = dirs
        .iter()
        .filter(|d| !dirs.iter().any(|o| o != *d && d.starts_with(o)))
        .collect();
    let reached: HashSet<&str> = files.iter().map(|f| f.rel.as_str()).collect();
    let unparsed_dirs: Vec<(String, &Path)> = files
        .iter()
        .filter(|f| f.scan.parse_error.is_some())
        .map(|f| (f.rel.clone(), f.mod_dir.as_path()))
        .collect();
    let mut all: HashSet<String> = reached.iter().map(|s| (*s).to_owned()).collect();
    let mut out = Vec::new();
    for dir in tops {
        for path in rust_files_under(dir) {
            let rel = relative(&ws.root, &path);
            if !all.insert(rel.clone()) {
                continue;
            }
            let (reason, detail) = if let Some(g) = config
                .exclude
                .iter()
                .find(|g| config::path_glob_match(g, &rel))
            {
                (
                    "excluded",
                    format!("excluded by the rule `exclude = [\"{g}\"]`"),
                )
            } else if let Some(kind) = skipped_roots.get(&rel) {
                match *kind {
                    "build_script" => ("build_script", "a build script".to_owned()),
                    _ => (
                        "test_target",
                        "the root of a test or bench target (scanned with `include_tests = true`)"
                            .to_owned(),
                    ),
                }
            } else if let Some(at) = walk.test_only.get(&rel) {
                (
                    "test_only",
                    format!(
                        "declared only under cfg(test), at {at} (scanned with `include_tests = true`)"
                    ),
                )
            } else if let Some(m) = walk.in_macro.get(&rel) {
                (
                    "macro_unparsed",
                    format!("declared in a macro the scanner could not parse: {m}"),
                )
            } else if let Some((parent, _)) = unparsed_dirs
                .iter()
                .find(|(_, d)| normalize(&path).starts_with(normalize(d)))
            {
                (
                    "parent_unparsed",
                    format!("may be declared by {parent}, which could not be parsed"),
                )
            } else {
                (
                    "not_declared",
                    "not declared by any reached module".to_owned(),
                )
            };
            out.push(UnreachedFile {
                file: rel,
                reason: reason.to_owned(),
                detail,
            });
        }
    }
    out.sort_by(|a, b| a.file.cmp(&b.file));
    let total = all.len() as u64;
    (out, total)
}

/// Does a resolved path match a configured path? A one-segment pattern matches the last
/// segment; a longer one must match the path's trailing segments.
fn path_matches(pattern: &str, path: &PathSegs) -> bool {
    let pat: Vec<&str> = pattern.trim_start_matches("::").split("::").collect();
    pat.len() <= path.len()
        && path[path.len() - pat.len()..]
            .iter()
            .zip(&pat)
            .all(|(a, b)| a == b)
}

fn paths_match(pattern: &str, paths: &[PathSegs], rx: &Reexports) -> bool {
    matching_path(pattern, paths, rx).is_some()
}

/// The first of `paths`, or of what they stand for through re-exports, that `pattern` matches.
fn matching_path(pattern: &str, paths: &[PathSegs], rx: &Reexports) -> Option<PathSegs> {
    paths.iter().find_map(|p| {
        if path_matches(pattern, p) {
            Some(p.clone())
        } else {
            rx.expand(p).into_iter().find(|q| path_matches(pattern, q))
        }
    })
}

/// A configured path with an optional method (`Client::chat`, `rig::tool::Tool::call`): a last
/// segment that starts with a lower-case letter names a method.
fn split_method(rule: &str) -> (String, Option<&str>) {
    let segs: Vec<&str> = rule.split("::").collect();
    match segs.split_last() {
        Some((last, rest))
            if !rest.is_empty()
                && !rest.iter().all(|s| s.is_empty())
                && last.starts_with(|c: char| c.is_lowercase() || c == '*') =>
        {
            (rest.join("::"), Some(*last))
        }
        _ => (rule.to_owned(), None),
    }
}

/// Associated functions that make a client rather than use one.
fn is_constructor(name: &str) -> bool {
    matches!(
        name,
        "new" | "builder" | "default" | "from" | "try_from" | "clone" | "from_env"
    ) || ["new_", "try_new", "with_", "from_"]
        .iter()
        .any(|p| name.starts_with(p))
}

/// The types a receiver chain may end at: its root's type, then each field's type (from the
/// crate's structs, by type name) and each unwrapping step.
fn receiver_types(c: &CallFact, self_paths: &[PathSegs], structs: &StructFields) -> Vec<PathSegs> {
    let mut state: Vec<Ty> = match &c.recv.root {
        Root::Type(t) => vec![t.clone()],
        Root::SelfValue => vec![Ty {
            paths: self_paths.to_vec(),
            inner: None,
        }],
    };
    for step in &c.recv.steps {
        state = match step {
            Step::Field(name) => {
                let mut owners: Vec<&str> = state
                    .iter()
                    .flat_map(|t| t.paths.iter())
                    .filter_map(|p| p.last().map(String::as_str))
                    .collect();
                owners.sort_unstable();
                owners.dedup();
                owners
                    .into_iter()
                    .filter_map(|o| structs.get(o))
                    .flat_map(|fields| fields.iter().filter(|(n, _)| n == name))
                    .map(|(_, t)| t.clone())
                    .collect()
            }
            Step::Unwrap => state
                .into_iter()
                .map(|t| match t.inner {
                    Some(inner) => *inner,
                    None => t,
                })
                .collect(),
        };
        state.truncate(64);
    }
    state.into_iter().flat_map(|t| t.paths).collect()
}

/// Why the rules make `f` a decision point.
fn matched_rules(f: &FnFacts, config: &Config, known: &Known<'_>) -> Vec<String> {
    let rx = known.reexports;
    let mut why = Vec::new();
    for pat in &config.modules {
        if glob_match(pat, &f.module) {
            why.push(format!("module `{}` matches `{pat}`", f.module));
        }
    }
    for pat in &config.functions {
        let subject = match (&f.self_type, pat.contains("::")) {
            (Some(t), true) => format!("{t}::{}", f.function),
            _ => f.function.clone(),
        };
        if glob_match(pat, &subject) {
            why.push(format!("function name `{subject}` matches `{pat}`"));
        }
    }
    for client in &config.llm_clients {
        let (type_pat, method) = split_method(client);
        let hit = f.calls.iter().find(|c| {
            let named = match method {
                Some(m) => glob_match(m, &c.method),
                // A client made, cloned or unwrapped is not a client used.
                None if c.assoc => !is_constructor(&c.method),
                None => !scan::is_plumbing(&c.method),
            };
            named
                && paths_match(
                    &type_pat,
                    &receiver_types(c, &f.self_paths, known.structs),
                    rx,
                )
        });
        if let Some(c) = hit {
            why.push(format!(
                "calls `{}` on LLM client type `{type_pat}`",
                c.method
            ));
        }
    }
    if f.trait_path.is_some() {
        for rule in &config.tool_traits {
            let (trait_pat, method) = split_method(rule);
            if paths_match(&trait_pat, &f.trait_paths, rx)
                && method.is_none_or(|m| glob_match(m, &f.function))
            {
                why.push(format!("implements tool trait `{trait_pat}`"));
            }
        }
    }
    for rule in &config.tool_attributes {
        if let Some(a) = matching_path(rule, &f.other_attrs, rx) {
            why.push(format!("has tool attribute `#[{}]`", a.join("::")));
        }
    }
    why
}

fn opt<'a>(f: &'a scan::AuditAttr, key: &str) -> Option<&'a OptValue> {
    f.options.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

fn opt_text(v: Option<&OptValue>) -> Option<String> {
    match v? {
        OptValue::Str(s) | OptValue::Tokens(s) => Some(s.clone()),
        OptValue::Flag => Some("true".to_owned()),
        OptValue::List(l) => Some(l.join(", ")),
    }
}

fn opt_list(v: Option<&OptValue>) -> Vec<String> {
    match v {
        Some(OptValue::List(l)) => l.clone(),
        _ => Vec::new(),
    }
}

/// The declared options, normalised.
fn annotation(f: &FnFacts, a: &scan::AuditAttr) -> Annotation {
    let mut versions = Vec::new();
    for (role, key, _) in ROLES {
        let Some(OptValue::Str(name)) = opt(a, role) else {
            continue;
        };
        let (version, source) = match opt(a, key) {
            Some(OptValue::Str(s)) => (Some(s.clone()), "literal"),
            Some(other) => (opt_text(Some(other)), "expr"),
            None => (None, "registry"),
        };
        versions.push(DeclaredVersion {
            role: (*role).to_owned(),
            name: name.clone(),
            version,
            source: source.to_owned(),
        });
    }
    let hash_only = opt_list(opt(a, "hash_only"));
    let skip = opt_list(opt(a, "skip"));
    let captured = if opt(a, "capture_all").is_some() {
        f.params
            .iter()
            .map(|p| p.name.clone())
            .filter(|n| n != "_" && !hash_only.contains(n) && !skip.contains(n))
            .collect()
    } else {
        opt_list(opt(a, "capture"))
    };
    let redact = opt_list(opt(a, "redact"))
        .into_iter()
        .map(|r| r.split('=').next().unwrap_or_default().trim().to_owned())
        .collect();
    Annotation {
        attribute: a.written.clone(),
        unversioned: match opt(a, "unversioned") {
            Some(OptValue::Str(s)) => Some(s.clone()),
            _ => None,
        },
        versions,
        captured,
        hash_only,
        redact,
        output: opt_text(opt(a, "output")).unwrap_or_else(|| "status".to_owned()),
        side_effect: opt_text(opt(a, "side_effect")),
        cfg_attr: a.cfg_attr.clone(),
        other_options: a
            .options
            .iter()
            .map(|(k, _)| k.clone())
            .filter(|k| !KNOWN_OPTIONS.contains(&k.as_str()))
            .collect(),
    }
}

/// Is `name` (an argument, or `output`) covered by a redaction path?
fn redacted(ann: &Annotation, name: &str) -> bool {
    ann.redact.iter().any(|r| {
        let root: String = r
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        root == name
    })
}

/// The words of a type's path segments (`Option<CustomerEmail>` gives both segments).
fn type_idents(ty: &str) -> Vec<&str> {
    ty.split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|s| !s.is_empty())
        .collect()
}

fn term_in(terms: &[String], name: &str, ty: &str) -> Option<String> {
    if let Some(t) = matching_term(terms, name) {
        return Some(format!("name `{name}` suggests `{t}`"));
    }
    type_idents(ty)
        .into_iter()
        .find_map(|i| matching_term(terms, i).map(|t| format!("type `{i}` suggests `{t}`")))
}

/// Annotation quality checks for one audited point.
fn quality(p: &Point, f: &FnFacts, config: &Config, out: &mut Vec<Finding>) {
    let Some(ann) = &p.annotation else { return };
    let kind = p.kind.as_deref().unwrap_or_default();
    let mut push = |code: &str, severity: Severity, message: String| {
        out.push(Finding {
            code: code.to_owned(),
            severity,
            point: Some(p.id.clone()),
            file: Some(p.file.clone()),
            line: Some(p.line),
            message,
        });
    };
    if matches!(kind, "decision" | "model_call" | "policy_check") {
        let needed: &[&str] = match kind {
            "model_call" => &["model"],
            "policy_check" => &["policy"],
            _ => &["model", "policy"],
        };
        let declared: Vec<&DeclaredVersion> = ann
            .versions
            .iter()
            .filter(|v| needed.contains(&v.role.as_str()))
            .collect();
        if let Some(reason) = &ann.unversioned {
            push(
                "unversioned",
                Severity::Info,
                format!("declared unversioned: \"{reason}\""),
            );
        } else if declared.is_empty() {
            push(
                "missing_version",
                Severity::Warning,
                format!(
                    "{kind} `{}` declares no {} version: add e.g. `{} = \"...\", {}_version = \"...\"` or `unversioned = \"<reason>\"`",
                    p.name.as_deref().unwrap_or_default(),
                    needed.join(" or "),
                    needed[0],
                    needed[0]
                ),
            );
        } else if declared.iter().all(|v| v.version.is_none()) {
            push(
                "version_from_registry",
                Severity::Info,
                format!(
                    "{} resolved from the runtime artifact registry (no version in the attribute)",
                    declared
                        .iter()
                        .map(|v| format!("{} `{}`", v.role, v.name))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
        }
    }
    if kind == "tool" && ann.side_effect.is_none() {
        push(
            "tool_without_side_effect",
            Severity::Warning,
            "tool declares no `side_effect = none | read | write | irreversible`".to_owned(),
        );
    }
    for name in &ann.captured {
        let ty = f
            .params
            .iter()
            .find(|q| &q.name == name)
            .map(|q| q.ty.as_str())
            .unwrap_or_default();
        if redacted(ann, name) {
            continue;
        }
        if let Some(why) = term_in(&config.secrets, name, ty) {
            push(
                "secret_captured",
                Severity::Error,
                format!(
                    "argument `{name}` is captured but looks like a secret ({why}): use `skip` or `hash_only({name})`"
                ),
            );
        } else if let Some(why) = term_in(&config.personal_data, name, ty) {
            push(
                "personal_data_unredacted",
                Severity::Warning,
                format!(
                    "argument `{name}` is captured without a redaction rule ({why}): add `redact({name}.<field> = erase)` or `hash_only({name})`"
                ),
            );
        }
    }
    if ann.output == "capture"
        && !redacted(ann, "output")
        && let Some(why) = term_in(&config.personal_data, "", &f.output)
    {
        push(
            "personal_data_unredacted",
            Severity::Warning,
            format!(
                "the output is captured without a redaction rule ({why}): add `redact(output.<field> = erase)`"
            ),
        );
    }
    if let Some(pred) = &ann.cfg_attr {
        push(
            "audited_under_cfg",
            Severity::Info,
            format!("audited only when `cfg({pred})` holds"),
        );
    }
}

/// The id of a point: `module::fn`, `module::Type::fn` or `module::<Type as Trait>::fn`. With
/// `generics`, the generic arguments of the impl's self type and trait are spelt too
/// (`module::Agent<A>::fn`, `module::<Id as From<u8>>::from`); they are only used where the
/// plain ids of two points collide, so every other id stays as it always was.
fn point_id(f: &FnFacts, generics: bool) -> String {
    let g = |x: &Option<String>| {
        if generics {
            x.clone().unwrap_or_default()
        } else {
            String::new()
        }
    };
    match (&f.self_type, &f.trait_path) {
        (Some(t), Some(tr)) => {
            format!(
                "{}::<{t}{} as {}{}>::{}",
                f.module,
                g(&f.self_generics),
                tr.last().map_or("?", String::as_str),
                g(&f.trait_generics),
                f.function
            )
        }
        (Some(t), None) => format!("{}::{t}{}::{}", f.module, g(&f.self_generics), f.function),
        _ => format!("{}::{}", f.module, f.function),
    }
}

/// Unique ids for the points `fns` (in file and line order). A plain id shared by several points
/// takes the generic arguments of the impls (`Agent<A>::decide`, `Agent<B>::decide`); an id still
/// shared after that (the same function under two `cfg`s, say) gets `#2`, `#3`, .. on the later
/// ones. Without this a baseline listing one point's gap would hide the other's.
fn unique_ids(fns: &[&FnFacts]) -> Vec<String> {
    let plain: Vec<String> = fns.iter().map(|f| point_id(f, false)).collect();
    let mut count: HashMap<&str, usize> = HashMap::new();
    for id in &plain {
        *count.entry(id).or_default() += 1;
    }
    let ids: Vec<String> = fns
        .iter()
        .zip(&plain)
        .map(|(f, id)| {
            if count[id.as_str()] > 1 {
                point_id(f, true)
            } else {
                id.clone()
            }
        })
        .collect();
    let mut seen: HashMap<String, usize> = HashMap::new();
    ids.into_iter()
        .map(|id| {
            let n = seen.entry(id.clone()).or_default();
            *n += 1;
            if *n == 1 { id } else { format!("{id}#{n}") }
        })
        .collect()
}

/// Scan `ws` with `config` and build the static report.
pub fn analyze(ws: &Workspace, config: &Config, config_info: super::model::ConfigInfo) -> Report {
    let (files, mut parse_errors, walk) = scan_workspace(ws, config);
    let (unreached_files, files_total) = unreached(ws, config, &files, &walk);
    // Struct fields per package, for `self.client.chat()`, and the re-exports.
    let mut structs: Vec<StructFields> = vec![HashMap::new(); ws.packages.len()];
    let mut reexports: Vec<Reexports> = (0..ws.packages.len())
        .map(|_| Reexports::default())
        .collect();
    for f in &files {
        for s in &f.scan.structs {
            structs[f.pkg]
                .entry(s.name.clone())
                .or_default()
                .extend(s.fields.iter().cloned());
        }
        let rx = &mut reexports[f.pkg];
        for u in &f.scan.uses {
            if u.glob {
                rx.globs.push((u.from.clone(), u.to.clone()));
            } else {
                rx.names
                    .entry(u.from.clone())
                    .or_default()
                    .extend(u.to.iter().cloned());
            }
        }
    }
    let known: Vec<Known<'_>> = structs
        .iter()
        .zip(&reexports)
        .map(|(structs, reexports)| Known { structs, reexports })
        .collect();
    let mut points = Vec::new();
    let mut findings = Vec::new();
    let mut lines = 0u64;
    // The rules of every function, then the ids of those that are points (file and line order,
    // so the `#n` of a remaining collision does not depend on the scan's thread schedule).
    let mut rules: Vec<Vec<Vec<String>>> = files
        .iter()
        .map(|file| {
            file.scan
                .fns
                .iter()
                .map(|f| matched_rules(f, config, &known[file.pkg]))
                .collect()
        })
        .collect();
    let mut candidates: Vec<(usize, usize)> = Vec::new();
    for (fi, file) in files.iter().enumerate() {
        for (ni, f) in file.scan.fns.iter().enumerate() {
            let exempt = f.exemption.as_ref().is_some_and(|e| e.reason.is_some());
            if f.audit.is_some() || exempt || !rules[fi][ni].is_empty() {
                candidates.push((fi, ni));
            }
        }
    }
    candidates.sort_by_key(|&(fi, ni)| (&files[fi].rel, files[fi].scan.fns[ni].line));
    let cand_fns: Vec<&FnFacts> = candidates
        .iter()
        .map(|&(fi, ni)| &files[fi].scan.fns[ni])
        .collect();
    let mut ids: HashMap<(usize, usize), String> = candidates
        .iter()
        .copied()
        .zip(unique_ids(&cand_fns))
        .collect();
    for (fi, file) in files.iter().enumerate() {
        lines += file.scan.lines as u64;
        if let Some(e) = &file.scan.parse_error {
            parse_errors.push(ParseError {
                file: file.rel.clone(),
                line: e.line,
                column: e.column,
                message: e.message.clone(),
            });
        }
        let pkg = &ws.packages[file.pkg];
        for (ni, f) in file.scan.fns.iter().enumerate() {
            let rules = std::mem::take(&mut rules[fi][ni]);
            let id = ids.remove(&(fi, ni)).unwrap_or_else(|| point_id(f, false));
            if let Some(ex) = &f.exemption
                && ex.reason.is_none()
            {
                findings.push(Finding {
                    code: "exemption_without_reason".to_owned(),
                    severity: Severity::Error,
                    point: Some(id.clone()),
                    file: Some(file.rel.clone()),
                    line: Some(ex.line),
                    message: "an exemption needs a reason: `// audit: exempt(reason = \"...\")`"
                        .to_owned(),
                });
            }
            let exemption = f.exemption.as_ref().and_then(|e| e.reason.clone());
            let status = match (&f.audit, &exemption) {
                (Some(_), _) => Status::Audited,
                (None, Some(_)) => Status::Exempt,
                (None, None) if !rules.is_empty() => Status::Unaudited,
                (None, None) => continue,
            };
            let annotation = f.audit.as_ref().map(|a| annotation(f, a));
            let name = f.audit.as_ref().map(|a| match opt(a, "name") {
                Some(OptValue::Str(s)) => s.clone(),
                _ => f.function.clone(),
            });
            let mut p = Point {
                id,
                crate_name: pkg.name.clone(),
                module: f.module.clone(),
                function: f.function.clone(),
                file: file.rel.clone(),
                line: f.line,
                end_line: f.end_line,
                signature: f.signature.clone(),
                status,
                kind: f.audit.as_ref().map(|a| a.kind.clone()),
                name,
                annotation,
                matched_rules: rules,
                exemption: if status == Status::Exempt {
                    exemption
                } else {
                    None
                },
                cfg: f.cfg.clone(),
                complete: None,
                runtime: None,
            };
            if status == Status::Audited {
                let before = findings.len();
                quality(&p, f, config, &mut findings);
                p.complete = Some(
                    !findings[before..]
                        .iter()
                        .any(|x| x.severity <= Severity::Warning),
                );
            }
            points.push(p);
        }
    }
    // Duplicate audit names: the runtime and the logs identify points by name.
    let mut by_name: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, p) in points.iter().enumerate() {
        if let Some(n) = &p.name {
            by_name.entry(n).or_default().push(i);
        }
    }
    let mut dup_points = Vec::new();
    for (name, idx) in by_name.iter().filter(|(_, v)| v.len() > 1) {
        for &i in idx {
            // At most three other places, so n duplicates cost O(n) text, not O(n^2).
            let mut others: Vec<String> = idx
                .iter()
                .filter(|&&j| j != i)
                .take(3)
                .map(|&j| format!("{}:{}", points[j].file, points[j].line))
                .collect();
            if idx.len() - 1 > others.len() {
                others.push(format!("{} more places", idx.len() - 1 - others.len()));
            }
            findings.push(Finding {
                code: "duplicate_name".to_owned(),
                severity: Severity::Error,
                point: Some(points[i].id.clone()),
                file: Some(points[i].file.clone()),
                line: Some(points[i].line),
                message: format!(
                    "audit name `{name}` is also used at {}: give each point its own `name`",
                    others.join(", ")
                ),
            });
            dup_points.push(i);
        }
    }
    for i in dup_points {
        points[i].complete = Some(false);
    }
    points.sort_by(|a, b| (&a.file, a.line, &a.id).cmp(&(&b.file, b.line, &b.id)));
    findings.sort_by(|a, b| {
        (&a.file, a.line, &a.code, &a.point).cmp(&(&b.file, b.line, &b.code, &b.point))
    });
    parse_errors.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    let mut report = Report {
        schema_version: SCHEMA_VERSION,
        workspace_root: ws.root.to_string_lossy().into_owned(),
        packages: Vec::new(),
        config: config_info,
        files_scanned: files.len() as u64,
        lines_scanned: lines,
        files_total,
        unreached_files,
        summary: Default::default(),
        crates: Vec::new(),
        files: Vec::new(),
        points,
        findings,
        parse_errors,
        runtime: None,
        change: None,
        gates: Vec::new(),
    };
    report.recount();
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_print_relative_inside_the_workspace_and_absolute_outside() {
        let root = Path::new("/w/ws");
        assert_eq!(relative(root, Path::new("/w/ws/audit.toml")), "audit.toml");
        assert_eq!(
            relative(root, Path::new("/w/ws/src/../src/./lib.rs")),
            "src/lib.rs"
        );
        assert_eq!(relative(root, Path::new("/w/rules.toml")), "/w/rules.toml");
        assert_eq!(
            relative(root, Path::new("/w/ws/../rules.toml")),
            "/w/rules.toml"
        );
        assert_eq!(
            relative(root, Path::new("/w/ws/../../../x.toml")),
            "/x.toml"
        );
        // A sibling whose name starts like the root is outside it.
        assert_eq!(relative(root, Path::new("/w/ws2/a.toml")), "/w/ws2/a.toml");
        assert_eq!(normalize(Path::new("../../a/../b")), Path::new("../../b"));
    }

    #[test]
    fn configured_paths_match_suffixes() {
        let p = vec!["async_openai".to_owned(), "Client".to_owned()];
        assert!(path_matches("Client", &p));
        assert!(path_matches("async_openai::Client", &p));
        assert!(path_matches("::async_openai::Client", &p));
        assert!(!path_matches("other::Client", &p));
        assert!(!path_matches("x::async_openai::Client", &p));
    }

    #[test]
    fn method_rules_and_constructors() {
        assert_eq!(
            split_method("Client::chat"),
            ("Client".to_owned(), Some("chat"))
        );
        assert_eq!(
            split_method("rig::tool::Tool::call"),
            ("rig::tool::Tool".to_owned(), Some("call"))
        );
        assert_eq!(split_method("Client::chat*").1, Some("chat*"));
        assert_eq!(
            split_method("async_openai::Client"),
            ("async_openai::Client".to_owned(), None)
        );
        assert_eq!(split_method("Llm"), ("Llm".to_owned(), None));
        assert_eq!(split_method("::chat"), ("::chat".to_owned(), None));
        for c in [
            "new",
            "new_with_key",
            "with_config",
            "builder",
            "default",
            "from_env",
            "try_new",
        ] {
            assert!(is_constructor(c), "{c}");
        }
        for c in ["chat", "complete", "newline", "embed_one"] {
            assert!(!is_constructor(c), "{c}");
        }
    }

    #[test]
    fn reexports_expand_names_and_globs() {
        let segs = |s: &str| s.split("::").map(str::to_owned).collect::<PathSegs>();
        let mut rx = Reexports::default();
        rx.names
            .insert(segs("k::prelude::Tool"), vec![segs("rig::tool::Tool")]);
        rx.globs.push((segs("k::prelude"), vec![segs("llm")]));
        // A chain: k::api re-exports the prelude's name.
        rx.names
            .insert(segs("k::api::T"), vec![segs("k::prelude::Tool")]);
        let e = rx.expand(&segs("k::api::T"));
        assert!(e.contains(&segs("rig::tool::Tool")), "{e:?}");
        assert!(
            rx.expand(&segs("k::prelude::Client"))
                .contains(&segs("llm::Client"))
        );
        // The glob prefix alone is no name under it.
        assert_eq!(rx.expand(&segs("k::prelude")), vec![segs("k::prelude")]);
        // A cycle ends.
        rx.names.insert(segs("a::X"), vec![segs("b::X")]);
        rx.names.insert(segs("b::X"), vec![segs("a::X")]);
        assert_eq!(rx.expand(&segs("a::X")).len(), 2);
        assert!(paths_match("rig::tool::Tool", &[segs("k::api::T")], &rx));
        assert!(!paths_match("other::Tool", &[segs("k::api::T")], &rx));
    }

    #[test]
    fn redaction_paths_cover_arguments() {
        let ann = Annotation {
            redact: vec!["applicant.ssn".into(), "output".into()],
            ..Annotation::default()
        };
        assert!(redacted(&ann, "applicant"));
        assert!(redacted(&ann, "output"));
        assert!(!redacted(&ann, "app"));
    }
}
