//! The Merkle tree (`audit_runtime::merkle`) against published vectors and against an
//! independent oracle written here from the RFC's recursive definitions.
//!
//! Vectors:
//! - transparency-dev/merkle `testonly/constants.go` (leaf inputs, leaf hashes, roots of sizes
//!   0..8, compact-tree frontiers) and `rfc6962/rfc6962_test.go` (empty root, leaf hashes);
//! - google/trillian `merkle/logverifier/log_verifier_test.go` (`inclusionProofs`,
//!   `consistencyProofs`; its leaf numbers are 1-based, the indexes here are 0-based);
//! - transparency-dev/merkle `testdata/{inclusion,consistency}` probes, vendored in
//!   `tests/data/` (see `tests/data/README.md`).

use std::sync::OnceLock;

use audit_runtime::merkle::{
    self, CompactTree, MerkleTree, ProofError, TreeHash, empty_root, leaf_hash, verify_consistency,
    verify_inclusion,
};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use proptest::prelude::*;
use sha2::{Digest as _, Sha256};

fn h(hex: &str) -> TreeHash {
    TreeHash::from_hex(hex).expect("64 hex digits")
}

/// transparency-dev/merkle `testonly/constants.go`, `LeafInputs()`.
fn leaf_inputs() -> Vec<Vec<u8>> {
    [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
    .iter()
    .map(|s| {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
            .collect()
    })
    .collect()
}

/// `NodeHashes()[0]`: the leaf hashes of `LeafInputs()`.
const LEAF_HASHES: [&str; 8] = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
    "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
    "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
    "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
    "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
];

/// `NodeHashes()[1..]`: level 1 (4 nodes), level 2 (2), level 3 (1).
const LEVEL1: [&str; 4] = [
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
];
const LEVEL2: [&str; 2] = [
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
];

/// `RootHashes()`: roots of the trees of the first 0..=8 leaves.
const ROOTS: [&str; 9] = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

fn standard_tree() -> MerkleTree {
    let mut t = MerkleTree::new();
    for d in leaf_inputs() {
        t.push(&d);
    }
    t
}

#[test]
fn rfc6962_hasher_vectors() {
    // rfc6962/rfc6962_test.go, TestRFC6962Hasher.
    assert_eq!(empty_root(), h(ROOTS[0]));
    assert_eq!(
        leaf_hash(b""),
        h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d")
    );
    assert_eq!(
        leaf_hash(b"L123456"),
        h("395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56")
    );
    for (data, want) in leaf_inputs().iter().zip(LEAF_HASHES) {
        assert_eq!(leaf_hash(data), h(want));
    }
}

#[test]
fn roots_of_sizes_0_to_8() {
    let tree = standard_tree();
    let mut compact = CompactTree::new();
    assert_eq!(compact.root(), h(ROOTS[0]));
    for (n, data) in leaf_inputs().iter().enumerate() {
        assert_eq!(compact.append(data), Ok(n as u64));
        assert_eq!(
            compact.root(),
            h(ROOTS[n + 1]),
            "compact root at size {}",
            n + 1
        );
    }
    for (size, want) in ROOTS.iter().enumerate() {
        assert_eq!(tree.root_at(size as u64), Ok(h(want)), "root_at({size})");
    }
    assert_eq!(tree.root(), h(ROOTS[8]));
    assert_eq!(
        tree.root_at(9),
        Err(ProofError::SizeBeyondTree { size: 9, leaves: 8 })
    );
}

