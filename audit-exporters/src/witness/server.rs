//! The witness: checks each new checkpoint of the logs it knows against the latest one it
//! cosigned, persists it, and cosigns it (C2SP [`tlog-witness`] "add-checkpoint").
//!
//! The checks, in the order the spec gives them, and the status of each refusal:
//!
//! | check                                                            | refusal |
//! |------------------------------------------------------------------|---------|
//! | the body is `old N`, proof lines, a blank line, a signed note     | 400     |
//! | the checkpoint's origin is a configured log                      | 404     |
//! | a signature verifies under one of that log's keys                | 403     |
//! | `old` is not above the checkpoint's size                         | 400     |
//! | `old` is the size of the latest checkpoint cosigned (0 if none)  | 409, body `<size>\n`, `text/x.tlog.size` |
//! | at equal sizes, the root is the one cosigned                     | 409     |
//! | the consistency proof from the cosigned root verifies            | 422     |
//!
//! Then the new checkpoint is written to the state directory (file and directory fsynced)
//! before the 200 response carries the cosignature line.
//!
//! Architecture Invariant: checking `old` and persisting the new checkpoint happen under one
//! lock, so two racing requests cannot roll the state back (the race the spec draws in
//! "add-checkpoint"); and the state only moves forward along consistency proofs, so every
//! checkpoint this witness cosigns for a log is an extension of every earlier one.
//!
//! A failed write or fsync of the state is sticky: the witness answers 503 to every later
//! add-checkpoint until it is restarted (it reloads the state from the directory), because
//! after a failed fsync the file's contents on disk are unknown.
//!
//! [`tlog-witness`]: https://c2sp.org/tlog-witness

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io::Write as _;
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use audit_runtime::merkle::tlog::{AddCheckpointRequest, Checkpoint, split_note};
use audit_runtime::merkle::{TreeHash, empty_root, verify_consistency};
use sha2::{Digest as _, Sha256};

use super::WitnessSetupError;
use super::cosignature::CosignatureSigner;
use super::http::{self, MAX_BODY_BYTES, ReadError, ServerConn};
use crate::file::note::{NoteError, VerifierKey};

/// The `Content-Type` of a 409 response that carries the witness's tree size (C2SP
/// tlog-witness "add-checkpoint").
pub const TLOG_SIZE_CONTENT_TYPE: &str = "text/x.tlog.size";

/// The path of the add-checkpoint endpoint under the submission prefix.
pub const ADD_CHECKPOINT_PATH: &str = "/add-checkpoint";

const TEXT_PLAIN: &str = "text/plain; charset=utf-8";

/// The suffix of a state file; the name before it is `log-` and the hex SHA-256 of the origin.
const STATE_SUFFIX: &str = ".checkpoint";

/// The state file of a log: `log-<hex SHA-256 of the origin>.checkpoint`, so any origin (which
/// may hold `/`, `:` or non-ASCII) maps to one portable file name.
pub fn state_file_name(origin: &str) -> String {
    let digest = Sha256::digest(origin.as_bytes());
    format!("log-{}{STATE_SUFFIX}", audit_runtime::ids::to_hex(&digest))
}

/// The response to one add-checkpoint request: what the HTTP server sends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddCheckpointResponse {
    /// The HTTP status: 200 with the cosignature line, or the refusal of the table above.
    pub status: u16,
    /// The `Content-Type`.
    pub content_type: &'static str,
    /// The body: the cosignature line (200), the witness's size and a newline (409 on `old`),
    /// or a message saying what was refused.
    pub body: Vec<u8>,
}

impl AddCheckpointResponse {
    fn text(status: u16, message: impl Into<String>) -> Self {
        let mut body = message.into().into_bytes();
        body.push(b'\n');
        Self {
            status,
            content_type: TEXT_PLAIN,
            body,
        }
    }
}

/// The latest checkpoint cosigned for one log.
#[derive(Clone, Debug)]
struct Latest {
    size: u64,
    root: TreeHash,
}

#[derive(Debug)]
struct Store {
    dir: PathBuf,
    latest: HashMap<String, Latest>,
    /// Set by a failed write or fsync; refuses every later update (sticky).
    failed: Option<String>,
}

