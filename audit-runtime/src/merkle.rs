//! RFC 9162 Merkle trees: leaf and node hashing, an append-only compact tree, tree roots at any
//! size, inclusion proofs and consistency proofs.
//!
//! This module is a pure library (no I/O). The file log does not use it yet: wiring it into the
//! segment format and the signed checkpoints is the rest of issue 13 item 3.
//!
//! # Hashing ([RFC 9162 §2.1.1], same as [RFC 6962 §2.1])
//!
//! ```text
//! MTH({})      = SHA-256()                                   the empty tree
//! leaf hash    = SHA-256(0x00 || leaf data)
//! node hash    = SHA-256(0x01 || left subtree hash || right subtree hash)
//! MTH(D[n])    = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n]))  k = largest power of two < n
//! ```
//!
//! The one-byte prefixes keep a leaf from ever being read as an inner node (second-preimage
//! resistance across levels). The tree is defined for every size, not only powers of two: the
//! left subtree is always the largest perfect tree that fits, the right one holds the rest.
//!
//! # Why SHA-256 and not BLAKE3
//!
//! Records are hashed with BLAKE3 for the hash chain ([`crate::chain`]), and BLAKE3 is faster.
//! The tree uses SHA-256 anyway, because its whole value is that *other* software can check it:
//!
//! - C2SP [`tlog-checkpoint`] defines the root hash line as the root of "the RFC 6962 Merkle hash
//!   tree", and C2SP [`tlog-proof`] says "one SHA-256 hash per line". A BLAKE3 tree would need a
//!   private variant of both, which no witness, monitor or verifier understands.
//! - The tooling around those specs (Go's `sumdb`/`tlog`, Sigsum, Trillian, Tessera, the C2SP
//!   witnesses) hard-codes SHA-256 in the RFC 6962 hasher.
//! - The published test vectors (certificate-transparency, Trillian, transparency-dev/merkle) are
//!   SHA-256, so this code is checked against independent implementations byte for byte
//!   (`audit-runtime/tests/merkle.rs`).
//!
//! The cost is small: one leaf hash per record (the record line, a few hundred bytes) and, on
//! average, one node hash per append (65-byte input). On the 2-core dev VM (SHA-NI) SHA-256 of a
//! 350-byte line even beat BLAKE3 of it (448 ns against 724 ns, loaded machine): BLAKE3's speed
//! comes from SIMD across 1 KiB chunks, which a record line does not have. See
//! `docs/BENCHMARKS.md`, "Merkle tree".
//!
//! # What is here
//!
//! - [`leaf_hash`], [`node_hash`], [`empty_root`]: the RFC's hash functions.
//! - [`CompactTree`]: appends leaf hashes and gives the root in O(log n) memory, by keeping only
//!   the right edge ("frontier": one perfect-subtree hash per set bit of the size), as Trillian's
//!   and Tessera's compact ranges do. This is what a log writer keeps.
//! - [`MerkleTree`]: keeps every leaf hash and every perfect-subtree hash (about 64 bytes per
//!   leaf), and from them gives the root at any earlier size, inclusion proofs
//!   ([RFC 9162 §2.1.3.1]) and consistency proofs ([RFC 9162 §2.1.4.1]), each in O(log n) hashes.
//!   This is what a prover builds from the leaf hashes of a log it reads.
//! - [`verify_inclusion`] ([RFC 9162 §2.1.3.2]) and [`verify_consistency`]
//!   ([RFC 9162 §2.1.4.2]): the verifier side, which needs nothing but the proof.
//! - [`tlog`]: the C2SP text formats (checkpoint body, `tlog-proof`, the `tlog-witness`
//!   consistency request body).
//!
//! ```
//! use audit_runtime::merkle::{CompactTree, MerkleTree, leaf_hash, verify_consistency, verify_inclusion};
//! use audit_runtime::merkle::tlog::Checkpoint;
//!
//! let lines: Vec<&[u8]> = vec![b"record 0", b"record 1", b"record 2", b"record 3", b"record 4"];
//! let mut writer = CompactTree::new();
//! let mut prover = MerkleTree::new();
//! for l in &lines {
//!     writer.append(l)?;
//!     prover.push(l);
//! }
//! assert_eq!(writer.root(), prover.root());
//!
//! // The writer signs this body (signing is not part of this module).
//! let body = Checkpoint::new("audit.example/agent", writer.size(), writer.root())?.to_body();
//! let checkpoint = Checkpoint::parse_body(body.as_bytes())?;
//!
//! // Record 2 is in the tree of 5, and the tree of 3 is a prefix of it.
//! let proof = prover.inclusion_proof(2, 5)?;
//! verify_inclusion(2, checkpoint.size(), &leaf_hash(lines[2]), &proof, checkpoint.root())?;
//! let old_root = prover.root_at(3)?;
//! let proof = prover.consistency_proof(3, 5)?;
//! verify_consistency(3, 5, &old_root, checkpoint.root(), &proof)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! What must hold: verification never panics, whatever the sizes, index and proof; every wrong
//! input gives a [`ProofError`] that says what was wrong. Proof lengths are checked before any
//! hashing, so a hostile proof costs at most 65 node hashes.
//!
//! [RFC 6962 §2.1]: https://www.rfc-editor.org/rfc/rfc6962.html#section-2.1
//! [RFC 9162 §2.1.1]: https://www.rfc-editor.org/rfc/rfc9162.html#section-2.1.1
//! [RFC 9162 §2.1.3.1]: https://www.rfc-editor.org/rfc/rfc9162.html#section-2.1.3.1
//! [RFC 9162 §2.1.3.2]: https://www.rfc-editor.org/rfc/rfc9162.html#section-2.1.3.2
//! [RFC 9162 §2.1.4.1]: https://www.rfc-editor.org/rfc/rfc9162.html#section-2.1.4.1
//! [RFC 9162 §2.1.4.2]: https://www.rfc-editor.org/rfc/rfc9162.html#section-2.1.4.2
//! [`tlog-checkpoint`]: https://c2sp.org/tlog-checkpoint
//! [`tlog-proof`]: https://c2sp.org/tlog-proof

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use sha2::{Digest as _, Sha256};

