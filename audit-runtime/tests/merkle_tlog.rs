//! C2SP text formats (`audit_runtime::merkle::tlog`): the examples of the specs, strict parsing,
//! round trips. Hostile bytes: `fuzz_tlog.rs`.
//!
//! Spec texts: C2SP/C2SP at commit 5ba5ee830903e91240fc6f9f3a7a9293d49e69c9, files
//! `tlog-checkpoint.md`, `tlog-proof.md`, `tlog-witness.md`, `signed-note.md`.

use audit_runtime::merkle::tlog::{
    AddCheckpointRequest, Checkpoint, CheckpointError, MAX_CONSISTENCY_LINES, TlogError, TlogProof,
    split_note,
};
use audit_runtime::merkle::{MerkleTree, ProofError, TreeHash, inclusion_proof_len, leaf_hash};

/// tlog-checkpoint.md, the example at the top (note text, then its signature).
const SPEC_BODY: &str =
    "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
const SPEC_SIG: &str = "— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n";

/// tlog-witness.md, "add-checkpoint", the example request body (de-indented).
const SPEC_ADD_CHECKPOINT: &str = "old 20852014
PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=
jrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=
5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=
/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=

example.com/behind-the-sofa
20852163
CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=

— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=
— example.com/behind-the-sofa opLqBQsREYCgu6xQkYQwJr9fo45a62DN9EdmHXnZdXNqlcVGlCum2Wks+49/V6267UEjw6QUXTS5Rovnzv++qbSzm9Q=
";

/// tlog-proof.md, the example. Its signatures are elided there (`hI2DJw[...]1roloI=`), which is
/// not base64; here the log's signature line is the one of the tlog-checkpoint example.
fn spec_tlog_proof() -> String {
    format!(
        "c2sp.org/tlog-proof@v1
extra YWdlLXYxLjIuMS1kYXJ3aW4tYXJtNjQudGFyLmd6kYXJ3aW4tYXJ
index 73894
gSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ=
B95lDa8R83lS8n0eG+o0buTxRKQTYFi//1U8anccXmA=
EKNzoDWG8LGC0Yp9o+sv3qllpMP9uHQ9B20KNL+Q1zs=
RoopEkOdqkYqMB4MJXrbt/hMjOxsVn0IrWjpz1ZMMes=
AHCioX9nLjsrse6YhjRRmk1WUEirVOLLRoOQ6vfO5vk=

example.com/fancylog
109482
sFodV/vSp5O8n9a8QpW6PRY97tfOSW5bsc2Xl/EQi08=

{SPEC_SIG}"
    )
}

#[test]
fn checkpoint_spec_example() {
    let c = Checkpoint::parse_body(SPEC_BODY.as_bytes()).expect("spec example");
    assert_eq!(c.origin(), "example.com/behind-the-sofa");
    assert_eq!(c.size(), 20852163);
    assert_eq!(
        c.root().to_hex(),
        "0ac5186a91863e8e1d90c808014aa89bf5da8e3ee1d9f07630f0378f68f1ab62"
    );
    assert!(c.extensions().is_empty());
    assert_eq!(c.to_body(), SPEC_BODY);
    let note = format!("{SPEC_BODY}\n{SPEC_SIG}");
    let split = split_note(note.as_bytes()).expect("spec note");
    assert_eq!(split.text, SPEC_BODY);
    assert_eq!(split.signatures, SPEC_SIG);
}

#[test]
fn checkpoint_round_trip_with_extensions() {
    let root = MerkleTree::from_leaf_hashes([leaf_hash(b"a"), leaf_hash(b"b")]).root();
    let c = Checkpoint::new("audit.example/agent-7", 2, root)
        .and_then(|c| c.with_extension("chain-head 00ff"))
        .and_then(|c| c.with_extension("x\u{7f}"))
        .expect("valid");
    let body = c.to_body();
    assert_eq!(
        body,
        format!(
            "audit.example/agent-7\n2\n{}\nchain-head 00ff\nx\u{7f}\n",
            root.to_base64()
        )
    );
    assert_eq!(Checkpoint::parse_body(body.as_bytes()), Ok(c));
    assert_eq!(
        Checkpoint::new("", 0, root),
        Err(CheckpointError::EmptyOrigin)
    );
    assert_eq!(
        Checkpoint::new("a\nb", 0, root),
        Err(CheckpointError::ControlCharacter)
    );
    assert_eq!(
        Checkpoint::new("a", 0, root).and_then(|c| c.with_extension("")),
        Err(CheckpointError::EmptyExtension)
    );
}

