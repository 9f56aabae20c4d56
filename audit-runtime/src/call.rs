//! The caller-thread half of an audited call.
//!
//! The macros expand every audited function into: a static [`AuditPoint`], a `tracing` span, a
//! [`CallGuard`] that captures the opted-in arguments, runs the body (entering the span and the
//! correlation frame; for `async` functions on every poll), records the outcome, and on
//! completion hands the raw call to the pipeline. Everything expensive (serializing to the record
//! schema, canonical digests, redaction, hashing, chaining, exporting) happens on the pipeline's
//! worker thread.
//!
//! The caller's thread does as little as it can (see `docs/BENCHMARKS.md`): two reads of the
//! tick clock ([`crate::clock`]), the ids, the correlation frame, and a push of the call's state,
//! inline and unallocated, onto this thread's lane of the queue ([`crate::queue`]).
//!
//! Architecture Invariant: the guard never changes what the caller sees. The body's value is
//! returned unchanged, a panic is recorded and then resumed with the same payload, and a dropped
//! future is recorded as cancelled by the guard's `Drop`.
//!
//! Architecture Invariant: records do not depend on `tracing` filters. The span is a carrier for
//! the user's own subscribers (and OpenTelemetry); the record is built from the guard, so a global
//! `RUST_LOG=warn` cannot switch auditing off. When a subscriber filters the `audit` target out,
//! the runtime says so once (see [`crate::install`]).

use std::any::Any;
use std::cell::Cell;
use std::future::Future;
use std::ops::Range;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use serde::Serialize;

use crate::clock::{self, Ticks};
use crate::context::{self, AuditContext, Note};
use crate::ids::{self, RecordId, SpanId, TraceId};
use crate::install::{self, Shared};
use crate::point::{AuditPoint, PointKind};
use crate::probe::ErrorReport;
use crate::queue::{CallSource, Item};
use crate::record::Rationale;

/// A value that can be captured into an audit record.
///
/// Implemented for every `serde::Serialize` type. The macros require it for each argument named
/// in `capture(..)` / `hash_only(..)` and for the output when `output = capture`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be captured in an audit record: it does not implement `serde::Serialize`",
    label = "this value is captured by the audit attribute",
    note = "derive `serde::Serialize` for `{Self}` (or implement it by hand, leaving secrets out), \
            or stop capturing it: remove it from `capture(..)`/`hash_only(..)`"
)]
pub trait AuditCapture {
    /// Serialize as JSON into `out`.
    fn capture_json(&self, out: &mut Vec<u8>) -> Result<(), String>;
}

impl<T: Serialize + ?Sized> AuditCapture for T {
    fn capture_json(&self, out: &mut Vec<u8>) -> Result<(), String> {
        serde_json::to_writer(out, self).map_err(|e| e.to_string())
    }
}

/// A return value that can be captured (`output = capture` or `output = hash_only`): the same
/// as [`AuditCapture`], with the advice that fits an output.
#[diagnostic::on_unimplemented(
    message = "the return value `{Self}` cannot be captured in an audit record: it does not implement `serde::Serialize`",
    label = "the output is captured by `output = ..`",
    note = "derive `serde::Serialize` for `{Self}` (or implement it by hand, leaving secrets out), \
            or record only the status: `output = status` (the default)"
)]
pub trait AuditCaptureOutput: AuditCapture {}

impl<T: AuditCapture + ?Sized> AuditCaptureOutput for T {}

/// One captured value: where its JSON lies in the call's capture buffer
/// ([`CallExtra::bytes`]), or why it could not be serialized.
#[derive(Debug)]
pub(crate) struct RawValue {
    pub(crate) arg: u16,
    pub(crate) hash_only: bool,
    pub(crate) json: Result<Range<usize>, String>,
}

