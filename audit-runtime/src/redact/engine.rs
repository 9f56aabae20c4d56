//! The redaction engine: path rules, then detectors over every string of the record.
//!
//! For each record the engine (1) applies the path rules of the record's audit point: the
//! attribute's `redact(..)` rules and the rule set's `[[rule]]`s, to the captured arguments
//! and the captured output; then (2) walks every place of the record that can hold program data
//! ([`super::walk`], which destructures every record type so a new field cannot be skipped
//! silently) and runs the detectors over each string, object key and signal name, erasing the
//! values of sensitive keys (`password`, `api_key`, ...) whole.
//! It then writes `redactions`: the rule-set version, whether the built-in detectors are off, and
//! one entry per redacted place (path, rule or detector, action), never the original value.
//!
//! Cost: a string with nothing to redact costs one lazy-DFA pass ([`super::scan`]); the walk
//! allocates nothing for a record with nothing to redact except the `rule_set` string the record
//! owns. Paths of entries are rendered only when something is redacted.
//!
//! Architecture Invariant: the engine never records an original value. Entries carry paths,
//! rule names and actions; a path that passes through an object key the detectors redacted
//! shows the redacted key.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use serde_json::Value;

use super::config::{ConfigError, RedactionConfig};
use super::detectors::{BUILTIN_VERSION, SENSITIVE_KEYS, Validator};
use super::paths::{self, FieldPath, RuleRef, Seg};
use super::scan::{self, Hit, Scanner};
use super::walk::{self, Loc, Visit};
use super::{RedactContext, Redactor};
use crate::digest::DigestKey;
use crate::point::{ArgMode, AuditPoint, OutputMode, RedactAction};
use crate::record::{AuditRecord, RedactionEntry, Redactions};

/// One path rule compiled for one audit point.
#[derive(Debug)]
struct CompiledRule {
    root: String,
    segs: Vec<Seg>,
    action: RedactAction,
    /// `attribute:applicant.email` or `config:applicant.email`.
    rule: String,
    /// Whether a path that matches nothing is reported (not for `point = "*"` rules).
    report_missing: bool,
    warned: AtomicBool,
    /// Whether the path ever reached a value: once it has, later records where it reaches
    /// nothing carry another enum variant or a `None`, not a misnamed path.
    matched_ever: AtomicBool,
}

#[derive(Debug, Default)]
struct PointRules {
    rules: Vec<CompiledRule>,
}

/// A detection in a text, as reported by [`RedactionEngine::scan_text`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detection {
    /// The detector's name.
    pub detector: String,
    /// Byte offset of the first byte detected.
    pub start: usize,
    /// Byte offset after the last byte detected.
    pub end: usize,
}

/// The built-in [`Redactor`]: a compiled [`RedactionConfig`] plus the path rules of every audit
/// point in the binary. Built by the runtime at installation; public so that tests, benchmarks
/// and tools can run it on their own records and texts.
pub struct RedactionEngine {
    scanner: Scanner,
    rule_set: String,
    detectors_disabled: bool,
    /// Normalized (lower-case, `_` for `-`) keys whose values are erased, with their action.
    sensitive_keys: Vec<String>,
    sensitive_lens: u64,
    key_action: Option<RedactAction>,
    /// Index of the payment-card detector, for integers that are card numbers.
    card: Option<usize>,
    points: HashMap<usize, PointRules>,
    wildcard: Vec<(String, FieldPath, RedactAction, String)>,
    named: Vec<(String, FieldPath, RedactAction, String)>,
    late: Mutex<HashMap<usize, Arc<PointRules>>>,
}

impl std::fmt::Debug for RedactionEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedactionEngine")
            .field("rule_set", &self.rule_set)
            .field("detectors_disabled", &self.detectors_disabled)
            .finish_non_exhaustive()
    }
}

fn normalize_key(k: &str) -> String {
    k.bytes()
        .map(|b| {
            if b == b'-' {
                '_'
            } else {
                char::from(b.to_ascii_lowercase())
            }
        })
        .collect()
}

fn key_eq(key: &str, normalized: &str) -> bool {
    key.len() == normalized.len()
        && key.bytes().zip(normalized.bytes()).all(|(a, b)| {
            let a = if a == b'-' {
                b'_'
            } else {
                a.to_ascii_lowercase()
            };
            a == b
        })
}

