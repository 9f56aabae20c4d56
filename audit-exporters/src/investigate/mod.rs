//! Investigation over a file log: load a directory with every line checked, list and filter
//! records, show a decision or run as a tree with its follow-ups, a timeline, statistics, and
//! evidence bundles with inclusion proofs. The `audit` binary is a thin layer over this module;
//! the commands and output shapes are in `docs/INVESTIGATE.md`.
//!
//! Architecture Invariant: nothing is shown from a record without its [`Integrity`] mark; a
//! record is [`Integrity::Verified`] only when the directory verifier passed and its own line
//! checks.

pub mod cli;
pub mod evidence;
pub mod query;
pub mod stats;
pub mod store;
pub mod tree;

pub use evidence::{BundleReport, BundleVerdict, EvidenceError, make_bundle, verify_bundle};
pub use query::{Filter, SortKey, select};
pub use store::{Entry, Integrity, LoadError, LoadOptions, Store};
pub use tree::{Matched, Node, Tree, timeline, tree};
