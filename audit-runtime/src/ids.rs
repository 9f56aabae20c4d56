//! Identifiers: record ids (UUIDv7), W3C trace and span ids, and the clock.
//!
//! Record ids follow RFC 9562 §5.7 (UUIDv7): 48 bits of Unix milliseconds, the version nibble
//! `0b0111`, 12 bits `rand_a`, the variant `0b10`, 62 bits `rand_b`. They sort by creation time,
//! which makes them friendly to files, DuckDB and jq alike. Randomness comes from a per-thread
//! wyrand generator seeded from the operating system: the ids must be unique, not secret
//! (secrets, such as the digest key, come from [`getrandom`] directly).
//!
//! Trace and span ids follow W3C Trace Context §3.2.2.3 and §3.2.2.4: 16 and 8 bytes, rendered as
//! lower-case hex, never all zero.

use std::cell::Cell;
use std::fmt;
use std::num::NonZeroU128;
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

thread_local! {
    /// The generator's state; 0 until first use (seeds are odd, see [`seed`]). A `const`
    /// thread-local with lazy seeding costs less per use than a lazily initialized one.
    static RNG: Cell<u64> = const { Cell::new(0) };
}

fn seed() -> u64 {
    let mut buf = [0u8; 8];
    if getrandom::fill(&mut buf).is_err() {
        // The OS refused randomness (extremely unusual). Ids must still be unique within the
        // process, so fall back to time and the address of a stack value; they are not secrets.
        let now = unix_nanos();
        let local = 0u8;
        let addr = std::ptr::addr_of!(local) as u64;
        return now ^ addr.rotate_left(32) ^ 0x9E37_79B9_7F4A_7C15;
    }
    u64::from_le_bytes(buf) | 1
}

/// wyrand: one multiply per 64 random bits; passes BigCrush, which is plenty for unique ids.
pub(crate) fn next_u64() -> u64 {
    RNG.with(wyrand)
}

fn wyrand(s: &Cell<u64>) -> u64 {
    let mut g = Generator::load(s);
    let v = g.next();
    s.set(g.0);
    v
}

/// The generator's state, kept in a register while several values are drawn.
struct Generator(u64);

impl Generator {
    #[inline]
    fn load(s: &Cell<u64>) -> Generator {
        match s.get() {
            0 => Generator(seed()),
            state => Generator(state),
        }
    }

    #[inline]
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0xa076_1d64_78bd_642f);
        let t = u128::from(self.0).wrapping_mul(u128::from(self.0 ^ 0xe703_7ed1_a0b4_28db));
        ((t >> 64) as u64) ^ (t as u64)
    }
}

/// Nanoseconds since the Unix epoch from the process's wall clock (saturating at 0 before 1970).
pub(crate) fn unix_nanos() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| {
        // u64 nanoseconds last until the year 2554.
        u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
    })
}

/// The ids an audited call draws, in one visit to the generator.
pub(crate) struct CallIds {
    pub(crate) record: RecordId,
    pub(crate) span: SpanId,
}

/// A record id stamped `unix_nanos` and a span id. (A root call's trace id is its record id:
/// see [`TraceId::of_root`].)
pub(crate) fn fresh_call_ids(unix_nanos: u64) -> CallIds {
    RNG.with(|s| {
        let mut g = Generator::load(s);
        let record = RecordId::from_parts(unix_nanos, g.next(), g.next());
        let span = loop {
            let v = g.next();
            if v != 0 {
                break SpanId(v.to_be_bytes());
            }
        };
        s.set(g.0);
        CallIds { record, span }
    })
}

/// A record id: a UUIDv7 (RFC 9562 §5.7). Never the nil UUID, which lets `Option<RecordId>`
/// take no more room than the id (an audited call carries several).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordId(NonZeroU128);

impl RecordId {
    /// A new id whose timestamp is `unix_nanos` (truncated to milliseconds).
    pub(crate) fn new_v7(unix_nanos: u64) -> Self {
        Self::from_parts(unix_nanos, next_u64(), next_u64())
    }

    fn from_parts(unix_nanos: u64, hi: u64, lo: u64) -> Self {
        let ms = u128::from(unix_nanos / 1_000_000) & ((1 << 48) - 1);
        let r = (u128::from(hi) << 64) | u128::from(lo);
        let rand_a = (r >> 64) & 0xFFF;
        let rand_b = r & ((1u128 << 62) - 1);
        let v = (ms << 80) | (0x7 << 76) | (rand_a << 64) | (0b10 << 62) | rand_b;
        // The version bits make `v` non-zero.
        RecordId(NonZeroU128::new(v).unwrap_or(NonZeroU128::MAX))
    }

    /// A fresh id stamped with the current time.
    pub fn now() -> Self {
        Self::new_v7(unix_nanos())
    }

