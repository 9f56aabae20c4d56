//! Write an audit trail into a signed file log, then verify it offline.
//!
//! ```text
//! cargo run -p audit-exporters --example file_log -- /tmp/audit-demo
//! cargo xtask verify /tmp/audit-demo --key /tmp/audit-demo.vkey
//! ```

use audit_exporters::file::{FileExporter, FsyncPolicy, NoteSigner, VerifyOptions, verify_dir};
use audit_runtime::{AuditRuntime, audited_decision, audited_tool};

#[audited_tool(name = "credit.lookup", capture(customer))]
fn credit_score(customer: &str) -> u32 {
    600 + (customer.len() as u32 * 17) % 200
}

#[audited_decision(name = "demo.approve", unversioned = "demo rule", capture(customer, amount), output = capture)]
fn approve(customer: &str, amount: u64) -> bool {
    credit_score(customer) > 650 && amount < 20_000
}

fn main() -> anyhow::Result<()> {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "/tmp/audit-demo".into());
    // A real deployment loads its key with `.signing_key_file(..)` or `.signing_key_from_env()`
    // (see `audit-verify keygen`); the demo makes a fresh one and pins its public half.
    let signer = NoteSigner::generate("audit-sdk.example/demo")?;
    let vkey_path = format!("{}.vkey", dir.trim_end_matches('/'));
    std::fs::write(&vkey_path, signer.verifier().to_vkey() + "\n")?;
    let file = FileExporter::builder(&dir)
        .fsync(FsyncPolicy::EveryBatch)
        .signing_key(signer.clone())
        .open()?;
    let guard = AuditRuntime::builder()
        .service("loan-agent")
        .exporter(file)
        .install()?;
    for (i, customer) in ["ada", "grace", "edsger", "barbara"].iter().enumerate() {
        println!(
            "{customer}: approved = {}",
            approve(customer, 5_000 * (i as u64 + 1))
        );
    }
    drop(guard);
    let summary = verify_dir(
        dir.as_ref(),
        &VerifyOptions::pinned(signer.verifier().clone()),
    )?;
    print!("{summary}");
    println!("verify again with: cargo xtask verify {dir} --key {vkey_path}");
    Ok(())
}
