//! The smallest audited program: one decision, records printed to stdout as JSON lines.
//!
//! It also keeps the generated code honest: this file denies every warning and clippy's pedantic
//! group, so any lint noise from the expansion fails CI.
#![deny(warnings, clippy::pedantic)]
use audit_runtime::{AuditRuntime, audited_decision};

#[audited_decision(unversioned = "fixed threshold, no model", capture(amount), output = capture)]
fn approve(amount: u64) -> bool {
    amount < 10_000
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _audit = AuditRuntime::builder()
        .service("minimal")
        .exporter(audit_exporters::StdoutExporter::json())
        .install()?;
    println!("approved: {}", approve(5_000));
    Ok(())
}
