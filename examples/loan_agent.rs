//! A loan-approval agent, offline and deterministic, that exercises every feature of the SDK:
//!
//! * an agent run (`#[audited_agent]`) with a session id, writing a `started` record;
//! * a planner decision with model, prompt (version and digest from the artifact registry) and
//!   policy versions, rationale from the attribute and signals from the body;
//! * an LLM stand-in (`#[audited_model_call]`), three tools with side-effect classes (a bureau
//!   lookup, a fraud screen that can fail, an irreversible disbursement), a policy check;
//! * captured inputs with redaction rules for personal data, plus the default detectors that
//!   catch what nobody declared (an e-mail address in a free-text note, an API key in a config);
//! * `Err`, `panic` and cancellation outcomes; a human override, a later outcome and lineage as
//!   follow-up records;
//! * a hash-chained, signed file log that is verified at the end, and a registry dump for
//!   `cargo xtask coverage`.
//!
//! ```text
//! cargo run -p examples --example loan_agent -- [LOG_DIR]     (default target/audit-demo)
//! ```
//!
//! Two functions are left as deliberate gaps for the coverage report: `triage_note` decides
//! with the LLM but is not audited, and `notify_customer` is a weak annotation (no side-effect
//! class, a personal-data argument captured without a redaction rule).

use std::time::Duration;

use anyhow::Context as _;
use audit_exporters::StdoutExporter;
use audit_exporters::file::{FileExporter, FsyncPolicy, NoteSigner, VerifyOptions, verify_dir};
use audit_runtime::artifacts::{self, Artifact};
use audit_runtime::digest::DigestKey;
use audit_runtime::point::ArtifactRole;
use audit_runtime::{
    AuditRuntime, HumanAction, HumanActionKind, Rationale, audited_agent, audited_decision,
    audited_model_call, audited_policy_check, audited_tool,
};
use serde::{Deserialize, Serialize};

const PLANNER_PROMPT: &str = "You are a careful loan officer. Given the bureau report and the \
                              fraud screen, answer APPROVE, REVIEW or DECLINE with a reason.";
const LENDING_POLICY: &str = "max_dti=0.45; min_score=640; max_amount=50000";

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Applicant {
    id: String,
    name: String,
    email: String,
    ssn: String,
    income: u64,
    debts: u64,
    note: String,
}

#[derive(Debug, Clone, Serialize)]
struct BureauReport {
    score: u32,
    open_accounts: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
enum Verdict {
    Approve,
    Review,
    Decline,
}

#[derive(Debug)]
enum AgentError {
    FraudScreenUnavailable,
    PolicyViolation(String),
}

impl std::fmt::Display for AgentError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AgentError::FraudScreenUnavailable => f.write_str("fraud screen unavailable"),
            AgentError::PolicyViolation(why) => write!(f, "policy violation: {why}"),
        }
    }
}

impl std::error::Error for AgentError {}

/// The LLM stand-in: deterministic, offline.
struct Llm {
    model: &'static str,
}

impl Llm {
    #[audited_model_call(
        name = "llm.complete",
        model = "loan-llm",
        model_version = "2026-09-q4",
        capture(prompt),
        output = capture
    )]
    async fn complete(&self, prompt: String) -> String {
        tokio::time::sleep(Duration::from_millis(2)).await;
        let score: u32 = prompt
            .split("score=")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        let verdict = if score >= 650 && prompt.contains("fraud=clear") {
            "APPROVE: strong bureau score, low debt-to-income"
        } else if prompt.contains("fraud=clear") {
            "REVIEW: thin file, refer to an officer"
        } else {
            "DECLINE: insufficient evidence"
        };
        format!("[{}] {verdict}", self.model)
    }
}