#[derive(Debug)]
pub(crate) enum RawOutcome {
    Ok(Option<Box<RawValue>>),
    Err(Box<RawError>),
    /// The call returned a future the audit cannot follow (see [`crate::probe`]): its type.
    /// Boxed: a `&str` inline would make every call state, and so every queue entry, a cache
    /// line larger (`queue::tests::an_entry_is_three_cache_lines`). A `Box<str>` would be a
    /// wide pointer, as large as the `&str`; the box of a `&str` is one word.
    #[allow(clippy::redundant_allocation)]
    Unobserved(Box<&'static str>),
}

/// An `Err` return, boxed in [`RawOutcome`] (most calls return `Ok`, and every byte of the call
/// state is copied into the queue).
#[derive(Debug)]
pub(crate) struct RawError {
    pub(crate) report: ErrorReport,
    pub(crate) type_name: &'static str,
}

/// The part of a call known when it starts; also the payload of `started` records.
#[derive(Debug, Clone)]
pub(crate) struct CallHead {
    pub(crate) point: &'static AuditPoint,
    pub(crate) ctx: AuditContext,
    pub(crate) parent: Option<RecordId>,
    pub(crate) parent_decision: Option<RecordId>,
    pub(crate) parent_span: Option<SpanId>,
    /// Whether the parent frame is a remote caller's context: the record then says so
    /// (`remote_parent`, from `ctx.remote`).
    pub(crate) remote_child: bool,
    /// When the call started (the worker converts it to Unix time).
    pub(crate) start: Ticks,
}

/// Everything the worker needs to assemble the record of a finished call.
#[derive(Debug)]
pub(crate) struct CallState {
    pub(crate) head: CallHead,
    /// When the call ended.
    pub(crate) end: Ticks,
    pub(crate) outcome: Option<RawOutcome>,
    /// What only some calls have, boxed so the state every call moves to the worker stays
    /// small: a queue entry is three cache lines (see [`crate::queue::Entry`]).
    pub(crate) extra: Option<Box<CallExtra>>,
}

/// The less common parts of a call's state.
#[derive(Debug, Default)]
pub(crate) struct CallExtra {
    pub(crate) inputs: Vec<RawValue>,
    /// The JSON of every captured value of the call, back to back: one buffer per call rather
    /// than one per argument (each was an allocation, and growing it a few more).
    pub(crate) bytes: Vec<u8>,
    pub(crate) dyn_versions: Vec<(u16, String)>,
    pub(crate) notes: Vec<Note>,
    pub(crate) rationale: Option<Rationale>,
    pub(crate) panic: Option<String>,
}

static NO_EXTRA: CallExtra = CallExtra {
    inputs: Vec::new(),
    bytes: Vec::new(),
    dyn_versions: Vec::new(),
    notes: Vec::new(),
    rationale: None,
    panic: None,
};

thread_local! {
    /// Bytes the previous capturing call on this thread needed: the next one's first guess.
    static CAPTURE_HINT: Cell<usize> = const { Cell::new(0) };
}

/// The smallest capture buffer: room for a few small arguments.
const MIN_CAPTURE_BYTES: usize = 128;

impl CallExtra {
    /// Serialize `value` onto the capture buffer.
    fn capture<T: AuditCapture + ?Sized>(&mut self, value: &T) -> Result<Range<usize>, String> {
        if self.bytes.capacity() == 0 {
            let hint = CAPTURE_HINT.with(Cell::get);
            self.bytes.reserve(hint.max(MIN_CAPTURE_BYTES));
        }
        let start = self.bytes.len();
        match value.capture_json(&mut self.bytes) {
            Ok(()) => {
                let end = self.bytes.len();
                let _ = CAPTURE_HINT.try_with(|h| h.set(end));
                Ok(start..end)
            }
            Err(e) => {
                self.bytes.truncate(start);
                Err(e)
            }
        }
    }

    /// The JSON of a captured value.
    pub(crate) fn json(&self, raw: &RawValue) -> Result<&[u8], String> {
        match &raw.json {
            Ok(range) => self
                .bytes
                .get(range.clone())
                .ok_or_else(|| "capture buffer out of range".to_owned()),
            Err(e) => Err(e.clone()),
        }
    }
}

impl CallState {
    pub(crate) fn extra(&self) -> &CallExtra {
        self.extra.as_deref().unwrap_or(&NO_EXTRA)
    }

    fn extra_mut(&mut self) -> &mut CallExtra {
        self.extra.get_or_insert_with(Box::default)
    }

