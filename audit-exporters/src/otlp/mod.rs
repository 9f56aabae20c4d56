//! OTLP exporter: audit records to any OpenTelemetry collector, over gRPC or HTTP/protobuf.
//!
//! Completed audited calls become spans carrying the OTel GenAI semantic conventions (v1.41.0)
//! and `audit.*` attributes; event-like records (`started`, outcomes, human actions, lineage,
//! findings) become log records whose body is the exact hash-chained line. `docs/OTLP.md` has
//! the mapping table, the transports, the environment variables and the delivery guarantees.
//!
//! ```no_run
//! use audit_exporters::otlp::{OtlpConfig, OtlpExporter};
//! use audit_runtime::AuditRuntime;
//! // OTEL_EXPORTER_OTLP_ENDPOINT, _PROTOCOL, _HEADERS, OTEL_SERVICE_NAME, ... are honoured.
//! let otlp = OtlpExporter::new(OtlpConfig::from_env().spill_dir("/var/lib/agent/otlp-spill"))?;
//! let monitor = otlp.monitor();
//! let _audit = AuditRuntime::builder().service("loan-agent").exporter(otlp).install()?;
//! // ... later: monitor.stats().sent_spans, .dead_lettered, .pending, ...
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Architecture Invariant: the OpenTelemetry SDK's batch processor is not used. It drops spans
//! once its queue is full; here a full queue spills to disk and a full disk is an error the
//! pipeline sees (and hands to its fallback exporter), so no record disappears silently.
//!
//! Architecture Invariant: [`Exporter::export`] never waits on the network. A background sender
//! thread owns the transports; `export` only moves records into memory or the spill file, and
//! `flush` waits at most `flush_timeout` before it makes what is left durable in the spill file.

mod config;
mod delivery;
pub mod mapping;
#[cfg(feature = "otlp-receiver")]
pub mod receiver;
mod spill;
pub mod transport;

use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;

use audit_runtime::chain::SealedRecord;
use audit_runtime::export::{ExportError, Exporter};

pub use config::{
    Compression, Endpoint, OtlpConfig, OtlpConfigError, Protocol, Signal, SignalConfig,
};
pub use delivery::OtlpStats;
pub use spill::{Recovered, SpillError};

use delivery::{Sender, Shared, Tuning};

/// Why an [`OtlpExporter`] could not be built.
#[derive(Debug)]
pub enum OtlpError {
    /// A setting is invalid; the error names it.
    Config(OtlpConfigError),
    /// The spill directory cannot be used.
    Spill(SpillError),
    /// A transport could not be set up.
    Transport(String),
    /// The sender thread could not be started.
    Spawn(std::io::Error),
}

impl std::fmt::Display for OtlpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OtlpError::Config(e) => e.fmt(f),
            OtlpError::Spill(e) => write!(f, "OTLP spill file: {e}"),
            OtlpError::Transport(e) => write!(f, "OTLP transport: {e}"),
            OtlpError::Spawn(e) => write!(f, "cannot start the OTLP sender thread: {e}"),
        }
    }
}

impl std::error::Error for OtlpError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            OtlpError::Config(e) => Some(e),
            OtlpError::Spill(e) => Some(e),
            OtlpError::Spawn(e) => Some(e),
            OtlpError::Transport(_) => None,
        }
    }
}

impl From<OtlpConfigError> for OtlpError {
    fn from(e: OtlpConfigError) -> Self {
        OtlpError::Config(e)
    }
}

/// The spill directory when none is configured: `AUDIT_OTLP_SPILL_DIR`, else `./audit-otlp-spill`.
fn default_spill_dir() -> PathBuf {
    std::env::var_os("AUDIT_OTLP_SPILL_DIR")
        .map_or_else(|| PathBuf::from("audit-otlp-spill"), PathBuf::from)
}

/// Sends sealed audit records to an OpenTelemetry collector. See the [module docs](self).
#[derive(Debug)]
pub struct OtlpExporter {
    shared: Arc<Shared>,
    sender: Option<JoinHandle<()>>,
    name: String,
    recovered: Recovered,
}

/// A handle that reads an [`OtlpExporter`]'s counters after the exporter was handed to the
/// runtime.
#[derive(Debug, Clone)]
pub struct OtlpMonitor(Arc<Shared>);

