//! Configuration of the OTLP exporter: in code, and from the standard environment variables.
//!
//! The environment follows the OpenTelemetry "OTLP Exporter Configuration" specification
//! (`specification/protocol/exporter.md`):
//!
//! * `OTEL_EXPORTER_OTLP_ENDPOINT` is a *base* URL. For OTLP/HTTP the signal path is appended
//!   (`/v1/traces`, `/v1/logs`); for OTLP/gRPC it is used as is.
//! * `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` / `_LOGS_ENDPOINT` are used *as is*, for both protocols.
//! * `OTEL_EXPORTER_OTLP_PROTOCOL` (and `_TRACES_` / `_LOGS_`): `grpc` or `http/protobuf`
//!   (the default). `http/json` is refused with a clear error: we send protobuf only.
//! * `OTEL_EXPORTER_OTLP_HEADERS` (and per signal): `key=value` pairs separated by commas, values
//!   percent-decoded (the W3C Baggage format). Per-signal headers override generic ones by key.
//! * `OTEL_EXPORTER_OTLP_COMPRESSION` (and per signal): `gzip` or `none`.
//! * `OTEL_EXPORTER_OTLP_TIMEOUT` (and per signal): milliseconds per export request.
//! * `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES` (`key=value,...`, percent-decoded).
//! * `AUDIT_OTLP_MAX_EXPORT_DELAY` (ours): milliseconds a record may wait in memory before it
//!   is sent ([`OtlpConfig::max_export_delay`]). The OTel `OTEL_BSP_SCHEDULE_DELAY` is not
//!   honoured: its 5 s default is the quiet window an audit trail must not have.
//!
//! What must hold: every setting is validated when the exporter is built, and an invalid one is
//! an [`OtlpConfigError`] that names the setting (the environment variable, or the builder
//! method), so a typo in a deployment manifest fails at start-up instead of losing records later.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// The OTLP transport of one signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// OTLP/gRPC (`TraceService/Export`, `LogsService/Export`); needs the `otlp-grpc` feature.
    Grpc,
    /// OTLP/HTTP with protobuf bodies (`POST /v1/traces`, `POST /v1/logs`).
    HttpProtobuf,
}

impl Protocol {
    fn parse(s: &str, setting: &str) -> Result<Self, OtlpConfigError> {
        match s.trim() {
            "grpc" => Ok(Protocol::Grpc),
            "http/protobuf" => Ok(Protocol::HttpProtobuf),
            "http/json" => Err(OtlpConfigError::new(
                setting,
                "`http/json` is not supported by the audit OTLP exporter; use `http/protobuf` or \
                 `grpc`",
            )),
            other => Err(OtlpConfigError::new(
                setting,
                format!("unknown protocol `{other}`; expected `grpc` or `http/protobuf`"),
            )),
        }
    }

    /// The default endpoint of the protocol (OTLP spec: 4317 for gRPC, 4318 for HTTP).
    pub fn default_endpoint(self) -> &'static str {
        match self {
            Protocol::Grpc => "http://localhost:4317",
            Protocol::HttpProtobuf => "http://localhost:4318",
        }
    }
}

/// Request body compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// No compression.
    #[default]
    None,
    /// gzip (`Content-Encoding: gzip` over HTTP, `grpc-encoding: gzip` over gRPC).
    Gzip,
}

impl Compression {
    fn parse(s: &str, setting: &str) -> Result<Self, OtlpConfigError> {
        match s.trim() {
            "gzip" => Ok(Compression::Gzip),
            "none" | "" => Ok(Compression::None),
            other => Err(OtlpConfigError::new(
                setting,
                format!("unknown compression `{other}`; expected `gzip` or `none`"),
            )),
        }
    }
}

/// The two OTLP signals the exporter writes (see `docs/OTLP.md` for why both).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Signal {
    /// Spans: one per completed audited call.
    Traces,
    /// Log records: `started`, outcome, human action, lineage and finding records.
    Logs,
}

impl Signal {
    /// `traces` or `logs`.
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Traces => "traces",
            Signal::Logs => "logs",
        }
    }

    fn http_path(self) -> &'static str {
        match self {
            Signal::Traces => "/v1/traces",
            Signal::Logs => "/v1/logs",
        }
    }
}

/// A validated endpoint URL: `http` or `https`, a host, an optional port and path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    url: String,
    https: bool,
}

