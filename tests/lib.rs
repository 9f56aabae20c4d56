//! Shared helpers for the integration tests.

// Every `rust` block of the README compiles and runs as written.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
mod readme {}

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

/// An audited function in a library crate, so tests can check that a binary's registry lists the
/// audit points of every crate it links (`inventory` sees only linked crates).
#[audit_runtime::audited_tool(name = "lib.helper", side_effect = none)]
pub fn lib_helper(x: u8) -> u8 {
    x.wrapping_add(1)
}

// The record schema registry and the compatibility checker (`docs/SCHEMA-EVOLUTION.md`).
pub mod compat;
