//! The text scanner: every detector over a string in one pass.
//!
//! All detector patterns are compiled into one [`RegexSet`]. A string is scanned once by the
//! set's lazy DFA (`is_match`), which for the common case (nothing sensitive) is the whole cost.
//! Only when the set reports a match are the individual patterns of the detectors that matched
//! run to locate and validate their matches; a string with an email runs the email pattern, not
//! the other twenty.
//!
//! What must hold: [`Scanner::find`] never panics on any input and reports matches in order of
//! position without overlaps, so [`Scanner::rewrite`] can splice replacements in one pass.

use regex::{Regex, RegexSet};

use super::detectors::{Boundary, Detector, Validator};
use crate::point::RedactAction;

/// A compiled detector.
#[derive(Debug)]
pub(crate) struct Compiled {
    pub(crate) name: String,
    regex: Regex,
    value_group: Option<usize>,
    validator: Validator,
    boundary: Boundary,
    pub(crate) action: RedactAction,
}

/// One accepted match: `text[start..end]` is redacted as detector `det`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Hit {
    pub(crate) det: usize,
    pub(crate) start: usize,
    pub(crate) end: usize,
}

/// Why a detector could not be compiled.
#[derive(Debug)]
pub(crate) struct PatternError {
    pub(crate) detector: String,
    pub(crate) message: String,
}

/// Every enabled detector, compiled.
#[derive(Debug)]
pub(crate) struct Scanner {
    set: RegexSet,
    dets: Vec<Compiled>,
}

/// Patterns are size-limited so a pathological user pattern fails at install, not by making
/// the worker slow: 1 MiB of compiled program per pattern, 8 MiB for the set (the regex crate's
/// defaults are 10 MiB; the built-in set needs well under 1 MiB).
const PATTERN_SIZE_LIMIT: usize = 1 << 20;
const SET_SIZE_LIMIT: usize = 8 << 20;
/// Lazy-DFA cache of the set: 8 MiB (default 2 MiB), so the 22-pattern DFA is built once on the
/// worker thread and not rebuilt when varied text visits new states.
const DFA_CACHE_LIMIT: usize = 8 << 20;

impl Scanner {
    pub(crate) fn new(detectors: &[Detector]) -> Result<Self, PatternError> {
        let mut dets = Vec::with_capacity(detectors.len());
        for d in detectors {
            let regex = regex::RegexBuilder::new(&d.pattern)
                .size_limit(PATTERN_SIZE_LIMIT)
                .build()
                .map_err(|e| PatternError {
                    detector: d.name.clone(),
                    message: e.to_string(),
                })?;
            let value_group = regex.capture_names().position(|n| n == Some("value"));
            dets.push(Compiled {
                name: d.name.clone(),
                regex,
                value_group,
                validator: d.validator,
                boundary: d.boundary,
                action: d.action,
            });
        }
        // The last pattern of the set is not a detector: it tells the one DFA pass that the text
        // holds a percent escape of an ASCII byte, so clean text costs no second pass for it.
        let patterns = detectors.iter().map(|d| d.pattern.as_str());
        let set = regex::RegexSetBuilder::new(patterns.chain([ASCII_ESCAPE]))
            .size_limit(SET_SIZE_LIMIT)
            .dfa_size_limit(DFA_CACHE_LIMIT)
            .build()
            .map_err(|e| PatternError {
                detector: "(all detectors together)".into(),
                message: e.to_string(),
            })?;
        Ok(Scanner { set, dets })
    }

    pub(crate) fn detector(&self, i: usize) -> &Compiled {
        &self.dets[i]
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.dets.is_empty()
    }

    /// Append the detections in `text` to `out` (cleared first), ordered and without overlaps.
    /// Returns whether there is any. Allocates nothing when `text` holds no candidate and no
    /// percent escape.
    ///
    /// A text with percent escapes of ASCII bytes (`jane%40example.com`, `%2B1%20415...`, as in
    /// URLs, query strings and form bodies) is also scanned decoded, up to three times for
    /// double-encoded text; detections there are mapped back to the span of the encoded bytes,
    /// which is what is redacted.
    pub(crate) fn find(&self, text: &str, out: &mut Vec<Hit>) -> bool {
        if !self.find_unmerged(text, out) {
            return false;
        }
        if out.len() > 1 {
            // Earlier start first; at the same start the higher-priority (lower index) detector.
            out.sort_unstable_by_key(|h| (h.start, h.det));
            let mut w = 0;
            for r in 1..out.len() {
                let h = out[r];
                if h.start < out[w].end {
                    out[w].end = out[w].end.max(h.end);
                    if h.det < out[w].det {
                        out[w].det = h.det;
                    }
                } else {
                    w += 1;
                    out[w] = h;
                }
            }
            out.truncate(w + 1);
        }
        !out.is_empty()
    }