impl Endpoint {
    /// Parse and check an endpoint URL; `setting` names where it came from for the error.
    pub fn parse(url: &str, setting: &str) -> Result<Self, OtlpConfigError> {
        let url = url.trim();
        let (https, rest) = if let Some(r) = url.strip_prefix("http://") {
            (false, r)
        } else if let Some(r) = url.strip_prefix("https://") {
            (true, r)
        } else {
            return Err(OtlpConfigError::new(
                setting,
                format!("`{url}` is not an http:// or https:// URL"),
            ));
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        if authority.is_empty() {
            return Err(OtlpConfigError::new(
                setting,
                format!("`{url}` has no host"),
            ));
        }
        if authority.contains('@') {
            return Err(OtlpConfigError::new(
                setting,
                format!("`{url}` carries credentials; put them in the headers setting instead"),
            ));
        }
        let host_port = authority;
        let (host, port) = if let Some(v6) = host_port.strip_prefix('[') {
            let (h, after) = v6.split_once(']').ok_or_else(|| {
                OtlpConfigError::new(setting, format!("`{url}`: unterminated IPv6 address"))
            })?;
            (h, after.strip_prefix(':'))
        } else {
            match host_port.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (host_port, None),
            }
        };
        if host.is_empty() || host.chars().any(|c| c.is_whitespace()) {
            return Err(OtlpConfigError::new(
                setting,
                format!("`{url}` has an invalid host"),
            ));
        }
        if let Some(p) = port
            && p.parse::<u16>().ok().is_none_or(|p| p == 0)
        {
            return Err(OtlpConfigError::new(
                setting,
                format!("`{url}` has an invalid port `{p}`"),
            ));
        }
        if https && !cfg!(feature = "otlp-tls") {
            return Err(OtlpConfigError::new(
                setting,
                format!(
                    "`{url}` is https, but audit-exporters was built without the `otlp-tls` \
                     feature"
                ),
            ));
        }
        Ok(Endpoint {
            url: url.to_owned(),
            https,
        })
    }

    /// The URL.
    pub fn as_str(&self) -> &str {
        &self.url
    }

    /// Whether TLS is used.
    pub fn is_https(&self) -> bool {
        self.https
    }

    /// Append a signal path to a base URL (for OTLP/HTTP base endpoints).
    fn with_path(&self, path: &str) -> Endpoint {
        let base = self.url.trim_end_matches('/');
        Endpoint {
            url: format!("{base}{path}"),
            https: self.https,
        }
    }
}

/// Where and how one signal is sent.
#[derive(Debug, Clone)]
pub struct SignalConfig {
    /// The full URL requests go to (HTTP: including `/v1/traces`; gRPC: the server's URL).
    pub endpoint: Endpoint,
    /// The transport.
    pub protocol: Protocol,
    /// Extra request headers (authentication), lower-case names.
    pub headers: Vec<(String, String)>,
    /// Body compression.
    pub compression: Compression,
    /// Deadline of one export request.
    pub timeout: Duration,
}

/// What is wrong with a setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtlpConfigError {
    /// The setting: an environment variable (`OTEL_EXPORTER_OTLP_HEADERS`) or a builder method
    /// (`OtlpConfig::endpoint`).
    pub setting: String,
    /// What is wrong.
    pub reason: String,
}

impl OtlpConfigError {
    fn new(setting: &str, reason: impl Into<String>) -> Self {
        OtlpConfigError {
            setting: setting.to_owned(),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for OtlpConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid OTLP setting `{}`: {}",
            self.setting, self.reason
        )
    }
}

impl std::error::Error for OtlpConfigError {}

/// A setting as given: a value and the name it came from.
#[derive(Debug, Clone)]
struct Given {
    value: String,
    setting: String,
}

#[derive(Debug, Clone, Default)]
struct SignalOverrides {
    endpoint: Option<Given>,
    protocol: Option<Given>,
    headers: Option<Given>,
    compression: Option<Given>,
    timeout: Option<Given>,
}