impl OtlpMonitor {
    /// A snapshot of the counters.
    pub fn stats(&self) -> OtlpStats {
        self.0.stats()
    }
}

impl OtlpExporter {
    /// Validate `config`, open (and lock) the spill directory, set up the transports and start
    /// the sender thread. Records left in the spill file by an earlier process are sent first.
    pub fn new(config: OtlpConfig) -> Result<Self, OtlpError> {
        let resolved = config.resolve()?;
        let spill_dir = config.spill_dir.clone().unwrap_or_else(default_spill_dir);
        let (spill, recovered) =
            spill::Spill::open(&spill_dir, config.spill_max_bytes).map_err(OtlpError::Spill)?;
        let traces =
            transport::build(Signal::Traces, &resolved.traces).map_err(OtlpError::Transport)?;
        let logs = transport::build(Signal::Logs, &resolved.logs).map_err(OtlpError::Transport)?;
        let name = match (resolved.traces.protocol, resolved.logs.protocol) {
            (Protocol::Grpc, Protocol::Grpc) => "otlp-grpc",
            (Protocol::HttpProtobuf, Protocol::HttpProtobuf) => "otlp-http",
            _ => "otlp",
        }
        .to_owned();
        let tuning = Tuning {
            batch_max: config.batch_max,
            batch_delay: config.batch_delay,
            memory_capacity: config.memory_capacity,
            spill_after: config.spill_after,
            first_backoff: config.first_backoff,
            max_backoff: config.max_backoff,
            flush_timeout: config.flush_timeout,
        };
        let shared = Arc::new(Shared::new(spill, tuning));
        let resource = mapping::ResourceConfig {
            service_name: resolved.service_name,
            attributes: resolved.resource,
        };
        let sender = Sender::new(Arc::clone(&shared), traces, logs, resource);
        let handle = std::thread::Builder::new()
            .name("audit-otlp".into())
            .spawn(move || sender.run())
            .map_err(OtlpError::Spawn)?;
        if recovered.pending_lines > 0 {
            eprintln!(
                "audit-otlp: {} record(s) left in the spill file {} by an earlier run will be \
                 sent first",
                recovered.pending_lines,
                spill_dir.display()
            );
        }
        Ok(OtlpExporter {
            shared,
            sender: Some(handle),
            name,
            recovered,
        })
    }

    /// [`OtlpExporter::new`] with [`OtlpConfig::from_env`].
    pub fn from_env() -> Result<Self, OtlpError> {
        Self::new(OtlpConfig::from_env())
    }

    /// A handle for reading the counters later.
    pub fn monitor(&self) -> OtlpMonitor {
        OtlpMonitor(Arc::clone(&self.shared))
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> OtlpStats {
        self.shared.stats()
    }

    /// What opening the spill directory found (records left by an earlier run, a torn tail).
    pub fn recovered(&self) -> &Recovered {
        &self.recovered
    }

    fn stop_sender(&mut self) {
        self.shared.stop();
        if let Some(h) = self.sender.take()
            && h.join().is_err()
        {
            eprintln!("audit-otlp: the sender thread panicked");
        }
    }
}

impl Exporter for OtlpExporter {
    fn name(&self) -> &str {
        &self.name
    }

    fn export(&mut self, batch: &[SealedRecord]) -> Result<(), ExportError> {
        if self.sender.is_none() {
            return Err(ExportError::permanent("the OTLP exporter was shut down"));
        }
        self.shared.enqueue(batch).map_err(|e| {
            ExportError::transient("OTLP exporter cannot queue records").with_source(e)
        })
    }

    fn flush(&mut self) -> Result<(), ExportError> {
        self.shared
            .flush()
            .map_err(|e| ExportError::transient("OTLP flush could not spill").with_source(e))
    }

    fn shutdown(&mut self) -> Result<(), ExportError> {
        let flushed = self.flush();
        self.stop_sender();
        let (left, path) = self.shared.spill_left();
        if left > 0 {
            eprintln!(
                "audit-otlp: {left} record(s) could not be delivered before shutdown; they are \
                 kept in {} and will be sent by the next exporter that uses this spill directory",
                path.display()
            );
        }
        flushed
    }
}

impl Drop for OtlpExporter {
    fn drop(&mut self) {
        if self.sender.is_some() {
            let _ = self.shared.flush();
            self.stop_sender();
        }
    }
}
