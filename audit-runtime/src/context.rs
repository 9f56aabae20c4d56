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
    RemoteCall(crate::record::RemoteCall),
}

/// The correlation data of one audited call.
#[derive(Debug, Clone)]
pub struct AuditContext {
    pub(crate) id: RecordId,
    pub(crate) kind: PointKind,
    pub(crate) decision: Option<RecordId>,
    pub(crate) run: Option<RecordId>,
    /// The session and the remote origin, behind one thin pointer: both are rare, and every
    /// byte of the context is copied into every call's queue entry (three cache lines,
    /// `queue::tests::an_entry_is_three_cache_lines`).
    pub(crate) scope: Option<Arc<Scope>>,
    pub(crate) trace_id: TraceId,
    pub(crate) span_id: SpanId,
}

/// What a context carries for every call nested in it, rarely set.
#[derive(Debug, Default)]
pub(crate) struct Scope {
    /// The session id (`session = ..` on an attribute, or a remote caller's `audit.session`).
    pub(crate) session: Option<Arc<str>>,
    /// Set under a context extracted from a remote caller
    /// ([`crate::propagation::with_remote_context`]), and inherited by the calls made there.
    pub(crate) remote: Option<Arc<crate::propagation::RemoteOrigin>>,
}

impl Scope {
    /// `None` when there is nothing to carry.
    pub(crate) fn new(
        session: Option<Arc<str>>,
        remote: Option<Arc<crate::propagation::RemoteOrigin>>,
    ) -> Option<Arc<Scope>> {
        (session.is_some() || remote.is_some()).then(|| Arc::new(Scope { session, remote }))
    }
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
        self.scope.as_ref().and_then(|s| s.session.as_deref())
    }
    /// The W3C trace id.
    pub fn trace_id(&self) -> TraceId {
        self.trace_id
    }
    /// The W3C span id.
    pub fn span_id(&self) -> SpanId {
        self.span_id
    }
    /// Whether this context, or a call it is nested in, came from a remote caller
    /// ([`crate::propagation`]).
    pub fn is_remote(&self) -> bool {
        self.remote().is_some()
    }

    /// The remote origin this context is under, if any.
    pub(crate) fn remote(&self) -> Option<&Arc<crate::propagation::RemoteOrigin>> {
        self.scope.as_ref().and_then(|s| s.remote.as_ref())
    }
}

/// The innermost call's context, as nested calls see it: a pointer to the [`AuditContext`] that
/// the call (or a propagated context) holds, plus whether notes made under it belong to it.
///
/// A pointer, not a copy: entering and leaving a call swaps 16 bytes in a thread-local cell
/// instead of copying an 80-byte context in, out and back, and the session needs no stack of its
/// own (`docs/BENCHMARKS.md`). Reading it is sound because a frame's context outlives the time
/// the frame is current, whatever safe code does:
///
/// - a *scoped* frame ([`in_frame`]) points at a context borrowed for a closure, and `in_frame`
///   itself puts the previous frame back when the closure returns or unwinds; no guard is
///   handed out, so nothing can be forgotten (`mem::forget`) or outlive the borrow;
/// - an *owned* frame ([`OwnedFrame`], for bodies that must run inline: `#[track_caller]`)
///   points at a heap copy of the context that is freed only when the frame is left in order,
///   that is while it is the current frame (then nothing else points at it: frames entered
///   after it were all left, or their pointers were put aside by a scoped frame that is gone).
///   Left out of order, or forgotten, the copy is leaked instead of freed, so a frame that a
///   scoped frame restores later still points at live memory.
///
/// By induction, every frame reachable as current or as a saved previous frame points at live
/// memory; `tests::frames_stay_valid_under_any_order` drives the real functions through random
/// interleavings (out of order, forgotten, moved out of a scope) against a model.
#[derive(Clone, Copy)]
struct Frame {
    ctx: NonNull<AuditContext>,
    /// Whether notes made while this frame is current belong to it (`false` for propagated
    /// contexts, which have no record to put them in).
    takes_notes: bool,
}

thread_local! {
    /// The innermost frame; the outer ones are saved by the calls that replaced them.
    static CURRENT: Cell<Option<Frame>> = const { Cell::new(None) };
    /// Notes made from inside calls, each with the id of the call it belongs to.
    static NOTES: RefCell<Vec<(RecordId, Note)>> = const { RefCell::new(Vec::new()) };
    /// How many entries [`NOTES`] holds: leaving a call looks here first.
    static PENDING_NOTES: Cell<usize> = const { Cell::new(0) };
}