/// Configuration of an [`super::OtlpExporter`]. Start from [`OtlpConfig::new`] (code only) or
/// [`OtlpConfig::from_env`] (the `OTEL_*` variables), adjust with the builder methods, and hand it
/// to [`super::OtlpExporter::new`], which validates everything.
///
/// ```
/// use audit_exporters::otlp::{OtlpConfig, Protocol};
/// let cfg = OtlpConfig::new()
///     .protocol(Protocol::HttpProtobuf)
///     .endpoint("http://127.0.0.1:4318")
///     .header("authorization", "Bearer s3cr3t")
///     .spill_dir("/var/lib/agent/otlp-spill");
/// ```
#[derive(Debug, Clone)]
pub struct OtlpConfig {
    generic: SignalOverrides,
    traces: SignalOverrides,
    logs: SignalOverrides,
    code_headers: Vec<(String, String)>,
    service_name: Option<Given>,
    resource_attributes: Option<Given>,
    /// The directory and the setting it came from (`OtlpConfig::spill_dir` or
    /// `AUDIT_OTLP_SPILL_DIR`), so errors about it name the right one.
    pub(crate) spill_dir: Option<(PathBuf, &'static str)>,
    pub(crate) batch_max: usize,
    max_export_delay: Given,
    pub(crate) memory_capacity: usize,
    pub(crate) spill_after: Duration,
    pub(crate) spill_max_bytes: u64,
    pub(crate) rejected_max_bytes: u64,
    pub(crate) first_backoff: Duration,
    pub(crate) max_backoff: Duration,
    pub(crate) flush_timeout: Duration,
}

impl Default for OtlpConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl OtlpConfig {
    /// Defaults: HTTP/protobuf to `http://localhost:4318`, no compression, 10 s request timeout,
    /// batches of up to 512 records, a record waits at most 200 ms before it is sent, 8192
    /// records in memory, spill 500 ms after the first failed (or unanswered) request (into
    /// `./audit-otlp-spill` unless [`Self::spill_dir`] says otherwise), spill files up to
    /// 1 GiB, the rejected-records file up to 64 MiB, backoff from 100 ms doubling to 30 s with
    /// full jitter, flush waits up to 10 s.
    pub fn new() -> Self {
        OtlpConfig {
            generic: SignalOverrides::default(),
            traces: SignalOverrides::default(),
            logs: SignalOverrides::default(),
            code_headers: Vec::new(),
            service_name: None,
            resource_attributes: None,
            spill_dir: None,
            batch_max: 512,
            max_export_delay: Given {
                value: DEFAULT_MAX_EXPORT_DELAY_MS.to_string(),
                setting: "default max_export_delay".into(),
            },
            memory_capacity: 8192,
            spill_after: Duration::from_millis(500),
            spill_max_bytes: 1 << 30,
            rejected_max_bytes: 64 << 20,
            first_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(30),
            flush_timeout: Duration::from_secs(10),
        }
    }

    /// The defaults overridden by the standard `OTEL_*` environment variables.
    pub fn from_env() -> Self {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Like [`Self::from_env`], reading variables through `lookup` (for tests and for
    /// configuration systems that are not the process environment).
    ///
    /// A variable whose value is empty (or only whitespace) is unset, as the OpenTelemetry
    /// specification says of every `OTEL_*` variable ("an empty value … MUST be treated as
    /// unset"); the same holds for the `AUDIT_OTLP_*` ones.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let mut cfg = Self::new();
        let get = |name: String| {
            lookup(&name)
                .filter(|value| !value.trim().is_empty())
                .map(|value| Given {
                    value,
                    setting: name,
                })
        };
        let read = |infix: &str| SignalOverrides {
            endpoint: get(format!("OTEL_EXPORTER_OTLP_{infix}ENDPOINT")),
            protocol: get(format!("OTEL_EXPORTER_OTLP_{infix}PROTOCOL")),
            headers: get(format!("OTEL_EXPORTER_OTLP_{infix}HEADERS")),
            compression: get(format!("OTEL_EXPORTER_OTLP_{infix}COMPRESSION")),
            timeout: get(format!("OTEL_EXPORTER_OTLP_{infix}TIMEOUT")),
        };
        cfg.generic = read("");
        cfg.traces = read("TRACES_");
        cfg.logs = read("LOGS_");
        cfg.service_name = get("OTEL_SERVICE_NAME".into());
        cfg.resource_attributes = get("OTEL_RESOURCE_ATTRIBUTES".into());
        if let Some(g) = get(MAX_EXPORT_DELAY_ENV.into()) {
            cfg.max_export_delay = g;
        }
        if let Some(g) = get(SPILL_DIR_ENV.into()) {
            cfg.spill_dir = Some((PathBuf::from(g.value), SPILL_DIR_ENV));
        }
        cfg
    }

    fn code(value: impl Into<String>, method: &str) -> Option<Given> {
        Some(Given {
            value: value.into(),
            setting: format!("OtlpConfig::{method}"),
        })
    }

    /// Base endpoint of both signals (HTTP: `/v1/traces` and `/v1/logs` are appended).
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.generic.endpoint = Self::code(url, "endpoint");
        self
    }

