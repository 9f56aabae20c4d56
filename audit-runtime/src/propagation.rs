//! Carrying the audit context across a service boundary: W3C Trace Context and W3C Baggage.
//!
//! A call that leaves the process (an HTTP or gRPC request, an MCP tool call) takes its audit
//! context with it in three standard headers, so the records the other service makes join the
//! caller's tree (`docs/PROPAGATION.md` draws every byte):
//!
//! * `traceparent` ([W3C Trace Context] §3.2): `00-<trace id>-<calling record's span id>-01`;
//! * `tracestate` (§3.3): passed through unchanged when the context came from a remote caller;
//! * `baggage` ([W3C Baggage] §3): the audit entries `audit.parent` (the calling record's id),
//!   `audit.decision`, `audit.run`, `audit.session` (percent-encoded) and `audit.service` (the
//!   caller's service name).
//!
//! [`inject`] writes them from the current audited call; [`extract`] parses them strictly and
//! returns a [`RemoteContext`]; [`with_remote_context`] / [`with_remote_context_sync`] run the
//! server's audited work under it, so its records carry the caller's trace id, name the
//! calling record as `correlation.parent_id`, and say where the claim came from
//! ([`crate::record::RemoteParent`]). [`note_remote_call`] records the outgoing call on the
//! calling record. [`inject_meta`] / [`extract_meta`] do the same for an MCP request's
//! `params._meta` (SEP-414: the keys are the header names).
//!
//! Parsing never panics and never guesses: a header that breaks its grammar, its lengths, the
//! lower-case-hex rule, the all-zero rule or a size limit makes [`extract`] return an error
//! (the whole audit context is dropped, since a half-read context could name a wrong parent)
//! and is counted in [`stats`]. A `tracestate` that breaks its grammar is dropped alone (§3.3.1:
//! the trace stays valid) and counted too.
//!
//! [W3C Trace Context]: https://www.w3.org/TR/trace-context/
//! [W3C Baggage]: https://www.w3.org/TR/baggage/

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use crate::context::{self, AuditContext, Note, Scope};
use crate::ids::{self, RecordId, SpanId, TraceId};
use crate::point::PointKind;
use crate::record::{PropagationVia, RemoteCall, RemoteParent};

/// Header name of the W3C trace parent.
pub const TRACEPARENT: &str = "traceparent";
/// Header name of the W3C trace state.
pub const TRACESTATE: &str = "tracestate";
/// Header name of W3C Baggage.
pub const BAGGAGE: &str = "baggage";

/// Baggage key: the calling record's id (a UUIDv7, lower-case, hyphenated).
pub const KEY_PARENT: &str = "audit.parent";
/// Baggage key: the decision the calling record belongs to.
pub const KEY_DECISION: &str = "audit.decision";
/// Baggage key: the agent run the calling record belongs to.
pub const KEY_RUN: &str = "audit.run";
/// Baggage key: the session id (percent-encoded UTF-8).
pub const KEY_SESSION: &str = "audit.session";
/// Baggage key: the caller's service name (percent-encoded UTF-8).
pub const KEY_SERVICE: &str = "audit.service";

/// Length of a version-00 `traceparent`: 2 + 1 + 32 + 1 + 16 + 1 + 2 (§3.2.2).
const TRACEPARENT_LEN: usize = 55;
/// A `tracestate` holds at most 32 list members (§3.3.1.1).
const TRACESTATE_MAX_MEMBERS: usize = 32;
/// Longest `tracestate` kept: 32 members of the longest key (256) + `=` + value (256), plus 31
/// commas. Longer ones cannot be valid.
const TRACESTATE_MAX_BYTES: usize = 32 * (256 + 1 + 256) + 31;
/// A `baggage` header holds at most 180 list members (`list-member 0*179( "," list-member )`).
const BAGGAGE_MAX_MEMBERS: usize = 180;
/// A `baggage` header is at most 8192 bytes (Baggage §3.3.1, "Limits").
const BAGGAGE_MAX_BYTES: usize = 8192;
/// The longest session id or service name taken from baggage, after decoding: longer ones are
/// refused rather than truncated (a truncated id is a different id).
pub const MAX_TEXT_BYTES: usize = 256;

// ---- header maps -----------------------------------------------------------------------------

/// A read-only view of request headers (or any string map): what [`extract`] reads.
pub trait HeaderSource {
    /// Call `f` with every value of header `name` (given in lower case; match it ASCII
    /// case-insensitively), in the order received. Values are raw bytes: the parser checks them.
    fn each_value(&self, name: &str, f: &mut dyn FnMut(&[u8]));
}

/// A writable header map: what [`inject`] writes.
pub trait HeaderSink {
    /// Set header `name` (lower case) to `value`, replacing any value it had.
    fn set_header(&mut self, name: &str, value: String);
}

impl HeaderSource for BTreeMap<String, String> {
    fn each_value(&self, name: &str, f: &mut dyn FnMut(&[u8])) {
        for (k, v) in self {
            if k.eq_ignore_ascii_case(name) {
                f(v.as_bytes());
            }
        }
    }
}

impl HeaderSink for BTreeMap<String, String> {
    fn set_header(&mut self, name: &str, value: String) {
        self.retain(|k, _| !k.eq_ignore_ascii_case(name));
        self.insert(name.to_owned(), value);
    }
}

impl HeaderSource for Vec<(String, String)> {
    fn each_value(&self, name: &str, f: &mut dyn FnMut(&[u8])) {
        for (k, v) in self {
            if k.eq_ignore_ascii_case(name) {
                f(v.as_bytes());
            }
        }
    }
}

impl HeaderSink for Vec<(String, String)> {
    fn set_header(&mut self, name: &str, value: String) {
        self.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        self.push((name.to_owned(), value));
    }
}

#[cfg(feature = "http")]
impl HeaderSource for http::HeaderMap {
    fn each_value(&self, name: &str, f: &mut dyn FnMut(&[u8])) {
        for v in self.get_all(name) {
            f(v.as_bytes());
        }
    }
}

