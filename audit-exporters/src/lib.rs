//! Exporters for audit records.
//!
//! * [`StdoutExporter`]: development output, JSON lines or a readable summary.
//! * [`MemoryExporter`]: keeps records in memory, with assertion helpers for tests.
//! * [`FileExporter`]: the tamper-evident file log (see [`file`](mod@file)).
//! * `otlp` (features `otlp`, `otlp-grpc`, `otlp-tls`): records as OpenTelemetry logs and spans
//!   to any OTLP collector, with spilling to disk during outages.
//! * [`investigate`]: the `audit` command's library: queries, trees, timelines, statistics and
//!   evidence bundles over a file log, verified as read.
//! * [`witness`]: a C2SP tlog-witness (server, client, cosignatures) that anchors signed
//!   checkpoints against truncation and forks.

#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod file;
pub mod investigate;
mod memory;
mod stdout;
pub mod witness;

#[cfg(feature = "otlp")]
pub mod otlp;

pub use file::{FileExporter, FsyncPolicy};
pub use memory::{MemoryExporter, RecordAssert, RecordQuery};
pub use stdout::StdoutExporter;
