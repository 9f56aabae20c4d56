//! The writer: [`FileExporter`] appends sealed records to segment files and checkpoints to the
//! chain's checkpoint log.
//!
//! Order of durable steps (each arrow waits for the one before):
//!
//! ```text
//! start:     recover torn tails of dead chains
//! 1st batch: create <chain>.ckpt ─► lock it ─► create segment 1 ─► write header ─► fsync file
//!            ─► fsync directory
//! batch:     write lines (one write loop) ─► fsync per policy ─► durable count advances
//! rotation:  fsync segment ─► append checkpoint ─► fsync checkpoint log ─► create segment n+1
//!            with header naming the last seq and hash ─► fsync file ─► fsync directory
//! shutdown:  fsync segment ─► append checkpoint ─► fsync checkpoint log ─► unlock
//! gap:       (a record whose seq is past the next expected one, as a fallback receives them)
//!            rotate first if the segment is format 1 ─► gap line, then the record, in the
//!            batch's one write loop
//! ```
//!
//! By default a chain is written in format 3 ([`FileFormat::Merkle`]): every line of its
//! segments (headers, records, gap lines) is appended to an RFC 6962 Merkle tree
//! ([`audit_runtime::merkle::CompactTree`], O(log n) memory) as it is buffered, and every
//! checkpoint states the tree's size and root; segment 1's header names the latest checkpoint of
//! the chain written before it in the directory. With [`FileFormat::Chain`] (for fleets whose
//! pinned verifiers do not read format 3 yet) a chain that never had a gap is written in
//! format 1, exactly as before format 2 existed, and its first gap (or a first record past
//! `seq` 0) makes it a format-2 chain: every later segment has a format-2 header and every
//! checkpoint after a gap states the gaps (see [`format::GapLine`]).
//!
//! What must hold:
//! * A checkpoint never names a record that is not synced, so a crash never leaves a checkpoint
//!   the chain cannot reach (this holds under every fsync policy, `Never` included).
//! * After any failed write, fsync or create, the writer is *failed*: every later call returns a
//!   permanent error naming the first failure. An fsync is never retried: after a failed fsync
//!   the kernel may have dropped the dirty pages, and a second fsync could report success for
//!   data that is gone (the 2018 "fsyncgate" finding). The next process start repairs the tail.
//! * The durable count ([`DurableCount`]) only moves after a successful fsync of the segment.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use audit_runtime::RecordId;
use audit_runtime::chain::{RecordHash, SealedRecord};
use audit_runtime::diag::warn_as;
use audit_runtime::export::{ExportError, Exporter};
use audit_runtime::merkle::CompactTree;

use super::FileLogError;
use super::format::{
    self, CheckpointBody, CheckpointLine, FORMAT_GAPS, FORMAT_MERKLE, FORMAT_VERSION, FileKind,
    GapLine, GapState, PrevChain, SegmentHeader, TreeState,
};
use super::fs::{FsLock, LogFile, LogFs, RealFs};
use super::note::NoteSigner;
use super::recover::{RecoveryReport, recover_dir};

/// The component name of the file log's warnings.
const FILE_LOG: &str = "audit file log";

/// Environment variable holding a checkpoint signer key (`PRIVATE+KEY+<name>+<id>+<base64>`).
pub const SIGNING_KEY_ENV: &str = "AUDIT_CHECKPOINT_KEY";
/// Environment variable naming a file (mode 0600) that holds the signer key.
pub const SIGNING_KEY_FILE_ENV: &str = "AUDIT_CHECKPOINT_KEY_FILE";

/// When the writer calls fsync on the segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FsyncPolicy {
    /// After every batch: a record is durable when `export` returns. The default.
    #[default]
    EveryBatch,
    /// At the first batch written at least this many milliseconds after the last fsync, and at
    /// every flush. (There is no timer thread: an idle writer syncs at its next flush.)
    EveryMillis(u64),
    /// Only at flush, rotation, checkpoint and shutdown.
    Never,
}

/// Which file format the writer writes (the verifier reads them all).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FileFormat {
    /// Format 3, the default: Merkle-tree checkpoints (C2SP `tlog-checkpoint`), inclusion and
    /// consistency proofs, integrity independent of the record schema, chains linked in a
    /// directory.
    #[default]
    Merkle,
    /// Formats 1 and 2, byte for byte as before format 3: for a fleet whose pinned verifiers
    /// are older than format 3, until they are upgraded.
    Chain,
}

