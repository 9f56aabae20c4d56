//! The redaction seam.
//!
//! A [`Redactor`] rewrites a record in place before it is hashed and exported, and fills in
//! [`crate::record::Redactions`] with what it did (path, rule, action and the rule-set version,
//! never the original value). It runs on the worker thread, after input digests were computed
//! from the unredacted values and before the record is sealed into the chain.
//!
//! Architecture Invariant: a record reaches an exporter only after the configured redactor ran on
//! it; a redactor that cannot apply a rule must erase the value and say so in the record (fail
//! closed), never pass it through.

use crate::point::AuditPoint;
use crate::record::AuditRecord;

/// Rewrites records so nothing the rules cover leaves the process.
pub trait Redactor: Send + Sync + 'static {
    /// Redact `record` (of the call of `point`, when it is a call record) in place and set
    /// `record.redactions`.
    fn redact(&self, point: Option<&'static AuditPoint>, record: &mut AuditRecord);
}