pub mod tlog;

/// Bytes in a [`TreeHash`] (SHA-256).
pub const HASH_LEN: usize = 32;

/// The most hashes an inclusion proof holds: a tree has at most 2^64 - 1 leaves, so its height is
/// at most 64, and the proof has one hash per level between leaf and root ("inner" levels below
/// the point where the leaf's path meets the right edge, "border" levels above it).
pub const MAX_INCLUSION_HASHES: usize = 64;

/// The most hashes a consistency proof holds: the seed (the old tree's last perfect subtree) and
/// that subtree's path to the new root, at most 64 levels: 65. For example 7 -> 2^63 + 1 needs
/// leaf 6, 63 hashes up to the root of the first 2^63 leaves, and the last leaf. (C2SP
/// `tlog-witness` accepts at most 63 lines, so witnesses serve trees below about 2^62 leaves.)
pub const MAX_CONSISTENCY_HASHES: usize = 65;

/// A SHA-256 Merkle tree hash: a leaf hash, an inner node hash or a tree root.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TreeHash(pub [u8; HASH_LEN]);

impl TreeHash {
    /// The bytes.
    pub fn as_bytes(&self) -> &[u8; HASH_LEN] {
        &self.0
    }

    /// Lower-case hex, 64 digits.
    pub fn to_hex(&self) -> String {
        crate::ids::to_hex(&self.0)
    }

    /// Parse 64 hex digits (either case).
    pub fn from_hex(s: &str) -> Option<Self> {
        crate::ids::from_hex::<HASH_LEN>(s).map(TreeHash)
    }

    /// Standard base64 with padding ([RFC 4648 §4]), as C2SP checkpoints and proofs write it.
    ///
    /// [RFC 4648 §4]: https://www.rfc-editor.org/rfc/rfc4648.html#section-4
    pub fn to_base64(&self) -> String {
        B64.encode(self.0)
    }

    /// Parse standard base64 of exactly 32 bytes, canonical only: padding required, no
    /// whitespace, no non-zero trailing bits. So one hash has exactly one text form.
    pub fn from_base64(s: &str) -> Option<Self> {
        // 32 bytes encode to 44 characters; refuse anything else before decoding.
        if s.len() != 44 {
            return None;
        }
        let mut out = [0u8; HASH_LEN];
        match B64.decode_slice(s, &mut out) {
            Ok(HASH_LEN) => Some(TreeHash(out)),
            _ => None,
        }
    }
}

impl fmt::Display for TreeHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for TreeHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TreeHash({})", self.to_hex())
    }
}

/// The root of the empty tree: SHA-256 of the empty string ([RFC 9162 §2.1.1]).
///
/// [RFC 9162 §2.1.1]: https://www.rfc-editor.org/rfc/rfc9162.html#section-2.1.1
pub fn empty_root() -> TreeHash {
    TreeHash(Sha256::digest([]).into())
}

