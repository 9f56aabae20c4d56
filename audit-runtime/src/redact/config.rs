//! The runtime rule set: built in code ([`RedactionConfig`]) and optionally loaded from a
//! versioned TOML file (`RedactionConfig::from_toml_file`, feature `config-file`, on by
//! default; without it the TOML parser is not built and the file loaders do not exist).
//!
//! ```toml
//! format = 1                      # the file format; only 1 exists
//! version = "acme-2026-11-02"     # your rule-set version, written into every record
//!
//! [detectors]
//! defaults = true                 # false switches the built-in detectors OFF (visible in records)
//! sensitive_keys = ["dob"]        # more object keys whose values are erased wherever they occur
//!
//! [detectors.actions]             # per-detector action: erase, mask, mask(N), hash, digest, off
//! email = "mask(4)"
//! ipv4 = "off"
//!
//! [[detector]]                    # user-defined detectors
//! name = "employee_id"
//! pattern = 'EMP-[0-9]{6}'
//! action = "hash"
//! validate = "luhn"               # optional: none, luhn, payment_card, iban, us_ssn, ...
//!
//! [[rule]]                        # path rules, like redact(..) in the attribute
//! point = "loan.approve"          # an audit point name, or "*" for every point
//! path = "applicant.dob"
//! action = "erase"
//! ```
//!
//! What must hold: a rule set that cannot be applied exactly as written never installs. Unknown
//! keys, unknown actions, unknown detector names, invalid patterns and malformed paths are
//! errors that name the rule (`[[detector]] "employee_id"`, `[[rule]] #2`), raised when the
//! runtime is installed, so a typo cannot silently leave data unredacted.

use std::collections::BTreeMap;
use std::fmt;
#[cfg(feature = "config-file")]
use std::path::Path;
use std::path::PathBuf;

/// The name of the sensitive-key detector in `[detectors.actions]`.
pub(crate) const SENSITIVE_KEY: &str = "sensitive_key";

#[cfg(feature = "config-file")]
use serde::Deserialize;

#[cfg(feature = "config-file")]
use super::detectors::Validator;
use super::detectors::{self, Detector};
use crate::point::RedactAction;

/// A redaction rule set: which detectors run with which actions, user-defined detectors and
/// path rules. `RedactionConfig::default()` is the built-in detectors with their default actions.
#[derive(Debug, Clone, PartialEq)]
pub struct RedactionConfig {
    pub(crate) version: Option<String>,
    pub(crate) defaults: bool,
    pub(crate) actions: BTreeMap<String, Option<RedactAction>>,
    pub(crate) custom: Vec<Detector>,
    pub(crate) rules: Vec<PathRule>,
    pub(crate) sensitive_keys: Vec<String>,
    /// Where each part came from, for error messages (`code`, a file path).
    pub(crate) origin: String,
}

/// A path rule from code or a config file, applied like `redact(path = action)` in the attribute.
#[derive(Debug, Clone, PartialEq)]
pub struct PathRule {
    pub(crate) point: String,
    pub(crate) path: String,
    pub(crate) action: RedactAction,
    pub(crate) label: String,
}

impl Default for RedactionConfig {
    fn default() -> Self {
        RedactionConfig {
            version: None,
            defaults: true,
            actions: BTreeMap::new(),
            custom: Vec::new(),
            rules: Vec::new(),
            sensitive_keys: Vec::new(),
            origin: "code".to_owned(),
        }
    }
}