    /// Keep the notes made inside the call (rare: the caller tests for `Some` inline).
    #[cold]
    fn add_notes(&mut self, notes: Vec<Note>) {
        if !notes.is_empty() {
            self.extra_mut().notes.extend(notes);
        }
    }
}

/// The guard an audited call runs under. Generated code only: not a stable API.
#[derive(Debug)]
pub struct CallGuard {
    rt: Option<&'static Shared>,
    /// The call's span, closed on the caller's thread when the call ends.
    span: tracing::Span,
    /// `None` when no runtime is installed, and once the call has been handed over.
    state: Option<CallState>,
}

impl CallGuard {
    /// Begin a call of `point`. With no runtime installed the guard is inert (and a warning is
    /// printed once).
    pub fn start(point: &'static AuditPoint, span: tracing::Span) -> Self {
        let Some(rt) = install::current() else {
            install::warn_not_installed(point);
            return CallGuard {
                rt: None,
                span,
                state: None,
            };
        };
        if span.is_disabled() {
            install::note_span_disabled(rt);
        }
        let start = Ticks::now();
        let fresh = ids::fresh_call_ids(clock::approx_unix_nanos(start));
        let id = fresh.record;
        let kind = point.kind;
        let inherited = context::with_current(|parent| {
            parent.map(|(p, _)| {
                // Directly under a remote caller's context, the parent is the record the
                // caller named (or none), never the frame's placeholder id.
                let remote = p.remote();
                let remote_child = remote.is_some_and(|r| r.frame == p.id);
                let parent_id = match remote {
                    Some(r) if remote_child => r.parent.record_id,
                    _ => Some(p.id),
                };
                (
                    parent_id,
                    p.decision,
                    Some(p.span_id),
                    p.run,
                    p.scope.clone(),
                    p.trace_id,
                    remote_child,
                )
            })
        });
        let (parent_id, parent_decision, parent_span, run, scope, trace_id, remote_child) =
            inherited.unwrap_or_else(|| {
                // No audited parent: join the application's OpenTelemetry trace, if any.
                let app = otel::current();
                let trace = app.map_or_else(|| TraceId::of_root(fresh.record), |(t, _)| t);
                (None, None, app.map(|(_, s)| s), None, None, trace, false)
            });
        // Directly under a remote caller's context, the OpenTelemetry span joins the caller's
        // trace too (one `traceparent`, not two traces), before the layer starts it.
        if remote_child && let Some(parent) = parent_span {
            otel::join_remote(&span, trace_id, parent);
        }
        // An audit span tracked by the OpenTelemetry layer lends the record its ids, so the
        // record and the application's span are one span in the backend.
        let (trace_id, span_id) = otel::span_ids(&span).unwrap_or((trace_id, fresh.span));
        let decision = if kind == PointKind::Decision {
            Some(id)
        } else {
            parent_decision
        };
        let run = if kind == PointKind::AgentRun {
            Some(id)
        } else {
            run
        };
        let ctx = AuditContext {
            id,
            kind,
            decision,
            run,
            scope,
            trace_id,
            span_id,
        };
        if !span.is_disabled() {
            span.record("audit.record_id", tracing::field::display(id));
        }
        let head = CallHead {
            point,
            ctx,
            parent: parent_id,
            parent_decision: if kind == PointKind::Decision {
                parent_decision
            } else {
                None
            },
            parent_span,
            remote_child,
            start,
        };
        CallGuard {
            rt: Some(rt),
            span,
            state: Some(CallState {
                head,
                end: start,
                outcome: None,
                extra: None,
            }),
        }
    }

    /// Whether this call is being recorded.
    #[inline]
    pub fn is_active(&self) -> bool {
        self.state.is_some()
    }

    /// Emit the `started` record, when the point or the runtime asks for one.
    #[inline]
    pub fn started(&mut self) {
        if let (Some(rt), Some(state)) = (self.rt, self.state.as_ref())
            && rt.started_policy.wants(state.head.point)
        {
            Self::submit_started(rt, state);
        }
    }

    #[inline(never)]
    fn submit_started(rt: &'static Shared, state: &CallState) {
        let mut head = Some(Item::Started(Box::new(state.head.clone())));
        rt.submit(|| head.take());
    }

