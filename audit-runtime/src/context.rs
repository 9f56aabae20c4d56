//! Correlation context: which audited call is running on this thread right now.
//!
//! Each thread keeps a stack of [`Frame`]s. An audited call pushes its frame while its body runs
//! (for `async` functions: during every poll) and pops it afterwards, so nested calls find their
//! parent on top of the stack, across `.await` and whichever worker thread polls the future.
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
//! to the innermost audited call on the stack. Made from a propagated context on another task or
//! thread they cannot reach that call's record, so they are counted as `orphan_notes` in the
//! runtime's statistics and reported once, instead of vanishing silently.

use std::cell::RefCell;
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

pub(crate) struct Frame {
    pub(crate) ctx: AuditContext,
    /// Whether notes made while this frame is on top belong to it (`false` for propagated
    /// frames, which have no record to put them in).
    pub(crate) takes_notes: bool,
}

/// This thread's frames, and the notes of frames that took any, each with its frame's depth.
/// Notes live beside the frames, not in them, so the common frame (no notes) is small and
/// pushing and popping it moves no vector.
struct Stack {
    frames: Vec<Frame>,
    notes: Vec<(usize, Note)>,
}

thread_local! {
    static STACK: RefCell<Stack> = const {
        RefCell::new(Stack { frames: Vec::new(), notes: Vec::new() })
    };
    static LAST_DECISION: std::cell::Cell<Option<RecordId>> = const { std::cell::Cell::new(None) };
}

#[inline]
pub(crate) fn push(frame: Frame) {
    STACK.with(|s| s.borrow_mut().frames.push(frame));
}

/// Pop the top frame, returning its notes.
#[inline]
pub(crate) fn pop() -> Option<Vec<Note>> {
    STACK.with(|s| {
        let mut s = s.borrow_mut();
        let depth = s.frames.len().checked_sub(1)?;
        s.frames.truncate(depth);
        match s.notes.last() {
            Some((d, _)) if *d == depth => Some(take_notes(&mut s.notes, depth)),
            _ => None,
        }
    })
}

#[cold]
fn take_notes(notes: &mut Vec<(usize, Note)>, depth: usize) -> Vec<Note> {
    let from = notes
        .iter()
        .rposition(|(d, _)| *d != depth)
        .map_or(0, |i| i + 1);
    notes.drain(from..).map(|(_, n)| n).collect()
}

/// The context of the innermost audited call on this thread, if any.
pub fn current() -> Option<AuditContext> {
    STACK.with(|s| s.borrow().frames.last().map(|f| f.ctx.clone()))
}

/// The decision the innermost audited call belongs to. Inside an `#[audited_decision]` function
/// this is the id of its own record: keep it to report outcomes and human actions later.
pub fn current_decision_id() -> Option<RecordId> {
    STACK.with(|s| s.borrow().frames.last().and_then(|f| f.ctx.decision))
}

/// The id of the last decision that finished on this thread. Lets the caller of an audited
/// decision learn its id without changing the function's signature.
pub fn last_decision_id() -> Option<RecordId> {
    LAST_DECISION.with(std::cell::Cell::get)
}

pub(crate) fn set_last_decision(id: RecordId) {
    LAST_DECISION.with(|c| c.set(Some(id)));
}

/// Attach a note to the innermost call; returns false if there is none that can take it.
pub(crate) fn add_note(note: Note) -> bool {
    STACK.with(|s| {
        let mut s = s.borrow_mut();
        match s.frames.last() {
            Some(top) if top.takes_notes => {
                let depth = s.frames.len() - 1;
                s.notes.push((depth, note));
                true
            }
            _ => false,
        }
    })
}

/// Run `f` with `ctx` as the current context (when `Some`): audited calls inside become its
/// children.
pub fn enter<R>(ctx: Option<&AuditContext>, f: impl FnOnce() -> R) -> R {
    let Some(ctx) = ctx else { return f() };
    push(Frame {
        ctx: ctx.clone(),
        takes_notes: false,
    });
    let _pop = PopOnDrop;
    f()
}

struct PopOnDrop;
impl Drop for PopOnDrop {
    fn drop(&mut self) {
        let _ = pop();
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