#[test]
fn compact_tree_frontiers() {
    // testonly/constants.go, CompactTrees(): the right edge after each append.
    let (l0, l1, l2) = (LEAF_HASHES, LEVEL1, LEVEL2);
    let want: [&[&str]; 9] = [
        &[],
        &[l0[0]],
        &[l1[0]],
        &[l1[0], l0[2]],
        &[l2[0]],
        &[l2[0], l0[4]],
        &[l2[0], l1[2]],
        &[l2[0], l1[2], l0[6]],
        &[ROOTS[8]],
    ];
    let mut compact = CompactTree::new();
    for (n, frontier) in want.iter().enumerate() {
        let frontier: Vec<TreeHash> = frontier.iter().map(|s| h(s)).collect();
        assert_eq!(compact.frontier(), &frontier[..], "frontier at size {n}");
        let resumed = CompactTree::from_frontier(n as u64, frontier).expect("valid frontier");
        assert_eq!(resumed.root(), h(ROOTS[n]));
        if let Some(d) = leaf_inputs().get(n) {
            compact.append(d).expect("not full");
        }
    }
    assert_eq!(
        CompactTree::from_frontier(7, vec![h(ROOTS[1])]).map(|_| ()),
        Err(merkle::FrontierError::Length {
            size: 7,
            expected: 3,
            actual: 1
        })
    );
}

#[test]
fn trillian_inclusion_vectors() {
    // log_verifier_test.go, inclusionProofs: {leaf (1-based), size, proof}.
    let cases: [(u64, u64, &[&str]); 5] = [
        (1, 1, &[]),
        (1, 8, &[LEAF_HASHES[1], LEVEL1[1], LEVEL2[1]]),
        (6, 8, &[LEAF_HASHES[4], LEVEL1[3], LEVEL2[0]]),
        (3, 3, &[LEVEL1[0]]),
        (2, 5, &[LEAF_HASHES[0], LEVEL1[1], LEAF_HASHES[4]]),
    ];
    // Spelled out once, to show the constants above are the vectors' literal values.
    assert_eq!(
        LEVEL2[1],
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"
    );
    let tree = standard_tree();
    for (leaf, size, want) in cases {
        let index = leaf - 1;
        let want: Vec<TreeHash> = want.iter().map(|s| h(s)).collect();
        assert_eq!(
            tree.inclusion_proof(index, size),
            Ok(want.clone()),
            "{index} in {size}"
        );
        let leaf_h = h(LEAF_HASHES[index as usize]);
        let root = h(ROOTS[size as usize]);
        assert_eq!(verify_inclusion(index, size, &leaf_h, &want, &root), Ok(()));
        assert_eq!(
            oracle::root_from_path(index, size, &leaf_h, &want),
            Some(root)
        );
    }
}

#[test]
fn trillian_consistency_vectors() {
    // log_verifier_test.go, consistencyProofs: {size1, size2, proof}.
    let cases: [(u64, u64, &[&str]); 4] = [
        (1, 1, &[]),
        (1, 8, &[LEAF_HASHES[1], LEVEL1[1], LEVEL2[1]]),
        (6, 8, &[LEVEL1[2], LEVEL1[3], LEVEL2[0]]),
        (2, 5, &[LEVEL1[1], LEAF_HASHES[4]]),
    ];
    let tree = standard_tree();
    for (m, n, want) in cases {
        let want: Vec<TreeHash> = want.iter().map(|s| h(s)).collect();
        assert_eq!(tree.consistency_proof(m, n), Ok(want.clone()), "{m} -> {n}");
        let (old, new) = (h(ROOTS[m as usize]), h(ROOTS[n as usize]));
        assert_eq!(verify_consistency(m, n, &old, &new, &want), Ok(()));
        assert!(oracle::verify_consistency(m, n, &old, &new, &want));
    }
}

/// One transparency-dev probe, with byte strings that may not be 32 bytes.
struct Probe {
    file: String,
    want_err: bool,
    /// `None` when some byte string is not a 32-byte hash.
    hashes: Option<(Vec<TreeHash>, Vec<TreeHash>)>,
    a: u64,
    b: u64,
}