    /// Set the session id for this call and everything nested in it.
    pub fn session(&mut self, session: &dyn std::fmt::Display) {
        if let Some(state) = self.state.as_mut() {
            let ctx = &mut state.head.ctx;
            let remote = ctx.remote().cloned();
            ctx.scope = context::Scope::new(Some(Arc::from(session.to_string())), remote);
        }
    }

    /// Capture argument number `arg` (index into [`AuditPoint::args`]).
    pub fn capture<T: AuditCapture + ?Sized>(&mut self, arg: u16, value: &T) {
        self.capture_arg(arg, value, false);
    }

    /// Digest argument number `arg` without recording its value.
    pub fn hash_only<T: AuditCapture + ?Sized>(&mut self, arg: u16, value: &T) {
        self.capture_arg(arg, value, true);
    }

    fn capture_arg<T: AuditCapture + ?Sized>(&mut self, arg: u16, value: &T, hash_only: bool) {
        if let Some(state) = self.state.as_mut() {
            let args = state.head.point.args.len();
            let extra = state.extra_mut();
            if extra.inputs.capacity() == 0 {
                extra.inputs.reserve_exact(args.max(1));
            }
            let json = extra.capture(value);
            extra.inputs.push(RawValue {
                arg,
                hash_only,
                json,
            });
        }
    }

    /// The value of version number `idx` (index into [`AuditPoint::versions`]) for this call.
    pub fn version(&mut self, idx: u16, value: &dyn std::fmt::Display) {
        if let Some(state) = self.state.as_mut() {
            state
                .extra_mut()
                .dyn_versions
                .push((idx, value.to_string()));
        }
    }

    /// Run a synchronous body inside the call.
    pub fn run<R>(&mut self, body: impl FnOnce() -> R) -> R {
        let Some(state) = self.state.as_mut() else {
            return body();
        };
        in_step(&self.span, state, body)
    }

    /// Enter the call for a body that runs inline in the function, not in a closure: for
    /// `#[track_caller]` functions, whose caller's location does not reach into a closure.
    /// Leave with [`InlineBody::leave`] when the body completes; dropped without it (the body
    /// unwound) the call is recorded as panicked. The panic's message is not known there: an
    /// inline body runs without `catch_unwind`.
    pub fn enter_inline(&mut self) -> InlineBody<'_> {
        let Some(state) = self.state.as_ref() else {
            return InlineBody {
                guard: self,
                frame: None,
                span: None,
                left: false,
            };
        };
        let frame = context::OwnedFrame::enter(&state.head.ctx, true);
        let span = self.span.clone().entered();
        InlineBody {
            guard: self,
            frame: Some(frame),
            span: Some(span),
            left: false,
        }
    }

    /// Run an `async` body inside the call; the future yields the body's output and the guard.
    pub fn instrument<F: Future>(self, body: F) -> Instrumented<F> {
        Instrumented {
            inner: body,
            guard: Some(self),
        }
    }

    /// Record an `Ok` (or plain) return without capturing the value.
    pub fn ok(&mut self) {
        if let Some(state) = self.state.as_mut() {
            state.outcome = Some(RawOutcome::Ok(None));
        }
    }

    /// Record an `Ok` (or plain) return and capture the value.
    pub fn ok_value<T: AuditCaptureOutput + ?Sized>(&mut self, value: &T, hash_only: bool) {
        if let Some(state) = self.state.as_mut() {
            let json = state.extra_mut().capture(value);
            state.outcome = Some(RawOutcome::Ok(Some(Box::new(RawValue {
                arg: u16::MAX,
                hash_only,
                json,
            }))));
        }
    }

    /// Record an `Err` return, described by [`crate::probe::Describe`].
    pub fn err(&mut self, report: ErrorReport, type_name: &'static str) {
        if let Some(state) = self.state.as_mut() {
            state.outcome = Some(RawOutcome::Err(Box::new(RawError { report, type_name })));
        }
    }

    /// Record that the call returned a future of type `type_name` that the audit cannot
    /// follow: the record gets the distinct status `unobserved`, never a plain `ok`.
    pub(crate) fn unobserved(&mut self, type_name: &'static str) {
        if let Some(state) = self.state.as_mut() {
            state.outcome = Some(RawOutcome::Unobserved(Box::new(type_name)));
        }
    }