/// The hash of a leaf: SHA-256(0x00 || data) ([RFC 9162 §2.1.1]).
///
/// [RFC 9162 §2.1.1]: https://www.rfc-editor.org/rfc/rfc9162.html#section-2.1.1
pub fn leaf_hash(data: &[u8]) -> TreeHash {
    let mut h = Sha256::new();
    h.update([0x00]);
    h.update(data);
    TreeHash(h.finalize().into())
}

/// The hash of an inner node: SHA-256(0x01 || left || right) ([RFC 9162 §2.1.1]).
///
/// [RFC 9162 §2.1.1]: https://www.rfc-editor.org/rfc/rfc9162.html#section-2.1.1
pub fn node_hash(left: &TreeHash, right: &TreeHash) -> TreeHash {
    let mut h = Sha256::new();
    h.update([0x01]);
    h.update(left.0);
    h.update(right.0);
    TreeHash(h.finalize().into())
}

/// Why a proof could not be made or did not verify.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProofError {
    /// An inclusion proof was asked for, or checked, in a tree of size 0: it has no leaves.
    EmptyTree,
    /// The leaf index is not below the tree size.
    IndexOutOfRange {
        /// The index asked for.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// A consistency proof from a larger tree to a smaller one.
    SizeOrder {
        /// The older (supposedly smaller) size.
        old_size: u64,
        /// The newer size.
        new_size: u64,
    },
    /// A size beyond the leaves this [`MerkleTree`] holds.
    SizeBeyondTree {
        /// The size asked for.
        size: u64,
        /// The leaves held.
        leaves: u64,
    },
    /// The proof has the wrong number of hashes for its sizes and index.
    ProofLength {
        /// The number the RFC's algorithm needs for these sizes and index.
        expected: usize,
        /// The number the proof has.
        actual: usize,
    },
    /// The proof does not lead to the expected root: the leaf is not at that index of that tree,
    /// or the proof or root was altered.
    RootMismatch {
        /// The root the proof leads to.
        computed: TreeHash,
        /// The root it was checked against.
        expected: TreeHash,
    },
    /// The consistency proof does not reproduce the old root: the old tree is not a prefix of the
    /// new one, or the proof or old root was altered.
    OldRootMismatch {
        /// The old root the proof leads to.
        computed: TreeHash,
        /// The old root it was checked against.
        expected: TreeHash,
    },
}

impl fmt::Display for ProofError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProofError::EmptyTree => f.write_str("the tree is empty (size 0): it has no leaf"),
            ProofError::IndexOutOfRange { index, size } => {
                write!(f, "leaf index {index} is not below the tree size {size}")
            }
            ProofError::SizeOrder { old_size, new_size } => write!(
                f,
                "old tree size {old_size} is larger than new tree size {new_size}"
            ),
            ProofError::SizeBeyondTree { size, leaves } => {
                write!(f, "tree size {size} is beyond the {leaves} leaves held")
            }
            ProofError::ProofLength { expected, actual } => write!(
                f,
                "the proof has {actual} hashes, these sizes need exactly {expected}"
            ),
            ProofError::RootMismatch { computed, expected } => write!(
                f,
                "the proof leads to root {computed}, not to the expected root {expected}"
            ),
            ProofError::OldRootMismatch { computed, expected } => write!(
                f,
                "the proof leads to old root {computed}, not to the expected old root {expected}"
            ),
        }
    }
}

impl std::error::Error for ProofError {}

/// The number of hashes in the inclusion proof of leaf `index` in a tree of `size` leaves
/// (`index < size`): one per level where the leaf's path and the right edge of the tree have
/// not yet met ("inner"), plus one per left sibling above that ("border").
fn inclusion_len(index: u64, size: u64) -> (usize, usize) {
    let inner = (u64::BITS - (index ^ (size - 1)).leading_zeros()) as usize;
    let border = (index.checked_shr(inner as u32).unwrap_or(0)).count_ones() as usize;
    (inner, border)
}

/// The number of hashes in the consistency proof from `old_size` to `new_size`
/// (`0 < old_size < new_size`), and whether the proof starts with a seed hash (it does unless
/// the old tree is a perfect tree, whose root the verifier already holds).
fn consistency_len(old_size: u64, new_size: u64) -> (usize, bool) {
    let shift = old_size.trailing_zeros() as usize;
    let (inner, border) = inclusion_len(old_size - 1, new_size);
    let seeded = !old_size.is_power_of_two();
    (inner - shift + border + usize::from(seeded), seeded)
}

/// The number of hashes that an inclusion proof of leaf `index` in a tree of `size` must have.
pub fn inclusion_proof_len(index: u64, size: u64) -> Result<usize, ProofError> {
    if size == 0 {
        return Err(ProofError::EmptyTree);
    }
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let (inner, border) = inclusion_len(index, size);
    Ok(inner + border)
}

