//! The C2SP text formats around a Merkle tree: checkpoint bodies, `tlog-proof` inclusion proofs,
//! and the `tlog-witness` add-checkpoint body that carries a consistency proof.
//!
//! - [`Checkpoint`]: the note text of a C2SP [`tlog-checkpoint`] ("Note text"): origin line, tree
//!   size, base64 root hash, optional extension lines, each ending in a newline.
//! - [`TlogProof`]: a C2SP [`tlog-proof`] ("Format"): `c2sp.org/tlog-proof@v1`, an optional
//!   `extra` line, `index N`, one base64 SHA-256 hash per line, an empty line, then the signed
//!   checkpoint verbatim.
//! - [`AddCheckpointRequest`]: the request body of C2SP [`tlog-witness`] "add-checkpoint":
//!   `old N`, one base64 hash per line of the consistency proof, an empty line, then the signed
//!   checkpoint. C2SP has no stand-alone consistency proof format; this is the shape its
//!   witnesses take.
//!
//! These functions parse and format text only. Signatures are not verified here: the signed
//! checkpoint is kept verbatim, split into its text and signature lines by [`split_note`] (a
//! structural check per C2SP [`signed-note`] "Format"), and the caller verifies the signature
//! with the log's key before trusting [`TlogProof::verify`] or [`AddCheckpointRequest::verify`].
//!
//! What must hold: parsing is strict (one text form per value: no leading zeros, canonical
//! padded base64, no control characters, every line newline-terminated) and never panics on any
//! bytes; every refusal is a [`TlogError`] naming the line.
//!
//! [`tlog-checkpoint`]: https://c2sp.org/tlog-checkpoint
//! [`tlog-proof`]: https://c2sp.org/tlog-proof
//! [`tlog-witness`]: https://c2sp.org/tlog-witness
//! [`signed-note`]: https://c2sp.org/signed-note

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use super::{MAX_INCLUSION_HASHES, ProofError, TreeHash, verify_consistency, verify_inclusion};

/// First line of a C2SP `tlog-proof`.
pub const TLOG_PROOF_HEADER: &str = "c2sp.org/tlog-proof@v1";

/// The most consistency proof lines a `tlog-witness` client may send ("add-checkpoint").
pub const MAX_CONSISTENCY_LINES: usize = 63;

/// Why a checkpoint, proof or note text was refused. Lines are counted from 1 within the text
/// that was parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TlogError {
    /// The text is not UTF-8 (C2SP signed-note: "MUST be valid UTF-8").
    NotUtf8,
    /// A control character other than newline (C2SP signed-note: "MUST NOT contain any ASCII
    /// control characters"); a CR before the newline is one.
    ControlCharacter {
        /// The line that holds it.
        line: usize,
    },
    /// The text does not end with a newline.
    MissingFinalNewline,
    /// The text ends where the format needs another line.
    Truncated {
        /// The line that is missing.
        line: usize,
        /// What the format wants there.
        expected: &'static str,
    },
    /// A checkpoint has fewer than three lines.
    TooFewLines {
        /// The lines found.
        lines: usize,
    },
    /// A line that must not be empty is.
    EmptyLine {
        /// The empty line.
        line: usize,
    },
    /// A number is not ASCII decimal without leading zeros, or does not fit in 64 bits.
    BadNumber {
        /// The line.
        line: usize,
        /// What the number is (`tree size`, `index`, `old size`).
        what: &'static str,
    },
    /// A hash line is not the canonical padded base64 of 32 bytes.
    BadHash {
        /// The line.
        line: usize,
    },
    /// A line is not what the format puts there.
    UnexpectedLine {
        /// The line.
        line: usize,
        /// What the format wants there.
        expected: &'static str,
    },
    /// More proof hashes than any valid proof has.
    TooManyHashes {
        /// The limit.
        max: usize,
    },
    /// The signed note has no blank line followed by signature lines.
    MissingSignatures,
    /// A signature line is not `— <key name> <base64 signature>`.
    BadSignatureLine {
        /// The line, counted from the first signature line.
        line: usize,
    },
}