    /// The raw 128 bits.
    pub fn as_u128(self) -> u128 {
        self.0.get()
    }

    /// The Unix timestamp in milliseconds carried by the id.
    pub fn unix_millis(self) -> u64 {
        (self.0.get() >> 80) as u64
    }
}

impl RecordId {
    /// The hyphenated lower-case form in a stack buffer (no allocation).
    fn encode(self) -> [u8; 36] {
        let b = self.0.get().to_be_bytes();
        let mut out = [0u8; 36];
        let mut j = 0;
        for (i, byte) in b.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                out[j] = b'-';
                j += 1;
            }
            out[j] = HEX[usize::from(byte >> 4)];
            out[j + 1] = HEX[usize::from(byte & 0xF)];
            j += 2;
        }
        out
    }
}

impl fmt::Display for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The buffer holds only ASCII hex digits and dashes.
        f.write_str(std::str::from_utf8(&self.encode()).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RecordId({self})")
    }
}

/// Error parsing an identifier from text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseIdError {
    what: &'static str,
    input: String,
}

impl fmt::Display for ParseIdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` is not a valid {}", self.input, self.what)
    }
}

impl std::error::Error for ParseIdError {}

impl FromStr for RecordId {
    type Err = ParseIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseIdError {
            what: "UUID",
            input: s.chars().take(64).collect(),
        };
        if s.len() != 36 {
            return Err(err());
        }
        let mut v: u128 = 0;
        for (i, c) in s.bytes().enumerate() {
            if matches!(i, 8 | 13 | 18 | 23) {
                if c != b'-' {
                    return Err(err());
                }
                continue;
            }
            let d = hex_val(c).ok_or_else(err)?;
            v = (v << 4) | u128::from(d);
        }
        // The nil UUID is nobody's record.
        NonZeroU128::new(v).map(RecordId).ok_or_else(err)
    }
}

/// A W3C trace id (16 bytes, never all zero).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceId(pub [u8; 16]);

/// A W3C span id (8 bytes, never all zero).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SpanId(pub [u8; 8]);

impl TraceId {
    /// The trace id of a root call (one with no audited parent and no OpenTelemetry trace to
    /// join): the call's record id, so the trace of a decision is found from its id. A valid W3C
    /// trace id: never zero, and its last seven bytes are random (the UUIDv7's `rand_b`).
    pub(crate) fn of_root(record: RecordId) -> Self {
        TraceId(record.as_u128().to_be_bytes())
    }

    /// A random trace id.
    pub fn random() -> Self {
        loop {
            let v = (u128::from(next_u64()) << 64) | u128::from(next_u64());
            if v != 0 {
                return TraceId(v.to_be_bytes());
            }
        }
    }
}

impl SpanId {
    /// A random span id.
    pub fn random() -> Self {
        loop {
            let v = next_u64();
            if v != 0 {
                return SpanId(v.to_be_bytes());
            }
        }
    }
}

pub(crate) const HEX: &[u8; 16] = b"0123456789abcdef";

pub(crate) fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Lower-case hex of `bytes`.
pub fn to_hex(bytes: &[u8]) -> String {
    let mut out = vec![0u8; bytes.len() * 2];
    hex_into(bytes, &mut out);
    // Only ASCII hex digits were written.
    String::from_utf8(out).unwrap_or_default()
}

/// Lower-case hex of `bytes` into `out`, which must be twice as long.
fn hex_into(bytes: &[u8], out: &mut [u8]) {
    for (pair, b) in out.chunks_exact_mut(2).zip(bytes) {
        pair[0] = HEX[usize::from(b >> 4)];
        pair[1] = HEX[usize::from(b & 0xF)];
    }
}

/// Parse lower- or upper-case hex into exactly `N` bytes.
pub fn from_hex<const N: usize>(s: &str) -> Option<[u8; N]> {
    let b = s.as_bytes();
    if b.len() != N * 2 {
        return None;
    }
    let mut out = [0u8; N];
    for (i, o) in out.iter_mut().enumerate() {
        *o = (hex_val(b[2 * i])? << 4) | hex_val(b[2 * i + 1])?;
    }
    Some(out)
}

macro_rules! hex_id {
    ($ty:ident, $n:literal, $what:literal) => {
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&to_hex(&self.0))
            }
        }
        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($ty), "({})"), self)
            }
        }
        impl FromStr for $ty {
            type Err = ParseIdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match from_hex::<$n>(s) {
                    Some(b) if b != [0u8; $n] => Ok($ty(b)),
                    _ => Err(ParseIdError {
                        what: $what,
                        input: s.chars().take(64).collect(),
                    }),
                }
            }
        }
    };
}
hex_id!(TraceId, 16, "W3C trace id");
hex_id!(SpanId, 8, "W3C span id");

impl Serialize for RecordId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let buf = self.encode();
        s.serialize_str(std::str::from_utf8(&buf).map_err(serde::ser::Error::custom)?)
    }
}

macro_rules! serialize_hex {
    ($($ty:ident, $n:literal);*) => {$(
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut buf = [0u8; $n * 2];
                hex_into(&self.0, &mut buf);
                s.serialize_str(std::str::from_utf8(&buf).map_err(serde::ser::Error::custom)?)
            }
        }
    )*};
}
serialize_hex!(TraceId, 16; SpanId, 8);

macro_rules! deserialize_via_str {
    ($($ty:ident),*) => {$(
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    )*};
}
deserialize_via_str!(RecordId, TraceId, SpanId);

/// Format Unix nanoseconds as RFC 3339 UTC with nine fractional digits,
/// e.g. `2026-11-26T18:54:08.123456789Z`.
pub fn rfc3339_nanos(unix_nanos: u64) -> String {
    let secs = unix_nanos / 1_000_000_000;
    let nanos = unix_nanos % 1_000_000_000;
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    // Fixed layout, written digit by digit: this runs twice per record on the worker.
    let mut b = *b"0000-00-00T00:00:00.000000000Z";
    let mut put = |at: usize, width: usize, mut v: u64| {
        for i in (at..at + width).rev() {
            b[i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, 4, y.min(9999));
    put(5, 2, m);
    put(8, 2, d);
    put(11, 2, rem / 3600);
    put(14, 2, (rem % 3600) / 60);
    put(17, 2, rem % 60);
    put(20, 9, nanos);
    // Only ASCII digits and separators were written.
    String::from_utf8(b.to_vec()).unwrap_or_default()
}

/// Days since 1970-01-01 to (year, month, day); Howard Hinnant's `civil_from_days`,
/// restricted to dates after the epoch.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_v7_layout_and_roundtrip() {
        let t = 1_764_183_248_123_456_789u64;
        let id = RecordId::new_v7(t);
        let s = id.to_string();
        assert_eq!(s.len(), 36);
        assert_eq!(&s[14..15], "7", "version nibble in {s}");
        assert!(
            matches!(&s[19..20], "8" | "9" | "a" | "b"),
            "variant in {s}"
        );
        assert_eq!(id.unix_millis(), t / 1_000_000);
        assert_eq!(s.parse::<RecordId>().unwrap(), id);
        assert!("not-a-uuid".parse::<RecordId>().is_err());
    }

    #[test]
    fn ids_are_unique_and_time_ordered() {
        let a = RecordId::new_v7(1_000_000_000);
        let b = RecordId::new_v7(2_000_000_000);
        assert!(a < b);
        let mut set = std::collections::HashSet::new();
        for _ in 0..10_000 {
            assert!(set.insert(RecordId::now()));
        }
    }

    #[test]
    fn w3c_ids_hex_roundtrip() {
        let t = TraceId::random();
        assert_eq!(t.to_string().len(), 32);
        assert_eq!(t.to_string().parse::<TraceId>().unwrap(), t);
        assert!(
            "00000000000000000000000000000000"
                .parse::<TraceId>()
                .is_err()
        );
        let s = SpanId::random();
        assert_eq!(s.to_string().parse::<SpanId>().unwrap(), s);
    }

    #[test]
    fn rfc3339_known_values() {
        assert_eq!(rfc3339_nanos(0), "1970-01-01T00:00:00.000000000Z");
        // 2000-02-29T12:34:56.000000007Z (a leap day).
        assert_eq!(
            rfc3339_nanos(951_827_696_000_000_007),
            "2000-02-29T12:34:56.000000007Z"
        );
        assert_eq!(
            rfc3339_nanos(1_798_761_599_999_999_999),
            "2026-12-31T23:59:59.999999999Z"
        );
    }
}

#[cfg(feature = "schema")]
mod schema {
    use std::borrow::Cow;

    use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};

    macro_rules! string_schema {
        ($ty:ty, $name:literal, $desc:literal, $pattern:literal) => {
            impl JsonSchema for $ty {
                fn schema_name() -> Cow<'static, str> {
                    Cow::Borrowed($name)
                }
                fn json_schema(_: &mut SchemaGenerator) -> Schema {
                    json_schema!({ "type": "string", "description": $desc, "pattern": $pattern })
                }
            }
        };
    }
    string_schema!(
        super::RecordId,
        "RecordId",
        "A UUIDv7 (RFC 9562), lower-case, hyphenated",
        "^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"
    );
    string_schema!(
        super::TraceId,
        "TraceId",
        "W3C trace id: 32 lower-case hex digits",
        "^[0-9a-f]{32}$"
    );
    string_schema!(
        super::SpanId,
        "SpanId",
        "W3C span id: 16 lower-case hex digits",
        "^[0-9a-f]{16}$"
    );
}
