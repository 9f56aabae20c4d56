//! Installing the runtime: configuration, the dispatch that audited calls find, the queue, and
//! the guard that flushes on drop.
//!
//! ```no_run
//! # use audit_runtime::{AuditRuntime, export::Exporter};
//! # fn exporter() -> Box<dyn Exporter> { unimplemented!() }
//! let guard = AuditRuntime::builder()
//!     .service("loan-agent")
//!     .exporter(exporter())
//!     .install()
//!     .expect("audit runtime");
//! // ... run the agent; every audited call leaves a record ...
//! drop(guard); // flushes every exporter and shuts the worker down
//! ```
//!
//! A process has at most one *global* runtime at a time ([`AuditBuilder::install`]); a thread
//! may override it with its own ([`AuditBuilder::install_thread_local`]), which is how tests keep
//! their records apart when they run in parallel.
//!
//! Architecture Invariant: no record is lost silently. With [`QueueFull::Block`] (the default)
//! a caller waits for room; with [`QueueFull::DropAndCount`] it does not wait and the loss is
//! counted in [`AuditStats::dropped`] and reported on stderr once. Records of calls still running
//! when the runtime shuts down are counted in [`AuditStats::after_shutdown`].
//!
//! The queue has one lane per thread that makes audited calls (the private `queue` module), so
//! [`AuditBuilder::queue_capacity`] bounds the records waiting *per producing thread*.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::diag::WarnOnce;
use crate::digest::{DigestKey, KeyError};
use crate::export::Exporter;
use crate::followup::FollowUp;
use crate::ids::RecordId;
use crate::point::AuditPoint;
use crate::queue::{Control, Entry, Item, Producer, Pushed, Queue, Source};
use crate::redact::{RedactionConfig, RedactionCounters, RedactionEngine, Redactor};
use crate::worker::{self, ExporterSlot, RetryPolicy, Worker};

/// What a caller does when the queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QueueFull {
    /// Wait for room (the default: no record is ever dropped).
    #[default]
    Block,
    /// Do not wait: drop the record, count it in [`AuditStats::dropped`], warn once.
    DropAndCount,
}

/// Which calls write a `started` record when they begin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StartedRecords {
    /// As each point declares (`started` in the attribute; agent runs by default).
    #[default]
    PerPoint,
    /// Every audited call.
    All,
    /// None.
    Never,
}

impl StartedRecords {
    pub(crate) fn wants(self, point: &AuditPoint) -> bool {
        match self {
            StartedRecords::PerPoint => point.started,
            StartedRecords::All => true,
            StartedRecords::Never => false,
        }
    }
}

/// Counters shared between callers and the worker (`submitted` is counted per lane).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) dropped: AtomicU64,
    pub(crate) after_shutdown: AtomicU64,
    pub(crate) sealed: AtomicU64,
    pub(crate) seal_errors: AtomicU64,
    pub(crate) orphan_notes: AtomicU64,
    pub(crate) filtered_spans: AtomicU64,
    pub(crate) unobserved_futures: AtomicU64,
    /// The points already warned about for `unobserved_futures` (the worker's, rarely touched).
    pub(crate) warned_unobserved: Mutex<Vec<&'static AuditPoint>>,
}

/// Per-exporter counters.
#[derive(Debug, Default)]
pub(crate) struct ExporterCounters {
    pub(crate) name: String,
    pub(crate) exported: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) retries: AtomicU64,
    pub(crate) fell_back: AtomicU64,
    /// The exporter's own count of records it accepted and later dead-lettered.
    pub(crate) delivery: Option<Arc<crate::export::DeliveryCounters>>,
}

/// The control block of one installed runtime. Leaked on install so that audited calls can hold
/// a `&'static` to it without reference counting on the hot path; a few hundred bytes (plus the
/// queue) per installation.
pub(crate) struct Shared {
    pub(crate) queue: Queue,
    pub(crate) started_policy: StartedRecords,
    pub(crate) counters: Counters,
    pub(crate) exporters: Vec<Arc<ExporterCounters>>,
    pub(crate) fallback: Option<Arc<ExporterCounters>>,
    warned_closed: WarnOnce,
    warned_filtered: WarnOnce,
    pub(crate) instance: RecordId,
    pub(crate) redaction: Arc<RedactionCounters>,
    /// The service name, for [`crate::propagation::inject`]'s `audit.service`.
    pub(crate) service: Arc<str>,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("instance", &self.instance)
            .finish_non_exhaustive()
    }
}

