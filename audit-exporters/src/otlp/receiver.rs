//! A loopback OTLP receiver for tests: OTLP/gRPC (tonic, the generated `TraceService` and
//! `LogsService` servers) and OTLP/HTTP (a small HTTP/1.1 server on a std `TcpListener`), both
//! decoding the real protobuf, with scripted failures.
//!
//! It exists so that the exporter (and a team's own OTLP setup) can be tested against real
//! sockets without a collector binary: answer 429 with `Retry-After`, 503, gRPC `UNAVAILABLE`
//! with `RetryInfo`, a partial success, a permanent 400, or a slow reply, then recover.
//!
//! ```no_run
//! use audit_exporters::otlp::receiver::{Receiver, Reply};
//! let rx = Receiver::start()?;
//! rx.script([Reply::Http { status: 503, retry_after: Some("1".into()) }]);
//! // point an exporter at rx.http_endpoint() or rx.grpc_endpoint() ...
//! assert!(rx.wait_for_spans(10, std::time::Duration::from_secs(5)));
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! Only for loopback tests: it binds `127.0.0.1`. Still, what it does with any bytes a client
//! sends is bounded: a request that is not well-formed HTTP/1.1 ends its connection, lines,
//! headers and bodies (compressed and decompressed) are capped ([`MAX_LINE`], [`MAX_HEADERS`],
//! [`MAX_BODY`]), and a body that is not the OTLP protobuf is answered 400. Nothing on that path
//! panics (`tests/fuzz_otlp_receiver.rs`). A connection that sends nothing keeps its thread
//! waiting, as in any blocking server.

use std::collections::VecDeque;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use tonic::codec::CompressionEncoding;

use super::config::Signal;
use super::transport::rpc;

/// The largest request body the HTTP side reads.
pub const MAX_BODY: usize = 64 << 20;

/// How the receiver answers one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// Accept everything.
    Ok,
    /// Accept, reporting `rejected` items as rejected (OTLP partial success).
    Partial {
        /// Rejected count.
        rejected: i64,
        /// Explanation.
        message: String,
    },
    /// OTLP/HTTP: answer with this status (and `Retry-After`). Over gRPC it maps to the
    /// status code the OTLP spec pairs with it (429 → `RESOURCE_EXHAUSTED` with `RetryInfo`,
    /// 503 → `UNAVAILABLE`, 400 → `INVALID_ARGUMENT`).
    Http {
        /// Status code.
        status: u16,
        /// `Retry-After` value.
        retry_after: Option<String>,
    },
    /// OTLP/gRPC: answer with this code and, when given, a `RetryInfo` delay. Over HTTP it maps
    /// to 503 (retryable codes) or 400.
    Grpc {
        /// The code.
        code: tonic::Code,
        /// `RetryInfo.retry_delay`.
        retry_delay: Option<Duration>,
    },
    /// Wait this long, then accept (to exercise client timeouts).
    Delay(Duration),
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct ReceivedRequest {
    /// `http` or `grpc`.
    pub transport: &'static str,
    /// Which service or path.
    pub signal: Signal,
    /// Request headers / metadata (lower-case names).
    pub headers: Vec<(String, String)>,
    /// Whether the body was gzip-compressed.
    pub gzip: bool,
    /// The decoded trace request.
    pub traces: Option<ExportTraceServiceRequest>,
    /// The decoded logs request.
    pub logs: Option<ExportLogsServiceRequest>,
    /// How it was answered.
    pub reply: Reply,
    /// When it arrived.
    pub at: Instant,
}

impl ReceivedRequest {
    /// Whether the reply accepted the data.
    pub fn accepted(&self) -> bool {
        matches!(
            self.reply,
            Reply::Ok | Reply::Partial { .. } | Reply::Delay(_)
        )
    }
}

