//! The *envelope* of a sealed record: the few members that integrity checking needs (`v`, `kind`,
//! `seq`, `prev`), read without parsing the record.
//!
//! Integrity (is this the line that was written, in this place?) must not depend on understanding
//! the record's schema: a verifier pinned today has to check the hashes and links of records of a
//! schema version, kind or shape it has never seen. So [`scan`] reads only the top-level members of
//! the canonical JSON object and skips every value it does not need without interpreting it
//! (strings, numbers, nested objects and arrays are stepped over by their delimiters). It is also
//! several times cheaper than a full parse, which keeps the integrity pass near the hash floor.
//!
//! What it requires of any record, of any schema version (the format's fixed envelope, see
//! `docs/FILE-FORMAT.md`): a JSON object whose top level has a non-negative integer `v`, a
//! non-negative integer `seq` and a string `prev` of 64 lower-case hex digits, each exactly once
//! (a duplicate is refused: two readers could otherwise disagree about which one counts). `kind`,
//! when present as a string, is reported. Members may come in any order; everything else is
//! skipped.
//!
//! What must hold: [`scan`] never panics and never allocates, on any input; it accepts every
//! record the runtime writes (a property test runs it against `serde_json` on real records).

use std::fmt;

use super::RecordHash;

/// The members of a record that integrity needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Envelope<'a> {
    /// Record schema version (`v`).
    pub v: u64,
    /// Position in the chain.
    pub seq: u64,
    /// Hash of the previous record.
    pub prev: RecordHash,
    /// The record kind, as written (any string: kinds are open), when present.
    pub kind: Option<&'a str>,
}

/// Why a record's envelope cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvelopeError(pub String);

impl fmt::Display for EnvelopeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for EnvelopeError {}

fn bad(why: impl Into<String>) -> EnvelopeError {
    EnvelopeError(why.into())
}

/// Read the envelope of canonical record bytes (a JSON object, as a sealed line holds it before
/// its hash member).
///
/// Fast path: the runtime writes `v`, `record_id`, `kind`, `seq`, `prev` first. When the leading
/// members hold all three of `v`, `seq` and `prev`, and the rest of the bytes contain none of the
/// keys `"v":`, `"seq":`, `"prev":` anywhere (a SIMD substring search), no duplicate can exist at
/// the top level, and the rest is not stepped through member by member. Anything else (another
/// order, one of those byte strings anywhere later, even inside a string) takes the full scan.
/// For well-formed JSON both read the same envelope; the tests check it on mutated records.
/// The fast path does not check that the bytes after the envelope are well-formed JSON: that is
/// the schema layer's (integrity holds by the line's hash, whatever the bytes).
pub fn scan(canonical: &[u8]) -> Result<Envelope<'_>, EnvelopeError> {
    if let Some(e) = fast(canonical) {
        return Ok(e);
    }
    scan_full(canonical)
}

/// The fast path of [`scan`]; `None` means "use the full scan".
fn fast(b: &[u8]) -> Option<Envelope<'_>> {
    let mut s = Scanner { b, i: 0 };
    s.expect(b'{').ok()?;
    let (mut v, mut seq, mut prev, mut kind) = (None, None, None, None);
    while v.is_none() || seq.is_none() || prev.is_none() {
        let key = s.string().ok()?;
        s.expect(b':').ok()?;
        match key {
            b"v" if v.is_none() => v = Some(s.uint().ok()?),
            b"seq" if seq.is_none() => seq = Some(s.uint().ok()?),
            b"prev" if prev.is_none() => {
                let raw = s.string().ok()?;
                let h = std::str::from_utf8(raw)
                    .ok()
                    .filter(|h| h.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')))
                    .and_then(RecordHash::from_hex)?;
                prev = Some(h);
            }
            b"kind" if kind.is_none() && s.peek() == Some(b'"') => {
                let raw = s.string().ok()?;
                kind = Some(std::str::from_utf8(raw).ok().filter(|k| !k.contains('\\')));
            }
            b"record_id" => s.skip_value(0).ok()?,
            _ => return None,
        }
        match s.next()? {
            b',' => {}
            _ => return None,
        }
    }
    let rest = b.get(s.i..)?;
    if [&b"\"v\":"[..], b"\"seq\":", b"\"prev\":"]
        .iter()
        .any(|k| memchr::memmem::find(rest, k).is_some())
    {
        return None;
    }
    // The object must still end as one: the last byte is its closing brace.
    if b.last() != Some(&b'}') {
        return None;
    }
    Some(Envelope {
        v: v?,
        seq: seq?,
        prev: prev?,
        kind: kind.flatten(),
    })
}

