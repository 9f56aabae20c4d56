//! Just enough HTTP/1.1 ([RFC 9112]) for the witness protocol over loopback `http://`: one
//! request and one response at a time, `Content-Length` bodies only, bounded sizes and times.
//!
//! What must hold: no input makes either side panic, allocate more than its limits, or wait
//! longer than its deadline. A request the server cannot read becomes a 4xx response (408, 411,
//! 413, 431 or 400) and the connection is closed.
//!
//! [RFC 9112]: https://www.rfc-editor.org/rfc/rfc9112.html

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// The most bytes of a request or response head (start line and headers). 8 KiB is what
/// common servers accept by default; ours are under 200 bytes.
pub(crate) const MAX_HEAD_BYTES: usize = 8 << 10;

/// The most bytes of an add-checkpoint request body or a response body: an old line (at most
/// 25 bytes), 63 proof lines of 45 bytes (2,835), and a signed checkpoint of a few hundred
/// bytes plus up to 100 signature lines of at most ~300 bytes (30,000): 64 KiB covers them
/// with room to spare.
pub(crate) const MAX_BODY_BYTES: usize = 64 << 10;

/// One request as the server read it.
#[derive(Debug)]
pub(crate) struct Request {
    pub method: String,
    pub target: String,
    pub body: Vec<u8>,
    /// The client asked to close the connection after the response (or spoke HTTP/1.0).
    pub close: bool,
}

/// Why no request was read.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// The connection closed, or stayed idle past the timeout, between requests: not an error.
    Idle,
    /// The bytes are not a request we serve: answer with this status and message, then close.
    Reject(u16, String),
    /// The socket failed: close without answering.
    Io,
}

/// A server connection: the stream and the bytes read past the last request.
#[derive(Debug)]
pub(crate) struct ServerConn {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4)
}

impl ServerConn {
    pub fn new(stream: TcpStream) -> Self {
        Self {
            stream,
            buf: Vec::new(),
        }
    }