impl fmt::Display for TlogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlogError::NotUtf8 => f.write_str("the text is not valid UTF-8"),
            TlogError::ControlCharacter { line } => {
                write!(f, "line {line}: control character other than newline")
            }
            TlogError::MissingFinalNewline => f.write_str("the text does not end with a newline"),
            TlogError::Truncated { line, expected } => {
                write!(f, "the text ends before line {line}: expected {expected}")
            }
            TlogError::TooFewLines { lines } => write!(
                f,
                "a checkpoint has at least 3 lines (origin, size, root hash), this one has {lines}"
            ),
            TlogError::EmptyLine { line } => write!(f, "line {line}: empty line"),
            TlogError::BadNumber { line, what } => write!(
                f,
                "line {line}: {what} is not a decimal number without leading zeros below 2^64"
            ),
            TlogError::BadHash { line } => write!(
                f,
                "line {line}: not a hash (canonical padded base64 of 32 bytes)"
            ),
            TlogError::UnexpectedLine { line, expected } => {
                write!(f, "line {line}: expected {expected}")
            }
            TlogError::TooManyHashes { max } => {
                write!(
                    f,
                    "more than {max} proof hashes: no valid proof is that long"
                )
            }
            TlogError::MissingSignatures => {
                f.write_str("the signed checkpoint has no blank line followed by signature lines")
            }
            TlogError::BadSignatureLine { line } => write!(
                f,
                "signature line {line}: not `— <key name> <base64 signature>`"
            ),
        }
    }
}

impl std::error::Error for TlogError {}

/// Why a checkpoint could not be built from its parts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckpointError {
    /// The origin is empty.
    EmptyOrigin,
    /// An extension line is empty (C2SP: "Extension lines, if any, MUST be non-empty").
    EmptyExtension,
    /// The origin or an extension line holds a control character (newline included).
    ControlCharacter,
}

impl fmt::Display for CheckpointError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CheckpointError::EmptyOrigin => "the checkpoint origin is empty",
            CheckpointError::EmptyExtension => "a checkpoint extension line is empty",
            CheckpointError::ControlCharacter => {
                "a checkpoint line holds a control character (newline included)"
            }
        })
    }
}

impl std::error::Error for CheckpointError {}

/// The note text (body) of a C2SP [`tlog-checkpoint`]: what a log signs about its tree.
///
/// ```text
/// example.com/behind-the-sofa
/// 20852163
/// CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=
/// ```
///
/// Each line ends with a newline, the last one included. The origin names the log; the size is
/// the number of leaves; the root hash is the RFC 6962 root at that size; any further lines are
/// opaque extensions (which C2SP does NOT RECOMMEND).
///
/// [`tlog-checkpoint`]: https://c2sp.org/tlog-checkpoint
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    origin: String,
    size: u64,
    root: TreeHash,
    extensions: Vec<String>,
}

impl Checkpoint {
    /// A checkpoint body. The origin must be non-empty and hold no control character; C2SP
    /// recommends (without requiring) a schema-less URL with neither spaces nor `+`.
    pub fn new(origin: &str, size: u64, root: TreeHash) -> Result<Self, CheckpointError> {
        if origin.is_empty() {
            return Err(CheckpointError::EmptyOrigin);
        }
        if origin.chars().any(is_ascii_control) {
            return Err(CheckpointError::ControlCharacter);
        }
        Ok(Self {
            origin: origin.to_owned(),
            size,
            root,
            extensions: Vec::new(),
        })
    }

    /// Add an extension line (non-empty, no control character).
    pub fn with_extension(mut self, line: &str) -> Result<Self, CheckpointError> {
        if line.is_empty() {
            return Err(CheckpointError::EmptyExtension);
        }
        if line.chars().any(is_ascii_control) {
            return Err(CheckpointError::ControlCharacter);
        }
        self.extensions.push(line.to_owned());
        Ok(self)
    }

