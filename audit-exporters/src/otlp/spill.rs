//! The spill file: records the collector could not take yet, on disk, in order.
//!
//! Layout of the spill directory (one exporter process per directory; the data file is locked):
//!
//! ```text
//! otlp-spill.jsonl     sealed record lines, exactly as the file exporter writes them, one per
//!                      line ("\n"-terminated), in chain order
//! otlp-spill.cursor    "<offset>\n" or "<offset> <batch_end> <done>\n": byte offset of the first
//!                      line not yet delivered; optionally a batch [offset, batch_end) whose
//!                      `done` signal (`traces` or `logs`) was already delivered
//! otlp-rejected.jsonl  lines the collector refused permanently (or that failed their hash
//!                      check when read back), kept for inspection and manual re-sending, up
//!                      to `rejected_max_bytes`; lines beyond it are counted, not written
//! ```
//!
//! What must hold:
//! * Order: lines are appended in chain order and delivered from the cursor forwards, and while
//!   the file holds undelivered lines every new record is appended behind them (the delivery
//!   loop never sends newer records from memory first).
//! * No loss: an append is written and `fsync`ed before the records leave memory; a failed
//!   append is cut back to the previous length and reported, and the records stay where they
//!   were.
//! * No duplicates the collector cannot detect: the cursor only moves after the collector
//!   accepted the lines before it, and is itself written with write-to-temp, `fsync`, rename.
//!   A crash between an accepted request and the cursor write re-sends that one batch, with
//!   the same span ids (see `mapping`), so a backend can deduplicate it.
//! * A torn last line (a crash mid-append) is cut off when the file is opened: it was never
//!   acknowledged to the pipeline, whose own file exporter or fallback holds the record.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::config::Signal;

const DATA: &str = "otlp-spill.jsonl";
const CURSOR: &str = "otlp-spill.cursor";
const CURSOR_TMP: &str = "otlp-spill.cursor.tmp";
const REJECTED: &str = "otlp-rejected.jsonl";

/// Why the spill file could not be used.
#[derive(Debug)]
pub enum SpillError {
    /// Another process (or exporter) holds the spill directory.
    Locked(PathBuf),
    /// An I/O error, with what was being done.
    Io(&'static str, PathBuf, io::Error),
    /// An append would grow the file beyond its limit.
    Full {
        /// The limit.
        max_bytes: u64,
    },
}

impl std::fmt::Display for SpillError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SpillError::Locked(p) => write!(
                f,
                "spill file {} is locked by another exporter; give each process its own spill \
                 directory (`AUDIT_OTLP_SPILL_DIR` or `OtlpConfig::spill_dir`)",
                p.display()
            ),
            SpillError::Io(what, p, e) => write!(f, "cannot {what} {}: {e}", p.display()),
            SpillError::Full { max_bytes } => {
                write!(f, "the spill file reached its limit of {max_bytes} bytes")
            }
        }
    }
}

impl std::error::Error for SpillError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SpillError::Io(_, _, e) => Some(e),
            _ => None,
        }
    }
}

/// What opening found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovered {
    /// Undelivered lines found (left by an earlier process or an earlier exporter).
    pub pending_lines: u64,
    /// Bytes of a torn last line that were cut off.
    pub torn_bytes: u64,
}

/// A batch read back from the spill file.
#[derive(Debug)]
pub(crate) struct SpillBatch {
    pub(crate) lines: Vec<String>,
    /// Offset just past the batch.
    pub(crate) end: u64,
    /// A signal already delivered for this batch (persisted partial progress).
    pub(crate) done: Option<Signal>,
    /// How many of the first lines were found in the file when it was opened (left by an
    /// earlier process), as opposed to appended by this one.
    pub(crate) inherited: usize,
}

/// The open spill directory.
#[derive(Debug)]
pub(crate) struct Spill {
    dir: PathBuf,
    data_path: PathBuf,
    data: File,
    cursor: u64,
    len: u64,
    pending: u64,
    partial: Option<(u64, Signal)>,
    max_bytes: u64,
    /// Lines before this offset were in the file when it was opened.
    inherited_end: u64,
    rejected_len: u64,
    rejected_max: u64,
}

fn io_err(what: &'static str, path: &Path) -> impl FnOnce(io::Error) -> SpillError {
    let path = path.to_owned();
    move |e| SpillError::Io(what, path, e)
}