impl RedactionEngine {
    /// Compile `config` and the path rules of every audit point linked into this binary.
    ///
    /// Fails, naming the rule, on an invalid pattern, an unknown detector name, a malformed path,
    /// or a `[[rule]]` whose point does not exist or whose root is not a captured parameter (or
    /// `output` with `output = capture`).
    pub fn new(config: &RedactionConfig) -> Result<Self, ConfigError> {
        let dets = config.effective_detectors()?;
        let scanner = Scanner::new(&dets).map_err(|e| ConfigError::Rule {
            origin: config.origin.clone(),
            rule: format!("detector \"{}\"", e.detector),
            reason: format!("invalid pattern: {}", e.message),
        })?;
        let card = dets
            .iter()
            .position(|d| d.builtin && d.name == "payment_card");

        let key_action = match config.actions.get(super::config::SENSITIVE_KEY) {
            Some(a) => *a,
            None if config.defaults || !config.sensitive_keys.is_empty() => {
                Some(RedactAction::Erase)
            }
            None => None,
        };
        let mut sensitive_keys: Vec<String> = if config.defaults {
            SENSITIVE_KEYS.iter().map(|k| (*k).to_owned()).collect()
        } else {
            Vec::new()
        };
        sensitive_keys.extend(config.sensitive_keys.iter().map(|k| normalize_key(k)));
        let sensitive_lens = sensitive_keys.iter().fold(0u64, |m, k| {
            if k.len() < 64 {
                m | 1 << k.len()
            } else {
                m | 1 << 63
            }
        });

        let mut wildcard = Vec::new();
        let mut named = Vec::new();
        for r in &config.rules {
            let err = |reason: String| ConfigError::Rule {
                origin: config.origin.clone(),
                rule: r.label.clone(),
                reason,
            };
            let path = FieldPath::parse(&r.path).map_err(err)?;
            let rule_name = format!("config:{}", r.path);
            if r.point == "*" {
                wildcard.push((r.point.clone(), path, r.action, rule_name));
                continue;
            }
            let matching: Vec<&'static AuditPoint> = crate::point::points()
                .filter(|p| p.name == r.point)
                .collect();
            if matching.is_empty() {
                let mut known: Vec<&str> = crate::point::points().map(|p| p.name).collect();
                known.sort_unstable();
                return Err(err(format!(
                    "no audit point named `{}` in this binary (known: {})",
                    r.point,
                    if known.is_empty() {
                        "none".to_owned()
                    } else {
                        known.join(", ")
                    }
                )));
            }
            for p in matching {
                if let Err(reason) = check_root(p, &path.root) {
                    return Err(err(reason));
                }
            }
            named.push((r.point.clone(), path, r.action, rule_name));
        }

        let fingerprint = {
            let mut h = blake3::Hasher::new();
            for d in &dets {
                h.update(
                    format!(
                        "{}\0{}\0{:?}\0{:?}\0",
                        d.name, d.pattern, d.validator, d.action
                    )
                    .as_bytes(),
                );
            }
            h.update(format!("{sensitive_keys:?}{key_action:?}").as_bytes());
            for r in &config.rules {
                h.update(format!("{}\0{}\0{:?}\0", r.point, r.path, r.action).as_bytes());
            }
            h.finalize().to_hex()[..8].to_owned()
        };
        let base = if config.defaults {
            BUILTIN_VERSION
        } else {
            "no-builtin-detectors"
        };
        let rule_set = match &config.version {
            Some(v) => format!("{v}+{base}#{fingerprint}"),
            None => format!("{base}#{fingerprint}"),
        };

        let mut engine = RedactionEngine {
            scanner,
            rule_set,
            detectors_disabled: !config.defaults,
            sensitive_keys,
            sensitive_lens,
            key_action,
            card,
            points: HashMap::new(),
            wildcard,
            named,
            late: Mutex::new(HashMap::new()),
        };
        for p in crate::point::points() {
            let rules = engine
                .compile_point(p)
                .map_err(|reason| ConfigError::Rule {
                    origin: "the audit attribute".to_owned(),
                    rule: format!("redact(..) of `{}` ({}:{})", p.name, p.file, p.line),
                    reason,
                })?;
            engine.points.insert(p as *const AuditPoint as usize, rules);
        }
        Ok(engine)
    }

