//! Exporters for audit records.
//!
//! * [`StdoutExporter`]: development output, JSON lines or a readable summary.
//! * [`MemoryExporter`]: keeps records in memory, with assertion helpers for tests.
//! * [`FileExporter`]: the tamper-evident file log (see [`file`](mod@file)); feature `file`, on
//!   by default.
//! * `otlp` (features `otlp`, `otlp-grpc`, `otlp-tls`): records as OpenTelemetry logs and spans
//!   to any OTLP collector, with spilling to disk during outages.
//! * [`investigate`]: the `audit` command's library: queries, trees, timelines, statistics and
//!   evidence bundles over a file log, verified as read.
//! * [`witness`]: a C2SP tlog-witness (server, client, cosignatures) that anchors signed
//!   checkpoints against truncation and forks (feature `file`).
//!
//! # Features
//!
//! * `file` (default): the file log and witnesses; brings Ed25519, SHA-256 and BLAKE3.
//!   `default-features = false` leaves the stdout, memory and OTLP exporters, for services that
//!   export elsewhere (see `docs/BENCHMARKS.md`, "Build cost").
//! * `otlp`, `otlp-grpc`, `otlp-tls`, `otlp-receiver`, `opentelemetry`: see `docs/OTLP.md`.

#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "file")]
#[cfg_attr(docsrs, doc(cfg(feature = "file")))]
pub mod file;
#[cfg(feature = "file")]
#[cfg_attr(docsrs, doc(cfg(feature = "file")))]
pub mod investigate;
mod memory;
mod stdout;
#[cfg(feature = "file")]
#[cfg_attr(docsrs, doc(cfg(feature = "file")))]
pub mod witness;

#[cfg(feature = "otlp")]
pub mod otlp;

#[cfg(feature = "file")]
#[cfg_attr(docsrs, doc(cfg(feature = "file")))]
pub use file::{FileExporter, FsyncPolicy};
pub use memory::{MemoryExporter, RecordAssert, RecordQuery};
pub use stdout::StdoutExporter;