thread_local! {
    /// This thread's lane in the queue of the runtime it last submitted to.
    static LANE: RefCell<Option<(&'static Shared, Producer)>> = const { RefCell::new(None) };
}

impl Shared {
    /// Hand the item `src` holds to the worker through this thread's lane. `src` moves the item
    /// out of the caller's storage straight into the lane (a call's state is 192 bytes; every
    /// extra move of it shows in the benchmark); it yields the item at most once.
    #[inline]
    pub(crate) fn submit(&'static self, mut src: impl Source) {
        let pushed = LANE
            .try_with(|slot| {
                // Busy only if a push re-entered this thread's lane; use the control channel.
                let mut slot = slot.try_borrow_mut().ok()?;
                if !matches!(&*slot, Some((rt, _)) if std::ptr::eq(*rt, self)) {
                    match self.queue.register() {
                        Some(lane) => *slot = Some((self, lane)),
                        None => {
                            drop(src.take());
                            return Some(Pushed::Closed);
                        }
                    }
                }
                let (_, producer) = slot.as_mut()?;
                Some(self.queue.push(producer, &mut src))
            })
            .ok()
            .flatten();
        let pushed = match pushed {
            Some(p) => p,
            None => match src.take() {
                Some(item) => {
                    if self.queue.push_control(Entry { item }) {
                        Pushed::Queued
                    } else {
                        Pushed::Closed
                    }
                }
                None => return,
            },
        };
        match pushed {
            Pushed::Queued => {}
            Pushed::Dropped => {
                self.counters.dropped.fetch_add(1, Ordering::Relaxed);
                if self.queue.first_drop() {
                    warn(
                        "audit queue full: records are being DROPPED (QueueFull::DropAndCount \
                         is configured); see AuditStats::dropped",
                    );
                }
            }
            Pushed::Closed => {
                self.counters.after_shutdown.fetch_add(1, Ordering::Relaxed);
                if self.warned_closed.first() {
                    warn(
                        "an audited call finished after its audit runtime shut down; its record \
                         was not written (see AuditStats::after_shutdown). Keep the AuditGuard \
                         alive until all audited work has finished.",
                    );
                }
            }
        }
    }
}

pub(crate) use crate::diag::warn;

/// The process-wide runtime. Read only when [`GLOBAL_GENERATION`] says it changed, so a plain
/// mutex is enough.
static GLOBAL: Mutex<Option<&'static Shared>> = Mutex::new(None);

fn global() -> Option<&'static Shared> {
    *GLOBAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Bumped on every change of [`GLOBAL`], so threads can cache what they loaded.
static GLOBAL_GENERATION: AtomicU64 = AtomicU64::new(1);

/// Per thread: the thread-local override, and the cached global runtime with the generation it
/// was loaded at, so an audited call reads one atomic and one thread-local, never the mutex.
#[derive(Clone, Copy)]
struct Dispatch {
    local: Option<&'static Shared>,
    generation: u64,
    global: Option<&'static Shared>,
}

thread_local! {
    static DISPATCH: Cell<Dispatch> = const {
        Cell::new(Dispatch { local: None, generation: 0, global: None })
    };
}

/// The runtime audited calls on this thread report to.
#[inline]
pub(crate) fn current() -> Option<&'static Shared> {
    let generation = GLOBAL_GENERATION.load(Ordering::Acquire);
    DISPATCH
        .try_with(|d| {
            let mut cached = d.get();
            if cached.local.is_some() {
                return cached.local;
            }
            if cached.generation != generation {
                cached.global = global();
                cached.generation = generation;
                d.set(cached);
            }
            cached.global
        })
        .unwrap_or_else(|_| global())
}

fn set_global(shared: Option<&'static Shared>) {
    *GLOBAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = shared;
    GLOBAL_GENERATION.fetch_add(1, Ordering::Release);
}

