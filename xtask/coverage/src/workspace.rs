//! The workspace to scan, as `cargo metadata --no-deps` describes it, or, when cargo cannot
//! answer, as its manifests say.
//!
//! What must hold: the member list comes from Cargo whenever Cargo can give it, so virtual
//! manifests, globbed members, `exclude` and renamed dependencies are all seen the way the
//! compiler sees them. Cargo is `$CARGO` when a cargo command runs us (`cargo xtask ...`: the
//! toolchain already chosen), else `cargo` on `PATH`. That one may be rustup's proxy, which
//! obeys the `rust-toolchain.toml` of the directory it runs in and fails when that toolchain is
//! not installed (rustup never downloads for us: `RUSTUP_AUTO_INSTALL=0`). The engine compiles
//! nothing, so any cargo will do; when none answers, [`from_manifests`] reads the `Cargo.toml`
//! files with Cargo's own rules for members, globs, `exclude`, target discovery (`auto*`) and
//! renamed (also workspace-inherited) dependencies, and a note on stderr says so.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde::Deserialize;

/// One compilation target of a package (lib, bin, example, test, bench).
#[derive(Debug, Clone)]
pub struct Target {
    /// The crate name as `module_path!()` spells it (dashes become underscores).
    pub crate_ident: String,
    /// Cargo's target kinds (`lib`, `bin`, `example`, `test`, `bench`, `proc-macro`, ...).
    pub kinds: Vec<String>,
    /// The crate root file.
    pub src_path: PathBuf,
}

impl Target {
    /// Whether this is a test or bench target (skipped unless `include_tests`).
    pub fn is_test(&self) -> bool {
        self.kinds.iter().any(|k| k == "test" || k == "bench")
    }
    /// Build scripts are never agent code.
    pub fn is_build_script(&self) -> bool {
        self.kinds.iter().any(|k| k == "custom-build")
    }
}

/// One workspace member.
#[derive(Debug, Clone)]
pub struct Package {
    /// Package name (`CARGO_PKG_NAME`, what the runtime records as `crate`).
    pub name: String,
    /// Targets, libraries first (so a file shared by lib and bin gets the lib's module path).
    pub targets: Vec<Target>,
    /// Names under which this package reaches the audit macros: `audit_runtime`,
    /// `audit_macros` and any `rename`d dependency on them.
    pub macro_crates: Vec<String>,
}

/// A resolved workspace.
#[derive(Debug, Clone)]
pub struct Workspace {
    /// `workspace_root`.
    pub root: PathBuf,
    /// `target_directory` (where reports are written by default).
    pub target_dir: PathBuf,
    /// Members, in Cargo's order.
    pub packages: Vec<Package>,
}

#[derive(Deserialize)]
struct Metadata {
    packages: Vec<MetaPackage>,
    workspace_members: Vec<String>,
    workspace_root: PathBuf,
    target_directory: PathBuf,
}

#[derive(Deserialize)]
struct MetaPackage {
    id: String,
    name: String,
    dependencies: Vec<MetaDep>,
    targets: Vec<MetaTarget>,
}

#[derive(Deserialize)]
struct MetaDep {
    name: String,
    rename: Option<String>,
}

#[derive(Deserialize)]
struct MetaTarget {
    name: String,
    kind: Vec<String>,
    src_path: PathBuf,
}

/// The crates that export the audit attributes.
pub const MACRO_PACKAGES: &[&str] = &["audit-runtime", "audit-macros"];

impl Workspace {
    /// Keep only the members named in `names` (`--package`), in Cargo's order. A name may be
    /// spelt with dashes or underscores; one that names no member is an error listing them.
    pub fn retain_packages(&mut self, names: &[String]) -> Result<()> {
        let norm = |s: &str| s.replace('-', "_");
        for n in names {
            if !self.packages.iter().any(|p| norm(&p.name) == norm(n)) {
                let members: Vec<&str> = self.packages.iter().map(|p| p.name.as_str()).collect();
                bail!(
                    "--package {n}: no such member of the workspace at {} (members: {})",
                    self.root.display(),
                    members.join(", ")
                );
            }
        }
        self.packages
            .retain(|p| names.iter().any(|n| norm(n) == norm(&p.name)));
        Ok(())
    }
}