impl Store {
    /// Load every state file of `dir` (created, mode 0700, if missing).
    fn open(dir: &Path) -> Result<Self, WitnessSetupError> {
        let io = |op: &'static str, path: &Path| {
            let path = path.to_owned();
            move |source| WitnessSetupError::Io { op, path, source }
        };
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder.create(dir).map_err(io("create", dir))?;
        let mut latest = HashMap::new();
        for entry in std::fs::read_dir(dir).map_err(io("list", dir))? {
            let entry = entry.map_err(io("list", dir))?;
            let path = entry.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if !(name.starts_with("log-") && name.ends_with(STATE_SUFFIX)) {
                // Leftover `.tmp` files of an interrupted write are not state.
                continue;
            }
            let bytes = std::fs::read(&path).map_err(io("read", &path))?;
            let state = |why: String| WitnessSetupError::State {
                path: path.clone(),
                why,
            };
            let split = split_note(&bytes).map_err(|e| state(e.to_string()))?;
            let c =
                Checkpoint::parse_body(split.text.as_bytes()).map_err(|e| state(e.to_string()))?;
            if state_file_name(c.origin()) != name {
                return Err(state(format!(
                    "holds the checkpoint of origin {:?}, whose state file is {}",
                    c.origin(),
                    state_file_name(c.origin())
                )));
            }
            latest.insert(
                c.origin().to_owned(),
                Latest {
                    size: c.size(),
                    root: *c.root(),
                },
            );
        }
        Ok(Self {
            dir: dir.to_owned(),
            latest,
            failed: None,
        })
    }

    /// Replace the state of `origin` with `note`: write a temporary file (mode 0600), fsync
    /// it, rename it over the state file, fsync the directory.
    fn persist(&mut self, origin: &str, note: &str) -> Result<(), String> {
        let name = state_file_name(origin);
        let path = self.dir.join(&name);
        let tmp = self.dir.join(format!("{name}.tmp"));
        let step =
            |op: &str, p: &Path, e: std::io::Error| format!("{op} of {} failed: {e}", p.display());
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(&tmp).map_err(|e| step("create", &tmp, e))?;
        f.write_all(note.as_bytes())
            .map_err(|e| step("write", &tmp, e))?;
        f.sync_all().map_err(|e| step("fsync", &tmp, e))?;
        drop(f);
        std::fs::rename(&tmp, &path).map_err(|e| step("rename", &path, e))?;
        std::fs::File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| step("fsync", &self.dir, e))?;
        Ok(())
    }
}

/// The clock that timestamps cosignatures: POSIX seconds.
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

fn system_clock() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Marks a [`WitnessBuilder::log_prefix`] entry among the logs (an origin never starts with a
/// control character, C2SP signed-note forbids them in the text).
const PREFIX_MARK: &str = "\u{1}prefix:";

/// Configuration of a [`Witness`]; [`build`](Self::build) loads its state.
pub struct WitnessBuilder {
    signer: CosignatureSigner,
    state_dir: PathBuf,
    logs: BTreeMap<String, Vec<VerifierKey>>,
    clock: Clock,
    idle_timeout: Duration,
    request_timeout: Duration,
    max_connections: usize,
}

impl fmt::Debug for WitnessBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WitnessBuilder")
            .field("signer", &self.signer)
            .field("state_dir", &self.state_dir)
            .field("logs", &self.logs)
            .finish_non_exhaustive()
    }
}

impl WitnessBuilder {
    /// Witness the log `origin`, whose checkpoints are signed by `key`. Call again with the
    /// same origin to trust several keys (a checkpoint needs a signature by any one of them).
    pub fn log(mut self, origin: &str, key: VerifierKey) -> Self {
        self.logs.entry(origin.to_owned()).or_default().push(key);
        self
    }

    /// Witness every log whose origin starts with `prefix` (which must end with `/`), signed by
    /// `key`: the audit SDK's file log starts a new log (origin `audit-sdk/<service>/<chain>`)
    /// in every process, so a witness of a service trusts `audit-sdk/<service>/` with the
    /// service's key. Each origin still has its own state and rollback protection. An exact
    /// [`log`](Self::log) entry takes precedence.
    pub fn log_prefix(mut self, prefix: &str, key: VerifierKey) -> Self {
        self.logs
            .entry(format!("{PREFIX_MARK}{prefix}"))
            .or_default()
            .push(key);
        self
    }