/// The number of hashes that a consistency proof from `old_size` to `new_size` must have (0 when
/// the old size is 0 or the sizes are equal).
pub fn consistency_proof_len(old_size: u64, new_size: u64) -> Result<usize, ProofError> {
    if old_size > new_size {
        return Err(ProofError::SizeOrder { old_size, new_size });
    }
    if old_size == 0 || old_size == new_size {
        return Ok(0);
    }
    Ok(consistency_len(old_size, new_size).0)
}

/// Check an inclusion proof ([RFC 9162 §2.1.3.2]): that `leaf` is the leaf hash at `index` in
/// the tree of `size` leaves whose root is `root`.
///
/// [RFC 9162 §2.1.3.2]: https://www.rfc-editor.org/rfc/rfc9162.html#section-2.1.3.2
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: &TreeHash,
    proof: &[TreeHash],
    root: &TreeHash,
) -> Result<(), ProofError> {
    let computed = root_from_inclusion_proof(index, size, leaf, proof)?;
    if computed != *root {
        return Err(ProofError::RootMismatch {
            computed,
            expected: *root,
        });
    }
    Ok(())
}

/// The root that an inclusion proof leads to, following [RFC 9162 §2.1.3.2] step by step
/// (`fn`/`sn` are the index and last index, shifted up a level per proof hash). Fails only on
/// sizes, index or proof length; the caller compares the root.
///
/// [RFC 9162 §2.1.3.2]: https://www.rfc-editor.org/rfc/rfc9162.html#section-2.1.3.2
pub fn root_from_inclusion_proof(
    index: u64,
    size: u64,
    leaf: &TreeHash,
    proof: &[TreeHash],
) -> Result<TreeHash, ProofError> {
    let expected = inclusion_proof_len(index, size)?;
    if proof.len() != expected {
        return Err(ProofError::ProofLength {
            expected,
            actual: proof.len(),
        });
    }
    let (mut f_n, mut s_n) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        // With the length checked above, sn never reaches 0 early; the RFC's step 4a stays as
        // a guard so that this loop is right on its own.
        if s_n == 0 {
            return Err(ProofError::ProofLength {
                expected,
                actual: proof.len(),
            });
        }
        if f_n & 1 == 1 || f_n == s_n {
            r = node_hash(p, &r);
            if f_n & 1 == 0 {
                while f_n & 1 == 0 && f_n != 0 {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    debug_assert_eq!(s_n, 0, "a proof of the checked length ends at the root");
    Ok(r)
}

/// Check a consistency proof ([RFC 9162 §2.1.4.2]): that the tree of `old_size` leaves with root
/// `old_root` is a prefix of the tree of `new_size` leaves with root `new_root`.
///
/// The RFC defines proofs for `0 < old_size < new_size`; the two edge cases follow C2SP
/// [`tlog-witness`] ("add-checkpoint"): from size 0 the proof is empty and `old_root` must be
/// the empty tree's root, and between equal sizes the proof is empty and the roots are equal.
///
/// [RFC 9162 §2.1.4.2]: https://www.rfc-editor.org/rfc/rfc9162.html#section-2.1.4.2
/// [`tlog-witness`]: https://c2sp.org/tlog-witness
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &TreeHash,
    new_root: &TreeHash,
    proof: &[TreeHash],
) -> Result<(), ProofError> {
    let expected = consistency_proof_len(old_size, new_size)?;
    if proof.len() != expected {
        return Err(ProofError::ProofLength {
            expected,
            actual: proof.len(),
        });
    }
    if old_size == 0 {
        let empty = empty_root();
        if *old_root != empty {
            return Err(ProofError::OldRootMismatch {
                computed: empty,
                expected: *old_root,
            });
        }
        return Ok(());
    }
    if old_size == new_size {
        if old_root != new_root {
            return Err(ProofError::RootMismatch {
                computed: *old_root,
                expected: *new_root,
            });
        }
        return Ok(());
    }
    // RFC 9162 §2.1.4.2, steps 2 to 7. Step 2 ("if first is an exact power of 2, prepend
    // first_hash") is done by starting from `old_root` instead of `proof[0]`.
    let (mut rest, seed) = if old_size.is_power_of_two() {
        (proof, *old_root)
    } else {
        (&proof[1..], proof[0])
    };
    let (mut f_n, mut s_n) = (old_size - 1, new_size - 1);
    while f_n & 1 == 1 {
        f_n >>= 1;
        s_n >>= 1;
    }
    let (mut f_r, mut s_r) = (seed, seed);
    while let Some((c, tail)) = rest.split_first() {
        rest = tail;
        if s_n == 0 {
            return Err(ProofError::ProofLength {
                expected,
                actual: proof.len(),
            });
        }
        if f_n & 1 == 1 || f_n == s_n {
            f_r = node_hash(c, &f_r);
            s_r = node_hash(c, &s_r);
            if f_n & 1 == 0 {
                while f_n & 1 == 0 && f_n != 0 {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            }
        } else {
            s_r = node_hash(&s_r, c);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    if f_r != *old_root {
        return Err(ProofError::OldRootMismatch {
            computed: f_r,
            expected: *old_root,
        });
    }
    if s_r != *new_root {
        return Err(ProofError::RootMismatch {
            computed: s_r,
            expected: *new_root,
        });
    }
    Ok(())
}

/// Why a [`CompactTree`] could not be rebuilt from a saved size and frontier.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FrontierError {
    /// A tree of `size` leaves has one frontier hash per set bit of `size`.
    Length {
        /// The tree size.
        size: u64,
        /// `size.count_ones()`.
        expected: usize,
        /// The hashes given.
        actual: usize,
    },
    /// The tree already holds 2^64 - 1 leaves, the most a `u64` size can count.
    Full,
}

impl fmt::Display for FrontierError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrontierError::Length {
                size,
                expected,
                actual,
            } => write!(
                f,
                "a tree of size {size} has {expected} frontier hashes, {actual} were given"
            ),
            FrontierError::Full => f.write_str("the tree holds 2^64 - 1 leaves and is full"),
        }
    }
}

impl std::error::Error for FrontierError {}

/// An append-only Merkle tree that keeps only its right edge: O(log n) memory, amortised O(1)
/// node hashes per append, root in O(log n).
///
/// The frontier holds, for each set bit of the size from the highest to the lowest, the root of
/// the perfect subtree that bit covers. A tree of size 6 = 0b110 holds `MTH(D[0:4])` and
/// `MTH(D[4:6])`; its root is `node_hash(MTH(D[0:4]), MTH(D[4:6]))`. This is a Trillian/Tessera
/// "compact range" that starts at leaf 0.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CompactTree {
    size: u64,
    /// Perfect-subtree roots, largest (leftmost) first; `frontier.len() == size.count_ones()`.
    frontier: Vec<TreeHash>,
}