#[cfg(feature = "http")]
impl HeaderSink for http::HeaderMap {
    fn set_header(&mut self, name: &str, value: String) {
        // Every value `inject` writes is visible ASCII, which `HeaderValue` accepts; the names
        // are the three static lower-case names above.
        if let (Ok(n), Ok(v)) = (
            http::header::HeaderName::from_bytes(name.as_bytes()),
            http::HeaderValue::from_str(&value),
        ) {
            self.insert(n, v);
        }
    }
}

// ---- statistics ------------------------------------------------------------------------------

static EXTRACTED: AtomicU64 = AtomicU64::new(0);
static ABSENT: AtomicU64 = AtomicU64::new(0);
static REJECTED_TRACEPARENT: AtomicU64 = AtomicU64::new(0);
static REJECTED_BAGGAGE: AtomicU64 = AtomicU64::new(0);
static DROPPED_TRACESTATE: AtomicU64 = AtomicU64::new(0);
static INJECTED: AtomicU64 = AtomicU64::new(0);

/// Process-wide counters of propagation (extraction can run before or without a runtime, so
/// they are not part of [`crate::AuditStats`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PropagationStats {
    /// Contexts extracted.
    pub extracted: u64,
    /// Extractions that found no `traceparent` (not an error: the request was not propagated).
    pub absent: u64,
    /// Extractions refused for a malformed, duplicated or oversized `traceparent`.
    pub rejected_traceparent: u64,
    /// Extractions refused for a malformed or oversized `baggage`, or an invalid or repeated
    /// `audit.*` entry in it.
    pub rejected_baggage: u64,
    /// `tracestate` headers dropped as malformed (the rest of the context was kept).
    pub dropped_tracestate: u64,
    /// Contexts injected.
    pub injected: u64,
}

/// The propagation counters of this process.
pub fn stats() -> PropagationStats {
    PropagationStats {
        extracted: EXTRACTED.load(Ordering::Relaxed),
        absent: ABSENT.load(Ordering::Relaxed),
        rejected_traceparent: REJECTED_TRACEPARENT.load(Ordering::Relaxed),
        rejected_baggage: REJECTED_BAGGAGE.load(Ordering::Relaxed),
        dropped_tracestate: DROPPED_TRACESTATE.load(Ordering::Relaxed),
        injected: INJECTED.load(Ordering::Relaxed),
    }
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

// ---- errors ----------------------------------------------------------------------------------

/// Why [`extract`] returned no context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PropagationError {
    /// No `traceparent`: the caller did not propagate a context.
    Absent,
    /// The `traceparent` header breaks W3C Trace Context §3.2; the reason names the part.
    Traceparent(&'static str),
    /// The `baggage` header breaks W3C Baggage, or an `audit.*` entry is invalid; the reason
    /// names the entry or the rule.
    Baggage(String),
}

impl fmt::Display for PropagationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PropagationError::Absent => f.write_str("no `traceparent` header: nothing propagated"),
            PropagationError::Traceparent(why) => {
                write!(f, "`traceparent` header ignored: {why}")
            }
            PropagationError::Baggage(why) => write!(f, "`baggage` header ignored: {why}"),
        }
    }
}

impl std::error::Error for PropagationError {}

// ---- traceparent -----------------------------------------------------------------------------

/// A parsed `traceparent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceParent {
    /// The trace id.
    pub trace_id: TraceId,
    /// The caller's span id (`parent-id`).
    pub parent_span: SpanId,
    /// `trace-flags` (bit 0: sampled).
    pub flags: u8,
}

/// Lower-case hex only: §3.2.2.1 forbids upper case in every field.
fn lower_hex<const N: usize>(b: &[u8]) -> Option<[u8; N]> {
    if b.len() != 2 * N || !b.iter().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    let s = std::str::from_utf8(b).ok()?;
    ids::from_hex::<N>(s)
}

impl TraceParent {
    /// Parse a `traceparent` value (W3C Trace Context §3.2.2 and §4.3, versioning): version
    /// `00` is exactly 55 bytes; a higher version (not `ff`) is read by its first 55 bytes and
    /// may only go on after a `-`. Ids must be lower-case hex and not all zero.
    pub fn parse(v: &[u8]) -> Result<TraceParent, PropagationError> {
        use PropagationError::Traceparent as E;
        if v.len() < TRACEPARENT_LEN {
            return Err(E("shorter than 55 bytes"));
        }
        let version = lower_hex::<1>(&v[0..2]).ok_or(E("version is not 2 lower-case hex"))?[0];
        if version == 0xff {
            return Err(E("version ff is invalid"));
        }
        if version == 0 && v.len() != TRACEPARENT_LEN {
            return Err(E("version 00 must be exactly 55 bytes"));
        }
        if v.len() > TRACEPARENT_LEN && v[TRACEPARENT_LEN] != b'-' {
            return Err(E("a future version may only continue after `-`"));
        }
        if v[2] != b'-' || v[35] != b'-' || v[52] != b'-' {
            return Err(E("fields are not separated by `-`"));
        }
        let trace = lower_hex::<16>(&v[3..35]).ok_or(E("trace-id is not 32 lower-case hex"))?;
        if trace == [0; 16] {
            return Err(E("trace-id is all zero"));
        }
        let span = lower_hex::<8>(&v[36..52]).ok_or(E("parent-id is not 16 lower-case hex"))?;
        if span == [0; 8] {
            return Err(E("parent-id is all zero"));
        }
        let flags = lower_hex::<1>(&v[53..55]).ok_or(E("trace-flags is not 2 lower-case hex"))?[0];
        Ok(TraceParent {
            trace_id: TraceId(trace),
            parent_span: SpanId(span),
            flags,
        })
    }

    /// The version-00 header value.
    pub fn to_header(&self) -> String {
        format!(
            "00-{}-{}-{:02x}",
            self.trace_id, self.parent_span, self.flags
        )
    }
}

// ---- tracestate ------------------------------------------------------------------------------

fn ts_key_char(c: u8) -> bool {
    matches!(c, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'*' | b'/')
}

