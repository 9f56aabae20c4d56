//! Learning the id of the decision a call just made, correctly across tasks and threads.
//!
//! A human override, a late outcome or lineage refers to a decision by id, and an id attached to
//! the wrong decision is a record that lies. Inside the decision's body
//! [`crate::current_decision_id`] is always right (it reads the call's own frame). *After* the
//! call returns, the caller needs the id without the function's signature changing:
//!
//! ```
//! # use audit_runtime::{audited_decision, decision::with_decision_id};
//! # #[audited_decision(unversioned = "doc example")]
//! # async fn approve(amount: u64) -> Result<bool, String> { Ok(amount < 10) }
//! # async fn demo() -> Result<(), String> {
//! let (approved, decision) = with_decision_id(approve(5)).await;
//! if let Some(decision) = decision {
//!     // refers to exactly this call's decision, whatever ran on this thread meanwhile
//!     let _ = audit_runtime::record_outcome(decision, "repaid", true);
//! }
//! # Ok(()) }
//! ```
//!
//! [`with_decision_id`] wraps a future and [`with_decision_id_sync`] a closure: while it runs
//! (for a future: during each poll), a decision that finishes inside it writes its
//! [`DecisionRef`] into the scope's own slot, which is saved away between polls. Other tasks
//! polled on the same thread in between cannot touch it, and the task may move to another
//! thread: the slot travels with the future. When decisions nest, the last to finish (the
//! outermost) is the one reported.
//!
//! The old thread-local [`crate::last_decision_id`] answered "the last decision that finished on
//! this OS thread": in a multi-threaded executor, after one more `.await` that is usually another
//! task's decision. It is deprecated (a compile-time warning) and kept only for synchronous
//! code; inside one of the scopes above it reads the scope's slot.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::context::AuditContext;
use crate::ids::{RecordId, SpanId, TraceId};

/// A decision as its caller learns it: its record id and where its span sits in the trace, so
/// that follow-up records land on the same trace in an OpenTelemetry backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DecisionRef {
    /// The decision's record id (its `decision_id`).
    pub id: RecordId,
    /// The W3C trace id of the decision's record.
    pub trace_id: TraceId,
    /// The W3C span id of the decision's record.
    pub span_id: SpanId,
}

impl From<DecisionRef> for RecordId {
    fn from(d: DecisionRef) -> RecordId {
        d.id
    }
}

thread_local! {
    /// The innermost scope's slot while it runs; outside every scope, the thread's own (what
    /// the deprecated `last_decision_id` reads).
    static SLOT: Cell<Option<DecisionRef>> = const { Cell::new(None) };
}

/// A decision finished on this thread (called by the guard).
#[inline]
pub(crate) fn finished(ctx: &AuditContext) {
    let d = DecisionRef {
        id: ctx.id,
        trace_id: ctx.trace_id,
        span_id: ctx.span_id,
    };
    let _ = SLOT.try_with(|s| s.set(Some(d)));
}

/// What the deprecated thread-local accessor reads.
pub(crate) fn thread_slot() -> Option<DecisionRef> {
    SLOT.try_with(Cell::get).ok().flatten()
}

/// Puts the slot back when the scope's run (or poll) ends, also on unwinding.
struct Swap<'a> {
    slot: &'a mut Option<DecisionRef>,
    saved: Option<DecisionRef>,
}

impl<'a> Swap<'a> {
    fn enter(slot: &'a mut Option<DecisionRef>) -> Self {
        let saved = SLOT.with(|s| s.replace(*slot));
        Swap { slot, saved }
    }
}

impl Drop for Swap<'_> {
    fn drop(&mut self) {
        let _ = SLOT.try_with(|s| *self.slot = s.replace(self.saved));
    }
}

/// Run `f`; also return the last decision that finished inside it.
pub fn with_decision_id_sync<R>(f: impl FnOnce() -> R) -> (R, Option<DecisionRef>) {
    let mut slot = None;
    let value = {
        let _swap = Swap::enter(&mut slot);
        f()
    };
    (value, slot)
}

/// Await `fut`; also return the last decision that finished inside it.
pub fn with_decision_id<F: Future>(fut: F) -> WithDecisionId<F> {
    WithDecisionId {
        inner: fut,
        slot: None,
    }
}

pin_project_lite::pin_project! {
    /// The future of [`with_decision_id`].
    #[derive(Debug)]
    #[must_use = "futures do nothing unless awaited"]
    pub struct WithDecisionId<F> {
        #[pin]
        inner: F,
        slot: Option<DecisionRef>,
    }
}

impl<F: Future> Future for WithDecisionId<F> {
    type Output = (F::Output, Option<DecisionRef>);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let polled = {
            let _swap = Swap::enter(this.slot);
            this.inner.poll(cx)
        };
        match polled {
            Poll::Ready(v) => Poll::Ready((v, *this.slot)),
            Poll::Pending => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::point::PointKind;

    fn decision() -> AuditContext {
        let id = RecordId::now();
        AuditContext {
            id,
            kind: PointKind::Decision,
            decision: Some(id),
            run: None,
            scope: None,
            trace_id: TraceId::of_root(id),
            span_id: SpanId::random(),
        }
    }

    #[test]
    fn scopes_keep_their_own_slot() {
        let outside = decision();
        finished(&outside);
        let inner = decision();
        let ((), got) = with_decision_id_sync(|| {
            assert_eq!(thread_slot(), None, "a scope starts empty");
            finished(&inner);
        });
        assert_eq!(got.map(|d| d.id), Some(inner.id));
        assert_eq!(thread_slot().map(|d| d.id), Some(outside.id), "restored");
        let unwound = std::panic::catch_unwind(|| {
            with_decision_id_sync(|| {
                finished(&decision());
                panic!("inside");
            })
        });
        assert!(unwound.is_err());
        assert_eq!(
            thread_slot().map(|d| d.id),
            Some(outside.id),
            "restored on unwind"
        );
    }
}
