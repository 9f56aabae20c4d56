//! The workspace to scan, as `cargo metadata --no-deps` describes it.
//!
//! What must hold: the member list comes from Cargo, never from guessing at directories, so
//! virtual manifests, globbed members, `exclude` and renamed dependencies are all seen the way
//! the compiler sees them.

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

/// Run `cargo metadata` for the workspace at `path` (a directory or a `Cargo.toml`).
pub fn load(path: &Path) -> Result<Workspace> {
    let manifest = if path.is_dir() {
        path.join("Cargo.toml")
    } else {
        path.to_owned()
    };
    if !manifest.is_file() {
        bail!("no Cargo.toml at {}", manifest.display());
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--offline",
            "--manifest-path",
        ])
        .arg(&manifest)
        .output()
        .context("running cargo metadata")?;
    if !out.status.success() {
        bail!(
            "cargo metadata failed for {}:\n{}",
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
}