/// `key` of §3.3.1.3: `simple-key` or `tenant-id@system-id`.
fn tracestate_key(k: &[u8]) -> bool {
    match k.iter().position(|&c| c == b'@') {
        None => {
            !k.is_empty()
                && k.len() <= 256
                && k[0].is_ascii_lowercase()
                && k.iter().all(|&c| ts_key_char(c))
        }
        Some(at) => {
            let (tenant, system) = (&k[..at], &k[at + 1..]);
            !tenant.is_empty()
                && tenant.len() <= 241
                && (tenant[0].is_ascii_lowercase() || tenant[0].is_ascii_digit())
                && tenant.iter().all(|&c| ts_key_char(c))
                && !system.is_empty()
                && system.len() <= 14
                && system[0].is_ascii_lowercase()
                && system.iter().all(|&c| ts_key_char(c))
        }
    }
}

/// `value` of §3.3.1.3: 1 to 256 printable ASCII characters but `,` and `=`, not ending in a
/// space.
fn tracestate_value(v: &[u8]) -> bool {
    !v.is_empty()
        && v.len() <= 256
        && v.last() != Some(&b' ')
        && v.iter()
            .all(|&c| matches!(c, 0x20..=0x7e) && c != b',' && c != b'=')
}

/// Check a (combined) `tracestate` value: at most 32 members, each `key=value`, keys unique.
/// Empty members (`a=1,,b=2`) are allowed (§3.3.1.1). Returns the value to pass on.
pub fn parse_tracestate(v: &[u8]) -> Option<String> {
    if v.len() > TRACESTATE_MAX_BYTES {
        return None;
    }
    let text = std::str::from_utf8(v).ok()?;
    let mut keys: Vec<&[u8]> = Vec::new();
    for member in text.split(',') {
        let m = member.trim_matches(|c| c == ' ' || c == '\t').as_bytes();
        if m.is_empty() {
            continue;
        }
        let eq = m.iter().position(|&c| c == b'=')?;
        let (k, val) = (&m[..eq], &m[eq + 1..]);
        if !tracestate_key(k) || !tracestate_value(val) || keys.contains(&k) {
            return None;
        }
        keys.push(k);
        if keys.len() > TRACESTATE_MAX_MEMBERS {
            return None;
        }
    }
    (!keys.is_empty()).then(|| text.to_owned())
}

// ---- baggage ---------------------------------------------------------------------------------

/// RFC 7230 `tchar`.
fn tchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

/// Baggage `baggage-octet`.
fn baggage_octet(c: u8) -> bool {
    matches!(c, 0x21 | 0x23..=0x2b | 0x2d..=0x3a | 0x3c..=0x5b | 0x5d..=0x7e)
}

fn ows(s: &[u8]) -> &[u8] {
    let start = s
        .iter()
        .position(|&c| c != b' ' && c != b'\t')
        .unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|&c| c != b' ' && c != b'\t')
        .map_or(start, |e| e + 1);
    &s[start..end.max(start)]
}