    /// The log's origin line.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The tree size.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The tree root at that size.
    pub fn root(&self) -> &TreeHash {
        &self.root
    }

    /// The extension lines, in order.
    pub fn extensions(&self) -> &[String] {
        &self.extensions
    }

    /// The note text: the bytes a log signs.
    pub fn to_body(&self) -> String {
        let mut s = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            self.root.to_base64()
        );
        for e in &self.extensions {
            s.push_str(e);
            s.push('\n');
        }
        s
    }

    /// Parse a note text strictly (C2SP tlog-checkpoint "Note text"): at least three non-empty
    /// lines, each ending with a newline; a decimal size without leading zeros; a canonical
    /// base64 root of 32 bytes. `parse_body(c.to_body()) == c` and `to_body` of a parsed text
    /// gives the same bytes back.
    pub fn parse_body(text: &[u8]) -> Result<Self, TlogError> {
        let text = std::str::from_utf8(text).map_err(|_| TlogError::NotUtf8)?;
        let lines = split_lines(text, 0)?;
        if lines.len() < 3 {
            return Err(TlogError::TooFewLines { lines: lines.len() });
        }
        for (i, l) in lines.iter().enumerate() {
            if l.is_empty() {
                return Err(TlogError::EmptyLine { line: i + 1 });
            }
        }
        let size = parse_decimal(lines[1]).ok_or(TlogError::BadNumber {
            line: 2,
            what: "tree size",
        })?;
        let root = TreeHash::from_base64(lines[2]).ok_or(TlogError::BadHash { line: 3 })?;
        Ok(Self {
            origin: lines[0].to_owned(),
            size,
            root,
            extensions: lines[3..].iter().map(|l| (*l).to_owned()).collect(),
        })
    }
}

/// A signed note split into its text and its signature lines (C2SP [`signed-note`] "Format").
///
/// [`signed-note`]: https://c2sp.org/signed-note
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SplitNote<'n> {
    /// The signed text, final newline included.
    pub text: &'n str,
    /// The signature lines, each ending with a newline.
    pub signatures: &'n str,
}

/// Split a signed note at its last blank line and check its shape: UTF-8, no control character
/// but newline, text ending in a newline, then one or more lines `— <key name> <base64>` where
/// the name is non-empty without spaces or `+` and the signature decodes to at least the 4-byte
/// key ID. Does not verify any signature.
pub fn split_note(note: &[u8]) -> Result<SplitNote<'_>, TlogError> {
    let note = std::str::from_utf8(note).map_err(|_| TlogError::NotUtf8)?;
    split_lines(note, 0)?;
    let Some(blank) = note.rfind("\n\n") else {
        return Err(TlogError::MissingSignatures);
    };
    let (text, signatures) = (&note[..=blank], &note[blank + 2..]);
    if signatures.is_empty() {
        return Err(TlogError::MissingSignatures);
    }
    for (i, line) in signatures
        .strip_suffix('\n')
        .unwrap_or(signatures)
        .split('\n')
        .enumerate()
    {
        let bad = TlogError::BadSignatureLine { line: i + 1 };
        let rest = line.strip_prefix("\u{2014} ").ok_or(bad.clone())?;
        let (name, sig) = rest.split_once(' ').ok_or(bad.clone())?;
        if name.is_empty() || name.contains('+') || name.chars().any(char::is_whitespace) {
            return Err(bad);
        }
        match B64.decode(sig) {
            Ok(bytes) if bytes.len() >= 4 => {}
            _ => return Err(bad),
        }
    }
    Ok(SplitNote { text, signatures })
}

