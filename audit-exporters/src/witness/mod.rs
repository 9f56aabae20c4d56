//! Witnesses: anchors against truncation and forks of a log (C2SP [`tlog-witness`] and
//! [`tlog-cosignature`]).
//!
//! A log's writer holds its signing key, so it could quietly rewrite its own history: drop
//! the last records and sign a smaller checkpoint, or sign two different trees of one size.
//! A witness is a separate service, with its own key and state, that cosigns a checkpoint only
//! if it extends (by a verified consistency proof) the latest one it cosigned for that log,
//! and persists it before answering. A checkpoint that carries a witness's cosignature then
//! cannot be rolled back or forked without the witness refusing, or without the witness's key.
//!
//! ```text
//! log writer                                              witness (state dir, own key)
//!   checkpoint N+k, signed by the log key
//!   consistency proof N -> N+k            POST /add-checkpoint
//!   (consistency_proof_from_frontier)  ───────────────────────────▶  verify log signature
//!                                                                    old == stored size N?
//!                                                                    verify proof from stored root
//!                                                                    persist (fsync), cosign
//!   append the cosignature line        ◀───────────────────────────  200 — witness.example/w1 <b64>
//! ```
//!
//! * [`Witness`] is the server: [`Witness::add_checkpoint`] is the protocol over bytes,
//!   [`Witness::serve`] the HTTP/1.1 interface over [`std::net`] (loopback `http://`).
//! * [`WitnessClient`] is the log's side: [`WitnessClient::add_checkpoint`] returns a
//!   [`Cosignature`] already verified under the pinned [`WitnessKey`].
//! * [`verify_cosignature`] checks a cosigned checkpoint offline.
//! * `audit-verify witness` runs a witness from the command line (see [`command`]).
//!
//! The consistency proof a log writer sends is made, without the whole tree, by
//! [`audit_runtime::merkle::consistency_proof_from_frontier`] from the writer's
//! [`CompactTree`](audit_runtime::merkle::CompactTree) at the size the witness has and the leaf
//! hashes appended since.
//!
//! The byte formats (signature line, signed message, keys, state files) are drawn in
//! `docs/FILE-FORMAT.md`, "Witnesses".
//!
//! [`tlog-witness`]: https://c2sp.org/tlog-witness
//! [`tlog-cosignature`]: https://c2sp.org/tlog-cosignature

use std::fmt;
use std::path::PathBuf;

mod client;
pub mod command;
pub mod cosignature;
mod http;
mod server;

pub use client::{Cosignature, WitnessClient, WitnessError};
pub use cosignature::{
    CosignatureError, CosignatureSigner, WitnessKey, cosignature_key_id, cosigned_message,
    verify_cosignature,
};
pub use server::{
    ADD_CHECKPOINT_PATH, AddCheckpointResponse, Clock, TLOG_SIZE_CONTENT_TYPE, Witness,
    WitnessBuilder, WitnessHandle, state_file_name,
};

/// Why a witness could not be configured, loaded or started.
#[derive(Debug)]
pub enum WitnessSetupError {
    /// A setting is missing or out of range; the message names it.
    Config(String),
    /// A file operation on the state directory failed.
    Io {
        /// What was being done (`create`, `list`, `read`).
        op: &'static str,
        /// On which file or directory.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A state file is not a checkpoint this witness wrote.
    State {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        why: String,
    },
    /// The listening socket could not be opened.
    Listen {
        /// The error.
        source: std::io::Error,
    },
}

impl fmt::Display for WitnessSetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WitnessSetupError::Config(why) => write!(f, "witness setting: {why}"),
            WitnessSetupError::Io { op, path, source } => {
                write!(
                    f,
                    "witness state: {op} of {} failed: {source}",
                    path.display()
                )
            }
            WitnessSetupError::State { path, why } => {
                write!(f, "witness state file {}: {why}", path.display())
            }
            WitnessSetupError::Listen { source } => {
                write!(f, "witness: cannot listen: {source}")
            }
        }
    }
}

impl std::error::Error for WitnessSetupError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            WitnessSetupError::Io { source, .. } | WitnessSetupError::Listen { source } => {
                Some(source)
            }
            _ => None,
        }
    }
}