/// Decode `%XX` escapes (RFC 3986); the result must be UTF-8. Malformed escapes are an error
/// rather than a replacement character: an audit id or name that was garbled is not used.
fn percent_decode(v: &[u8]) -> Option<String> {
    let mut out = Vec::with_capacity(v.len());
    let mut i = 0;
    while i < v.len() {
        if v[i] == b'%' {
            let hi = ids::hex_val(*v.get(i + 1)?)?;
            let lo = ids::hex_val(*v.get(i + 2)?)?;
            out.push((hi << 4) | lo);
            i += 3;
        } else {
            out.push(v[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Percent-encode every byte that is not a `baggage-octet`, and `%` itself.
fn percent_encode(s: &str, out: &mut String) {
    for &b in s.as_bytes() {
        if baggage_octet(b) && b != b'%' {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(
                ids::HEX[usize::from(b >> 4)].to_ascii_uppercase(),
            ));
            out.push(char::from(
                ids::HEX[usize::from(b & 0xF)].to_ascii_uppercase(),
            ));
        }
    }
}

/// One list member of a baggage header: key and raw (still encoded) value; properties are
/// checked and dropped.
fn baggage_member(m: &[u8]) -> Result<(&[u8], &[u8]), String> {
    let mut parts = m.split(|&c| c == b';');
    let kv = parts.next().unwrap_or_default();
    let eq = kv
        .iter()
        .position(|&c| c == b'=')
        .ok_or_else(|| "a list member has no `=`".to_owned())?;
    let key = ows(&kv[..eq]);
    let value = ows(&kv[eq + 1..]);
    if key.is_empty() || !key.iter().all(|&c| tchar(c)) {
        return Err("a key is not an RFC 7230 token".to_owned());
    }
    if !value.iter().all(|&c| baggage_octet(c)) {
        return Err(format!(
            "the value of `{}` has a character outside baggage-octet",
            String::from_utf8_lossy(key)
        ));
    }
    for p in parts {
        let p = ows(p);
        let (pk, pv) = match p.iter().position(|&c| c == b'=') {
            Some(e) => (ows(&p[..e]), Some(ows(&p[e + 1..]))),
            None => (p, None),
        };
        if pk.is_empty() || !pk.iter().all(|&c| tchar(c)) {
            return Err("a property key is not an RFC 7230 token".to_owned());
        }
        if pv.is_some_and(|v| !v.iter().all(|&c| baggage_octet(c))) {
            return Err("a property value has a character outside baggage-octet".to_owned());
        }
    }
    Ok((key, value))
}

/// The audit entries of a baggage header.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct AuditEntries {
    parent: Option<RecordId>,
    decision: Option<RecordId>,
    run: Option<RecordId>,
    session: Option<String>,
    service: Option<String>,
}

/// A record id in its one canonical text form (lower case, hyphenated, UUIDv7): any other
/// spelling of an id is refused, so two spellings cannot name "the same" record.
fn canonical_id(key: &str, text: &str) -> Result<RecordId, String> {
    let id: RecordId = text.parse().map_err(|_| format!("`{key}` is not a UUID"))?;
    if id.to_string() != text || (id.as_u128() >> 76) & 0xF != 7 {
        return Err(format!("`{key}` is not a lower-case UUIDv7"));
    }
    Ok(id)
}

fn parse_baggage(values: &[&[u8]]) -> Result<AuditEntries, String> {
    let total: usize =
        values.iter().map(|v| v.len()).sum::<usize>() + values.len().saturating_sub(1);
    if total > BAGGAGE_MAX_BYTES {
        return Err(format!("longer than {BAGGAGE_MAX_BYTES} bytes"));
    }
    let mut members = 0usize;
    let mut e = AuditEntries::default();
    let mut seen: Vec<&'static str> = Vec::new();
    // An empty header value carries nothing (some clients send `baggage:` with no members).
    for value in values.iter().filter(|v| !ows(v).is_empty()) {
        for m in value.split(|&c| c == b',') {
            let m = ows(m);
            if m.is_empty() {
                return Err("an empty list member".to_owned());
            }
            members += 1;
            if members > BAGGAGE_MAX_MEMBERS {
                return Err(format!("more than {BAGGAGE_MAX_MEMBERS} list members"));
            }
            let (key, raw) = baggage_member(m)?;
            let Some(k) = [KEY_PARENT, KEY_DECISION, KEY_RUN, KEY_SESSION, KEY_SERVICE]
                .into_iter()
                .find(|k| k.as_bytes() == key)
            else {
                continue; // someone else's entry
            };
            if seen.contains(&k) {
                return Err(format!("`{k}` appears twice"));
            }
            seen.push(k);
            let text =
                percent_decode(raw).ok_or_else(|| format!("`{k}` is not percent-encoded UTF-8"))?;
            if text.len() > MAX_TEXT_BYTES {
                return Err(format!("`{k}` is longer than {MAX_TEXT_BYTES} bytes"));
            }
            if text.is_empty() || text.chars().any(char::is_control) {
                return Err(format!("`{k}` is empty or holds a control character"));
            }
            match k {
                KEY_PARENT => e.parent = Some(canonical_id(k, &text)?),
                KEY_DECISION => e.decision = Some(canonical_id(k, &text)?),
                KEY_RUN => e.run = Some(canonical_id(k, &text)?),
                KEY_SESSION => e.session = Some(text),
                _ => e.service = Some(text),
            }
        }
    }
    Ok(e)
}

// ---- the remote context ----------------------------------------------------------------------

/// An audit context received from another process, as [`extract`] or [`extract_meta`] read it.
///
/// All of it is the caller's claim. Records made under it say so in
/// [`crate::record::AuditRecord::remote_parent`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteContext {
    traceparent: TraceParent,
    tracestate: Option<String>,
    audit: AuditEntries,
    via: PropagationVia,
}

impl RemoteContext {
    /// The caller's trace id.
    pub fn trace_id(&self) -> TraceId {
        self.traceparent.trace_id
    }
    /// The caller's span id (`traceparent`'s `parent-id`).
    pub fn parent_span_id(&self) -> SpanId {
        self.traceparent.parent_span
    }
    /// `trace-flags`.
    pub fn trace_flags(&self) -> u8 {
        self.traceparent.flags
    }
    /// The `tracestate` to pass on, when one was received and valid.
    pub fn tracestate(&self) -> Option<&str> {
        self.tracestate.as_deref()
    }
    /// The calling record (`audit.parent`).
    pub fn parent_record_id(&self) -> Option<RecordId> {
        self.audit.parent
    }
    /// The caller's decision (`audit.decision`).
    pub fn decision_id(&self) -> Option<RecordId> {
        self.audit.decision
    }
    /// The caller's agent run (`audit.run`).
    pub fn run_id(&self) -> Option<RecordId> {
        self.audit.run
    }
    /// The session (`audit.session`).
    pub fn session_id(&self) -> Option<&str> {
        self.audit.session.as_deref()
    }
    /// The caller's service name (`audit.service`).
    pub fn service(&self) -> Option<&str> {
        self.audit.service.as_deref()
    }
    /// The carrier it came in.
    pub fn via(&self) -> PropagationVia {
        self.via
    }

    /// The frame records made under this context are nested in.
    fn frame(&self) -> AuditContext {
        // The frame's own id is a placeholder no record carries: children name the remote
        // parent (or none) instead, see `CallGuard::start`.
        let id = RecordId::now();
        AuditContext {
            id,
            kind: PointKind::Tool,
            decision: self.audit.decision,
            run: self.audit.run,
            scope: Scope::new(
                self.audit.session.as_deref().map(Arc::from),
                Some(Arc::new(RemoteOrigin {
                    frame: id,
                    parent: RemoteParent {
                        record_id: self.audit.parent,
                        service: self.audit.service.clone(),
                        via: self.via,
                    },
                    tracestate: self.tracestate.clone(),
                })),
            ),
            trace_id: self.traceparent.trace_id,
            span_id: self.traceparent.parent_span,
        }
    }
}

/// What a context entered from a remote caller carries for the calls made under it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct RemoteOrigin {
    /// The id of the remote frame itself: a call whose parent frame has this id is a direct
    /// child of the remote caller.
    pub(crate) frame: RecordId,
    /// What the direct children's records say about their parent.
    pub(crate) parent: RemoteParent,
    /// Passed on by [`inject`] from anywhere under the remote frame.
    pub(crate) tracestate: Option<String>,
}

/// Read a propagated audit context from request headers.
///
/// `traceparent` must occur once (two are ambiguous: refused); `tracestate` and `baggage` values
/// are combined as RFC 9110 §5.3 lists. Every outcome but success and [`PropagationError::Absent`]
/// is counted in [`stats`].
pub fn extract(headers: &impl HeaderSource) -> Result<RemoteContext, PropagationError> {
    extract_parts(headers, PropagationVia::Headers)
}

fn extract_parts(
    headers: &(impl HeaderSource + ?Sized),
    via: PropagationVia,
) -> Result<RemoteContext, PropagationError> {
    let mut tp: Option<Result<TraceParent, PropagationError>> = None;
    let mut tp_count = 0usize;
    headers.each_value(TRACEPARENT, &mut |v| {
        tp_count += 1;
        if tp_count == 1 {
            tp = Some(TraceParent::parse(ows(v)));
        }
    });
    let traceparent = match (tp_count, tp) {
        (0, _) | (_, None) => {
            bump(&ABSENT);
            return Err(PropagationError::Absent);
        }
        (1, Some(Ok(tp))) => tp,
        (1, Some(Err(e))) => {
            bump(&REJECTED_TRACEPARENT);
            return Err(e);
        }
        _ => {
            bump(&REJECTED_TRACEPARENT);
            return Err(PropagationError::Traceparent("more than one traceparent"));
        }
    };
    let mut ts: Vec<u8> = Vec::new();
    let mut ts_seen = false;
    headers.each_value(TRACESTATE, &mut |v| {
        if ts_seen {
            ts.push(b',');
        }
        ts_seen = true;
        ts.extend_from_slice(v);
    });
    let tracestate = if ts_seen {
        let parsed = parse_tracestate(&ts);
        if parsed.is_none() {
            bump(&DROPPED_TRACESTATE);
        }
        parsed
    } else {
        None
    };
    let mut bag: Vec<Vec<u8>> = Vec::new();
    headers.each_value(BAGGAGE, &mut |v| bag.push(v.to_vec()));
    let refs: Vec<&[u8]> = bag.iter().map(Vec::as_slice).collect();
    let audit = match parse_baggage(&refs) {
        Ok(a) => a,
        Err(why) => {
            bump(&REJECTED_BAGGAGE);
            return Err(PropagationError::Baggage(why));
        }
    };
    bump(&EXTRACTED);
    Ok(RemoteContext {
        traceparent,
        tracestate,
        audit,
        via,
    })
}

/// The headers that carry `ctx` on, as `(name, value)` pairs: what [`inject`] writes.
fn headers_for(ctx: &AuditContext, service: Option<&str>) -> [(&'static str, Option<String>); 3] {
    let tp = TraceParent {
        trace_id: ctx.trace_id,
        parent_span: ctx.span_id,
        // Audit records are never sampled away: the caller's record exists.
        flags: 0x01,
    };
    let mut bag = String::with_capacity(160);
    let mut entry = |k: &str, v: &str| {
        if !bag.is_empty() {
            bag.push(',');
        }
        bag.push_str(k);
        bag.push('=');
        percent_encode(v, &mut bag);
    };
    // Directly under a remote caller's context (a handler that is not itself audited calls
    // on), the parent to name is the one the caller named, never the frame's placeholder id.
    let remote = ctx.remote();
    let parent = match remote {
        Some(r) if r.frame == ctx.id => r.parent.record_id,
        _ => Some(ctx.id),
    };
    if let Some(p) = parent {
        entry(KEY_PARENT, &p.to_string());
    }
    if let Some(d) = ctx.decision {
        entry(KEY_DECISION, &d.to_string());
    }
    if let Some(r) = ctx.run {
        entry(KEY_RUN, &r.to_string());
    }
    if let Some(s) = ctx.session_id().filter(|s| s.len() <= MAX_TEXT_BYTES) {
        entry(KEY_SESSION, s);
    }
    if let Some(s) = service.filter(|s| s.len() <= MAX_TEXT_BYTES) {
        entry(KEY_SERVICE, s);
    }
    let tracestate = remote.and_then(|r| r.tracestate.clone());
    [
        (TRACEPARENT, Some(tp.to_header())),
        (TRACESTATE, tracestate),
        (BAGGAGE, (!bag.is_empty()).then_some(bag)),
    ]
}

/// Write the current audited call's context into outgoing request headers: `traceparent`
/// (this call's span as the parent), `tracestate` (when the call runs under a remote context
/// that had one) and `baggage` with the audit entries. Replaces those headers (a `baggage` the
/// application set is replaced: merge your own entries after). Returns false, writing
/// nothing, outside an audited call.
pub fn inject(headers: &mut impl HeaderSink) -> bool {
    let service = crate::install::current().map(|rt| rt.service.clone());
    let done = context::with_current(|c| {
        let (ctx, _) = c?;
        Some(headers_for(ctx, service.as_deref()))
    });
    let Some(pairs) = done else { return false };
    for (name, value) in pairs {
        if let Some(v) = value {
            headers.set_header(name, v);
        }
    }
    bump(&INJECTED);
    true
}

/// Record on the current audited call's record that it called `target` (a URL,
/// `host:port/path`, an MCP method) of service `service` with its context injected. Returns
/// false outside an audited call (the note is then counted in `AuditStats::orphan_notes`).
pub fn note_remote_call(target: impl Into<String>, service: Option<&str>) -> bool {
    let Some(span_id) = context::with_current(|c| c.map(|(ctx, _)| ctx.span_id)) else {
        return false;
    };
    let call = RemoteCall {
        target: target.into(),
        service: service.map(str::to_owned),
        span_id,
    };
    if context::add_note(Note::RemoteCall(call)) {
        true
    } else {
        crate::install::orphan_note("audit_runtime::propagation::note_remote_call");
        false
    }
}

/// Run `f` under the remote context: audited calls made inside take its trace id, name its
/// calling record as their parent and carry [`RemoteParent`]. With `None` (nothing was
/// extracted), `f` runs as it would without propagation.
pub fn with_remote_context_sync<R>(ctx: Option<&RemoteContext>, f: impl FnOnce() -> R) -> R {
    match ctx {
        Some(ctx) => context::enter(Some(&ctx.frame()), f),
        None => f(),
    }
}

/// Run the future under the remote context, entered on every poll; see
/// [`with_remote_context_sync`].
pub fn with_remote_context<F: Future>(ctx: Option<&RemoteContext>, fut: F) -> WithRemoteContext<F> {
    WithRemoteContext {
        inner: fut,
        frame: ctx.map(RemoteContext::frame),
    }
}

pin_project_lite::pin_project! {
    /// A future running under a [`RemoteContext`]; see [`with_remote_context`].
    #[derive(Debug)]
    pub struct WithRemoteContext<F> {
        #[pin]
        inner: F,
        frame: Option<AuditContext>,
    }
}

impl<F: Future> Future for WithRemoteContext<F> {
    type Output = F::Output;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let inner = this.inner;
        context::enter(this.frame.as_ref(), || inner.poll(cx))
    }
}

// ---- MCP `_meta` -----------------------------------------------------------------------------

/// A JSON object (an MCP request's `params._meta`) read as headers: the string members named
/// `traceparent`, `tracestate` and `baggage` (SEP-414 uses the header names as keys).
struct Meta<'a>(&'a serde_json::Map<String, serde_json::Value>);

