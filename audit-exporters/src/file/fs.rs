//! The file-system seam of the file log: a small trait with three implementations.
//!
//! * [`RealFs`]: `std::fs`, `fdatasync` through [`std::fs::File::sync_data`], directory fsync by
//!   opening the directory and syncing it, advisory locks through [`std::fs::File::try_lock`].
//! * [`MemFs`]: files in memory that remember how many bytes were synced and which names a
//!   directory sync made durable, so [`MemFs::crash`] can rebuild the image a power loss would
//!   leave (the technique of redb's `crash_consistency` tests) and [`MemFs::killed`] the image a
//!   `kill -9` leaves (everything the process wrote, synced or not).
//! * [`FaultyFs`]: wraps another implementation and injects failed writes, failed fsyncs, torn
//!   (short-then-failing) writes, a full disk and a process that stops dead after its n-th
//!   mutating operation ([`FaultPlan::crash_after_ops`]), from a shared [`FaultPlan`].
//!
//! What must hold: the writer uses nothing but this trait, so every durability path it has can be
//! driven into failure by a test; `write` may write fewer bytes than asked (as `write(2)` may),
//! and callers loop.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// An open file that the log appends to.
pub trait LogFile: Send + fmt::Debug {
    /// Append some of `buf`; returns how many bytes were written (possibly fewer than asked).
    fn write(&mut self, buf: &[u8]) -> io::Result<usize>;
    /// Make everything written so far durable (`fdatasync`).
    fn sync(&mut self) -> io::Result<()>;
}

/// A readable, seekable file.
pub trait ReadSeek: Read + Seek + Send {}
impl<T: Read + Seek + Send> ReadSeek for T {}

/// Held while a chain is being written; dropping it releases the lock.
pub struct FsLock(#[allow(dead_code)] Box<dyn Send + Sync>);

impl fmt::Debug for FsLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FsLock")
    }
}

/// The file operations the log needs.
pub trait LogFs: Send + Sync + fmt::Debug + 'static {
    /// Create a directory and its parents.
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// Names and sizes of the regular files in `dir` (not recursive).
    fn list(&self, dir: &Path) -> io::Result<Vec<(String, u64)>>;
    /// Create a new file for appending; fails if it exists.
    fn create_new(&self, path: &Path) -> io::Result<Box<dyn LogFile>>;
    /// Open an existing file for appending.
    fn open_append(&self, path: &Path) -> io::Result<Box<dyn LogFile>>;
    /// Open a file for reading.
    fn open_read(&self, path: &Path) -> io::Result<Box<dyn ReadSeek>>;
    /// Cut a file to `len` bytes and sync it.
    fn truncate(&self, path: &Path, len: u64) -> io::Result<()>;
    /// Rename a file (atomically replacing nothing: callers pick fresh names).
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Remove a file (durable after the next [`Self::sync_dir`]).
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// Make the directory's entries (created or renamed names) durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// Take an exclusive advisory lock on an existing file; `Ok(None)` when another holder has it.
    fn try_lock(&self, path: &Path) -> io::Result<Option<FsLock>>;
}

/// The operating system's file system.
#[derive(Debug, Clone, Copy, Default)]
pub struct RealFs;

#[derive(Debug)]
struct RealFile(std::fs::File);

impl LogFile for RealFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }
    fn sync(&mut self) -> io::Result<()> {
        self.0.sync_data()
    }
}