/// The full scan of [`scan`]: every top-level member, every value stepped over.
fn scan_full(canonical: &[u8]) -> Result<Envelope<'_>, EnvelopeError> {
    let mut s = Scanner { b: canonical, i: 0 };
    s.ws();
    s.expect(b'{')?;
    let mut v = None;
    let mut seq = None;
    let mut prev = None;
    let mut kind = None;
    s.ws();
    if s.peek() == Some(b'}') {
        return Err(bad("the record is an empty object"));
    }
    loop {
        s.ws();
        let key = s.string()?;
        s.ws();
        s.expect(b':')?;
        s.ws();
        match key {
            b"v" => set(&mut v, s.uint()?, "v")?,
            b"seq" => set(&mut seq, s.uint()?, "seq")?,
            b"prev" => {
                let start = s.i;
                let raw = s.string()?;
                let hash = std::str::from_utf8(raw)
                    .ok()
                    .filter(|h| h.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')))
                    .and_then(RecordHash::from_hex)
                    .ok_or_else(|| {
                        bad(format!(
                            "prev at byte {start} is not 64 lower-case hex digits"
                        ))
                    })?;
                set(&mut prev, hash, "prev")?;
            }
            b"kind" => {
                if s.peek() == Some(b'"') {
                    let raw = s.string()?;
                    // A kind with escapes is still a kind; report it only when it reads plainly.
                    let k = std::str::from_utf8(raw).ok().filter(|k| !k.contains('\\'));
                    if kind.replace(k).is_some() {
                        return Err(bad("duplicate member \"kind\""));
                    }
                } else {
                    s.skip_value(0)?;
                }
            }
            _ => s.skip_value(0)?,
        }
        s.ws();
        match s.next() {
            Some(b',') => continue,
            Some(b'}') => break,
            _ => return Err(bad(format!("expected , or }} at byte {}", s.i))),
        }
    }
    s.ws();
    if s.i != s.b.len() {
        return Err(bad(format!("bytes after the record's end at byte {}", s.i)));
    }
    Ok(Envelope {
        v: v.ok_or_else(|| bad("the record has no \"v\" (schema version)"))?,
        seq: seq.ok_or_else(|| bad("the record has no \"seq\""))?,
        prev: prev.ok_or_else(|| bad("the record has no \"prev\""))?,
        kind: kind.flatten(),
    })
}

fn set<T>(slot: &mut Option<T>, value: T, name: &str) -> Result<(), EnvelopeError> {
    if slot.replace(value).is_some() {
        return Err(bad(format!("duplicate member \"{name}\"")));
    }
    Ok(())
}

/// Nesting deeper than this is refused (serde_json's own limit is 128).
const MAX_DEPTH: usize = 128;

struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Scanner<'a> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.i += 1;
        Some(c)
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn expect(&mut self, c: u8) -> Result<(), EnvelopeError> {
        if self.next() == Some(c) {
            Ok(())
        } else {
            Err(bad(format!(
                "expected {:?} at byte {}",
                char::from(c),
                self.i.saturating_sub(1)
            )))
        }
    }

    /// A string's raw bytes between the quotes (escapes left as they are).
    fn string(&mut self) -> Result<&'a [u8], EnvelopeError> {
        let at = self.i;
        self.expect(b'"')?;
        let start = self.i;
        loop {
            // The bytes between quotes: find the next quote or backslash.
            let rest = self.b.get(self.i..).unwrap_or_default();
            let Some(off) = rest
                .iter()
                .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
            else {
                return Err(bad(format!("unterminated string at byte {at}")));
            };
            self.i += off;
            match self.next() {
                Some(b'"') => return Ok(self.b.get(start..self.i - 1).unwrap_or_default()),
                Some(b'\\') => {
                    // Skip the escaped character; \uXXXX's digits are plain bytes.
                    if self.next().is_none() {
                        return Err(bad(format!("unterminated string at byte {at}")));
                    }
                }
                _ => {
                    return Err(bad(format!(
                        "control character in string at byte {}",
                        self.i
                    )));
                }
            }
        }
    }

    fn uint(&mut self) -> Result<u64, EnvelopeError> {
        let start = self.i;
        let mut n: u64 = 0;
        while let Some(c @ b'0'..=b'9') = self.peek() {
            n = n
                .checked_mul(10)
                .and_then(|n| n.checked_add(u64::from(c - b'0')))
                .ok_or_else(|| bad(format!("number at byte {start} overflows u64")))?;
            self.i += 1;
        }
        let digits = self.i - start;
        if digits == 0 {
            return Err(bad(format!(
                "expected a non-negative integer at byte {start}"
            )));
        }
        if digits > 1 && self.b.get(start) == Some(&b'0') {
            return Err(bad(format!("number with a leading zero at byte {start}")));
        }
        if matches!(self.peek(), Some(b'.' | b'e' | b'E')) {
            return Err(bad(format!("expected an integer at byte {start}")));
        }
        Ok(n)
    }

    /// Step over one JSON value without interpreting it.
    fn skip_value(&mut self, depth: usize) -> Result<(), EnvelopeError> {
        if depth > MAX_DEPTH {
            return Err(bad(format!(
                "nesting deeper than {MAX_DEPTH} at byte {}",
                self.i
            )));
        }
        match self.peek() {
            Some(b'"') => self.string().map(|_| ()),
            Some(open @ (b'{' | b'[')) => {
                self.i += 1;
                let close = if open == b'{' { b'}' } else { b']' };
                self.ws();
                if self.peek() == Some(close) {
                    self.i += 1;
                    return Ok(());
                }
                loop {
                    self.ws();
                    if open == b'{' {
                        self.string()?;
                        self.ws();
                        self.expect(b':')?;
                        self.ws();
                    }
                    self.skip_value(depth + 1)?;
                    self.ws();
                    match self.next() {
                        Some(b',') => continue,
                        Some(c) if c == close => return Ok(()),
                        _ => {
                            return Err(bad(format!(
                                "expected , or {} at byte {}",
                                char::from(close),
                                self.i.saturating_sub(1)
                            )));
                        }
                    }
                }
            }
            Some(b't') => self.word(b"true"),
            Some(b'f') => self.word(b"false"),
            Some(b'n') => self.word(b"null"),
            Some(b'-' | b'0'..=b'9') => {
                let start = self.i;
                while matches!(
                    self.peek(),
                    Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                ) {
                    self.i += 1;
                }
                if self.i == start {
                    return Err(bad(format!("bad number at byte {start}")));
                }
                Ok(())
            }
            _ => Err(bad(format!("expected a value at byte {}", self.i))),
        }
    }

    fn word(&mut self, w: &[u8]) -> Result<(), EnvelopeError> {
        if self.b.get(self.i..self.i + w.len()) == Some(w) {
            self.i += w.len();
            Ok(())
        } else {
            Err(bad(format!("expected a value at byte {}", self.i)))
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const H: &str = "00000000000000000000000000000000000000000000000000000000000000ab";

    #[test]
    fn reads_the_envelope_in_any_order_and_skips_everything_else() {
        let text = format!(
            r#"{{"x":{{"seq":99,"a":[1,2,{{"v":3}}],"s":"\"}}"}},"kind":"brand_new","prev":"{H}","seq":7,"v":2,"n":-1.5e3,"t":true,"z":null}}"#
        );
        let e = scan(text.as_bytes()).unwrap();
        assert_eq!(e.v, 2);
        assert_eq!(e.seq, 7);
        assert_eq!(e.prev.to_hex(), H);
        assert_eq!(e.kind, Some("brand_new"));
    }

    #[test]
    fn refuses_what_two_readers_could_read_differently() {
        for bad in [
            format!(r#"{{"v":1,"seq":1,"seq":2,"prev":"{H}"}}"#),
            format!(r#"{{"v":1,"v":1,"seq":1,"prev":"{H}"}}"#),
            format!(r#"{{"v":1,"seq":1,"prev":"{H}","prev":"{H}"}}"#),
            format!(r#"{{"v":1,"seq":01,"prev":"{H}"}}"#),
            format!(r#"{{"v":1,"seq":1.0,"prev":"{H}"}}"#),
            format!(r#"{{"v":1,"seq":-1,"prev":"{H}"}}"#),
            format!(r#"{{"v":1,"seq":18446744073709551616,"prev":"{H}"}}"#),
            format!(r#"{{"v":1,"seq":1,"prev":"{}"}}"#, H.to_uppercase()),
            r#"{"v":1,"seq":1}"#.to_owned(),
            format!(r#"{{"seq":1,"prev":"{H}"}}"#),
            format!(r#"{{"v":1,"seq":1,"prev":"{H}"}}x"#),
            "{}".to_owned(),
        ] {
            assert!(scan(bad.as_bytes()).is_err(), "accepted {bad}");
        }
    }

    #[test]
    fn the_fast_path_and_the_full_scan_agree() {
        let base = format!(
            r#"{{"v":1,"record_id":"r","kind":"decision","seq":7,"prev":"{H}","x":{{"a":[1,"b"]}}}}"#
        );
        assert_eq!(fast(base.as_bytes()), scan_full(base.as_bytes()).ok());
        assert!(fast(base.as_bytes()).is_some());
        // A later duplicate, a key spelt inside a string, another order: full scan decides.
        for other in [
            base.replace(r#""x":"#, r#""seq":8,"x":"#),
            base.replace(r#""a":[1,"b"]"#, r#""a":""seq":""#),
            base.replace(r#""x":{"a":[1,"b"]}"#, r#""x":{"seq":3}"#),
        ] {
            assert_eq!(fast(other.as_bytes()), None, "{other}");
            let _ = scan(other.as_bytes());
        }
        let nested = base.replace(r#""x":{"a":[1,"b"]}"#, r#""x":{"seq":3}"#);
        assert_eq!(scan(nested.as_bytes()).unwrap().seq, 7);
        let dup = base.replace(r#""x":"#, r#""seq":8,"x":"#);
        assert!(scan(dup.as_bytes()).is_err());
    }

    #[test]
    fn never_panics_on_prefixes_and_flips() {
        let text = format!(
            r#"{{"v":1,"record_id":"a\u00e9\\","kind":"decision","seq":7,"prev":"{H}","o":{{"a":[true,false,null,"x"]}}}}"#
        );
        assert!(scan(text.as_bytes()).is_ok());
        let b = text.as_bytes();
        for n in 0..b.len() {
            let _ = scan(&b[..n]);
            for bit in [0x01, 0x20, 0x80] {
                let mut m = b.to_vec();
                m[n] ^= bit;
                // Where the fast path answers, it answers as the full scan does.
                if let (Some(f), Ok(full)) = (fast(&m), scan_full(&m)) {
                    assert_eq!(f, full);
                }
                let _ = scan(&m);
            }
        }
        let deep = "[".repeat(10_000);
        let text = format!(r#"{{"v":1,"seq":1,"prev":"{H}","d":{deep}}}"#);
        // The full scan refuses the nesting; the fast path never steps into it (no recursion).
        assert!(scan_full(text.as_bytes()).is_err());
        assert!(scan(text.as_bytes()).is_ok());
    }
}