    /// Defer the call to the first poll of the future that carries it: dropped unpolled, it
    /// leaves no record, like an `async fn` that is never polled (whose body, audit included,
    /// never starts). For `fn -> impl Future` whose tail is an `async` block.
    pub fn until_polled(&mut self) -> Unpolled {
        Unpolled(Some(self.take_call()))
    }

    /// Move the call out of this guard (which becomes inert) into a new one, for a future that
    /// carries the call on after the function returned.
    pub(crate) fn take_call(&mut self) -> CallGuard {
        CallGuard {
            rt: self.rt,
            span: std::mem::replace(&mut self.span, tracing::Span::none()),
            state: self.state.take(),
        }
    }

    /// Record the rationale computed by the attribute's `rationale = ...` expression.
    pub fn rationale<R, F, X>(&mut self, ret: &R, f: F)
    where
        F: FnOnce(&R) -> X,
        X: Into<Rationale>,
    {
        if let Some(state) = self.state.as_mut() {
            state.extra_mut().rationale = Some(f(ret).into());
        }
    }

    /// Finish the call: the record is handed to the pipeline. By reference, so the guard
    /// (which holds the call's state inline) is not moved once more.
    pub fn finish(&mut self) {
        self.emit();
    }

    #[inline]
    fn emit(&mut self) {
        if self.state.is_some() {
            self.emit_now();
        }
    }

    #[inline(never)]
    fn emit_now(&mut self) {
        let (Some(rt), Some(state)) = (self.rt, self.state.as_mut()) else {
            return;
        };
        state.end = Ticks::now();
        if state.head.point.kind == PointKind::Decision {
            crate::decision::finished(&state.head.ctx);
        }
        // Close the span on the caller's thread, where the user's subscriber expects it.
        drop(std::mem::replace(&mut self.span, tracing::Span::none()));
        rt.submit(CallSource(&mut self.state));
    }
}

impl Drop for CallGuard {
    /// A guard dropped without `finish` is a call that panicked (the panic was recorded by
    /// `run` or by polling) or a future dropped before completion (cancelled).
    fn drop(&mut self) {
        self.emit();
    }
}

/// A call entered for a body that runs inline ([`CallGuard::enter_inline`]). Generated code
/// only. Forgetting it is harmless: the frame's context is then leaked, not left dangling.
#[derive(Debug)]
#[must_use]
pub struct InlineBody<'a> {
    guard: &'a mut CallGuard,
    frame: Option<context::OwnedFrame>,
    span: Option<tracing::span::EnteredSpan>,
    left: bool,
}

impl InlineBody<'_> {
    /// The body completed (returned a value): leave the call's frame.
    #[inline]
    pub fn leave(mut self) {
        self.left = true;
    }
}

impl Drop for InlineBody<'_> {
    fn drop(&mut self) {
        drop(self.span.take());
        let notes = self.frame.take().and_then(context::OwnedFrame::exit);
        let Some(state) = self.guard.state.as_mut() else {
            return;
        };
        if let Some(notes) = notes {
            state.add_notes(notes);
        }
        if !self.left {
            // Dropped without `leave`: the body is unwinding (code after the body, which
            // calls `leave`, is reached by every normal exit of an inline body).
            state.extra_mut().panic = Some(INLINE_PANIC.to_owned());
        }
    }
}

/// The panic message of a call whose inline body unwound.
pub(crate) const INLINE_PANIC: &str = "panicked (the message is not captured: a #[track_caller] body runs inline, without catch_unwind)";

/// A call waiting for the first poll of its future ([`CallGuard::until_polled`]). Generated code
/// only.
#[derive(Debug)]
pub struct Unpolled(Option<CallGuard>);

impl Unpolled {
    /// The future was polled: the call is under way.
    pub fn polled(mut self) -> CallGuard {
        self.0.take().unwrap_or_else(|| CallGuard {
            rt: None,
            span: tracing::Span::none(),
            state: None,
        })
    }
}

impl Drop for Unpolled {
    fn drop(&mut self) {
        if let Some(guard) = self.0.as_mut() {
            // Never polled: nothing of the body ran, so there is no call to record.
            guard.state = None;
        }
    }
}