/// Replace this thread's override, returning the previous one.
fn replace_local(shared: Option<&'static Shared>) -> Option<&'static Shared> {
    DISPATCH.with(|d| {
        let mut cur = d.get();
        let previous = std::mem::replace(&mut cur.local, shared);
        d.set(cur);
        previous
    })
}

fn local() -> Option<&'static Shared> {
    DISPATCH.with(|d| d.get().local)
}

/// Whether an audit runtime is installed for the current thread.
pub fn is_installed() -> bool {
    current().is_some()
}

pub(crate) fn warn_not_installed(point: &AuditPoint) {
    if crate::diag::NOT_INSTALLED.first() {
        warn(&format!(
            "auditing is OFF: `{}` ({}:{}) ran but no audit runtime is installed, so no audit \
             record was written. Install one at start-up with \
             `audit_runtime::AuditRuntime::builder()...install()`. (Printed once.)",
            point.name, point.file, point.line
        ));
    }
}

pub(crate) fn note_span_disabled(rt: &Shared) {
    // A disabled span with no subscriber at all is normal; with one, the filter dropped it.
    // Every subscriber's level hint is OFF (in particular: there is none): nothing to say, and
    // this check is one atomic load where the one below is a thread-local lookup.
    if tracing::level_filters::LevelFilter::current() == tracing::level_filters::LevelFilter::OFF {
        return;
    }
    if !tracing::dispatcher::has_been_set() {
        let has_default =
            tracing::dispatcher::get_default(|d| !d.is::<tracing::subscriber::NoSubscriber>());
        if !has_default {
            return;
        }
    }
    rt.counters.filtered_spans.fetch_add(1, Ordering::Relaxed);
    if rt.warned_filtered.first() {
        warn(
            "your tracing subscriber filters out the `audit` target: audit RECORDS ARE STILL \
             WRITTEN, but audit spans will not appear in your traces or OpenTelemetry export. \
             Add `audit=info` to your filter (for example RUST_LOG=warn,audit=info) or give the \
             filter to your fmt layer only.",
        );
    }
}

/// The largest [`AuditBuilder::queue_capacity`]: 2^20 records, a 192 MiB lane per thread.
const MAX_QUEUE_CAPACITY: usize = 1 << 20;

/// A snapshot of the runtime's counters.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuditStats {
    /// Records handed to the queue (calls, started records, follow-ups).
    pub submitted: u64,
    /// Records dropped because the queue was full under [`QueueFull::DropAndCount`].
    pub dropped: u64,
    /// Records not written because the runtime had shut down: calls that finished after it,
    /// plus records of calls that finished while it was shutting down and were accepted into
    /// their thread's lane after the worker took the lanes for the last time (those are in
    /// `submitted` too).
    pub after_shutdown: u64,
    /// Records sealed into the chain (findings included).
    pub sealed: u64,
    /// Records that could not be serialized (never expected; each is reported).
    pub seal_errors: u64,
    /// Rationale or lineage notes made where no audited call could take them.
    pub orphan_notes: u64,
    /// Audited calls whose span a subscriber filtered out (records still written).
    pub filtered_spans: u64,
    /// Calls that returned a future the audit cannot follow (records say `unobserved`; each
    /// point is also reported once on stderr).
    pub unobserved_futures: u64,
    /// Records in which a redaction path rule matched nothing (each rule is also reported once
    /// on stderr).
    pub redaction_unmatched_paths: u64,
    /// Values erased because a redaction rule could not be applied as written, plus records
    /// scrubbed whole because the redactor failed (fail closed).
    pub redaction_fail_closed: u64,
    /// Per exporter.
    pub exporters: Vec<ExporterStats>,
    /// The fallback exporter, when configured.
    pub fallback: Option<ExporterStats>,
}

/// Counters of one exporter.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExporterStats {
    /// Its name.
    pub name: String,
    /// Records it accepted and has not since dead-lettered (for an exporter that delivers
    /// later, such as OTLP: delivered, or still on their way in memory or its spill file).
    pub exported: u64,
    /// Records it accepted and then could not deliver for good (a collector's permanent
    /// refusal): kept in its dead-letter file or counted there as lost, never in `exported`.
    pub dead_lettered: u64,
    /// Records it failed to take after every retry.
    pub failed: u64,
    /// Retries made.
    pub retries: u64,
    /// Records handed to the fallback exporter after it failed.
    pub fell_back: u64,
}