/// How many records, shared with whoever wants to know, are on stable storage.
#[derive(Debug, Clone, Default)]
pub struct DurableCount(Arc<AtomicU64>);

impl DurableCount {
    /// Records of the chain known to be synced: every `seq` below this number.
    pub fn records(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }
}

#[derive(Debug)]
enum KeySource {
    None,
    Signer(Box<NoteSigner>),
    File(PathBuf),
    Env,
}

/// Configures a [`FileExporter`]; see [`FileExporter::builder`].
#[derive(Debug)]
pub struct FileExporterBuilder {
    dir: PathBuf,
    service: Option<String>,
    max_segment_bytes: u64,
    max_segment_age: Option<Duration>,
    fsync: FsyncPolicy,
    checkpoint_records: Option<u64>,
    checkpoint_interval: Option<Duration>,
    key: KeySource,
    fs: Arc<dyn LogFs>,
    format: FileFormat,
    anchor_dir: Option<PathBuf>,
    witness: Option<crate::witness::WitnessClient>,
}

impl FileExporterBuilder {
    /// After every signed format-3 checkpoint, also write it (with the witness's cosignature
    /// when a witness is configured) to `<dir>/<service>.<chain>.anchor.note`, replaced
    /// atomically (temp file, fsync, rename, directory fsync; mode 0600). Put `dir` where the
    /// writer's own directory cannot be rewritten with it (another disk, another machine's
    /// mount): `audit-verify verify --against` checks a log against such a note.
    pub fn anchor_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.anchor_dir = Some(dir.into());
        self
    }

    /// After every signed format-3 checkpoint, ask this C2SP `tlog-witness` to cosign it, with
    /// a consistency proof from the last checkpoint it cosigned (the writer keeps that tree's
    /// frontier and the leaf hashes since: 32 bytes a line until the next cosignature). A witness
    /// that refuses or cannot be reached never fails the log: the writer warns (once per
    /// failure streak) and tries again at the next checkpoint.
    pub fn witness(mut self, client: crate::witness::WitnessClient) -> Self {
        self.witness = Some(client);
        self
    }

    /// The file format to write (default [`FileFormat::Merkle`], format 3).
    pub fn file_format(mut self, format: FileFormat) -> Self {
        self.format = format;
        self
    }

    /// The service name used in file names (sanitized). Defaults to the records' service name.
    pub fn service(mut self, name: impl Into<String>) -> Self {
        self.service = Some(name.into());
        self
    }

    /// Start a new segment before one would exceed this size (default 64 MiB; at least 4 KiB).
    /// A single record larger than this still goes into a segment of its own.
    pub fn max_segment_bytes(mut self, bytes: u64) -> Self {
        self.max_segment_bytes = bytes;
        self
    }

    /// Start a new segment when the current one is older than this (default one hour).
    pub fn max_segment_age(mut self, age: Option<Duration>) -> Self {
        self.max_segment_age = age;
        self
    }

    /// When to fsync.
    pub fn fsync(mut self, policy: FsyncPolicy) -> Self {
        self.fsync = policy;
        self
    }

    /// Write a checkpoint after this many records (default 10 000; counted in `seq`s, so the
    /// records absent in a fallback's gaps count too); `None` for only on time, rotation and
    /// shutdown.
    pub fn checkpoint_every_records(mut self, records: Option<u64>) -> Self {
        self.checkpoint_records = records;
        self
    }

    /// Write a checkpoint when this much time passed since the last one and records arrived
    /// (default 60 s); and, while no record arrives, a heartbeat checkpoint (same tree, new
    /// signed time) every such interval, so a silence in the trail shows in its signed times
    /// and a writer that stopped checkpointing is told from one that had nothing to say.
    pub fn checkpoint_every(mut self, interval: Option<Duration>) -> Self {
        self.checkpoint_interval = interval;
        self
    }

    /// Sign checkpoints with this key.
    pub fn signing_key(mut self, signer: NoteSigner) -> Self {
        self.key = KeySource::Signer(Box::new(signer));
        self
    }

    /// Sign checkpoints with the key in this file (`PRIVATE+KEY+...`, mode 0600 or stricter).
    pub fn signing_key_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.key = KeySource::File(path.into());
        self
    }

    /// Sign checkpoints with the key in `AUDIT_CHECKPOINT_KEY` or the file named by
    /// `AUDIT_CHECKPOINT_KEY_FILE`; unsigned when neither is set.
    pub fn signing_key_from_env(mut self) -> Self {
        self.key = KeySource::Env;
        self
    }

    /// Use another file system (in-memory or fault-injecting, for tests).
    pub fn file_system(mut self, fs: impl LogFs) -> Self {
        self.fs = Arc::new(fs);
        self
    }

    fn signer(&self) -> Result<Option<NoteSigner>, FileLogError> {
        let from_file = |path: &Path| -> Result<NoteSigner, FileLogError> {
            let bytes = audit_runtime::digest::read_secret_file(path).map_err(|e| {
                FileLogError::Key(format!("cannot read signing key {}: {e}", path.display()))
            })?;
            let text = String::from_utf8(bytes).map_err(|_| {
                FileLogError::Key(format!("signing key {} is not text", path.display()))
            })?;
            NoteSigner::parse(&text)
                .map_err(|e| FileLogError::Key(format!("signing key {}: {e}", path.display())))
        };
        match &self.key {
            KeySource::None => Ok(None),
            KeySource::Signer(s) => Ok(Some((**s).clone())),
            KeySource::File(p) => from_file(p).map(Some),
            KeySource::Env => {
                if let Ok(v) = std::env::var(SIGNING_KEY_ENV) {
                    return NoteSigner::parse(&v)
                        .map(Some)
                        .map_err(|e| FileLogError::Key(format!("{SIGNING_KEY_ENV}: {e}")));
                }
                match std::env::var_os(SIGNING_KEY_FILE_ENV) {
                    Some(p) => from_file(Path::new(&p)).map(Some),
                    None => Ok(None),
                }
            }
        }
    }

    /// Create the directory if needed, repair torn tails left by crashed writers (see
    /// [`FileExporter::recovery`]) and return the exporter. Files are created at the first
    /// record, whose `service.instance` names the chain.
    pub fn open(self) -> Result<FileExporter, FileLogError> {
        if self.max_segment_bytes < 4096 {
            return Err(FileLogError::Config(
                "max_segment_bytes must be at least 4096".into(),
            ));
        }
        if self.checkpoint_records == Some(0) {
            return Err(FileLogError::Config(
                "checkpoint_every_records must be at least 1".into(),
            ));
        }
        let signer = self.signer()?;
        self.fs
            .create_dir_all(&self.dir)
            .map_err(|source| FileLogError::Io {
                op: "create directory",
                path: self.dir.clone(),
                source,
            })?;
        let recovery = recover_dir(&*self.fs, &self.dir)?;
        for r in &recovery.repairs {
            match &r.quarantine {
                Some(q) => warn_as(
                    FILE_LOG,
                    &format!(
                        "recovered torn tail of {}: kept {} bytes{}, moved {} bytes to {} ({})",
                        r.file.display(),
                        r.kept_bytes,
                        r.last_good_seq
                            .map_or_else(String::new, |s| format!(" (up to seq {s})")),
                        r.quarantined_bytes,
                        q.display(),
                        r.reason
                    ),
                ),
                None => warn_as(
                    FILE_LOG,
                    &format!("recovered {}: {}", r.file.display(), r.reason),
                ),
            }
        }
        for note in &recovery.left_alone {
            warn_as(FILE_LOG, &note.to_string());
        }
        Ok(FileExporter {
            fs: self.fs,
            dir: self.dir,
            service: self.service.as_deref().map(format::sanitize_service),
            max_segment_bytes: self.max_segment_bytes,
            max_segment_age: self.max_segment_age,
            fsync: self.fsync,
            checkpoint_records: self.checkpoint_records,
            checkpoint_interval: self.checkpoint_interval,
            signer,
            format: self.format,
            anchor_dir: self.anchor_dir,
            witness: self.witness,
            anchor_failing: false,
            chain: None,
            failed: None,
            shut: false,
            durable: DurableCount::default(),
            recovery,
            buf: Vec::with_capacity(64 * 1024),
        })
    }
}

