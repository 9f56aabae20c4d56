//! What the rest of the crate imports with `use crate::prelude::*`.
pub use llm::*;
pub use toolkit::{Tool, tool};