impl ExporterCounters {
    fn snapshot(&self) -> ExporterStats {
        let dead_lettered = self.delivery.as_ref().map_or(0, |d| d.dead_lettered());
        ExporterStats {
            name: self.name.clone(),
            // The exporter counts only records this runtime handed it; a snapshot may read
            // the two counters a moment apart, hence the saturation.
            exported: self
                .exported
                .load(Ordering::Relaxed)
                .saturating_sub(dead_lettered),
            dead_lettered,
            failed: self.failed.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            fell_back: self.fell_back.load(Ordering::Relaxed),
        }
    }
}

impl Shared {
    fn stats(&self) -> AuditStats {
        let c = &self.counters;
        AuditStats {
            submitted: self.queue.submitted() + c.dropped.load(Ordering::Relaxed),
            dropped: c.dropped.load(Ordering::Relaxed),
            after_shutdown: c.after_shutdown.load(Ordering::Relaxed) + self.queue.stranded(),
            sealed: c.sealed.load(Ordering::Relaxed),
            seal_errors: c.seal_errors.load(Ordering::Relaxed),
            orphan_notes: c.orphan_notes.load(Ordering::Relaxed),
            redaction_unmatched_paths: self.redaction.unmatched_paths(),
            redaction_fail_closed: self.redaction.fail_closed(),
            filtered_spans: c.filtered_spans.load(Ordering::Relaxed),
            unobserved_futures: c.unobserved_futures.load(Ordering::Relaxed),
            exporters: self.exporters.iter().map(|e| e.snapshot()).collect(),
            fallback: self.fallback.as_ref().map(|e| e.snapshot()),
        }
    }
}

/// A configuration or installation error. Each names the setting at fault.
#[derive(Debug)]
pub enum InstallError {
    /// A setting has an invalid value.
    InvalidSetting {
        /// The setting (`queue_capacity`, `AUDIT_DIGEST_KEY`, ...).
        setting: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A global runtime is already installed.
    AlreadyInstalled,
    /// The digest key could not be loaded.
    DigestKey(KeyError),
    /// The worker thread could not be started.
    Spawn(std::io::Error),
    /// The redaction rule set could not be loaded or compiled; the error names the rule.
    Redaction(crate::redact::ConfigError),
}

impl fmt::Display for InstallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InstallError::InvalidSetting { setting, reason } => {
                write!(f, "invalid audit setting `{setting}`: {reason}")
            }
            InstallError::AlreadyInstalled => f.write_str(
                "an audit runtime is already installed globally; drop its AuditGuard first or \
                 use install_thread_local()",
            ),
            InstallError::DigestKey(e) => write!(f, "audit digest key: {e}"),
            InstallError::Spawn(e) => write!(f, "cannot start the audit worker thread: {e}"),
            InstallError::Redaction(e) => write!(f, "audit redaction rules: {e}"),
        }
    }
}

impl std::error::Error for InstallError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            InstallError::DigestKey(e) => Some(e),
            InstallError::Spawn(e) => Some(e),
            InstallError::Redaction(e) => Some(e),
            _ => None,
        }
    }
}

/// Entry point: `AuditRuntime::builder()`.
#[derive(Debug)]
pub struct AuditRuntime;

impl AuditRuntime {
    /// A builder with the defaults: up to 4096 records waiting per producing thread, blocking
    /// when full, batches of up to
    /// 512, three retries with backoff, digest key from the environment (or ephemeral), service
    /// name from `AUDIT_SERVICE_NAME`, `OTEL_SERVICE_NAME` or the executable name.
    pub fn builder() -> AuditBuilder {
        AuditBuilder::default()
    }
}

/// How the digest key is chosen.
enum KeySetting {
    FromEnvOrEphemeral,
    Key(DigestKey),
}

/// Configuration of an audit runtime.
pub struct AuditBuilder {
    service: Option<String>,
    service_version: Option<String>,
    code_version: Option<String>,
    exporters: Vec<Box<dyn Exporter>>,
    fallback: Option<Box<dyn Exporter>>,
    queue_capacity: usize,
    batch_max: usize,
    seal_threads: usize,
    on_full: QueueFull,
    started: StartedRecords,
    key: KeySetting,
    retry: RetryPolicy,
    redactor: Option<Box<dyn Redactor>>,
    redaction: RedactionConfig,
    #[cfg(feature = "config-file")]
    redaction_file: Option<std::path::PathBuf>,
}

