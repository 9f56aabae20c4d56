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

/// What nested calls need from the innermost call. `Copy` (the session, the one field that is
/// not, lives on its own stack), so entering and leaving a call is a swap of a thread-local cell
/// and a restore, with no vector, no borrow flag and no drop glue: the frame push and pop of a
/// `Vec<AuditContext>` was ~40 ns of an audited call (`docs/BENCHMARKS.md`).
#[derive(Clone, Copy)]
pub(crate) struct Frame {
    id: RecordId,
    kind: PointKind,
    decision: Option<RecordId>,
    run: Option<RecordId>,
    trace_id: TraceId,
    span_id: SpanId,
    /// The call has a session, on top of [`SESSIONS`] while the frame is current.
    has_session: bool,
    /// Whether notes made while this frame is current belong to it (`false` for propagated
    /// contexts, which have no record to put them in).
    takes_notes: bool,
}

impl Frame {
    /// The frame of a call (or of a propagated context, `takes_notes = false`).
    pub(crate) fn of(ctx: &AuditContext, takes_notes: bool) -> Frame {
        Frame {
            id: ctx.id,
            kind: ctx.kind,
            decision: ctx.decision,
            run: ctx.run,
            trace_id: ctx.trace_id,
            span_id: ctx.span_id,
            has_session: ctx.session.is_some(),
            takes_notes,
        }
    }
}

thread_local! {
    /// The innermost frame; the outer ones are saved by the [`Entered`] guards of the calls
    /// that replaced them.
    static CURRENT: Cell<Option<Frame>> = const { Cell::new(None) };
    /// Sessions of the frames that have one, innermost last.
    static SESSIONS: RefCell<Vec<Arc<str>>> = const { RefCell::new(Vec::new()) };
    /// Notes made from inside calls, each with the id of the call it belongs to.
    static NOTES: RefCell<Vec<(RecordId, Note)>> = const { RefCell::new(Vec::new()) };
    /// How many entries [`NOTES`] holds: leaving a call looks here first.
    static PENDING_NOTES: Cell<usize> = const { Cell::new(0) };
    static LAST_DECISION: Cell<Option<RecordId>> = const { Cell::new(None) };
}

/// A frame made current by [`enter_frame`]; [`Entered::exit`] restores the one before.
#[must_use]
pub(crate) struct Entered {
    previous: Option<Frame>,
    /// What leaving needs of the entered frame (not the whole frame: it is copied per call).
    id: RecordId,
    has_session: bool,
    takes_notes: bool,
}

/// Make `frame` current (with `session`, which the frame's call carries, if any).
#[inline]
pub(crate) fn enter_frame(frame: Frame, session: Option<&Arc<str>>) -> Entered {
    if let Some(s) = session {
        SESSIONS.with(|v| v.borrow_mut().push(s.clone()));
    }
    let previous = CURRENT.with(|c| c.replace(Some(frame)));
    Entered {
        previous,
        id: frame.id,
        has_session: frame.has_session,
        takes_notes: frame.takes_notes,
    }
}

impl Entered {
    /// Restore the previous frame; the notes made for this one, if any.
    #[inline]
    pub(crate) fn exit(self) -> Option<Vec<Note>> {
        CURRENT.with(|c| c.set(self.previous));
        if self.has_session {
            SESSIONS.with(|v| v.borrow_mut().pop());
        }
        if self.takes_notes && PENDING_NOTES.with(Cell::get) > 0 {
            take_notes(self.id)
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

/// The innermost frame on this thread, if any.
#[inline]
pub(crate) fn current_frame() -> Option<Frame> {
    CURRENT.with(Cell::get)
}

/// The session of the innermost frame that has one (its own or inherited).
pub(crate) fn current_session() -> Option<Arc<str>> {
    SESSIONS.with(|v| v.borrow().last().cloned())
}

impl Frame {
    /// The context a call nested in this frame inherits, as the public snapshot type.
    pub(crate) fn context(self) -> AuditContext {
        AuditContext {
            id: self.id,
            kind: self.kind,
            decision: self.decision,
            run: self.run,
            session: if self.has_session {
                current_session()
            } else {
                None
            },
            trace_id: self.trace_id,
            span_id: self.span_id,
        }
    }

    pub(crate) fn id(self) -> RecordId {
        self.id
    }
    pub(crate) fn decision(self) -> Option<RecordId> {
        self.decision
    }
    pub(crate) fn run(self) -> Option<RecordId> {
        self.run
    }
    pub(crate) fn trace_id(self) -> TraceId {
        self.trace_id
    }
    pub(crate) fn span_id(self) -> SpanId {
        self.span_id
    }
    pub(crate) fn has_session(self) -> bool {
        self.has_session
    }
}

/// The context of the innermost audited call on this thread, if any.
pub fn current() -> Option<AuditContext> {
    current_frame().map(Frame::context)
}

/// The decision the innermost audited call belongs to. Inside an `#[audited_decision]` function
/// this is the id of its own record: keep it to report outcomes and human actions later.
pub fn current_decision_id() -> Option<RecordId> {
    current_frame().and_then(Frame::decision)
}

/// The id of the last decision that finished on this thread. Lets the caller of an audited
/// decision learn its id without changing the function's signature.
pub fn last_decision_id() -> Option<RecordId> {
    LAST_DECISION.with(Cell::get)
}

pub(crate) fn set_last_decision(id: RecordId) {
    LAST_DECISION.with(|c| c.set(Some(id)));
}

/// Attach a note to the innermost call; returns false if there is none that can take it.
pub(crate) fn add_note(note: Note) -> bool {
    match current_frame() {
        Some(top) if top.takes_notes => {
            NOTES.with(|n| {
                let mut notes = n.borrow_mut();
                notes.push((top.id, note));
                PENDING_NOTES.with(|p| p.set(notes.len()));
            });
            true
        }
        _ => false,
    }
}

/// Run `f` with `ctx` as the current context (when `Some`): audited calls inside become its
/// children.
pub fn enter<R>(ctx: Option<&AuditContext>, f: impl FnOnce() -> R) -> R {
    let Some(ctx) = ctx else { return f() };
    let _exit = ExitOnDrop(Some(enter_frame(
        Frame::of(ctx, false),
        ctx.session.as_ref(),
    )));
    f()
}

/// Leaves a propagated context also when its closure unwinds.
struct ExitOnDrop(Option<Entered>);
impl Drop for ExitOnDrop {
    fn drop(&mut self) {
        if let Some(e) = self.0.take() {
            let _ = e.exit();
        }
    }
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