    /// Read into the buffer once, waiting at most until `deadline` (and `idle` per read).
    /// Returns the bytes read (0 at end of stream).
    fn fill(&mut self, deadline: Instant, idle: Duration) -> io::Result<usize> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::from(io::ErrorKind::TimedOut));
        }
        self.stream.set_read_timeout(Some(left.min(idle)))?;
        let mut chunk = [0u8; 4096];
        let n = self.stream.read(&mut chunk)?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    /// Read the next request: the head within `MAX_HEAD_BYTES`, a body within `max_body`, all
    /// of it within `total` from its first byte, waiting at most `idle` for the first byte.
    pub fn read_request(
        &mut self,
        idle: Duration,
        total: Duration,
        max_body: usize,
    ) -> Result<Request, ReadError> {
        // Wait for the first byte with the idle timeout, then give the whole request `total`.
        let mut deadline = Instant::now() + idle;
        let mut started = !self.buf.is_empty();
        if started {
            deadline = Instant::now() + total;
        }
        let head_end = loop {
            if let Some(end) = find_head_end(&self.buf) {
                break end;
            }
            if self.buf.len() > MAX_HEAD_BYTES {
                return Err(ReadError::Reject(
                    431,
                    format!("request head larger than {MAX_HEAD_BYTES} bytes"),
                ));
            }
            match self.fill(deadline, idle) {
                Ok(0) if self.buf.is_empty() => return Err(ReadError::Idle),
                Ok(0) => {
                    return Err(ReadError::Reject(
                        400,
                        "the request head ends before its blank line".into(),
                    ));
                }
                Ok(_) => {
                    if !started {
                        started = true;
                        deadline = Instant::now() + total;
                    }
                }
                Err(e) if is_timeout(&e) && !started => return Err(ReadError::Idle),
                Err(e) if is_timeout(&e) => {
                    return Err(ReadError::Reject(
                        408,
                        format!("the request head did not arrive within {total:?}"),
                    ));
                }
                Err(_) => return Err(ReadError::Io),
            }
        };
        let bad = |why: &str| ReadError::Reject(400, why.to_owned());
        let head = std::str::from_utf8(&self.buf[..head_end - 4])
            .map_err(|_| bad("the request head is not UTF-8"))?;
        let mut lines = head.split("\r\n");
        let start = lines.next().unwrap_or("");
        let mut parts = start.split(' ');
        let (Some(method), Some(target), Some(version), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad("the request line is not `<method> <target> HTTP/1.1`"));
        };
        let http10 = match version {
            "HTTP/1.1" => false,
            "HTTP/1.0" => true,
            _ => {
                return Err(bad(
                    "the request line does not end with HTTP/1.1 or HTTP/1.0",
                ));
            }
        };
        if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(bad("the request method is not an upper-case token"));
        }
        if !target.starts_with('/') || target.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err(bad("the request target is not an absolute path"));
        }
        let mut content_length: Option<usize> = None;
        let mut close = http10;
        let mut expect_continue = false;
        for line in lines {
            let Some((name, value)) = line.split_once(':') else {
                return Err(bad("a header line has no colon"));
            };
            if name.is_empty() || name.bytes().any(|b| b <= b' ' || b == 0x7f) {
                return Err(bad(
                    "a header name is empty or holds a space or control byte",
                ));
            }
            let value = value.trim_matches([' ', '\t']);
            if value.bytes().any(|b| (b < b' ' && b != b'\t') || b == 0x7f) {
                return Err(bad("a header value holds a control byte"));
            }
            if name.eq_ignore_ascii_case("content-length") {
                let n = (!value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()))
                    .then(|| value.parse::<usize>().ok())
                    .flatten()
                    .ok_or_else(|| bad("Content-Length is not a decimal number"))?;
                if content_length.is_some_and(|c| c != n) {
                    return Err(bad("two different Content-Length headers"));
                }
                content_length = Some(n);
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                return Err(ReadError::Reject(
                    411,
                    "Transfer-Encoding is not supported: send the body with Content-Length".into(),
                ));
            } else if name.eq_ignore_ascii_case("connection") {
                for token in value.split(',').map(str::trim) {
                    if token.eq_ignore_ascii_case("close") {
                        close = true;
                    } else if token.eq_ignore_ascii_case("keep-alive") {
                        close = false;
                    }
                }
            } else if name.eq_ignore_ascii_case("expect") {
                expect_continue = value.eq_ignore_ascii_case("100-continue");
            }
        }
        let len = match (content_length, method) {
            (Some(n), _) => n,
            (None, "POST" | "PUT") => {
                return Err(ReadError::Reject(
                    411,
                    "a request body needs a Content-Length header".into(),
                ));
            }
            (None, _) => 0,
        };
        if len > max_body {
            return Err(ReadError::Reject(
                413,
                format!("request body of {len} bytes, the limit is {max_body}"),
            ));
        }
        let (method, target) = (method.to_owned(), target.to_owned());
        if expect_continue && self.buf.len() < head_end + len {
            write_all_timeout(&mut self.stream, b"HTTP/1.1 100 Continue\r\n\r\n", idle)
                .map_err(|_| ReadError::Io)?;
        }
        while self.buf.len() < head_end + len {
            match self.fill(deadline, idle) {
                Ok(0) => {
                    return Err(ReadError::Reject(
                        400,
                        format!(
                            "the request body ends after {} of its {len} bytes",
                            self.buf.len() - head_end
                        ),
                    ));
                }
                Ok(_) => {}
                Err(e) if is_timeout(&e) => {
                    return Err(ReadError::Reject(
                        408,
                        format!("the request body did not arrive within {total:?}"),
                    ));
                }
                Err(_) => return Err(ReadError::Io),
            }
        }
        let body = self.buf[head_end..head_end + len].to_vec();
        self.buf.drain(..head_end + len);
        Ok(Request {
            method,
            target,
            body,
            close,
        })
    }
}

/// Close after a refusal without losing the response: closing a socket whose receive buffer
/// still holds unread bytes makes the kernel send a reset, which can discard the response
/// before the client reads it. So stop sending, then read and drop what the client still
/// sends, at most 256 KiB or 500 ms, before the socket is closed.
pub(crate) fn linger(stream: &mut TcpStream) {
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let deadline = Instant::now() + Duration::from_millis(500);
    let mut drained = 0usize;
    let mut chunk = [0u8; 4096];
    while drained < (256 << 10) {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return;
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => drained += n,
        }
    }
}

