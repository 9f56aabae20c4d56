//! The tamper-evident file log: hash-chained JSON Lines segments, signed checkpoints, crash
//! recovery and offline verification.
//!
//! A directory holds any number of chains, one per writing process instance:
//!
//! ```text
//! loan-agent.0190f3c1-…-7b2e.000001.jsonl   segment 1: header line, then records
//! loan-agent.0190f3c1-…-7b2e.000002.jsonl   segment 2: header names segment 1's last seq+hash
//! loan-agent.0190f3c1-…-7b2e.ckpt           checkpoint log: one signed checkpoint per line
//! ```
//!
//! * [`FileExporter`] writes (see [`writer`] for the order of durable steps and the sticky
//!   failure rule);
//! * [`recover_dir`] repairs the torn tail a crashed writer left (run by
//!   [`FileExporterBuilder::open`]);
//! * [`verify_dir`] checks a directory offline and names the first bad file and line;
//! * [`note`] signs and verifies checkpoints in the C2SP signed-note format;
//! * [`fs`] is the file-system seam, with in-memory and fault-injecting implementations.
//!
//! The byte-level format is in `docs/FILE-FORMAT.md` and [`format`](mod@format).
//!
//! Architecture Invariant: the chain (`seq`, `prev`, `hash`) is made by the runtime's worker;
//! the file log adds no link of its own to records, it only stores them in order, frames them
//! into segments whose headers repeat the link across files, and attests the head in
//! checkpoints. So the verifier checks records with the runtime's own
//! [`audit_runtime::chain::ChainVerifier`].

use std::fmt;
use std::path::PathBuf;

pub mod cli;
pub mod format;
pub mod fs;
pub mod note;
pub mod proof;
pub mod recover;
pub mod verify;
pub mod writer;

pub use fs::{FaultPlan, Faults, FaultyFs, LogFile, LogFs, MemFs, RealFs};
pub use note::{NoteError, NoteSigner, VerifierKey};
pub use proof::{
    ProofFailure, ProvenRecord, check_consistency_proof, check_record_proof, prove_consistency,
    prove_record,
};
pub use recover::{RecoveryReport, Repair, recover_dir};
pub use verify::{
    ChainSummary, GapInfo, Progress, VerifyError, VerifyOptions, VerifySummary, verify_dir,
    verify_dir_with,
};
pub use writer::{
    DurableCount, FileExporter, FileExporterBuilder, FileFormat, FsyncPolicy, SIGNING_KEY_ENV,
    SIGNING_KEY_FILE_ENV,
};

/// Why the file log could not be opened or written.
#[derive(Debug)]
pub enum FileLogError {
    /// A file operation failed.
    Io {
        /// What was being done (`write`, `fsync`, `create`, ...).
        op: &'static str,
        /// On which file or directory.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The signing key could not be loaded or used.
    Key(String),
    /// A setting is out of range.
    Config(String),
    /// The records handed to the writer do not continue its chain.
    Chain(String),
}

impl fmt::Display for FileLogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileLogError::Io { op, path, source } => {
                if source.kind() == std::io::ErrorKind::StorageFull {
                    write!(f, "disk full: {op} of {} failed: {source}", path.display())
                } else {
                    write!(f, "{op} of {} failed: {source}", path.display())
                }
            }
            FileLogError::Key(why) => write!(f, "checkpoint signing key: {why}"),
            FileLogError::Config(why) => write!(f, "file log setting: {why}"),
            FileLogError::Chain(why) => write!(f, "chain: {why}"),
        }
    }
}

impl std::error::Error for FileLogError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FileLogError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
