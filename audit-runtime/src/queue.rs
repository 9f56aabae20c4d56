//! The queue between audited calls and the worker: one lane per producing thread.
//!
//! A shared channel costs every call an allocation (the message), a contended send, and a free
//! of that allocation on the worker's thread; together about 270 ns per call on the benchmark
//! machine, nearly twice the whole budget of an audited call. So each thread that makes audited
//! calls gets its own [`Lane`]: a mutex-guarded `Vec` of entries that only this thread and the
//! worker ever lock. A call appends its state inline (no allocation once the lane's buffer has
//! grown) under an uncontended lock; the worker swaps the whole buffer out for an empty one it
//! recycled earlier, so both sides hold the lock for a few nanoseconds. This is fastrace's
//! per-thread buffer, made reachable by the worker so records of an idle thread are not stuck.
//!
//! Callers do not wake the worker for every record (a futex wake costs microseconds): a lane wakes
//! it when it fills to [`Queue::wake_at`], and otherwise the worker looks every
//! [`POLL_INTERVAL`]. `flush` and shutdown wake it at once.
//!
//! Architecture Invariant: no record is lost silently. A lane holds at most `capacity` entries;
//! when full, the caller waits ([`QueueFull::Block`]) or drops and counts. A lane closed by
//! shutdown counts what arrives after it. A thread whose thread-local storage is already torn
//! down (an audited call in a thread-local destructor) sends through the control channel.
//!
//! Architecture Invariant: the chain's order is the completion order. Within a lane entries are
//! in the order the thread finished them. The worker takes every lane's entries in one cut (it
//! holds all lane locks at once, so a record that causally follows another is never taken
//! without it) and merges the cut by the tick each entry was stamped with on completion.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::thread::Thread;
use std::time::Duration;

use crate::call::{CallHead, CallState};
use crate::clock::Ticks;
use crate::followup::FollowUp;
use crate::install::QueueFull;

/// How often an idle worker looks at the lanes: the longest a record waits in a lane that did
/// not fill up.
pub(crate) const POLL_INTERVAL: Duration = Duration::from_millis(5);

/// Something for the worker to turn into a record.
#[derive(Debug)]
// Inline on purpose: boxing the common variant is the per-call allocation lanes exist to avoid.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Item {
    Call(CallState),
    Started(Box<CallHead>),
    Follow(Box<FollowUp>),
}

/// One slot of a lane: an [`Item`], aligned to a cache line.
///
/// Copying the entry into the lane is the costliest step of an audited call on its caller's
/// thread: under load the lane's memory is not in this core's cache, and each line written must
/// be fetched first. Three whole lines (192 bytes, pinned by a test) instead of a 240-byte entry
/// straddling four or five.
#[derive(Debug)]
#[repr(align(64))]
pub(crate) struct Entry {
    pub(crate) item: Item,
}

impl Entry {
    /// The order key: when the item was completed (a call's end, a `started` record's start, a
    /// follow-up's submission), on the call clock.
    pub(crate) fn tick(&self) -> Ticks {
        match &self.item {
            Item::Call(state) => state.end,
            Item::Started(head) => head.start,
            Item::Follow(f) => f.tick,
        }
    }
}

/// Messages that do not go through lanes.
pub(crate) enum Control {
    /// Export and flush everything submitted before this was sent, then acknowledge.
    Flush(SyncSender<()>),
    /// Take the last records, shut the exporters down, acknowledge and stop.
    Shutdown(SyncSender<()>),
    /// An entry from a thread whose lane is unreachable (thread-local storage torn down).
    Entry(Box<Entry>),
}

/// One producing thread's buffer.
#[derive(Debug)]
pub(crate) struct Lane {
    inner: Mutex<LaneInner>,
}

#[derive(Debug, Default)]
pub(crate) struct LaneInner {
    pub(crate) entries: Vec<Entry>,
    /// Entries ever accepted into this lane (for `AuditStats::submitted`).
    submitted: u64,
    /// Shut down: nothing more is accepted.
    closed: bool,
    /// A thread blocked on a full lane, to wake when the worker empties it.
    waiter: Option<Thread>,
}