impl Spill {
    /// Open (creating if needed) and lock the spill directory, cut a torn tail, read the cursor.
    pub(crate) fn open(
        dir: &Path,
        max_bytes: u64,
        rejected_max: u64,
    ) -> Result<(Spill, Recovered), SpillError> {
        fs::create_dir_all(dir).map_err(io_err("create spill directory", dir))?;
        let data_path = dir.join(DATA);
        let data = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&data_path)
            .map_err(io_err("open", &data_path))?;
        match data.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => return Err(SpillError::Locked(data_path)),
            Err(fs::TryLockError::Error(e)) => return Err(SpillError::Io("lock", data_path, e)),
        }
        let mut spill = Spill {
            dir: dir.to_owned(),
            data_path,
            data,
            cursor: 0,
            len: 0,
            pending: 0,
            partial: None,
            max_bytes,
            inherited_end: 0,
            rejected_len: fs::metadata(dir.join(REJECTED)).map_or(0, |m| m.len()),
            rejected_max,
        };
        let torn = spill.cut_torn_tail()?;
        let (cursor, partial) = spill.read_cursor();
        if cursor > spill.len {
            // The file was truncated after delivery but the cursor reset did not reach the disk.
            spill.cursor = 0;
            spill.partial = None;
        } else {
            spill.cursor = cursor;
            spill.partial = partial.filter(|(end, _)| *end <= spill.len && *end > cursor);
        }
        spill.pending = spill.count_lines_from(spill.cursor)?;
        if spill.pending == 0 && spill.len > 0 {
            spill.reset()?;
        }
        spill.inherited_end = spill.len;
        let recovered = Recovered {
            pending_lines: spill.pending,
            torn_bytes: torn,
        };
        Ok((spill, recovered))
    }

    fn cut_torn_tail(&mut self) -> Result<u64, SpillError> {
        let p = self.data_path.clone();
        let len = self.data.metadata().map_err(io_err("stat", &p))?.len();
        if len == 0 {
            self.len = 0;
            return Ok(0);
        }
        // Scan back from the end for the last newline, in chunks.
        let mut end = len;
        let mut buf = vec![0u8; 64 * 1024];
        let mut keep = 0;
        'scan: while end > 0 {
            let start = end.saturating_sub(buf.len() as u64);
            let n = usize::try_from(end - start).unwrap_or(buf.len());
            let mut f = &self.data;
            f.seek(SeekFrom::Start(start)).map_err(io_err("seek", &p))?;
            f.read_exact(&mut buf[..n]).map_err(io_err("read", &p))?;
            if let Some(i) = buf[..n].iter().rposition(|&b| b == b'\n') {
                keep = start + i as u64 + 1;
                break 'scan;
            }
            end = start;
        }
        if keep < len {
            self.data
                .set_len(keep)
                .map_err(io_err("truncate the torn tail of", &p))?;
            self.data.sync_all().map_err(io_err("fsync", &p))?;
        }
        self.len = keep;
        Ok(len - keep)
    }

    fn read_cursor(&self) -> (u64, Option<(u64, Signal)>) {
        let Ok(text) = fs::read_to_string(self.dir.join(CURSOR)) else {
            return (0, None);
        };
        let mut it = text.split_whitespace();
        let cursor = it.next().and_then(|s| s.parse().ok()).unwrap_or(0);
        let end = it.next().and_then(|s| s.parse::<u64>().ok());
        let done = match it.next() {
            Some("traces") => Some(Signal::Traces),
            Some("logs") => Some(Signal::Logs),
            _ => None,
        };
        (cursor, end.zip(done))
    }

    fn write_cursor(&self) -> Result<(), SpillError> {
        let tmp = self.dir.join(CURSOR_TMP);
        let text = match self.partial {
            Some((end, done)) => format!("{} {end} {}\n", self.cursor, done.as_str()),
            None => format!("{}\n", self.cursor),
        };
        let mut f = File::create(&tmp).map_err(io_err("create", &tmp))?;
        f.write_all(text.as_bytes())
            .map_err(io_err("write", &tmp))?;
        f.sync_all().map_err(io_err("fsync", &tmp))?;
        let cur = self.dir.join(CURSOR);
        fs::rename(&tmp, &cur).map_err(io_err("rename cursor into", &cur))?;
        if let Ok(d) = File::open(&self.dir) {
            // Make the rename durable; a failure here only risks re-sending one batch.
            let _ = d.sync_all();
        }
        Ok(())
    }

    fn count_lines_from(&self, offset: u64) -> Result<u64, SpillError> {
        let p = &self.data_path;
        let mut f = File::open(p).map_err(io_err("open", p))?;
        f.seek(SeekFrom::Start(offset)).map_err(io_err("seek", p))?;
        let mut r = BufReader::new(f.take(self.len - offset));
        let mut n = 0;
        let mut buf = Vec::new();
        loop {
            buf.clear();
            let k = r.read_until(b'\n', &mut buf).map_err(io_err("read", p))?;
            if k == 0 {
                break;
            }
            n += 1;
        }
        Ok(n)
    }

    /// Whether lines wait for delivery.
    pub(crate) fn has_pending(&self) -> bool {
        self.cursor < self.len
    }

    /// Lines waiting for delivery.
    pub(crate) fn pending(&self) -> u64 {
        self.pending
    }

    /// The data file's path.
    pub(crate) fn path(&self) -> &Path {
        &self.data_path
    }

    /// Append lines (chain order) and `fsync`. Returns the offset just past the last line.
    pub(crate) fn append<'a>(
        &mut self,
        lines: impl Iterator<Item = &'a str>,
    ) -> Result<u64, SpillError> {
        let mut buf = Vec::new();
        let mut n = 0u64;
        for l in lines {
            buf.extend_from_slice(l.as_bytes());
            buf.push(b'\n');
            n += 1;
        }
        if n == 0 {
            return Ok(self.len);
        }
        if self.len + buf.len() as u64 > self.max_bytes {
            return Err(SpillError::Full {
                max_bytes: self.max_bytes,
            });
        }
        let p = self.data_path.clone();
        let res = (&self.data)
            .write_all(&buf)
            .and_then(|()| self.data.sync_data());
        if let Err(e) = res {
            // Cut back whatever reached the file, so no half-written line stays behind.
            let _ = self.data.set_len(self.len);
            return Err(SpillError::Io("append to", p, e));
        }
        self.len += buf.len() as u64;
        self.pending += n;
        Ok(self.len)
    }

    /// Read up to `max` lines from the cursor (exactly the persisted partial batch, when there
    /// is one, so its `done` signal can be skipped).
    pub(crate) fn read_batch(&self, max: usize) -> Result<SpillBatch, SpillError> {
        let p = &self.data_path;
        let (limit, done, max) = match self.partial {
            Some((end, done)) => (end, Some(done), usize::MAX),
            None => (self.len, None, max),
        };
        let mut f = File::open(p).map_err(io_err("open", p))?;
        f.seek(SeekFrom::Start(self.cursor))
            .map_err(io_err("seek", p))?;
        let mut r = BufReader::new(f.take(limit - self.cursor));
        let mut lines = Vec::new();
        let mut end = self.cursor;
        let mut inherited = 0;
        let mut buf = Vec::new();
        while lines.len() < max {
            buf.clear();
            let k = r.read_until(b'\n', &mut buf).map_err(io_err("read", p))?;
            if k == 0 {
                break;
            }
            if end < self.inherited_end {
                inherited += 1;
            }
            end += k as u64;
            if buf.last() == Some(&b'\n') {
                buf.pop();
            }
            lines.push(String::from_utf8_lossy(&buf).into_owned());
        }
        Ok(SpillBatch {
            lines,
            end,
            done,
            inherited,
        })
    }

    /// Persist that one signal of the batch ending at `end` was delivered.
    pub(crate) fn mark_partial(&mut self, end: u64, done: Signal) -> Result<(), SpillError> {
        self.partial = Some((end, done));
        self.write_cursor()
    }

    /// The lines before `end` (`lines` of them) were delivered: move the cursor; when nothing
    /// is left, empty the file.
    pub(crate) fn advance(&mut self, end: u64, lines: u64) -> Result<(), SpillError> {
        self.cursor = end.min(self.len);
        self.pending = self.pending.saturating_sub(lines);
        self.partial = None;
        if self.cursor >= self.len {
            self.reset()
        } else {
            self.write_cursor()
        }
    }

    fn reset(&mut self) -> Result<(), SpillError> {
        let p = self.data_path.clone();
        self.data.set_len(0).map_err(io_err("truncate", &p))?;
        self.data.sync_all().map_err(io_err("fsync", &p))?;
        self.len = 0;
        self.cursor = 0;
        self.pending = 0;
        self.partial = None;
        self.inherited_end = 0;
        self.write_cursor()
    }

    /// Keep lines the collector refused for good (or that failed their check) for inspection,
    /// as many whole lines as fit under `rejected_max`. Returns how many did not fit (the caller
    /// counts and reports them); on an I/O error none was kept.
    pub(crate) fn reject<'a>(
        &mut self,
        lines: impl Iterator<Item = &'a str>,
    ) -> Result<u64, SpillError> {
        let p = self.dir.join(REJECTED);
        let mut buf = Vec::new();
        let mut dropped = 0u64;
        for l in lines {
            let need = l.len() as u64 + 1;
            if dropped > 0 || self.rejected_len + buf.len() as u64 + need > self.rejected_max {
                // Order matters for a reader of the file: once one line is left out, so is
                // every later one of this call.
                dropped += 1;
                continue;
            }
            buf.extend_from_slice(l.as_bytes());
            buf.push(b'\n');
        }
        if buf.is_empty() {
            return Ok(dropped);
        }
        let mut f = OpenOptions::new()
            .append(true)
            .create(true)
            .open(&p)
            .map_err(io_err("open", &p))?;
        f.write_all(&buf)
            .and_then(|()| f.sync_data())
            .map_err(io_err("append to", &p))?;
        self.rejected_len += buf.len() as u64;
        Ok(dropped)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("audit-otlp-spill-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn append_read_advance_and_reopen() {
        let d = dir("basic");
        let (mut s, rec) = Spill::open(&d, 1 << 20, 1 << 20).unwrap();
        assert_eq!(rec, Recovered::default());
        s.append(["a1", "b2", "c3"].into_iter()).unwrap();
        let b = s.read_batch(2).unwrap();
        assert_eq!(b.lines, ["a1", "b2"]);
        s.advance(b.end, 2).unwrap();
        drop(s);
        let (s, rec) = Spill::open(&d, 1 << 20, 1 << 20).unwrap();
        assert_eq!(rec.pending_lines, 1);
        let b = s.read_batch(10).unwrap();
        assert_eq!(b.lines, ["c3"]);
        let mut s = s;
        s.advance(b.end, 1).unwrap();
        assert!(!s.has_pending());
        assert_eq!(
            fs::metadata(d.join(DATA)).unwrap().len(),
            0,
            "drained file is emptied"
        );
    }

    #[test]
    fn torn_tail_is_cut_and_lock_is_exclusive() {
        let d = dir("torn");
        let (mut s, _) = Spill::open(&d, 1 << 20, 1 << 20).unwrap();
        s.append(["one"].into_iter()).unwrap();
        assert!(matches!(
            Spill::open(&d, 1 << 20, 1 << 20),
            Err(SpillError::Locked(_))
        ));
        drop(s);
        OpenOptions::new()
            .append(true)
            .open(d.join(DATA))
            .unwrap()
            .write_all(b"{\"half")
            .unwrap();
        let (s, rec) = Spill::open(&d, 1 << 20, 1 << 20).unwrap();
        assert_eq!(
            rec,
            Recovered {
                pending_lines: 1,
                torn_bytes: 6
            }
        );
        assert_eq!(s.read_batch(10).unwrap().lines, ["one"]);
    }

    #[test]
    fn partial_progress_survives_reopen() {
        let d = dir("partial");
        let (mut s, _) = Spill::open(&d, 1 << 20, 1 << 20).unwrap();
        s.append(["x", "y", "z"].into_iter()).unwrap();
        let b = s.read_batch(2).unwrap();
        s.mark_partial(b.end, Signal::Traces).unwrap();
        drop(s);
        let (s, _) = Spill::open(&d, 1 << 20, 1 << 20).unwrap();
        let b2 = s.read_batch(100).unwrap();
        assert_eq!(b2.lines, ["x", "y"], "the same batch, not more");
        assert_eq!(b2.done, Some(Signal::Traces));
    }

    #[test]
    fn full_spill_refuses_and_keeps_the_file_intact() {
        let d = dir("full");
        let (mut s, _) = Spill::open(&d, 8, 1 << 20).unwrap();
        s.append(["1234"].into_iter()).unwrap();
        assert!(matches!(
            s.append(["5678"].into_iter()),
            Err(SpillError::Full { max_bytes: 8 })
        ));
        assert_eq!(s.read_batch(10).unwrap().lines, ["1234"]);
    }

    #[test]
    fn rejected_file_stops_at_its_cap_and_says_how_many_did_not_fit() {
        let d = dir("rejcap");
        // 3 lines of 4 bytes + newline fit in 16 bytes; the 4th and 5th do not.
        let (mut s, _) = Spill::open(&d, 1 << 20, 16).unwrap();
        assert_eq!(s.reject(["aaaa", "bbbb"].into_iter()).unwrap(), 0);
        assert_eq!(s.reject(["cccc", "dddd", "ee"].into_iter()).unwrap(), 2);
        assert_eq!(
            fs::read_to_string(d.join(REJECTED)).unwrap(),
            "aaaa\nbbbb\ncccc\n"
        );
        drop(s);
        // The cap counts what earlier runs left.
        let (mut s, _) = Spill::open(&d, 1 << 20, 16).unwrap();
        assert_eq!(s.reject(["f"].into_iter()).unwrap(), 1);
    }

    #[test]
    fn lines_left_by_an_earlier_run_are_told_apart_from_new_ones() {
        let d = dir("inherited");
        let (mut s, _) = Spill::open(&d, 1 << 20, 1 << 20).unwrap();
        s.append(["old1", "old2"].into_iter()).unwrap();
        drop(s);
        let (mut s, _) = Spill::open(&d, 1 << 20, 1 << 20).unwrap();
        s.append(["new1"].into_iter()).unwrap();
        let b = s.read_batch(10).unwrap();
        assert_eq!((b.lines.len(), b.inherited), (3, 2));
        s.advance(b.end, 3).unwrap();
        s.append(["new2"].into_iter()).unwrap();
        assert_eq!(s.read_batch(10).unwrap().inherited, 0);
    }
}
