//! The delivery loop: one sender thread per exporter, between a bounded in-memory queue, the
//! spill file and the collector.
//!
//! ```text
//!  export(batch) ──► memory queue (bounded) ──► sender thread ──► Transport ──► collector
//!        │                 │  failing or unanswered ≥ spill_after   ▲
//!        │                 │  (spill watchdog thread), queue full,  │
//!        │                 ▼  flush timed out                       │ re-sent in order
//!        └─(spill mode)──► spill file ──────────────────────────────┘
//! ```
//!
//! What must hold (and why it is arranged this way):
//! * `export` never waits for the network: it moves `Arc`s into memory or appends to the spill
//!   file, so a slow or dead collector costs the pipeline at most an `fsync`.
//! * Latency: a record in memory is handed to a request at most `max_export_delay` after it
//!   was enqueued, whatever the rate (the sender sleeps until the oldest record is due and is
//!   woken when a record arrives in an empty queue), unless the previous request is still
//!   being answered.
//! * Durability: once a request has failed, or a request has waited `spill_after` for its
//!   answer, every record in memory reaches the spill file within `spill_after` of that
//!   moment, and every record enqueued later is appended (and `fsync`ed) before `export`
//!   returns. A separate watchdog thread does this, because the sender may be blocked inside
//!   a request (up to its timeout) or asleep in a backoff of up to `max_backoff`.
//! * Order: while the spill file holds undelivered lines, the memory queue is empty and new
//!   records are appended to the file; the sender drains the file before it takes from memory
//!   again. The batch the sender holds (`in_flight`) is older than everything in memory, so
//!   whoever spills writes it first.
//! * Every record ends in exactly one of: accepted by the collector (`sent_*`), written to the
//!   rejected file after a permanent refusal (`dead_lettered`), still pending (memory or spill),
//!   or refused by `export` with an error the pipeline sees. The counters say which.
//! * A batch is sent as one traces request and one logs request; a signal that was accepted is
//!   not sent again when the other is retried, re-read from the spill, or spilled.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use audit_runtime::RecordId;
use audit_runtime::backoff::Backoff;
use audit_runtime::chain::{SealedRecord, check_line};
use audit_runtime::diag::warn_as;
use audit_runtime::export::DeliveryCounters;
use prost::Message;

use super::config::Signal;
use super::mapping::{self, ResourceConfig};
use super::spill::{Spill, SpillError};
use super::transport::{SendError, Transport};

/// A snapshot of what the OTLP exporter did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OtlpStats {
    /// Records `export` accepted.
    pub enqueued: u64,
    /// Spans the collector accepted (including any it then rejected through partial success).
    pub sent_spans: u64,
    /// Log records the collector accepted (including partial-success rejections).
    pub sent_logs: u64,
    /// Items the collector reported as rejected in a partial success (not retried, per spec).
    pub partially_rejected: u64,
    /// Records the collector refused permanently; kept in `otlp-rejected.jsonl` unless that
    /// file reached its cap (then also counted in `rejected_dropped`).
    pub dead_lettered: u64,
    /// Records that belonged in `otlp-rejected.jsonl` (dead-lettered or corrupt) but were not
    /// written because the file reached `rejected_max_bytes` (warned once on stderr).
    pub rejected_dropped: u64,
    /// Export requests that failed and were retried.
    pub retries: u64,
    /// Records written to the spill file.
    pub spilled: u64,
    /// Records delivered from the spill file.
    pub unspilled: u64,
    /// Spill lines that failed their hash check when read back (moved to the rejected file).
    pub spill_corrupt: u64,
    /// Records waiting: in memory, in flight and in the spill file.
    pub pending: u64,
    /// The last delivery error, if the most recent attempt failed.
    pub last_error: Option<String>,
}

#[derive(Debug, Default)]
struct Counters {
    enqueued: AtomicU64,
    sent_spans: AtomicU64,
    sent_logs: AtomicU64,
    partially_rejected: AtomicU64,
    dead_lettered: AtomicU64,
    rejected_dropped: AtomicU64,
    retries: AtomicU64,
    spilled: AtomicU64,
    unspilled: AtomicU64,
    spill_corrupt: AtomicU64,
}

/// The batch the sender holds, taken from memory.
#[derive(Debug)]
struct InFlight {
    records: Vec<SealedRecord>,
    traces_done: bool,
    logs_done: bool,
    /// Set when someone spilled the batch: the offset just past its lines in the spill file.
    spilled_end: Option<u64>,
    spilled_lines: u64,
}