impl CompactTree {
    /// The empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Rebuild a tree from a saved [`size`](Self::size) and [`frontier`](Self::frontier), for a
    /// writer that resumes a log. The hashes are taken on trust: check the resulting
    /// [`root`](Self::root) against a signed checkpoint.
    pub fn from_frontier(size: u64, frontier: Vec<TreeHash>) -> Result<Self, FrontierError> {
        let expected = size.count_ones() as usize;
        if frontier.len() != expected {
            return Err(FrontierError::Length {
                size,
                expected,
                actual: frontier.len(),
            });
        }
        Ok(Self { size, frontier })
    }

    /// The number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The perfect-subtree roots along the right edge, largest first.
    pub fn frontier(&self) -> &[TreeHash] {
        &self.frontier
    }

    /// Append the leaf whose data is `data`; returns its index.
    pub fn append(&mut self, data: &[u8]) -> Result<u64, FrontierError> {
        self.append_leaf_hash(leaf_hash(data))
    }

    /// Append a leaf by its [`leaf_hash`]; returns its index.
    pub fn append_leaf_hash(&mut self, leaf: TreeHash) -> Result<u64, FrontierError> {
        let index = self.size;
        let new_size = index.checked_add(1).ok_or(FrontierError::Full)?;
        // Each trailing one bit of the old size is a perfect subtree of the same height as the
        // one being carried; merge them as a binary counter carries.
        let mut carry = leaf;
        let mut bits = index;
        while bits & 1 == 1 {
            // The frontier has one entry per set bit, so it is not empty here.
            let Some(left) = self.frontier.pop() else {
                unreachable!("frontier shorter than the set bits of the size")
            };
            carry = node_hash(&left, &carry);
            bits >>= 1;
        }
        self.frontier.push(carry);
        self.size = new_size;
        Ok(index)
    }

    /// The root hash ([RFC 9162 §2.1.1] MTH) of the tree as it is now.
    ///
    /// [RFC 9162 §2.1.1]: https://www.rfc-editor.org/rfc/rfc9162.html#section-2.1.1
    pub fn root(&self) -> TreeHash {
        let mut it = self.frontier.iter().rev();
        let Some(last) = it.next() else {
            return empty_root();
        };
        it.fold(*last, |right, left| node_hash(left, &right))
    }
}