    /// Full endpoint of one signal, used as is.
    pub fn signal_endpoint(mut self, signal: Signal, url: impl Into<String>) -> Self {
        let g = Self::code(url, "signal_endpoint");
        match signal {
            Signal::Traces => self.traces.endpoint = g,
            Signal::Logs => self.logs.endpoint = g,
        }
        self
    }

    /// Transport of both signals.
    pub fn protocol(mut self, protocol: Protocol) -> Self {
        let s = match protocol {
            Protocol::Grpc => "grpc",
            Protocol::HttpProtobuf => "http/protobuf",
        };
        self.generic.protocol = Self::code(s, "protocol");
        self
    }

    /// An extra header on every request of both signals (for example `authorization`).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.code_headers.push((name.into(), value.into()));
        self
    }

    /// gzip request bodies (or not).
    pub fn compression(mut self, c: Compression) -> Self {
        let s = match c {
            Compression::None => "none",
            Compression::Gzip => "gzip",
        };
        self.generic.compression = Self::code(s, "compression");
        self
    }

    /// Deadline of one export request.
    pub fn timeout(mut self, t: Duration) -> Self {
        self.generic.timeout = Self::code(t.as_millis().to_string(), "timeout");
        self
    }

    /// `service.name` of the resource (else `OTEL_SERVICE_NAME`, else each record's service).
    pub fn service_name(mut self, name: impl Into<String>) -> Self {
        self.service_name = Self::code(name, "service_name");
        self
    }

    /// Extra resource attributes, in the `OTEL_RESOURCE_ATTRIBUTES` format (`k=v,k2=v2`).
    pub fn resource_attributes(mut self, attrs: impl Into<String>) -> Self {
        self.resource_attributes = Self::code(attrs, "resource_attributes");
        self
    }