impl LogFs for RealFs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        std::fs::create_dir_all(dir)
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<(String, u64)>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let meta = entry.metadata()?;
            if meta.is_file() {
                out.push((entry.file_name().to_string_lossy().into_owned(), meta.len()));
            }
        }
        out.sort();
        Ok(out)
    }

    fn create_new(&self, path: &Path) -> io::Result<Box<dyn LogFile>> {
        let f = std::fs::OpenOptions::new()
            .append(true)
            .create_new(true)
            .open(path)?;
        Ok(Box::new(RealFile(f)))
    }

    fn open_append(&self, path: &Path) -> io::Result<Box<dyn LogFile>> {
        let f = std::fs::OpenOptions::new().append(true).open(path)?;
        Ok(Box::new(RealFile(f)))
    }

    fn open_read(&self, path: &Path) -> io::Result<Box<dyn ReadSeek>> {
        Ok(Box::new(std::fs::File::open(path)?))
    }

    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        let f = std::fs::OpenOptions::new().write(true).open(path)?;
        f.set_len(len)?;
        f.sync_all()
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        // On Linux a directory opened read-only can be fsynced; that persists its entries.
        std::fs::File::open(dir)?.sync_all()
    }

    fn try_lock(&self, path: &Path) -> io::Result<Option<FsLock>> {
        let f = std::fs::OpenOptions::new().read(true).open(path)?;
        match f.try_lock() {
            Ok(()) => Ok(Some(FsLock(Box::new(f)))),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(e),
        }
    }
}

#[derive(Debug, Default, Clone)]
struct MemFile {
    data: Vec<u8>,
    /// Bytes known durable (written before the last sync).
    synced: usize,
    /// Whether a directory sync has made the name durable since it was created or renamed.
    name_durable: bool,
}

#[derive(Debug, Default)]
struct MemState {
    files: BTreeMap<PathBuf, MemFile>,
    /// Removed files whose removal no directory sync has made durable yet: a power loss brings
    /// them back.
    removed: BTreeMap<PathBuf, MemFile>,
    dirs: BTreeSet<PathBuf>,
    locks: BTreeSet<PathBuf>,
}

/// An in-memory file system that can simulate a crash. Clones share the same files.
#[derive(Debug, Clone, Default)]
pub struct MemFs {
    state: Arc<Mutex<MemState>>,
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("{}: no such file", path.display()),
    )
}

impl MemFs {
    /// An empty file system.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, MemState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The bytes of a file, if it exists.
    pub fn read(&self, path: &Path) -> Option<Vec<u8>> {
        self.lock().files.get(path).map(|f| f.data.clone())
    }

    /// Replace a file's bytes (for tests that tamper or rebuild images); durable at once.
    pub fn write_file(&self, path: &Path, data: Vec<u8>) {
        let synced = data.len();
        self.lock().files.insert(
            path.to_owned(),
            MemFile {
                data,
                synced,
                name_durable: true,
            },
        );
    }

    /// Every file path.
    pub fn paths(&self) -> Vec<PathBuf> {
        self.lock().files.keys().cloned().collect()
    }

    /// The image a power loss would leave: only names a directory sync made durable survive,
    /// each with its synced bytes plus `keep_unsynced(path, unsynced_len)` of the bytes written
    /// after the last sync (clamped), modelling a torn write. Locks are not carried over.
    pub fn crash(&self, keep_unsynced: impl Fn(&Path, usize) -> usize) -> MemFs {
        let st = self.lock();
        let mut files = BTreeMap::new();
        for (path, f) in st.removed.iter().chain(&st.files) {
            if !f.name_durable {
                continue;
            }
            let extra = keep_unsynced(path, f.data.len() - f.synced).min(f.data.len() - f.synced);
            let data = f.data[..f.synced + extra].to_vec();
            let synced = data.len();
            files.insert(
                path.clone(),
                MemFile {
                    data,
                    synced,
                    name_durable: true,
                },
            );
        }
        MemFs {
            state: Arc::new(Mutex::new(MemState {
                files,
                removed: BTreeMap::new(),
                dirs: st.dirs.clone(),
                locks: BTreeSet::new(),
            })),
        }
    }

