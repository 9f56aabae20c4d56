//! Correlation context: which audited call is running on this thread right now.
//!
//! Each thread has one current frame (in a thread-local cell). An audited call makes its own
//! frame current while its body runs (for `async` functions: during every poll), keeping the
//! frame it replaced and restoring it afterwards, so the frames form a stack through the calls
//! themselves and nested calls find their parent as the current frame, across `.await` and
//! whichever worker thread polls the future.
//!
//! Work that leaves the current task or thread (`tokio::spawn`, `std::thread::spawn`, a rayon
//! pool) does not carry the stack with it, just as it does not carry the current `tracing` span.
//! Capture the context and re-enter it there:
//!
//! ```
//! use audit_runtime::context::{self, FutureExt as _};
//! # async fn tool() {}
//! # async fn demo() {
//! // inside an audited function:
//! let handle = tokio::spawn(tool().with_audit_context());
//! # }
//! // on a plain thread:
//! let ctx = context::current();
//! std::thread::spawn(move || context::enter(ctx.as_ref(), || { /* audited calls here */ }));
//! ```
//!
//! Rationale and lineage calls ([`crate::signal`], [`crate::explain`], [`crate::lineage`]) attach
//! to the innermost audited call. Made from a propagated context on another task or
//! thread they cannot reach that call's record, so they are counted as `orphan_notes` in the
//! runtime's statistics and reported once, instead of vanishing silently.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::ptr::NonNull;
use std::sync::Arc;
use std::task::{Context, Poll};

use serde_json::Value;

use crate::ids::{RecordId, SpanId, TraceId};
use crate::point::PointKind;

/// Something recorded from inside an audited function's body.
#[derive(Debug, Clone)]
pub(crate) enum Note {
    Signal(String, Value),
    Explain(String),
    Lineage(crate::record::LineageRef),
}

/// The correlation data of one audited call.
#[derive(Debug, Clone)]
pub struct AuditContext {
    pub(crate) id: RecordId,
    pub(crate) kind: PointKind,
    pub(crate) decision: Option<RecordId>,
    pub(crate) run: Option<RecordId>,
    pub(crate) session: Option<Arc<str>>,
    pub(crate) trace_id: TraceId,
    pub(crate) span_id: SpanId,
}

impl AuditContext {
    /// Record id of the call.
    pub fn record_id(&self) -> RecordId {
        self.id
    }
    /// The kind of the call.
    pub fn kind(&self) -> PointKind {
        self.kind
    }
    /// The decision the call belongs to.
    pub fn decision_id(&self) -> Option<RecordId> {
        self.decision
    }
    /// The agent run the call belongs to.
    pub fn run_id(&self) -> Option<RecordId> {
        self.run
    }
    /// The session id, when set.
    pub fn session_id(&self) -> Option<&str> {
        self.session.as_deref()
    }
    /// The W3C trace id.
    pub fn trace_id(&self) -> TraceId {
        self.trace_id
    }
    /// The W3C span id.
    pub fn span_id(&self) -> SpanId {
        self.span_id
    }
}

/// The innermost call's context, as nested calls see it: a pointer to the [`AuditContext`] that
/// the call (or a propagated context) holds, plus whether notes made under it belong to it.
///
/// A pointer, not a copy: entering and leaving a call swaps 16 bytes in a thread-local cell
/// instead of copying an 80-byte context in, out and back, and the session needs no stack of its
/// own (`docs/BENCHMARKS.md`). Reading it is sound because of how frames become current:
/// [`enter_frame`] takes `&'a AuditContext` and returns an [`Entered<'a>`] that borrows it, and
/// `Entered`'s `Drop` (which runs on unwinding too) puts the previous frame back. So a frame is
/// current only while its context is borrowed, neither moved nor dropped nor mutated.
/// `Entered` is private to the crate and never leaked, and frames only leave the cell inside
/// [`with_current`], whose callback cannot keep the reference it is given. This relies on calls
/// nesting on a thread's stack, as Rust's own borrows do: a stackful coroutine that suspends
/// inside an audited body and resumes on another stack is not supported (debug builds assert
/// that frames are left in order).
#[derive(Clone, Copy)]
struct Frame {
    ctx: NonNull<AuditContext>,
    /// Whether notes made while this frame is current belong to it (`false` for propagated
    /// contexts, which have no record to put them in).
    takes_notes: bool,
}

