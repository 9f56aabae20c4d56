//! The pipeline's worker thread: assemble, redact, digest, chain, export.
//!
//! One worker per installed runtime works in rounds. A round takes every lane of the queue and
//! seals, in completion-tick order, the entries stamped before the round's cut
//! ([`crate::queue`]); for each entry it assembles
//! the schema-1 record ([`Assembler`]), applies redaction, seals it into the chain
//! ([`ChainHead::seal`]) and appends it to the current batch. The batch goes to every exporter
//! when it is full and at the end of the round, so batches grow with load and an fsync-per-batch
//! exporter amortizes its syncs. An idle worker sleeps until a lane fills to its wake-up mark,
//! a `flush` or shutdown wakes it, or [`crate::queue::POLL_INTERVAL`] passes.
//!
//! Delivery: a transient exporter error is retried with exponential backoff and jitter; after the
//! last retry (or at once for a permanent error) the batch goes to the fallback exporter when one
//! is configured, once per batch however many exporters failed it (the fallback sees each record
//! at most once, in `seq` order, with gaps where every exporter took the records), and the
//! failure is counted either way and reported on stderr. A panicking
//! exporter is caught and treated as a permanent failure of that batch.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::Receiver;
use std::time::Duration;

/// How often an idle worker gives exporters their [`Exporter::idle`] tick.
const IDLE_TICK: Duration = Duration::from_secs(1);

use serde_json::Value;

use crate::artifacts;
use crate::backoff::Backoff;
use crate::call::{CallHead, CallState, RawOutcome, RawValue};
use crate::canonical;
use crate::chain::{ChainHead, SealError, SealedRecord};
use crate::clock::{Anchor, Ticks};
use crate::context::Note;
use crate::diag::warn;
use crate::digest::DigestKey;
use crate::export::{ErrorClass, ExportError, Exporter};
use crate::followup::FollowUp;
use crate::ids::{RecordId, SpanId, TraceId, rfc3339_nanos};
use crate::install::{ExporterCounters, Shared};
use crate::point::{AuditPoint, VersionSource};
use crate::queue::{self, Control, Entry, Item};
use crate::record::{
    AuditRecord, CaptureMode, CapturedValue, Correlation, ErrorSource, Inputs, NamedValue, Open,
    Outcome, OutcomeStatus, PointInfo, Rationale, RecordKind, Redactions, RemoteParent,
    SCHEMA_VERSION, ServiceInfo, Signal, TimeInfo, VersionOrigin, VersionRef,
};
use crate::redact::{RedactContext, RedactionCounters, Redactor};

/// Retry policy for failing exporters.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RetryPolicy {
    pub(crate) attempts: u32,
    pub(crate) first_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 3,
            first_backoff: Duration::from_millis(50),
        }
    }
}

impl RetryPolicy {
    const MAX_BACKOFF: Duration = Duration::from_secs(5);

    /// Backoff before retry `n` (1-based): the SDK's one schedule ([`Backoff`]), capped at 5 s.
    fn backoff(&self, n: u32) -> Duration {
        Backoff {
            first: self.first_backoff,
            max: Self::MAX_BACKOFF,
        }
        .delay(n, crate::ids::next_u64())
    }
}

pub(crate) struct ExporterSlot {
    exporter: Box<dyn Exporter>,
    pub(crate) counters: Arc<ExporterCounters>,
    warned: bool,
}

impl ExporterSlot {
    pub(crate) fn new(exporter: Box<dyn Exporter>) -> Self {
        let counters = Arc::new(ExporterCounters {
            name: exporter.name().to_owned(),
            delivery: exporter.delivery_counters(),
            ..Default::default()
        });
        ExporterSlot {
            exporter,
            counters,
            warned: false,
        }
    }