#[derive(Debug)]
struct OpenChain {
    service: String,
    chain: RecordId,
    segment: u32,
    seg_path: PathBuf,
    file: Box<dyn LogFile>,
    seg_bytes: u64,
    /// Lines (records and gap lines) in the current segment.
    seg_records: u64,
    seg_opened: Instant,
    /// Format of the current segment's header.
    seg_format: u32,
    /// Whether the chain has (or is about to have) a gap: new segments are format 2.
    gapped: bool,
    /// Records absent in the gaps written so far.
    absent: u64,
    /// Hash of the latest gap line (zeros before the first).
    gap_head: RecordHash,
    ckpt_path: PathBuf,
    ckpt: Box<dyn LogFile>,
    _lock: FsLock,
    /// Format 3: the Merkle tree of every line written to the chain's segments.
    tree: Option<CompactTree>,
    /// With a witness: the tree the witness cosigned last (its frontier), and the leaf hashes
    /// after it.
    witnessed: CompactTree,
    unwitnessed: Vec<audit_runtime::merkle::TreeHash>,
    witness_on: bool,
    /// Last record written: seq and hash.
    head: Option<(u64, RecordHash)>,
    /// The next `seq` expected (= last seq + 1; with gaps, more than the records written).
    written: u64,
    synced: u64,
    last_sync: Instant,
    checkpointed: Option<u64>,
    last_checkpoint: Instant,
}