    /// Append to `out` the detections in the percent-decoded forms of `text`, as spans of `text`.
    fn find_decoded(&self, text: &str, out: &mut Vec<Hit>) -> bool {
        let Some(mut dec) = Decoded::of(text) else {
            return false;
        };
        let mut found = false;
        let mut hits = Vec::new();
        for round in 0..MAX_DECODE_ROUNDS {
            if self.find_plain(&dec.text, &mut hits).0 {
                found = true;
                out.extend(hits.iter().map(|h| Hit {
                    det: h.det,
                    start: dec.map[h.start],
                    end: dec.map[h.end],
                }));
            }
            if round + 1 == MAX_DECODE_ROUNDS {
                break;
            }
            match Decoded::of(&dec.text) {
                Some(next) => dec = dec.then(next),
                None => break,
            }
        }
        found
    }

    /// Every detector's accepted matches in `text` and in its percent-decoded forms, unordered,
    /// overlaps kept.
    pub(crate) fn find_unmerged(&self, text: &str, out: &mut Vec<Hit>) -> bool {
        let (mut any, escaped) = self.find_plain(text, out);
        if escaped {
            any |= self.find_decoded(text, out);
        }
        any
    }

    /// Every detector's accepted matches in `text` as it is, unordered, overlaps kept, and
    /// whether `text` holds a percent escape of an ASCII byte.
    fn find_plain(&self, text: &str, out: &mut Vec<Hit>) -> (bool, bool) {
        out.clear();
        if self.dets.is_empty() || !self.set.is_match(text) {
            return (false, false);
        }
        let mut escaped = false;
        for i in self.set.matches(text).iter() {
            match self.dets.get(i) {
                Some(d) => d.find_all(text, i, out),
                None => escaped = true,
            }
        }
        (!out.is_empty(), escaped)
    }

    /// `text` with each hit replaced by what its detector's action makes of it.
    pub(crate) fn rewrite(
        &self,
        text: &str,
        hits: &[Hit],
        hash: &dyn Fn(&[u8]) -> String,
    ) -> String {
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for h in hits {
            out.push_str(&text[at..h.start]);
            let d = &self.dets[h.det];
            replacement(&d.name, d.action, &text[h.start..h.end], hash, &mut out);
            at = h.end;
        }
        out.push_str(&text[at..]);
        out
    }
}

/// A percent escape of an ASCII byte (what [`Decoded::of`] decodes).
const ASCII_ESCAPE: &str = "%[0-7][0-9A-Fa-f]";

/// How often an escape of an escape (`%2540` for `@`) is decoded: three levels is more than
/// any normal double encoding and bounds the work at four scans of a string.
const MAX_DECODE_ROUNDS: usize = 3;

/// A text with its `%XX` escapes of ASCII bytes decoded, and for each byte offset of the decoded
/// text (and its end) the offset in the original text. Escapes of non-ASCII bytes stay as they
/// are, so the decoded text is UTF-8 whenever the original is, and every detector is ASCII.
struct Decoded {
    text: String,
    map: Vec<usize>,
}

impl Decoded {
    /// `None` when `s` holds no escape of an ASCII byte.
    fn of(s: &str) -> Option<Decoded> {
        let b = s.as_bytes();
        let ascii_escape = |i: usize| -> Option<u8> {
            if b.get(i) != Some(&b'%') {
                return None;
            }
            let h = |c: u8| (c as char).to_digit(16);
            let v = h(*b.get(i + 1)?)? * 16 + h(*b.get(i + 2)?)?;
            u8::try_from(v).ok().filter(u8::is_ascii)
        };
        let first = s
            .match_indices('%')
            .map(|(i, _)| i)
            .find(|&i| ascii_escape(i).is_some())?;
        let mut out = Vec::with_capacity(b.len());
        let mut map = Vec::with_capacity(b.len() + 1);
        out.extend_from_slice(&b[..first]);
        map.extend(0..first);
        let mut i = first;
        while i < b.len() {
            match ascii_escape(i) {
                Some(v) => {
                    out.push(v);
                    map.push(i);
                    i += 3;
                }
                None => {
                    out.push(b[i]);
                    map.push(i);
                    i += 1;
                }
            }
        }
        map.push(b.len());
        // Only ASCII bytes were substituted for ASCII escapes: still UTF-8.
        let text = String::from_utf8(out).ok()?;
        Some(Decoded { text, map })
    }

    /// `s` decoded as often as [`MAX_DECODE_ROUNDS`] allows, or `None` if it has no escape.
    fn fully(s: &str) -> Option<String> {
        let mut text = Decoded::of(s)?.text;
        for _ in 1..MAX_DECODE_ROUNDS {
            match Decoded::of(&text) {
                Some(d) => text = d.text,
                None => break,
            }
        }
        Some(text)
    }

