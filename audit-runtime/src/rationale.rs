//! Rationale and lineage from inside an audited function's body.
//!
//! ```
//! # use audit_runtime as audit;
//! fn decide(score: f64) -> bool {
//!     audit::signal("score", score);
//!     audit::explain(format!("score {score:.2} against threshold 0.7"));
//!     audit::lineage("bureau-snapshots", Some("2026-11-01"));
//!     score > 0.7
//! }
//! ```
//!
//! Each call attaches to the innermost audited call running on this thread or task. Outside one
//! it is counted as an orphan note (see [`crate::context`]).

use serde::Serialize;
use serde_json::Value;

use crate::context::{self, Note};
use crate::install;
use crate::record::{LineageRef, Rationale, Signal};

/// Record a signal or score that contributed to the decision.
pub fn signal(name: &str, value: impl Serialize) {
    let value = serde_json::to_value(value)
        .unwrap_or_else(|e| Value::String(format!("<not serializable: {e}>")));
    if !context::add_note(Note::Signal(name.to_owned(), value)) {
        install::orphan_note("audit_runtime::signal");
    }
}

/// Record a human-readable explanation (several calls are joined with newlines).
pub fn explain(text: impl Into<String>) {
    if !context::add_note(Note::Explain(text.into())) {
        install::orphan_note("audit_runtime::explain");
    }
}

/// Record a data set (and version) the decision read.
pub fn lineage(dataset: &str, version: Option<&str>) {
    let l = LineageRef {
        dataset: dataset.to_owned(),
        version: version.map(str::to_owned),
        digest: None,
    };
    if !context::add_note(Note::Lineage(l)) {
        install::orphan_note("audit_runtime::lineage");
    }
}

impl Rationale {
    /// An empty rationale.
    pub fn new() -> Self {
        Rationale::default()
    }

    /// Set the explanation.
    pub fn explain(mut self, text: impl Into<String>) -> Self {
        self.explanation = Some(text.into());
        self
    }

    /// Add a signal.
    pub fn signal(mut self, name: &str, value: impl Serialize) -> Self {
        let value = serde_json::to_value(value)
            .unwrap_or_else(|e| Value::String(format!("<not serializable: {e}>")));
        self.signals.push(Signal {
            name: name.to_owned(),
            value,
        });
        self
    }
}

impl From<String> for Rationale {
    fn from(s: String) -> Self {
        Rationale::new().explain(s)
    }
}

impl From<&str> for Rationale {
    fn from(s: &str) -> Self {
        Rationale::new().explain(s)
    }
}

impl From<Option<String>> for Rationale {
    fn from(s: Option<String>) -> Self {
        Rationale {
            explanation: s,
            signals: Vec::new(),
        }
    }
}