/// A Merkle tree over stored leaf hashes, for roots at any size and for proofs.
///
/// Keeps level 0 (the leaf hashes) and every complete perfect subtree above it: about two
/// hashes, 64 bytes, per leaf. A subtree hash `MTH(D[a:b])` then costs O(log n) node hashes, and so
/// does each proof. Sizes are `u64` as in the RFC; the leaves held are bounded by memory.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MerkleTree {
    /// `levels[l][i]` = root of the perfect subtree of 2^l leaves starting at leaf `i << l`.
    levels: Vec<Vec<TreeHash>>,
}

impl MerkleTree {
    /// The empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// A tree of these leaf hashes, in order.
    pub fn from_leaf_hashes(leaves: impl IntoIterator<Item = TreeHash>) -> Self {
        let mut tree = Self::new();
        for leaf in leaves {
            tree.push_leaf_hash(leaf);
        }
        tree
    }

    /// The number of leaves held.
    pub fn len(&self) -> u64 {
        self.levels.first().map_or(0, |l| l.len() as u64)
    }

    /// Whether no leaf is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Append the leaf whose data is `data`; returns its index.
    pub fn push(&mut self, data: &[u8]) -> u64 {
        self.push_leaf_hash(leaf_hash(data))
    }

    /// Append a leaf by its [`leaf_hash`]; returns its index.
    pub fn push_leaf_hash(&mut self, leaf: TreeHash) -> u64 {
        let index = self.len();
        let mut hash = leaf;
        let mut level = 0;
        loop {
            if self.levels.len() == level {
                self.levels.push(Vec::new());
            }
            let row = &mut self.levels[level];
            row.push(hash);
            // A node with an even position waits for its right sibling.
            if row.len() % 2 == 1 {
                break;
            }
            hash = node_hash(&row[row.len() - 2], &row[row.len() - 1]);
            level += 1;
        }
        index
    }

    /// The leaf hash at `index`, if held.
    pub fn leaf_hash(&self, index: u64) -> Option<TreeHash> {
        let i = usize::try_from(index).ok()?;
        self.levels.first()?.get(i).copied()
    }

    /// The root of the whole tree held.
    pub fn root(&self) -> TreeHash {
        self.subtree(0, self.len())
    }

    /// The root of the tree of the first `size` leaves: what a checkpoint of that size signed.
    pub fn root_at(&self, size: u64) -> Result<TreeHash, ProofError> {
        self.check_size(size)?;
        Ok(self.subtree(0, size))
    }

    /// The inclusion proof of leaf `index` in the tree of the first `size` leaves
    /// ([RFC 9162 §2.1.3.1] PATH), from the leaf's sibling up to a child of the root.
    ///
    /// [RFC 9162 §2.1.3.1]: https://www.rfc-editor.org/rfc/rfc9162.html#section-2.1.3.1
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<TreeHash>, ProofError> {
        self.check_size(size)?;
        let len = inclusion_proof_len(index, size)?;
        let mut proof = Vec::with_capacity(len);
        self.path(0, index, size, &mut proof);
        debug_assert_eq!(proof.len(), len);
        Ok(proof)
    }

    /// The consistency proof from the tree of the first `old_size` leaves to the tree of the
    /// first `new_size` leaves ([RFC 9162 §2.1.4.1] PROOF); empty when `old_size` is 0 or equal
    /// to `new_size`.
    ///
    /// [RFC 9162 §2.1.4.1]: https://www.rfc-editor.org/rfc/rfc9162.html#section-2.1.4.1
    pub fn consistency_proof(
        &self,
        old_size: u64,
        new_size: u64,
    ) -> Result<Vec<TreeHash>, ProofError> {
        self.check_size(new_size)?;
        let len = consistency_proof_len(old_size, new_size)?;
        let mut proof = Vec::with_capacity(len);
        if len == 0 {
            return Ok(proof);
        }
        // The old tree's last perfect subtree is node (level, index); the proof is that node
        // (unless it is the whole old tree, which the verifier holds as the old root) and then
        // its inclusion path in the new tree.
        let level = old_size.trailing_zeros();
        let index = (old_size - 1) >> level;
        if index != 0 {
            proof.push(self.node(level, index));
        }
        self.path(level, index, new_size, &mut proof);
        debug_assert_eq!(proof.len(), len);
        Ok(proof)
    }

    fn check_size(&self, size: u64) -> Result<(), ProofError> {
        if size > self.len() {
            return Err(ProofError::SizeBeyondTree {
                size,
                leaves: self.len(),
            });
        }
        Ok(())
    }