    /// The image a killed process leaves (`kill -9`, no power loss): every name and every byte
    /// it wrote, synced or not, is in the kernel and stays; only its locks go.
    pub fn killed(&self) -> MemFs {
        let st = self.lock();
        let files = st
            .files
            .iter()
            .map(|(p, f)| {
                let f = MemFile {
                    data: f.data.clone(),
                    synced: f.data.len(),
                    name_durable: true,
                };
                (p.clone(), f)
            })
            .collect();
        MemFs {
            state: Arc::new(Mutex::new(MemState {
                files,
                removed: BTreeMap::new(),
                dirs: st.dirs.clone(),
                locks: BTreeSet::new(),
            })),
        }
    }
}

#[derive(Debug)]
struct MemHandle {
    fs: MemFs,
    path: PathBuf,
}

impl LogFile for MemHandle {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut st = self.fs.lock();
        let f = st
            .files
            .get_mut(&self.path)
            .ok_or_else(|| not_found(&self.path))?;
        f.data.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn sync(&mut self) -> io::Result<()> {
        let mut st = self.fs.lock();
        let f = st
            .files
            .get_mut(&self.path)
            .ok_or_else(|| not_found(&self.path))?;
        f.synced = f.data.len();
        Ok(())
    }
}

struct MemLock {
    fs: MemFs,
    path: PathBuf,
}

impl Drop for MemLock {
    fn drop(&mut self) {
        self.fs.lock().locks.remove(&self.path);
    }
}

impl LogFs for MemFs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.lock().dirs.insert(dir.to_owned());
        Ok(())
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<(String, u64)>> {
        let st = self.lock();
        if !st.dirs.contains(dir) {
            return Err(not_found(dir));
        }
        Ok(st
            .files
            .iter()
            .filter(|(p, _)| p.parent() == Some(dir))
            .filter_map(|(p, f)| {
                p.file_name()
                    .map(|n| (n.to_string_lossy().into_owned(), f.data.len() as u64))
            })
            .collect())
    }

    fn create_new(&self, path: &Path) -> io::Result<Box<dyn LogFile>> {
        let mut st = self.lock();
        if st.files.contains_key(path) {
            return Err(io::Error::new(io::ErrorKind::AlreadyExists, "file exists"));
        }
        st.files.insert(path.to_owned(), MemFile::default());
        Ok(Box::new(MemHandle {
            fs: self.clone(),
            path: path.to_owned(),
        }))
    }

    fn open_append(&self, path: &Path) -> io::Result<Box<dyn LogFile>> {
        if !self.lock().files.contains_key(path) {
            return Err(not_found(path));
        }
        Ok(Box::new(MemHandle {
            fs: self.clone(),
            path: path.to_owned(),
        }))
    }

    fn open_read(&self, path: &Path) -> io::Result<Box<dyn ReadSeek>> {
        let data = self.read(path).ok_or_else(|| not_found(path))?;
        Ok(Box::new(io::Cursor::new(data)))
    }

    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        let mut st = self.lock();
        let f = st.files.get_mut(path).ok_or_else(|| not_found(path))?;
        let len = usize::try_from(len).unwrap_or(usize::MAX).min(f.data.len());
        f.data.truncate(len);
        f.synced = len;
        Ok(())
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut st = self.lock();
        let mut f = st.files.remove(from).ok_or_else(|| not_found(from))?;
        f.name_durable = false;
        st.files.insert(to.to_owned(), f);
        Ok(())
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        let mut st = self.lock();
        let f = st.files.remove(path).ok_or_else(|| not_found(path))?;
        if f.name_durable {
            st.removed.insert(path.to_owned(), f);
        }
        Ok(())
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut st = self.lock();
        for (p, f) in st.files.iter_mut() {
            if p.parent() == Some(dir) {
                f.name_durable = true;
            }
        }
        st.removed.retain(|p, _| p.parent() != Some(dir));
        Ok(())
    }

    fn try_lock(&self, path: &Path) -> io::Result<Option<FsLock>> {
        let mut st = self.lock();
        if !st.files.contains_key(path) {
            return Err(not_found(path));
        }
        if !st.locks.insert(path.to_owned()) {
            return Ok(None);
        }
        Ok(Some(FsLock(Box::new(MemLock {
            fs: self.clone(),
            path: path.to_owned(),
        }))))
    }
}

