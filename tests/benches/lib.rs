//! The caller-overhead benchmark (`overhead.rs`): `cargo bench -p audit-benches --bench overhead`.
//! This library is empty; the crate exists so the benchmark's baselines are dev-dependencies of
//! a crate that `cargo test` does not build.