#[test]
fn checkpoint_parsing_is_strict() {
    let root = "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=";
    let bad: &[(&str, TlogError)] = &[
        ("o\n1\nCsUY", TlogError::MissingFinalNewline),
        ("o\n1\n", TlogError::TooFewLines { lines: 2 }),
        ("\n1\nR\n", TlogError::EmptyLine { line: 1 }),
        (
            "o\n01\nR\n",
            TlogError::BadNumber {
                line: 2,
                what: "tree size",
            },
        ),
        (
            "o\n+1\nR\n",
            TlogError::BadNumber {
                line: 2,
                what: "tree size",
            },
        ),
        (
            "o\n18446744073709551616\nR\n",
            TlogError::BadNumber {
                line: 2,
                what: "tree size",
            },
        ),
        ("o\n1\nR\n\nx\n", TlogError::EmptyLine { line: 4 }),
        ("o\r\n1\nR\n", TlogError::ControlCharacter { line: 1 }),
        ("o\n1\nR\r\n", TlogError::ControlCharacter { line: 3 }),
        ("o\t1\n1\nR\n", TlogError::ControlCharacter { line: 1 }),
        // Non-zero trailing bits (2 -> J), missing padding, 31 bytes, URL-safe alphabet.
        (
            "o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2J=\n",
            TlogError::BadHash { line: 3 },
        ),
        (
            "o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I\n",
            TlogError::BadHash { line: 3 },
        ),
        (
            "o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxqw==\n",
            TlogError::BadHash { line: 3 },
        ),
        (
            "o\n1\nCsUYapGGPo4dkMgIAUqom_Xajj7h2fB2MPA3j2jxq2I=\n",
            TlogError::BadHash { line: 3 },
        ),
        (
            "o\n1\n CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
            TlogError::BadHash { line: 3 },
        ),
    ];
    for (text, want) in bad {
        let text = text.replace("\nR\n", &format!("\n{root}\n"));
        assert_eq!(
            Checkpoint::parse_body(text.as_bytes()),
            Err(want.clone()),
            "{text:?}"
        );
    }
    assert_eq!(
        Checkpoint::parse_body(b"o\n1\n\xff\n"),
        Err(TlogError::NotUtf8)
    );
    let zero = format!("o\n0\n{root}\n");
    assert_eq!(
        Checkpoint::parse_body(zero.as_bytes()).map(|c| c.size()),
        Ok(0)
    );
}

#[test]
fn signed_note_shape() {
    let ok = format!("{SPEC_BODY}\n{SPEC_SIG}");
    assert!(split_note(ok.as_bytes()).is_ok());
    let no_sig = format!("{SPEC_BODY}\n");
    assert_eq!(
        split_note(no_sig.as_bytes()),
        Err(TlogError::MissingSignatures)
    );
    assert_eq!(
        split_note(SPEC_BODY.as_bytes()),
        Err(TlogError::MissingSignatures)
    );
    for bad_sig in [
        "- example.com/x AAAAAAA=\n",
        "— example.com/x\n",
        "— a+b AAAAAAA=\n",
        "— x AAA\n",
        "— x AAAA\n",
    ] {
        let note = format!("{SPEC_BODY}\n{bad_sig}");
        assert_eq!(
            split_note(note.as_bytes()),
            Err(TlogError::BadSignatureLine { line: 1 }),
            "{bad_sig:?}"
        );
    }
}