    /// Timestamp cosignatures with this clock (POSIX seconds) instead of the system's.
    pub fn clock(mut self, clock: impl Fn() -> u64 + Send + Sync + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// How long a connection may stay idle between requests (default 30 s).
    pub fn idle_timeout(mut self, d: Duration) -> Self {
        self.idle_timeout = d;
        self
    }

    /// How long one request may take to arrive once its first byte has (default 10 s).
    pub fn request_timeout(mut self, d: Duration) -> Self {
        self.request_timeout = d;
        self
    }

    /// The most connections served at once (default 64); more get 503 and are closed.
    pub fn max_connections(mut self, n: usize) -> Self {
        self.max_connections = n;
        self
    }

    /// Check the configuration and load the state directory.
    pub fn build(self) -> Result<Witness, WitnessSetupError> {
        if self.logs.is_empty() {
            return Err(WitnessSetupError::Config(
                "no log configured: a witness needs at least one log (origin and verifier key)"
                    .into(),
            ));
        }
        for origin in self.logs.keys() {
            if let Some(prefix) = origin.strip_prefix(PREFIX_MARK) {
                if !prefix.ends_with('/') || prefix.len() < 2 {
                    return Err(WitnessSetupError::Config(format!(
                        "log origin prefix {prefix:?} must end with / (a whole path segment)"
                    )));
                }
                continue;
            }
            Checkpoint::new(origin, 0, empty_root())
                .map_err(|e| WitnessSetupError::Config(format!("log origin {origin:?}: {e}")))?;
        }
        if self.max_connections == 0 {
            return Err(WitnessSetupError::Config(
                "max_connections must be at least 1".into(),
            ));
        }
        if self.idle_timeout.is_zero() || self.request_timeout.is_zero() {
            return Err(WitnessSetupError::Config(
                "idle_timeout and request_timeout must be above zero".into(),
            ));
        }
        let store = Store::open(&self.state_dir)?;
        Ok(Witness {
            inner: Arc::new(Inner {
                signer: self.signer,
                logs: self.logs,
                store: Mutex::new(store),
                clock: self.clock,
                idle_timeout: self.idle_timeout,
                request_timeout: self.request_timeout,
                max_connections: self.max_connections,
            }),
        })
    }
}

struct Inner {
    signer: CosignatureSigner,
    logs: BTreeMap<String, Vec<VerifierKey>>,
    store: Mutex<Store>,
    clock: Clock,
    idle_timeout: Duration,
    request_timeout: Duration,
    max_connections: usize,
}

/// A C2SP tlog-witness: keeps the latest checkpoint it cosigned per log and cosigns only
/// consistent extensions of it. Cheap to clone (shared state).
#[derive(Clone)]
pub struct Witness {
    inner: Arc<Inner>,
}

impl fmt::Debug for Witness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Witness")
            .field("key", &self.inner.signer.public())
            .field("logs", &self.inner.logs.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Witness {
    /// A witness that cosigns with `signer` and keeps its state in `state_dir`.
    pub fn builder(signer: CosignatureSigner, state_dir: impl Into<PathBuf>) -> WitnessBuilder {
        WitnessBuilder {
            signer,
            state_dir: state_dir.into(),
            logs: BTreeMap::new(),
            clock: Arc::new(system_clock),
            idle_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(10),
            max_connections: 64,
        }
    }

    /// The witness verifier key, to print and pin.
    pub fn witness_key(&self) -> &super::WitnessKey {
        self.inner.signer.public()
    }

    /// The size and root of the latest checkpoint cosigned for `origin`.
    pub fn latest(&self, origin: &str) -> Option<(u64, TreeHash)> {
        self.store().latest.get(origin).map(|l| (l.size, l.root))
    }

    fn store(&self) -> MutexGuard<'_, Store> {
        // The map changes only after a successful persist, so a poisoned lock holds a
        // consistent state.
        self.inner
            .store
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Handle one add-checkpoint request body (the checks of the module docs, in order).
    pub fn add_checkpoint(&self, body: &[u8]) -> AddCheckpointResponse {
        let request = match AddCheckpointRequest::parse(body) {
            Ok(r) => r,
            Err(e) => {
                return AddCheckpointResponse::text(400, format!("malformed request body: {e}"));
            }
        };
        let checkpoint = request.checkpoint();
        let origin = checkpoint.origin();
        let by_prefix = || {
            self.inner
                .logs
                .iter()
                .filter_map(|(k, keys)| {
                    let p = k.strip_prefix(PREFIX_MARK)?;
                    origin.starts_with(p).then_some((p.len(), keys))
                })
                .max_by_key(|(len, _)| *len)
                .map(|(_, keys)| keys)
        };
        let Some(keys) = self.inner.logs.get(origin).or_else(by_prefix) else {
            return AddCheckpointResponse::text(404, format!("unknown log origin {origin:?}"));
        };
        let mut refusals = Vec::new();
        let mut verified = false;
        for key in keys {
            match key.verify(request.signed_checkpoint()) {
                Ok(_) => {
                    verified = true;
                    break;
                }
                Err(e @ (NoteError::Malformed(_) | NoteError::BadKeyName(_))) => {
                    return AddCheckpointResponse::text(400, format!("malformed checkpoint: {e}"));
                }
                Err(e) => refusals.push(e.to_string()),
            }
        }
        if !verified {
            return AddCheckpointResponse::text(
                403,
                format!(
                    "no signature of log {origin:?} verifies under a trusted key: {}",
                    refusals.join("; ")
                ),
            );
        }
        let (old, size) = (request.old_size(), checkpoint.size());
        if old > size {
            return AddCheckpointResponse::text(
                400,
                format!("old size {old} is above the checkpoint size {size}"),
            );
        }
        let mut store = self.store();
        if let Some(why) = &store.failed {
            return AddCheckpointResponse::text(
                503,
                format!("the witness state could not be saved earlier ({why}); restart it"),
            );
        }
        let (have_size, have_root) = store
            .latest
            .get(origin)
            .map_or((0, empty_root()), |l| (l.size, l.root));
        if old != have_size {
            return AddCheckpointResponse {
                status: 409,
                content_type: TLOG_SIZE_CONTENT_TYPE,
                body: format!("{have_size}\n").into_bytes(),
            };
        }
        if old == size && *checkpoint.root() != have_root {
            return AddCheckpointResponse::text(
                409,
                format!(
                    "checkpoint of size {size} has root {}, the witness cosigned root {} at \
                     that size: a fork",
                    checkpoint.root().to_base64(),
                    have_root.to_base64()
                ),
            );
        }
        if let Err(e) =
            verify_consistency(old, size, &have_root, checkpoint.root(), request.proof())
        {
            return AddCheckpointResponse::text(
                422,
                format!("the consistency proof from size {old} to {size} does not verify: {e}"),
            );
        }
        if old != size {
            if let Err(why) = store.persist(origin, request.signed_checkpoint()) {
                store.failed = Some(why.clone());
                return AddCheckpointResponse::text(
                    500,
                    format!("the witness could not save its state: {why}"),
                );
            }
            store.latest.insert(
                origin.to_owned(),
                Latest {
                    size,
                    root: *checkpoint.root(),
                },
            );
        }
        let text = match split_note(request.signed_checkpoint().as_bytes()) {
            Ok(s) => s.text,
            Err(e) => {
                return AddCheckpointResponse::text(400, format!("malformed checkpoint: {e}"));
            }
        };
        match self.inner.signer.cosign(text, (self.inner.clock)()) {
            Ok(line) => AddCheckpointResponse {
                status: 200,
                content_type: TEXT_PLAIN,
                body: line.into_bytes(),
            },
            Err(e) => AddCheckpointResponse::text(500, format!("cannot cosign: {e}")),
        }
    }

    /// Serve the HTTP interface on `addr` (`127.0.0.1:0` picks a free port): `POST
    /// /add-checkpoint`, HTTP/1.1 keep-alive, one thread per connection. Returns at once;
    /// the [`WitnessHandle`] gives the address and stops the server.
    pub fn serve(&self, addr: impl ToSocketAddrs) -> Result<WitnessHandle, WitnessSetupError> {
        let listener =
            TcpListener::bind(addr).map_err(|source| WitnessSetupError::Listen { source })?;
        let local = listener
            .local_addr()
            .map_err(|source| WitnessSetupError::Listen { source })?;
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            conns: Mutex::new(HashMap::new()),
            active: Mutex::new(0),
            idle: Condvar::new(),
            next_id: AtomicU64::new(0),
        });
        let witness = self.clone();
        let accept_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("audit-witness-accept".into())
            .spawn(move || accept_loop(&witness, &listener, &accept_shared))
            .map_err(|source| WitnessSetupError::Listen { source })?;
        Ok(WitnessHandle {
            addr: local,
            shared,
            thread: Some(thread),
        })
    }
}