impl Lane {
    pub(crate) fn lock(&self) -> MutexGuard<'_, LaneInner> {
        // No code that can panic runs under the lock; a poisoned lane is still consistent.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl LaneInner {
    /// Hand the lane's entries to the worker, leaving `spare` (empty) in their place.
    pub(crate) fn take(&mut self, spare: Vec<Entry>) -> Vec<Entry> {
        if let Some(w) = self.waiter.take() {
            w.unpark();
        }
        std::mem::replace(&mut self.entries, spare)
    }

    pub(crate) fn close(&mut self) {
        self.closed = true;
    }

    pub(crate) fn submitted(&self) -> u64 {
        self.submitted
    }
}

/// The registry of lanes.
#[derive(Debug, Default)]
pub(crate) struct Lanes {
    pub(crate) list: Vec<Arc<Lane>>,
    /// Shut down: no new lanes.
    pub(crate) closed: bool,
    /// `submitted` of lanes already retired (their threads exited and the worker emptied them).
    pub(crate) retired_submitted: u64,
}

/// Entries a new lane has room for before its buffer grows.
const INITIAL_LANE: usize = 64;

/// What a push did, for the caller's counters.
pub(crate) enum Pushed {
    Queued,
    Dropped,
    Closed,
}

/// The queue of one runtime.
#[derive(Debug)]
pub(crate) struct Queue {
    pub(crate) lanes: Mutex<Lanes>,
    control: Sender<Control>,
    worker: OnceLock<Thread>,
    capacity: usize,
    wake_at: usize,
    on_full: QueueFull,
    /// Entries sent through the control channel.
    control_submitted: AtomicU64,
    warned_drop: AtomicBool,
}

impl Queue {
    /// A queue whose lanes hold up to `capacity` entries each; the receiver is the worker's.
    pub(crate) fn new(capacity: usize, on_full: QueueFull) -> (Queue, Receiver<Control>) {
        let (control, rx) = std::sync::mpsc::channel();
        let queue = Queue {
            lanes: Mutex::new(Lanes::default()),
            control,
            worker: OnceLock::new(),
            capacity,
            // A quarter full wakes the worker: early enough that a busy thread rarely blocks,
            // rarely enough that the wake-up's system call is amortized over many records.
            wake_at: (capacity / 4).clamp(1, 1024),
            on_full,
            control_submitted: AtomicU64::new(0),
            warned_drop: AtomicBool::new(false),
        };
        (queue, rx)
    }

    pub(crate) fn set_worker(&self, t: Thread) {
        let _ = self.worker.set(t);
    }

    pub(crate) fn wake(&self) {
        if let Some(t) = self.worker.get() {
            t.unpark();
        }
    }

    #[cold]
    fn is_worker(&self) -> bool {
        self.worker
            .get()
            .is_some_and(|t| t.id() == std::thread::current().id())
    }

    pub(crate) fn lock_lanes(&self) -> MutexGuard<'_, Lanes> {
        self.lanes.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Close every lane and the registry, waking threads blocked on a full lane; returns the
    /// entries left in the lanes (which nobody will take). The worker's exit path: after it,
    /// every submission counts as `after_shutdown` instead of waiting for a worker that is gone.
    pub(crate) fn close_all(&self) -> usize {
        let mut lanes = self.lock_lanes();
        lanes.closed = true;
        let mut stranded = 0;
        for lane in &lanes.list {
            let mut inner = lane.lock();
            inner.closed = true;
            stranded += inner.entries.len();
            if let Some(w) = inner.waiter.take() {
                w.unpark();
            }
        }
        stranded
    }

    /// A new lane for the calling thread, or `None` after shutdown.
    pub(crate) fn register(&self) -> Option<Arc<Lane>> {
        let mut lanes = self.lock_lanes();
        if lanes.closed {
            return None;
        }
        let lane = Arc::new(Lane {
            inner: Mutex::new(LaneInner {
                entries: Vec::with_capacity(self.capacity.min(INITIAL_LANE)),
                ..LaneInner::default()
            }),
        });
        lanes.list.push(lane.clone());
        Some(lane)
    }