/// Why a rule set could not be loaded or compiled. Every variant names the rule at fault.
#[derive(Debug)]
pub enum ConfigError {
    /// The file could not be read.
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this format (syntax, unknown keys, wrong types).
    Parse {
        /// Where the rules came from.
        origin: String,
        /// The parser's message (it names the line and key).
        message: String,
    },
    /// A rule is invalid.
    Rule {
        /// Where the rules came from.
        origin: String,
        /// Which rule (`[[detector]] "employee_id"`, `[[rule]] #2 (loan.approve: a.b)`, ...).
        rule: String,
        /// What is wrong.
        reason: String,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Io { path, source } => {
                write!(
                    f,
                    "cannot read redaction config {}: {source}",
                    path.display()
                )
            }
            ConfigError::Parse { origin, message } => {
                write!(f, "redaction config {origin}: {message}")
            }
            ConfigError::Rule {
                origin,
                rule,
                reason,
            } => {
                write!(f, "redaction config {origin}: {rule}: {reason}")
            }
        }
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConfigError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Parse an action as written in config files: `erase`, `mask`, `mask(N)`, `hash`, `digest`;
/// `off` (only for detector actions) gives `Ok(None)`.
pub fn parse_action(s: &str) -> Result<Option<RedactAction>, String> {
    let t = s.trim();
    Ok(Some(match t {
        "erase" => RedactAction::Erase,
        "hash" => RedactAction::Hash,
        "digest" => RedactAction::Digest,
        "mask" => RedactAction::Mask { keep: 0 },
        "off" => return Ok(None),
        _ => {
            let keep = t
                .strip_prefix("mask(")
                .and_then(|r| r.strip_suffix(')'))
                .and_then(|n| n.trim().parse::<u8>().ok());
            match keep {
                Some(keep) => RedactAction::Mask { keep },
                None => {
                    return Err(format!(
                        "unknown action `{t}`; expected erase, mask, mask(N) with N in 0..=255, \
                         hash, digest or off"
                    ));
                }
            }
        }
    }))
}

impl RedactionConfig {
    /// The built-in detectors with their default actions (same as `default()`).
    pub fn new() -> Self {
        Self::default()
    }

    /// Your rule-set version, written (with the built-in catalogue's version and a fingerprint
    /// of the effective rules) into every record's `redactions.rule_set`.
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = Some(version.into());
        self
    }

    /// Switch the built-in detectors off. Every record then says `detectors_disabled: true`,
    /// and installation prints a warning. User-defined detectors and path rules still apply.
    pub fn without_default_detectors(mut self) -> Self {
        self.defaults = false;
        self
    }

    /// Use `action` for the built-in detector `detector` (checked when installed).
    pub fn detector_action(mut self, detector: impl Into<String>, action: RedactAction) -> Self {
        self.actions.insert(detector.into(), Some(action));
        self
    }

    /// Switch one built-in detector off (checked when installed). The effective rule set's
    /// fingerprint in `redactions.rule_set` changes with it.
    pub fn disable_detector(mut self, detector: impl Into<String>) -> Self {
        self.actions.insert(detector.into(), None);
        self
    }

    /// Add a user-defined detector.
    pub fn detector(mut self, detector: Detector) -> Self {
        self.custom.push(detector);
        self
    }

    /// Erase the value of every object member with this key, wherever it occurs (ASCII
    /// case-insensitive, `-` and `_` alike), in addition to the built-in list.
    pub fn sensitive_key(mut self, key: impl Into<String>) -> Self {
        self.sensitive_keys.push(key.into());
        self
    }

    /// A path rule for the audit point named `point` (or `"*"`: every point that has the path's
    /// root parameter), like `redact(path = action)` in the attribute.
    pub fn rule(
        mut self,
        point: impl Into<String>,
        path: impl Into<String>,
        action: RedactAction,
    ) -> Self {
        let n = self.rules.len() + 1;
        let (point, path) = (point.into(), path.into());
        let label = format!("rule #{n} ({point}: {path})");
        self.rules.push(PathRule {
            point,
            path,
            action,
            label,
        });
        self
    }