/// Faults to inject; shared between a test and the [`FaultyFs`] it built.
#[derive(Debug, Clone, Default)]
pub struct FaultPlan {
    /// Writes that succeed before every further write fails with EIO.
    pub fail_writes_after: Option<u64>,
    /// Syncs (file or directory) that succeed before every further sync fails with EIO.
    pub fail_syncs_after: Option<u64>,
    /// The write with this index (0-based, counting every write) writes only `keep` bytes of
    /// its buffer, and every later write fails with EIO: a torn write.
    pub torn_write: Option<(u64, usize)>,
    /// Every write writes at most this many bytes (a legal short write; callers must loop).
    pub max_write: Option<usize>,
    /// Total bytes the disk takes; a write past it writes what fits, then ENOSPC.
    pub capacity: Option<u64>,
    /// Creating files fails with EIO.
    pub fail_create: bool,
    /// The process "dies" after this many mutating operations (create, write, fsync, directory
    /// fsync, truncate, rename, remove; counted from the plan's start): every later one fails
    /// with EIO and changes nothing. The inner file system then holds exactly what a crash at
    /// that point of the write order leaves ([`MemFs::killed`], [`MemFs::crash`]).
    pub crash_after_ops: Option<u64>,
}

#[derive(Debug, Default)]
struct FaultState {
    plan: FaultPlan,
    /// Mutating operations attempted (for [`FaultPlan::crash_after_ops`]).
    ops: u64,
    writes: u64,
    syncs: u64,
    bytes: u64,
    broken: bool,
}

/// A handle to change the faults of a [`FaultyFs`] while it is in use.
#[derive(Debug, Clone, Default)]
pub struct Faults(Arc<Mutex<FaultState>>);

impl Faults {
    /// No faults yet.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, FaultState> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Replace the plan (counters are kept, except the operation count of
    /// [`FaultPlan::crash_after_ops`], which starts again).
    pub fn set(&self, plan: FaultPlan) {
        let mut st = self.lock();
        st.plan = plan;
        st.ops = 0;
    }

    /// Mutating operations attempted since the plan was set.
    pub fn ops(&self) -> u64 {
        self.lock().ops
    }

    /// Count a mutating operation; an error once the process has "died".
    fn op(&self, what: &str) -> io::Result<()> {
        let mut st = self.lock();
        let n = st.ops;
        st.ops += 1;
        if st.plan.crash_after_ops.is_some_and(|after| n >= after) {
            return Err(io::Error::other(format!(
                "injected crash: the process stopped before this {what}"
            )));
        }
        Ok(())
    }

    /// Writes attempted so far.
    pub fn writes(&self) -> u64 {
        self.lock().writes
    }

    /// Syncs attempted so far.
    pub fn syncs(&self) -> u64 {
        self.lock().syncs
    }
}

fn eio(what: &str) -> io::Error {
    io::Error::other(format!("injected I/O error on {what}"))
}

/// ENOSPC as the OS reports it (`io::ErrorKind::StorageFull`).
pub fn enospc() -> io::Error {
    io::Error::from_raw_os_error(28)
}

/// A file system that injects faults into another one.
#[derive(Debug, Clone)]
pub struct FaultyFs<F: LogFs> {
    inner: F,
    faults: Faults,
}

impl<F: LogFs> FaultyFs<F> {
    /// Wrap `inner`; faults come from `faults`.
    pub fn new(inner: F, faults: Faults) -> Self {
        FaultyFs { inner, faults }
    }

    fn sync_fault(&self, what: &str) -> io::Result<()> {
        let mut st = self.faults.lock();
        let n = st.syncs;
        st.syncs += 1;
        if st.plan.fail_syncs_after.is_some_and(|after| n >= after) {
            return Err(eio(what));
        }
        Ok(())
    }
}