impl fmt::Debug for AuditBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditBuilder")
            .field("service", &self.service)
            .field(
                "exporters",
                &self
                    .exporters
                    .iter()
                    .map(|e| e.name().to_owned())
                    .collect::<Vec<_>>(),
            )
            .field("queue_capacity", &self.queue_capacity)
            .field("on_full", &self.on_full)
            .finish_non_exhaustive()
    }
}

impl Default for AuditBuilder {
    fn default() -> Self {
        AuditBuilder {
            service: None,
            service_version: None,
            code_version: None,
            exporters: Vec::new(),
            fallback: None,
            queue_capacity: 4096,
            batch_max: 512,
            seal_threads: 1,
            on_full: QueueFull::Block,
            started: StartedRecords::PerPoint,
            key: KeySetting::FromEnvOrEphemeral,
            retry: RetryPolicy::default(),
            redactor: None,
            redaction: RedactionConfig::default(),
            #[cfg(feature = "config-file")]
            redaction_file: None,
        }
    }
}

impl AuditBuilder {
    /// The service name written in every record.
    pub fn service(mut self, name: impl Into<String>) -> Self {
        self.service = Some(name.into());
        self
    }

    /// The service version written in every record.
    pub fn service_version(mut self, version: impl Into<String>) -> Self {
        self.service_version = Some(version.into());
        self
    }

    /// A build identifier (git commit, image digest) appended to each record's `code_version`.
    /// Defaults to `AUDIT_CODE_VERSION` when set.
    pub fn code_version(mut self, version: impl Into<String>) -> Self {
        self.code_version = Some(version.into());
        self
    }

    /// Add an exporter; records fan out to every exporter in order.
    pub fn exporter(mut self, exporter: impl Exporter) -> Self {
        self.exporters.push(Box::new(exporter));
        self
    }

    /// Where a batch goes when an exporter still fails after its retries (for example a local
    /// file when the network exporter is down).
    ///
    /// The fallback receives each failed batch exactly once, however many exporters failed it,
    /// and only those batches: its records are the same sealed records of the same chain, in
    /// `seq` order, usually not from `seq` 0 and with gaps where the exporters took everything.
    /// `audit_exporters::file::FileExporter` accepts that and writes each gap as an explicit,
    /// checkpoint-covered gap line that its verifier reports (`docs/FILE-FORMAT.md`, format 2);
    /// an exporter that needs the whole chain cannot be a fallback.
    pub fn fallback(mut self, exporter: impl Exporter) -> Self {
        self.fallback = Some(Box::new(exporter));
        self
    }

    /// Records that may wait per producing thread before that thread waits (or its records
    /// drop, see [`Self::on_full`]); 1 to 1,048,576, default 4,096. Each thread that makes
    /// audited calls has its own lane: a ring of this many slots rounded up to a power of two,
    /// 192 bytes each, reserved when the thread first submits (768 KiB at the default). Memory
    /// backs only the slots the ring has used: a thread whose records the worker keeps up with
    /// reuses the first few dozen slots (~12 KiB), but one that keeps records waiting under
    /// sustained load walks the whole ring and keeps it resident until it exits. With many
    /// threads making audited calls under sustained load, lower this.
    pub fn queue_capacity(mut self, capacity: usize) -> Self {
        self.queue_capacity = capacity;
        self
    }

    /// The most records handed to an exporter in one batch.
    pub fn batch_max(mut self, batch: usize) -> Self {
        self.batch_max = batch;
        self
    }

    /// Threads the pipeline worker uses to serialize a batch of records when there is work (at
    /// least 64 records waiting): records are serialized in parallel and then linked and hashed
    /// in order, so the chain is the same byte for byte (default 1: each record is sealed as it
    /// is assembled). Measured in `docs/BENCHMARKS.md`, "Sealing on more than one thread". 0
    /// means one per core.
    pub fn seal_threads(mut self, threads: usize) -> Self {
        self.seal_threads = if threads == 0 {
            std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
        } else {
            threads
        };
        self
    }