/// Run `body` as one step of an active call, for [`CallGuard::run`] (the whole body) and
/// [`Instrumented::poll`] (one poll): inside the call's span and context frame, keeping the
/// notes made inside, and recording a panic's message before resuming it.
#[inline(always)]
fn in_step<R>(span: &tracing::Span, state: &mut CallState, body: impl FnOnce() -> R) -> R {
    let (result, notes) = {
        let _entered = span.enter();
        context::in_frame(&state.head.ctx, true, || {
            catch_unwind(AssertUnwindSafe(body))
        })
    };
    if let Some(notes) = notes {
        state.add_notes(notes);
    }
    match result {
        Ok(v) => v,
        Err(payload) => {
            state.extra_mut().panic = Some(panic_message(payload.as_ref()));
            resume_unwind(payload)
        }
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-string panic payload>".to_owned()
    }
}

pin_project_lite::pin_project! {
    /// The future of an instrumented `async` body. Generated code only.
    #[derive(Debug)]
    pub struct Instrumented<F> {
        #[pin]
        inner: F,
        guard: Option<CallGuard>,
    }
}

impl<F: Future> Future for Instrumented<F> {
    type Output = (F::Output, CallGuard);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let inner = this.inner;
        let guard = this
            .guard
            .as_mut()
            .expect("audited future polled after completion");
        let Some(state) = guard.state.as_mut() else {
            // Inactive guard: plain pass-through.
            return match inner.poll(cx) {
                Poll::Ready(v) => Poll::Ready((v, this.guard.take().expect("guard present"))),
                Poll::Pending => Poll::Pending,
            };
        };
        match in_step(&guard.span, state, || inner.poll(cx)) {
            Poll::Ready(v) => Poll::Ready((v, this.guard.take().expect("guard present"))),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Ids from the application's OpenTelemetry context (`opentelemetry` feature).
#[cfg(feature = "opentelemetry")]
mod otel {
    use opentelemetry::trace::TraceContextExt as _;
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;

    use crate::ids::{SpanId, TraceId};

    fn of(cx: &opentelemetry::Context) -> Option<(TraceId, SpanId)> {
        let span = cx.span();
        let sc = span.span_context();
        sc.is_valid().then(|| {
            (
                TraceId(sc.trace_id().to_bytes()),
                SpanId(sc.span_id().to_bytes()),
            )
        })
    }

    /// The ids of `span` when the OpenTelemetry layer tracks it.
    pub(super) fn span_ids(span: &tracing::Span) -> Option<(TraceId, SpanId)> {
        if span.is_disabled() {
            None
        } else {
            of(&span.context())
        }
    }

    /// The current OpenTelemetry span (via the current `tracing` span, else the OTel context).
    pub(super) fn current() -> Option<(TraceId, SpanId)> {
        of(&tracing::Span::current().context()).or_else(|| of(&opentelemetry::Context::current()))
    }

    /// Make the remote caller's span the OpenTelemetry parent of `span` (when the layer tracks
    /// it and has not started it; otherwise nothing changes and the record keeps the ids the
    /// layer gives).
    pub(super) fn join_remote(span: &tracing::Span, trace: TraceId, parent: SpanId) {
        use opentelemetry::trace::{
            SpanContext, SpanId as OtelSpanId, TraceFlags, TraceId as OtelTraceId, TraceState,
        };
        if span.is_disabled() {
            return;
        }
        let remote = SpanContext::new(
            OtelTraceId::from_bytes(trace.0),
            OtelSpanId::from_bytes(parent.0),
            TraceFlags::SAMPLED,
            true,
            TraceState::default(),
        );
        let _ = span.set_parent(opentelemetry::Context::new().with_remote_span_context(remote));
    }
}

#[cfg(not(feature = "opentelemetry"))]
mod otel {
    use crate::ids::{SpanId, TraceId};

    pub(super) fn span_ids(_: &tracing::Span) -> Option<(TraceId, SpanId)> {
        None
    }

    pub(super) fn current() -> Option<(TraceId, SpanId)> {
        None
    }

    pub(super) fn join_remote(_: &tracing::Span, _: TraceId, _: SpanId) {}
}
