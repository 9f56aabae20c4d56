//! The log side of C2SP [`tlog-witness`]: send a new signed checkpoint and a consistency
//! proof to a witness, get its cosignature, and check it under the pinned witness key.
//!
//! One connection per request (`Connection: close`); the spec's SHOULD on keep-alive saves a
//! TCP handshake per checkpoint, which on loopback costs tens of microseconds.
//!
//! [`tlog-witness`]: https://c2sp.org/tlog-witness

use std::fmt;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use audit_runtime::merkle::TreeHash;
use audit_runtime::merkle::tlog::{AddCheckpointRequest, TlogError, split_note};

use super::cosignature::{CosignatureError, WitnessKey};
use super::http::{self, ResponseError};
use super::server::{ADD_CHECKPOINT_PATH, TLOG_SIZE_CONTENT_TYPE};

/// Why a witness did not cosign, or its answer was not a valid cosignature.
#[derive(Debug)]
pub enum WitnessError {
    /// The witness URL is not `http://host[:port][/prefix]`.
    Url(String),
    /// The request could not be built (the note is not a signed checkpoint, or the proof has
    /// more than 63 hashes).
    Request(TlogError),
    /// No connection could be made to the witness.
    Connect {
        /// The witness URL.
        url: String,
        /// The last connection error.
        source: std::io::Error,
    },
    /// Sending the request or reading the response failed or timed out.
    Io {
        /// The witness URL.
        url: String,
        /// The error.
        source: std::io::Error,
    },
    /// The response is not HTTP/1.1 or not what the protocol sends.
    BadResponse(String),
    /// 409 with `text/x.tlog.size`: the witness's latest cosigned checkpoint has another size
    /// than the `old` sent. Send a proof from `witness_size` instead (if it is not above the
    /// log's size; if it is, the log was truncated or forked).
    Conflict {
        /// The size of the latest checkpoint the witness cosigned for this log.
        witness_size: u64,
    },
    /// 409 at equal sizes: the witness cosigned another root at this size (a fork).
    Fork(String),
    /// 404: the witness does not know the checkpoint's origin (or the URL prefix is wrong).
    UnknownLog(String),
    /// 403: no signature on the checkpoint verifies under a key the witness trusts for it.
    Untrusted(String),
    /// 422: the witness refused the consistency proof.
    ProofRejected(String),
    /// 400: the witness found the request malformed.
    BadRequest(String),
    /// Another status (413, 5xx, ...).
    Status {
        /// The HTTP status.
        status: u16,
        /// The response body, as text.
        message: String,
    },
    /// 200, but no line of the body is a valid cosignature of the pinned witness over the
    /// checkpoint sent: another key, a bad signature, or a cosignature over another checkpoint.
    BadCosignature(CosignatureError),
}

impl fmt::Display for WitnessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WitnessError::Url(why) => write!(f, "witness URL: {why}"),
            WitnessError::Request(e) => write!(f, "cannot build the add-checkpoint request: {e}"),
            WitnessError::Connect { url, source } => {
                write!(f, "cannot connect to the witness at {url}: {source}")
            }
            WitnessError::Io { url, source } => {
                write!(f, "exchange with the witness at {url} failed: {source}")
            }
            WitnessError::BadResponse(why) => write!(f, "bad response from the witness: {why}"),
            WitnessError::Conflict { witness_size } => write!(
                f,
                "the witness's latest cosigned checkpoint has size {witness_size}, not the old \
                 size sent (409 Conflict)"
            ),
            WitnessError::Fork(m) => write!(f, "the witness refused a fork (409 Conflict): {m}"),
            WitnessError::UnknownLog(m) => {
                write!(f, "the witness does not know this log (404): {m}")
            }
            WitnessError::Untrusted(m) => write!(
                f,
                "the witness trusts no signature on the checkpoint (403): {m}"
            ),
            WitnessError::ProofRejected(m) => {
                write!(f, "the witness refused the consistency proof (422): {m}")
            }
            WitnessError::BadRequest(m) => {
                write!(f, "the witness found the request malformed (400): {m}")
            }
            WitnessError::Status { status, message } => {
                write!(f, "the witness answered {status}: {message}")
            }
            WitnessError::BadCosignature(e) => write!(f, "the witness's answer: {e}"),
        }
    }
}