fn standard_note(tree: &MerkleTree, size: u64) -> String {
    let body = Checkpoint::new(
        "audit.example/test",
        size,
        tree.root_at(size).expect("size"),
    )
    .expect("valid")
    .to_body();
    // A placeholder signature line of the right shape: 4-byte key ID and 64 bytes.
    format!("{body}\n— audit.example/test AAAAAQ{}==\n", "A".repeat(88))
}

fn tree_of(n: u64) -> MerkleTree {
    MerkleTree::from_leaf_hashes((0..n).map(|i| leaf_hash(format!("record {i}").as_bytes())))
}

#[test]
fn tlog_proof_spec_example() {
    let text = spec_tlog_proof();
    let p = TlogProof::parse(text.as_bytes()).expect("spec example");
    assert_eq!(p.index(), 73894);
    assert_eq!(p.proof().len(), 5);
    assert_eq!(p.checkpoint().origin(), "example.com/fancylog");
    assert_eq!(p.checkpoint().size(), 109482);
    assert!(
        p.extra()
            .is_some_and(|e| e.starts_with(b"age-v1.2.1-darwin-arm64.tar.gz"))
    );
    assert_eq!(p.to_text(), text);
    // The spec's proof is illustrative: 5 hashes, where that index and size need more.
    let expected = inclusion_proof_len(73894, 109482).expect("index < size");
    assert_eq!(
        p.verify(&leaf_hash(b"x")),
        Err(ProofError::ProofLength {
            expected,
            actual: 5
        })
    );
}

#[test]
fn tlog_proof_round_trip_and_verify() {
    let tree = tree_of(300);
    for (index, size) in [(0, 1), (5, 8), (123, 300), (299, 300)] {
        let note = standard_note(&tree, size);
        let proof = tree.inclusion_proof(index, size).expect("valid");
        let p = TlogProof::new(index, proof, &note)
            .expect("valid")
            .with_extra(b"ctx".to_vec());
        let text = p.to_text();
        let parsed = TlogProof::parse(text.as_bytes()).expect("own output");
        assert_eq!(parsed, p);
        assert_eq!(parsed.signed_checkpoint(), note);
        let leaf = tree.leaf_hash(index).expect("held");
        assert_eq!(parsed.verify(&leaf), Ok(()));
        let other = tree.leaf_hash((index + 1) % 300).expect("held");
        assert!(matches!(
            parsed.verify(&other),
            Err(ProofError::RootMismatch { .. })
        ));
    }
    // No extra: no extra line.
    let note = standard_note(&tree, 8);
    let p = TlogProof::new(5, tree.inclusion_proof(5, 8).expect("valid"), &note).expect("valid");
    assert!(p.to_text().starts_with("c2sp.org/tlog-proof@v1\nindex 5\n"));
    // A proof for another size: the checkpoint of size 9 with the proof for size 8.
    let note9 = standard_note(&tree, 9);
    let wrong =
        TlogProof::new(5, tree.inclusion_proof(5, 8).expect("valid"), &note9).expect("shape");
    assert!(wrong.verify(&tree.leaf_hash(5).expect("held")).is_err());
    // An index the checkpoint does not have.
    let beyond = TlogProof::new(8, vec![], &note).expect("shape");
    assert_eq!(
        beyond.verify(&tree.leaf_hash(8).expect("held")),
        Err(ProofError::IndexOutOfRange { index: 8, size: 8 })
    );
}