thread_local! {
    /// The innermost frame; the outer ones are saved by the [`Entered`] guards of the calls
    /// that replaced them.
    static CURRENT: Cell<Option<Frame>> = const { Cell::new(None) };
    /// Notes made from inside calls, each with the id of the call it belongs to.
    static NOTES: RefCell<Vec<(RecordId, Note)>> = const { RefCell::new(Vec::new()) };
    /// How many entries [`NOTES`] holds: leaving a call looks here first.
    static PENDING_NOTES: Cell<usize> = const { Cell::new(0) };
}

/// A frame made current by [`enter_frame`]; dropping it (or [`Entered::exit`]) restores the one
/// before.
#[must_use]
pub(crate) struct Entered<'a> {
    previous: Option<Frame>,
    ctx: &'a AuditContext,
    takes_notes: bool,
}

/// Make `ctx` the current context until the returned guard is dropped; notes made meanwhile
/// belong to it if `takes_notes`.
#[inline]
pub(crate) fn enter_frame(ctx: &AuditContext, takes_notes: bool) -> Entered<'_> {
    let frame = Frame {
        ctx: NonNull::from(ctx),
        takes_notes,
    };
    let previous = CURRENT.with(|c| c.replace(Some(frame)));
    Entered {
        previous,
        ctx,
        takes_notes,
    }
}

impl Drop for Entered<'_> {
    #[inline]
    fn drop(&mut self) {
        // Thread-local storage being torn down: nothing is current any more anyway.
        let _ = CURRENT.try_with(|c| {
            // Frames are left in the reverse order they were entered (see `Frame`).
            debug_assert!(
                c.get()
                    .is_some_and(|f| std::ptr::eq(f.ctx.as_ptr(), self.ctx)),
                "audit context frames left out of order"
            );
            c.set(self.previous);
        });
    }
}

impl Entered<'_> {
    /// Restore the previous frame; the notes made for this one, if any.
    #[inline]
    pub(crate) fn exit(self) -> Option<Vec<Note>> {
        let (id, takes_notes) = (self.ctx.id, self.takes_notes);
        drop(self);
        if takes_notes && PENDING_NOTES.with(Cell::get) > 0 {
            take_notes(id)
        } else {
            None
        }
    }
}

/// The notes of call `id`: the newest entries of [`NOTES`], since calls nested in it collected
/// theirs when they ended.
#[cold]
fn take_notes(id: RecordId) -> Option<Vec<Note>> {
    NOTES.with(|n| {
        let mut notes = n.borrow_mut();
        let from = notes
            .iter()
            .rposition(|(owner, _)| *owner != id)
            .map_or(0, |i| i + 1);
        if from == notes.len() {
            return None;
        }
        let mine: Vec<Note> = notes.drain(from..).map(|(_, n)| n).collect();
        PENDING_NOTES.with(|p| p.set(notes.len()));
        Some(mine)
    })
}

/// Call `f` with the innermost context on this thread (and whether notes made now belong to
/// it). The reference cannot outlive the callback.
#[inline]
#[allow(unsafe_code)]
pub(crate) fn with_current<R>(f: impl FnOnce(Option<(&AuditContext, bool)>) -> R) -> R {
    let frame = CURRENT.try_with(Cell::get).ok().flatten();
    // SAFETY: a frame is current only while the `Entered` that made it current is alive, and
    // that guard borrows the context immutably (see `Frame`); this thread's code below the
    // current frame cannot end that borrow while `f` runs, since `f` runs inside it.
    f(frame.map(|fr| (unsafe { fr.ctx.as_ref() }, fr.takes_notes)))
}

/// The context of the innermost audited call on this thread, if any.
pub fn current() -> Option<AuditContext> {
    with_current(|c| c.map(|(ctx, _)| ctx.clone()))
}

/// The decision the innermost audited call belongs to. Inside an `#[audited_decision]` function
/// this is the id of its own record: keep it to report outcomes and human actions later.
pub fn current_decision_id() -> Option<RecordId> {
    with_current(|c| c.and_then(|(ctx, _)| ctx.decision))
}