    /// Parse a TOML rule set; `origin` names it in error messages.
    ///
    /// Needs the `config-file` feature (on by default).
    #[cfg(feature = "config-file")]
    #[cfg_attr(docsrs, doc(cfg(feature = "config-file")))]
    pub fn from_toml_str(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let file: File = toml::from_str(text).map_err(|e| ConfigError::Parse {
            origin: origin.to_owned(),
            message: e.to_string(),
        })?;
        let rule_err = |rule: String, reason: String| ConfigError::Rule {
            origin: origin.to_owned(),
            rule,
            reason,
        };
        if file.format != 1 {
            return Err(rule_err(
                "format".into(),
                format!("format {} is not supported (only 1)", file.format),
            ));
        }
        let mut cfg = RedactionConfig {
            origin: origin.to_owned(),
            version: file.version,
            ..Self::default()
        };
        if let Some(d) = file.detectors {
            cfg.defaults = d.defaults.unwrap_or(true);
            for (name, action) in d.actions {
                let a = parse_action(&action)
                    .map_err(|r| rule_err(format!("[detectors.actions] {name}"), r))?;
                cfg.actions.insert(name, a);
            }
            cfg.sensitive_keys = d.sensitive_keys;
        }
        for det in file.detector {
            let label = format!("[[detector]] \"{}\"", det.name);
            let action = parse_action(&det.action)
                .map_err(|r| rule_err(label.clone(), r))?
                .ok_or_else(|| {
                    rule_err(
                        label.clone(),
                        "`off` is for built-in detectors; remove the detector instead".into(),
                    )
                })?;
            let validator = match det.validate.as_deref() {
                None => Validator::None,
                Some(v) => Validator::from_name(v).ok_or_else(|| {
                    let known: Vec<&str> = Validator::NAMES.iter().map(|(n, _)| *n).collect();
                    rule_err(
                        label.clone(),
                        format!("unknown validator `{v}` (known: {})", known.join(", ")),
                    )
                })?,
            };
            cfg.custom
                .push(Detector::new(det.name, det.pattern, action).validate(validator));
        }
        for (i, r) in file.rule.into_iter().enumerate() {
            let label = format!("[[rule]] #{} ({}: {})", i + 1, r.point, r.path);
            let action = parse_action(&r.action)
                .map_err(|e| rule_err(label.clone(), e))?
                .ok_or_else(|| rule_err(label.clone(), "`off` is not a path rule action".into()))?;
            cfg.rules.push(PathRule {
                point: r.point,
                path: r.path,
                action,
                label,
            });
        }
        Ok(cfg)
    }

    /// Read and parse a TOML rule set file.
    ///
    /// Needs the `config-file` feature (on by default).
    #[cfg(feature = "config-file")]
    #[cfg_attr(docsrs, doc(cfg(feature = "config-file")))]
    pub fn from_toml_file(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml_str(&text, &path.display().to_string())
    }

    /// This rule set with `other` (for example a file) layered on top: its detector actions
    /// override, its detectors, keys and rules are added, its `defaults = false` wins, and the
    /// versions are joined (`code-version+file-version`).
    pub fn merge(mut self, other: RedactionConfig) -> Self {
        self.version = match (self.version, other.version) {
            (Some(a), Some(b)) => Some(format!("{a}+{b}")),
            (a, b) => a.or(b),
        };
        self.defaults &= other.defaults;
        self.actions.extend(other.actions);
        let origin = other.origin;
        self.custom.extend(other.custom);
        self.sensitive_keys.extend(other.sensitive_keys);
        self.rules.extend(other.rules.into_iter().map(|mut r| {
            r.label = format!("{} in {origin}", r.label);
            r
        }));
        self
    }

    /// Whether the built-in detectors are on.
    pub fn default_detectors(&self) -> bool {
        self.defaults
    }