/// Writes the chain into hash-chained, rotating JSON Lines segments with checkpoints.
///
/// It also works as the runtime's fallback exporter
/// ([`audit_runtime::AuditBuilder::fallback`]), which receives only the batches the primary
/// exporters failed: records past the next expected `seq` are preceded by a gap line naming the
/// absent range (format 2, see [`format::GapLine`]), and the verifier lists the gaps. Records
/// going back in `seq` are refused. A fallback needs a directory of its own when a primary is a
/// file exporter too: both write the same chain, whose file names would collide.
///
/// ```no_run
/// use audit_exporters::file::{FileExporter, FsyncPolicy};
/// let file = FileExporter::builder("/var/log/audit")
///     .fsync(FsyncPolicy::EveryBatch)
///     .signing_key_from_env()
///     .open()?;
/// let _guard = audit_runtime::AuditRuntime::builder().service("loan-agent").exporter(file).install()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct FileExporter {
    fs: Arc<dyn LogFs>,
    dir: PathBuf,
    service: Option<String>,
    max_segment_bytes: u64,
    max_segment_age: Option<Duration>,
    fsync: FsyncPolicy,
    checkpoint_records: Option<u64>,
    checkpoint_interval: Option<Duration>,
    signer: Option<NoteSigner>,
    format: FileFormat,
    anchor_dir: Option<PathBuf>,
    witness: Option<crate::witness::WitnessClient>,
    /// Whether the last anchoring failed (warned once per streak).
    anchor_failing: bool,
    chain: Option<OpenChain>,
    failed: Option<String>,
    shut: bool,
    durable: DurableCount,
    recovery: RecoveryReport,
    buf: Vec<u8>,
}

impl OpenChain {
    /// Append a line, by its own hash, to the chain's tree (format 3), and remember its leaf
    /// for the witness's next consistency proof.
    fn add_leaf(&mut self, line_hash: &RecordHash) -> Result<(), FileLogError> {
        let Some(tree) = self.tree.as_mut() else {
            return Ok(());
        };
        let leaf = format::leaf_of(line_hash);
        tree.append_leaf_hash(leaf)
            .map_err(|e| FileLogError::Chain(format!("Merkle tree: {e}")))?;
        if self.witness_on {
            self.unwitnessed.push(leaf);
        }
        Ok(())
    }
}

/// Write `text` to `path` atomically: a temp file (mode 0600), fsync, rename, directory fsync.
fn replace_file(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = path.with_extension("note.tmp");
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(&tmp)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()
}

fn now_rfc3339() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    audit_runtime::ids::rfc3339_nanos(nanos)
}

fn io(op: &'static str, path: &Path, source: std::io::Error) -> FileLogError {
    FileLogError::Io {
        op,
        path: path.to_owned(),
        source,
    }
}

fn write_all(file: &mut dyn LogFile, mut buf: &[u8], path: &Path) -> Result<(), FileLogError> {
    while !buf.is_empty() {
        match file.write(buf) {
            Ok(0) => {
                return Err(io(
                    "write",
                    path,
                    std::io::Error::new(std::io::ErrorKind::WriteZero, "write returned 0"),
                ));
            }
            Ok(n) => buf = &buf[n..],
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io("write", path, e)),
        }
    }
    Ok(())
}