/// Puts the frame saved by [`in_frame`] back, also when the closure unwinds. Private to this
/// module and dropped by `in_frame` itself: it is never handed out.
struct Restore(Option<Frame>);

impl Drop for Restore {
    #[inline]
    fn drop(&mut self) {
        // Thread-local storage being torn down: nothing is current any more anyway.
        let _ = CURRENT.try_with(|c| c.set(self.0));
    }
}

/// Run `f` with `ctx` as the current context; notes made meanwhile belong to it if
/// `takes_notes`, and are returned with `f`'s value. The previous frame is current again
/// when this returns or unwinds.
#[inline]
pub(crate) fn in_frame<R>(
    ctx: &AuditContext,
    takes_notes: bool,
    f: impl FnOnce() -> R,
) -> (R, Option<Vec<Note>>) {
    let frame = Frame {
        ctx: NonNull::from(ctx),
        takes_notes,
    };
    let restore = Restore(CURRENT.with(|c| c.replace(Some(frame))));
    let value = f();
    drop(restore);
    (value, notes_left(ctx.id, takes_notes))
}

/// A frame whose context the frame owns, for a body that runs inline in its function rather
/// than in a closure (`#[track_caller]`, whose location does not pass through closures).
/// Dropping it or [`OwnedFrame::exit`] leaves it; see [`Frame`] for why forgetting it or
/// leaving it out of order is harmless (the context is then leaked, never freed early).
pub(crate) struct OwnedFrame {
    ctx: NonNull<AuditContext>,
    previous: Option<Frame>,
    takes_notes: bool,
    id: RecordId,
}

impl std::fmt::Debug for OwnedFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OwnedFrame").field("id", &self.id).finish()
    }
}

impl OwnedFrame {
    /// Make a copy of `ctx` the current context until the frame is left.
    pub(crate) fn enter(ctx: &AuditContext, takes_notes: bool) -> OwnedFrame {
        let id = ctx.id;
        let ctx = NonNull::from(Box::leak(Box::new(ctx.clone())));
        let previous = CURRENT.with(|c| c.replace(Some(Frame { ctx, takes_notes })));
        OwnedFrame {
            ctx,
            previous,
            takes_notes,
            id,
        }
    }

    /// Leave the frame; the notes made for it, if any.
    pub(crate) fn exit(self) -> Option<Vec<Note>> {
        let (id, takes_notes) = (self.id, self.takes_notes);
        drop(self);
        notes_left(id, takes_notes)
    }
}

impl Drop for OwnedFrame {
    #[allow(unsafe_code)]
    fn drop(&mut self) {
        let in_order = CURRENT
            .try_with(|c| {
                let mine = c.get().is_some_and(|f| f.ctx == self.ctx);
                if mine {
                    c.set(self.previous);
                }
                mine
            })
            .unwrap_or(false);
        if in_order {
            // SAFETY: the pointer came from `Box::leak` in `enter` and is freed only here, once
            // (`drop` runs once). The frame was current and is no longer: no frame entered
            // after it is current or saved, since each either was left (scoped frames restore
            // what they saved before returning) or is owned and still points at its own copy;
            // so nothing else can read this pointer again.
            drop(unsafe { Box::from_raw(self.ctx.as_ptr()) });
        }
        // Out of order (or thread-local storage gone): a scoped frame may still hold this
        // pointer as the frame to restore; the copy is leaked so that it stays valid.
    }
}