impl InFlight {
    fn undelivered(&self) -> impl Iterator<Item = &SealedRecord> {
        self.records
            .iter()
            .filter(|r| match mapping::signal_of(&r.record) {
                Signal::Traces => !self.traces_done,
                Signal::Logs => !self.logs_done,
            })
    }
}

#[derive(Debug)]
struct State {
    memory: VecDeque<SealedRecord>,
    oldest_at: Option<Instant>,
    in_flight: Option<InFlight>,
    spill: Spill,
    flush_waiters: usize,
    stop: bool,
    last_error: Option<String>,
    /// When the current run of failed requests began (cleared by a delivery).
    failing_since: Option<Instant>,
    /// When the request now on the wire was sent.
    request_since: Option<Instant>,
    /// Whether this outage's move to the spill file was reported.
    warned_spilling: bool,
    warned_spill_error: bool,
    warned_rejected_cap: bool,
}

/// Shared between the exporter (pipeline worker thread) and its sender thread.
#[derive(Debug)]
pub(crate) struct Shared {
    state: Mutex<State>,
    /// Wakes the sender: new records, a flush, stop.
    wake: Condvar,
    /// Wakes flushers: progress was made.
    progress: Condvar,
    /// Wakes the spill watchdog: a request failed or was sent, stop.
    watch: Condvar,
    counters: Counters,
    /// Dead letters of records this process's pipeline handed over, for `AuditStats`.
    delivery: Arc<DeliveryCounters>,
    pub(crate) tuning: Tuning,
}

/// Delivery parameters.
#[derive(Debug, Clone)]
pub(crate) struct Tuning {
    pub(crate) batch_max: usize,
    pub(crate) max_export_delay: Duration,
    pub(crate) memory_capacity: usize,
    pub(crate) spill_after: Duration,
    pub(crate) rejected_max_bytes: u64,
    pub(crate) first_backoff: Duration,
    pub(crate) max_backoff: Duration,
    pub(crate) flush_timeout: Duration,
}

/// A server-requested delay longer than this is cut to it (a misconfigured `Retry-After: 86400`
/// must not stall the audit trail for a day; records stay safe in the spill file meanwhile).
const MAX_SERVER_DELAY: Duration = Duration::from_secs(300);

/// The component name of this exporter's warnings.
pub(crate) const OTLP: &str = "audit-otlp";

