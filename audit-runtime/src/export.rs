//! The exporter seam: where sealed records leave the pipeline.
//!
//! An [`Exporter`] receives batches of [`SealedRecord`]s on the pipeline's worker thread, in
//! chain order. Returning `Ok` from [`Exporter::export`] means the exporter has taken
//! responsibility for the batch under its own durability policy (the file exporter: written and,
//! per its fsync policy, synced; OTLP: accepted by the collector or spilled to disk).
//!
//! Architecture Invariant: an exporter never sees an unredacted record; redaction, digests and
//! the chain are applied before the first exporter is called.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::chain::SealedRecord;

/// Whether retrying may help.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Retrying later may succeed (network down, collector busy, 429/503).
    Transient,
    /// Retrying will not help (bad configuration, a sticky write failure, a rejected payload).
    Permanent,
}

/// An exporter's failure.
#[derive(Debug)]
pub struct ExportError {
    class: ErrorClass,
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl ExportError {
    /// A failure that may succeed when retried.
    pub fn transient(message: impl Into<String>) -> Self {
        ExportError {
            class: ErrorClass::Transient,
            message: message.into(),
            source: None,
        }
    }

    /// A failure retrying will not fix.
    pub fn permanent(message: impl Into<String>) -> Self {
        ExportError {
            class: ErrorClass::Permanent,
            message: message.into(),
            source: None,
        }
    }

    /// Attach the underlying error.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// Whether a retry may help.
    pub fn class(&self) -> ErrorClass {
        self.class
    }
}

impl fmt::Display for ExportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(s) = &self.source {
            write!(f, ": {s}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ExportError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// A destination for sealed audit records.
///
/// Implementations run on the pipeline's worker thread; they may block (that is what the
/// bounded queue is for). A panic inside an exporter is caught and counted as a permanent
/// failure of that batch.
pub trait Exporter: Send + 'static {
    /// A short name for statistics and messages (`file`, `otlp-grpc`, `stdout`).
    fn name(&self) -> &str;

    /// Take a batch of records, in chain order.
    fn export(&mut self, batch: &[SealedRecord]) -> Result<(), ExportError>;

    /// Make everything exported so far durable or delivered.
    fn flush(&mut self) -> Result<(), ExportError> {
        Ok(())
    }

    /// Called by the pipeline worker about once a second while no record arrives, so an
    /// exporter can do timed work without a thread of its own (the file log writes a checkpoint
    /// on a timer while idle, so a silence in the trail shows in its signed times). An error is
    /// warned about, never retried.
    fn idle(&mut self) -> Result<(), ExportError> {
        Ok(())
    }

    /// Flush and release resources; called once, when the runtime shuts down.
    fn shutdown(&mut self) -> Result<(), ExportError> {
        self.flush()
    }

    /// For an exporter that delivers after `export` returned (OTLP): the counters of records it
    /// accepted and later could not deliver. The runtime reads them into
    /// [`crate::install::ExporterStats`], so that such records are not counted as exported.
    /// Called once, at install.
    fn delivery_counters(&self) -> Option<std::sync::Arc<DeliveryCounters>> {
        None
    }
}

/// What became of records an exporter had accepted (`export` returned `Ok`) but delivers later,
/// shared between the exporter and the runtime's statistics.
#[derive(Debug, Default)]
pub struct DeliveryCounters {
    dead_lettered: AtomicU64,
}

impl DeliveryCounters {
    /// `n` records accepted by `export` in this process were refused for good by their
    /// destination (kept in a dead-letter file, or counted as lost there).
    pub fn add_dead_lettered(&self, n: u64) {
        self.dead_lettered.fetch_add(n, Ordering::Relaxed);
    }

    /// Records accepted by `export` and then refused for good.
    pub fn dead_lettered(&self) -> u64 {
        self.dead_lettered.load(Ordering::Relaxed)
    }
}

impl<E: Exporter + ?Sized> Exporter for Box<E> {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn export(&mut self, batch: &[SealedRecord]) -> Result<(), ExportError> {
        (**self).export(batch)
    }
    fn flush(&mut self) -> Result<(), ExportError> {
        (**self).flush()
    }
    fn shutdown(&mut self) -> Result<(), ExportError> {
        (**self).shutdown()
    }
    fn delivery_counters(&self) -> Option<std::sync::Arc<DeliveryCounters>> {
        (**self).delivery_counters()
    }
}