/// The workspace at `path` (a directory or a `Cargo.toml`, of the root or of a member): from
/// `cargo metadata`, or from the manifests when cargo cannot answer.
pub fn load(path: &Path) -> Result<Workspace> {
    let manifest = if path.is_dir() {
        path.join("Cargo.toml")
    } else {
        path.to_owned()
    };
    if !manifest.is_file() {
        bail!("no Cargo.toml at {}", manifest.display());
    }
    let manifest = absolute(&manifest)?;
    match cargo_metadata(&manifest) {
        Ok(ws) => Ok(ws),
        Err(why) => {
            let ws = from_manifests(&manifest).with_context(|| {
                format!("{why:#}\nand reading the manifests directly failed too")
            })?;
            eprintln!(
                "note: {}; read the manifests directly instead",
                first_line(&format!("{why:#}"))
            );
            Ok(ws)
        }
    }
}

fn first_line(s: &str) -> String {
    let mut lines = s.lines().map(str::trim).filter(|l| !l.is_empty());
    let head = lines.next().unwrap_or_default().to_owned();
    // cargo's own error line is what names the cause (`toolchain '...' is not installed`).
    match lines.find(|l| l.starts_with("error")) {
        Some(e) => format!("{head} {e}"),
        None => head,
    }
}

/// Ask `cargo metadata --no-deps --offline` (cargo fills the members' targets in).
fn cargo_metadata(manifest: &Path) -> Result<Workspace> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    // Run from the manifest's directory: cargo resolves `.cargo/config.toml` (target-dir) and
    // rustup the toolchain file from there, as they would for a build of that workspace.
    let dir = manifest
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let out = Command::new(&cargo)
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--offline",
            "--manifest-path",
        ])
        .arg(manifest)
        .current_dir(dir)
        .output()
        .with_context(|| format!("cannot run `{} metadata`", cargo.to_string_lossy()))?;
    if !out.status.success() {
        bail!(
            "`{} metadata` failed for {}:\n{}",
            cargo.to_string_lossy(),
            manifest.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    parse_metadata(&out.stdout)
}

fn parse_metadata(json: &[u8]) -> Result<Workspace> {
    let meta: Metadata = serde_json::from_slice(json).context("parsing cargo metadata output")?;
    let mut packages = Vec::new();
    for id in &meta.workspace_members {
        let Some(p) = meta.packages.iter().find(|p| &p.id == id) else {
            continue;
        };
        let mut macro_crates: Vec<String> =
            MACRO_PACKAGES.iter().map(|n| n.replace('-', "_")).collect();
        for d in &p.dependencies {
            if let (true, Some(r)) = (MACRO_PACKAGES.contains(&d.name.as_str()), &d.rename) {
                macro_crates.push(r.replace('-', "_"));
            }
        }
        let mut targets: Vec<Target> = p
            .targets
            .iter()
            .map(|t| Target {
                crate_ident: t.name.replace('-', "_"),
                kinds: t.kind.clone(),
                src_path: t.src_path.clone(),
            })
            .collect();
        let rank = |t: &Target| {
            if t.kinds
                .iter()
                .any(|k| k == "lib" || k == "proc-macro" || k.ends_with("lib"))
            {
                0
            } else if t.kinds.iter().any(|k| k == "bin") {
                1
            } else {
                2
            }
        };
        targets.sort_by_key(rank);
        packages.push(Package {
            name: p.name.clone(),
            targets,
            macro_crates,
        });
    }
    Ok(Workspace {
        root: meta.workspace_root,
        target_dir: meta.target_directory,
        packages,
    })
}

/// The workspace as its manifests describe it, for when `cargo metadata` cannot run: Cargo's
/// rules for the root (`[workspace]` here, `package.workspace`, or the nearest enclosing
/// workspace that lists this package), members (`members` with `*`, `?` and `**` globs, the
/// root package, path dependencies inside the root; `exclude`), targets (`[lib]`, `[[bin]]`,
/// `[[example]]`, `[[test]]`, `[[bench]]` and the `src/main.rs`, `src/bin/`, `examples/`,
/// `tests/`, `benches/` discovery unless `auto*` turns it off) and renamed dependencies (also
/// through `workspace = true`). The target directory is `CARGO_TARGET_DIR`, else
/// `build.target-dir` of the nearest `.cargo/config.toml`, else `<root>/target`.
pub fn from_manifests(manifest: &Path) -> Result<Workspace> {
    let manifest = absolute(manifest)?;
    let own = read_manifest(&manifest)?;
    let root_manifest = find_root(&manifest, &own)?;
    let root_dir = parent_dir(&root_manifest);
    let root = read_manifest(&root_manifest)?;
    let ws_table = root.get("workspace").and_then(toml::Value::as_table);
    let excluded: Vec<PathBuf> = str_list(ws_table.and_then(|w| w.get("exclude")))
        .iter()
        .map(|e| normalize(&root_dir.join(e)))
        .collect();
    let is_excluded = |d: &Path| excluded.iter().any(|e| d.starts_with(e));
    // Member directories in discovery order: the root package, the listed members, then path
    // dependencies inside the root, breadth first.
    let mut dirs: Vec<PathBuf> = Vec::new();
    if root.get("package").is_some() {
        dirs.push(root_dir.clone());
    }
    for pattern in str_list(ws_table.and_then(|w| w.get("members"))) {
        let literal = !pattern.contains(['*', '?', '[']);
        for d in expand_glob(&root_dir, &pattern) {
            if d.join("Cargo.toml").is_file() && (literal || !is_excluded(&d)) {
                dirs.push(d);
            } else if literal {
                bail!(
                    "workspace member `{pattern}` of {} has no Cargo.toml at {}",
                    root_manifest.display(),
                    d.join("Cargo.toml").display()
                );
            }
        }
    }
    if ws_table.is_none() {
        // Not a workspace: the package alone.
        dirs = vec![root_dir.clone()];
    }
    let mut packages = Vec::new();
    let mut i = 0;
    while i < dirs.len() {
        let dir = dirs[i].clone();
        i += 1;
        if dirs[..i - 1].contains(&dir) {
            continue;
        }
        let path = dir.join("Cargo.toml");
        let m = if path == root_manifest {
            root.clone()
        } else {
            read_manifest(&path)?
        };
        let Some(pkg) = m.get("package").and_then(toml::Value::as_table) else {
            continue;
        };
        let name = pkg
            .get("name")
            .and_then(toml::Value::as_str)
            .with_context(|| format!("{}: `package.name` is missing", path.display()))?
            .to_owned();
        let mut macro_crates: Vec<String> =
            MACRO_PACKAGES.iter().map(|n| n.replace('-', "_")).collect();
        for (key, dep) in dependencies(&m) {
            let inherited = dep
                .get("workspace")
                .and_then(toml::Value::as_bool)
                .unwrap_or(false)
                .then(|| {
                    ws_table
                        .and_then(|w| w.get("dependencies"))
                        .and_then(|d| d.get(key))
                })
                .flatten();
            let field = |f: &str| {
                dep.get(f)
                    .or_else(|| inherited.and_then(|i| i.get(f)))
                    .and_then(toml::Value::as_str)
            };
            let real = field("package").unwrap_or(key);
            if MACRO_PACKAGES.contains(&real) && real != key {
                macro_crates.push(key.replace('-', "_"));
            }
            let dep_dir = match (dep.get("path").and_then(toml::Value::as_str), inherited) {
                (Some(p), _) => Some(normalize(&dir.join(p))),
                (None, Some(i)) => i
                    .get("path")
                    .and_then(toml::Value::as_str)
                    .map(|p| normalize(&root_dir.join(p))),
                _ => None,
            };
            if let Some(d) = dep_dir
                && ws_table.is_some()
                && d.starts_with(&root_dir)
                && !is_excluded(&d)
                && d.join("Cargo.toml").is_file()
            {
                dirs.push(d);
            }
        }
        packages.push(Package {
            targets: manifest_targets(&dir, &name, pkg, &m),
            name,
            macro_crates,
        });
    }
    Ok(Workspace {
        target_dir: target_dir(&parent_dir(&manifest), &root_dir),
        root: root_dir,
        packages,
    })
}

fn read_manifest(path: &Path) -> Result<toml::Table> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    text.parse::<toml::Table>()
        .with_context(|| format!("{} is not valid TOML", path.display()))
}