#[derive(Debug, Default)]
struct Inner {
    script: Mutex<VecDeque<Reply>>,
    requests: Mutex<Vec<ReceivedRequest>>,
    arrived: Condvar,
    /// Count only (for benchmarks): accepted items are counted, requests are not kept.
    count_only: std::sync::atomic::AtomicBool,
    counted_spans: std::sync::atomic::AtomicU64,
    counted_logs: std::sync::atomic::AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Inner {
    fn next_reply(&self) -> Reply {
        lock(&self.script).pop_front().unwrap_or(Reply::Ok)
    }

    fn record(&self, r: ReceivedRequest) {
        use std::sync::atomic::Ordering::Relaxed;
        if r.accepted() {
            let spans: usize = r
                .traces
                .iter()
                .flat_map(|t| &t.resource_spans)
                .flat_map(|rs| &rs.scope_spans)
                .map(|ss| ss.spans.len())
                .sum();
            let logs: usize = r
                .logs
                .iter()
                .flat_map(|l| &l.resource_logs)
                .flat_map(|rl| &rl.scope_logs)
                .map(|sl| sl.log_records.len())
                .sum();
            self.counted_spans.fetch_add(spans as u64, Relaxed);
            self.counted_logs.fetch_add(logs as u64, Relaxed);
        }
        if !self.count_only.load(Relaxed) {
            lock(&self.requests).push(r);
        }
        self.arrived.notify_all();
    }
}

/// A running receiver. Dropping it stops both servers.
#[derive(Debug)]
pub struct Receiver {
    inner: Arc<Inner>,
    http_addr: SocketAddr,
    grpc_addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    grpc_thread: Option<JoinHandle<()>>,
    http_stop: Arc<std::sync::atomic::AtomicBool>,
    http_thread: Option<JoinHandle<()>>,
}

impl Receiver {
    /// Start on two free loopback ports.
    pub fn start() -> io::Result<Self> {
        Self::bind(
            "127.0.0.1:0".parse().map_err(io::Error::other)?,
            "127.0.0.1:0".parse().map_err(io::Error::other)?,
        )
    }