/// The reason phrase of the statuses the witness sends.
pub(crate) fn reason(code: u16) -> &'static str {
    match code {
        100 => "Continue",
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Content Too Large",
        422 => "Unprocessable Content",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

fn write_all_timeout(stream: &mut TcpStream, bytes: &[u8], timeout: Duration) -> io::Result<()> {
    stream.set_write_timeout(Some(timeout))?;
    stream.write_all(bytes)?;
    stream.flush()
}

/// Write one response with a `Content-Length` body.
pub(crate) fn write_response(
    stream: &mut TcpStream,
    code: u16,
    content_type: &str,
    body: &[u8],
    close: bool,
    timeout: Duration,
) -> io::Result<()> {
    let mut out = format!(
        "HTTP/1.1 {code} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{}\r\n",
        reason(code),
        body.len(),
        if close { "Connection: close\r\n" } else { "" }
    )
    .into_bytes();
    out.extend_from_slice(body);
    write_all_timeout(stream, &out, timeout)
}

/// A response as the client read it.
#[derive(Debug)]
pub(crate) struct Response {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

/// Why the client could not read a response.
#[derive(Debug)]
pub(crate) enum ResponseError {
    /// The socket failed or timed out.
    Io(io::Error),
    /// The bytes are not an HTTP/1.1 response within the limits.
    Malformed(String),
}

/// Send one request with `Connection: close` and read the response, whole, within `deadline`.
pub(crate) fn round_trip(
    stream: &mut TcpStream,
    request: &[u8],
    deadline: Instant,
    io_timeout: Duration,
) -> Result<Response, ResponseError> {
    write_all_timeout(stream, request, io_timeout).map_err(ResponseError::Io)?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let mut eof = false;
    let mut read = |buf: &mut Vec<u8>| -> Result<usize, ResponseError> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ResponseError::Io(io::Error::from(io::ErrorKind::TimedOut)));
        }
        stream
            .set_read_timeout(Some(left.min(io_timeout)))
            .map_err(ResponseError::Io)?;
        let n = stream.read(&mut chunk).map_err(ResponseError::Io)?;
        buf.extend_from_slice(&chunk[..n]);
        Ok(n)
    };
    let malformed = |why: &str| ResponseError::Malformed(why.to_owned());
    loop {
        let head_end = loop {
            if let Some(end) = find_head_end(&buf) {
                break end;
            }
            if buf.len() > MAX_HEAD_BYTES {
                return Err(malformed("the response head is larger than 8 KiB"));
            }
            if eof || read(&mut buf)? == 0 {
                return Err(malformed(if buf.is_empty() {
                    "the witness closed the connection without a response"
                } else {
                    "the response ends before the end of its head"
                }));
            }
        };
        let head = std::str::from_utf8(&buf[..head_end - 4])
            .map_err(|_| malformed("the response head is not UTF-8"))?;
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or("");
        let mut parts = status_line.splitn(3, ' ');
        let (Some(version), Some(code)) = (parts.next(), parts.next()) else {
            return Err(malformed(
                "the status line is not `HTTP/1.1 <code> <reason>`",
            ));
        };
        if !version.starts_with("HTTP/1.") || code.len() != 3 {
            return Err(malformed(
                "the status line is not `HTTP/1.1 <code> <reason>`",
            ));
        }
        let status: u16 = code
            .parse()
            .map_err(|_| malformed("the status code is not three digits"))?;
        let mut content_length = None;
        let mut content_type = None;
        for line in lines {
            let (name, value) = line
                .split_once(':')
                .ok_or_else(|| malformed("a response header has no colon"))?;
            let value = value.trim_matches([' ', '\t']);
            if name.eq_ignore_ascii_case("content-length") {
                let n: usize = (value.bytes().all(|b| b.is_ascii_digit()))
                    .then(|| value.parse().ok())
                    .flatten()
                    .ok_or_else(|| malformed("Content-Length is not a decimal number"))?;
                content_length = Some(n);
            } else if name.eq_ignore_ascii_case("content-type") {
                content_type = Some(value.to_owned());
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                return Err(malformed(
                    "the response uses Transfer-Encoding, which this client does not read",
                ));
            }
        }
        if (100..200).contains(&status) {
            buf.drain(..head_end);
            continue;
        }
        let body = match content_length {
            Some(n) if n > MAX_BODY_BYTES => {
                return Err(malformed("the response body is larger than 64 KiB"));
            }
            Some(n) => {
                while buf.len() < head_end + n {
                    if read(&mut buf)? == 0 {
                        return Err(malformed(
                            "the response body is shorter than its Content-Length",
                        ));
                    }
                }
                buf[head_end..head_end + n].to_vec()
            }
            None => {
                // Body until the connection closes (we sent Connection: close).
                while !eof {
                    if buf.len() - head_end > MAX_BODY_BYTES {
                        return Err(malformed("the response body is larger than 64 KiB"));
                    }
                    eof = read(&mut buf)? == 0;
                }
                buf[head_end..].to_vec()
            }
        };
        return Ok(Response {
            status,
            content_type,
            body,
        });
    }
}