fn load_probes(name: &str, a: &str, b: &str, named: &[&str]) -> Vec<Probe> {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).expect("vendored probes");
    let probes: Vec<serde_json::Value> = serde_json::from_str(&text).expect("JSON");
    let as_hash = |v: &serde_json::Value| -> Option<TreeHash> {
        let bytes = B64.decode(v.as_str()?).ok()?;
        Some(TreeHash(bytes.try_into().ok()?))
    };
    probes
        .iter()
        .map(|p| {
            let named_hashes: Option<Vec<TreeHash>> =
                named.iter().map(|k| as_hash(&p[*k])).collect();
            let proof: Option<Vec<TreeHash>> = match &p["proof"] {
                serde_json::Value::Null => Some(Vec::new()),
                v => v.as_array().expect("array").iter().map(as_hash).collect(),
            };
            Probe {
                file: p["file"].as_str().expect("file").to_owned(),
                want_err: p["wantErr"].as_bool().expect("wantErr"),
                hashes: named_hashes.zip(proof),
                a: p[a].as_u64().expect("u64"),
                b: p[b].as_u64().expect("u64"),
            }
        })
        .collect()
}

#[test]
fn transparency_dev_inclusion_probes() {
    let probes = load_probes(
        "merkle-inclusion-probes.json",
        "leafIdx",
        "treeSize",
        &["leafHash", "root"],
    );
    assert_eq!(probes.len(), 98);
    let mut accepted = 0;
    for p in &probes {
        let Some((named, proof)) = &p.hashes else {
            assert!(
                p.want_err,
                "{}: not 32-byte hashes but wantErr false",
                p.file
            );
            continue;
        };
        let got = verify_inclusion(p.a, p.b, &named[0], proof, &named[1]);
        assert_eq!(got.is_err(), p.want_err, "{}: {got:?}", p.file);
        let oracle = oracle::root_from_path(p.a, p.b, &named[0], proof) == Some(named[1]);
        assert_eq!(oracle, !p.want_err, "oracle on {}", p.file);
        accepted += usize::from(got.is_ok());
    }
    assert_eq!(accepted, 6, "the happy paths and single-entry matches");
}

#[test]
fn transparency_dev_consistency_probes() {
    let probes = load_probes(
        "merkle-consistency-probes.json",
        "size1",
        "size2",
        &["root1", "root2"],
    );
    assert_eq!(probes.len(), 98);
    let mut accepted = 0;
    for p in &probes {
        let Some((named, proof)) = &p.hashes else {
            // One probe accepts two equal 12-byte "roots" of equal sizes: Go's verifier only
            // compares them. A `TreeHash` is 32 bytes; check the same claim with 32-byte roots.
            if !p.want_err {
                assert_eq!(
                    p.file,
                    "testdata/consistency/additional/sizes-are-equal-one-and-proof-is-empty.json"
                );
                let r = h(ROOTS[1]);
                assert_eq!(verify_consistency(p.a, p.b, &r, &r, &[]), Ok(()));
                accepted += 1;
            }
            continue;
        };
        let got = verify_consistency(p.a, p.b, &named[0], &named[1], proof);
        assert_eq!(got.is_err(), p.want_err, "{}: {got:?}", p.file);
        let oracle = oracle::verify_consistency(p.a, p.b, &named[0], &named[1], proof);
        assert_eq!(oracle, !p.want_err, "oracle on {}", p.file);
        accepted += usize::from(got.is_ok());
    }
    assert_eq!(accepted, 6);
}