#[derive(Debug)]
struct FaultyFile {
    inner: Box<dyn LogFile>,
    faults: Faults,
}

impl LogFile for FaultyFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.faults.op("write")?;
        let mut st = self.faults.lock();
        let n = st.writes;
        st.writes += 1;
        if st.broken || st.plan.fail_writes_after.is_some_and(|after| n >= after) {
            return Err(eio("write"));
        }
        let mut len = buf.len();
        if let Some(max) = st.plan.max_write {
            len = len.min(max.max(1));
        }
        let mut fail_after = None;
        if let Some((at, keep)) = st.plan.torn_write
            && n == at
        {
            len = len.min(keep);
            st.broken = true;
            fail_after = Some(eio("write (torn)"));
        }
        if let Some(cap) = st.plan.capacity {
            let room = usize::try_from(cap.saturating_sub(st.bytes)).unwrap_or(usize::MAX);
            if room == 0 {
                return Err(enospc());
            }
            len = len.min(room);
        }
        st.bytes += len as u64;
        drop(st);
        let written = if len > 0 {
            self.inner.write(&buf[..len])?
        } else {
            0
        };
        match fail_after {
            // The torn write reports its bytes as an error, like a write that failed midway.
            Some(e) => Err(e),
            None => Ok(written),
        }
    }

    fn sync(&mut self) -> io::Result<()> {
        self.faults.op("fsync")?;
        {
            let mut st = self.faults.lock();
            let n = st.syncs;
            st.syncs += 1;
            if st.plan.fail_syncs_after.is_some_and(|after| n >= after) {
                return Err(eio("fsync"));
            }
        }
        self.inner.sync()
    }
}

impl<F: LogFs> LogFs for FaultyFs<F> {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.inner.create_dir_all(dir)
    }
    fn list(&self, dir: &Path) -> io::Result<Vec<(String, u64)>> {
        self.inner.list(dir)
    }
    fn create_new(&self, path: &Path) -> io::Result<Box<dyn LogFile>> {
        self.faults.op("create")?;
        if self.faults.lock().plan.fail_create {
            return Err(eio("create"));
        }
        let inner = self.inner.create_new(path)?;
        Ok(Box::new(FaultyFile {
            inner,
            faults: self.faults.clone(),
        }))
    }
    fn open_append(&self, path: &Path) -> io::Result<Box<dyn LogFile>> {
        let inner = self.inner.open_append(path)?;
        Ok(Box::new(FaultyFile {
            inner,
            faults: self.faults.clone(),
        }))
    }
    fn open_read(&self, path: &Path) -> io::Result<Box<dyn ReadSeek>> {
        self.inner.open_read(path)
    }
    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        self.faults.op("truncate")?;
        self.sync_fault("truncate")?;
        self.inner.truncate(path, len)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.faults.op("rename")?;
        self.inner.rename(from, to)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.faults.op("remove")?;
        self.inner.remove_file(path)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.faults.op("directory fsync")?;
        self.sync_fault("directory fsync")?;
        self.inner.sync_dir(dir)
    }
    fn try_lock(&self, path: &Path) -> io::Result<Option<FsLock>> {
        self.inner.try_lock(path)
    }
}