    /// Start on the given addresses (to bring a receiver up where an exporter already points).
    pub fn bind(http: SocketAddr, grpc: SocketAddr) -> io::Result<Self> {
        let inner = Arc::new(Inner::default());
        let http_listener = TcpListener::bind(http)?;
        let http_addr = http_listener.local_addr()?;
        let grpc_listener = TcpListener::bind(grpc)?;
        let grpc_addr = grpc_listener.local_addr()?;
        grpc_listener.set_nonblocking(true)?;

        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let g_inner = Arc::clone(&inner);
        let grpc_thread = std::thread::Builder::new()
            .name("otlp-rx-grpc".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        eprintln!("otlp receiver: no runtime: {e}");
                        return;
                    }
                };
                rt.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(grpc_listener) {
                        Ok(l) => l,
                        Err(e) => {
                            eprintln!("otlp receiver: {e}");
                            return;
                        }
                    };
                    let incoming = tonic::transport::server::TcpIncoming::from(listener);
                    let svc = Svc(g_inner);
                    let server = tonic::transport::Server::builder()
                        .add_service(
                            TraceServiceServer::new(svc.clone())
                                .accept_compressed(CompressionEncoding::Gzip)
                                .max_decoding_message_size(MAX_BODY),
                        )
                        .add_service(
                            LogsServiceServer::new(svc)
                                .accept_compressed(CompressionEncoding::Gzip)
                                .max_decoding_message_size(MAX_BODY),
                        )
                        .serve_with_incoming(incoming);
                    let server = tokio::spawn(async move {
                        if let Err(e) = server.await {
                            eprintln!("otlp receiver: gRPC server: {e}");
                        }
                    });
                    let _ = rx.await;
                    server.abort();
                });
                // Not a graceful shutdown, which would wait for clients to close their
                // connections: dropping the runtime cancels every connection's task, so the
                // receiver is down at once, as a collector that went away would be.
                drop(rt);
            })?;

        let http_stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let h_inner = Arc::clone(&inner);
        let h_stop = Arc::clone(&http_stop);
        let http_thread = std::thread::Builder::new()
            .name("otlp-rx-http".into())
            .spawn(move || {
                for conn in http_listener.incoming() {
                    if h_stop.load(std::sync::atomic::Ordering::SeqCst) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    let inner = Arc::clone(&h_inner);
                    let stop = Arc::clone(&h_stop);
                    let _ = std::thread::Builder::new()
                        .name("otlp-rx-http-conn".into())
                        .spawn(move || serve_http(conn, &inner, &stop));
                }
            })?;

        Ok(Receiver {
            inner,
            http_addr,
            grpc_addr,
            shutdown: Some(tx),
            grpc_thread: Some(grpc_thread),
            http_stop,
            http_thread: Some(http_thread),
        })
    }

    /// `http://127.0.0.1:<port>`: the OTLP/HTTP base endpoint.
    pub fn http_endpoint(&self) -> String {
        format!("http://{}", self.http_addr)
    }

    /// `http://127.0.0.1:<port>`: the OTLP/gRPC endpoint.
    pub fn grpc_endpoint(&self) -> String {
        format!("http://{}", self.grpc_addr)
    }

    /// The HTTP address.
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// The gRPC address.
    pub fn grpc_addr(&self) -> SocketAddr {
        self.grpc_addr
    }

    /// Queue replies for the next requests (after them: [`Reply::Ok`]).
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        lock(&self.inner.script).extend(replies);
    }

    /// Stop keeping requests; only count accepted spans and log records (for benchmarks, where
    /// keeping every request would grow memory without bound).
    pub fn count_only(&self) {
        self.inner
            .count_only
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Spans and log records accepted so far (counted whether or not requests are kept).
    pub fn accepted_counts(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (
            self.inner.counted_spans.load(Relaxed),
            self.inner.counted_logs.load(Relaxed),
        )
    }

    /// Every request received so far, accepted or not.
    pub fn requests(&self) -> Vec<ReceivedRequest> {
        lock(&self.inner.requests).clone()
    }

    /// Spans of accepted requests, in arrival order.
    pub fn spans(&self) -> Vec<Span> {
        self.accepted_traces()
            .into_iter()
            .flat_map(|t| t.resource_spans)
            .flat_map(|rs| rs.scope_spans)
            .flat_map(|ss| ss.spans)
            .collect()
    }

    /// Log records of accepted requests, in arrival order.
    pub fn logs(&self) -> Vec<LogRecord> {
        self.accepted_logs()
            .into_iter()
            .flat_map(|t| t.resource_logs)
            .flat_map(|rl| rl.scope_logs)
            .flat_map(|sl| sl.log_records)
            .collect()
    }

    /// Trace requests that were accepted.
    pub fn accepted_traces(&self) -> Vec<ExportTraceServiceRequest> {
        lock(&self.inner.requests)
            .iter()
            .filter(|r| r.accepted())
            .filter_map(|r| r.traces.clone())
            .collect()
    }

    /// Logs requests that were accepted.
    pub fn accepted_logs(&self) -> Vec<ExportLogsServiceRequest> {
        lock(&self.inner.requests)
            .iter()
            .filter(|r| r.accepted())
            .filter_map(|r| r.logs.clone())
            .collect()
    }

    /// Wait until at least `n` spans were accepted; false on timeout.
    pub fn wait_for_spans(&self, n: usize, timeout: Duration) -> bool {
        self.wait(timeout, |rx| rx.spans().len() >= n)
    }

    /// Wait until at least `n` log records were accepted; false on timeout.
    pub fn wait_for_logs(&self, n: usize, timeout: Duration) -> bool {
        self.wait(timeout, |rx| rx.logs().len() >= n)
    }

    fn wait(&self, timeout: Duration, done: impl Fn(&Self) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if done(self) {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            let g = lock(&self.inner.requests);
            let _ = self
                .inner
                .arrived
                .wait_timeout(g, (deadline - now).min(Duration::from_millis(50)))
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Receiver {
    /// Stop both servers now: the collector goes down (new connections are refused, kept-alive
    /// ones are closed instead of answered). What it received stays readable, so a test can
    /// bring a new receiver up on the same addresses and look at both.
    pub fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.grpc_thread.take() {
            let _ = h.join();
        }
        self.http_stop
            .store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(h) = self.http_thread.take() {
            // Wake the accept loop (only once: a later receiver may own the address by now).
            let _ = TcpStream::connect(self.http_addr);
            let _ = h.join();
        }
    }
}

#[derive(Debug, Clone)]
struct Svc(Arc<Inner>);

fn retry_info_details(delay: Duration) -> Vec<u8> {
    let info = rpc::RetryInfo {
        retry_delay: Some(rpc::ProtoDuration {
            seconds: i64::try_from(delay.as_secs()).unwrap_or(i64::MAX),
            nanos: i32::try_from(delay.subsec_nanos()).unwrap_or(0),
        }),
    };
    rpc::RpcStatus {
        code: tonic::Code::ResourceExhausted as i32,
        message: "retry later".into(),
        details: vec![rpc::Any {
            type_url: rpc::RETRY_INFO_TYPE.into(),
            value: info.encode_to_vec(),
        }],
    }
    .encode_to_vec()
}

/// The gRPC status for a scripted reply, or `None` to accept.
fn grpc_status(reply: &Reply) -> Option<tonic::Status> {
    match reply {
        Reply::Ok | Reply::Partial { .. } | Reply::Delay(_) => None,
        Reply::Grpc { code, retry_delay } => Some(match retry_delay {
            Some(d) => tonic::Status::with_details(
                *code,
                "scripted failure",
                retry_info_details(*d).into(),
            ),
            None => tonic::Status::new(*code, "scripted failure"),
        }),
        Reply::Http {
            status,
            retry_after,
        } => {
            let delay = retry_after
                .as_deref()
                .and_then(|s| s.parse::<u64>().ok())
                .map(Duration::from_secs);
            Some(match (status, delay) {
                (429, Some(d)) => tonic::Status::with_details(
                    tonic::Code::ResourceExhausted,
                    "scripted 429",
                    retry_info_details(d).into(),
                ),
                (429 | 502 | 503 | 504, _) => tonic::Status::unavailable("scripted failure"),
                _ => tonic::Status::invalid_argument("scripted failure"),
            })
        }
    }
}

fn metadata_headers(m: &tonic::metadata::MetadataMap) -> Vec<(String, String)> {
    m.iter()
        .filter_map(|kv| match kv {
            tonic::metadata::KeyAndValueRef::Ascii(k, v) => {
                Some((k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
            }
            tonic::metadata::KeyAndValueRef::Binary(..) => None,
        })
        .collect()
}

impl Svc {
    /// What both gRPC services do: take the scripted reply (waiting out a delay), record the
    /// request, and turn the reply into a status error or the `(rejected, message)` of a
    /// partial success.
    async fn receive(
        &self,
        metadata: &tonic::metadata::MetadataMap,
        signal: Signal,
        traces: Option<ExportTraceServiceRequest>,
        logs: Option<ExportLogsServiceRequest>,
    ) -> Result<Option<(i64, String)>, tonic::Status> {
        let at = Instant::now();
        let reply = self.0.next_reply();
        if let Reply::Delay(d) = &reply {
            tokio::time::sleep(*d).await;
        }
        let headers = metadata_headers(metadata);
        let gzip = headers
            .iter()
            .any(|(k, v)| k == "grpc-encoding" && v == "gzip");
        self.0.record(ReceivedRequest {
            transport: "grpc",
            signal,
            headers,
            gzip,
            traces,
            logs,
            reply: reply.clone(),
            at,
        });
        if let Some(st) = grpc_status(&reply) {
            return Err(st);
        }
        Ok(match reply {
            Reply::Partial { rejected, message } => Some((rejected, message)),
            _ => None,
        })
    }
}

#[tonic::async_trait]
impl TraceService for Svc {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let metadata = request.metadata().clone();
        let partial = self
            .receive(&metadata, Signal::Traces, Some(request.into_inner()), None)
            .await?;
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: partial.map(|(rejected, message)| ExportTracePartialSuccess {
                rejected_spans: rejected,
                error_message: message,
            }),
        }))
    }
}

