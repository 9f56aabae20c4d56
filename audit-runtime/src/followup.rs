//! Follow-up records: outcomes that arrive later, human actions and lineage, each a new record
//! that refers to a decision by id. Nothing already recorded is ever rewritten.

use std::fmt;

use serde::Serialize;
use serde_json::Value;

use crate::decision::DecisionRef;
use crate::ids::{RecordId, SpanId, TraceId, unix_nanos};
use crate::record::{HumanActionInfo, LineageRef, Outcome, OutcomeStatus, RecordKind};

/// No audit runtime is installed, so the follow-up was not recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditOff;

impl fmt::Display for AuditOff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("no audit runtime is installed; the follow-up record was not written")
    }
}

impl std::error::Error for AuditOff {}

/// The decision a follow-up refers to: its id ([`RecordId`]), or a [`DecisionRef`] from
/// [`crate::with_decision_id`], which also says where the decision sits in its trace. With a bare
/// id the runtime links the follow-up to the decision's trace if it sealed that decision
/// recently (the last 16,384 decisions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FollowUpTarget {
    id: RecordId,
    link: Option<(TraceId, SpanId)>,
}

impl From<RecordId> for FollowUpTarget {
    fn from(id: RecordId) -> Self {
        FollowUpTarget { id, link: None }
    }
}

impl From<DecisionRef> for FollowUpTarget {
    fn from(d: DecisionRef) -> Self {
        FollowUpTarget {
            id: d.id,
            link: Some((d.trace_id, d.span_id)),
        }
    }
}

#[derive(Debug)]
pub(crate) struct FollowUp {
    pub(crate) record_id: RecordId,
    pub(crate) kind: RecordKind,
    pub(crate) refers_to: RecordId,
    /// The decision's trace and span, when the caller knows them.
    pub(crate) link: Option<(TraceId, SpanId)>,
    pub(crate) at_unix: u64,
    /// When it was made, on the call clock: its place in the chain's order.
    pub(crate) tick: crate::clock::Ticks,
    pub(crate) outcome: Option<Outcome>,
    pub(crate) human_action: Option<HumanActionInfo>,
    pub(crate) lineage: Vec<LineageRef>,
    pub(crate) attributes: serde_json::Map<String, Value>,
}

impl FollowUp {
    fn new(kind: RecordKind, target: impl Into<FollowUpTarget>) -> Self {
        let target = target.into();
        let at_unix = unix_nanos();
        FollowUp {
            record_id: RecordId::new_v7(at_unix),
            kind,
            refers_to: target.id,
            link: target.link,
            at_unix,
            tick: crate::clock::Ticks::now(),
            outcome: None,
            human_action: None,
            lineage: Vec::new(),
            attributes: serde_json::Map::new(),
        }
    }

    /// Any follow-up, for queue tests.
    #[cfg(test)]
    pub(crate) fn for_test() -> Self {
        Self::new(RecordKind::Outcome, RecordId::now())
    }

    fn submit(self) -> Result<RecordId, AuditOff> {
        let id = self.record_id;
        crate::install::submit_follow(self)?;
        Ok(id)
    }
}

/// Record an outcome observed after the decision (the loan was repaid, the claim was paid).
/// `value` is serialized with serde and redacted like any other value. Returns the new record's id.
pub fn record_outcome(
    decision: impl Into<FollowUpTarget>,
    label: &str,
    value: impl Serialize,
) -> Result<RecordId, AuditOff> {
    let mut f = FollowUp::new(RecordKind::Outcome, decision);
    let value = serde_json::to_value(value)
        .unwrap_or_else(|e| Value::String(format!("<not serializable: {e}>")));
    f.outcome = Some(Outcome {
        value: Some(crate::record::CapturedValue {
            mode: crate::record::CaptureMode::Captured.into(),
            value: Some(value),
            digest: None,
            error: None,
        }),
        ..Outcome::new(OutcomeStatus::Ok)
    });
    f.attributes
        .insert("label".into(), Value::String(label.to_owned()));
    f.submit()
}

/// What a human did to a decision; written in records as `approve`, `override`, ...
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum HumanActionKind {
    /// Approved as decided.
    Approve,
    /// Replaced the decision's outcome.
    Override,
    /// Rejected the decision.
    Reject,
    /// The subject of the decision appealed it.
    Appeal,
    /// A comment with no effect on the outcome.
    Comment,
}

impl HumanActionKind {
    /// The name written in records.
    pub fn as_str(self) -> &'static str {
        match self {
            HumanActionKind::Approve => "approve",
            HumanActionKind::Override => "override",
            HumanActionKind::Reject => "reject",
            HumanActionKind::Appeal => "appeal",
            HumanActionKind::Comment => "comment",
        }
    }
}

/// A human action, built with [`HumanAction::new`].
#[derive(Debug, Clone)]
pub struct HumanAction {
    kind: HumanActionKind,
    actor: String,
    note: Option<String>,
    new_value: Option<Value>,
}

impl HumanAction {
    /// `actor` did `kind`.
    pub fn new(kind: HumanActionKind, actor: impl Into<String>) -> Self {
        HumanAction {
            kind,
            actor: actor.into(),
            note: None,
            new_value: None,
        }
    }

    /// A free-text note (redacted like any other text).
    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }

    /// The value that replaces the decision's outcome (for overrides).
    pub fn new_value(mut self, value: impl Serialize) -> Self {
        self.new_value = Some(
            serde_json::to_value(value)
                .unwrap_or_else(|e| Value::String(format!("<not serializable: {e}>"))),
        );
        self
    }
}

/// Record a human approval, override, rejection, appeal or comment on a decision.
pub fn record_human_action(
    decision: impl Into<FollowUpTarget>,
    action: HumanAction,
) -> Result<RecordId, AuditOff> {
    let mut f = FollowUp::new(RecordKind::HumanAction, decision);
    f.human_action = Some(HumanActionInfo {
        action: action.kind.into(),
        actor: action.actor,
        note: action.note,
        new_value: action.new_value,
    });
    f.submit()
}

/// Record data sets and feature versions a decision read, after the fact.
pub fn record_lineage(
    decision: impl Into<FollowUpTarget>,
    lineage: impl IntoIterator<Item = LineageRef>,
) -> Result<RecordId, AuditOff> {
    let mut f = FollowUp::new(RecordKind::Lineage, decision);
    f.lineage = lineage.into_iter().collect();
    f.submit()
}