impl FileExporter {
    /// Start configuring a file exporter writing into `dir`.
    pub fn builder(dir: impl Into<PathBuf>) -> FileExporterBuilder {
        FileExporterBuilder {
            dir: dir.into(),
            service: None,
            max_segment_bytes: 64 << 20,
            max_segment_age: Some(Duration::from_secs(3600)),
            fsync: FsyncPolicy::EveryBatch,
            checkpoint_records: Some(10_000),
            checkpoint_interval: Some(Duration::from_secs(60)),
            key: KeySource::None,
            fs: Arc::new(RealFs),
            format: FileFormat::default(),
            anchor_dir: None,
            witness: None,
        }
    }

    /// What recovery found and repaired when the exporter was opened.
    pub fn recovery(&self) -> &RecoveryReport {
        &self.recovery
    }

    /// A handle that tells how many records are synced; it stays valid after the exporter moves
    /// into the runtime.
    pub fn durable(&self) -> DurableCount {
        self.durable.clone()
    }

    /// The directory written to.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The first failure, once the writer has failed.
    pub fn failure(&self) -> Option<&str> {
        self.failed.as_deref()
    }

    fn refuse(&self) -> Option<ExportError> {
        if let Some(f) = &self.failed {
            return Some(ExportError::permanent(format!(
                "file log is failed since an earlier error and refuses writes until the process \
                 restarts: {f}"
            )));
        }
        if self.shut {
            return Some(ExportError::permanent("file log is shut down"));
        }
        None
    }

    /// Record the failure (sticky) and turn it into a permanent export error.
    fn fail(&mut self, e: FileLogError) -> ExportError {
        let msg = e.to_string();
        if self.failed.is_none() {
            self.failed = Some(msg.clone());
        }
        ExportError::permanent(format!("file log: {msg}")).with_source(e)
    }