impl Shared {
    pub(crate) fn new(spill: Spill, tuning: Tuning) -> Self {
        Shared {
            state: Mutex::new(State {
                memory: VecDeque::with_capacity(tuning.memory_capacity.min(1 << 16)),
                oldest_at: None,
                in_flight: None,
                spill,
                flush_waiters: 0,
                stop: false,
                last_error: None,
                failing_since: None,
                request_since: None,
                warned_spilling: false,
                warned_spill_error: false,
                warned_rejected_cap: false,
            }),
            wake: Condvar::new(),
            progress: Condvar::new(),
            watch: Condvar::new(),
            counters: Counters::default(),
            delivery: Arc::new(DeliveryCounters::default()),
            tuning,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn stats(&self) -> OtlpStats {
        let st = self.lock();
        let c = &self.counters;
        let in_flight = st.in_flight.as_ref().map_or(0, |f| {
            if f.spilled_end.is_some() {
                0
            } else {
                f.undelivered().count() as u64
            }
        });
        OtlpStats {
            enqueued: c.enqueued.load(Ordering::Relaxed),
            sent_spans: c.sent_spans.load(Ordering::Relaxed),
            sent_logs: c.sent_logs.load(Ordering::Relaxed),
            partially_rejected: c.partially_rejected.load(Ordering::Relaxed),
            dead_lettered: c.dead_lettered.load(Ordering::Relaxed),
            rejected_dropped: c.rejected_dropped.load(Ordering::Relaxed),
            retries: c.retries.load(Ordering::Relaxed),
            spilled: c.spilled.load(Ordering::Relaxed),
            unspilled: c.unspilled.load(Ordering::Relaxed),
            spill_corrupt: c.spill_corrupt.load(Ordering::Relaxed),
            pending: st.memory.len() as u64 + in_flight + st.spill.pending(),
            last_error: st.last_error.clone(),
        }
    }

    /// The runtime-facing dead-letter counter.
    pub(crate) fn delivery_counters(&self) -> Arc<DeliveryCounters> {
        Arc::clone(&self.delivery)
    }

    /// Since when the collector has been failing or keeping a request unanswered, if it is.
    fn unhealthy_since(st: &State) -> Option<Instant> {
        match (st.failing_since, st.request_since) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Whether records must go to disk now: the collector has been unhealthy for `spill_after`.
    fn must_spill(&self, st: &State) -> bool {
        Self::unhealthy_since(st).is_some_and(|t| t.elapsed() >= self.tuning.spill_after)
    }

    /// Take a batch from the pipeline (see the module docs for the order rules).
    pub(crate) fn enqueue(&self, batch: &[SealedRecord]) -> Result<(), SpillError> {
        let mut st = self.lock();
        if st.spill.has_pending() {
            st.spill.append(batch.iter().map(|r| &*r.line))?;
            self.counters
                .spilled
                .fetch_add(batch.len() as u64, Ordering::Relaxed);
        } else if self.must_spill(&st) {
            // The collector is failing: these records (and any still in memory) go to disk
            // before `export` returns, without waiting for the watchdog's next turn.
            self.spill_all(&mut st, batch)?;
            self.warn_spilling(&mut st);
        } else if st.memory.len() + batch.len() <= self.tuning.memory_capacity {
            if st.memory.is_empty() {
                st.oldest_at = Some(Instant::now());
                // The sender may be asleep with no deadline: give it this batch's.
                self.wake.notify_one();
            }
            st.memory.extend(batch.iter().cloned());
            if st.memory.len() >= self.tuning.batch_max {
                self.wake.notify_one();
            }
            if Self::unhealthy_since(&st).is_some() {
                // The watchdog may be asleep with nothing to move: these records start its timer.
                self.watch.notify_one();
            }
        } else {
            self.spill_all(&mut st, batch)?;
            warn_as(
                OTLP,
                &format!(
                    "the in-memory queue is full ({} records): records go to the spill file {} \
                 until the collector catches up",
                    self.tuning.memory_capacity,
                    st.spill.path().display()
                ),
            );
        }
        self.counters
            .enqueued
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    /// Move the unsent part of the in-flight batch, then memory, then `extra`, to the spill file,
    /// in that (chain) order. Nothing leaves memory unless the append succeeded.
    fn spill_all(&self, st: &mut State, extra: &[SealedRecord]) -> Result<(), SpillError> {
        let State {
            memory,
            in_flight,
            spill,
            oldest_at,
            ..
        } = st;
        let flight: Vec<&SealedRecord> = match in_flight {
            Some(f) if f.spilled_end.is_none() => f.undelivered().collect(),
            _ => Vec::new(),
        };
        let n_flight = flight.len() as u64;
        if n_flight == 0 && memory.is_empty() && extra.is_empty() {
            return Ok(());
        }
        // The in-flight lines come first; remember where they end, so that when the sender's
        // request for them succeeds after all, the cursor can skip them.
        let flight_end = if n_flight > 0 {
            Some(spill.append(flight.iter().map(|r| &*r.line))?)
        } else {
            None
        };
        let rest = memory.iter().chain(extra.iter()).map(|r| &*r.line);
        if let Err(e) = spill.append(rest) {
            // The in-flight lines did reach the disk; record that so they are not sent twice.
            if let (Some(f), Some(end)) = (in_flight.as_mut(), flight_end) {
                f.spilled_end = Some(end);
                f.spilled_lines = n_flight;
            }
            self.counters.spilled.fetch_add(n_flight, Ordering::Relaxed);
            return Err(e);
        }
        if let (Some(f), Some(end)) = (in_flight.as_mut(), flight_end) {
            f.spilled_end = Some(end);
            f.spilled_lines = n_flight;
        }
        let n = n_flight + memory.len() as u64 + extra.len() as u64;
        self.counters.spilled.fetch_add(n, Ordering::Relaxed);
        memory.clear();
        *oldest_at = None;
        Ok(())
    }

    /// `n` lines that belonged in the rejected file are not in it: count them, warn once.
    fn rejected_dropped(&self, st: &mut State, n: u64) {
        if n == 0 {
            return;
        }
        self.counters
            .rejected_dropped
            .fetch_add(n, Ordering::Relaxed);
        if !st.warned_rejected_cap {
            st.warned_rejected_cap = true;
            warn_as(
                OTLP,
                &format!(
                    "{n} refused or corrupt record(s) could not be kept in otlp-rejected.jsonl (at \
                 its cap of {} bytes, or unwritable); they and any later ones are counted in \
                 OtlpStats::rejected_dropped and are NOT on disk",
                    self.tuning.rejected_max_bytes
                ),
            );
        }
    }

    fn warn_spilling(&self, st: &mut State) {
        if st.warned_spilling {
            return;
        }
        st.warned_spilling = true;
        let since = Self::unhealthy_since(st).map_or(Duration::ZERO, |t| t.elapsed());
        warn_as(
            OTLP,
            &format!(
                "the collector has failed or not answered for {since:?}: records go to the spill \
             file {} and will be re-sent in order when it is back",
                st.spill.path().display()
            ),
        );
    }

    /// The spill watchdog (its own thread): moves memory to the spill file once the collector
    /// has been unhealthy for `spill_after`, whatever the sender is doing.
    pub(crate) fn watch_run(&self) {
        let mut st = self.lock();
        loop {
            if st.stop {
                return;
            }
            let has_memory = !st.memory.is_empty()
                || st
                    .in_flight
                    .as_ref()
                    .is_some_and(|f| f.spilled_end.is_none());
            let wait = match Self::unhealthy_since(&st) {
                Some(since) if has_memory => {
                    let due = since + self.tuning.spill_after;
                    let now = Instant::now();
                    if now >= due {
                        match self.spill_all(&mut st, &[]) {
                            Ok(()) => {
                                self.warn_spilling(&mut st);
                                self.progress.notify_all();
                                continue;
                            }
                            Err(e) => {
                                // Once per outage: the retry below runs every spill_after.
                                if !st.warned_spill_error {
                                    st.warned_spill_error = true;
                                    warn_as(
                                        OTLP,
                                        &format!(
                                            "cannot spill: {e}; records stay in memory (retrying)"
                                        ),
                                    );
                                }
                                st.last_error = Some(e.to_string());
                                self.tuning.spill_after.max(Duration::from_millis(100))
                            }
                        }
                    } else {
                        due - now
                    }
                }
                // Healthy or nothing to move: woken when a request is sent or fails.
                _ => Duration::from_secs(3600),
            };
            st = self
                .watch
                .wait_timeout(st, wait)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    fn drained(st: &State) -> bool {
        st.memory.is_empty() && st.in_flight.is_none() && !st.spill.has_pending()
    }

    /// Wait until everything enqueued was delivered, or `flush_timeout` passed; then put what is
    /// left into the spill file (so it is durable) and return.
    pub(crate) fn flush(&self) -> Result<(), SpillError> {
        let deadline = Instant::now() + self.tuning.flush_timeout;
        let mut st = self.lock();
        st.flush_waiters += 1;
        self.wake.notify_one();
        while !Self::drained(&st) {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            st = self
                .progress
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        st.flush_waiters -= 1;
        if Self::drained(&st) {
            return Ok(());
        }
        self.spill_all(&mut st, &[])
    }

    /// Ask the sender to stop after its current request.
    pub(crate) fn stop(&self) {
        let mut st = self.lock();
        st.stop = true;
        self.wake.notify_all();
        self.progress.notify_all();
        self.watch.notify_all();
    }

    /// Records still in the spill file, and its path (for the shutdown message).
    pub(crate) fn spill_left(&self) -> (u64, std::path::PathBuf) {
        let st = self.lock();
        (st.spill.pending(), st.spill.path().to_owned())
    }
}

/// Where the sender's current batch came from.
enum Source {
    Memory,
    Spill { end: u64, lines: u64 },
}

struct Work {
    records: Vec<SealedRecord>,
    /// How many of the first `records` were left in the spill file by an earlier process (their
    /// dead letters are not this process's pipeline's business).
    inherited: usize,
    source: Source,
    traces_done: bool,
    logs_done: bool,
}

/// The sender thread's side.
pub(crate) struct Sender {
    shared: Arc<Shared>,
    traces: Box<dyn Transport>,
    logs: Box<dyn Transport>,
    resource: ResourceConfig,
    rng: u64,
    warned_failing: bool,
    warned_partial: bool,
}

enum Finish {
    Delivered,
    /// The batch (from memory) was moved to the spill file; continue from there.
    Spilled,
    Stopped,
}

impl Sender {
    pub(crate) fn new(
        shared: Arc<Shared>,
        traces: Box<dyn Transport>,
        logs: Box<dyn Transport>,
        resource: ResourceConfig,
    ) -> Self {
        let rng = RecordId::now().as_u128() as u64 | 1;
        Sender {
            shared,
            traces,
            logs,
            resource,
            rng,
            warned_failing: false,
            warned_partial: false,
        }
    }

    fn next_rand(&mut self) -> u64 {
        // xorshift64*: jitter only, not secrets.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// The SDK's one backoff schedule ([`Backoff`]): uniform in
    /// `[first/2, min(max, first * 2^attempt)]`.
    fn backoff(&mut self, attempt: u32) -> Duration {
        let t = &self.shared.tuning;
        let schedule = Backoff {
            first: t.first_backoff,
            max: t.max_backoff,
        };
        schedule.delay(attempt, self.next_rand())
    }

    pub(crate) fn run(mut self) {
        while let Some(work) = self.next_work() {
            match self.deliver(work) {
                Finish::Delivered | Finish::Spilled => {}
                Finish::Stopped => return,
            }
        }
    }

    /// Wait for the next batch: the spill file first, then memory when a batch is full, old
    /// enough, or a flush waits. `None` when stopped.
    fn next_work(&mut self) -> Option<Work> {
        let shared = Arc::clone(&self.shared);
        let t = &shared.tuning;
        let mut st = shared.lock();
        loop {
            if st.stop {
                return None;
            }
            if st.spill.has_pending() {
                match self.read_spill(&mut st) {
                    Ok(Some(w)) => return Some(w),
                    Ok(None) => continue,
                    Err(e) => {
                        warn_as(OTLP, &format!("cannot read the spill file: {e}; retrying"));
                        st.last_error = Some(e.to_string());
                        st = shared
                            .wake
                            .wait_timeout(st, t.max_backoff)
                            .unwrap_or_else(PoisonError::into_inner)
                            .0;
                        continue;
                    }
                }
            }
            let due = st.oldest_at.map(|at| at + t.max_export_delay);
            let ready = !st.memory.is_empty()
                && (st.memory.len() >= t.batch_max
                    || st.flush_waiters > 0
                    || due.is_some_and(|d| Instant::now() >= d));
            if ready {
                let n = st.memory.len().min(t.batch_max);
                let records: Vec<SealedRecord> = st.memory.drain(..n).collect();
                // What is left is younger than the batch taken but may be as old as
                // `max_export_delay` already: keep the deadline, so it goes out next.
                if st.memory.is_empty() {
                    st.oldest_at = None;
                }
                st.in_flight = Some(InFlight {
                    records: records.clone(),
                    traces_done: false,
                    logs_done: false,
                    spilled_end: None,
                    spilled_lines: 0,
                });
                return Some(Work {
                    records,
                    inherited: 0,
                    source: Source::Memory,
                    traces_done: false,
                    logs_done: false,
                });
            }
            let wait = due.map_or(Duration::from_secs(3600), |d| {
                d.saturating_duration_since(Instant::now())
            });
            st = shared
                .wake
                .wait_timeout(st, wait)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Read a batch back from the spill file, checking each line's hash. Corrupt lines are moved
    /// to the rejected file and skipped.
    fn read_spill(&mut self, st: &mut State) -> Result<Option<Work>, SpillError> {
        let b = st.spill.read_batch(self.shared.tuning.batch_max)?;
        let lines = b.lines.len() as u64;
        let mut records = Vec::with_capacity(b.lines.len());
        let mut inherited = 0;
        let mut corrupt = Vec::new();
        let mut corrupt_own = 0u64;
        for (i, line) in b.lines.into_iter().enumerate() {
            match check_line(&line) {
                Ok((record, hash)) => {
                    if i < b.inherited {
                        inherited += 1;
                    }
                    records.push(SealedRecord {
                        record: Arc::new(record),
                        hash,
                        line: line.into(),
                    });
                }
                Err(e) => {
                    warn_as(
                        OTLP,
                        &format!("a spilled record failed its check and was set aside: {e}"),
                    );
                    if i >= b.inherited {
                        corrupt_own += 1;
                    }
                    corrupt.push(line);
                }
            }
        }
        if !corrupt.is_empty() {
            let dropped = st.spill.reject(corrupt.iter().map(String::as_str))?;
            self.shared.rejected_dropped(st, dropped);
            self.shared
                .counters
                .spill_corrupt
                .fetch_add(corrupt.len() as u64, Ordering::Relaxed);
            self.shared.delivery.add_dead_lettered(corrupt_own);
        }
        if records.is_empty() {
            st.spill.advance(b.end, lines)?;
            self.shared.progress.notify_all();
            return Ok(None);
        }
        Ok(Some(Work {
            records,
            inherited,
            source: Source::Spill { end: b.end, lines },
            traces_done: b.done == Some(Signal::Traces),
            logs_done: b.done == Some(Signal::Logs),
        }))
    }

    fn deliver(&mut self, mut work: Work) -> Finish {
        let reqs = mapping::to_requests(&work.records, &self.resource);
        let mut traces = reqs
            .traces
            .filter(|_| !work.traces_done)
            .map(|r| r.encode_to_vec());
        let mut logs = reqs
            .logs
            .filter(|_| !work.logs_done)
            .map(|r| r.encode_to_vec());
        let mut attempt = 0u32;
        loop {
            let mut failure: Option<SendError> = None;
            for signal in [Signal::Traces, Signal::Logs] {
                let (body, count) = match signal {
                    Signal::Traces => (&mut traces, reqs.span_count),
                    Signal::Logs => (&mut logs, reqs.log_count),
                };
                let Some(bytes) = body.as_ref() else { continue };
                let transport = match signal {
                    Signal::Traces => &mut self.traces,
                    Signal::Logs => &mut self.logs,
                };
                {
                    let mut st = self.shared.lock();
                    st.request_since = Some(Instant::now());
                    self.shared.watch.notify_one();
                }
                let sent = transport.send(bytes);
                self.shared.lock().request_since = None;
                match sent {
                    Ok(acc) => {
                        *body = None;
                        self.accepted(signal, count as u64, &acc);
                        self.signal_done(&mut work, signal);
                    }
                    Err(SendError::Permanent { reason }) => {
                        *body = None;
                        self.dead_letter(&work, signal, &reason);
                        self.signal_done(&mut work, signal);
                    }
                    Err(e @ SendError::Retryable { .. }) => {
                        if failure.is_none() {
                            failure = Some(e);
                        }
                    }
                }
            }
            let Some(failure) = failure else {
                self.finish_delivered(&work);
                return Finish::Delivered;
            };
            // A retryable failure: count, maybe spill, back off.
            attempt += 1;
            self.shared.counters.retries.fetch_add(1, Ordering::Relaxed);
            let since = {
                let mut st = self.shared.lock();
                let since = *st.failing_since.get_or_insert_with(Instant::now);
                self.shared.watch.notify_one();
                since
            };
            if !self.warned_failing {
                self.warned_failing = true;
                warn_as(
                    OTLP,
                    &format!("export to the collector failed, retrying with backoff: {failure}"),
                );
            }
            let delay = match &failure {
                SendError::Retryable {
                    retry_after: Some(d),
                    ..
                } => (*d).min(MAX_SERVER_DELAY),
                _ => self.backoff(attempt),
            };
            let shared = Arc::clone(&self.shared);
            let mut st = shared.lock();
            st.last_error = Some(failure.to_string());
            if let Source::Memory = work.source {
                let spilled = st
                    .in_flight
                    .as_ref()
                    .is_some_and(|f| f.spilled_end.is_some());
                if spilled {
                    // Someone (flush, a full queue) spilled this batch: continue from the file.
                    st.in_flight = None;
                    return Finish::Spilled;
                }
                if since.elapsed() >= shared.tuning.spill_after || st.stop {
                    match shared.spill_all(&mut st, &[]) {
                        Ok(()) => {
                            shared.warn_spilling(&mut st);
                            st.in_flight = None;
                            return Finish::Spilled;
                        }
                        Err(e) => {
                            warn_as(OTLP, &format!("cannot spill: {e}; records stay in memory"))
                        }
                    }
                }
            }
            if st.stop {
                return Finish::Stopped;
            }
            let deadline = Instant::now() + delay;
            while !st.stop && Instant::now() < deadline {
                let left = deadline.saturating_duration_since(Instant::now());
                st = shared
                    .wake
                    .wait_timeout(st, left)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
            if st.stop {
                if let Source::Memory = work.source
                    && st
                        .in_flight
                        .as_ref()
                        .is_some_and(|f| f.spilled_end.is_none())
                    && let Err(e) = shared.spill_all(&mut st, &[])
                {
                    warn_as(OTLP, &format!("cannot spill at shutdown: {e}"));
                }
                return Finish::Stopped;
            }
        }
    }

    fn accepted(&mut self, signal: Signal, count: u64, acc: &super::transport::Accepted) {
        let c = &self.shared.counters;
        match signal {
            Signal::Traces => c.sent_spans.fetch_add(count, Ordering::Relaxed),
            Signal::Logs => c.sent_logs.fetch_add(count, Ordering::Relaxed),
        };
        if acc.rejected > 0 || !acc.message.is_empty() {
            c.partially_rejected
                .fetch_add(acc.rejected, Ordering::Relaxed);
            if !self.warned_partial {
                self.warned_partial = true;
                warn_as(
                    OTLP,
                    &format!(
                        "the collector accepted {} {} with {} rejected: {}",
                        count,
                        signal.as_str(),
                        acc.rejected,
                        acc.message
                    ),
                );
            }
        }
    }

    fn dead_letter(&mut self, work: &Work, signal: Signal, reason: &str) {
        let of_signal = |r: &&SealedRecord| mapping::signal_of(&r.record) == signal;
        let lines: Vec<&str> = work
            .records
            .iter()
            .filter(of_signal)
            .map(|r| &*r.line)
            .collect();
        let n = lines.len() as u64;
        let own = work.records[work.inherited..]
            .iter()
            .filter(of_signal)
            .count() as u64;
        self.shared
            .counters
            .dead_lettered
            .fetch_add(n, Ordering::Relaxed);
        self.shared.delivery.add_dead_lettered(own);
        let mut st = self.shared.lock();
        let kept = st.spill.reject(lines.into_iter());
        let what = match kept {
            Ok(0) => "they are kept in otlp-rejected.jsonl next to the spill file".to_owned(),
            Ok(dropped) => {
                self.shared.rejected_dropped(&mut st, dropped);
                format!(
                    "{dropped} of them could not be kept: otlp-rejected.jsonl is at its cap \
                     (see OtlpStats::rejected_dropped)"
                )
            }
            Err(e) => {
                self.shared.rejected_dropped(&mut st, n);
                format!("and they could not be kept: {e}")
            }
        };
        warn_as(
            OTLP,
            &format!(
                "the collector refused {n} {} for good ({reason}); {what}",
                signal.as_str(),
            ),
        );
    }

    /// One signal of the batch is settled: record it where a spill or a restart will see it.
    fn signal_done(&mut self, work: &mut Work, signal: Signal) {
        match signal {
            Signal::Traces => work.traces_done = true,
            Signal::Logs => work.logs_done = true,
        }
        let mut st = self.shared.lock();
        match work.source {
            Source::Spill { end, .. } => {
                if !(work.traces_done && work.logs_done)
                    && let Err(e) = st.spill.mark_partial(end, signal)
                {
                    warn_as(OTLP, &format!("cannot record delivery progress: {e}"));
                }
            }
            Source::Memory => {
                let spilled_end = st.in_flight.as_mut().and_then(|f| {
                    match signal {
                        Signal::Traces => f.traces_done = true,
                        Signal::Logs => f.logs_done = true,
                    }
                    f.spilled_end
                });
                if let Some(end) = spilled_end
                    && !(work.traces_done && work.logs_done)
                    && let Err(e) = st.spill.mark_partial(end, signal)
                {
                    warn_as(OTLP, &format!("cannot record delivery progress: {e}"));
                }
            }
        }
    }

    fn finish_delivered(&mut self, work: &Work) {
        let mut st = self.shared.lock();
        if st.failing_since.take().is_some() && self.warned_failing {
            warn_as(OTLP, "the collector accepts records again");
        }
        self.warned_failing = false;
        st.warned_spilling = false;
        st.warned_spill_error = false;
        st.last_error = None;
        match work.source {
            Source::Spill { end, lines } => {
                if let Err(e) = st.spill.advance(end, lines) {
                    warn_as(OTLP, &format!("cannot move the spill cursor: {e}"));
                }
                self.shared
                    .counters
                    .unspilled
                    .fetch_add(work.records.len() as u64, Ordering::Relaxed);
            }
            Source::Memory => {
                if let Some(f) = st.in_flight.take()
                    && let Some(end) = f.spilled_end
                    && let Err(e) = st.spill.advance(end, f.spilled_lines)
                {
                    warn_as(OTLP, &format!("cannot move the spill cursor: {e}"));
                }
            }
        }
        self.shared.progress.notify_all();
    }
}