/// A C2SP [`tlog-proof`]: an offline-verifiable proof that the leaf at `index` is in the tree a
/// signed checkpoint commits to.
///
/// ```text
/// c2sp.org/tlog-proof@v1
/// extra <base64>             (optional, unauthenticated)
/// index 73894
/// <base64 hash>              (zero or more: the inclusion proof, leaf sibling first)
///
/// <signed checkpoint, verbatim>
/// ```
///
/// [`tlog-proof`]: https://c2sp.org/tlog-proof
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlogProof {
    extra: Option<Vec<u8>>,
    index: u64,
    proof: Vec<TreeHash>,
    note: String,
    checkpoint: Checkpoint,
}

impl TlogProof {
    /// A proof of the leaf at `index` with this inclusion `proof`, against the signed checkpoint
    /// `note` (checked for shape, its signatures not verified).
    pub fn new(index: u64, proof: Vec<TreeHash>, note: &str) -> Result<Self, TlogError> {
        if proof.len() > MAX_INCLUSION_HASHES {
            return Err(TlogError::TooManyHashes {
                max: MAX_INCLUSION_HASHES,
            });
        }
        let checkpoint = parse_signed_checkpoint(note.as_bytes())?;
        Ok(Self {
            extra: None,
            index,
            proof,
            note: note.to_owned(),
            checkpoint,
        })
    }

    /// Attach non-empty opaque extra data (written as the `extra` line). C2SP: applications
    /// MUST NOT implicitly trust it, it is not authenticated. Empty data means no `extra` line.
    pub fn with_extra(mut self, extra: Vec<u8>) -> Self {
        self.extra = (!extra.is_empty()).then_some(extra);
        self
    }

    /// The unauthenticated extra data, if any.
    pub fn extra(&self) -> Option<&[u8]> {
        self.extra.as_deref()
    }

    /// The zero-based leaf index.
    pub fn index(&self) -> u64 {
        self.index
    }

    /// The inclusion proof hashes, leaf sibling first.
    pub fn proof(&self) -> &[TreeHash] {
        &self.proof
    }

    /// The signed checkpoint, verbatim: verify its signature with the log's key.
    pub fn signed_checkpoint(&self) -> &str {
        &self.note
    }

    /// The checkpoint body parsed from [`signed_checkpoint`](Self::signed_checkpoint).
    pub fn checkpoint(&self) -> &Checkpoint {
        &self.checkpoint
    }

    /// The text form.
    pub fn to_text(&self) -> String {
        let mut s = String::with_capacity(64 + 45 * self.proof.len() + self.note.len());
        s.push_str(TLOG_PROOF_HEADER);
        s.push('\n');
        if let Some(extra) = &self.extra {
            s.push_str("extra ");
            s.push_str(&B64.encode(extra));
            s.push('\n');
        }
        s.push_str(&format!("index {}\n", self.index));
        for h in &self.proof {
            s.push_str(&h.to_base64());
            s.push('\n');
        }
        s.push('\n');
        s.push_str(&self.note);
        s
    }

    /// Parse the text form strictly (C2SP tlog-proof "Format").
    pub fn parse(text: &[u8]) -> Result<Self, TlogError> {
        let text = std::str::from_utf8(text).map_err(|_| TlogError::NotUtf8)?;
        let mut cur = Lines::new(text);
        let (n, first) = cur.next_line("c2sp.org/tlog-proof@v1")?;
        if first != TLOG_PROOF_HEADER {
            return Err(TlogError::UnexpectedLine {
                line: n,
                expected: "c2sp.org/tlog-proof@v1",
            });
        }
        let (mut n, mut line) = cur.next_line("the `extra` or `index` line")?;
        let mut extra = None;
        if let Some(b64) = line.strip_prefix("extra ") {
            match B64.decode(b64) {
                Ok(bytes) if !bytes.is_empty() => extra = Some(bytes),
                _ => {
                    return Err(TlogError::UnexpectedLine {
                        line: n,
                        expected: "`extra ` and non-empty canonical base64",
                    });
                }
            }
            (n, line) = cur.next_line("the `index` line")?;
        }
        let index = numbered_line(n, line, "index ", "`index ` and the leaf index", "index")?;
        let proof = cur.hashes(MAX_INCLUSION_HASHES)?;
        let note = cur.rest();
        let checkpoint = parse_signed_checkpoint(note.as_bytes())?;
        Ok(Self {
            extra,
            index,
            proof,
            note: note.to_owned(),
            checkpoint,
        })
    }