    /// `next` (a decoding of `self.text`) with its offsets taken back to the original text.
    fn then(self, next: Decoded) -> Decoded {
        let map = next.map.iter().map(|&i| self.map[i]).collect();
        Decoded {
            text: next.text,
            map,
        }
    }
}

impl Compiled {
    /// Every accepted match of this detector. For numeric detectors (cards, phones, national
    /// ids, IPv4) a rejected candidate does not consume its text: the search resumes one
    /// character after the candidate's start, so it cannot hide a real number it overlaps (in
    /// `v1.2 4976...` the greedy card pattern first matches `2 4976...`, which fails; the card
    /// starts two bytes later). Other detectors resume after a rejected candidate: their
    /// candidates are delimited by their own syntax, and re-searching inside each would cost a
    /// search per character of a long rejected token.
    fn find_all(&self, text: &str, det: usize, out: &mut Vec<Hit>) {
        let mut at = 0;
        while at <= text.len() {
            // (start of the whole match, redacted span)
            let found = match self.value_group {
                None => self
                    .regex
                    .find_at(text, at)
                    .map(|m| (m.start(), m.start(), m.end())),
                Some(g) => self.regex.captures_at(text, at).and_then(|c| {
                    let whole = c.get(0)?;
                    let v = c.get(g).unwrap_or(whole);
                    Some((whole.start(), v.start(), v.end()))
                }),
            };
            let Some((whole_start, start, end)) = found else {
                break;
            };
            match self.accept(text, start, end) {
                Some(end) => {
                    out.push(Hit { det, start, end });
                    at = end.max(whole_start + 1);
                }
                None if self.boundary == Boundary::Numeric || end <= whole_start => {
                    at = whole_start + text[whole_start..].chars().next().map_or(1, char::len_utf8);
                }
                None => at = end,
            }
        }
    }

    fn accept(&self, text: &str, start: usize, end: usize) -> Option<usize> {
        let m = text.get(start..end)?;
        let len = self.validator.accept(m)?;
        let end = start + len;
        boundary_ok(self.boundary, text.as_bytes(), start, end).then_some(end)
    }
}

fn boundary_ok(kind: Boundary, b: &[u8], start: usize, end: usize) -> bool {
    let before = start.checked_sub(1).and_then(|i| b.get(i)).copied();
    let before2 = start.checked_sub(2).and_then(|i| b.get(i)).copied();
    let after = b.get(end).copied();
    let after2 = b.get(end + 1).copied();
    match kind {
        Boundary::Any => true,
        Boundary::Numeric => {
            // Letters and `_` count as digits here: `v1.2.3.4` and `x4111...` are tokens.
            let digit = |c: Option<u8>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_');
            let joiner = |c: Option<u8>| matches!(c, Some(b'-' | b'.'));
            let glued = |joiner_at: Option<u8>, next: Option<u8>| joiner(joiner_at) && digit(next);
            !(digit(before) || digit(after) || glued(before, before2) || glued(after, after2))
        }
        Boundary::Token => {
            let word = |c: Option<u8>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_');
            !word(before) && !word(after)
        }
    }
}

/// Append the replacement of `matched` under `action` to `out`. Text replacements say which
/// detector fired: `[email]` (erase), `[email:<16 hex>]` (keyed hash, 64 bits: enough to tell
/// equal values apart within a log), `[email:<64 hex>]` (digest), or the masked text.
pub(crate) fn replacement(
    name: &str,
    action: RedactAction,
    matched: &str,
    hash: &dyn Fn(&[u8]) -> String,
    out: &mut String,
) {
    match action {
        RedactAction::Erase => {
            out.push('[');
            out.push_str(name);
            out.push(']');
        }
        RedactAction::Mask { keep } => mask_into(matched, keep, out),
        RedactAction::Hash | RedactAction::Digest => {
            // An encoded value hashes as its decoded text: `jane%40example.com` and
            // `jane@example.com` get the same pseudonym.
            let decoded = Decoded::fully(matched);
            let hex = hash(decoded.as_deref().unwrap_or(matched).as_bytes());
            let hex = if action == RedactAction::Hash {
                hex.get(..16).unwrap_or(&hex)
            } else {
                &hex
            };
            out.push('[');
            out.push_str(name);
            out.push(':');
            out.push_str(hex);
            out.push(']');
        }
    }
}

