//! # audit-runtime
//!
//! The runtime behind `#[audited_decision]`, `#[audited_tool]` and their kin: the audit record
//! (schema version 1), correlation across calls, keyed input digests, the hash chain, and the
//! bounded pipeline that feeds exporters. [`merkle`] adds RFC 9162 Merkle trees with inclusion
//! and consistency proofs and the C2SP checkpoint and proof texts (not used by the file log yet).
//!
//! ```no_run
//! use audit_runtime::{audited_decision, AuditRuntime};
//! # fn exporter() -> Box<dyn audit_runtime::export::Exporter> { unimplemented!() }
//!
//! #[audited_decision(name = "loan.approve", model = "credit-scorer", model_version = "2.3.1",
//!                    policy = "lending", policy_version = "2026-10", capture(amount))]
//! fn approve(amount: u64) -> Result<bool, String> {
//!     audit_runtime::signal("amount", amount);
//!     Ok(amount < 10_000)
//! }
//!
//! let _guard = AuditRuntime::builder().service("loan-agent").exporter(exporter()).install()?;
//! approve(5_000)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! See `ARCHITECTURE.md` for the data flow and `docs/RECORD-SCHEMA.md` for every field.

#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod artifacts;
pub mod backoff;
mod call;
pub mod canonical;
pub mod chain;
mod clock;
pub mod context;
pub mod decision;
pub mod diag;
pub mod digest;
mod errors;
pub mod export;
pub mod followup;
pub mod ids;
pub mod install;
#[cfg(feature = "merkle")]
#[cfg_attr(docsrs, doc(cfg(feature = "merkle")))]
pub mod merkle;
pub mod point;
mod probe;
pub mod propagation;
mod queue;
mod rationale;
pub mod record;
pub mod redact;
mod ring;
mod sync;
mod worker;

pub use call::{AuditCapture, AuditCaptureOutput};
pub use clock::call_clock;
pub use context::current_decision_id;
#[allow(deprecated)]
pub use context::last_decision_id;
pub use decision::{DecisionRef, with_decision_id, with_decision_id_sync};
pub use errors::register_error_type;
pub use followup::{
    HumanAction, HumanActionKind, record_human_action, record_lineage, record_outcome,
};
pub use ids::RecordId;
pub use install::{AuditBuilder, AuditGuard, AuditRuntime, AuditStats, QueueFull, StartedRecords};
pub use point::{AuditPoint, points};
pub use rationale::{explain, lineage, signal};
pub use record::Rationale;

#[cfg(feature = "macros")]
pub use audit_macros::{
    audited_agent, audited_decision, audited_model_call, audited_policy_check, audited_tool,
};

/// Not public API: the paths generated code uses. May change in any release.
#[doc(hidden)]
pub mod __private {
    pub use crate::call::{AuditCapture, CallGuard, InlineBody, Instrumented, Unpolled};
    pub use crate::point::{
        ArgMode, ArgSpec, ArtifactRole, AuditPoint, OutputMode, PointKind, RedactAction,
        RedactSpec, RegisteredPoint, SideEffect, VersionSource, VersionSpec,
    };
    pub use crate::probe::{AuditFromResidual, AuditTry};
    pub use crate::probe::{
        Describe, DescribeDebug, DescribeDisplay, DescribeDyn, DescribeDynSendSync, DescribeError,
        DescribeOther, Finish, FinishBoxedLocal, FinishBoxedSend, FinishNow, FinishUnobserved,
        Returned, View, ViewPlain, ViewResult, type_name_of, view_plain, view_result,
    };
    pub use core;
    pub use inventory;
    pub use std::boxed::Box;
    pub use tracing;
}