    fn call<T>(
        &mut self,
        f: impl FnOnce(&mut dyn Exporter) -> Result<T, ExportError>,
    ) -> Result<T, ExportError> {
        let exporter = &mut *self.exporter;
        match catch_unwind(AssertUnwindSafe(|| f(exporter))) {
            Ok(r) => r,
            Err(_) => Err(ExportError::permanent(format!(
                "exporter `{}` panicked",
                self.counters.name
            ))),
        }
    }
}

/// Turns raw calls and follow-ups into schema-1 records.
pub(crate) struct Assembler {
    service: ServiceInfo,
    key: DigestKey,
    build: Option<String>,
    redactor: Box<dyn Redactor>,
    redaction: Arc<RedactionCounters>,
    warned_scrub: bool,
    /// Converts the calls' ticks to Unix time; refreshed every round.
    anchor: Anchor,
    /// Where recent decisions sit in their traces, for follow-ups that name only the id.
    recent: RecentDecisions,
}

/// The trace and span of the last [`RecentDecisions::CAPACITY`] decisions sealed, oldest
/// forgotten first.
#[derive(Default)]
struct RecentDecisions {
    map: std::collections::HashMap<RecordId, (TraceId, SpanId)>,
    order: std::collections::VecDeque<RecordId>,
}

impl RecentDecisions {
    /// 16,384 decisions × ~72 bytes (map entry and queue slot) ≈ 1.2 MiB at most. A follow-up
    /// that names a decision older than that (or from another process) is recorded without
    /// trace linkage unless the caller passed a [`crate::DecisionRef`].
    const CAPACITY: usize = 16_384;

    fn insert(&mut self, id: RecordId, at: (TraceId, SpanId)) {
        if self.map.insert(id, at).is_none() {
            self.order.push_back(id);
            if self.order.len() > Self::CAPACITY
                && let Some(old) = self.order.pop_front()
            {
                self.map.remove(&old);
            }
        }
    }

    fn get(&self, id: RecordId) -> Option<(TraceId, SpanId)> {
        self.map.get(&id).copied()
    }
}

impl Assembler {
    pub(crate) fn new(
        service: ServiceInfo,
        key: DigestKey,
        build: Option<String>,
        redactor: Box<dyn Redactor>,
        redaction: Arc<RedactionCounters>,
    ) -> Self {
        Assembler {
            service,
            key,
            build,
            redactor,
            redaction,
            warned_scrub: false,
            anchor: Anchor::now(),
            recent: RecentDecisions::default(),
        }
    }

    fn base(&self, record_id: RecordId, kind: RecordKind, start_unix: u64) -> AuditRecord {
        AuditRecord {
            v: SCHEMA_VERSION,
            record_id,
            kind: kind.into(),
            seq: 0,
            prev: String::new(),
            service: self.service.clone(),
            point: None,
            time: TimeInfo {
                start: rfc3339_nanos(start_unix),
                end: None,
                duration_ns: None,
            },
            correlation: Correlation::default(),
            refers_to: None,
            inputs: None,
            versions: Vec::new(),
            unversioned: None,
            code_version: None,
            rationale: Rationale::default(),
            outcome: None,
            lineage: Vec::new(),
            human_action: None,
            finding: None,
            redactions: Redactions::default(),
            attributes: serde_json::Map::new(),
            remote_parent: None,
            remote_calls: Vec::new(),
        }
    }

    fn point_info(p: &AuditPoint) -> PointInfo {
        PointInfo {
            name: p.name.to_owned(),
            kind: p.kind.into(),
            crate_name: p.crate_name.to_owned(),
            crate_version: p.crate_version.to_owned(),
            module: p.module_path.to_owned(),
            function: p.function.to_owned(),
            file: p.file.to_owned(),
            line: p.line,
        }
    }

    /// What a record says about a remote parent: set only on direct children of a remote
    /// caller's context.
    fn remote_parent(head: &CallHead) -> Option<RemoteParent> {
        head.ctx
            .remote()
            .filter(|_| head.remote_child)
            .map(|r| r.parent.clone())
    }