    /// What callers do when the queue is full.
    pub fn on_full(mut self, policy: QueueFull) -> Self {
        self.on_full = policy;
        self
    }

    /// Which calls write `started` records.
    pub fn started_records(mut self, policy: StartedRecords) -> Self {
        self.started = policy;
        self
    }

    /// Use this key for input digests instead of the environment's.
    pub fn digest_key(mut self, key: DigestKey) -> Self {
        self.key = KeySetting::Key(key);
        self
    }

    /// Retries of a failing exporter: attempts after the first, and the first backoff (doubled
    /// each time, with full jitter: retry n waits between first/2 and first × 2ⁿ, at most 5 s;
    /// see [`crate::backoff`]).
    pub fn retries(mut self, attempts: u32, first_backoff: Duration) -> Self {
        self.retry = RetryPolicy {
            attempts,
            first_backoff,
        };
        self
    }

    /// Replace the built-in redaction engine by your own redactor, applied to every record
    /// before it is hashed and exported. It then owns the whole job: the built-in detectors,
    /// [`Self::redaction`] and the attribute's `redact(..)` rules do not run.
    pub fn redactor(mut self, redactor: impl Redactor) -> Self {
        self.redactor = Some(Box::new(redactor));
        self
    }

    /// The runtime redaction rule set (default: the built-in detectors with their default
    /// actions). The attribute's `redact(..)` rules always apply as well.
    pub fn redaction(mut self, config: RedactionConfig) -> Self {
        self.redaction = config;
        self
    }

    /// A TOML redaction rule set file (see `docs/REDACTION.md`), layered on top of
    /// [`Self::redaction`]. Read when the runtime is installed: an unreadable file, an invalid
    /// pattern or an unknown action makes installation fail with a message naming the rule.
    /// Defaults to `AUDIT_REDACTION_CONFIG` when that is set.
    ///
    /// Needs the `config-file` feature (on by default). Without it this method does not exist,
    /// and installation fails if `AUDIT_REDACTION_CONFIG` is set, rather than run without the
    /// rules that file asks for.
    #[cfg(feature = "config-file")]
    #[cfg_attr(docsrs, doc(cfg(feature = "config-file")))]
    pub fn redaction_config_file(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.redaction_file = Some(path.into());
        self
    }

    /// Switch the built-in PII and secret detectors off. This is visible: installation warns,
    /// and every record says `redactions.detectors_disabled: true`. Path rules and your own
    /// detectors still apply.
    pub fn without_default_detectors(mut self) -> Self {
        self.redaction = self.redaction.without_default_detectors();
        self
    }

    fn build_redactor(&mut self) -> Result<Box<dyn Redactor>, InstallError> {
        if let Some(custom) = self.redactor.take() {
            return Ok(custom);
        }
        let config = std::mem::take(&mut self.redaction);
        #[cfg(feature = "config-file")]
        let config = match self
            .redaction_file
            .take()
            .or_else(|| std::env::var_os("AUDIT_REDACTION_CONFIG").map(Into::into))
        {
            Some(path) => config
                .merge(RedactionConfig::from_toml_file(&path).map_err(InstallError::Redaction)?),
            None => config,
        };
        #[cfg(not(feature = "config-file"))]
        if let Some(path) = std::env::var_os("AUDIT_REDACTION_CONFIG") {
            // The operator asked for more redaction rules; running without them could export
            // data they meant to redact, so refuse instead of ignoring the variable.
            return Err(InstallError::Redaction(crate::redact::ConfigError::Parse {
                origin: format!(
                    "AUDIT_REDACTION_CONFIG={}",
                    std::path::Path::new(&path).display()
                ),
                message: "this build of audit-runtime cannot read redaction config files: \
                          enable its `config-file` feature (on by default), or unset \
                          AUDIT_REDACTION_CONFIG"
                    .to_owned(),
            }));
        }
        let engine = RedactionEngine::new(&config).map_err(InstallError::Redaction)?;
        if engine.detectors_disabled() {
            warn(
                "the built-in redaction detectors (PII and secrets) are OFF by configuration; \
                 every record says `detectors_disabled: true`",
            );
        }
        Ok(Box::new(engine))
    }