#[test]
fn tlog_proof_parsing_is_strict() {
    let tree = tree_of(8);
    let good = TlogProof::new(
        5,
        tree.inclusion_proof(5, 8).expect("valid"),
        &standard_note(&tree, 8),
    )
    .expect("valid")
    .to_text();
    let cases: Vec<(String, TlogError)> = vec![
        (
            good.replacen("tlog-proof@v1", "tlog-proof@v2", 1),
            TlogError::UnexpectedLine {
                line: 1,
                expected: "c2sp.org/tlog-proof@v1",
            },
        ),
        (
            good.replacen("index 5", "index 05", 1),
            TlogError::BadNumber {
                line: 2,
                what: "index",
            },
        ),
        (
            good.replacen("index 5", "idx 5", 1),
            TlogError::UnexpectedLine {
                line: 2,
                expected: "`index ` and the leaf index",
            },
        ),
        (
            good.replacen("index 5\n", "extra \nindex 5\n", 1),
            TlogError::UnexpectedLine {
                line: 2,
                expected: "`extra ` and non-empty canonical base64",
            },
        ),
        (
            good.replacen("=\n", "\n", 1),
            TlogError::BadHash { line: 3 },
        ),
        (
            good.replacen("\n\naudit", "\naudit", 1),
            TlogError::BadHash { line: 6 },
        ),
        (
            good.replacen("index 5\n", "index 5\r\n", 1),
            TlogError::ControlCharacter { line: 2 },
        ),
        (
            good[..good.len() - 1].to_owned(),
            TlogError::MissingFinalNewline,
        ),
        (
            "c2sp.org/tlog-proof@v1\nindex 0\n".to_owned(),
            TlogError::Truncated {
                line: 3,
                expected: "a proof hash or the empty line before the checkpoint",
            },
        ),
        (
            String::new(),
            TlogError::Truncated {
                line: 1,
                expected: "c2sp.org/tlog-proof@v1",
            },
        ),
    ];
    for (text, want) in cases {
        assert_eq!(TlogProof::parse(text.as_bytes()), Err(want), "{text:?}");
    }
    let many: String = format!(
        "c2sp.org/tlog-proof@v1\nindex 0\n{}\n{}",
        format!("{}\n", TreeHash([1; 32]).to_base64()).repeat(65),
        standard_note(&tree, 8)
    );
    assert_eq!(
        TlogProof::parse(many.as_bytes()),
        Err(TlogError::TooManyHashes { max: 64 })
    );
}

#[test]
fn add_checkpoint_spec_example() {
    let r = AddCheckpointRequest::parse(SPEC_ADD_CHECKPOINT.as_bytes()).expect("spec example");
    assert_eq!(r.old_size(), 20852014);
    assert_eq!(r.proof().len(), 4);
    assert_eq!(r.checkpoint().size(), 20852163);
    assert_eq!(r.checkpoint().to_body(), SPEC_BODY);
    assert_eq!(r.to_text(), SPEC_ADD_CHECKPOINT);
}

#[test]
fn add_checkpoint_round_trip_and_verify() {
    let tree = tree_of(300);
    for (old, new) in [(0, 5), (3, 8), (8, 8), (100, 300), (256, 300)] {
        let note = standard_note(&tree, new);
        let proof = tree.consistency_proof(old, new).expect("valid");
        let r = AddCheckpointRequest::new(old, proof, &note).expect("valid");
        let parsed = AddCheckpointRequest::parse(r.to_text().as_bytes()).expect("own output");
        assert_eq!(parsed, r);
        let old_root = tree.root_at(old).expect("size");
        assert_eq!(parsed.verify(&old_root), Ok(()), "{old} -> {new}");
        let fork = tree_of(old + 1)
            .root_at(old)
            .map(|r| TreeHash(r.0.map(|b| b ^ 1)));
        assert!(
            parsed.verify(&fork.expect("size")).is_err(),
            "fork at {old}"
        );
    }
    let note = standard_note(&tree, 8);
    assert_eq!(
        AddCheckpointRequest::new(9, vec![], &note).map(|r| r.verify(&TreeHash([0; 32]))),
        Ok(Err(ProofError::SizeOrder {
            old_size: 9,
            new_size: 8
        }))
    );
    let too_many = format!(
        "old 1\n{}\n{note}",
        format!("{}\n", TreeHash([1; 32]).to_base64()).repeat(MAX_CONSISTENCY_LINES + 1)
    );
    assert_eq!(
        AddCheckpointRequest::parse(too_many.as_bytes()),
        Err(TlogError::TooManyHashes { max: 63 })
    );
}