#[test]
fn bad_input_gives_precise_errors() {
    let tree = standard_tree();
    let (leaf, root) = (h(LEAF_HASHES[0]), h(ROOTS[8]));
    assert_eq!(tree.inclusion_proof(0, 0), Err(ProofError::EmptyTree));
    assert_eq!(
        verify_inclusion(0, 0, &leaf, &[], &empty_root()),
        Err(ProofError::EmptyTree)
    );
    assert_eq!(
        tree.inclusion_proof(8, 8),
        Err(ProofError::IndexOutOfRange { index: 8, size: 8 })
    );
    assert_eq!(
        verify_inclusion(u64::MAX, 8, &leaf, &[], &root),
        Err(ProofError::IndexOutOfRange {
            index: u64::MAX,
            size: 8
        })
    );
    assert_eq!(
        verify_inclusion(0, 8, &leaf, &[leaf; 2], &root),
        Err(ProofError::ProofLength {
            expected: 3,
            actual: 2
        })
    );
    assert_eq!(
        verify_inclusion(0, u64::MAX, &leaf, &[leaf; 65], &root),
        Err(ProofError::ProofLength {
            expected: 64,
            actual: 65
        })
    );
    assert_eq!(
        tree.consistency_proof(5, 4),
        Err(ProofError::SizeOrder {
            old_size: 5,
            new_size: 4
        })
    );
    assert_eq!(
        verify_consistency(5, 4, &root, &root, &[]),
        Err(ProofError::SizeOrder {
            old_size: 5,
            new_size: 4
        })
    );
    assert_eq!(
        tree.consistency_proof(2, 9),
        Err(ProofError::SizeBeyondTree { size: 9, leaves: 8 })
    );
    assert_eq!(
        verify_consistency(3, 8, &h(ROOTS[3]), &root, &[]),
        Err(ProofError::ProofLength {
            expected: 4,
            actual: 0
        })
    );
    assert_eq!(
        verify_consistency(0, 8, &empty_root(), &root, &[leaf]),
        Err(ProofError::ProofLength {
            expected: 0,
            actual: 1
        })
    );
    // Size 0 has exactly one root.
    assert_eq!(
        verify_consistency(0, 8, &leaf, &root, &[]),
        Err(ProofError::OldRootMismatch {
            computed: empty_root(),
            expected: leaf
        })
    );
    assert!(matches!(
        verify_consistency(8, 8, &h(ROOTS[7]), &root, &[]),
        Err(ProofError::RootMismatch { .. })
    ));
    let msg = ProofError::ProofLength {
        expected: 3,
        actual: 2,
    }
    .to_string();
    assert_eq!(msg, "the proof has 2 hashes, these sizes need exactly 3");
}

/// An independent implementation, straight from RFC 9162 §2.1.1 (MTH), §2.1.3.1 (PATH) and
/// §2.1.4.1 (PROOF/SUBPROOF), with its own hashing: recursion over slices of leaf hashes, no
/// bit tricks, nothing shared with the production code but the `TreeHash` byte container. The
/// verifiers invert the same recursions.
mod oracle {
    use super::*;

    fn sha(parts: &[&[u8]]) -> TreeHash {
        let mut s = Sha256::new();
        for p in parts {
            s.update(p);
        }
        TreeHash(s.finalize().into())
    }

    pub fn leaf(data: &[u8]) -> TreeHash {
        sha(&[&[0x00], data])
    }

    pub fn node(l: &TreeHash, r: &TreeHash) -> TreeHash {
        sha(&[&[0x01], &l.0, &r.0])
    }

    /// The largest power of two smaller than n (n > 1).
    fn split(n: usize) -> usize {
        let mut k = 1;
        while k * 2 < n {
            k *= 2;
        }
        k
    }

    pub fn mth(d: &[TreeHash]) -> TreeHash {
        match d.len() {
            0 => sha(&[]),
            1 => d[0],
            n => {
                let k = split(n);
                node(&mth(&d[..k]), &mth(&d[k..]))
            }
        }
    }

    pub fn path(m: usize, d: &[TreeHash]) -> Vec<TreeHash> {
        let n = d.len();
        if n == 1 {
            return vec![];
        }
        let k = split(n);
        let mut p;
        if m < k {
            p = path(m, &d[..k]);
            p.push(mth(&d[k..]));
        } else {
            p = path(m - k, &d[k..]);
            p.push(mth(&d[..k]));
        }
        p
    }

    pub fn proof(m: usize, d: &[TreeHash]) -> Vec<TreeHash> {
        if m == 0 || m == d.len() {
            return vec![];
        }
        subproof(m, d, true)
    }

    fn subproof(m: usize, d: &[TreeHash], b: bool) -> Vec<TreeHash> {
        let n = d.len();
        if m == n {
            return if b { vec![] } else { vec![mth(d)] };
        }
        let k = split(n);
        let mut p;
        if m <= k {
            p = subproof(m, &d[..k], b);
            p.push(mth(&d[k..]));
        } else {
            p = subproof(m - k, &d[k..], false);
            p.push(mth(&d[..k]));
        }
        p
    }