struct Shared {
    stop: AtomicBool,
    /// A clone of each open connection's stream, to unblock its reads at shutdown.
    conns: Mutex<HashMap<u64, TcpStream>>,
    active: Mutex<usize>,
    idle: Condvar,
    next_id: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn accept_loop(witness: &Witness, listener: &TcpListener, shared: &Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            break;
        }
        let Ok(mut stream) = stream else {
            // Accept errors (too many open files, a reset before accept) are transient: keep
            // serving the other connections.
            std::thread::sleep(Duration::from_millis(10));
            continue;
        };
        {
            let mut active = lock(&shared.active);
            if *active >= witness.inner.max_connections {
                drop(active);
                let _ = http::write_response(
                    &mut stream,
                    503,
                    TEXT_PLAIN,
                    b"too many connections\n",
                    true,
                    Duration::from_secs(1),
                );
                continue;
            }
            *active += 1;
        }
        let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
        if let Ok(clone) = stream.try_clone() {
            lock(&shared.conns).insert(id, clone);
        }
        let (w, s) = (witness.clone(), Arc::clone(shared));
        let spawned = std::thread::Builder::new()
            .name("audit-witness-conn".into())
            .spawn(move || {
                serve_connection(&w, stream, &s);
                lock(&s.conns).remove(&id);
                let mut active = lock(&s.active);
                *active -= 1;
                s.idle.notify_all();
            });
        if spawned.is_err() {
            lock(&shared.conns).remove(&id);
            *lock(&shared.active) -= 1;
        }
    }
}