#[tonic::async_trait]
impl LogsService for Svc {
    async fn export(
        &self,
        request: tonic::Request<ExportLogsServiceRequest>,
    ) -> Result<tonic::Response<ExportLogsServiceResponse>, tonic::Status> {
        let metadata = request.metadata().clone();
        let partial = self
            .receive(&metadata, Signal::Logs, None, Some(request.into_inner()))
            .await?;
        Ok(tonic::Response::new(ExportLogsServiceResponse {
            partial_success: partial.map(|(rejected, message)| ExportLogsPartialSuccess {
                rejected_log_records: rejected,
                error_message: message,
            }),
        }))
    }
}

/// Serve one HTTP/1.1 connection (keep-alive) until the client closes it.
fn serve_http(conn: TcpStream, inner: &Inner, stop: &std::sync::atomic::AtomicBool) {
    let Ok(write_half) = conn.try_clone() else {
        return;
    };
    let mut out = write_half;
    let mut r = BufReader::new(conn);
    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
        match read_request(&mut r) {
            // A stopped receiver is down: it closes a kept-alive connection instead of
            // answering on it, as a collector that went away would.
            Ok(Some(_)) if stop.load(std::sync::atomic::Ordering::SeqCst) => return,
            Ok(Some(req)) => {
                let (status, extra, body) = answer(inner, req);
                let reason = match status {
                    200 => "OK",
                    400 => "Bad Request",
                    404 => "Not Found",
                    429 => "Too Many Requests",
                    503 => "Service Unavailable",
                    _ => "Status",
                };
                let mut head = format!(
                    "HTTP/1.1 {status} {reason}\r\ncontent-type: application/x-protobuf\r\n\
                     content-length: {}\r\n",
                    body.len()
                );
                for (k, v) in extra {
                    head.push_str(&format!("{k}: {v}\r\n"));
                }
                head.push_str("\r\n");
                if out
                    .write_all(head.as_bytes())
                    .and_then(|()| out.write_all(&body))
                    .is_err()
                {
                    return;
                }
            }
            Ok(None) | Err(_) => return,
        }
    }
}