fn absolute(p: &Path) -> Result<PathBuf> {
    Ok(normalize(
        &std::path::absolute(p).with_context(|| format!("resolving {}", p.display()))?,
    ))
}

/// `a/./b/../c` is `a/c`, without touching the file system (as cargo spells member paths).
fn normalize(p: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            c => out.push(c),
        }
    }
    out
}

fn parent_dir(manifest: &Path) -> PathBuf {
    manifest
        .parent()
        .map_or_else(PathBuf::new, Path::to_path_buf)
}

fn str_list(v: Option<&toml::Value>) -> Vec<String> {
    v.and_then(toml::Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(toml::Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// The workspace root manifest for the package at `manifest`.
fn find_root(manifest: &Path, own: &toml::Table) -> Result<PathBuf> {
    if own.get("workspace").is_some() {
        return Ok(manifest.to_owned());
    }
    let dir = parent_dir(manifest);
    if let Some(w) = own
        .get("package")
        .and_then(|p| p.get("workspace"))
        .and_then(toml::Value::as_str)
    {
        return Ok(normalize(&dir.join(w).join("Cargo.toml")));
    }
    for up in dir.ancestors().skip(1) {
        let candidate = up.join("Cargo.toml");
        if !candidate.is_file() {
            continue;
        }
        let Ok(m) = read_manifest(&candidate) else {
            continue;
        };
        let Some(ws) = m.get("workspace").and_then(toml::Value::as_table) else {
            continue;
        };
        let up = up.to_path_buf();
        let excluded = str_list(ws.get("exclude"))
            .iter()
            .any(|e| dir.starts_with(normalize(&up.join(e))));
        let listed = str_list(ws.get("members"))
            .iter()
            .any(|p| expand_glob(&up, p).contains(&dir));
        if listed && !excluded {
            return Ok(candidate);
        }
        // The nearest workspace above decides: it does not list us, so we stand alone.
        break;
    }
    Ok(manifest.to_owned())
}

/// The directories a `members` entry names (relative to `root`; `*` and `?` within one
/// component, `**` for any number of directories).
fn expand_glob(root: &Path, pattern: &str) -> Vec<PathBuf> {
    let mut current = vec![root.to_path_buf()];
    for part in pattern.split('/').filter(|p| !p.is_empty() && *p != ".") {
        let mut next = Vec::new();
        for dir in &current {
            if part == ".." {
                next.push(normalize(&dir.join("..")));
            } else if part == "**" {
                let mut stack = vec![dir.clone()];
                while let Some(d) = stack.pop() {
                    next.push(d.clone());
                    stack.extend(subdirs(&d));
                }
            } else if part.contains(['*', '?']) {
                next.extend(subdirs(dir).into_iter().filter(|d| {
                    d.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| wildcard(part.as_bytes(), n.as_bytes()))
                }));
            } else {
                next.push(dir.join(part));
            }
        }
        current = next;
    }
    current.sort();
    current.dedup();
    current
}

fn subdirs(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    out.sort();
    out
}

/// `*` (any run) and `?` (one byte) against a file name.
fn wildcard(pat: &[u8], name: &[u8]) -> bool {
    let (mut p, mut n, mut star, mut mark) = (0, 0, None, 0);
    while n < name.len() {
        if p < pat.len() && (pat[p] == b'?' || pat[p] == name[n]) {
            p += 1;
            n += 1;
        } else if p < pat.len() && pat[p] == b'*' {
            star = Some(p);
            mark = n;
            p += 1;
        } else if let Some(s) = star {
            p = s + 1;
            mark += 1;
            n = mark;
        } else {
            return false;
        }
    }
    pat[p..].iter().all(|&c| c == b'*')
}

/// Every dependency table of a manifest (normal, dev, build, per target), as (key, spec).
fn dependencies(m: &toml::Table) -> Vec<(&str, &toml::Value)> {
    const TABLES: [&str; 5] = [
        "dependencies",
        "dev-dependencies",
        "dev_dependencies",
        "build-dependencies",
        "build_dependencies",
    ];
    let mut tables: Vec<&toml::Table> = TABLES
        .iter()
        .filter_map(|t| m.get(*t).and_then(toml::Value::as_table))
        .collect();
    if let Some(targets) = m.get("target").and_then(toml::Value::as_table) {
        for t in targets.values() {
            tables.extend(
                TABLES
                    .iter()
                    .filter_map(|k| t.get(*k).and_then(toml::Value::as_table)),
            );
        }
    }
    tables
        .into_iter()
        .flat_map(|t| t.iter().map(|(k, v)| (k.as_str(), v)))
        .collect()
}

/// The targets Cargo would build for the package in `dir`, libraries first.
fn manifest_targets(dir: &Path, name: &str, pkg: &toml::Table, m: &toml::Table) -> Vec<Target> {
    let auto = |key: &str| pkg.get(key).and_then(toml::Value::as_bool).unwrap_or(true);
    let ident = |n: &str| n.replace('-', "_");
    let mut targets = Vec::new();
    // The library.
    let lib = m.get("lib").and_then(toml::Value::as_table);
    let lib_path = lib
        .and_then(|l| l.get("path"))
        .and_then(toml::Value::as_str)
        .map_or_else(|| dir.join("src/lib.rs"), |p| normalize(&dir.join(p)));
    if lib_path.is_file() {
        let proc_macro = lib.is_some_and(|l| {
            ["proc-macro", "proc_macro"]
                .iter()
                .any(|k| l.get(*k).and_then(toml::Value::as_bool) == Some(true))
        });
        let kinds = if proc_macro {
            vec!["proc-macro".to_owned()]
        } else {
            let types = str_list(lib.and_then(|l| l.get("crate-type")));
            if types.is_empty() {
                vec!["lib".to_owned()]
            } else {
                types
            }
        };
        targets.push(Target {
            crate_ident: ident(
                lib.and_then(|l| l.get("name"))
                    .and_then(toml::Value::as_str)
                    .unwrap_or(name),
            ),
            kinds,
            src_path: lib_path,
        });
    }
    // Binaries, examples, tests, benches: declared ones, then discovered ones of other names.
    let sections: [(&str, &str, &str, Option<&str>); 4] = [
        ("bin", "bin", "autobins", Some("src/bin")),
        ("example", "example", "autoexamples", Some("examples")),
        ("test", "test", "autotests", Some("tests")),
        ("bench", "bench", "autobenches", Some("benches")),
    ];
    for (table, kind, auto_key, auto_dir) in sections {
        let mut found: Vec<(String, PathBuf)> = Vec::new();
        for t in m
            .get(table)
            .and_then(toml::Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(toml::Value::as_table)
        {
            let Some(tname) = t.get("name").and_then(toml::Value::as_str) else {
                continue;
            };
            let path = match t.get("path").and_then(toml::Value::as_str) {
                Some(p) => normalize(&dir.join(p)),
                None => {
                    let base = auto_dir.map_or_else(|| dir.to_path_buf(), |d| dir.join(d));
                    let single = base.join(format!("{tname}.rs"));
                    if kind == "bin" && tname == name && dir.join("src/main.rs").is_file() {
                        dir.join("src/main.rs")
                    } else if single.is_file() {
                        single
                    } else {
                        base.join(tname).join("main.rs")
                    }
                }
            };
            found.push((tname.to_owned(), path));
        }
        if auto(auto_key) {
            let mut discovered = Vec::new();
            if kind == "bin" && dir.join("src/main.rs").is_file() {
                discovered.push((name.to_owned(), dir.join("src/main.rs")));
            }
            if let Some(d) = auto_dir {
                let mut entries: Vec<PathBuf> = std::fs::read_dir(dir.join(d))
                    .into_iter()
                    .flatten()
                    .flatten()
                    .map(|e| e.path())
                    .collect();
                entries.sort();
                for p in entries {
                    let stem = p.file_stem().and_then(|s| s.to_str()).map(str::to_owned);
                    if p.is_file() && p.extension().is_some_and(|x| x == "rs") {
                        discovered.extend(stem.map(|s| (s, p.clone())));
                    } else if p.join("main.rs").is_file() {
                        discovered.extend(stem.map(|s| (s, p.join("main.rs"))));
                    }
                }
            }
            for (n, p) in discovered {
                if !found
                    .iter()
                    .any(|(fname, fpath)| *fname == n || *fpath == p)
                {
                    found.push((n, p));
                }
            }
            // With discovery on, cargo lists a kind's targets by name (declared ones
            // included); with it off, in the order they are declared.
            found.sort_by(|a, b| a.0.cmp(&b.0));
        }
        for (tname, path) in found {
            if path.is_file() {
                targets.push(Target {
                    crate_ident: ident(&tname),
                    kinds: vec![kind.to_owned()],
                    src_path: path,
                });
            }
        }
    }
    // The build script.
    let build = match pkg.get("build") {
        Some(toml::Value::String(p)) => Some(normalize(&dir.join(p))),
        Some(toml::Value::Boolean(false)) => None,
        _ => Some(dir.join("build.rs")).filter(|p| p.is_file()),
    };
    if let Some(path) = build {
        targets.push(Target {
            crate_ident: "build_script_build".to_owned(),
            kinds: vec!["custom-build".to_owned()],
            src_path: path,
        });
    }
    targets
}

/// `CARGO_TARGET_DIR`, else `build.target-dir` of the nearest `.cargo/config.toml` from `from`
/// up (relative to that `.cargo`'s parent), else `<root>/target`.
fn target_dir(from: &Path, root: &Path) -> PathBuf {
    for var in ["CARGO_TARGET_DIR", "CARGO_BUILD_TARGET_DIR"] {
        if let Some(v) = std::env::var_os(var).filter(|v| !v.is_empty()) {
            return absolute(Path::new(&v)).unwrap_or_else(|_| PathBuf::from(v));
        }
    }
    for up in from.ancestors() {
        for file in [".cargo/config.toml", ".cargo/config"] {
            let Ok(cfg) = read_manifest(&up.join(file)) else {
                continue;
            };
            if let Some(t) = cfg
                .get("build")
                .and_then(|b| b.get("target-dir"))
                .and_then(toml::Value::as_str)
            {
                return normalize(&up.join(t));
            }
        }
    }
    root.join("target")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_names_match_with_dashes_or_underscores() {
        let json = br#"{"packages":[
            {"id":"a","name":"agent-x","dependencies":[],"targets":[]},
            {"id":"b","name":"other","dependencies":[],"targets":[]}],
            "workspace_members":["a","b"],"workspace_root":"/w","target_directory":"/w/target"}"#;
        let mut ws = parse_metadata(json).expect("parse");
        ws.retain_packages(&["agent_x".to_owned()])
            .expect("agent_x is agent-x");
        let names: Vec<&str> = ws.packages.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["agent-x"]);
        let err = ws
            .retain_packages(&["other".to_owned()])
            .expect_err("not kept");
        assert!(err.to_string().contains("members: agent-x"), "{err}");
    }

    #[test]
    fn renamed_dependency_is_a_macro_crate() {
        let json = br#"{"packages":[{"id":"a 0.1","name":"agent-x","version":"0.1.0",
            "dependencies":[{"name":"audit-runtime","rename":"audit"},{"name":"serde","rename":null}],
            "targets":[{"name":"agent-x","kind":["bin"],"src_path":"/w/src/main.rs"},
                       {"name":"agent_x","kind":["lib"],"src_path":"/w/src/lib.rs"}]}],
            "workspace_members":["a 0.1"],"workspace_root":"/w","target_directory":"/w/target"}"#;
        let ws = parse_metadata(json).expect("parse");
        let p = &ws.packages[0];
        assert_eq!(
            p.macro_crates,
            vec!["audit_runtime", "audit_macros", "audit"]
        );
        assert_eq!(p.targets[0].kinds, vec!["lib"], "libraries come first");
        assert_eq!(p.targets[1].crate_ident, "agent_x");
    }

    /// What a test compares: every field, as plain data.
    fn shape(ws: &Workspace) -> Vec<String> {
        let mut out = vec![
            format!("root {}", ws.root.display()),
            format!("target {}", ws.target_dir.display()),
        ];
        for p in &ws.packages {
            out.push(format!("package {} macros {:?}", p.name, p.macro_crates));
            for t in &p.targets {
                out.push(format!(
                    "  {} {:?} {}",
                    t.crate_ident,
                    t.kinds,
                    t.src_path.display()
                ));
            }
        }
        out
    }

    /// The manifests give what cargo metadata gives, on every fixture workspace, on this
    /// repository and from a member's directory: cargo is the oracle for the fallback.
    #[test]
    fn manifests_agree_with_cargo_metadata() {
        let here = Path::new(env!("CARGO_MANIFEST_DIR"));
        let repo = normalize(&here.join("../.."));
        let mut manifests = vec![
            repo.join("Cargo.toml"),
            here.join("Cargo.toml"),
            repo.join("tests/coverage-fixtures/own-xtask/crates/triage/Cargo.toml"),
        ];
        let mut fixtures: Vec<PathBuf> = std::fs::read_dir(repo.join("tests/coverage-fixtures"))
            .expect("fixtures")
            .flatten()
            .map(|e| e.path().join("Cargo.toml"))
            .filter(|p| p.is_file())
            .collect();
        fixtures.sort();
        assert!(fixtures.len() >= 7, "{fixtures:?}");
        manifests.extend(fixtures);
        for m in &manifests {
            let Ok(by_cargo) = cargo_metadata(m) else {
                // The own-xtask fixture pins a toolchain that is not installed: cargo through
                // the proxy fails there only when this test runs outside cargo.
                assert!(
                    std::env::var_os("CARGO").is_none(),
                    "cargo metadata failed for {m:?}"
                );
                continue;
            };
            let by_manifests = from_manifests(m).expect("read the manifests");
            // cargo lists members in its own order; the scan does not depend on it.
            let sorted = |ws: &Workspace| {
                let mut ws = ws.clone();
                ws.packages.sort_by(|a, b| a.name.cmp(&b.name));
                shape(&ws)
            };
            assert_eq!(sorted(&by_manifests), sorted(&by_cargo), "{}", m.display());
        }
    }

    #[test]
    fn globs_of_members() {
        assert!(wildcard(b"crates-*", b"crates-a"));
        assert!(wildcard(b"*", b"x"));
        assert!(wildcard(b"a?c*", b"abcdef"));
        assert!(!wildcard(b"a?c", b"ac"));
        assert!(!wildcard(b"*-core", b"core-x"));
        assert_eq!(normalize(Path::new("/a/./b/../c")), Path::new("/a/c"));
    }

    /// Manifests are the audited team's bytes: any shape of them gives a workspace or an error,
    /// never a panic or a loop (path dependencies that cycle, members that name files, values
    /// of the wrong type everywhere).
    #[test]
    fn any_manifest_gives_a_workspace_or_an_error() {
        use proptest::prelude::*;
        const ROOT: &[&str] = &[
            "[workspace]\nmembers = [\"m\", \"m*\", \"*\", \"**\", \"../m\"]\n",
            "[workspace]\nmembers = \"m\"\nexclude = 3\n",
            "[workspace]\nexclude = [\"m\"]\n[workspace.dependencies]\nx = { package = \"audit-runtime\", path = \"m\" }\n",
            "[workspace.dependencies.y]\npackage = 7\npath = [\"m\"]\n",
            "[package]\nname = \"root\"\nbuild = 5\nautobins = \"no\"\n",
            "[package]\nname = 3\n",
            "package = []\n",
            "[lib]\npath = \"m/src/lib.rs\"\nproc-macro = \"yes\"\ncrate-type = [1]\n",
            "lib = 3\nbin = [{ name = 1 }, 2, { name = \"b\", path = \"../../x.rs\" }]\n",
            "[dependencies]\na = \"1\"\nb = { workspace = true }\nc = { path = \"m\" }\nx = { workspace = true }\n",
            "[target.'cfg(unix)'.dependencies]\nz = { path = \".\" }\n",
            "[[test]]\nname = \"t\"\n[[example]]\npath = \"e.rs\"\n",
            "[package]\nname = \"root\"\nworkspace = \"m\"\n",
            "not toml [",
        ];
        const MEMBER: &[&str] = &[
            "[package]\nname = \"m\"\n",
            "[package]\nname = \"m\"\nworkspace = \"..\"\n[dependencies]\nr = { path = \"..\" }\n",
            "[dependencies]\nq = { path = \"../m\" }\n",
            "[workspace]\n",
            "",
        ];
        let dir =
            std::env::temp_dir().join(format!("audit-coverage-manifests-{}", std::process::id()));
        let cases = std::env::var("AUDIT_FUZZ_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(128);
        let mut runner = proptest::test_runner::TestRunner::new(proptest::test_runner::Config {
            cases,
            failure_persistence: None,
            ..proptest::test_runner::Config::default()
        });
        let strategy = (
            proptest::collection::vec(proptest::sample::select(ROOT), 0..4),
            proptest::collection::vec(proptest::sample::select(MEMBER), 0..3),
            any::<bool>(),
        );
        runner
            .run(&strategy, |(root, member, from_member)| {
                let _ = std::fs::remove_dir_all(&dir);
                std::fs::create_dir_all(dir.join("m/src")).expect("dirs");
                std::fs::write(dir.join("Cargo.toml"), root.concat()).expect("write");
                std::fs::write(dir.join("m/Cargo.toml"), member.concat()).expect("write");
                std::fs::write(dir.join("m/src/lib.rs"), "").expect("write");
                let start = std::time::Instant::now();
                let at = if from_member {
                    dir.join("m/Cargo.toml")
                } else {
                    dir.join("Cargo.toml")
                };
                let _ = from_manifests(&at);
                prop_assert!(start.elapsed() < std::time::Duration::from_secs(5));
                Ok(())
            })
            .expect("no panic, bounded time");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