    fn correlation(head: &CallHead) -> Correlation {
        let c = &head.ctx;
        Correlation {
            decision_id: c.decision,
            parent_id: head.parent,
            parent_decision_id: head.parent_decision,
            run_id: c.run,
            session_id: c.session_id().map(str::to_owned),
            trace_id: Some(c.trace_id),
            span_id: Some(c.span_id),
            parent_span_id: head.parent_span,
        }
    }

    fn code_version(&self, p: &AuditPoint) -> String {
        match &self.build {
            Some(b) => format!("{}@{}+{b}", p.crate_name, p.crate_version),
            None => format!("{}@{}", p.crate_name, p.crate_version),
        }
    }

    /// A record of its own (`kind`) about the call of `head`: its point and correlation, stamped
    /// with the call's start, referring to the call's record.
    fn about(&self, head: &CallHead, kind: RecordKind) -> AuditRecord {
        let start_unix = self.anchor.unix_nanos(head.start);
        let mut r = self.base(RecordId::new_v7(start_unix), kind, start_unix);
        r.point = Some(Self::point_info(head.point));
        r.correlation = Self::correlation(head);
        r.remote_parent = Self::remote_parent(head);
        r.refers_to = Some(head.ctx.id);
        r
    }

    /// A `finding` record about the call of `head`.
    fn finding(&self, head: &CallHead, text: String) -> AuditRecord {
        let mut f = self.about(head, RecordKind::Finding);
        f.finding = Some(text);
        f
    }

    /// The record of a `started` call.
    pub(crate) fn started(&mut self, head: &CallHead) -> AuditRecord {
        let mut r = self.about(head, RecordKind::Started);
        r.code_version = Some(self.code_version(head.point));
        r.outcome = Some(Outcome {
            side_effect: head.point.side_effect.map(Open::Known),
            ..Outcome::new(OutcomeStatus::Started)
        });
        self.redact(Some(head.point), &mut r);
        r
    }

    /// The record field for one captured value and, when `want_canonical`, its canonical bytes
    /// (for the input digest). A `hash_only` value always needs them for its own digest.
    fn captured(
        &self,
        json: Result<&[u8], String>,
        raw: &RawValue,
        want_canonical: bool,
    ) -> (CapturedValue, Option<Vec<u8>>) {
        let parsed: Result<Value, String> =
            json.and_then(|bytes| serde_json::from_slice(bytes).map_err(|e| e.to_string()));
        match parsed {
            Err(e) => (
                CapturedValue {
                    mode: CaptureMode::Error.into(),
                    value: None,
                    digest: None,
                    error: Some(format!("not serializable: {e}")),
                },
                None,
            ),
            Ok(v) if raw.hash_only => {
                let canonical = canonical::to_vec(&v);
                let digest = self.key.digest(&canonical);
                (
                    CapturedValue {
                        mode: CaptureMode::Digest.into(),
                        value: None,
                        digest: Some(digest),
                        error: None,
                    },
                    want_canonical.then_some(canonical),
                )
            }
            Ok(v) => {
                let canonical = want_canonical.then(|| canonical::to_vec(&v));
                (
                    CapturedValue {
                        mode: CaptureMode::Captured.into(),
                        value: Some(v),
                        digest: None,
                        error: None,
                    },
                    canonical,
                )
            }
        }
    }

