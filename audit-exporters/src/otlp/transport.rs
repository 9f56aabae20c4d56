//! The network seam: one encoded OTLP request in, the collector's verdict out.
//!
//! [`Transport`] is small on purpose (habit 6 of `STYLE.md`): the delivery loop is tested against
//! real transports talking to a real loopback receiver, and a transport is easy to replace.
//!
//! Retry classification follows the OTLP specification (`specification/protocol/otlp.md`,
//! "Failures" and "OTLP/HTTP Throttling"):
//! * HTTP 429, 502, 503 and 504 are retryable; `Retry-After` (seconds or an HTTP-date) gives the
//!   delay. Every other 4xx and 5xx is not.
//! * gRPC `CANCELLED`, `DEADLINE_EXCEEDED`, `ABORTED`, `OUT_OF_RANGE`, `UNAVAILABLE` and
//!   `DATA_LOSS` are retryable; `RESOURCE_EXHAUSTED` only when the status carries a
//!   `google.rpc.RetryInfo`, whose `retry_delay` gives the delay. Every other code is not.
//! * A connection that cannot be made, or a request that times out, is retryable.
//! * Success may be partial: the response's `partial_success` counts the spans or log records
//!   the collector rejected; they are not retried (the spec says the client MUST NOT).

use std::borrow::Cow;
use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message;

use super::config::{Compression, Signal, SignalConfig};

/// What the collector accepted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Accepted {
    /// Items the collector rejected (`partial_success.rejected_spans` / `rejected_log_records`).
    pub rejected: u64,
    /// The collector's explanation of a partial success (or a warning), when it gave one.
    pub message: String,
}

/// Why a request was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// Retrying later may work; `retry_after` is the server's requested delay, when it gave one.
    Retryable {
        /// What happened.
        reason: String,
        /// `Retry-After` or gRPC `RetryInfo`.
        retry_after: Option<Duration>,
    },
    /// The collector refused the data; sending it again will not help.
    Permanent {
        /// What happened.
        reason: String,
    },
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendError::Retryable {
                reason,
                retry_after: Some(d),
            } => {
                write!(f, "{reason} (retry after {d:?})")
            }
            SendError::Retryable { reason, .. } | SendError::Permanent { reason } => {
                f.write_str(reason)
            }
        }
    }
}

/// Sends encoded `Export*ServiceRequest` messages of one signal.
pub trait Transport: Send {
    /// Send one encoded request and wait (up to the configured timeout) for the verdict.
    fn send(&mut self, body: &[u8]) -> Result<Accepted, SendError>;
}

/// Build the transport a signal's configuration asks for.
pub(crate) fn build(signal: Signal, cfg: &SignalConfig) -> Result<Box<dyn Transport>, String> {
    match cfg.protocol {
        super::config::Protocol::HttpProtobuf => {
            Ok(Box::new(HttpTransport::new(signal, cfg.clone())))
        }
        #[cfg(feature = "otlp-grpc")]
        super::config::Protocol::Grpc => {
            Ok(Box::new(grpc::GrpcTransport::new(signal, cfg.clone())?))
        }
        #[cfg(not(feature = "otlp-grpc"))]
        super::config::Protocol::Grpc => {
            Err("grpc needs audit-exporters built with the `otlp-grpc` feature".to_owned())
        }
    }
}

/// Decode the `partial_success` of a response body.
fn partial_success(signal: Signal, body: &[u8]) -> Accepted {
    match signal {
        Signal::Traces => ExportTraceServiceResponse::decode(body)
            .ok()
            .and_then(|r| r.partial_success)
            .map(|p| Accepted {
                rejected: u64::try_from(p.rejected_spans).unwrap_or(0),
                message: p.error_message,
            }),
        Signal::Logs => ExportLogsServiceResponse::decode(body)
            .ok()
            .and_then(|r| r.partial_success)
            .map(|p| Accepted {
                rejected: u64::try_from(p.rejected_log_records).unwrap_or(0),
                message: p.error_message,
            }),
    }
    .unwrap_or_default()
}

fn gzip(body: &[u8]) -> Result<Vec<u8>, SendError> {
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 4),
        flate2::Compression::fast(),
    );
    enc.write_all(body)
        .and_then(|()| enc.finish())
        .map_err(|e| SendError::Permanent {
            reason: format!("gzip failed: {e}"),
        })
}