struct HttpRequest {
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// The longest request, header or chunk-size line read (a longer one ends the connection).
pub const MAX_LINE: u64 = 16 << 10;
/// The most header lines read per request.
pub const MAX_HEADERS: usize = 256;

/// One line of at most [`MAX_LINE`] bytes; `None` at end of stream. Not UTF-8 is an error.
fn read_line(r: &mut impl BufRead) -> io::Result<Option<String>> {
    let mut buf = Vec::new();
    let n = r.by_ref().take(MAX_LINE).read_until(b'\n', &mut buf)?;
    if n == 0 {
        return Ok(None);
    }
    if buf.last() != Some(&b'\n') && n as u64 == MAX_LINE {
        return Err(io::Error::other("line too long"));
    }
    String::from_utf8(buf)
        .map(Some)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "line is not UTF-8"))
}

/// Read one HTTP/1.1 request. Whatever the bytes, it returns: every line is capped at
/// [`MAX_LINE`], headers at [`MAX_HEADERS`], the body (sum of chunks included) at
/// [`MAX_BODY`], and it reads nothing beyond what the request announces.
fn read_request(r: &mut impl BufRead) -> io::Result<Option<HttpRequest>> {
    let Some(line) = read_line(r)? else {
        return Ok(None);
    };
    let mut parts = line.split_whitespace();
    let _method = parts.next();
    let path = parts.next().unwrap_or("/").to_owned();
    let mut headers = Vec::new();
    loop {
        let Some(h) = read_line(r)? else {
            return Ok(None);
        };
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if headers.len() == MAX_HEADERS {
            return Err(io::Error::other("too many headers"));
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let mut body = Vec::new();
    if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        loop {
            let size = read_line(r)?.unwrap_or_default();
            let n = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16)
                .map_err(io::Error::other)?;
            if n == 0 {
                let _ = read_line(r)?;
                break;
            }
            // `n` is whatever the client wrote (up to usize::MAX): compare without adding.
            if n > MAX_BODY - body.len() {
                return Err(io::Error::other("body too large"));
            }
            let start = body.len();
            body.resize(start + n, 0);
            r.read_exact(&mut body[start..])?;
            let mut crlf = [0u8; 2];
            r.read_exact(&mut crlf)?;
        }
    } else {
        let n: usize = header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        if n > MAX_BODY {
            return Err(io::Error::other("body too large"));
        }
        body.resize(n, 0);
        r.read_exact(&mut body)?;
    }
    Ok(Some(HttpRequest {
        path,
        headers,
        body,
    }))
}

