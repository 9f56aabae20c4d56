//! Runtime coverage fixture.
pub mod agent;
pub mod unlinked;
