//! The rules that decide which functions are decision points, read from `audit.toml` (table
//! `[coverage]`) at the workspace root or from `[workspace.metadata.audit.coverage]` in the root
//! `Cargo.toml`.
//!
//! What must hold: a workspace without any configuration still gets a true report (every
//! audited function is a point; only the rules add unaudited candidates), and an unknown key is
//! an error rather than a silently ignored rule, because a misspelt rule would quietly lower
//! the denominator and make coverage look better than it is.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

/// The coverage rules. Every list is matched as documented in `docs/COVERAGE.md`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Module path patterns (`*` matches any run of characters, `::` included), matched against
    /// `crate_name::module::path`: every function defined in a matching module is a candidate.
    pub modules: Vec<String>,
    /// Function name patterns (`decide_*`); a pattern containing `::` is matched against
    /// `Type::function` for methods.
    pub functions: Vec<String>,
    /// Types of LLM (or other model) clients: a function that calls a method of one, or an
    /// associated function on one, is a candidate. `Client` matches any path ending in `Client`
    /// after `use` resolution; `async_openai::Client` matches that path only.
    pub llm_clients: Vec<String>,
    /// Traits whose implementations are tools: every method of `impl Trait for T` is a
    /// candidate. `Tool::call` restricts the rule to one method.
    pub tool_traits: Vec<String>,
    /// Attributes of other agent frameworks that mark tools (`tool`, `rig::tool`).
    pub tool_attributes: Vec<String>,
    /// Words in argument names or types that suggest personal data.
    pub personal_data: Vec<String>,
    /// Words in argument names or types that suggest secrets.
    pub secrets: Vec<String>,
    /// File globs (relative to the workspace root, `**` for any directories) to leave out.
    pub exclude: Vec<String>,
    /// Also scan test and bench targets and `#[cfg(test)]` code (off by default).
    pub include_tests: bool,
    /// Extra names under which the audit macros are reachable (a crate re-exporting them).
    pub macro_crates: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        let words = |w: &[&str]| w.iter().map(|s| (*s).to_owned()).collect();
        Config {
            modules: Vec::new(),
            functions: Vec::new(),
            llm_clients: Vec::new(),
            tool_traits: Vec::new(),
            tool_attributes: Vec::new(),
            personal_data: words(&[
                "ssn",
                "social_security",
                "email",
                "phone",
                "address",
                "dob",
                "date_of_birth",
                "birth_date",
                "passport",
                "national_id",
                "tax_id",
                "iban",
                "card",
                "card_number",
                "full_name",
                "first_name",
                "last_name",
                "applicant",
                "customer",
                "patient",
                "person",
                "employee",
                "contact",
                "medical",
                "health",
                "salary",
                "income",
            ]),
            secrets: words(&[
                "password",
                "passwd",
                "secret",
                "token",
                "api_key",
                "apikey",
                "private_key",
                "credential",
                "credentials",
            ]),
            exclude: Vec::new(),
            include_tests: false,
            macro_crates: Vec::new(),
        }
    }
}

/// Where the rules came from, for the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "path")]
pub enum ConfigSource {
    /// `audit.toml`, table `[coverage]`.
    AuditToml(PathBuf),
    /// `[workspace.metadata.audit.coverage]` in the root manifest.
    WorkspaceMetadata(PathBuf),
    /// A file given with `--config`.
    Explicit(PathBuf),
    /// No configuration found: the defaults.
    Defaults,
}

#[derive(Deserialize)]
struct AuditToml {
    #[serde(default)]
    coverage: Option<toml::Value>,
}

fn from_value(v: toml::Value, origin: &Path) -> Result<Config> {
    v.try_into()
        .with_context(|| format!("invalid coverage rules in {}", origin.display()))
}

/// Load the rules for a workspace: `explicit`, else `<root>/audit.toml`, else the root manifest's
/// `[workspace.metadata.audit.coverage]`, else the defaults.
pub fn load(root: &Path, explicit: Option<&Path>) -> Result<(Config, ConfigSource)> {
    let read_audit_toml = |path: &Path| -> Result<Option<Config>> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let parsed: AuditToml =
            toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        parsed.coverage.map(|v| from_value(v, path)).transpose()
    };
    if let Some(path) = explicit {
        return match read_audit_toml(path)? {
            Some(c) => Ok((c, ConfigSource::Explicit(path.to_owned()))),
            None => bail!("{} has no [coverage] table", path.display()),
        };
    }
    let audit_toml = root.join("audit.toml");
    if audit_toml.is_file()
        && let Some(c) = read_audit_toml(&audit_toml)?
    {
        return Ok((c, ConfigSource::AuditToml(audit_toml)));
    }
    let manifest = root.join("Cargo.toml");
    if manifest.is_file() {
        let text = std::fs::read_to_string(&manifest)
            .with_context(|| format!("reading {}", manifest.display()))?;
        let value: toml::Table =
            toml::from_str(&text).with_context(|| format!("parsing {}", manifest.display()))?;
        let table = value
            .get("workspace")
            .and_then(|w| w.get("metadata"))
            .and_then(|m| m.get("audit"))
            .and_then(|a| a.get("coverage"));
        if let Some(t) = table {
            return Ok((
                from_value(t.clone(), &manifest)?,
                ConfigSource::WorkspaceMetadata(manifest),
            ));
        }
    }
    Ok((Config::default(), ConfigSource::Defaults))
}