    /// The record of a finished call, plus any findings about it.
    pub(crate) fn call(&mut self, state: &CallState) -> (AuditRecord, Vec<AuditRecord>) {
        let head = &state.head;
        let point = head.point;
        let start_unix = self.anchor.unix_nanos(head.start);
        let mut r = self.base(head.ctx.id, point.kind.into(), start_unix);
        let dur = self.anchor.nanos_between(head.start, state.end);
        r.time.end = Some(rfc3339_nanos(start_unix.saturating_add(dur)));
        r.time.duration_ns = Some(dur);
        r.point = Some(Self::point_info(point));
        r.correlation = Self::correlation(head);
        r.remote_parent = Self::remote_parent(head);
        r.code_version = Some(self.code_version(point));
        r.unversioned = point.unversioned.map(str::to_owned);
        if point.kind == crate::point::PointKind::Decision {
            self.recent
                .insert(head.ctx.id, (head.ctx.trace_id, head.ctx.span_id));
        }

        let extra = state.extra();
        if !extra.inputs.is_empty() {
            let mut args = Vec::with_capacity(extra.inputs.len());
            let mut canonical_inputs = Vec::with_capacity(extra.inputs.len());
            for raw in &extra.inputs {
                let name = point.args.get(usize::from(raw.arg)).map_or("?", |a| a.name);
                let (captured, canonical) = self.captured(extra.json(raw), raw, true);
                if let Some(bytes) = canonical {
                    canonical_inputs.push((name, bytes));
                }
                args.push(NamedValue {
                    name: name.to_owned(),
                    captured,
                });
            }
            let digest = self.key.digest(&canonical::object_of(canonical_inputs));
            r.inputs = Some(Inputs {
                digest: Some(digest),
                args,
            });
        }

        let mut findings = Vec::new();
        for (i, spec) in point.versions.iter().enumerate() {
            let deployed = artifacts::deployed(spec.role, spec.name);
            let (version, source) = match spec.version {
                VersionSource::Literal(v) => (Some(v.to_owned()), VersionOrigin::Literal),
                VersionSource::Expr(_) => (
                    state
                        .extra()
                        .dyn_versions
                        .iter()
                        .find(|(idx, _)| usize::from(*idx) == i)
                        .map(|(_, v)| v.clone()),
                    VersionOrigin::Expr,
                ),
                VersionSource::Registry => (
                    deployed.as_ref().map(|a| a.version.clone()),
                    VersionOrigin::Registry,
                ),
            };
            if let (Some(declared), Some(dep)) = (&version, &deployed)
                && *declared != dep.version
            {
                findings.push(self.finding(
                    head,
                    format!(
                        "declared {} `{}` version {declared} but version {} is deployed",
                        spec.role.as_str(),
                        spec.name,
                        dep.version
                    ),
                ));
            }
            if matches!(spec.version, VersionSource::Registry) && deployed.is_none() {
                findings.push(self.finding(
                    head,
                    format!(
                        "{} `{}` takes its version from the artifact registry, but no such \
                         artifact is registered",
                        spec.role.as_str(),
                        spec.name
                    ),
                ));
            }
            r.versions.push(VersionRef {
                role: spec.role.into(),
                name: spec.name.to_owned(),
                version,
                digest: deployed.and_then(|a| a.digest),
                source: source.into(),
            });
        }

        if let Some(rat) = &state.extra().rationale {
            r.rationale = rat.clone();
        }
        for note in &state.extra().notes {
            match note {
                Note::Signal(name, value) => {
                    r.rationale.signals.push(Signal {
                        name: name.clone(),
                        value: value.clone(),
                    });
                }
                Note::Explain(text) => match &mut r.rationale.explanation {
                    Some(e) => {
                        e.push('\n');
                        e.push_str(text);
                    }
                    None => r.rationale.explanation = Some(text.clone()),
                },
                Note::Lineage(l) => r.lineage.push(l.clone()),
                Note::RemoteCall(c) => r.remote_calls.push(c.clone()),
            }
        }

        let side_effect = point.side_effect.map(Open::Known);
        r.outcome = Some(match (&state.outcome, &state.extra().panic) {
            (_, Some(msg)) => Outcome {
                error: Some(msg.clone()),
                side_effect,
                ..Outcome::new(OutcomeStatus::Panic)
            },
            (Some(RawOutcome::Ok(v)), None) => Outcome {
                value: v
                    .as_deref()
                    .map(|raw| self.captured(extra.json(raw), raw, false).0),
                side_effect,
                ..Outcome::new(OutcomeStatus::Ok)
            },
            (Some(RawOutcome::Err(e)), None) => Outcome {
                error: Some(e.report.message.clone()),
                error_type: Some(e.type_name.to_owned()),
                error_dyn_type: e.report.dyn_type.map(str::to_owned),
                error_sources: e
                    .report
                    .sources
                    .iter()
                    .map(|(message, ty)| ErrorSource {
                        message: message.clone(),
                        error_type: ty.map(str::to_owned),
                    })
                    .collect(),
                side_effect,
                ..Outcome::new(OutcomeStatus::Err)
            },
            (Some(RawOutcome::Unobserved(ty)), None) => Outcome {
                error: Some(format!(
                    "the function returned a future of type `{ty}`, which the audit cannot \
                         follow: this record covers only the synchronous call that created it, \
                         not the asynchronous work or its result"
                )),
                error_type: Some((**ty).to_owned()),
                side_effect,
                ..Outcome::new(OutcomeStatus::Unobserved)
            },
            (None, None) => Outcome {
                side_effect,
                ..Outcome::new(OutcomeStatus::Cancelled)
            },
        });
        self.redact(Some(point), &mut r);
        for f in &mut findings {
            self.redact(Some(point), f);
        }
        (r, findings)
    }