/// OTLP/HTTP with protobuf bodies, over ureq (blocking, one connection kept alive).
pub(crate) struct HttpTransport {
    agent: ureq::Agent,
    signal: Signal,
    cfg: SignalConfig,
}

impl HttpTransport {
    pub(crate) fn new(signal: Signal, cfg: SignalConfig) -> Self {
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(cfg.timeout))
            .http_status_as_error(false)
            .build();
        HttpTransport {
            agent: ureq::Agent::new_with_config(config),
            signal,
            cfg,
        }
    }
}

/// The largest response body read (responses are tiny; this bounds a misbehaving server).
const MAX_RESPONSE_BYTES: u64 = 1 << 20;

impl Transport for HttpTransport {
    fn send(&mut self, body: &[u8]) -> Result<Accepted, SendError> {
        let body: Cow<'_, [u8]> = match self.cfg.compression {
            Compression::None => Cow::Borrowed(body),
            Compression::Gzip => Cow::Owned(gzip(body)?),
        };
        let mut req = self
            .agent
            .post(self.cfg.endpoint.as_str())
            .header("content-type", "application/x-protobuf");
        if self.cfg.compression == Compression::Gzip {
            req = req.header("content-encoding", "gzip");
        }
        for (k, v) in &self.cfg.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let mut resp = match req.send(&body[..]) {
            Ok(r) => r,
            Err(e) => {
                return Err(SendError::Retryable {
                    reason: format!("POST {}: {e}", self.cfg.endpoint.as_str()),
                    retry_after: None,
                });
            }
        };
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        let bytes = resp
            .body_mut()
            .with_config()
            .limit(MAX_RESPONSE_BYTES)
            .read_to_vec()
            .unwrap_or_default();
        match status {
            200..=299 => Ok(partial_success(self.signal, &bytes)),
            429 | 502 | 503 | 504 => Err(SendError::Retryable {
                reason: format!("HTTP {status}{}", rpc_message(&bytes)),
                retry_after,
            }),
            _ => Err(SendError::Permanent {
                reason: format!(
                    "HTTP {status} from {}{}",
                    self.cfg.endpoint.as_str(),
                    rpc_message(&bytes)
                ),
            }),
        }
    }
}

/// `google.rpc.Status`, `google.protobuf.Any`, `google.rpc.RetryInfo` and
/// `google.protobuf.Duration`, the messages OTLP error responses carry
/// (`google/rpc/status.proto`, `google/rpc/error_details.proto`).
pub mod rpc {
    /// `google.rpc.Status`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct RpcStatus {
        /// The gRPC code.
        #[prost(int32, tag = "1")]
        pub code: i32,
        /// Developer-facing message.
        #[prost(string, tag = "2")]
        pub message: String,
        /// Details, such as `RetryInfo`.
        #[prost(message, repeated, tag = "3")]
        pub details: Vec<Any>,
    }

    /// `google.protobuf.Any`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Any {
        /// `type.googleapis.com/<full message name>`.
        #[prost(string, tag = "1")]
        pub type_url: String,
        /// The encoded message.
        #[prost(bytes = "vec", tag = "2")]
        pub value: Vec<u8>,
    }

    /// `google.rpc.RetryInfo`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct RetryInfo {
        /// How long to wait before retrying.
        #[prost(message, optional, tag = "1")]
        pub retry_delay: Option<ProtoDuration>,
    }

    /// `google.protobuf.Duration`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ProtoDuration {
        /// Seconds.
        #[prost(int64, tag = "1")]
        pub seconds: i64,
        /// Nanoseconds.
        #[prost(int32, tag = "2")]
        pub nanos: i32,
    }

    /// The `type_url` of `RetryInfo`.
    pub const RETRY_INFO_TYPE: &str = "type.googleapis.com/google.rpc.RetryInfo";

    /// The retry delay in an encoded `google.rpc.Status`, if it carries a `RetryInfo`.
    pub fn retry_delay(status_bytes: &[u8]) -> Option<std::time::Duration> {
        use prost::Message;
        let st = RpcStatus::decode(status_bytes).ok()?;
        let any = st
            .details
            .iter()
            .find(|a| a.type_url.ends_with("google.rpc.RetryInfo"))?;
        let d = RetryInfo::decode(&any.value[..]).ok()?.retry_delay?;
        let secs = u64::try_from(d.seconds).ok()?;
        let nanos = u32::try_from(d.nanos).ok()?;
        Some(std::time::Duration::new(secs, nanos.min(999_999_999)))
    }
}