/// Match `text` against a pattern where `*` matches any run of characters (possibly empty).
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p = pattern.as_bytes();
    let t = text.as_bytes();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// Match a `/`-separated relative path against a glob where `**` matches any number of whole
/// directories and `*` anything within one component.
pub fn path_glob_match(pattern: &str, path: &str) -> bool {
    fn rec(p: &[&str], s: &[&str]) -> bool {
        match p.split_first() {
            None => s.is_empty(),
            Some((&"**", rest)) => (0..=s.len()).any(|i| rec(rest, &s[i..])),
            Some((first, rest)) => s
                .split_first()
                .is_some_and(|(h, t)| glob_match(first, h) && rec(rest, t)),
        }
    }
    let p: Vec<&str> = pattern.split('/').filter(|c| !c.is_empty()).collect();
    let s: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
    rec(&p, &s)
}

/// Split an identifier into lower-case words at `_` and lower-to-upper case changes
/// (`applicantEmail`, `ApplicantEmail`, `applicant_email` all give `applicant`, `email`).
pub fn words(ident: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut prev_lower = false;
    for c in ident.chars() {
        if c == '_' || !c.is_alphanumeric() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            prev_lower = false;
            continue;
        }
        if c.is_uppercase() && prev_lower && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        prev_lower = c.is_lowercase() || c.is_ascii_digit();
        cur.extend(c.to_lowercase());
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// The first term (from `terms`, each a `_`-separated word sequence) whose words appear
/// consecutively in `ident`'s words.
pub fn matching_term<'a>(terms: &'a [String], ident: &str) -> Option<&'a str> {
    let w = words(ident);
    terms.iter().map(String::as_str).find(|term| {
        let tw = words(term);
        !tw.is_empty() && w.windows(tw.len()).any(|win| win == tw.as_slice())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("decide_*", "decide_loan"));
        assert!(glob_match("*::agents::*", "bank::agents::loans"));
        assert!(!glob_match("*::agents::*", "bank::agents"));
        assert!(glob_match("*approve*", "approve"));
        assert!(!glob_match("approve", "approved"));
        assert!(path_glob_match("tests/**", "tests/a/b.rs"));
        assert!(path_glob_match(
            "**/generated/*.rs",
            "crates/x/src/generated/y.rs"
        ));
        assert!(!path_glob_match("src/*.rs", "src/a/b.rs"));
    }

    #[test]
    fn word_matching() {
        assert_eq!(words("applicantEmail"), vec!["applicant", "email"]);
        assert_eq!(words("HTTPClient"), vec!["httpclient"]);
        assert_eq!(words("api_key"), vec!["api", "key"]);
        let terms = vec!["email".to_owned(), "api_key".to_owned()];
        assert_eq!(matching_term(&terms, "contact_email"), Some("email"));
        assert_eq!(matching_term(&terms, "OpenApiKey"), Some("api_key"));
        assert_eq!(matching_term(&terms, "emailer_count"), None);
    }

    #[test]
    fn unknown_keys_are_errors() {
        let dir = std::env::temp_dir().join(format!("cov-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("tmp dir");
        std::fs::write(dir.join("audit.toml"), "[coverage]\nfunctoins = [\"x\"]\n").expect("write");
        let err = load(&dir, None).expect_err("misspelt key must fail");
        assert!(format!("{err:#}").contains("functoins"), "{err:#}");
        std::fs::write(
            dir.join("audit.toml"),
            "[coverage]\nfunctions = [\"decide_*\"]\n",
        )
        .expect("write");
        let (c, src) = load(&dir, None).expect("valid config");
        assert_eq!(c.functions, vec!["decide_*"]);
        assert!(!c.personal_data.is_empty(), "defaults fill missing lists");
        assert!(matches!(src, ConfigSource::AuditToml(_)));
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