/// The id of the last decision that finished on this OS thread.
///
/// Wrong in async code: in a multi-threaded executor, after one more `.await` the task may run
/// on another thread, or another task's decision may have finished on this one, and a follow-up
/// attached to that id lands on someone else's decision. Use
/// [`crate::decision::with_decision_id`] (futures) or
/// [`crate::decision::with_decision_id_sync`] (closures), which are right across tasks and
/// threads; inside one of those scopes this function reads the scope's slot.
#[deprecated(
    since = "0.1.0",
    note = "per OS thread: after an `.await` it can return another task's decision. Use \
            `audit_runtime::decision::with_decision_id(fut).await` or \
            `with_decision_id_sync(|| ..)`, which return the decision's id with the value"
)]
pub fn last_decision_id() -> Option<RecordId> {
    crate::decision::thread_slot().map(|d| d.id)
}

/// Attach a note to the innermost call; returns false if there is none that can take it.
pub(crate) fn add_note(note: Note) -> bool {
    let Some(id) = with_current(|c| c.and_then(|(ctx, takes_notes)| takes_notes.then_some(ctx.id)))
    else {
        return false;
    };
    NOTES.with(|n| {
        let mut notes = n.borrow_mut();
        notes.push((id, note));
        PENDING_NOTES.with(|p| p.set(notes.len()));
    });
    true
}

/// Run `f` with `ctx` as the current context (when `Some`): audited calls inside become its
/// children.
pub fn enter<R>(ctx: Option<&AuditContext>, f: impl FnOnce() -> R) -> R {
    let Some(ctx) = ctx else { return f() };
    // Left when dropped, also when `f` unwinds.
    let _entered = enter_frame(ctx, false);
    f()
}

pin_project_lite::pin_project! {
    /// A future that runs inside a captured [`AuditContext`]; see [`FutureExt`].
    #[derive(Debug)]
    pub struct WithAuditContext<F> {
        #[pin]
        inner: F,
        ctx: Option<AuditContext>,
    }
}

impl<F: Future> Future for WithAuditContext<F> {
    type Output = F::Output;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let inner = this.inner;
        enter(this.ctx.as_ref(), || inner.poll(cx))
    }
}

/// Carry the current audit context into a future that will run elsewhere (`tokio::spawn`).
pub trait FutureExt: Future + Sized {
    /// Capture the current context now; enter it on every poll.
    fn with_audit_context(self) -> WithAuditContext<Self> {
        WithAuditContext {
            inner: self,
            ctx: current(),
        }
    }

    /// Enter the given context on every poll.
    fn in_audit_context(self, ctx: Option<AuditContext>) -> WithAuditContext<Self> {
        WithAuditContext { inner: self, ctx }
    }
}

impl<F: Future> FutureExt for F {}

#[cfg(test)]
mod tests {
    use super::{AuditContext, current, enter};
    use crate::ids::{RecordId, SpanId, TraceId};
    use crate::point::PointKind;

    fn ctx(session: &str) -> AuditContext {
        let id = RecordId::now();
        AuditContext {
            id,
            kind: PointKind::Decision,
            decision: Some(id),
            run: None,
            session: Some(session.into()),
            trace_id: TraceId::of_root(id),
            span_id: SpanId::random(),
        }
    }

    /// Frames point at the context they were entered with; each is left in order, also when the
    /// closure unwinds, so no frame outlives its context.
    #[test]
    fn propagated_contexts_nest_and_are_left_on_unwind() {
        let outer = ctx("outer");
        let inner = ctx("inner");
        enter(Some(&outer), || {
            assert_eq!(current().map(|c| c.id), Some(outer.id));
            let unwound = std::panic::catch_unwind(|| {
                enter(Some(&inner), || {
                    assert_eq!(current().and_then(|c| c.session), Some("inner".into()));
                    panic!("inside the inner context");
                })
            });
            assert!(unwound.is_err());
            assert_eq!(current().map(|c| c.id), Some(outer.id));
            assert_eq!(current().and_then(|c| c.session), Some("outer".into()));
        });
        assert!(current().is_none());
    }
}