fn rpc_message(body: &[u8]) -> String {
    match rpc::RpcStatus::decode(body) {
        Ok(s) if !s.message.is_empty() => format!(": {}", s.message),
        _ => String::new(),
    }
}

/// `Retry-After` (RFC 9110 §10.2.3): delay-seconds or an IMF-fixdate HTTP-date.
pub(crate) fn parse_retry_after(v: &str, now: SystemTime) -> Option<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    // IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`.
    let rest = v.split_once(", ")?.1;
    let parts: Vec<&str> = rest.split(' ').collect();
    let [day, mon, year, hms, "GMT"] = parts.as_slice() else {
        return None;
    };
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| m == mon)?
        + 1;
    let iso = format!("{year}-{month:02}-{day:0>2}T{hms}Z");
    let at = super::mapping::parse_rfc3339_nanos(&iso)?;
    let now = u64::try_from(now.duration_since(UNIX_EPOCH).ok()?.as_nanos()).ok()?;
    Some(Duration::from_nanos(at.saturating_sub(now)))
}

#[cfg(feature = "otlp-grpc")]
mod grpc {
    //! OTLP/gRPC over tonic, on a private current-thread tokio runtime owned by the sender
    //! thread: the exporter trait is synchronous, so each request is `block_on`ed there.

    use std::marker::PhantomData;