    pub(crate) fn follow(&mut self, f: &FollowUp) -> AuditRecord {
        let mut r = self.base(f.record_id, f.kind, f.at_unix);
        r.refers_to = Some(f.refers_to);
        // On the decision's trace, under its span, so that an OpenTelemetry backend shows the
        // override on the decision it overrides: from the caller's `DecisionRef`, else from the
        // decisions this worker sealed recently.
        let link = f.link.or_else(|| self.recent.get(f.refers_to));
        r.correlation = Correlation {
            decision_id: Some(f.refers_to),
            trace_id: link.map(|(t, _)| t),
            parent_span_id: link.map(|(_, s)| s),
            ..Correlation::default()
        };
        r.outcome = f.outcome.clone();
        r.human_action = f.human_action.clone();
        r.lineage = f.lineage.clone();
        r.attributes = f.attributes.clone();
        self.redact(None, &mut r);
        r
    }

    /// Run the redactor; if it panics, fail closed: the record keeps its identity and chain
    /// place but every captured value and free text is erased ([`crate::redact::scrub`]). The
    /// panic message is not put in the record: it may quote the value being redacted.
    fn redact(&mut self, point: Option<&'static AuditPoint>, r: &mut AuditRecord) {
        let cx = RedactContext::new(point, &self.key, &self.redaction);
        let red = &*self.redactor;
        if catch_unwind(AssertUnwindSafe(|| red.redact(&cx, r))).is_err() {
            self.redaction.count_fail_closed();
            crate::redact::scrub(
                r,
                "the redactor panicked; every captured value and text was erased",
            );
            if !self.warned_scrub {
                self.warned_scrub = true;
                warn(
                    "the redactor panicked on a record; the record was exported with every captured \
                     value erased (fail closed); counted in AuditStats::redaction_fail_closed",
                );
            }
        }
    }
}

pub(crate) struct Worker {
    shared: &'static Shared,
    assembler: Assembler,
    chain: ChainHead,
    exporters: Vec<ExporterSlot>,
    fallback: Option<ExporterSlot>,
    batch_max: usize,
    retry: RetryPolicy,
    /// Entries taken from lanes but stamped after the cut of the round that took them: sealed
    /// in a later round, in tick order with what that round takes.
    held: Vec<Entry>,
    /// Control messages other than entries that arrived after a round's cut: handled by the
    /// next loop, so a flush still covers everything submitted before it.
    deferred: Vec<Control>,
    /// Threads that serialize a batch's records ([`ChainHead::seal_batch`]); 1 seals each
    /// record as it is assembled.
    seal_threads: usize,
    /// Assembled records waiting to be sealed as one batch (only with `seal_threads > 1`).
    pending: Vec<AuditRecord>,
}