    fn compile_point(&self, p: &'static AuditPoint) -> Result<PointRules, String> {
        let mut rules = Vec::new();
        for spec in p.redact {
            let path = FieldPath::parse(spec.path)?;
            check_root(p, &path.root)?;
            rules.push(CompiledRule {
                root: path.root,
                segs: path.segs,
                action: spec.action,
                rule: format!("attribute:{}", spec.path),
                report_missing: true,
                warned: AtomicBool::new(false),
                matched_ever: AtomicBool::new(false),
            });
        }
        let named = self.named.iter().filter(|(point, ..)| point == p.name);
        let wild = self
            .wildcard
            .iter()
            .filter(|(_, path, ..)| check_root(p, &path.root).is_ok());
        for (point, path, action, rule) in named.chain(wild) {
            rules.push(CompiledRule {
                root: path.root.clone(),
                segs: path.segs.clone(),
                action: *action,
                rule: rule.clone(),
                report_missing: point != "*",
                warned: AtomicBool::new(false),
                matched_ever: AtomicBool::new(false),
            });
        }
        Ok(PointRules { rules })
    }

    /// The rule-set version written into every record: your version (if any), the built-in
    /// catalogue's version (or `no-builtin-detectors`) and a fingerprint of the effective rules.
    pub fn rule_set(&self) -> &str {
        &self.rule_set
    }

    /// Whether the built-in detectors are off.
    pub fn detectors_disabled(&self) -> bool {
        self.detectors_disabled
    }

    /// Every detection in `text`, per detector and before overlapping detections are merged
    /// (for measuring detectors; redaction merges overlaps).
    pub fn scan_text(&self, text: &str) -> Vec<Detection> {
        let mut hits = Vec::new();
        self.scanner.find_unmerged(text, &mut hits);
        hits.sort_unstable_by_key(|h| (h.start, h.det));
        hits.iter()
            .map(|h| Detection {
                detector: self.scanner.detector(h.det).name.clone(),
                start: h.start,
                end: h.end,
            })
            .collect()
    }

    /// `text` with every detection replaced, as the engine does inside records.
    pub fn redact_text(&self, text: &str, key: &DigestKey) -> String {
        let mut hits = Vec::new();
        if self.scanner.find(text, &mut hits) {
            self.scanner.rewrite(text, &hits, &|b| key.digest(b).value)
        } else {
            text.to_owned()
        }
    }

    fn rules_for(&self, p: &'static AuditPoint) -> Option<Arc<PointRules>> {
        let addr = p as *const AuditPoint as usize;
        // Points not in the inventory (a binary whose linker dropped the registration) are
        // compiled on first use; their errors are reported and the rules erase what they cover.
        let mut late = self.late.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(r) = late.get(&addr) {
            return Some(r.clone());
        }
        let rules = match self.compile_point(p) {
            Ok(r) => r,
            Err(reason) => {
                crate::diag::warn(&format!(
                    "redaction rules of `{}` cannot be compiled ({reason}); its captured values \
                     are erased",
                    p.name
                ));
                PointRules {
                    rules: p
                        .args
                        .iter()
                        .filter(|a| a.mode == ArgMode::Capture)
                        .map(|a| a.name)
                        .chain(Some("output"))
                        .map(|root| CompiledRule {
                            root: root.to_owned(),
                            segs: Vec::new(),
                            action: RedactAction::Erase,
                            rule: "fail_closed".to_owned(),
                            report_missing: false,
                            warned: AtomicBool::new(true),
                            matched_ever: AtomicBool::new(true),
                        })
                        .collect(),
                }
            }
        };
        let rules = Arc::new(rules);
        late.insert(addr, rules.clone());
        Some(rules)
    }

    fn apply_rules(
        &self,
        rules: &PointRules,
        point: &AuditPoint,
        cx: &RedactContext<'_>,
        r: &mut AuditRecord,
        out: &mut Vec<RedactionEntry>,
    ) {
        for rule in &rules.rules {
            let rr = RuleRef {
                rule: &rule.rule,
                action: rule.action,
                key: cx.key,
            };
            let before = out.len();
            let reach = if rule.root == "output" {
                match r
                    .outcome
                    .as_mut()
                    .and_then(|o| o.value.as_mut())
                    .and_then(|c| c.value.as_mut())
                {
                    Some(v) => {
                        let mut path = String::from("outcome.value");
                        paths::apply(v, &rule.segs, &rr, &mut path, out)
                    }
                    None => continue,
                }
            } else {
                let arg = r
                    .inputs
                    .as_mut()
                    .and_then(|i| i.args.iter_mut().find(|a| a.name == rule.root))
                    .and_then(|a| a.captured.value.as_mut());
                match arg {
                    Some(v) => {
                        let mut path = format!("inputs.{}", rule.root);
                        paths::apply(v, &rule.segs, &rr, &mut path, out)
                    }
                    None => continue,
                }
            };
            let failed = out[before..].iter().filter(|e| e.reason.is_some()).count() as u64;
            if failed > 0 {
                cx.counters.fail_closed.fetch_add(failed, Ordering::Relaxed);
            }
            if reach.found {
                if !rule.matched_ever.load(Ordering::Relaxed) {
                    rule.matched_ever.store(true, Ordering::Relaxed);
                }
            } else if reach.missing
                && rule.report_missing
                && !rule.matched_ever.load(Ordering::Relaxed)
            {
                cx.counters.unmatched_paths.fetch_add(1, Ordering::Relaxed);
                if !rule.warned.swap(true, Ordering::Relaxed) {
                    crate::diag::warn(&format!(
                        "redaction rule `{}` of `{}` ({}:{}) matched nothing: no field on that path \
                         exists in the record. Check the path against the serialized value (serde \
                         renames, enum tagging). Reported once; records where it has never matched \
                         are counted in AuditStats::redaction_unmatched_paths.",
                        rule.rule, point.name, point.file, point.line
                    ));
                }
            }
        }
    }
}

