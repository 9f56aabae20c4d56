//! Fuzz-style test of the C2SP text parsers (`audit_runtime::merkle::tlog`): `Checkpoint::
//! parse_body`, `split_note`, `TlogProof::parse` and `AddCheckpointRequest::parse` on random
//! bytes and on mutations of valid texts (the C2SP spec examples and texts made from a real
//! tree: bytes flipped, truncated or duplicated, huge numbers, invalid UTF-8, long strings), then
//! verifying what parses against a real tree. Property: Ok or Err, never a panic, bounded time,
//! and whatever parses re-encodes to exactly the bytes it came from (one text form per value).
//! `AUDIT_FUZZ_CASES=<n>` runs longer.

#[path = "../../audit-exporters/tests/fuzz_support/mod.rs"]
mod fuzz_support;

use audit_runtime::merkle::tlog::{AddCheckpointRequest, Checkpoint, TlogProof, split_note};
use audit_runtime::merkle::{MerkleTree, leaf_hash};
use fuzz_support::{bounded, config, inputs};
use proptest::prelude::*;

/// tlog-checkpoint.md's example body and signature line (C2SP/C2SP at 5ba5ee83).
const SPEC_BODY: &str =
    "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
const SPEC_SIG: &str = "— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n";

fn tree() -> MerkleTree {
    MerkleTree::from_leaf_hashes((0..20u32).map(|i| leaf_hash(&i.to_be_bytes())))
}

fn note(tree: &MerkleTree, size: u64) -> String {
    let root = tree.root_at(size).expect("size held");
    let body = Checkpoint::new("audit.example/fuzz", size, root)
        .expect("valid")
        .to_body();
    format!("{body}\n— audit.example/fuzz AAAAAQ{}==\n", "A".repeat(88))
}

fn seeds() -> Vec<Vec<u8>> {
    let t = tree();
    let n = note(&t, 13);
    let proof = TlogProof::new(6, t.inclusion_proof(6, 13).expect("valid"), &n)
        .expect("valid")
        .with_extra(vec![0, 1, 2]);
    let add = AddCheckpointRequest::new(7, t.consistency_proof(7, 13).expect("valid"), &n)
        .expect("valid");
    vec![
        SPEC_BODY.as_bytes().to_vec(),
        format!("{SPEC_BODY}\n{SPEC_SIG}").into_bytes(),
        n.clone().into_bytes(),
        proof.to_text().into_bytes(),
        add.to_text().into_bytes(),
    ]
}

fn parse_all(bytes: &[u8], t: &MerkleTree) -> Result<(), TestCaseError> {
    if let Ok(c) = Checkpoint::parse_body(bytes) {
        prop_assert_eq!(c.to_body().into_bytes(), bytes.to_vec());
    }
    if let Ok(split) = split_note(bytes) {
        prop_assert_eq!(
            format!("{}\n{}", split.text, split.signatures).into_bytes(),
            bytes.to_vec()
        );
    }
    if let Ok(p) = TlogProof::parse(bytes) {
        prop_assert_eq!(p.to_text().into_bytes(), bytes.to_vec());
        if let Some(leaf) = t.leaf_hash(p.index()) {
            let _ = p.verify(&leaf);
        }
    }
    if let Ok(r) = AddCheckpointRequest::parse(bytes) {
        prop_assert_eq!(r.to_text().into_bytes(), bytes.to_vec());
        if let Ok(old) = t.root_at(r.old_size()) {
            let _ = r.verify(&old);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn tlog_texts_never_panic(input in inputs(seeds())) {
        let t = tree();
        bounded("tlog text", || parse_all(&input, &t))?;
    }
}

#[test]
fn seeds_parse_and_verify() {
    let t = tree();
    let s = seeds();
    assert!(Checkpoint::parse_body(&s[0]).is_ok());
    assert!(split_note(&s[1]).is_ok());
    assert!(split_note(&s[2]).is_ok());
    let p = TlogProof::parse(&s[3]).expect("seed proof");
    assert_eq!(p.verify(&t.leaf_hash(6).expect("held")), Ok(()));
    let r = AddCheckpointRequest::parse(&s[4]).expect("seed request");
    assert_eq!(r.verify(&t.root_at(7).expect("held")), Ok(()));
}