    fn open_chain(&mut self, first: &SealedRecord) -> Result<(), FileLogError> {
        // A chain received from its start is format 1; one whose first record is later (a
        // fallback's) begins with a gap, so its first segment is format 2.
        let gapped = first.seq() != 0;
        let service = self
            .service
            .clone()
            .unwrap_or_else(|| format::sanitize_service(&first.record.service.name));
        let chain = first.record.service.instance;
        let ckpt_path = self.dir.join(format::checkpoint_file_name(&service, chain));
        let ckpt = self
            .fs
            .create_new(&ckpt_path)
            .map_err(|e| io("create", &ckpt_path, e))?;
        // Recovery in another process may hold the lock for a moment while it looks at this
        // new, empty log; wait for it rather than fail.
        let mut lock = None;
        for _ in 0..100 {
            lock = self
                .fs
                .try_lock(&ckpt_path)
                .map_err(|e| io("lock", &ckpt_path, e))?;
            if lock.is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let lock = lock.ok_or_else(|| {
            FileLogError::Chain(format!(
                "{} is locked by another process",
                ckpt_path.display()
            ))
        })?;
        let now = Instant::now();
        let merkle = self.format == FileFormat::Merkle;
        let seg_format = if merkle {
            FORMAT_MERKLE
        } else if gapped {
            FORMAT_GAPS
        } else {
            FORMAT_VERSION
        };
        let tree = merkle.then(CompactTree::new);
        let prev_chain = if merkle {
            self.latest_other_chain(chain)
        } else {
            None
        };
        let (seg_path, file, seg_bytes, header_hash) = self.create_segment(
            seg_format,
            &service,
            chain,
            1,
            None,
            tree.as_ref().map(CompactTree::size),
            prev_chain,
        )?;
        self.chain = Some(OpenChain {
            service,
            chain,
            segment: 1,
            seg_path,
            file,
            seg_bytes,
            seg_records: 0,
            seg_opened: now,
            seg_format,
            gapped,
            absent: 0,
            gap_head: RecordHash::GENESIS,
            ckpt_path,
            ckpt,
            _lock: lock,
            tree,
            witnessed: CompactTree::new(),
            unwitnessed: Vec::new(),
            witness_on: self.witness.is_some(),
            head: None,
            written: 0,
            synced: 0,
            last_sync: now,
            checkpointed: None,
            last_checkpoint: now,
        });
        if let Some(c) = self.chain.as_mut() {
            c.add_leaf(&header_hash)?;
        }
        Ok(())
    }

    /// The latest checkpoint of the newest other chain in the directory (chain ids are UUIDv7,
    /// so the greatest one started last), to link this chain to. Best effort: a chain with no
    /// readable checkpoint is not linked to.
    fn latest_other_chain(&self, own: RecordId) -> Option<PrevChain> {
        let files = self.fs.list(&self.dir).ok()?;
        let mut logs: Vec<(RecordId, String, String)> = files
            .into_iter()
            .filter_map(|(name, _)| match format::classify(&name) {
                FileKind::CheckpointLog { service, chain } if chain != own => {
                    Some((chain, service, name))
                }
                _ => None,
            })
            .collect();
        logs.sort();
        for (chain, service, name) in logs.into_iter().rev() {
            let mut text = String::new();
            let read = self
                .fs
                .open_read(&self.dir.join(&name))
                .and_then(|mut r| std::io::Read::read_to_string(&mut r, &mut text));
            if read.is_err() {
                continue;
            }
            let last = text.lines().rev().find_map(|l| {
                let (c, body) = CheckpointLine::parse(l).ok()?;
                let (_, hash) = audit_runtime::chain::line::split(l).ok()?;
                (c.chain == chain).then_some((hash, body.count))
            });
            if let Some((hash, count)) = last {
                return Some(PrevChain {
                    chain,
                    service,
                    checkpoint: hash.to_hex(),
                    count,
                });
            }
        }
        None
    }

    #[allow(clippy::too_many_arguments)]
    fn create_segment(
        &self,
        format: u32,
        service: &str,
        chain: RecordId,
        segment: u32,
        prev: Option<(u64, RecordHash)>,
        leaf_index: Option<u64>,
        prev_chain: Option<PrevChain>,
    ) -> Result<(PathBuf, Box<dyn LogFile>, u64, RecordHash), FileLogError> {
        let path = self
            .dir
            .join(format::segment_file_name(service, chain, segment));
        let header = match leaf_index {
            Some(leaf_index) => SegmentHeader::merkle(
                service,
                chain,
                segment,
                prev,
                now_rfc3339(),
                leaf_index,
                prev_chain,
            ),
            None => {
                SegmentHeader::with_format(format, service, chain, segment, prev, now_rfc3339())
            }
        };
        let (mut line, hash) =
            format::seal(&header).map_err(|e| FileLogError::Chain(e.to_string()))?;
        line.push('\n');
        let mut file = self
            .fs
            .create_new(&path)
            .map_err(|e| io("create", &path, e))?;
        write_all(&mut *file, line.as_bytes(), &path)?;
        file.sync().map_err(|e| io("fsync", &path, e))?;
        self.fs
            .sync_dir(&self.dir)
            .map_err(|e| io("fsync directory", &self.dir, e))?;
        Ok((path, file, line.len() as u64, hash))
    }

    fn write_buf(&mut self) -> Result<(), FileLogError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let Some(c) = self.chain.as_mut() else {
            return Ok(());
        };
        let r = write_all(&mut *c.file, &self.buf, &c.seg_path);
        self.buf.clear();
        r
    }

    fn sync_segment(&mut self) -> Result<(), FileLogError> {
        self.write_buf()?;
        let Some(c) = self.chain.as_mut() else {
            return Ok(());
        };
        if c.synced == c.written {
            return Ok(());
        }
        c.file.sync().map_err(|e| io("fsync", &c.seg_path, e))?;
        c.synced = c.written;
        c.last_sync = Instant::now();
        self.durable.0.store(c.synced, Ordering::Release);
        Ok(())
    }

    fn checkpoint(&mut self) -> Result<(), FileLogError> {
        self.sync_segment()?;
        let Some(c) = self.chain.as_mut() else {
            return Ok(());
        };
        let body = CheckpointBody {
            service: c.service.clone(),
            chain: c.chain,
            count: c.written,
            head: c.head.map_or(RecordHash::GENESIS, |h| h.1),
            segment: c.segment,
            gaps: (c.absent > 0).then_some(GapState {
                absent: c.absent,
                head: c.gap_head,
            }),
            tree: c.tree.as_ref().map(|t| TreeState {
                size: t.size(),
                root: t.root(),
            }),
            time: now_rfc3339(),
        };
        let text = body.to_text();
        let note = match &self.signer {
            Some(s) => s
                .sign(&text)
                .map_err(|e| FileLogError::Key(e.to_string()))?,
            None => text,
        };
        let note_for_anchor = note.clone();
        let (mut line, _) = format::seal(&CheckpointLine::new(&body, note))
            .map_err(|e| FileLogError::Chain(e.to_string()))?;
        line.push('\n');
        write_all(&mut *c.ckpt, line.as_bytes(), &c.ckpt_path)?;
        c.ckpt.sync().map_err(|e| io("fsync", &c.ckpt_path, e))?;
        c.checkpointed = Some(c.written);
        c.last_checkpoint = Instant::now();
        if body.tree.is_some() && self.signer.is_some() {
            self.anchor(&note_for_anchor);
        }
        Ok(())
    }