#[audited_tool(name = "bureau.lookup", capture(applicant_id), output = capture, side_effect = read)]
async fn credit_report(applicant_id: &str) -> Result<BureauReport, AgentError> {
    tokio::time::sleep(Duration::from_millis(1)).await;
    let seed = applicant_id.bytes().map(u32::from).sum::<u32>();
    Ok(BureauReport {
        score: 600 + seed % 250,
        open_accounts: (seed % 7) as u8,
    })
}

#[audited_tool(
    name = "fraud.screen",
    capture(applicant),
    redact(applicant.ssn = hash, applicant.email = mask(4), applicant.name = erase),
    side_effect = read
)]
async fn fraud_screen(applicant: &Applicant) -> Result<bool, AgentError> {
    tokio::time::sleep(Duration::from_millis(1)).await;
    if applicant.id.ends_with('9') {
        return Err(AgentError::FraudScreenUnavailable);
    }
    Ok(!applicant.ssn.starts_with("000"))
}

/// Reads a sanctions list that takes far too long for one applicant: the agent gives up on it
/// (the future is dropped), which the audit log records as `cancelled`.
#[audited_tool(name = "sanctions.check", capture(applicant_id), side_effect = read)]
async fn sanctions_check(applicant_id: &str) -> bool {
    let delay = if applicant_id.ends_with('3') {
        5_000
    } else {
        1
    };
    tokio::time::sleep(Duration::from_millis(delay)).await;
    true
}

#[audited_policy_check(
    name = "lending.policy",
    policy = "lending",
    policy_version = "2026-10",
    capture(amount, dti, score),
    output = capture
)]
fn policy_check(amount: u64, dti: f64, score: u32) -> Result<(), AgentError> {
    audit_runtime::signal("dti", dti);
    if amount > 50_000 {
        return Err(AgentError::PolicyViolation(format!(
            "amount {amount} above 50000"
        )));
    }
    if dti > 0.45 {
        return Err(AgentError::PolicyViolation(format!(
            "dti {dti:.2} above 0.45"
        )));
    }
    if score < 640 {
        return Err(AgentError::PolicyViolation(format!(
            "score {score} below 640"
        )));
    }
    Ok(())
}

/// The decision: combine the evidence and the model's answer into a verdict.
#[audited_decision(
    name = "loan.approve",
    model = "loan-llm",
    model_version = "2026-09-q4",
    prompt = "planner-prompt",
    policy = "lending",
    policy_version = "2026-10",
    capture(applicant, amount),
    redact(applicant.ssn = erase, applicant.email = hash, applicant.name = mask(1)),
    output = capture,
    rationale = |v: &Result<Verdict, AgentError>| match v {
        Ok(Verdict::Approve) => Rationale::new().explain("all checks passed and the model approved"),
        Ok(Verdict::Review) => Rationale::new().explain("checks passed but the model asked for review"),
        Ok(Verdict::Decline) => Rationale::new().explain("the model declined"),
        Err(e) => Rationale::new().explain(format!("no verdict: {e}")),
    }
)]
async fn approve(llm: &Llm, applicant: &Applicant, amount: u64) -> Result<Verdict, AgentError> {
    audit_runtime::lineage("bureau-snapshots", Some("2026-11-01"));
    let report = credit_report(&applicant.id).await?;
    let fraud_clear = fraud_screen(applicant).await?;
    // Give up on slow sanctions lists: the dropped call is recorded as cancelled.
    let sanctions = tokio::time::timeout(Duration::from_millis(50), sanctions_check(&applicant.id))
        .await
        .unwrap_or(false);
    let dti = applicant.debts as f64 / applicant.income.max(1) as f64;
    audit_runtime::signal("bureau_score", report.score);
    audit_runtime::signal("fraud_clear", fraud_clear);
    audit_runtime::signal("sanctions_checked", sanctions);
    policy_check(amount, dti, report.score)?;
    let prompt = format!(
        "{PLANNER_PROMPT}\nscore={} dti={dti:.2} fraud={} note={}",
        report.score,
        if fraud_clear { "clear" } else { "flagged" },
        applicant.note
    );
    let answer = llm.complete(prompt).await;
    audit_runtime::signal("model_answer", &answer);
    Ok(if !fraud_clear || !sanctions {
        Verdict::Review
    } else if answer.contains("APPROVE") {
        Verdict::Approve
    } else if answer.contains("REVIEW") {
        Verdict::Review
    } else {
        Verdict::Decline
    })
}

