//! Merkle tree cost (`audit_runtime::merkle`): hashing a record line as a leaf (SHA-256, with
//! BLAKE3 of the same bytes beside it), appends to the compact tree a writer keeps, building the
//! full tree a prover keeps, and making and checking proofs in a tree of 2^20 leaves.
//!
//! Run: `cargo bench -p audit-benches --bench merkle`. Results go to `docs/BENCHMARKS.md`,
//! "Merkle tree".

use std::hint::black_box;

use audit_runtime::merkle::{
    CompactTree, MerkleTree, leaf_hash, verify_consistency, verify_inclusion,
};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};

/// A record line of typical size (the file-log benchmark's records are 300 to 400 bytes).
fn line(i: u64) -> Vec<u8> {
    let mut l = format!("{{\"v\":1,\"seq\":{i},\"kind\":\"decision\"").into_bytes();
    l.resize(350, b'x');
    l
}

const BIG: u64 = 1 << 20;

fn bench(c: &mut Criterion) {
    let record = line(7);
    let mut g = c.benchmark_group("merkle");
    g.throughput(Throughput::Elements(1));
    g.bench_function("leaf_hash_sha256_350B", |b| {
        b.iter(|| leaf_hash(black_box(&record)))
    });
    g.bench_function("blake3_350B", |b| {
        b.iter(|| blake3::hash(black_box(&record)))
    });
    g.bench_function("compact_append_350B_line", |b| {
        let mut t = CompactTree::new();
        b.iter(|| t.append(black_box(&record)))
    });
    g.bench_function("full_tree_push_leaf_hash", |b| {
        let mut t = MerkleTree::new();
        let leaf = leaf_hash(&record);
        b.iter(|| t.push_leaf_hash(black_box(leaf)))
    });

    let tree = MerkleTree::from_leaf_hashes((0..BIG).map(|i| leaf_hash(&line(i))));
    let root = tree.root();
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    g.bench_function("inclusion_proof_2^20", |b| {
        b.iter_batched(
            || next() % BIG,
            |i| tree.inclusion_proof(i, BIG),
            BatchSize::SmallInput,
        )
    });
    g.bench_function("consistency_proof_to_2^20", |b| {
        b.iter_batched(
            || 1 + next() % (BIG - 1),
            |m| tree.consistency_proof(m, BIG),
            BatchSize::SmallInput,
        )
    });
    g.bench_function("root_at_random_size", |b| {
        b.iter_batched(
            || 1 + next() % BIG,
            |n| tree.root_at(n),
            BatchSize::SmallInput,
        )
    });
    let i = 777_777;
    let proof = tree.inclusion_proof(i, BIG).expect("valid");
    let leaf = tree.leaf_hash(i).expect("held");
    g.bench_function("verify_inclusion_2^20", |b| {
        b.iter(|| verify_inclusion(i, BIG, &leaf, black_box(&proof), &root))
    });
    let m = 500_001;
    let cproof = tree.consistency_proof(m, BIG).expect("valid");
    let old = tree.root_at(m).expect("size");
    g.bench_function("verify_consistency_to_2^20", |b| {
        b.iter(|| verify_consistency(m, BIG, &old, &root, black_box(&cproof)))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).warm_up_time(std::time::Duration::from_secs(1))
        .measurement_time(std::time::Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