    /// Appends the path from node (`level`, `index`) up to the root of the tree of `size`
    /// leaves: below the level where the node's path meets the tree's right edge, the sibling
    /// at each level (a right sibling cut by the edge is the root of the leaves it still has);
    /// above it, the left sibling of each level where the path turns right.
    fn path(&self, level: u32, index: u64, size: u64, out: &mut Vec<TreeHash>) {
        let last = (size - 1) >> level;
        let inner = u64::BITS - (index ^ last).leading_zeros();
        for l in 0..inner {
            let sibling = (index >> l) ^ 1;
            let height = level + l;
            let begin = sibling << height;
            let end = begin.saturating_add(1u64 << height);
            if end <= size {
                out.push(self.node(height, sibling));
            } else {
                out.push(self.subtree(begin, size));
            }
        }
        let mut above = index.checked_shr(inner).unwrap_or(0);
        let mut height = level + inner;
        while above != 0 {
            if above & 1 == 1 {
                out.push(self.node(height, above ^ 1));
            }
            above >>= 1;
            height += 1;
        }
    }

    /// The root of the complete perfect subtree (`level`, `index`), which must be held.
    fn node(&self, level: u32, index: u64) -> TreeHash {
        self.levels[level as usize][index as usize]
    }

    /// MTH(D[begin:end]) for a range that starts on a multiple of the largest power of two
    /// below its length, as every subtree in the RFC's recursion does: the left part is a
    /// perfect subtree that is held, the right part recurses.
    fn subtree(&self, begin: u64, end: u64) -> TreeHash {
        let n = end - begin;
        if n == 0 {
            return empty_root();
        }
        if n.is_power_of_two() {
            let level = n.trailing_zeros();
            return self.node(level, begin >> level);
        }
        let k = 1u64 << (u64::BITS - 1 - (n - 1).leading_zeros());
        node_hash(
            &self.subtree(begin, begin + k),
            &self.subtree(begin + k, end),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proof_lengths_at_the_edges_of_u64() {
        assert_eq!(inclusion_proof_len(0, u64::MAX), Ok(64));
        assert_eq!(inclusion_proof_len(u64::MAX - 1, u64::MAX), Ok(63));
        assert_eq!(consistency_proof_len(1, u64::MAX), Ok(64));
        assert_eq!(
            consistency_proof_len(u64::MAX - 1, u64::MAX).map(|l| l <= 64),
            Ok(true)
        );
        assert_eq!(
            consistency_proof_len(7, (1 << 63) + 1),
            Ok(MAX_CONSISTENCY_HASHES)
        );
        assert_eq!(
            inclusion_proof_len(5, 5),
            Err(ProofError::IndexOutOfRange { index: 5, size: 5 })
        );
    }

    #[test]
    fn compact_tree_is_full_at_u64_max() {
        let frontier = vec![TreeHash([7; 32]); 64];
        let mut t = CompactTree::from_frontier(u64::MAX, frontier).expect("64 set bits");
        assert_eq!(t.append(b"x"), Err(FrontierError::Full));
    }
}

/// The consistency proof from the tree `old` (a [`CompactTree`] of `m` leaves) to the tree of
/// `m + new_leaves.len()` leaves that appending `new_leaves` (leaf hashes, in order) gives, without
/// the first `m` leaves: what a log writer can make in O(log n + k) memory for `k` new leaves,
/// to send a witness (C2SP `tlog-witness` "add-checkpoint").
///
/// The proof is the same as [`MerkleTree::consistency_proof`]`(m, m + k)` over the whole tree
/// ([RFC 9162 §2.1.4.1]): the old tree's last perfect subtree (unless the old tree is perfect)
/// and that subtree's inclusion path in the new tree. Every left sibling on that path is a
/// perfect subtree of the old tree, and those are exactly the other frontier hashes (the
/// ancestors' left children are the perfect subtrees of the set bits of `m` above its lowest);
/// every right sibling lies at or after leaf `m`, so it is the root of a run of new leaves.
/// Cost: at most `k` node hashes for the right siblings together, no hash for the left ones.
///
/// Empty when `old` is empty or `new_leaves` is; fails only when `m + k` overflows a `u64`.
///
/// [RFC 9162 §2.1.4.1]: https://www.rfc-editor.org/rfc/rfc9162.html#section-2.1.4.1
pub fn consistency_proof_from_frontier(
    old: &CompactTree,
    new_leaves: &[TreeHash],
) -> Result<Vec<TreeHash>, FrontierError> {
    let m = old.size();
    let k = u64::try_from(new_leaves.len()).map_err(|_| FrontierError::Full)?;
    let n = m.checked_add(k).ok_or(FrontierError::Full)?;
    if m == 0 || k == 0 {
        return Ok(Vec::new());
    }
    let frontier = old.frontier();
    // The old tree's last perfect subtree: node (level, index), the frontier's last hash.
    let level = m.trailing_zeros();
    let index = (m - 1) >> level;
    let last = (n - 1) >> level;
    let inner = u64::BITS - (index ^ last).leading_zeros();
    // Left siblings come from the frontier, smallest first, i.e. from its end (before the seed).
    let mut lefts = frontier[..frontier.len() - 1].iter().rev();
    let mut next_left = || -> TreeHash {
        // The frontier has one hash per set bit of m; the path takes one left sibling per set
        // bit of m above the lowest, so it never runs out.
        match lefts.next() {
            Some(h) => *h,
            None => unreachable!("frontier shorter than the left siblings of the path"),
        }
    };
    let mut proof = Vec::with_capacity(consistency_proof_len(m, n).unwrap_or(0));
    if index != 0 {
        proof.push(frontier[frontier.len() - 1]);
    }
    for l in 0..inner {
        let height = level + l;
        let node = index >> l;
        if node & 1 == 1 {
            proof.push(next_left());
        } else {
            // The right sibling covers leaves [begin, begin + 2^height) cut at n; begin >= m.
            let begin = (node + 1) << height;
            let end = begin.saturating_add(1u64 << height).min(n);
            let from = (begin - m) as usize;
            let to = (end - m) as usize;
            proof.push(root_of_leaf_hashes(&new_leaves[from..to]));
        }
    }
    let mut above = index.checked_shr(inner).unwrap_or(0);
    while above != 0 {
        if above & 1 == 1 {
            proof.push(next_left());
        }
        above >>= 1;
    }
    Ok(proof)
}

/// MTH of these leaf hashes ([RFC 9162 §2.1.1]), recursively; for a run that starts on a
/// multiple of the largest power of two below its length (as every subtree of a Merkle tree
/// does) this is that subtree's hash in the whole tree.
///
/// [RFC 9162 §2.1.1]: https://www.rfc-editor.org/rfc/rfc9162.html#section-2.1.1
fn root_of_leaf_hashes(leaves: &[TreeHash]) -> TreeHash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = 1usize << (usize::BITS - 1 - (n - 1).leading_zeros());
            node_hash(
                &root_of_leaf_hashes(&leaves[..k]),
                &root_of_leaf_hashes(&leaves[k..]),
            )
        }
    }
}