fn check_root(p: &AuditPoint, root: &str) -> Result<(), String> {
    if root == "output" {
        return if p.output == OutputMode::Capture {
            Ok(())
        } else {
            Err(format!(
                "`{}` does not capture its output (`output = capture`), so `output` cannot be redacted",
                p.name
            ))
        };
    }
    match p.args.iter().find(|a| a.name == root) {
        Some(a) if a.mode == ArgMode::Capture => Ok(()),
        Some(_) => Err(format!(
            "parameter `{root}` of `{}` is not captured, so there is nothing to redact",
            p.name
        )),
        None => {
            let names: Vec<&str> = p.args.iter().map(|a| a.name).collect();
            Err(format!(
                "`{}` has no parameter `{root}` (parameters: {}; use `output` for the return value)",
                p.name,
                names.join(", ")
            ))
        }
    }
}

/// Per-record scratch state of the text walk.
struct Walk<'e, 'o> {
    engine: &'e RedactionEngine,
    key: &'e DigestKey,
    hits: Vec<Hit>,
    out: &'o mut Vec<RedactionEntry>,
}

impl Walk<'_, '_> {
    fn hash(&self) -> impl Fn(&[u8]) -> String + '_ {
        |b: &[u8]| self.key.digest(b).value
    }

    /// Scan one string in place.
    fn text(&mut self, s: &mut String, loc: &Loc<'_>) {
        if !self.engine.scanner.find(s, &mut self.hits) {
            return;
        }
        let hits = std::mem::take(&mut self.hits);
        let new = self.engine.scanner.rewrite(s, &hits, &self.hash());
        *s = new;
        self.entries_for(&hits, loc, None);
        self.hits = hits;
    }

    fn entries_for(&mut self, hits: &[Hit], loc: &Loc<'_>, reason: Option<&str>) {
        let path = loc.render();
        let mut seen: Vec<usize> = Vec::new();
        for h in hits {
            if seen.contains(&h.det) {
                continue;
            }
            seen.push(h.det);
            let d = self.engine.scanner.detector(h.det);
            self.out.push(RedactionEntry {
                path: path.clone(),
                rule: format!("detector:{}", d.name),
                action: if reason.is_some() {
                    RedactAction::Hash.into()
                } else {
                    d.action.into()
                },
                reason: reason.map(str::to_owned),
            });
        }
    }

    fn value(&mut self, v: &mut Value, loc: &Loc<'_>) {
        match v {
            Value::String(s) => self.text(s, loc),
            Value::Array(items) => {
                for (i, item) in items.iter_mut().enumerate() {
                    self.value(item, &loc.index(i));
                }
            }
            Value::Object(map) => {
                if map
                    .keys()
                    .any(|k| self.engine.scanner.find(k, &mut self.hits))
                {
                    self.rename_keys(map, loc);
                }
                for (k, child) in map.iter_mut() {
                    if child.is_null() {
                        continue;
                    }
                    self.keyed(k, child, &loc.key(k));
                }
            }
            Value::Number(n) => {
                // A card number kept as an integer (13-19 digits).
                let Some(card) = self.engine.card else { return };
                let Some(x) = n.as_u64().filter(|x| *x >= 1_000_000_000_000) else {
                    return;
                };
                let text = x.to_string();
                if Validator::PaymentCard.accept(&text).is_some() {
                    let d = self.engine.scanner.detector(card);
                    let mut s = String::new();
                    scan::replacement(&d.name, d.action, &text, &self.hash(), &mut s);
                    *v = Value::String(s);
                    let hit = Hit {
                        det: card,
                        start: 0,
                        end: text.len(),
                    };
                    self.entries_for(&[hit], loc, None);
                }
            }
            Value::Null | Value::Bool(_) => {}
        }
    }

    /// `k` with each detection replaced by `[detector:<keyed hash>]` (hash, whatever the
    /// detector's action, so distinct keys and names stay distinct), and an entry per detector
    /// at `loc.<new key>`; `None` when nothing is detected.
    fn hashed_name(&mut self, k: &str, loc: &Loc<'_>, reason: &str) -> Option<String> {
        let mut hits = std::mem::take(&mut self.hits);
        let renamed = if self.engine.scanner.find(k, &mut hits) {
            let mut s = String::with_capacity(k.len());
            let mut at = 0;
            for h in &hits {
                s.push_str(&k[at..h.start]);
                let d = self.engine.scanner.detector(h.det);
                scan::replacement(
                    &d.name,
                    RedactAction::Hash,
                    &k[h.start..h.end],
                    &self.hash(),
                    &mut s,
                );
                at = h.end;
            }
            s.push_str(&k[at..]);
            self.entries_for(&hits, &loc.key(&s), Some(reason));
            Some(s)
        } else {
            None
        };
        self.hits = hits;
        renamed
    }

    /// Object keys with detections are renamed by [`Self::hashed_name`].
    fn rename_keys(&mut self, map: &mut serde_json::Map<String, Value>, loc: &Loc<'_>) {
        let old = std::mem::take(map);
        for (k, child) in old {
            let k = self
                .hashed_name(&k, loc, "object key: hashed so keys stay distinct")
                .unwrap_or(k);
            map.insert(k, child);
        }
    }

    /// The value of `name`: erased whole under the sensitive-key action when the name is
    /// sensitive, scanned otherwise.
    fn keyed(&mut self, name: &str, v: &mut Value, loc: &Loc<'_>) {
        match self.engine.sensitive(name) {
            Some(action) => {
                let rule = RuleRef {
                    rule: "detector:sensitive_key",
                    action,
                    key: self.key,
                };
                let mut path = loc.render();
                paths::apply(v, &[], &rule, &mut path, self.out);
            }
            None => self.value(v, loc),
        }
    }
}

