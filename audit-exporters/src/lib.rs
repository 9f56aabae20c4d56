//! Exporters for audit records.
//!
//! * [`StdoutExporter`]: development output, JSON lines or a readable summary.
//! * [`MemoryExporter`]: keeps records in memory, with assertion helpers for tests.

mod memory;
mod stdout;

pub use memory::{MemoryExporter, RecordAssert, RecordQuery};
pub use stdout::StdoutExporter;