    /// Directory of the spill file (created if missing). One process per directory: the spill
    /// file is locked while an exporter uses it.
    pub fn spill_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.spill_dir = Some((dir.into(), "OtlpConfig::spill_dir"));
        self
    }

    /// The most records in one export request.
    pub fn batch_max(mut self, n: usize) -> Self {
        self.batch_max = n;
        self
    }

    /// The longest a record waits in memory before a request carries it (a batch leaves when
    /// it is full, when its oldest record has waited this long, or on flush), whatever the
    /// rate. Between 1 ms and 60 s; default 200 ms; also `AUDIT_OTLP_MAX_EXPORT_DELAY` (ms).
    pub fn max_export_delay(mut self, d: Duration) -> Self {
        // Kept exact (microseconds); validated by `OtlpExporter::new`.
        self.max_export_delay = Given {
            value: format!("{}us", d.as_micros()),
            setting: "OtlpConfig::max_export_delay".into(),
        };
        self
    }

    /// The old name of [`Self::max_export_delay`].
    #[deprecated(note = "renamed `max_export_delay`")]
    pub fn batch_delay(self, d: Duration) -> Self {
        self.max_export_delay(d)
    }

    /// Records held in memory before new ones go to the spill file.
    pub fn memory_capacity(mut self, n: usize) -> Self {
        self.memory_capacity = n;
        self
    }

    /// How soon records are on disk once the collector fails: from the first failed request
    /// (or from a request left unanswered this long), records in memory go to the spill file
    /// within this bound, and later records are appended before `export` returns, until the
    /// collector accepts again. Default 500 ms; zero spills at the first failure.
    pub fn spill_after(mut self, d: Duration) -> Self {
        self.spill_after = d;
        self
    }

    /// The largest the spill file may grow; beyond it `export` fails (transiently) and the
    /// pipeline's retry and fallback policy decides, visibly.
    pub fn spill_max_bytes(mut self, n: u64) -> Self {
        self.spill_max_bytes = n;
        self
    }

    /// The largest `otlp-rejected.jsonl` may grow (records the collector refused for good).
    /// Beyond it, refused records are not written but counted in
    /// [`super::OtlpStats::rejected_dropped`] and reported once on stderr. Default 64 MiB.
    pub fn rejected_max_bytes(mut self, n: u64) -> Self {
        self.rejected_max_bytes = n;
        self
    }

    /// Retry backoff: the first delay and the cap (full jitter is applied below the cap).
    pub fn backoff(mut self, first: Duration, max: Duration) -> Self {
        self.first_backoff = first;
        self.max_backoff = max;
        self
    }

    /// How long `flush` waits for delivery before it puts what is left into the spill file.
    pub fn flush_timeout(mut self, d: Duration) -> Self {
        self.flush_timeout = d;
        self
    }

    /// Validate everything and resolve the per-signal settings.
    pub(crate) fn resolve(&self) -> Result<Resolved, OtlpConfigError> {
        if self.batch_max == 0 {
            return Err(OtlpConfigError::new(
                "OtlpConfig::batch_max",
                "must be at least 1",
            ));
        }
        if self.memory_capacity < self.batch_max {
            return Err(OtlpConfigError::new(
                "OtlpConfig::memory_capacity",
                "must be at least batch_max",
            ));
        }
        if self.first_backoff.is_zero() || self.max_backoff < self.first_backoff {
            return Err(OtlpConfigError::new(
                "OtlpConfig::backoff",
                "first must be positive and no larger than max",
            ));
        }
        let max_export_delay = parse_delay(&self.max_export_delay)?;
        let traces = self.signal(Signal::Traces)?;
        let logs = self.signal(Signal::Logs)?;
        let mut resource = match &self.resource_attributes {
            Some(g) => parse_pairs(&g.value, &g.setting)?,
            None => Vec::new(),
        };
        let service_name = match &self.service_name {
            Some(g) if g.value.trim().is_empty() => {
                return Err(OtlpConfigError::new(&g.setting, "is set but empty"));
            }
            Some(g) => Some(g.value.clone()),
            None => resource
                .iter()
                .find(|(k, _)| k == "service.name")
                .map(|(_, v)| v.clone()),
        };
        resource.retain(|(k, _)| k != "service.name");
        Ok(Resolved {
            traces,
            logs,
            service_name,
            resource,
            max_export_delay,
        })
    }

    fn signal(&self, signal: Signal) -> Result<SignalConfig, OtlpConfigError> {
        let specific = match signal {
            Signal::Traces => &self.traces,
            Signal::Logs => &self.logs,
        };
        let protocol = match specific
            .protocol
            .as_ref()
            .or(self.generic.protocol.as_ref())
        {
            Some(g) => Protocol::parse(&g.value, &g.setting)?,
            None => Protocol::HttpProtobuf,
        };
        let endpoint = match (&specific.endpoint, &self.generic.endpoint) {
            (Some(g), _) => Endpoint::parse(&g.value, &g.setting)?,
            (None, Some(g)) => {
                let base = Endpoint::parse(&g.value, &g.setting)?;
                match protocol {
                    Protocol::HttpProtobuf => base.with_path(signal.http_path()),
                    Protocol::Grpc => base,
                }
            }
            (None, None) => {
                let base = Endpoint::parse(protocol.default_endpoint(), "default endpoint")?;
                match protocol {
                    Protocol::HttpProtobuf => base.with_path(signal.http_path()),
                    Protocol::Grpc => base,
                }
            }
        };
        if protocol == Protocol::Grpc && !cfg!(feature = "otlp-grpc") {
            let setting = specific
                .protocol
                .as_ref()
                .or(self.generic.protocol.as_ref())
                .map_or("OTEL_EXPORTER_OTLP_PROTOCOL", |g| g.setting.as_str());
            return Err(OtlpConfigError::new(
                setting,
                "`grpc` needs audit-exporters built with the `otlp-grpc` feature",
            ));
        }
        let mut headers: BTreeMap<String, String> = BTreeMap::new();
        for g in [self.generic.headers.as_ref(), specific.headers.as_ref()]
            .into_iter()
            .flatten()
        {
            for (k, v) in parse_pairs(&g.value, &g.setting)? {
                check_header(&k, &v, &g.setting)?;
                headers.insert(k.to_ascii_lowercase(), v);
            }
        }
        for (k, v) in &self.code_headers {
            check_header(k, v, "OtlpConfig::header")?;
            headers.insert(k.to_ascii_lowercase(), v.clone());
        }
        let compression = match specific
            .compression
            .as_ref()
            .or(self.generic.compression.as_ref())
        {
            Some(g) => Compression::parse(&g.value, &g.setting)?,
            None => Compression::None,
        };
        let timeout = match specific.timeout.as_ref().or(self.generic.timeout.as_ref()) {
            Some(g) => {
                let ms: u64 = g.value.trim().parse().map_err(|_| {
                    OtlpConfigError::new(
                        &g.setting,
                        format!("`{}` is not a whole number of milliseconds", g.value),
                    )
                })?;
                if ms == 0 {
                    return Err(OtlpConfigError::new(&g.setting, "must be at least 1 ms"));
                }
                Duration::from_millis(ms)
            }
            None => Duration::from_secs(10),
        };
        Ok(SignalConfig {
            endpoint,
            protocol,
            headers: headers.into_iter().collect(),
            compression,
            timeout,
        })
    }
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub(crate) struct Resolved {
    pub(crate) traces: SignalConfig,
    pub(crate) logs: SignalConfig,
    pub(crate) service_name: Option<String>,
    pub(crate) resource: Vec<(String, String)>,
    pub(crate) max_export_delay: Duration,
}