impl<F: LogFs + ?Sized> LogFs for Arc<F> {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        (**self).create_dir_all(dir)
    }
    fn list(&self, dir: &Path) -> io::Result<Vec<(String, u64)>> {
        (**self).list(dir)
    }
    fn create_new(&self, path: &Path) -> io::Result<Box<dyn LogFile>> {
        (**self).create_new(path)
    }
    fn open_append(&self, path: &Path) -> io::Result<Box<dyn LogFile>> {
        (**self).open_append(path)
    }
    fn open_read(&self, path: &Path) -> io::Result<Box<dyn ReadSeek>> {
        (**self).open_read(path)
    }
    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        (**self).truncate(path, len)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        (**self).rename(from, to)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        (**self).remove_file(path)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        (**self).sync_dir(dir)
    }
    fn try_lock(&self, path: &Path) -> io::Result<Option<FsLock>> {
        (**self).try_lock(path)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn memfs_crash_keeps_synced_bytes_and_durable_names() {
        let fs = MemFs::new();
        let dir = Path::new("/d");
        fs.create_dir_all(dir).unwrap();
        let mut a = fs.create_new(&dir.join("a")).unwrap();
        a.write(b"one\n").unwrap();
        a.sync().unwrap();
        fs.sync_dir(dir).unwrap();
        a.write(b"two\n").unwrap();
        let mut b = fs.create_new(&dir.join("b")).unwrap();
        b.write(b"x").unwrap();
        b.sync().unwrap();
        let img = fs.crash(|_, _| 0);
        assert_eq!(img.read(&dir.join("a")).unwrap(), b"one\n");
        assert!(
            img.read(&dir.join("b")).is_none(),
            "b's name was never made durable"
        );
        let img = fs.crash(|_, n| n / 2);
        assert_eq!(img.read(&dir.join("a")).unwrap(), b"one\ntw");
    }

    #[test]
    fn memfs_removal_is_durable_after_a_directory_sync_and_kill_keeps_everything() {
        let fs = MemFs::new();
        let dir = Path::new("/d");
        let mut a = fs.create_new(&dir.join("a")).unwrap();
        a.write(b"a").unwrap();
        a.sync().unwrap();
        fs.sync_dir(dir).unwrap();
        fs.remove_file(&dir.join("a")).unwrap();
        assert!(fs.read(&dir.join("a")).is_none());
        assert_eq!(fs.crash(|_, _| 0).read(&dir.join("a")).unwrap(), b"a");
        fs.sync_dir(dir).unwrap();
        assert!(fs.crash(|_, _| 0).read(&dir.join("a")).is_none());
        // A name no directory sync made durable, with unsynced bytes: gone after a power loss,
        // there after kill -9.
        let mut b = fs.create_new(&dir.join("b")).unwrap();
        b.write(b"bb").unwrap();
        assert!(fs.crash(|_, n| n).read(&dir.join("b")).is_none());
        assert_eq!(fs.killed().read(&dir.join("b")).unwrap(), b"bb");
    }

    #[test]
    fn faulty_fs_crash_after_ops_stops_every_mutation() {
        let faults = Faults::new();
        let mem = MemFs::new();
        let fs = FaultyFs::new(mem.clone(), faults.clone());
        faults.set(FaultPlan {
            crash_after_ops: Some(2),
            ..FaultPlan::default()
        });
        let mut f = fs.create_new(Path::new("/d/f")).unwrap();
        f.write(b"x").unwrap();
        assert!(f.write(b"y").is_err());
        assert!(f.sync().is_err());
        assert!(fs.sync_dir(Path::new("/d")).is_err());
        assert!(fs.remove_file(Path::new("/d/f")).is_err());
        assert!(fs.create_new(Path::new("/d/g")).is_err());
        assert_eq!(mem.read(Path::new("/d/f")).unwrap(), b"x");
        assert!(mem.read(Path::new("/d/g")).is_none());
        assert_eq!(faults.ops(), 7);
    }

    #[test]
    fn faulty_fs_disk_full_writes_what_fits() {
        let faults = Faults::new();
        faults.set(FaultPlan {
            capacity: Some(5),
            ..FaultPlan::default()
        });
        let mem = MemFs::new();
        let fs = FaultyFs::new(mem.clone(), faults);
        fs.create_dir_all(Path::new("/d")).unwrap();
        let mut f = fs.create_new(Path::new("/d/f")).unwrap();
        assert_eq!(f.write(b"abcdefgh").unwrap(), 5);
        let e = f.write(b"gh").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::StorageFull);
        assert_eq!(mem.read(Path::new("/d/f")).unwrap(), b"abcde");
    }
}