/// What a frame that was just left collected: its notes, if it takes any and some are pending
/// (the common case, none, is one thread-local read).
#[inline]
fn notes_left(id: RecordId, takes_notes: bool) -> Option<Vec<Note>> {
    if takes_notes && PENDING_NOTES.with(Cell::get) > 0 {
        take_notes(id)
    } else {
        None
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
    // SAFETY: a current frame points at live memory (see `Frame`): a scoped frame's borrow
    // lasts until `in_frame` restores the frame before it, and an owned frame's copy is freed
    // only once it is no longer current. Neither can happen while `f` runs on this thread
    // unless `f` itself enters or leaves frames, and `f` never gets to (the callbacks in this
    // crate only read or clone the context).
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
    in_frame(ctx, false, f).0
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
    use super::{AuditContext, OwnedFrame, current, enter, in_frame};
    use crate::ids::{RecordId, SpanId, TraceId};
    use crate::point::PointKind;

    fn ctx(session: &str) -> AuditContext {
        let id = RecordId::now();
        AuditContext {
            id,
            kind: PointKind::Decision,
            decision: Some(id),
            run: None,
            scope: super::Scope::new(Some(session.into()), None),
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
                    assert_eq!(
                        current().and_then(|c| c.session_id().map(str::to_owned)),
                        Some("inner".into())
                    );
                    panic!("inside the inner context");
                })
            });
            assert!(unwound.is_err());
            assert_eq!(current().map(|c| c.id), Some(outer.id));
            assert_eq!(
                current().and_then(|c| c.session_id().map(str::to_owned)),
                Some("outer".into())
            );
        });
        assert!(current().is_none());
    }

    #[derive(Debug, Clone)]
    enum Op {
        /// A scoped frame around more operations.
        Scope(Vec<Op>),
        /// Enter an owned frame (kept in the list of live ones, also past the scope).
        Owned,
        /// Drop the `i`th live owned frame (modulo their number).
        Drop(usize),
        /// `mem::forget` the `i`th live owned frame.
        Forget(usize),
    }

    fn ops() -> impl proptest::strategy::Strategy<Value = Vec<Op>> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Op::Owned),
            (0usize..8).prop_map(Op::Drop),
            (0usize..8).prop_map(Op::Forget),
        ];
        let op = leaf.prop_recursive(4, 48, 6, |inner| {
            proptest::collection::vec(inner, 0..6).prop_map(Op::Scope)
        });
        proptest::collection::vec(op, 0..24)
    }

    /// The model: which context should be current. An owned frame, as the real one, restores
    /// its previous frame only when it is left while current.
    struct Model {
        current: Option<u64>,
        /// Live owned frames: (the real frame, its context's tag, the tag it restores).
        owned: Vec<(OwnedFrame, u64, Option<u64>)>,
        next: u64,
    }

    fn tagged(tag: u64) -> AuditContext {
        let mut c = ctx(&format!("frame-{tag}"));
        c.run = None;
        c
    }

    fn check(model: &Model) {
        // Reading the current context (its session string, behind an `Arc`) touches the memory
        // the frame points at: a freed context would not read back as its tag.
        let seen = current().and_then(|c| c.session_id().map(str::to_owned));
        assert_eq!(seen, model.current.map(|t| format!("frame-{t}")));
    }

    fn run(ops: &[Op], model: &mut Model) {
        for op in ops {
            match op {
                Op::Scope(inner) => {
                    let tag = model.next;
                    model.next += 1;
                    let ctx = tagged(tag);
                    let saved = model.current;
                    in_frame(&ctx, false, || {
                        model.current = Some(tag);
                        check(model);
                        run(inner, model);
                        check(model);
                    });
                    model.current = saved;
                }
                Op::Owned => {
                    let tag = model.next;
                    model.next += 1;
                    let frame = OwnedFrame::enter(&tagged(tag), false);
                    model.owned.push((frame, tag, model.current));
                    model.current = Some(tag);
                }
                Op::Drop(i) | Op::Forget(i) if !model.owned.is_empty() => {
                    let (frame, tag, previous) = model.owned.remove(i % model.owned.len());
                    if matches!(op, Op::Drop(_)) {
                        drop(frame);
                        if model.current == Some(tag) {
                            model.current = previous;
                        }
                    } else {
                        std::mem::forget(frame);
                    }
                }
                Op::Drop(_) | Op::Forget(_) => {}
            }
            check(model);
        }
    }

    proptest::proptest! {
        /// The real frame functions, driven through any interleaving of scoped frames and owned
        /// frames left in order, out of order, forgotten, or kept past the scope they were
        /// entered in: the current context is always the one the model says, and readable.
        #[test]
        fn frames_stay_valid_under_any_order(ops in ops()) {
            // A thread of its own: a forgotten frame stays current on its thread for good.
            std::thread::spawn(move || {
                let mut model = Model { current: None, owned: Vec::new(), next: 0 };
                run(&ops, &mut model);
                for (frame, tag, previous) in std::mem::take(&mut model.owned).into_iter().rev() {
                    drop(frame);
                    if model.current == Some(tag) {
                        model.current = previous;
                    }
                    check(&model);
                }
            })
            .join()
            .expect("the model agrees");
        }
    }
}