    use prost::bytes::{Buf, BufMut};
    use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EncodeBuf, Encoder};
    use tonic::codegen::http::uri::PathAndQuery;
    use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};
    use tonic::transport::{Channel, Endpoint};
    use tonic::{Code, Status};

    use super::{Accepted, SendError, Signal, SignalConfig, partial_success, rpc};
    use crate::otlp::config::Compression;

    /// Passes already-encoded protobuf bytes through, in both directions: the request is
    /// encoded once by the delivery loop (and re-sent as is on retry).
    #[derive(Debug, Clone, Copy, Default)]
    struct RawCodec(PhantomData<()>);

    impl Codec for RawCodec {
        type Encode = Vec<u8>;
        type Decode = Vec<u8>;
        type Encoder = RawCodec;
        type Decoder = RawCodec;
        fn encoder(&mut self) -> Self::Encoder {
            *self
        }
        fn decoder(&mut self) -> Self::Decoder {
            *self
        }
    }

    impl Encoder for RawCodec {
        type Item = Vec<u8>;
        type Error = Status;
        fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
            dst.put_slice(&item);
            Ok(())
        }
    }

    impl Decoder for RawCodec {
        type Item = Vec<u8>;
        type Error = Status;
        fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
            let mut v = vec![0; src.remaining()];
            src.copy_to_slice(&mut v);
            Ok(Some(v))
        }
    }

    pub(crate) struct GrpcTransport {
        rt: tokio::runtime::Runtime,
        grpc: tonic::client::Grpc<Channel>,
        path: PathAndQuery,
        metadata: MetadataMap,
        signal: Signal,
        cfg: SignalConfig,
    }

    impl GrpcTransport {
        pub(crate) fn new(signal: Signal, cfg: SignalConfig) -> Result<Self, String> {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .thread_name("audit-otlp-grpc")
                .build()
                .map_err(|e| format!("cannot start the gRPC runtime: {e}"))?;
            let endpoint = Endpoint::from_shared(cfg.endpoint.as_str().to_owned())
                .map_err(|e| format!("gRPC endpoint `{}`: {e}", cfg.endpoint.as_str()))?
                .timeout(cfg.timeout)
                .connect_timeout(cfg.timeout);
            #[cfg(feature = "otlp-tls")]
            let endpoint = if cfg.endpoint.is_https() {
                endpoint
                    .tls_config(tonic::transport::ClientTlsConfig::new().with_webpki_roots())
                    .map_err(|e| format!("gRPC TLS: {e}"))?
            } else {
                endpoint
            };
            let channel = {
                let _enter = rt.enter();
                endpoint.connect_lazy()
            };
            let mut grpc = tonic::client::Grpc::new(channel);
            if cfg.compression == Compression::Gzip {
                grpc = grpc.send_compressed(CompressionEncoding::Gzip);
            }
            grpc = grpc.accept_compressed(CompressionEncoding::Gzip);
            let mut metadata = MetadataMap::new();
            for (k, v) in &cfg.headers {
                // Names and values were checked when the configuration was resolved.
                let key = MetadataKey::from_bytes(k.as_bytes())
                    .map_err(|e| format!("header `{k}`: {e}"))?;
                let value = MetadataValue::try_from(v.as_str())
                    .map_err(|e| format!("header `{k}`: {e}"))?;
                metadata.insert(key, value);
            }
            let path = PathAndQuery::from_static(match signal {
                Signal::Traces => "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
                Signal::Logs => "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
            });
            Ok(GrpcTransport {
                rt,
                grpc,
                path,
                metadata,
                signal,
                cfg,
            })
        }
    }

    impl super::Transport for GrpcTransport {
        fn send(&mut self, body: &[u8]) -> Result<Accepted, SendError> {
            let mut req = tonic::Request::new(body.to_vec());
            *req.metadata_mut() = self.metadata.clone();
            req.set_timeout(self.cfg.timeout);
            let grpc = &mut self.grpc;
            let path = self.path.clone();
            let timeout = self.cfg.timeout;
            let result = self.rt.block_on(async move {
                let call = async {
                    grpc.ready()
                        .await
                        .map_err(|e| Status::unavailable(format!("connection not ready: {e}")))?;
                    grpc.unary(req, path, RawCodec::default()).await
                };
                match tokio::time::timeout(timeout, call).await {
                    Ok(r) => r,
                    Err(_) => Err(Status::deadline_exceeded("export request timed out")),
                }
            });
            match result {
                Ok(resp) => Ok(partial_success(self.signal, resp.get_ref())),
                Err(status) => Err(classify(&status, self.cfg.endpoint.as_str())),
            }
        }
    }

    fn classify(status: &Status, endpoint: &str) -> SendError {
        let retry_after = rpc::retry_delay(status.details());
        let reason = format!(
            "gRPC {:?} from {endpoint}: {}",
            status.code(),
            status.message()
        );
        // A status with a source was made on this side from a failed connection (tonic reports
        // a connection the collector dropped mid-request as `Unknown: transport error`): the
        // collector never decided on the request, so it is not a refusal.
        if std::error::Error::source(status).is_some() {
            return SendError::Retryable {
                reason,
                retry_after,
            };
        }
        match status.code() {
            Code::Cancelled
            | Code::DeadlineExceeded
            | Code::Aborted
            | Code::OutOfRange
            | Code::Unavailable
            | Code::DataLoss => SendError::Retryable {
                reason,
                retry_after,
            },
            Code::ResourceExhausted if retry_after.is_some() => SendError::Retryable {
                reason,
                retry_after,
            },
            _ => SendError::Permanent { reason },
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn a_dropped_connection_is_retryable_a_server_refusal_is_not() {
            let dropped = Status::from_error(Box::new(std::io::Error::from(
                std::io::ErrorKind::ConnectionReset,
            )));
            assert_eq!(dropped.code(), Code::Unknown);
            assert!(matches!(
                classify(&dropped, "x"),
                SendError::Retryable { .. }
            ));
            let refused = Status::new(Code::Unknown, "the server says no");
            assert!(matches!(
                classify(&refused, "x"),
                SendError::Permanent { .. }
            ));
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_seconds_and_http_date() {
        let now = UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:30 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn retry_info_roundtrip() {
        let info = rpc::RetryInfo {
            retry_delay: Some(rpc::ProtoDuration {
                seconds: 2,
                nanos: 500_000_000,
            }),
        };
        let st = rpc::RpcStatus {
            code: 8,
            message: "slow down".into(),
            details: vec![rpc::Any {
                type_url: rpc::RETRY_INFO_TYPE.into(),
                value: info.encode_to_vec(),
            }],
        };
        assert_eq!(
            rpc::retry_delay(&st.encode_to_vec()),
            Some(Duration::from_millis(2500))
        );
        assert_eq!(rpc::retry_delay(b"\xff\xff"), None);
    }
}