    /// Send a signed format-3 checkpoint to the witness and the anchor directory, as
    /// configured. Never fails the log: problems are warned about, once per streak.
    fn anchor(&mut self, note: &str) {
        let Some(c) = self.chain.as_mut() else {
            return;
        };
        let mut note = note.to_owned();
        let mut problem = None;
        if let (Some(w), Some(tree)) = (&self.witness, &c.tree) {
            let proof = audit_runtime::merkle::consistency_proof_from_frontier(
                &c.witnessed,
                &c.unwitnessed,
            );
            let answer = proof
                .map_err(|e| format!("consistency proof: {e}"))
                .and_then(|p| {
                    match w.add_checkpoint(c.witnessed.size(), &p, &note) {
                        // The witness holds nothing for this log (its state was lost, or this
                        // chain is new to it): start from the empty tree.
                        Err(crate::witness::WitnessError::Conflict { witness_size: 0 }) => {
                            w.add_checkpoint(0, &[], &note)
                        }
                        other => other,
                    }
                    .map_err(|e| e.to_string())
                });
            match answer {
                Ok(cos) => {
                    note = cos.append_to(&note);
                    c.witnessed = tree.clone();
                    c.unwitnessed.clear();
                }
                Err(e) => problem = Some(format!("the witness did not cosign the checkpoint: {e}")),
            }
        }
        if let Some(dir) = &self.anchor_dir {
            let path = dir.join(format!("{}.{}.anchor.note", c.service, c.chain));
            if let Err(e) = replace_file(&path, &note) {
                problem = Some(format!("cannot write the anchor {}: {e}", path.display()));
            }
        }
        match problem {
            Some(p) if !self.anchor_failing => {
                self.anchor_failing = true;
                warn_as(
                    FILE_LOG,
                    &format!("{p}; the log goes on, and the next checkpoint is anchored again"),
                );
            }
            Some(_) => {}
            None => self.anchor_failing = false,
        }
    }

    fn rotate(&mut self) -> Result<(), FileLogError> {
        self.checkpoint()?;
        let Some(c) = self.chain.as_ref() else {
            return Ok(());
        };
        let (service, chain, next, head) = (c.service.clone(), c.chain, c.segment + 1, c.head);
        let format = if c.tree.is_some() {
            FORMAT_MERKLE
        } else if c.gapped {
            FORMAT_GAPS
        } else {
            FORMAT_VERSION
        };
        let leaf_index = c.tree.as_ref().map(CompactTree::size);
        let (seg_path, file, seg_bytes, header_hash) =
            self.create_segment(format, &service, chain, next, head, leaf_index, None)?;
        if let Some(c) = self.chain.as_mut() {
            c.add_leaf(&header_hash)?;
        }
        if let Some(c) = self.chain.as_mut() {
            c.segment = next;
            c.seg_format = format;
            c.seg_path = seg_path;
            c.file = file;
            c.seg_bytes = seg_bytes;
            c.seg_records = 0;
            c.seg_opened = Instant::now();
        }
        Ok(())
    }