impl HeaderSource for Meta<'_> {
    fn each_value(&self, name: &str, f: &mut dyn FnMut(&[u8])) {
        if let Some(v) = self.0.get(name) {
            match v.as_str() {
                Some(s) => f(s.as_bytes()),
                // A non-string value is not a valid header value: hand the parser bytes it
                // will refuse, so it is counted like any malformed header.
                None => f(b"\x00"),
            }
        }
    }
}

impl HeaderSink for serde_json::Map<String, serde_json::Value> {
    fn set_header(&mut self, name: &str, value: String) {
        self.insert(name.to_owned(), serde_json::Value::String(value));
    }
}

/// Write the current call's context into an MCP request's `params._meta` (created when
/// missing; `params` must be an object or absent). Returns false outside an audited call or
/// when `params` is not an object.
pub fn inject_meta(request: &mut serde_json::Value) -> bool {
    let Some(req) = request.as_object_mut() else {
        return false;
    };
    let params = req
        .entry("params")
        .or_insert_with(|| serde_json::Value::Object(serde_json::Map::new()));
    let Some(params) = params.as_object_mut() else {
        return false;
    };
    let meta = params
        .entry("_meta")
        .or_insert_with(|| serde_json::Value::Object(serde_json::Map::new()));
    match meta.as_object_mut() {
        Some(m) => inject(m),
        None => false,
    }
}