    /// Check the inclusion proof of `leaf` (the leaf hash, computed by the caller from the entry)
    /// against the checkpoint's size and root (C2SP tlog-proof "Verifying a tlog proof", step
    /// 4). The checkpoint's signatures are the caller's to verify (steps 2 and 3).
    pub fn verify(&self, leaf: &TreeHash) -> Result<(), ProofError> {
        verify_inclusion(
            self.index,
            self.checkpoint.size,
            leaf,
            &self.proof,
            &self.checkpoint.root,
        )
    }
}

/// The request body of C2SP [`tlog-witness`] "add-checkpoint": a new signed checkpoint with a
/// consistency proof from an older size.
///
/// ```text
/// old 20852014
/// <base64 hash>              (zero to 63: the consistency proof)
///
/// <signed checkpoint, verbatim>
/// ```
///
/// [`tlog-witness`]: https://c2sp.org/tlog-witness
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddCheckpointRequest {
    old_size: u64,
    proof: Vec<TreeHash>,
    note: String,
    checkpoint: Checkpoint,
}

impl AddCheckpointRequest {
    /// A request proving that the tree of `old_size` leaves is a prefix of the tree the signed
    /// checkpoint `note` commits to.
    pub fn new(old_size: u64, proof: Vec<TreeHash>, note: &str) -> Result<Self, TlogError> {
        if proof.len() > MAX_CONSISTENCY_LINES {
            return Err(TlogError::TooManyHashes {
                max: MAX_CONSISTENCY_LINES,
            });
        }
        let checkpoint = parse_signed_checkpoint(note.as_bytes())?;
        Ok(Self {
            old_size,
            proof,
            note: note.to_owned(),
            checkpoint,
        })
    }

    /// The old tree size.
    pub fn old_size(&self) -> u64 {
        self.old_size
    }

    /// The consistency proof hashes.
    pub fn proof(&self) -> &[TreeHash] {
        &self.proof
    }

    /// The new signed checkpoint, verbatim.
    pub fn signed_checkpoint(&self) -> &str {
        &self.note
    }

    /// The new checkpoint body.
    pub fn checkpoint(&self) -> &Checkpoint {
        &self.checkpoint
    }

    /// The text form.
    pub fn to_text(&self) -> String {
        let mut s = format!("old {}\n", self.old_size);
        for h in &self.proof {
            s.push_str(&h.to_base64());
            s.push('\n');
        }
        s.push('\n');
        s.push_str(&self.note);
        s
    }

    /// Parse the text form strictly (C2SP tlog-witness "add-checkpoint").
    pub fn parse(text: &[u8]) -> Result<Self, TlogError> {
        let text = std::str::from_utf8(text).map_err(|_| TlogError::NotUtf8)?;
        let mut cur = Lines::new(text);
        let (n, line) = cur.next_line("the `old` line")?;
        let old_size = numbered_line(n, line, "old ", "`old ` and the old tree size", "old size")?;
        let proof = cur.hashes(MAX_CONSISTENCY_LINES)?;
        let note = cur.rest();
        let checkpoint = parse_signed_checkpoint(note.as_bytes())?;
        Ok(Self {
            old_size,
            proof,
            note: note.to_owned(),
            checkpoint,
        })
    }