    fn append(&mut self, batch: &[SealedRecord]) -> Result<(), FileLogError> {
        if self.chain.is_none() {
            self.open_chain(&batch[0])?;
        }
        for rec in batch {
            let Some(c) = self.chain.as_ref() else {
                return Ok(());
            };
            if rec.record.service.instance != c.chain {
                return Err(FileLogError::Chain(format!(
                    "record of chain {} given to the writer of chain {}",
                    rec.record.service.instance, c.chain
                )));
            }
            if rec.seq() < c.written {
                return Err(FileLogError::Chain(format!(
                    "record seq {} where {} or later was expected: the records go back",
                    rec.seq(),
                    c.written
                )));
            }
            let gap = rec.seq() > c.written;
            let gap_line = if gap {
                let last = RecordHash::from_hex(&rec.record.prev).ok_or_else(|| {
                    FileLogError::Chain(format!(
                        "record seq {} has no valid prev hash to resume the chain after a gap",
                        rec.seq()
                    ))
                })?;
                let g = GapLine::new(
                    c.chain,
                    c.written,
                    rec.seq() - 1,
                    c.head.map_or(RecordHash::GENESIS, |h| h.1),
                    last,
                    c.gap_head,
                    format::GAP_NOT_RECEIVED,
                );
                let absent = g.absent();
                let (line, hash) =
                    format::seal(&g).map_err(|e| FileLogError::Chain(e.to_string()))?;
                Some((line, hash, absent))
            } else {
                None
            };
            let len = rec.line.len() as u64 + 1;
            let gap_len = gap_line.as_ref().map_or(0, |g| g.0.len() as u64 + 1);
            let too_big = c.seg_bytes + len + gap_len > self.max_segment_bytes;
            let too_old = self
                .max_segment_age
                .is_some_and(|a| c.seg_opened.elapsed() >= a);
            let needs_format2 = gap && c.seg_format == FORMAT_VERSION;
            if gap && let Some(c) = self.chain.as_mut() {
                c.gapped = true;
            }
            if self.chain.as_ref().is_some_and(|c| c.seg_records > 0)
                && (too_big || too_old || needs_format2)
            {
                self.rotate()?;
            }
            if let Some((line, hash, absent)) = gap_line {
                self.buf.extend_from_slice(line.as_bytes());
                self.buf.push(b'\n');
                if let Some(c) = self.chain.as_mut() {
                    c.add_leaf(&hash)?;
                    c.seg_bytes += gap_len;
                    c.seg_records += 1;
                    c.absent += absent;
                    c.gap_head = hash;
                }
            }
            self.buf.extend_from_slice(rec.line.as_bytes());
            self.buf.push(b'\n');
            if let Some(c) = self.chain.as_mut() {
                c.add_leaf(&rec.hash)?;
                c.seg_bytes += len;
                c.seg_records += 1;
                c.written = rec.seq() + 1;
                c.head = Some((rec.seq(), rec.hash));
            }
        }
        self.write_buf()?;
        let Some(c) = self.chain.as_ref() else {
            return Ok(());
        };
        let sync_now = match self.fsync {
            FsyncPolicy::EveryBatch => true,
            FsyncPolicy::EveryMillis(ms) => c.last_sync.elapsed() >= Duration::from_millis(ms),
            FsyncPolicy::Never => false,
        };
        let since = c.written - c.checkpointed.unwrap_or(0);
        let checkpoint_due = self.checkpoint_records.is_some_and(|n| since >= n)
            || (since > 0
                && self
                    .checkpoint_interval
                    .is_some_and(|i| c.last_checkpoint.elapsed() >= i));
        if checkpoint_due {
            self.checkpoint()?;
        } else if sync_now {
            self.sync_segment()?;
        }
        Ok(())
    }
}

impl Exporter for FileExporter {
    fn name(&self) -> &str {
        "file"
    }

    fn export(&mut self, batch: &[SealedRecord]) -> Result<(), ExportError> {
        if let Some(e) = self.refuse() {
            return Err(e);
        }
        if batch.is_empty() {
            return Ok(());
        }
        self.append(batch).map_err(|e| self.fail(e))
    }

    fn flush(&mut self) -> Result<(), ExportError> {
        if let Some(e) = self.refuse() {
            return Err(e);
        }
        self.sync_segment().map_err(|e| self.fail(e))
    }

    fn idle(&mut self) -> Result<(), ExportError> {
        if let Some(e) = self.refuse() {
            return Err(e);
        }
        let due = self.chain.as_ref().is_some_and(|c| {
            self.checkpoint_interval
                .is_some_and(|i| c.last_checkpoint.elapsed() >= i)
        });
        if due {
            self.checkpoint().map_err(|e| self.fail(e))?;
        }
        Ok(())
    }

    fn shutdown(&mut self) -> Result<(), ExportError> {
        if let Some(e) = self.refuse() {
            return Err(e);
        }
        let due = self
            .chain
            .as_ref()
            .is_some_and(|c| c.checkpointed != Some(c.written));
        let r = if due {
            self.checkpoint()
        } else {
            self.sync_segment()
        };
        r.map_err(|e| self.fail(e))?;
        self.chain = None;
        self.shut = true;
        Ok(())
    }
}