impl std::error::Error for WitnessError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            WitnessError::Request(e) => Some(e),
            WitnessError::Connect { source, .. } | WitnessError::Io { source, .. } => Some(source),
            WitnessError::BadCosignature(e) => Some(e),
            _ => None,
        }
    }
}

/// A verified cosignature from a witness.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cosignature {
    line: String,
    timestamp: u64,
}

impl Cosignature {
    /// The signature line, `— <witness name> <base64>\n`.
    pub fn line(&self) -> &str {
        &self.line
    }

    /// When the witness cosigned (POSIX seconds).
    pub fn timestamp(&self) -> u64 {
        self.timestamp
    }

    /// The signed note with this cosignature appended as one more signature line.
    pub fn append_to(&self, signed_note: &str) -> String {
        let mut s = String::with_capacity(signed_note.len() + self.line.len());
        s.push_str(signed_note);
        s.push_str(&self.line);
        s
    }
}

/// A client of one witness, pinned to its key.
#[derive(Clone, Debug)]
pub struct WitnessClient {
    url: String,
    host: String,
    prefix: String,
    addrs: Vec<SocketAddr>,
    key: WitnessKey,
    timeout: Duration,
}

impl WitnessClient {
    /// A client of the witness at `url` (`http://host[:port][/prefix]`; the host is resolved
    /// now) whose cosignatures must verify under `key`. `https://` is not supported: put the
    /// witness on loopback or behind a local TLS proxy.
    pub fn new(url: &str, key: WitnessKey) -> Result<Self, WitnessError> {
        let rest = url.strip_prefix("http://").ok_or_else(|| {
            WitnessError::Url(if url.starts_with("https://") {
                format!("{url}: https is not supported (only http://, for loopback witnesses)")
            } else {
                format!("{url}: expected http://host[:port][/prefix]")
            })
        })?;
        let (host, prefix) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        if host.is_empty()
            || prefix
                .bytes()
                .any(|b| b <= b' ' || b == 0x7f || b == b'?' || b == b'#')
        {
            return Err(WitnessError::Url(format!(
                "{url}: expected http://host[:port][/prefix] without query or spaces"
            )));
        }
        let authority = if host
            .rsplit_once(':')
            .is_some_and(|(_, p)| p.bytes().all(|b| b.is_ascii_digit()))
            && !host.ends_with(']')
        {
            host.to_owned()
        } else {
            format!("{host}:80")
        };
        let addrs: Vec<SocketAddr> = authority
            .to_socket_addrs()
            .map_err(|e| WitnessError::Url(format!("{url}: cannot resolve {authority}: {e}")))?
            .collect();
        if addrs.is_empty() {
            return Err(WitnessError::Url(format!(
                "{url}: {authority} resolves to no address"
            )));
        }
        Ok(Self {
            url: url.to_owned(),
            host: host.to_owned(),
            prefix: prefix.to_owned(),
            addrs,
            key,
            timeout: Duration::from_secs(10),
        })
    }

    /// The whole time one add-checkpoint may take, connection included (default 10 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The pinned witness key.
    pub fn witness_key(&self) -> &WitnessKey {
        &self.key
    }

