//! Shared helpers for the integration tests.

use audit_exporters::MemoryExporter;
use audit_runtime::{AuditGuard, AuditRuntime};

/// A thread-local runtime feeding a memory exporter, with a fixed digest key.
pub fn local_runtime() -> (AuditGuard, MemoryExporter) {
    let mem = MemoryExporter::new();
    let guard = AuditRuntime::builder()
        .service("audit-tests")
        .digest_key(audit_runtime::digest::DigestKey::from_bytes([7; 32]))
        .exporter(mem.clone())
        .install_thread_local()
        .expect("install");
    (guard, mem)
}