#[cfg(test)]
mod frontier_proof_tests {
    use super::*;
    use proptest::prelude::*;

    fn leaves(n: u64) -> Vec<TreeHash> {
        (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect()
    }

    fn check(m: u64, n: u64) {
        let all = leaves(n);
        let full = MerkleTree::from_leaf_hashes(all.iter().copied());
        let mut old = CompactTree::new();
        for l in &all[..m as usize] {
            old.append_leaf_hash(*l).expect("small tree");
        }
        let proof = consistency_proof_from_frontier(&old, &all[m as usize..]).expect("fits");
        assert_eq!(
            proof,
            full.consistency_proof(m, n).expect("sizes in range"),
            "m={m} n={n}"
        );
        let old_root = full.root_at(m).expect("m <= n");
        verify_consistency(m, n, &old_root, &full.root(), &proof).expect("proof verifies");
    }

    #[test]
    fn every_pair_up_to_70_leaves() {
        for n in 0..=70 {
            for m in 0..=n {
                check(m, n);
            }
        }
    }

    #[test]
    fn overflowing_size_is_refused() {
        let t = CompactTree::from_frontier(u64::MAX, vec![TreeHash([1; 32]); 64]).expect("ok");
        assert_eq!(
            consistency_proof_from_frontier(&t, &[TreeHash([2; 32])]),
            Err(FrontierError::Full)
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn matches_the_full_tree(n in 1u64..1500, frac in 0.0f64..=1.0) {
            let m = ((n as f64) * frac) as u64;
            check(m.min(n), n);
        }

        #[test]
        fn tampered_frontier_proof_fails(n in 3u64..300, m in 1u64..300, byte in 0usize..32) {
            prop_assume!(m < n);
            let all = leaves(n);
            let full = MerkleTree::from_leaf_hashes(all.iter().copied());
            let mut old = CompactTree::new();
            for l in &all[..m as usize] {
                old.append_leaf_hash(*l).expect("small tree");
            }
            let mut proof = consistency_proof_from_frontier(&old, &all[m as usize..]).expect("fits");
            prop_assume!(!proof.is_empty());
            let i = byte % proof.len();
            proof[i].0[byte] ^= 1;
            prop_assert!(verify_consistency(m, n, &full.root_at(m).expect("m <= n"), &full.root(), &proof).is_err());
        }
    }
}