    /// Check the consistency proof from (`old_size`, `old_root`) to the new checkpoint. The new
    /// checkpoint's signatures are the caller's to verify.
    pub fn verify(&self, old_root: &TreeHash) -> Result<(), ProofError> {
        verify_consistency(
            self.old_size,
            self.checkpoint.size,
            old_root,
            &self.checkpoint.root,
            &self.proof,
        )
    }
}

fn parse_signed_checkpoint(note: &[u8]) -> Result<Checkpoint, TlogError> {
    let split = split_note(note)?;
    Checkpoint::parse_body(split.text.as_bytes())
}

/// The lines of `text`, which must end with a newline and hold no other control character.
/// `first` is added to line numbers in errors.
fn split_lines(text: &str, first: usize) -> Result<Vec<&str>, TlogError> {
    let Some(body) = text.strip_suffix('\n') else {
        return Err(TlogError::MissingFinalNewline);
    };
    let lines: Vec<&str> = body.split('\n').collect();
    for (i, l) in lines.iter().enumerate() {
        if l.chars().any(is_ascii_control) {
            return Err(TlogError::ControlCharacter {
                line: first + i + 1,
            });
        }
    }
    Ok(lines)
}

/// The number after `prefix` on line `n` (`index 5`, `old 12`), strictly decimal.
fn numbered_line(
    n: usize,
    line: &str,
    prefix: &str,
    expected: &'static str,
    what: &'static str,
) -> Result<u64, TlogError> {
    let digits = line
        .strip_prefix(prefix)
        .ok_or(TlogError::UnexpectedLine { line: n, expected })?;
    parse_decimal(digits).ok_or(TlogError::BadNumber { line: n, what })
}

/// A cursor over newline-terminated lines, numbering them from 1.
struct Lines<'t> {
    rest: &'t str,
    line: usize,
}

impl<'t> Lines<'t> {
    fn new(text: &'t str) -> Self {
        Self {
            rest: text,
            line: 0,
        }
    }

    /// The next line; `expected` names it in the error if the text ends before it.
    fn next_line(&mut self, expected: &'static str) -> Result<(usize, &'t str), TlogError> {
        if self.rest.is_empty() {
            return Err(TlogError::Truncated {
                line: self.line + 1,
                expected,
            });
        }
        let Some((line, rest)) = self.rest.split_once('\n') else {
            return Err(TlogError::MissingFinalNewline);
        };
        self.line += 1;
        if line.chars().any(is_ascii_control) {
            return Err(TlogError::ControlCharacter { line: self.line });
        }
        self.rest = rest;
        Ok((self.line, line))
    }

    /// TreeHash lines up to and including the empty line that ends them.
    fn hashes(&mut self, max: usize) -> Result<Vec<TreeHash>, TlogError> {
        let mut out = Vec::new();
        loop {
            let (n, line) =
                self.next_line("a proof hash or the empty line before the checkpoint")?;
            if line.is_empty() {
                return Ok(out);
            }
            if out.len() == max {
                return Err(TlogError::TooManyHashes { max });
            }
            out.push(TreeHash::from_base64(line).ok_or(TlogError::BadHash { line: n })?);
        }
    }

    fn rest(&self) -> &'t str {
        self.rest
    }
}

/// C2SP signed-note forbids "ASCII control characters (those below U+0020) other than newline";
/// DEL and the C1 controls are allowed.
fn is_ascii_control(c: char) -> bool {
    c < '\u{20}'
}

/// ASCII decimal without leading zeros (unless it is `0`), below 2^64.
fn parse_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return None;
    }
    s.bytes().try_fold(0u64, |acc, b| {
        acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_is_strict() {
        assert_eq!(parse_decimal("0"), Some(0));
        assert_eq!(parse_decimal("18446744073709551615"), Some(u64::MAX));
        for bad in [
            "",
            "00",
            "01",
            "+1",
            "-1",
            " 1",
            "1 ",
            "18446744073709551616",
            "1e3",
        ] {
            assert_eq!(parse_decimal(bad), None, "{bad:?}");
        }
    }
}
