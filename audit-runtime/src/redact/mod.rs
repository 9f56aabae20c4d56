//! Redaction: nothing the rules cover leaves the process, and every record says what was
//! removed.
//!
//! A [`Redactor`] rewrites a record in place before it is hashed and exported, and fills in
//! [`crate::record::Redactions`] with what it did (path, rule, action and the rule-set version,
//! never the original value). It runs on the worker thread, after input digests were computed
//! from the unredacted values and before the record is sealed into the chain.
//!
//! The runtime's default redactor is the [`RedactionEngine`] with the built-in detectors
//! ([`detectors::builtin`]): e-mail addresses, phone numbers, payment cards (Luhn), IBANs
//! (mod-97), national ids (US SSN, Canadian SIN, UK NINO, Spanish DNI/NIE), IPv4 and IPv6
//! addresses, provider API keys, bearer tokens, JWTs, private key blocks and passwords in URLs
//! and assignments, plus the values of sensitive keys (`password`, `api_key`, ...). It applies the
//! attribute's `redact(path = action)` rules and a runtime [`RedactionConfig`] (code and an
//! optional TOML file). Turning the built-in detectors off is explicit
//! ([`RedactionConfig::without_default_detectors`]) and shows in every record as
//! `redactions.detectors_disabled: true`. `docs/REDACTION.md` is the user's page.
//!
//! Architecture Invariant: a record reaches an exporter only after the configured redactor ran on
//! it; a redactor that cannot apply a rule must erase the value and say so in the record (fail
//! closed), never pass it through. The worker enforces the last line of this: a redactor that
//! panics leaves a record whose every free-text and captured value is erased (`scrub`).

mod config;
pub mod detectors;
mod engine;
mod paths;
mod scan;
pub mod validators;
mod walk;

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::Value;

pub use config::{ConfigError, PathRule, RedactionConfig, parse_action};
pub use detectors::{BUILTIN_VERSION, Detector, Validator};
pub use engine::{Detection, RedactionEngine};

use crate::digest::DigestKey;
use crate::point::AuditPoint;
use crate::record::{AuditRecord, RedactionEntry};

/// What a redactor gets besides the record.
#[derive(Debug, Clone, Copy)]
pub struct RedactContext<'a> {
    /// The audit point of the call, for call records (`None` for follow-ups).
    pub point: Option<&'static AuditPoint>,
    /// The deployment's digest key, for keyed hashes and digests.
    pub key: &'a DigestKey,
    /// Counters the runtime reports in [`crate::AuditStats`].
    pub counters: &'a RedactionCounters,
}

impl<'a> RedactContext<'a> {
    /// A context for redacting one record.
    pub fn new(
        point: Option<&'static AuditPoint>,
        key: &'a DigestKey,
        counters: &'a RedactionCounters,
    ) -> Self {
        RedactContext {
            point,
            key,
            counters,
        }
    }
}

/// Counters of redaction events the runtime reports in [`crate::AuditStats`].
#[derive(Debug, Default)]
pub struct RedactionCounters {
    pub(crate) unmatched_paths: AtomicU64,
    pub(crate) fail_closed: AtomicU64,
}

impl RedactionCounters {
    /// Records in which a path rule matched nothing (each rule is also reported once on stderr).
    pub fn unmatched_paths(&self) -> u64 {
        self.unmatched_paths.load(Ordering::Relaxed)
    }

    /// Values erased because a rule could not be applied as written, plus records scrubbed
    /// whole because the redactor failed.
    pub fn fail_closed(&self) -> u64 {
        self.fail_closed.load(Ordering::Relaxed)
    }

    /// Count a value erased because a rule could not be applied (for custom redactors).
    pub fn count_fail_closed(&self) {
        self.fail_closed.fetch_add(1, Ordering::Relaxed);
    }
}

/// Rewrites records so nothing the rules cover leaves the process.
pub trait Redactor: Send + Sync + 'static {
    /// Redact `record` (of the call of `cx.point`, when it is a call record) in place and set
    /// `record.redactions`.
    fn redact(&self, cx: &RedactContext<'_>, record: &mut AuditRecord);
}

/// Fail closed after a redactor failed: erase every place of the record that can hold program
/// data (every place [`walk::walk`] visits: captured values, free texts, version and lineage
/// strings, error chains, signal names and values, attributes, the session id) and say why.
/// Identity, time, correlation ids, the point, typed fields and the chain stay, so the record
/// still proves that the call happened.
pub(crate) fn scrub(r: &mut AuditRecord, reason: &str) {
    walk::walk(r, &mut Scrub);
    if r.redactions.rule_set.is_empty() {
        r.redactions.rule_set = "unknown".to_owned();
    }
    r.redactions.entries = vec![RedactionEntry {
        path: "*".to_owned(),
        rule: "fail_closed".to_owned(),
        action: crate::point::RedactAction::Erase.into(),
        reason: Some(reason.to_owned()),
    }];
}

/// The [`walk::Visit`] of [`scrub`]: everything becomes `[erased]`.
struct Scrub;

const ERASED: &str = "[erased]";

impl walk::Visit for Scrub {
    fn text(&mut self, s: &mut String, _: &walk::Loc<'_>) {
        ERASED.clone_into(s);
    }

    fn value(&mut self, v: &mut Value, _: &walk::Loc<'_>) {
        *v = Value::String(ERASED.to_owned());
    }

    fn named_value(&mut self, _: &str, v: &mut Value, loc: &walk::Loc<'_>) {
        self.value(v, loc);
    }

    fn name(&mut self, s: &mut String, loc: &walk::Loc<'_>) {
        self.text(s, loc);
    }

    fn attributes(&mut self, m: &mut serde_json::Map<String, Value>, _: &walk::Loc<'_>) {
        let n = m.len();
        *m = serde_json::Map::new();
        m.insert("erased_attributes".to_owned(), Value::from(n));
    }
}