const MAX_EXPORT_DELAY_ENV: &str = "AUDIT_OTLP_MAX_EXPORT_DELAY";
/// The spill directory's environment variable.
pub(crate) const SPILL_DIR_ENV: &str = "AUDIT_OTLP_SPILL_DIR";
const DEFAULT_MAX_EXPORT_DELAY_MS: u64 = 200;
/// Above a minute the bound stops being a latency bound: records would sit in memory (and be
/// lost in a crash) for as long as a healthy collector would have needed to store them.
const MAX_EXPORT_DELAY_LIMIT: Duration = Duration::from_secs(60);

/// `max_export_delay` as given: whole milliseconds from the environment, `<n>us` from code.
fn parse_delay(g: &Given) -> Result<Duration, OtlpConfigError> {
    let v = g.value.trim();
    let d = match v.strip_suffix("us") {
        Some(us) => us.parse().ok().map(Duration::from_micros),
        None => v.parse().ok().map(Duration::from_millis),
    }
    .ok_or_else(|| {
        OtlpConfigError::new(
            &g.setting,
            format!("`{v}` is not a whole number of milliseconds"),
        )
    })?;
    if d < Duration::from_millis(1) || d > MAX_EXPORT_DELAY_LIMIT {
        return Err(OtlpConfigError::new(
            &g.setting,
            format!("{d:?} is outside 1 ms ..= 60 s"),
        ));
    }
    Ok(d)
}

/// Parse `key=value` pairs separated by commas, values (and keys) percent-decoded, surrounding
/// whitespace trimmed: the W3C Baggage format the OTel spec prescribes for `*_HEADERS` and
/// `OTEL_RESOURCE_ATTRIBUTES`.
pub(crate) fn parse_pairs(
    s: &str,
    setting: &str,
) -> Result<Vec<(String, String)>, OtlpConfigError> {
    let mut out = Vec::new();
    for (i, item) in s.split(',').enumerate() {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        let (k, v) = item.split_once('=').ok_or_else(|| {
            OtlpConfigError::new(
                setting,
                format!("entry {} `{item}` is not key=value", i + 1),
            )
        })?;
        let k = percent_decode(k.trim(), setting)?;
        let v = percent_decode(v.trim(), setting)?;
        if k.is_empty() {
            return Err(OtlpConfigError::new(
                setting,
                format!("entry {} has an empty key", i + 1),
            ));
        }
        out.push((k, v));
    }
    Ok(out)
}

fn percent_decode(s: &str, setting: &str) -> Result<String, OtlpConfigError> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok());
            let byte = hex
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| {
                    OtlpConfigError::new(setting, format!("bad percent-escape in `{s}`"))
                })?;
            out.push(byte);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out)
        .map_err(|_| OtlpConfigError::new(setting, format!("`{s}` decodes to invalid UTF-8")))
}