/// Read a propagated context from an MCP request's `params._meta`; like [`extract`], with
/// [`PropagationVia::McpMeta`] as the origin.
pub fn extract_meta(request: &serde_json::Value) -> Result<RemoteContext, PropagationError> {
    match request.pointer("/params/_meta").and_then(|m| m.as_object()) {
        Some(m) => extract_parts(&Meta(m), PropagationVia::McpMeta),
        None => {
            bump(&ABSENT);
            Err(PropagationError::Absent)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn hdrs(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// The example of W3C Trace Context §3.2.2.
    const SPEC_TP: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn the_spec_traceparent_parses_and_round_trips() {
        let tp = TraceParent::parse(SPEC_TP.as_bytes()).unwrap();
        assert_eq!(tp.trace_id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(tp.parent_span.to_string(), "00f067aa0ba902b7");
        assert_eq!(tp.flags, 1);
        assert_eq!(tp.to_header(), SPEC_TP);
        // The spec's not-sampled example.
        let tp =
            TraceParent::parse(b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00").unwrap();
        assert_eq!(tp.flags, 0);
    }

    #[test]
    fn malformed_traceparents_are_refused_with_the_part_named() {
        let cases: &[(&str, &str)] = &[
            ("", "shorter"),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",
                "shorter",
            ),
            (
                "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
                "trace-id",
            ),
            (
                "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
                "all zero",
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
                "all zero",
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01",
                "parent-id",
            ),
            (
                "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                "ff",
            ),
            (
                "0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                "version",
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-",
                "exactly 55",
            ),
            (
                "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",
                "separated",
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0x",
                "trace-flags",
            ),
            (
                "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",
                "future",
            ),
        ];
        for (v, part) in cases {
            match TraceParent::parse(v.as_bytes()) {
                Err(PropagationError::Traceparent(why)) => {
                    assert!(why.contains(part), "{v}: {why}");
                }
                other => panic!("{v}: {other:?}"),
            }
        }
        // A future version with more fields after `-` is read by its first 55 bytes (§4.3).
        let tp =
            TraceParent::parse(b"cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what")
                .unwrap();
        assert_eq!(tp.flags, 1);
    }

    #[test]
    fn tracestate_follows_its_grammar_and_limits() {
        // §3.3.1 examples.
        assert!(parse_tracestate(b"rojo=00f067aa0ba902b7,congo=t61rcWkgMzE").is_some());
        assert!(parse_tracestate(b"congo=t61rcWkgMzE").is_some());
        assert!(parse_tracestate(b"fw529a3039@dt=1,a=b , ,c=d").is_some());
        for bad in [
            &b"Rojo=1"[..],
            b"rojo",
            b"rojo=",
            b"rojo=a=b",
            b"rojo=1,rojo=2",
            b"rojo=1 x\x01",
            b"@dt=1",
            b"a@toolongsystemid1=1",
        ] {
            assert!(
                parse_tracestate(bad).is_none(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        let many: Vec<String> = (0..33).map(|i| format!("k{i}=v")).collect();
        assert!(parse_tracestate(many.join(",").as_bytes()).is_none());
        assert!(parse_tracestate(many[..32].join(",").as_bytes()).is_some());
    }

    #[test]
    fn the_spec_baggage_examples_parse() {
        // W3C Baggage §3.2 examples: other vendors' entries, properties, OWS, encoding.
        for v in [
            "userId=alice,serverNode=DF%2028,isProduction=false",
            "key1=value1;property1;property2, key2 = value2, key3=value3; propertyKey=propertyValue",
            "userId=Am%C3%A9lie,serverNode=DF%2028",
        ] {
            assert_eq!(
                parse_baggage(&[v.as_bytes()]),
                Ok(AuditEntries::default()),
                "{v}"
            );
        }
        let id = RecordId::now();
        let v =
            format!("other=1,audit.parent={id},audit.session=s%C3%A9ance%201,audit.service=agent");
        let e = parse_baggage(&[v.as_bytes()]).unwrap();
        assert_eq!(e.parent, Some(id));
        assert_eq!(e.session.as_deref(), Some("séance 1"));
        assert_eq!(e.service.as_deref(), Some("agent"));
    }

    #[test]
    fn bad_baggage_is_refused() {
        let id = RecordId::now();
        let upper = id.to_string().to_uppercase();
        let long = "x".repeat(BAGGAGE_MAX_BYTES);
        let too_many: Vec<String> = (0..181).map(|i| format!("k{i}=v")).collect();
        let long_session = format!("audit.session={}", "s".repeat(MAX_TEXT_BYTES + 1));
        let cases = [
            format!("audit.parent={upper}"),
            "audit.parent=00000000-0000-0000-0000-000000000000".to_owned(),
            "audit.parent=6ba7b810-9dad-11d1-80b4-00c04fd430c8".to_owned(), // UUIDv1
            format!("audit.parent={id},audit.parent={id}"),
            "audit.session=%ZZ".to_owned(),
            "audit.session=%C3".to_owned(),
            "audit.session=a%0Ab".to_owned(),
            "audit.session=".to_owned(),
            "a=1,,b=2".to_owned(),
            "a b=1".to_owned(),
            "a=\"quoted\"".to_owned(),
            "novalue".to_owned(),
            format!("a={long}"),
            too_many.join(","),
            long_session,
        ];
        for v in &cases {
            assert!(parse_baggage(&[v.as_bytes()]).is_err(), "{v}");
        }
    }

    #[test]
    fn percent_encoding_round_trips_any_text() {
        for s in ["plain", "a b,c;d=e%f\"g\\h", "séance ☃ 1", "100%"] {
            let mut enc = String::new();
            percent_encode(s, &mut enc);
            assert!(enc.bytes().all(baggage_octet), "{enc}");
            assert_eq!(percent_decode(enc.as_bytes()).as_deref(), Some(s));
        }
    }

    #[test]
    fn extract_counts_and_refuses_duplicates() {
        let before = stats();
        let h = hdrs(&[(TRACEPARENT, SPEC_TP), ("TraceParent", SPEC_TP)]);
        assert_eq!(
            extract(&h),
            Err(PropagationError::Traceparent("more than one traceparent"))
        );
        assert_eq!(extract(&hdrs(&[])), Err(PropagationError::Absent));
        let h = hdrs(&[(TRACEPARENT, SPEC_TP), (TRACESTATE, "Bad Key=1")]);
        let ctx = extract(&h).unwrap();
        assert_eq!(ctx.tracestate(), None);
        let after = stats();
        // Other tests run in parallel: the counters only grow.
        assert!(after.rejected_traceparent > before.rejected_traceparent);
        assert!(after.absent > before.absent);
        assert!(after.dropped_tracestate > before.dropped_tracestate);
        assert!(after.extracted > before.extracted);
    }

    #[test]
    fn split_headers_combine_as_lists() {
        let id = RecordId::now();
        let bag2 = format!("audit.parent={id}");
        let h = hdrs(&[
            (TRACEPARENT, SPEC_TP),
            (TRACESTATE, "rojo=00f067aa0ba902b7"),
            (TRACESTATE, "congo=t61rcWkgMzE"),
            (BAGGAGE, "a=1"),
            (BAGGAGE, &bag2),
        ]);
        let ctx = extract(&h).unwrap();
        assert_eq!(
            ctx.tracestate(),
            Some("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE")
        );
        assert_eq!(ctx.parent_record_id(), Some(id));
        let mut m = BTreeMap::new();
        m.insert("TRACEPARENT".to_owned(), SPEC_TP.to_owned());
        assert_eq!(extract(&m).unwrap().trace_id(), ctx.trace_id());
    }

    #[test]
    fn inject_then_extract_round_trips_the_context() {
        let id = RecordId::now();
        let decision = RecordId::now();
        let ctx = AuditContext {
            id,
            kind: PointKind::Tool,
            decision: Some(decision),
            run: None,
            scope: Scope::new(Some(Arc::from("conv 7, ü")), None),
            trace_id: TraceId::random(),
            span_id: SpanId::random(),
        };
        let mut h: Vec<(String, String)> = Vec::new();
        h.set_header(BAGGAGE, "stale=1".to_owned());
        assert!(context::enter(Some(&ctx), || inject(&mut h)));
        assert_eq!(h.iter().filter(|(k, _)| k == BAGGAGE).count(), 1);
        let got = extract(&h).unwrap();
        assert_eq!(got.trace_id(), ctx.trace_id);
        assert_eq!(got.parent_span_id(), ctx.span_id);
        assert_eq!(got.parent_record_id(), Some(id));
        assert_eq!(got.decision_id(), Some(decision));
        assert_eq!(got.run_id(), None);
        assert_eq!(got.session_id(), Some("conv 7, ü"));
        assert!(
            !inject(&mut h),
            "outside an audited call nothing is injected"
        );
    }

    /// A handler that is not audited and calls on under a remote context forwards the
    /// caller's parent, trace and tracestate, never the frame's placeholder id.
    #[test]
    fn forwarding_from_a_remote_frame_names_the_remote_parent() {
        let parent = RecordId::now();
        let h = hdrs(&[
            (TRACEPARENT, SPEC_TP),
            (TRACESTATE, "congo=t61rcWkgMzE"),
            (BAGGAGE, &format!("{KEY_PARENT}={parent}")),
        ]);
        let remote = extract(&h).unwrap();
        let mut out: Vec<(String, String)> = Vec::new();
        assert!(with_remote_context_sync(Some(&remote), || inject(&mut out)));
        let again = extract(&out).unwrap();
        assert_eq!(again.parent_record_id(), Some(parent));
        assert_eq!(again.trace_id(), remote.trace_id());
        assert_eq!(again.parent_span_id(), remote.parent_span_id());
        assert_eq!(again.tracestate(), Some("congo=t61rcWkgMzE"));
        // Without `audit.parent`, none is invented.
        let bare = extract(&hdrs(&[(TRACEPARENT, SPEC_TP)])).unwrap();
        let mut out: Vec<(String, String)> = Vec::new();
        assert!(with_remote_context_sync(Some(&bare), || inject(&mut out)));
        assert_eq!(extract(&out).unwrap().parent_record_id(), None);
    }

    #[cfg(feature = "http")]
    #[test]
    fn http_header_maps_read_every_value_and_write_one() {
        let mut m = http::HeaderMap::new();
        m.append(TRACEPARENT, http::HeaderValue::from_static(SPEC_TP));
        m.append(
            TRACESTATE,
            http::HeaderValue::from_static("rojo=00f067aa0ba902b7"),
        );
        m.append(
            TRACESTATE,
            http::HeaderValue::from_static("congo=t61rcWkgMzE"),
        );
        // Not UTF-8: refused as a malformed baggage, never a panic.
        m.append(
            BAGGAGE,
            http::HeaderValue::from_bytes(b"audit.session=\xff").unwrap(),
        );
        assert!(matches!(extract(&m), Err(PropagationError::Baggage(_))));
        m.remove(BAGGAGE);
        let ctx = extract(&m).unwrap();
        assert_eq!(
            ctx.tracestate(),
            Some("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE")
        );
        m.set_header(TRACEPARENT, SPEC_TP.to_owned());
        assert_eq!(m.get_all(TRACEPARENT).iter().count(), 1);
    }

    /// The exact bytes `inject` writes (`docs/PROPAGATION.md` draws them): a pinned fixture.
    #[test]
    fn injected_headers_are_pinned() {
        let id: RecordId = "0193a7c4-e2f0-7b3c-9a41-d2e85f106b7a".parse().unwrap();
        let run: RecordId = "0193a7c4-e2f0-7000-8000-000000000001".parse().unwrap();
        let ctx = AuditContext {
            id,
            kind: PointKind::Decision,
            decision: Some(id),
            run: Some(run),
            scope: Scope::new(Some(Arc::from("conv 42,ü")), None),
            trace_id: "0193a7c4e2f07b3c9a41d2e85f106b7a".parse().unwrap(),
            span_id: "5d1c0b9e8f7a6d21".parse().unwrap(),
        };
        let mut h: Vec<(String, String)> = Vec::new();
        assert!(context::enter(Some(&ctx), || inject(&mut h)));
        assert_eq!(
            h,
            hdrs(&[
                (
                    TRACEPARENT,
                    "00-0193a7c4e2f07b3c9a41d2e85f106b7a-5d1c0b9e8f7a6d21-01"
                ),
                (
                    BAGGAGE,
                    "audit.parent=0193a7c4-e2f0-7b3c-9a41-d2e85f106b7a,\
                     audit.decision=0193a7c4-e2f0-7b3c-9a41-d2e85f106b7a,\
                     audit.run=0193a7c4-e2f0-7000-8000-000000000001,\
                     audit.session=conv%2042%2C%C3%BC"
                ),
            ])
        );
    }

    /// The two record members are pinned too, and absent ones leave a record's bytes as they
    /// were before the members existed.
    #[test]
    fn record_members_are_pinned() {
        let id: RecordId = "0193a7c4-e2f0-7b3c-9a41-d2e85f106b7a".parse().unwrap();
        let p = RemoteParent {
            record_id: Some(id),
            service: Some("loan-agent".into()),
            via: PropagationVia::Headers,
        };
        assert_eq!(
            serde_json::to_string(&p).unwrap(),
            r#"{"record_id":"0193a7c4-e2f0-7b3c-9a41-d2e85f106b7a","service":"loan-agent","via":"headers"}"#
        );
        let bare = RemoteParent {
            record_id: None,
            service: None,
            via: PropagationVia::McpMeta,
        };
        assert_eq!(
            serde_json::to_string(&bare).unwrap(),
            r#"{"via":"mcp_meta"}"#
        );
        let c = RemoteCall {
            target: "mcp:tools/call".into(),
            service: None,
            span_id: "5d1c0b9e8f7a6d21".parse().unwrap(),
        };
        assert_eq!(
            serde_json::to_string(&c).unwrap(),
            r#"{"target":"mcp:tools/call","span_id":"5d1c0b9e8f7a6d21"}"#
        );
        // The carrier is a closed set.
        assert!(serde_json::from_str::<RemoteParent>(r#"{"via":"http"}"#).is_err());
    }

    /// Headers as raw bytes, as a server may receive them.
    struct RawHeaders<'a>(Vec<(&'static str, &'a [u8])>);

    impl HeaderSource for RawHeaders<'_> {
        fn each_value(&self, name: &str, f: &mut dyn FnMut(&[u8])) {
            for (k, v) in &self.0 {
                if *k == name {
                    f(v);
                }
            }
        }
    }

    /// A fuzz-style sweep: random bytes and mutations of valid headers never panic, and
    /// whatever is accepted re-serializes to a value that parses to the same context.
    #[test]
    fn arbitrary_bytes_never_panic() {
        let id = RecordId::now();
        let good_bag = format!("audit.parent={id},audit.session=a%20b");
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for round in 0..20_000 {
            let mut tp = SPEC_TP.as_bytes().to_vec();
            let mut bag = good_bag.as_bytes().to_vec();
            let mut ts = b"rojo=00f067aa0ba902b7,congo=t61rcWkgMzE".to_vec();
            for buf in [&mut tp, &mut bag, &mut ts] {
                let n = next() % 4;
                for _ in 0..n {
                    let at = (next() as usize) % (buf.len() + 1);
                    match next() % 3 {
                        0 if at < buf.len() => buf[at] = next() as u8,
                        1 => buf.insert(at, next() as u8),
                        _ if at < buf.len() => {
                            buf.remove(at);
                        }
                        _ => {}
                    }
                }
            }
            let h = RawHeaders(vec![(TRACEPARENT, &tp), (TRACESTATE, &ts), (BAGGAGE, &bag)]);
            let _ = extract(&h);
            let _ = TraceParent::parse(&tp);
            let _ = parse_tracestate(&ts);
            if let Ok(AuditEntries {
                session: Some(s), ..
            }) = parse_baggage(&[&bag])
            {
                let mut enc = String::new();
                percent_encode(&s, &mut enc);
                assert_eq!(percent_decode(enc.as_bytes()), Some(s), "round {round}");
            }
            if let Ok(p) = TraceParent::parse(&tp) {
                assert_eq!(TraceParent::parse(p.to_header().as_bytes()), Ok(p));
            }
        }
    }
}