impl Visit for Walk<'_, '_> {
    fn text(&mut self, s: &mut String, loc: &Loc<'_>) {
        Walk::text(self, s, loc);
    }

    fn value(&mut self, v: &mut Value, loc: &Loc<'_>) {
        Walk::value(self, v, loc);
    }

    fn named_value(&mut self, name: &str, v: &mut Value, loc: &Loc<'_>) {
        self.keyed(name, v, loc);
    }

    fn name(&mut self, s: &mut String, loc: &Loc<'_>) {
        if let Some(new) = self.hashed_name(s, loc, "name: hashed so names stay distinct") {
            *s = new;
        }
    }

    fn attributes(&mut self, m: &mut serde_json::Map<String, Value>, loc: &Loc<'_>) {
        let mut attrs = Value::Object(std::mem::take(m));
        Walk::value(self, &mut attrs, loc);
        if let Value::Object(a) = attrs {
            *m = a;
        }
    }
}

impl RedactionEngine {
    fn sensitive(&self, k: &str) -> Option<RedactAction> {
        let action = self.key_action?;
        let len = k.len();
        let bit = if len < 64 { 1u64 << len } else { 1 << 63 };
        if self.sensitive_lens & bit == 0 {
            return None;
        }
        self.sensitive_keys
            .iter()
            .any(|s| key_eq(k, s))
            .then_some(action)
    }
}

impl Redactor for RedactionEngine {
    fn redact(&self, cx: &RedactContext<'_>, r: &mut AuditRecord) {
        let mut out = Vec::new();
        if let Some(point) = cx.point {
            let addr = point as *const AuditPoint as usize;
            match self.points.get(&addr) {
                Some(rules) if rules.rules.is_empty() => {}
                Some(rules) => self.apply_rules(rules, point, cx, r, &mut out),
                None => {
                    if let Some(rules) = self.rules_for(point) {
                        self.apply_rules(&rules, point, cx, r, &mut out);
                    }
                }
            }
        }

        let has_keys = self.key_action.is_some();
        if !self.scanner.is_empty() || has_keys {
            let mut w = Walk {
                engine: self,
                key: cx.key,
                hits: Vec::new(),
                out: &mut out,
            };
            walk::walk(r, &mut w);
        }
        r.redactions = Redactions {
            rule_set: self.rule_set.clone(),
            detectors_disabled: self.detectors_disabled,
            entries: out,
        };
    }
}