    /// Ask the witness to cosign `signed_note` (a checkpoint signed by the log), proving with
    /// `proof` that it extends the checkpoint of `old_size` the witness cosigned last (0, with
    /// an empty proof, for the first one). Returns the cosignature, verified under the pinned
    /// witness key over this checkpoint's text.
    pub fn add_checkpoint(
        &self,
        old_size: u64,
        proof: &[TreeHash],
        signed_note: &str,
    ) -> Result<Cosignature, WitnessError> {
        let request = AddCheckpointRequest::new(old_size, proof.to_vec(), signed_note)
            .map_err(WitnessError::Request)?;
        let text = split_note(signed_note.as_bytes())
            .map_err(WitnessError::Request)?
            .text;
        let body = request.to_text();
        let mut raw = format!(
            "POST {}{ADD_CHECKPOINT_PATH} HTTP/1.1\r\nHost: {}\r\nContent-Type: text/plain; \
             charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            self.prefix,
            self.host,
            body.len()
        )
        .into_bytes();
        raw.extend_from_slice(body.as_bytes());
        let deadline = Instant::now() + self.timeout;
        let mut last = None;
        let mut stream = None;
        for addr in &self.addrs {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match TcpStream::connect_timeout(addr, left) {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        let Some(mut stream) = stream else {
            return Err(WitnessError::Connect {
                url: self.url.clone(),
                source: last.unwrap_or_else(|| std::io::Error::from(std::io::ErrorKind::TimedOut)),
            });
        };
        let _ = stream.set_nodelay(true);
        let response =
            http::round_trip(&mut stream, &raw, deadline, self.timeout).map_err(|e| match e {
                ResponseError::Io(source) => WitnessError::Io {
                    url: self.url.clone(),
                    source,
                },
                ResponseError::Malformed(why) => WitnessError::BadResponse(why),
            })?;
        let message = || {
            String::from_utf8_lossy(&response.body)
                .trim_end()
                .to_owned()
        };
        match response.status {
            200 => {}
            409 if response
                .content_type
                .as_deref()
                .is_some_and(|t| t.trim().eq_ignore_ascii_case(TLOG_SIZE_CONTENT_TYPE)) =>
            {
                let size = std::str::from_utf8(&response.body)
                    .ok()
                    .and_then(|s| s.strip_suffix('\n'))
                    .filter(|s| {
                        !s.is_empty()
                            && s.bytes().all(|b| b.is_ascii_digit())
                            && (s.len() == 1 || !s.starts_with('0'))
                    })
                    .and_then(|s| s.parse::<u64>().ok())
                    .ok_or_else(|| {
                        WitnessError::BadResponse(format!(
                            "409 {TLOG_SIZE_CONTENT_TYPE} body is not a decimal size and a \
                             newline: {:?}",
                            message()
                        ))
                    })?;
                return Err(WitnessError::Conflict { witness_size: size });
            }
            409 => return Err(WitnessError::Fork(message())),
            404 => return Err(WitnessError::UnknownLog(message())),
            403 => return Err(WitnessError::Untrusted(message())),
            422 => return Err(WitnessError::ProofRejected(message())),
            400 => return Err(WitnessError::BadRequest(message())),
            status => {
                return Err(WitnessError::Status {
                    status,
                    message: message(),
                });
            }
        }
        let body = std::str::from_utf8(&response.body)
            .map_err(|_| WitnessError::BadResponse("the 200 body is not UTF-8".into()))?;
        if body.is_empty() || !body.ends_with('\n') {
            return Err(WitnessError::BadResponse(
                "the 200 body is not signature lines, each ending with a newline".into(),
            ));
        }
        let mut found = Vec::new();
        for line in body.split_terminator('\n') {
            if !line.starts_with("\u{2014} ") {
                return Err(WitnessError::BadResponse(format!(
                    "the 200 body holds a line that is not a signature line: {line:?}"
                )));
            }
            match self.key.verify_line(text, line) {
                Ok(timestamp) => {
                    return Ok(Cosignature {
                        line: format!("{line}\n"),
                        timestamp,
                    });
                }
                // Cosignatures from other keys are ignored (C2SP tlog-witness).
                Err(CosignatureError::NotCosignedByKey { found: f, .. }) => found.extend(f),
                Err(CosignatureError::Malformed(why)) => {
                    return Err(WitnessError::BadResponse(why));
                }
                Err(e) => return Err(WitnessError::BadCosignature(e)),
            }
        }
        Err(WitnessError::BadCosignature(
            CosignatureError::NotCosignedByKey {
                key: self.key.label(),
                found,
            },
        ))
    }
}