fn serve_connection(witness: &Witness, stream: TcpStream, shared: &Shared) {
    let inner = &witness.inner;
    let _ = stream.set_nodelay(true);
    let mut conn = ServerConn::new(stream);
    let write_timeout = inner.request_timeout;
    loop {
        let request =
            match conn.read_request(inner.idle_timeout, inner.request_timeout, MAX_BODY_BYTES) {
                Ok(r) => r,
                Err(ReadError::Idle | ReadError::Io) => return,
                Err(ReadError::Reject(code, why)) => {
                    let _ = http::write_response(
                        &mut conn.stream,
                        code,
                        TEXT_PLAIN,
                        format!("{why}\n").as_bytes(),
                        true,
                        write_timeout,
                    );
                    http::linger(&mut conn.stream);
                    return;
                }
            };
        let response = route(witness, &request);
        let close = request.close || shared.stop.load(Ordering::SeqCst);
        if http::write_response(
            &mut conn.stream,
            response.status,
            response.content_type,
            &response.body,
            close,
            write_timeout,
        )
        .is_err()
            || close
        {
            return;
        }
    }
}

fn route(witness: &Witness, request: &http::Request) -> AddCheckpointResponse {
    if request.target != ADD_CHECKPOINT_PATH {
        return AddCheckpointResponse::text(
            404,
            format!(
                "no endpoint {}: this witness serves POST {ADD_CHECKPOINT_PATH}",
                request.target
            ),
        );
    }
    if request.method != "POST" {
        return AddCheckpointResponse::text(
            405,
            format!("{ADD_CHECKPOINT_PATH} takes POST, not {}", request.method),
        );
    }
    witness.add_checkpoint(&request.body)
}

/// A running witness server. Dropping it stops the server like [`shutdown`](Self::shutdown).
pub struct WitnessHandle {
    addr: SocketAddr,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl fmt::Debug for WitnessHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WitnessHandle")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl WitnessHandle {
    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL for a [`WitnessClient`](super::WitnessClient): `http://<addr>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stop accepting, let requests in progress finish (each within the request timeout),
    /// close idle connections, and wait up to `grace` for the connection threads to end.
    /// Returns whether they all ended in time.
    pub fn shutdown_within(mut self, grace: Duration) -> bool {
        self.stop(grace)
    }

    /// [`shutdown_within`](Self::shutdown_within) with a 10-second grace period.
    pub fn shutdown(self) -> bool {
        self.shutdown_within(Duration::from_secs(10))
    }

    fn stop(&mut self, grace: Duration) -> bool {
        let Some(thread) = self.thread.take() else {
            return true;
        };
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the blocked accept with a connection of our own.
        let mut wake = self.addr;
        if wake.ip().is_unspecified() {
            wake.set_ip(match wake {
                SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        let _ = TcpStream::connect_timeout(&wake, Duration::from_secs(1));
        let _ = thread.join();
        // Unblock connections waiting for their next request; one mid-request finishes
        // reading what was sent, is refused as truncated or answered, then closes.
        for stream in lock(&self.shared.conns).values() {
            let _ = stream.shutdown(std::net::Shutdown::Read);
        }
        let deadline = Instant::now() + grace;
        let mut active = lock(&self.shared.active);
        while *active > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            active = self
                .shared
                .idle
                .wait_timeout(active, left)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
        true
    }
}

impl Drop for WitnessHandle {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(10));
    }
}