/// Every character but the last `keep` replaced by `*`. When `keep` would leave half or more of
/// the value visible, fewer are kept: masking must hide most of a value.
pub(crate) fn mask_into(s: &str, keep: u8, out: &mut String) {
    let n = s.chars().count();
    let keep = usize::from(keep).min(n / 2);
    out.extend(std::iter::repeat_n('*', n - keep));
    if keep > 0 {
        out.extend(s.chars().skip(n - keep));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::redact::detectors::builtin;

    fn names(s: &Scanner, text: &str) -> Vec<(String, String)> {
        let mut hits = Vec::new();
        s.find(text, &mut hits);
        hits.iter()
            .map(|h| {
                (
                    s.detector(h.det).name.clone(),
                    text[h.start..h.end].to_owned(),
                )
            })
            .collect()
    }

    #[test]
    fn finds_and_orders_without_overlap() {
        let s = Scanner::new(&builtin()).unwrap();
        let text = "mail jane.doe@example.com, card 4111 1111 1111 1111, key AKIAIOSFODNN7EXAMPLE.";
        assert_eq!(
            names(&s, text),
            vec![
                ("email".into(), "jane.doe@example.com".into()),
                ("payment_card".into(), "4111 1111 1111 1111".into()),
                ("aws_access_key_id".into(), "AKIAIOSFODNN7EXAMPLE".into()),
            ]
        );
        assert!(names(&s, "nothing to see here, version 1.2.3, order 12345").is_empty());
    }

    #[test]
    fn overlaps_merge_under_the_higher_priority_detector() {
        let s = Scanner::new(&builtin()).unwrap();
        let got = names(&s, "url https://bob:hunter2secret@db.example.com/x");
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0].0, "url_password");
        assert!(got[0].1.starts_with("hunter2secret"), "{got:?}");
    }

    #[test]
    fn numeric_boundaries_keep_longer_numbers_out() {
        let s = Scanner::new(&builtin()).unwrap();
        assert!(names(&s, "ref 123-45-6789-0001").is_empty());
        assert!(names(&s, "v1.2.3.4.5").is_empty());
        assert_eq!(names(&s, "ssn 123-45-6789.").len(), 1);
    }

    #[test]
    fn a_rejected_candidate_does_not_hide_an_overlapping_match() {
        // Found by the property test: the greedy card pattern first matches `2 4976...` (17
        // digits, no valid issuer), which must not consume the real card after it.
        let s = Scanner::new(&builtin()).unwrap();
        assert_eq!(
            names(&s, "v1.2 4976776519831298, v1.2"),
            vec![("payment_card".into(), "4976776519831298".into())]
        );
    }

    #[test]
    fn percent_encoded_values_are_found_and_redacted_in_their_encoded_span() {
        let s = Scanner::new(&builtin()).unwrap();
        let text = "GET /u?email=jane%40example.com&phone=%2B1%20415%20555%200132&x=50%";
        assert_eq!(
            names(&s, text),
            vec![
                ("email".into(), "jane%40example.com".into()),
                ("phone".into(), "%2B1%20415%20555%200132".into()),
            ]
        );
        // Double-encoded, and an escape of a non-ASCII byte left alone next to one.
        assert_eq!(
            names(&s, "q=jane%2540example.com, caf%C3%A9"),
            vec![("email".into(), "jane%2540example.com".into())]
        );
        let mut hits = Vec::new();
        s.find(text, &mut hits);
        let out = s.rewrite(text, &hits, &|_| "0".repeat(64));
        assert_eq!(
            out,
            "GET /u?email=[email:0000000000000000]&phone=[phone:0000000000000000]&x=50%"
        );
        // An encoded value is hashed as its decoded text, so pseudonyms match across forms.
        let hashed = |t: &str| {
            let mut hits = Vec::new();
            s.find(t, &mut hits);
            s.rewrite(t, &hits, &|b| String::from_utf8_lossy(b).into_owned())
        };
        assert_eq!(
            hashed("a jane%2540example.com"),
            "a [email:jane@example.com]"
        );
        assert_eq!(hashed("a jane@example.com"), "a [email:jane@example.com]");
        // Nothing encoded, nothing found; stray percent signs are harmless.
        assert!(names(&s, "100% of 50%% at %zz and %4").is_empty());
    }

    #[test]
    fn rewrite_and_mask() {
        let s = Scanner::new(&builtin()).unwrap();
        let text = "a 4111111111111111 b";
        let mut hits = Vec::new();
        s.find(text, &mut hits);
        let out = s.rewrite(text, &hits, &|_| "0".repeat(64));
        assert_eq!(out, "a ************1111 b");
        let mut m = String::new();
        mask_into("abc", 4, &mut m);
        assert_eq!(m, "**c");
    }

    #[test]
    fn invalid_user_pattern_names_the_detector() {
        let err = Scanner::new(&[Detector::new("emp", "EMP-(", RedactAction::Erase)]).unwrap_err();
        assert_eq!(err.detector, "emp");
    }
}