#[audited_tool(name = "payments.disburse", capture(applicant_id, amount), side_effect = irreversible)]
fn disburse(applicant_id: &str, amount: u64) -> Result<String, AgentError> {
    if amount == 0 {
        panic!("disbursement of zero for {applicant_id}: refusing to move money");
    }
    Ok(format!("txn-{applicant_id}-{amount}"))
}

/// Deliberate coverage gap: decides with the LLM, but nobody annotated it.
async fn triage_note(llm: &Llm, note: &str) -> bool {
    llm.complete(format!("Is this note urgent? {note}"))
        .await
        .contains("APPROVE")
}

/// Deliberate weak annotation: no side-effect class, and a personal-data argument captured with
/// no redaction rule (the default detectors still catch the address at run time).
#[audited_tool(name = "notify.customer", capture(customer_email))]
fn notify_customer(customer_email: &str, verdict: Verdict) -> bool {
    !customer_email.is_empty() && verdict != Verdict::Decline
}

#[audited_agent(name = "loan.agent_run", session = session, capture(session))]
async fn run_agent(
    llm: &Llm,
    session: &str,
    queue: &[(Applicant, u64)],
) -> Vec<audit_runtime::RecordId> {
    let mut approved = Vec::new();
    for (applicant, amount) in queue {
        // The id comes back with the value, from this task's own decision, whatever thread
        // the runtime moved the task to.
        let (verdict, decision) =
            audit_runtime::decision::with_decision_id(approve(llm, applicant, *amount)).await;
        let decision = decision.map(|d| d.id);
        println!("  {} ({amount}): {verdict:?}", applicant.id);
        match verdict {
            Ok(Verdict::Approve) => {
                if let (Ok(_), Some(id)) = (disburse(&applicant.id, *amount), decision) {
                    approved.push(id);
                }
                notify_customer(&applicant.email, Verdict::Approve);
            }
            Ok(Verdict::Review) => {
                // A loan officer overrides the agent and approves with a note.
                if let Some(id) = decision {
                    audit_runtime::record_human_action(
                        id,
                        HumanAction::new(HumanActionKind::Override, "officer-17")
                            .note(format!(
                                "reviewed {}; reach them at {}",
                                applicant.id, applicant.email
                            ))
                            .new_value(Verdict::Approve),
                    )
                    .ok();
                }
            }
            Ok(Verdict::Decline) | Err(_) => {
                let _ = triage_note(llm, &applicant.note).await;
            }
        }
    }
    // A disbursement bug: the panic is recorded, then reaches this caller like any panic.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|info| println!("  (expected) panic: {info}")));
    let caught = std::panic::catch_unwind(|| disburse("app-0000", 0));
    std::panic::set_hook(default_hook);
    println!("  disbursement of zero panicked: {}", caught.is_err());
    approved
}

/// Write a secret readable by its owner only (mode 0600 from creation, never widened).
fn write_secret(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    opts.open(path)?.write_all(bytes)?;
    Ok(())
}