/// Decode, record and answer one OTLP/HTTP request: (status, extra headers, body).
fn answer(inner: &Inner, req: HttpRequest) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let signal = match req.path.as_str() {
        "/v1/traces" => Signal::Traces,
        "/v1/logs" => Signal::Logs,
        _ => return (404, Vec::new(), Vec::new()),
    };
    let gzip = req
        .headers
        .iter()
        .any(|(k, v)| k == "content-encoding" && v == "gzip");
    let body = if gzip {
        // A gzip bomb expands a few KiB into gigabytes: decompress at most MAX_BODY bytes.
        let mut out = Vec::new();
        if flate2::read::GzDecoder::new(&req.body[..])
            .take(MAX_BODY as u64 + 1)
            .read_to_end(&mut out)
            .is_err()
            || out.len() > MAX_BODY
        {
            return (400, Vec::new(), Vec::new());
        }
        out
    } else {
        req.body
    };
    let (traces, logs) = match signal {
        Signal::Traces => match ExportTraceServiceRequest::decode(&body[..]) {
            Ok(t) => (Some(t), None),
            Err(_) => return (400, Vec::new(), Vec::new()),
        },
        Signal::Logs => match ExportLogsServiceRequest::decode(&body[..]) {
            Ok(l) => (None, Some(l)),
            Err(_) => return (400, Vec::new(), Vec::new()),
        },
    };
    let at = Instant::now();
    let reply = inner.next_reply();
    if let Reply::Delay(d) = &reply {
        std::thread::sleep(*d);
    }
    inner.record(ReceivedRequest {
        transport: "http",
        signal,
        headers: req.headers,
        gzip,
        traces,
        logs,
        reply: reply.clone(),
        at,
    });
    let error_body = |code: tonic::Code| {
        rpc::RpcStatus {
            code: code as i32,
            message: "scripted failure".into(),
            details: Vec::new(),
        }
        .encode_to_vec()
    };
    match reply {
        Reply::Ok | Reply::Delay(_) => (200, Vec::new(), ok_body(signal, 0, String::new())),
        Reply::Partial { rejected, message } => {
            (200, Vec::new(), ok_body(signal, rejected, message))
        }
        Reply::Http {
            status,
            retry_after,
        } => {
            let extra = retry_after
                .map(|v| vec![("retry-after".to_owned(), v)])
                .unwrap_or_default();
            (status, extra, error_body(tonic::Code::Unavailable))
        }
        Reply::Grpc { code, retry_delay } => {
            let retryable = matches!(
                code,
                tonic::Code::Unavailable | tonic::Code::ResourceExhausted | tonic::Code::Aborted
            );
            let extra = retry_delay
                .map(|d| {
                    vec![(
                        "retry-after".to_owned(),
                        d.as_millis().div_ceil(1000).to_string(),
                    )]
                })
                .unwrap_or_default();
            (if retryable { 503 } else { 400 }, extra, error_body(code))
        }
    }
}

fn ok_body(signal: Signal, rejected: i64, message: String) -> Vec<u8> {
    let partial = rejected != 0 || !message.is_empty();
    match signal {
        Signal::Traces => ExportTraceServiceResponse {
            partial_success: partial.then_some(ExportTracePartialSuccess {
                rejected_spans: rejected,
                error_message: message,
            }),
        }
        .encode_to_vec(),
        Signal::Logs => ExportLogsServiceResponse {
            partial_success: partial.then_some(ExportLogsPartialSuccess {
                rejected_log_records: rejected,
                error_message: message,
            }),
        }
        .encode_to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(bytes: &[u8]) -> io::Result<Option<HttpRequest>> {
        read_request(&mut io::Cursor::new(bytes.to_vec()))
    }

    /// Regression: a chunk size near `usize::MAX` overflowed
    /// `body.len() + n` (a panic in debug builds, a wrapped size check in release).
    #[test]
    fn huge_chunk_size_is_refused() {
        let req = b"POST /v1/traces HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n1\r\nx\r\nffffffffffffffff\r\n";
        assert!(read(req).is_err());
    }

    #[test]
    fn long_lines_and_many_headers_are_refused() {
        let mut req = b"POST /v1/traces HTTP/1.1\r\nx: ".to_vec();
        req.extend(std::iter::repeat_n(b'a', MAX_LINE as usize));
        assert!(read(&req).is_err());
        let mut req = b"POST /v1/traces HTTP/1.1\r\n".to_vec();
        req.extend(b"a: b\r\n".repeat(MAX_HEADERS + 1));
        assert!(read(&req).is_err());
        assert!(read(b"POST /\xff HTTP/1.1\r\n\r\n").is_err());
        assert!(read(b"").unwrap().is_none());
        let ok = read(b"POST /v1/logs HTTP/1.1\r\ncontent-length: 2\r\n\r\nab")
            .unwrap()
            .unwrap();
        assert_eq!(
            (ok.path.as_str(), ok.body.as_slice()),
            ("/v1/logs", &b"ab"[..])
        );
    }
}