    /// The root a PATH leads to, or None if it cannot be a PATH of (m, n): invert the
    /// recursion from its last element (the top sibling) down.
    pub fn root_from_path(m: u64, n: u64, leaf: &TreeHash, path: &[TreeHash]) -> Option<TreeHash> {
        if m >= n {
            return None;
        }
        if n == 1 {
            return path.is_empty().then_some(*leaf);
        }
        let (top, rest) = path.split_last()?;
        let k = split(usize::try_from(n).ok()?) as u64;
        Some(if m < k {
            node(&root_from_path(m, k, leaf, rest)?, top)
        } else {
            node(top, &root_from_path(m - k, n - k, leaf, rest)?)
        })
    }

    /// The (old, new) subtree hashes a SUBPROOF(m, D[n], b) yields, given the old root for the
    /// `b` case (where the subtree is the old tree itself and the proof omits it).
    fn from_subproof(
        m: u64,
        n: u64,
        b: bool,
        proof: &[TreeHash],
        old: &TreeHash,
    ) -> Option<(TreeHash, TreeHash)> {
        if m == n {
            return match (b, proof) {
                (true, []) => Some((*old, *old)),
                (false, [x]) => Some((*x, *x)),
                _ => None,
            };
        }
        let (top, rest) = proof.split_last()?;
        let k = split(usize::try_from(n).ok()?) as u64;
        if m <= k {
            let (o, nw) = from_subproof(m, k, b, rest, old)?;
            Some((o, node(&nw, top)))
        } else {
            let (o, nw) = from_subproof(m - k, n - k, false, rest, old)?;
            Some((node(top, &o), node(top, &nw)))
        }
    }

    pub fn verify_consistency(
        m: u64,
        n: u64,
        old: &TreeHash,
        new: &TreeHash,
        proof: &[TreeHash],
    ) -> bool {
        if m > n {
            return false;
        }
        if m == 0 {
            return proof.is_empty() && *old == sha(&[]);
        }
        if m == n {
            return proof.is_empty() && old == new;
        }
        from_subproof(m, n, true, proof, old) == Some((*old, *new))
    }
}

#[test]
fn oracle_matches_the_vectors() {
    let leaves: Vec<TreeHash> = leaf_inputs().iter().map(|d| oracle::leaf(d)).collect();
    for (n, root) in ROOTS.iter().enumerate() {
        assert_eq!(oracle::mth(&leaves[..n]), h(root));
    }
    assert_eq!(
        oracle::path(5, &leaves),
        [LEAF_HASHES[4], LEVEL1[3], LEVEL2[0]].map(h)
    );
    assert_eq!(
        oracle::proof(6, &leaves),
        [LEVEL1[2], LEVEL1[3], LEVEL2[0]].map(h)
    );
}

/// Leaf data that differs at every index, so no two leaves share a hash.
fn leaves(seed: u64, n: usize) -> Vec<TreeHash> {
    (0..n)
        .map(|i| oracle::leaf(format!("record {seed} {i}").as_bytes()))
        .collect()
}

/// Proofs mutated in every way the property checks: one bit flipped in each hash, each hash
/// removed, a hash inserted at each position.
fn mutations(proof: &[TreeHash], bit: usize, extra: TreeHash) -> Vec<(String, Vec<TreeHash>)> {
    let mut out = Vec::new();
    for i in 0..proof.len() {
        let mut p = proof.to_vec();
        p[i].0[bit / 8 % 32] ^= 1 << (bit % 8);
        out.push((format!("bit {bit} of hash {i} flipped"), p));
        let mut p = proof.to_vec();
        p.remove(i);
        out.push((format!("hash {i} removed"), p));
    }
    for i in 0..=proof.len() {
        let mut p = proof.to_vec();
        p.insert(i, extra);
        out.push((format!("hash inserted at {i}"), p));
    }
    out
}