fn applicants() -> Vec<(Applicant, u64)> {
    let a = |id: &str, name: &str, income, debts, note: &str| Applicant {
        id: id.to_owned(),
        name: name.to_owned(),
        email: format!("{}@example.com", name.to_lowercase().replace(' ', ".")),
        ssn: format!("{}-45-6789", &id[4..7]),
        income,
        debts,
        note: note.to_owned(),
    };
    vec![
        (
            a(
                "app-1000",
                "Ada Lovelace",
                120_000,
                20_000,
                "repeat customer",
            ),
            25_000,
        ),
        (
            a(
                "app-1013",
                "Grace Hopper",
                90_000,
                10_000,
                "call me at +1 415 555 0100",
            ),
            15_000,
        ),
        (
            a(
                "app-1029",
                "Edsger Dijkstra",
                60_000,
                5_000,
                "prefers e-mail: edsger@example.org",
            ),
            10_000,
        ),
        (
            a(
                "app-1042",
                "Barbara Liskov",
                50_000,
                40_000,
                "high existing debt",
            ),
            30_000,
        ),
        (
            a(
                "app-1057",
                "Alan Kay",
                80_000,
                8_000,
                "config: api_key=sk_live_51HxYzAbCdEf0123456789",
            ),
            90_000,
        ),
    ]
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "target/audit-demo".into());
    let dir = std::path::PathBuf::from(dir);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("clearing {}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir)?;

    // Deployed artifacts: the prompt's version and digest come from here.
    artifacts::register(Artifact::from_bytes(
        ArtifactRole::Prompt,
        "planner-prompt",
        "v12",
        PLANNER_PROMPT.as_bytes(),
    ));
    artifacts::register(Artifact::from_bytes(
        ArtifactRole::Policy,
        "lending",
        "2026-10",
        LENDING_POLICY.as_bytes(),
    ));
    artifacts::register(Artifact::new(ArtifactRole::Model, "loan-llm", "2026-09-q4"));

    // A real deployment loads its signing key from a 0600 file (`.signing_key_file(..)`); the
    // demo makes one and pins its public half next to the log.
    let signer = NoteSigner::generate("audit-sdk.example/loan-agent")?;
    let vkey_path = dir.join("loan-agent.vkey");
    std::fs::write(&vkey_path, signer.verifier().to_vkey() + "\n")?;
    let log_dir = dir.join("log");
    let file = FileExporter::builder(&log_dir)
        .service("loan-agent")
        .fsync(FsyncPolicy::EveryBatch)
        .signing_key(signer.clone())
        // The latest signed checkpoint, kept outside the log directory: an auditor checks the
        // log against it (`verify --against`), so truncating the log shows.
        .anchor_dir(dir.join("anchor"))
        .open()?;
    // The deployment secret for input digests: 32 random bytes in a file only we can read.
    let key_path = dir.join("digest.key");
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|e| anyhow::anyhow!("no OS randomness: {e}"))?;
    write_secret(&key_path, &key)?;
    let digest_key = DigestKey::from_file(&key_path)?;

    let guard = AuditRuntime::builder()
        .service("loan-agent")
        .digest_key(digest_key)
        .service_version(env!("CARGO_PKG_VERSION"))
        .exporter(file)
        .exporter(StdoutExporter::pretty())
        .install()?;

    println!("loan agent: processing {} applications", applicants().len());
    let llm = Llm { model: "loan-llm" };
    let approved = run_agent(&llm, "session-2026-11-26-0001", &applicants()).await;
    println!("loan agent: {} disbursed", approved.len());

    // A month later: the first approved loan was repaid on time.
    if let Some(first) = approved.first() {
        audit_runtime::record_outcome(
            *first,
            "repayment",
            serde_json::json!({"status": "on_time", "month": 1}),
        )?;
    }
    let stats = guard.shutdown();
    println!(
        "audit: {} records sealed, {} exported to file, {} dropped",
        stats.sealed, stats.exporters[0].exported, stats.dropped
    );

    std::fs::write(
        dir.join("registry.json"),
        audit_runtime::point::registry_json(),
    )?;
    let summary = verify_dir(&log_dir, &VerifyOptions::pinned(signer.verifier().clone()))?;
    print!("{summary}");
    println!(
        "log: {}  key: {}  registry: {}",
        log_dir.display(),
        vkey_path.display(),
        dir.join("registry.json").display()
    );
    Ok(())
}