impl Drop for Worker {
    /// Held entries are sealed by the next round; a worker that stops on a panic has none, so
    /// count them with the queue's stranded entries (`after_shutdown`) rather than lose them
    /// silently.
    fn drop(&mut self) {
        if !self.held.is_empty() {
            self.shared.queue.count_stranded(self.held.len() as u64);
        }
    }
}

/// Closes the queue when the worker's thread ends, whether by shutdown or by a panic (a bug: the
/// exporters and the redactor are already contained), so no producer waits for a worker that is
/// gone and what it leaves behind is reported.
struct CloseOnExit(&'static Shared);

impl Drop for CloseOnExit {
    fn drop(&mut self) {
        let stranded = self.0.queue.close_all();
        if std::thread::panicking() {
            warn(&format!(
                "the audit worker stopped on a panic; {stranded} queued record(s) were not \
                 written, and later audited calls count as after_shutdown"
            ));
        }
    }
}

impl Worker {
    pub(crate) fn new(
        shared: &'static Shared,
        assembler: Assembler,
        exporters: Vec<ExporterSlot>,
        fallback: Option<ExporterSlot>,
        batch_max: usize,
        retry: RetryPolicy,
        seal_threads: usize,
    ) -> Self {
        Worker {
            seal_threads: seal_threads.max(1),
            pending: Vec::new(),
            shared,
            assembler,
            chain: ChainHead::default(),
            exporters,
            fallback,
            batch_max,
            retry,
            held: Vec::new(),
            deferred: Vec::new(),
        }
    }

    fn seal(&mut self, record: AuditRecord, batch: &mut Vec<SealedRecord>) {
        if self.seal_threads > 1 {
            self.pending.push(record);
            return;
        }
        let sealed = self.chain.seal(record);
        self.sealed(sealed, batch);
    }

    /// Seal the pending records as one batch, on `seal_threads` threads, into `batch`.
    fn seal_pending(&mut self, batch: &mut Vec<SealedRecord>) {
        if self.pending.is_empty() {
            return;
        }
        let records = std::mem::take(&mut self.pending);
        for sealed in self.chain.seal_batch(records, self.seal_threads) {
            self.sealed(sealed, batch);
        }
    }

    fn sealed(&mut self, sealed: Result<SealedRecord, SealError>, batch: &mut Vec<SealedRecord>) {
        match sealed {
            Ok(s) => {
                self.shared.counters.sealed.fetch_add(1, Ordering::Relaxed);
                batch.push(s);
            }
            Err(e) => {
                self.shared
                    .counters
                    .seal_errors
                    .fetch_add(1, Ordering::Relaxed);
                warn(&format!(
                    "an audit record could not be sealed and is missing: {e}"
                ));
            }
        }
    }

    /// A call returned a future the audit cannot follow: counted, and said once per point.
    #[cold]
    fn note_unobserved(&mut self, point: &'static AuditPoint, ty: &str) {
        let c = &self.shared.counters;
        c.unobserved_futures.fetch_add(1, Ordering::Relaxed);
        let mut warned = c
            .warned_unobserved
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !warned.iter().any(|p| std::ptr::eq(*p, point)) {
            warned.push(point);
            warn(&format!(
                "`{}` ({}:{}) returned a future of type `{ty}` that the audit cannot follow: its \
                 records say `unobserved` and cover only the synchronous call. Make it an \
                 `async fn`, return `impl Future` or a boxed `dyn Future`, or end the body with \
                 an `async move {{ .. }}` block. Counted in AuditStats::unobserved_futures. \
                 (Printed once per point.)",
                point.name, point.file, point.line
            ));
        }
    }

    fn handle(&mut self, item: &Item, batch: &mut Vec<SealedRecord>) {
        match item {
            Item::Call(state) => {
                if let Some(RawOutcome::Unobserved(ty)) = &state.outcome {
                    self.note_unobserved(state.head.point, **ty);
                }
                let (record, findings) = self.assembler.call(state);
                self.seal(record, batch);
                for f in findings {
                    self.seal(f, batch);
                }
            }
            Item::Started(head) => {
                let r = self.assembler.started(head);
                self.seal(r, batch);
            }
            Item::Follow(f) => {
                let r = self.assembler.follow(f);
                self.seal(r, batch);
            }
        }
        if batch.len() + self.pending.len() >= self.batch_max {
            self.export(batch);
        }
    }

    /// Take every lane's entries and seal, in completion order, those stamped at or before the
    /// round's cut, together with `extra` entries that came through the control channel and
    /// those still in it after the lanes were read; later ones wait for the next round (see the
    /// ordering invariant in `queue`). With `closing`, the lanes are closed first and everything
    /// is sealed. Returns how many entries were taken.
    fn round(
        &mut self,
        rx: &Receiver<Control>,
        extra: Vec<Entry>,
        closing: bool,
        batch: &mut Vec<SealedRecord>,
    ) -> usize {
        self.assembler.anchor = Anchor::now();
        let cut = Ticks::now_ordered();
        let mut taken = std::mem::take(&mut self.held);
        let held = taken.len();
        {
            let mut lanes = self.shared.queue.lock_lanes();
            if closing {
                lanes.close();
            }
            for lane in &lanes.list {
                lane.drain_into(&mut taken);
            }
            if closing {
                // Nothing more can arrive: let go of every lane now (a thread still caching
                // its lane frees it when it exits or next submits).
                lanes.release_all();
            } else {
                lanes.retire_dead();
            }
        }
        // Entries sent through the channel before a record taken above was stamped (a thread
        // whose thread-locals were torn down, then a thread it caused a call on) are in the
        // channel by now: read it after the lanes, or the later record could be sealed first.
        for msg in rx.try_iter() {
            match msg {
                Control::Entry(e) => taken.push(*e),
                other => self.deferred.push(other),
            }
        }
        let new = taken.len() - held + extra.len();
        taken.extend(extra);
        let (sealed, later) = queue::in_order_until(taken, (!closing).then_some(cut));
        self.held = later;
        for e in &sealed {
            self.handle(&e.item, batch);
        }
        new
    }

    pub(crate) fn run(mut self, rx: &Receiver<Control>) {
        let _close = CloseOnExit(self.shared);
        let mut batch = Vec::with_capacity(self.batch_max);
        let mut last_idle = std::time::Instant::now();
        loop {
            let mut extra = Vec::new();
            let mut acks = Vec::new();
            let mut shutdown = None;
            let deferred = std::mem::take(&mut self.deferred);
            for msg in deferred.into_iter().chain(rx.try_iter()) {
                match msg {
                    Control::Entry(e) => extra.push(*e),
                    Control::Flush(ack) => acks.push(ack),
                    Control::Shutdown(ack) => shutdown = Some(ack),
                }
            }
            // Taken after the control messages, so a flush covers everything submitted before it.
            let n = self.round(rx, extra, shutdown.is_some(), &mut batch);
            self.export(&mut batch);
            if !acks.is_empty() {
                self.flush_all();
                for ack in acks {
                    let _ = ack.send(());
                }
            }
            if let Some(ack) = shutdown {
                // Entries a torn-down thread sent while the lanes were being closed (a round
                // reads the channel itself), then the flushes that came meanwhile.
                self.round(rx, Vec::new(), true, &mut batch);
                self.export(&mut batch);
                for msg in self.deferred.drain(..) {
                    if let Control::Flush(ack) | Control::Shutdown(ack) = msg {
                        let _ = ack.send(());
                    }
                }
                for slot in self.exporters.iter_mut().chain(self.fallback.as_mut()) {
                    if let Err(e) = slot.call(|e| e.shutdown()) {
                        warn(&format!(
                            "exporter `{}` failed to shut down: {e}",
                            slot.counters.name
                        ));
                    }
                }
                let _ = ack.send(());
                return;
            }
            if n == 0 && self.deferred.is_empty() {
                if last_idle.elapsed() >= IDLE_TICK {
                    last_idle = std::time::Instant::now();
                    self.idle_all();
                }
                std::thread::park_timeout(queue::POLL_INTERVAL);
            } else {
                last_idle = std::time::Instant::now();
            }
        }
    }

    /// Give every exporter its idle tick ([`Exporter::idle`]).
    fn idle_all(&mut self) {
        for slot in self.exporters.iter_mut().chain(self.fallback.as_mut()) {
            if let Err(e) = slot.call(|e| e.idle()) {
                warn(&format!(
                    "exporter `{}` failed its idle work: {e}",
                    slot.counters.name
                ));
            }
        }
    }

    fn flush_all(&mut self) {
        for slot in self.exporters.iter_mut().chain(self.fallback.as_mut()) {
            if let Err(e) = slot.call(|e| e.flush()) {
                warn(&format!(
                    "exporter `{}` failed to flush: {e}",
                    slot.counters.name
                ));
            }
        }
    }

    /// Hand the batch to every exporter; if any of them still fails after its retries, hand it
    /// to the fallback exactly once (two failing primaries must not write it twice).
    fn export(&mut self, batch: &mut Vec<SealedRecord>) {
        self.seal_pending(batch);
        if batch.is_empty() {
            return;
        }
        let n = batch.len() as u64;
        let retry = self.retry;
        // Index and error of every primary that did not take the batch.
        let mut failures: Vec<(usize, ExportError)> = Vec::new();
        for (i, slot) in self.exporters.iter_mut().enumerate() {
            let mut attempt = 0;
            let result = loop {
                match slot.call(|e| e.export(batch)) {
                    Ok(()) => break Ok(()),
                    Err(e) if e.class() == ErrorClass::Transient && attempt < retry.attempts => {
                        attempt += 1;
                        slot.counters.retries.fetch_add(1, Ordering::Relaxed);
                        std::thread::sleep(retry.backoff(attempt));
                    }
                    Err(e) => break Err(e),
                }
            };
            match result {
                Ok(()) => {
                    slot.counters.exported.fetch_add(n, Ordering::Relaxed);
                }
                Err(e) => {
                    slot.counters.failed.fetch_add(n, Ordering::Relaxed);
                    failures.push((i, e));
                }
            }
        }
        if failures.is_empty() {
            batch.clear();
            return;
        }
        let fell_back = match &mut self.fallback {
            Some(fb) => match fb.call(|x| x.export(batch)) {
                Ok(()) => {
                    fb.counters.exported.fetch_add(n, Ordering::Relaxed);
                    true
                }
                Err(fe) => {
                    fb.counters.failed.fetch_add(n, Ordering::Relaxed);
                    warn(&format!(
                        "fallback exporter `{}` failed too: {fe}",
                        fb.counters.name
                    ));
                    false
                }
            },
            None => false,
        };
        for (i, e) in failures {
            let slot = &mut self.exporters[i];
            if fell_back {
                slot.counters.fell_back.fetch_add(n, Ordering::Relaxed);
            }
            if !slot.warned || !fell_back {
                slot.warned = true;
                warn(&format!(
                    "exporter `{}` failed for {n} record(s) (seq {}..={}): {e}; {}",
                    slot.counters.name,
                    batch[0].seq(),
                    batch[batch.len() - 1].seq(),
                    if fell_back {
                        "they went to the fallback exporter"
                    } else {
                        "NO fallback exporter took them"
                    }
                ));
            }
        }
        batch.clear();
    }
}