/// Shared trees of 601 leaves: sizes up to 300 and their doubles.
fn shared() -> &'static (Vec<TreeHash>, MerkleTree) {
    static TREE: OnceLock<(Vec<TreeHash>, MerkleTree)> = OnceLock::new();
    TREE.get_or_init(|| {
        let l = leaves(7, 601);
        let t = MerkleTree::from_leaf_hashes(l.iter().copied());
        (l, t)
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn roots_and_inclusion_match_the_oracle(
        n in 1usize..=300, i_frac in 0.0f64..1.0, bit in 0usize..256, extra in any::<[u8; 32]>()
    ) {
        let (all, tree) = shared();
        let i = ((n as f64 * i_frac) as usize).min(n - 1);
        let d = &all[..n];
        let root = oracle::mth(d);
        prop_assert_eq!(tree.root_at(n as u64), Ok(root));
        let mut compact = CompactTree::new();
        for l in d {
            compact.append_leaf_hash(*l).expect("not full");
        }
        prop_assert_eq!(compact.root(), root);
        // A writer that resumes from a saved size and frontier at leaf i ends at the same root.
        let mut first = CompactTree::new();
        for l in &d[..i] {
            first.append_leaf_hash(*l).expect("not full");
        }
        let mut resumed = CompactTree::from_frontier(first.size(), first.frontier().to_vec())
            .expect("a frontier it produced");
        for l in &d[i..] {
            resumed.append_leaf_hash(*l).expect("not full");
        }
        prop_assert_eq!(resumed, compact.clone());

        let (n64, i64_) = (n as u64, i as u64);
        let proof = tree.inclusion_proof(i64_, n64).expect("valid index");
        prop_assert_eq!(&proof, &oracle::path(i, d));
        prop_assert_eq!(verify_inclusion(i64_, n64, &d[i], &proof, &root), Ok(()));
        prop_assert_eq!(oracle::root_from_path(i64_, n64, &d[i], &proof), Some(root));

        // Every altered proof fails, in both verifiers.
        for (what, p) in mutations(&proof, bit, TreeHash(extra)) {
            prop_assert!(verify_inclusion(i64_, n64, &d[i], &p, &root).is_err(), "{}", what);
            prop_assert_ne!(oracle::root_from_path(i64_, n64, &d[i], &p), Some(root), "{}", what);
        }
        // Wrong leaf, wrong root.
        let mut wrong = d[i];
        wrong.0[bit / 8] ^= 1 << (bit % 8);
        prop_assert!(verify_inclusion(i64_, n64, &wrong, &proof, &root).is_err());
        prop_assert!(verify_inclusion(i64_, n64, &d[i], &proof, &wrong).is_err());
        // Another index, or another size with that size's real root: fails unless the proof
        // happens to be the genuine one for those parameters.
        let sizes = [n64 + 1, n64.saturating_sub(1), n64 * 2, n64 / 2, n64 + 7];
        for size in sizes.into_iter().filter(|&s| s != n64) {
            let r = if size as usize <= all.len() { oracle::mth(&all[..size as usize]) } else { root };
            let genuine = i64_ < size && oracle::path(i, &all[..size as usize]) == proof;
            let got = verify_inclusion(i64_, size, &d[i], &proof, &r);
            prop_assert_eq!(got.is_ok(), genuine, "size {} instead of {}: {:?}", size, n, got);
        }
        for index in [i64_ + 1, i64_.wrapping_sub(1), i64_ ^ 1, i64_ ^ 2, n64, u64::MAX] {
            if index == i64_ {
                continue;
            }
            let got = verify_inclusion(index, n64, &d[i], &proof, &root);
            prop_assert!(got.is_err(), "index {} instead of {}", index, i);
            if index >= n64 {
                prop_assert_eq!(got, Err(ProofError::IndexOutOfRange { index, size: n64 }));
            }
        }
    }

    #[test]
    fn consistency_matches_the_oracle(
        n in 1usize..=300, m_frac in 0.0f64..=1.0, bit in 0usize..256, extra in any::<[u8; 32]>()
    ) {
        let (all, tree) = shared();
        let m = ((n as f64 * m_frac) as usize).min(n);
        let (m64, n64) = (m as u64, n as u64);
        let (old, new) = (oracle::mth(&all[..m]), oracle::mth(&all[..n]));
        prop_assert_eq!(tree.root_at(m64), Ok(old));
        let proof = tree.consistency_proof(m64, n64).expect("m <= n");
        prop_assert_eq!(&proof, &oracle::proof(m, &all[..n]));
        prop_assert_eq!(verify_consistency(m64, n64, &old, &new, &proof), Ok(()));
        prop_assert!(oracle::verify_consistency(m64, n64, &old, &new, &proof));

        for (what, p) in mutations(&proof, bit, TreeHash(extra)) {
            prop_assert!(verify_consistency(m64, n64, &old, &new, &p).is_err(), "{}", what);
            prop_assert!(!oracle::verify_consistency(m64, n64, &old, &new, &p), "{}", what);
        }
        if old != new {
            prop_assert!(verify_consistency(m64, n64, &new, &old, &proof).is_err(), "swapped");
        }
        let mut wrong = old;
        wrong.0[bit / 8] ^= 1 << (bit % 8);
        prop_assert!(verify_consistency(m64, n64, &wrong, &new, &proof).is_err());
        // From size 0 the proof is empty and says nothing about the new root.
        if m > 0 {
            prop_assert!(verify_consistency(m64, n64, &old, &wrong, &proof).is_err());
        }
        // Other sizes, each with its real root: fail unless the proof is genuinely theirs.
        let pairs = [
            (m64 + 1, n64), (m64.saturating_sub(1), n64), (m64 ^ 2, n64),
            (m64, n64 + 1), (m64, n64 * 2), (m64, n64 / 2), (m64, n64.saturating_sub(1)),
        ];
        for (a, b) in pairs.into_iter().filter(|&p| p != (m64, n64)) {
            let root = |s: u64| if s as usize <= all.len() { oracle::mth(&all[..s as usize]) } else { new };
            let got = verify_consistency(a, b, &root(a), &root(b), &proof);
            let genuine = a <= b && b as usize <= all.len()
                && oracle::proof(a as usize, &all[..b as usize]) == proof;
            prop_assert_eq!(got.is_ok(), genuine, "{} -> {} instead of {} -> {}: {:?}", a, b, m, n, got);
            if a > b {
                prop_assert_eq!(got, Err(ProofError::SizeOrder { old_size: a, new_size: b }));
            }
        }
    }
}

/// Sizes and indexes across the whole `u64` range, with small values and the edges more likely.
fn any_size() -> impl Strategy<Value = u64> {
    prop_oneof![
        0u64..20,
        any::<u64>(),
        Just(u64::MAX),
        Just(u64::MAX - 1),
        Just(1u64 << 63)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    /// Whatever the sizes, index and proof, the verifiers return (no panic, no overflow), and
    /// a proof of the wrong length is refused as such.
    #[test]
    fn verifiers_are_total(
        a in any_size(), b in any_size(), len in 0usize..70, fill in any::<u8>()
    ) {
        let proof = vec![TreeHash([fill; 32]); len];
        let (x, y) = (TreeHash([fill ^ 1; 32]), TreeHash([fill ^ 2; 32]));
        let inc = verify_inclusion(a, b, &x, &proof, &y);
        if let Ok(expected) = merkle::inclusion_proof_len(a, b) {
            prop_assert!(expected <= merkle::MAX_INCLUSION_HASHES);
            if expected != len {
                prop_assert_eq!(inc, Err(ProofError::ProofLength { expected, actual: len }));
            }
        } else {
            prop_assert!(inc.is_err());
        }
        let con = verify_consistency(a, b, &x, &y, &proof);
        if let Ok(expected) = merkle::consistency_proof_len(a, b) {
            prop_assert!(expected <= merkle::MAX_CONSISTENCY_HASHES);
            if expected != len {
                prop_assert_eq!(con, Err(ProofError::ProofLength { expected, actual: len }));
            }
        } else {
            prop_assert_eq!(con, Err(ProofError::SizeOrder { old_size: a, new_size: b }));
        }
    }
}