    /// The detectors this rule set runs, in priority order: built-ins (unless switched off,
    /// with overridden actions) then user-defined ones. Unknown names in the action table are
    /// errors.
    pub(crate) fn effective_detectors(&self) -> Result<Vec<Detector>, ConfigError> {
        let builtin = detectors::builtin();
        for name in self.actions.keys() {
            // `sensitive_key` is the detector of sensitive object keys: not a pattern, so not in
            // the built-in list, but its action is set here like the others (docs/REDACTION.md).
            if name != SENSITIVE_KEY && !builtin.iter().any(|d| &d.name == name) {
                let mut known: Vec<&str> = builtin.iter().map(|d| d.name.as_str()).collect();
                known.push(SENSITIVE_KEY);
                return Err(ConfigError::Rule {
                    origin: self.origin.clone(),
                    rule: format!("detector action for `{name}`"),
                    reason: format!(
                        "no built-in detector is named `{name}` (known: {})",
                        known.join(", ")
                    ),
                });
            }
        }
        let mut out = Vec::new();
        if self.defaults {
            for mut d in builtin {
                match self.actions.get(&d.name) {
                    Some(None) => continue,
                    Some(Some(a)) => d.action = *a,
                    None => {}
                }
                out.push(d);
            }
        }
        for d in &self.custom {
            if d.name.is_empty()
                || !d
                    .name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            {
                return Err(ConfigError::Rule {
                    origin: self.origin.clone(),
                    rule: format!("detector \"{}\"", d.name),
                    reason: "a detector name must be non-empty and use only letters, digits, `_` and `-`".into(),
                });
            }
            if out.iter().any(|o| o.name == d.name) {
                return Err(ConfigError::Rule {
                    origin: self.origin.clone(),
                    rule: format!("detector \"{}\"", d.name),
                    reason: "a detector with this name exists already".into(),
                });
            }
            out.push(d.clone());
        }
        Ok(out)
    }
}

#[cfg(feature = "config-file")]
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    format: u32,
    version: Option<String>,
    detectors: Option<DetectorsSection>,
    #[serde(default)]
    detector: Vec<CustomDetector>,
    #[serde(default)]
    rule: Vec<RuleEntry>,
}

#[cfg(feature = "config-file")]
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DetectorsSection {
    defaults: Option<bool>,
    #[serde(default)]
    actions: BTreeMap<String, String>,
    #[serde(default)]
    sensitive_keys: Vec<String>,
}

#[cfg(feature = "config-file")]
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CustomDetector {
    name: String,
    pattern: String,
    action: String,
    validate: Option<String>,
}

#[cfg(feature = "config-file")]
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleEntry {
    point: String,
    path: String,
    action: String,
}

#[cfg(all(test, feature = "config-file"))]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_example() {
        let text = r#"
            format = 1
            version = "acme-1"
            [detectors]
            defaults = true
            sensitive_keys = ["dob"]
            [detectors.actions]
            email = "mask(4)"
            ipv4 = "off"
            [[detector]]
            name = "employee_id"
            pattern = 'EMP-[0-9]{6}'
            action = "hash"
            validate = "luhn"
            [[rule]]
            point = "loan.approve"
            path = "applicant.dob"
            action = "erase"
        "#;
        let c = RedactionConfig::from_toml_str(text, "test.toml").unwrap();
        assert_eq!(c.version.as_deref(), Some("acme-1"));
        assert_eq!(c.actions["email"], Some(RedactAction::Mask { keep: 4 }));
        assert_eq!(c.actions["ipv4"], None);
        assert_eq!(c.custom[0].validator, Validator::Luhn);
        assert_eq!(c.rules[0].action, RedactAction::Erase);
        let dets = c.effective_detectors().unwrap();
        assert!(dets.iter().all(|d| d.name != "ipv4"));
        assert_eq!(
            dets.iter().find(|d| d.name == "email").unwrap().action,
            RedactAction::Mask { keep: 4 }
        );
    }

    #[test]
    fn errors_name_the_rule() {
        let e = RedactionConfig::from_toml_str(
            "format = 1\n[[detector]]\nname = \"emp\"\npattern = 'x'\naction = \"shred\"\n",
            "f.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("[[detector]] \"emp\"") && e.contains("unknown action `shred`"),
            "{e}"
        );
        let e = RedactionConfig::from_toml_str(
            "format = 1\n[[rule]]\npoint = \"p\"\npath = \"a\"\naction = \"mask(300)\"\n",
            "f.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("[[rule]] #1 (p: a)"), "{e}");
        let e = RedactionConfig::from_toml_str("format = 1\nfoo = 2\n", "f.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field `foo`"), "{e}");
        let e = RedactionConfig::new()
            .detector_action("emial", RedactAction::Erase)
            .effective_detectors()
            .unwrap_err()
            .to_string();
        assert!(e.contains("`emial`"), "{e}");
    }
}