    /// Append the item `take` yields to `lane`, waiting for room or dropping it as configured.
    #[inline]
    pub(crate) fn push(&self, lane: &Lane, take: &mut impl FnMut() -> Option<Item>) -> Pushed {
        let mut inner = lane.lock();
        loop {
            if inner.closed {
                drop(take());
                return Pushed::Closed;
            }
            // The worker cannot wait for itself (an exporter that makes audited calls): its own
            // lane takes the entry over capacity rather than deadlock.
            if inner.entries.len() < self.capacity || self.is_worker() {
                if let Some(item) = take() {
                    inner.entries.push(Entry { item });
                }
                inner.submitted += 1;
                let len = inner.entries.len();
                drop(inner);
                if len == self.wake_at {
                    self.wake();
                }
                return Pushed::Queued;
            }
            match self.on_full {
                QueueFull::DropAndCount => {
                    inner.submitted += 1;
                    drop(inner);
                    drop(take());
                    return Pushed::Dropped;
                }
                QueueFull::Block => {
                    inner.waiter = Some(std::thread::current());
                    drop(inner);
                    self.wake();
                    // The worker unparks us when it takes the lane; the timeout only guards
                    // against a worker that has stopped.
                    std::thread::park_timeout(POLL_INTERVAL);
                    inner = lane.lock();
                }
            }
        }
    }

    /// Send `entry` through the control channel (no lane); `false` once the worker is gone.
    pub(crate) fn push_control(&self, entry: Entry) -> bool {
        self.control_submitted.fetch_add(1, Ordering::Relaxed);
        let sent = self.control.send(Control::Entry(Box::new(entry))).is_ok();
        self.wake();
        sent
    }

    /// Send a control message and wake the worker; `false` once the worker is gone.
    pub(crate) fn send(&self, msg: Control) -> bool {
        let sent = self.control.send(msg).is_ok();
        self.wake();
        sent
    }

    /// Whether this is the first drop (to warn once).
    pub(crate) fn first_drop(&self) -> bool {
        // A plain load first: every dropped record asks, and a swap would be a write each time.
        !self.warned_drop.load(Ordering::Relaxed) && !self.warned_drop.swap(true, Ordering::Relaxed)
    }

    /// Entries ever accepted, dropped ones included.
    pub(crate) fn submitted(&self) -> u64 {
        let lanes = self.lock_lanes();
        let live: u64 = lanes.list.iter().map(|l| l.lock().submitted).sum();
        lanes.retired_submitted + live + self.control_submitted.load(Ordering::Relaxed)
    }
}

/// Retire lanes whose thread has exited (only the registry holds them) and that are empty.
pub(crate) fn retire_dead(lanes: &mut Lanes) {
    let mut retired = 0;
    lanes.list.retain(|lane| {
        if Arc::strong_count(lane) > 1 {
            return true;
        }
        let inner = lane.lock();
        if inner.entries.is_empty() {
            retired += inner.submitted;
            false
        } else {
            true
        }
    });
    lanes.retired_submitted += retired;
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::{Item, Pushed, Queue};
    use crate::install::QueueFull;

    #[test]
    fn an_entry_is_three_cache_lines() {
        // See `Entry`: a bigger call state costs every audited call another line.
        assert_eq!(std::mem::size_of::<super::Entry>(), 192);
        assert_eq!(std::mem::align_of::<super::Entry>(), 64);
    }

    fn follow() -> Option<Item> {
        Some(Item::Follow(
            Box::new(crate::followup::FollowUp::for_test()),
        ))
    }

    /// A thread blocked on a full lane is released, and told the record was not taken, when the
    /// worker goes away (here: closes the queue without ever taking the lane).
    #[test]
    fn closing_releases_a_blocked_producer() {
        let (queue, _rx) = Queue::new(1, QueueFull::Block);
        let queue = Arc::new(queue);
        let lane = queue.register().expect("open");
        assert!(matches!(queue.push(&lane, &mut follow), Pushed::Queued));
        let q = queue.clone();
        let l = lane.clone();
        let (done, result) = std::sync::mpsc::channel();
        std::thread::spawn(move || done.send(q.push(&l, &mut follow)));
        assert!(
            result.recv_timeout(Duration::from_millis(50)).is_err(),
            "a full lane must make the producer wait"
        );
        assert_eq!(queue.close_all(), 1);
        // Fail, rather than hang, if closing does not release the producer.
        let pushed = result
            .recv_timeout(Duration::from_secs(10))
            .expect("closing the queue releases the blocked producer");
        assert!(matches!(pushed, Pushed::Closed));
        assert!(queue.register().is_none());
    }
}