    fn validate(&self) -> Result<(), InstallError> {
        if self.queue_capacity == 0 || self.queue_capacity > MAX_QUEUE_CAPACITY {
            return Err(InstallError::InvalidSetting {
                setting: "queue_capacity",
                reason: format!(
                    "must be between 1 and {MAX_QUEUE_CAPACITY} (records per producing thread; \
                     each thread's lane reserves 192 bytes per record), not {}",
                    self.queue_capacity
                ),
            });
        }
        if self.batch_max == 0 {
            return Err(InstallError::InvalidSetting {
                setting: "batch_max",
                reason: "must be at least 1".into(),
            });
        }
        if self.exporters.is_empty() {
            return Err(InstallError::InvalidSetting {
                setting: "exporter",
                reason: "no exporter configured: records would go nowhere; add at least one \
                         with .exporter(..)"
                    .into(),
            });
        }
        if let Some(s) = &self.service
            && s.trim().is_empty()
        {
            return Err(InstallError::InvalidSetting {
                setting: "service",
                reason: "must not be empty".into(),
            });
        }
        Ok(())
    }

    fn build(mut self) -> Result<(&'static Shared, JoinHandle<()>), InstallError> {
        self.validate()?;
        let redactor = self.build_redactor()?;
        let redaction = Arc::new(RedactionCounters::default());
        let key = match self.key {
            KeySetting::Key(k) => k,
            KeySetting::FromEnvOrEphemeral => match DigestKey::from_env() {
                Ok(Some(k)) => k,
                Ok(None) => {
                    warn(
                        "no digest key configured (AUDIT_DIGEST_KEY or AUDIT_DIGEST_KEY_FILE): \
                         input digests use a random per-process key and compare only within \
                         this run",
                    );
                    DigestKey::ephemeral()
                }
                Err(e) => return Err(InstallError::DigestKey(e)),
            },
        };
        let service = match self.service {
            Some(s) => s,
            None => env_service_name()?,
        };
        let code_version = self
            .code_version
            .or_else(|| std::env::var("AUDIT_CODE_VERSION").ok());
        let instance = RecordId::now();
        crate::clock::init();
        let (queue, rx) = Queue::new(self.queue_capacity, self.on_full);
        let exporters: Vec<ExporterSlot> =
            self.exporters.into_iter().map(ExporterSlot::new).collect();
        let fallback = self.fallback.map(ExporterSlot::new);
        let shared: &'static Shared = Box::leak(Box::new(Shared {
            queue,
            started_policy: self.started,
            counters: Counters::default(),
            exporters: exporters.iter().map(|e| e.counters.clone()).collect(),
            fallback: fallback.as_ref().map(|e| e.counters.clone()),
            warned_closed: WarnOnce::new(),
            warned_filtered: WarnOnce::new(),
            instance,
            redaction: redaction.clone(),
            service: Arc::from(service.as_str()),
        }));
        let worker = Worker::new(
            shared,
            worker::Assembler::new(
                crate::record::ServiceInfo {
                    name: service,
                    version: self.service_version,
                    instance,
                },
                key,
                code_version,
                redactor,
                redaction,
            ),
            exporters,
            fallback,
            self.batch_max,
            self.retry,
            self.seal_threads,
        );
        let handle = std::thread::Builder::new()
            .name("audit-worker".into())
            .spawn(move || worker.run(&rx))
            .map_err(InstallError::Spawn)?;
        shared.queue.set_worker(handle.thread().clone());
        Ok((shared, handle))
    }

    /// Install as the process-wide runtime. Fails if one is installed already.
    pub fn install(self) -> Result<AuditGuard, InstallError> {
        static INSTALL_LOCK: Mutex<()> = Mutex::new(());
        let _lock = INSTALL_LOCK
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if global().is_some() {
            return Err(InstallError::AlreadyInstalled);
        }
        let (shared, handle) = self.build()?;
        set_global(Some(shared));
        Ok(AuditGuard {
            shared,
            worker: Some(handle),
            scope: Scope::Global,
            shut: false,
        })
    }

    /// Install for the current thread only (overriding any global runtime), until the guard is
    /// dropped. Meant for tests: `#[tokio::test]` runs on one thread, so records of audited calls
    /// in it reach this runtime and no other test's.
    pub fn install_thread_local(self) -> Result<AuditGuard, InstallError> {
        let (shared, handle) = self.build()?;
        let previous = replace_local(Some(shared));
        Ok(AuditGuard {
            shared,
            worker: Some(handle),
            scope: Scope::Local(previous),
            shut: false,
        })
    }
}