/// Header names are HTTP tokens (RFC 9110 §5.6.2) and, for gRPC metadata, must not end in
/// `-bin` (binary metadata) nor use reserved names; values are visible ASCII and spaces.
fn check_header(name: &str, value: &str, setting: &str) -> Result<(), OtlpConfigError> {
    let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if name.is_empty() || !name.chars().all(token) {
        return Err(OtlpConfigError::new(
            setting,
            format!("`{name}` is not a valid header name"),
        ));
    }
    let lower = name.to_ascii_lowercase();
    if lower.ends_with("-bin")
        || lower.starts_with("grpc-")
        || lower == "content-type"
        || lower == "te"
    {
        return Err(OtlpConfigError::new(
            setting,
            format!("header `{name}` is reserved by the OTLP transports"),
        ));
    }
    if !value
        .chars()
        .all(|c| c == ' ' || c == '\t' || c.is_ascii_graphic())
    {
        return Err(OtlpConfigError::new(
            setting,
            format!("the value of header `{name}` must be visible ASCII"),
        ));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> OtlpConfig {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        OtlpConfig::from_lookup(move |k| m.get(k).cloned())
    }

    #[test]
    fn defaults_are_http_protobuf_on_4318() {
        let r = OtlpConfig::new().resolve().unwrap();
        assert_eq!(r.traces.protocol, Protocol::HttpProtobuf);
        assert_eq!(
            r.traces.endpoint.as_str(),
            "http://localhost:4318/v1/traces"
        );
        assert_eq!(r.logs.endpoint.as_str(), "http://localhost:4318/v1/logs");
        assert_eq!(r.traces.timeout, Duration::from_secs(10));
    }

    #[test]
    fn base_endpoint_gets_signal_paths_and_signal_endpoint_is_used_as_is() {
        let r = env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/"),
            (
                "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
                "http://logs:9999/custom/path",
            ),
        ])
        .resolve()
        .unwrap();
        assert_eq!(
            r.traces.endpoint.as_str(),
            "http://collector:4318/v1/traces"
        );
        assert_eq!(r.logs.endpoint.as_str(), "http://logs:9999/custom/path");
    }

    #[test]
    fn headers_merge_per_signal_and_decode() {
        let r = env(&[
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                "Authorization=Bearer%20abc, x-tenant = a",
            ),
            ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "x-tenant=b"),
        ])
        .resolve()
        .unwrap();
        assert_eq!(
            r.traces.headers,
            vec![
                ("authorization".into(), "Bearer abc".into()),
                ("x-tenant".into(), "b".into())
            ]
        );
        assert_eq!(r.logs.headers[1], ("x-tenant".into(), "a".into()));
    }

    #[test]
    fn bad_settings_name_the_variable() {
        let cases = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://:4318"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://host:99999"),
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/json"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "thrift"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "novalue"),
            ("OTEL_EXPORTER_OTLP_LOGS_HEADERS", "bad name=x"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "a=%zz"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "brotli"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "10s"),
            ("OTEL_RESOURCE_ATTRIBUTES", "=x"),
            ("AUDIT_OTLP_MAX_EXPORT_DELAY", "200ms"),
            ("AUDIT_OTLP_MAX_EXPORT_DELAY", "0"),
            ("AUDIT_OTLP_MAX_EXPORT_DELAY", "600000"),
        ];
        for (var, value) in cases {
            let err = env(&[(var, value)]).resolve().unwrap_err();
            assert_eq!(err.setting, var, "{var}={value}: {err}");
            assert!(err.to_string().contains(var), "{err}");
        }
    }

    #[test]
    fn empty_values_are_unset() {
        let defaults = OtlpConfig::new().resolve().unwrap();
        let vars = [
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
            "OTEL_EXPORTER_OTLP_PROTOCOL",
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
            "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL",
            "OTEL_EXPORTER_OTLP_HEADERS",
            "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
            "OTEL_EXPORTER_OTLP_LOGS_HEADERS",
            "OTEL_EXPORTER_OTLP_COMPRESSION",
            "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
            "OTEL_EXPORTER_OTLP_LOGS_COMPRESSION",
            "OTEL_EXPORTER_OTLP_TIMEOUT",
            "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
            "OTEL_EXPORTER_OTLP_LOGS_TIMEOUT",
            "OTEL_SERVICE_NAME",
            "OTEL_RESOURCE_ATTRIBUTES",
            "AUDIT_OTLP_MAX_EXPORT_DELAY",
        ];
        for var in vars {
            for empty in ["", "  "] {
                let r = env(&[(var, empty)])
                    .resolve()
                    .unwrap_or_else(|e| panic!("{var}={empty:?}: {e}"));
                for (got, want) in [(&r.traces, &defaults.traces), (&r.logs, &defaults.logs)] {
                    assert_eq!(got.endpoint.as_str(), want.endpoint.as_str(), "{var}");
                    assert_eq!(got.protocol, want.protocol, "{var}");
                    assert_eq!(got.headers, want.headers, "{var}");
                    assert_eq!(got.compression, want.compression, "{var}");
                    assert_eq!(got.timeout, want.timeout, "{var}");
                }
                assert_eq!(r.service_name, None, "{var}");
                assert_eq!(r.resource, defaults.resource, "{var}");
                assert_eq!(r.max_export_delay, defaults.max_export_delay, "{var}");
            }
        }
        assert_eq!(env(&[("AUDIT_OTLP_SPILL_DIR", "")]).spill_dir, None);
        // An empty signal-specific value falls through to the generic one, not to the default.
        let r = env(&[
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", ""),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", ""),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "1234"),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", ""),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317"),
        ]);
        if cfg!(feature = "otlp-grpc") {
            let r = r.resolve().unwrap();
            assert_eq!(r.traces.protocol, Protocol::Grpc);
            assert_eq!(r.traces.timeout, Duration::from_millis(1234));
            assert_eq!(r.traces.endpoint.as_str(), "http://collector:4317");
        }
        // A value set in code is not an environment variable: empty stays an error there.
        let err = OtlpConfig::new().endpoint("").resolve().unwrap_err();
        assert_eq!(err.setting, "OtlpConfig::endpoint");
    }

    #[test]
    fn spill_dir_remembers_where_it_came_from() {
        let from_env = env(&[("AUDIT_OTLP_SPILL_DIR", "/var/spill")]);
        assert_eq!(
            from_env.spill_dir,
            Some((PathBuf::from("/var/spill"), "AUDIT_OTLP_SPILL_DIR"))
        );
        assert_eq!(
            from_env.spill_dir("/code").spill_dir,
            Some((PathBuf::from("/code"), "OtlpConfig::spill_dir"))
        );
    }

    #[test]
    fn service_name_precedence() {
        let r = env(&[
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                "service.name=from-attrs,deployment.environment=prod",
            ),
            ("OTEL_SERVICE_NAME", "from-env"),
        ])
        .resolve()
        .unwrap();
        assert_eq!(r.service_name.as_deref(), Some("from-env"));
        assert_eq!(
            r.resource,
            vec![("deployment.environment".into(), "prod".into())]
        );
        let r = env(&[("OTEL_RESOURCE_ATTRIBUTES", "service.name=from-attrs")])
            .resolve()
            .unwrap();
        assert_eq!(r.service_name.as_deref(), Some("from-attrs"));
        let r = env(&[("OTEL_SERVICE_NAME", "from-env")])
            .service_name("from-code")
            .resolve()
            .unwrap();
        assert_eq!(r.service_name.as_deref(), Some("from-code"));
    }

    #[test]
    fn code_settings_name_the_method() {
        let err = OtlpConfig::new().endpoint("ftp://x").resolve().unwrap_err();
        assert_eq!(err.setting, "OtlpConfig::endpoint");
        let err = OtlpConfig::new()
            .header("grpc-timeout", "1")
            .resolve()
            .unwrap_err();
        assert_eq!(err.setting, "OtlpConfig::header");
        for bad in [
            Duration::ZERO,
            Duration::from_micros(999),
            Duration::from_secs(61),
        ] {
            let err = OtlpConfig::new()
                .max_export_delay(bad)
                .resolve()
                .unwrap_err();
            assert_eq!(err.setting, "OtlpConfig::max_export_delay", "{bad:?}");
            assert!(err.to_string().contains("max_export_delay"), "{err}");
        }
    }

    #[test]
    fn max_export_delay_defaults_reads_the_environment_and_code_wins() {
        assert_eq!(
            OtlpConfig::new().resolve().unwrap().max_export_delay,
            Duration::from_millis(200)
        );
        let from_env = env(&[("AUDIT_OTLP_MAX_EXPORT_DELAY", "50")]);
        assert_eq!(
            from_env.clone().resolve().unwrap().max_export_delay,
            Duration::from_millis(50)
        );
        let code = from_env.max_export_delay(Duration::from_micros(1500));
        assert_eq!(
            code.resolve().unwrap().max_export_delay,
            Duration::from_micros(1500)
        );
    }
}