fn env_service_name() -> Result<String, InstallError> {
    for var in ["AUDIT_SERVICE_NAME", "OTEL_SERVICE_NAME"] {
        if let Ok(v) = std::env::var(var) {
            if v.trim().is_empty() {
                return Err(InstallError::InvalidSetting {
                    setting: if var == "AUDIT_SERVICE_NAME" {
                        "AUDIT_SERVICE_NAME"
                    } else {
                        "OTEL_SERVICE_NAME"
                    },
                    reason: "is set but empty".into(),
                });
            }
            return Ok(v);
        }
    }
    Ok(std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "unknown-service".to_owned()))
}

#[derive(Debug)]
enum Scope {
    Global,
    Local(Option<&'static Shared>),
}

/// Keeps the runtime alive. Dropping it uninstalls the runtime, flushes every exporter and stops
/// the worker.
#[derive(Debug)]
#[must_use = "dropping the guard shuts auditing down immediately"]
pub struct AuditGuard {
    shared: &'static Shared,
    worker: Option<JoinHandle<()>>,
    scope: Scope,
    shut: bool,
}

/// The worker stopped before it could acknowledge (it panicked or was shut down).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerGone;

impl fmt::Display for WorkerGone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the audit worker is not running")
    }
}

impl std::error::Error for WorkerGone {}

impl AuditGuard {
    /// Wait until every record submitted before this call has been exported and every exporter
    /// flushed.
    pub fn flush(&self) -> Result<(), WorkerGone> {
        let (ack_tx, ack_rx) = mpsc::sync_channel(1);
        if !self.shared.queue.send(Control::Flush(ack_tx)) {
            return Err(WorkerGone);
        }
        ack_rx.recv().map_err(|_| WorkerGone)
    }

    /// The runtime's counters.
    pub fn stats(&self) -> AuditStats {
        self.shared.stats()
    }

    /// The process instance id: the name of this runtime's chain.
    pub fn instance_id(&self) -> RecordId {
        self.shared.instance
    }

    /// Shut down now and return the final counters.
    pub fn shutdown(mut self) -> AuditStats {
        self.do_shutdown();
        self.shared.stats()
    }

    fn do_shutdown(&mut self) {
        if self.shut {
            return;
        }
        self.shut = true;
        match self.scope {
            Scope::Global => {
                if global().is_some_and(|s| std::ptr::eq(s, self.shared)) {
                    set_global(None);
                }
            }
            Scope::Local(previous) => {
                if local().is_some_and(|s| std::ptr::eq(s, self.shared)) {
                    replace_local(previous);
                }
            }
        }
        let (ack_tx, ack_rx) = mpsc::sync_channel(1);
        if self.shared.queue.send(Control::Shutdown(ack_tx)) {
            let _ = ack_rx.recv();
        }
        if let Some(h) = self.worker.take()
            && h.join().is_err()
        {
            warn("the audit worker panicked; some records may not have been exported");
        }
    }
}

impl Drop for AuditGuard {
    fn drop(&mut self) {
        self.do_shutdown();
    }
}

/// Submit a follow-up record to the current runtime.
pub(crate) fn submit_follow(f: FollowUp) -> Result<(), crate::followup::AuditOff> {
    let rt = current().ok_or(crate::followup::AuditOff)?;
    let mut item = Some(Item::Follow(Box::new(f)));
    rt.submit(|| item.take());
    Ok(())
}

/// Count a note made where no audited call could take it.
pub(crate) fn orphan_note(what: &str) {
    if let Some(rt) = current() {
        let n = rt.counters.orphan_notes.fetch_add(1, Ordering::Relaxed);
        if n == 0 {
            warn(&format!(
                "`{what}` was called outside an audited function's own task or thread; the note \
                 is not in any record (counted in AuditStats::orphan_notes)"
            ));
        }
    }
}
