//! The queue between audited calls and the worker: one lane per producing thread.
//!
//! A shared channel costs every call an allocation (the message), a contended send, and a free
//! of that allocation on the worker's thread; together about 270 ns per call on the benchmark
//! machine, nearly twice the whole budget of an audited call. So each thread that makes audited
//! calls gets its own [`Lane`]: a fixed ring of entries with one producer (the thread, through
//! its [`Producer`]) and one consumer (the worker). A call writes its state into the next slot
//! and publishes it with one release store: no allocation, no lock, no read-modify-write (the
//! ring is [`crate::ring`], model-checked with loom). A mutex-guarded buffer was the step before this one; its lock and unlock (two atomic
//! read-modify-writes, each waiting for the entry's stores to drain) were about a third of an
//! audited call's cost (`docs/BENCHMARKS.md`). This is fastrace's per-thread buffer, made
//! reachable by the worker so records of an idle thread are not stuck.
//!
//! Callers do not wake the worker for every record (a futex wake costs microseconds): a lane wakes
//! it when it fills to [`Queue::wake_at`], and otherwise the worker looks every
//! [`POLL_INTERVAL`]. `flush` and shutdown wake it at once.
//!
//! Architecture Invariant: no record is lost silently. A lane holds at most `capacity` entries;
//! when full, the caller waits ([`QueueFull::Block`]) or drops and counts. A lane closed by
//! shutdown counts what arrives after it; an entry published by a call that raced with the
//! closing, after the worker's last look, is counted as `after_shutdown` through the registry's
//! weak reference to the lane, and taken back out of the ring by the thread's next (refused)
//! push or when the lane is freed. A thread whose thread-local storage is already torn down
//! (an audited call in a thread-local destructor) sends through the control channel, and so does
//! the worker itself when its own lane is full (it cannot wait for itself).
//!
//! Architecture Invariant: the chain's order never contradicts causality. Within a lane entries
//! are in the order the thread finished them. Lanes are read one after another, not at one
//! instant, so the worker first reads the clock (the *cut*, fenced so it precedes every read of a
//! lane) and seals, in tick order, only the entries stamped at or before it; later ones wait for
//! the next round. If a sealed entry B causally follows an entry A (A's thread published A and
//! then, directly or not, caused B's call), A was published before B was stamped, so before the
//! cut: A is in this round or an earlier one, and its tick is smaller. Two entries sealed out of
//! tick order across rounds are therefore concurrent. (Ticks of different threads are comparable:
//! see [`crate::clock`].) Entries that come through the control channel are read after the lanes
//! for the same reason.
//!
//! Memory: a lane reserves `capacity` slots of [`Entry`] (192 bytes) when its thread first
//! submits; the operating system backs only the pages the ring uses. A producer that finds its
//! ring empty starts the next lap at its first slot (see [`Lane`]), so a thread the worker keeps
//! up with uses a few dozen slots; one that always has records waiting walks, and keeps
//! resident, the whole ring (768 KiB at the default capacity).

use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, Weak};
use std::thread::Thread;
use std::time::Duration;

use crate::call::{CallHead, CallState};
use crate::clock::Ticks;
use crate::followup::FollowUp;
use crate::install::QueueFull;
use crate::ring::{self, Push, Ring, RingOwner};

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
/// Copying the entry into the lane is a large part of an audited call on its caller's thread.
/// Three whole lines (192 bytes, pinned by a test) instead of a 240-byte entry straddling four
/// or five.
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
    /// An entry from a thread whose lane is unreachable (thread-local storage torn down), or
    /// from the worker when its own lane is full.
    Entry(Box<Entry>),
}

/// One producing thread's lane: a [`Ring`] of entries whose producer is the thread (its
/// [`Producer`], in its thread-local storage) and whose consumer is the worker
/// ([`Lane::drain_into`]), plus what the queue needs around it: the closed flag and the thread to
/// wake when it waits for room.
///
/// The ring rewinds to the start of its next lap when its producer finds it empty past the
/// first [`REWIND_FROM`] slots of a lap, so a thread whose records the worker keeps up with
/// keeps writing the same few slots, and only the ring's first pages are backed by memory. A
/// thread that always has records waiting never finds its ring empty: its positions walk the
/// whole lap and the whole ring stays resident.
pub(crate) struct Lane {
    ring: Ring<Entry>,
    /// Shut down: nothing more is accepted.
    closed: AtomicBool,
    /// The producer waiting for room (slow path; see [`Queue::wait_for_room`]).
    waiter: Mutex<Option<Thread>>,
    /// Where a freed lane leaves its counts.
    counts: Arc<LaneCounts>,
}

/// Past how many slots of a lap a producer that finds its ring empty starts the next lap, so a
/// small backlog keeps reusing the same memory (64 entries: 12 KiB).
const REWIND_FROM: u64 = 64;

/// What lanes leave behind when they are freed or reclaimed, for the runtime's statistics.
#[derive(Debug, Default)]
pub(crate) struct LaneCounts {
    /// Entries published into lanes that have since been freed (`AuditStats::submitted`).
    freed_published: AtomicU64,
    /// Entries found in lanes after the worker took them for the last time: published by calls
    /// that raced with shutdown (`AuditStats::after_shutdown`, and `submitted` too), or held by
    /// a worker that stopped on a panic.
    stranded: AtomicU64,
}

// SAFETY: `ring` returns a field of `self`, the same ring on every call.
#[allow(unsafe_code)]
unsafe impl RingOwner for Lane {
    type Item = Entry;
    #[inline]
    fn ring(&self) -> &Ring<Entry> {
        &self.ring
    }
}

impl std::fmt::Debug for Lane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lane")
            .field("ring", &self.ring)
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

impl Lane {
    /// A lane with room for `capacity` entries (validated at install: 1 to 2^20).
    fn new(capacity: usize, counts: Arc<LaneCounts>) -> Lane {
        Lane {
            ring: Ring::new(capacity, REWIND_FROM),
            closed: AtomicBool::new(false),
            waiter: Mutex::new(None),
            counts,
        }
    }

    /// Entries ever published into this lane.
    pub(crate) fn published(&self) -> u64 {
        self.ring.published()
    }

    /// Entries published and not yet taken.
    fn waiting_entries(&self) -> u64 {
        self.ring.waiting_len()
    }

    /// Stop accepting entries and release a producer waiting for room.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.wake_waiter();
    }

    fn wake_waiter(&self) {
        if let Some(t) = self
            .waiter
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            t.unpark();
        }
    }

    /// Move every published entry to `out`, in order; returns how many. The worker's, while
    /// the lane is registered.
    pub(crate) fn drain_into(&self, out: &mut Vec<Entry>) -> usize {
        let drained = self.ring.drain_into(out);
        if drained.producer_waits {
            self.wake_waiter();
        }
        drained.taken
    }

    /// Drop the entries still in the lane (none will be taken again) and count them as
    /// stranded.
    fn discard_waiting(&self) {
        let n = self.ring.discard();
        if n > 0 {
            self.counts.stranded.fetch_add(n, Ordering::Relaxed);
        }
    }
}

impl Drop for Lane {
    fn drop(&mut self) {
        self.discard_waiting();
        self.counts
            .freed_published
            .fetch_add(self.ring.published(), Ordering::Relaxed);
    }
}

/// The producing side of one lane, kept in its thread's thread-local storage: one per lane
/// (see [`ring::Producer`]).
pub(crate) type Producer = ring::Producer<Lane>;

/// The registry of lanes.
#[derive(Debug, Default)]
pub(crate) struct Lanes {
    pub(crate) list: Vec<Arc<Lane>>,
    /// Lanes let go of at shutdown that their threads may still hold: what calls racing with the
    /// shutdown publish into them is counted from here until the lanes are freed.
    released: Vec<Weak<Lane>>,
    /// Shut down: no new lanes.
    pub(crate) closed: bool,
}

impl Lanes {
    /// Close every lane (and the registry): nothing more is accepted.
    pub(crate) fn close(&mut self) {
        self.closed = true;
        for lane in &self.list {
            lane.close();
        }
    }

    /// Let go of every lane (after closing and the last drain): each is freed when its thread
    /// lets go of it too, counting whatever a racing call left in it.
    pub(crate) fn release_all(&mut self) {
        self.released.retain(|l| l.strong_count() > 0);
        self.released
            .extend(self.list.drain(..).map(|l| Arc::downgrade(&l)));
    }

    /// Free lanes whose thread has exited (only the registry holds them) and that are empty.
    pub(crate) fn retire_dead(&mut self) {
        self.list
            .retain(|lane| Arc::strong_count(lane) > 1 || lane.waiting_entries() > 0);
    }
}

/// Where a pushed item comes from: any `FnMut() -> Option<Item>`, or a finished call's state.
pub(crate) trait Source {
    /// The item, if it is still there (`None` once taken).
    fn take(&mut self) -> Option<Item>;

    /// Move the item into `slot`; the entry written there, if there was an item.
    #[inline]
    fn move_into<'s>(&mut self, slot: &'s mut MaybeUninit<Entry>) -> Option<&'s mut Entry> {
        self.take().map(|item| slot.write(Entry { item }))
    }
}

impl<F: FnMut() -> Option<Item>> Source for F {
    #[inline]
    fn take(&mut self) -> Option<Item> {
        self()
    }
}

/// A finished call's state, moved from its guard into the lane with one copy. (`Option::take`
/// copies the state out before writing `None` in its place, then the write copies it again: two
/// copies of 192 bytes, ~4 % of an audited call.)
pub(crate) struct CallSource<'a>(pub(crate) &'a mut Option<CallState>);

impl Source for CallSource<'_> {
    fn take(&mut self) -> Option<Item> {
        self.0.take().map(Item::Call)
    }

    #[inline]
    fn move_into<'s>(&mut self, slot: &'s mut MaybeUninit<Entry>) -> Option<&'s mut Entry> {
        let state: *const CallState = self.0.as_ref()?;
        // SAFETY: `state` is valid and is read once, straight into the slot; `None` then takes
        // its place without dropping it, so the value has moved (the `Option` no longer owns
        // it). Neither step can panic in between.
        #[allow(unsafe_code)]
        unsafe {
            let entry = slot.write(Entry {
                item: Item::Call(std::ptr::read(state)),
            });
            std::ptr::write(self.0, None);
            Some(entry)
        }
    }
}

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
    wake_at: u64,
    on_full: QueueFull,
    /// Entries sent through the control channel.
    control_submitted: AtomicU64,
    /// What freed and reclaimed lanes left behind.
    counts: Arc<LaneCounts>,
    warned_drop: crate::diag::WarnOnce,
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
            wake_at: (capacity / 4).clamp(1, 1024) as u64,
            on_full,
            control_submitted: AtomicU64::new(0),
            counts: Arc::default(),
            warned_drop: crate::diag::WarnOnce::new(),
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

    /// Close every lane and the registry, waking threads blocked on a full lane, and let go of
    /// the lanes; returns the entries left in them (which nobody will take; they count as
    /// `after_shutdown`). The worker's exit path: after it, every submission counts as
    /// `after_shutdown` instead of waiting for a worker that is gone.
    pub(crate) fn close_all(&self) -> u64 {
        let mut lanes = self.lock_lanes();
        lanes.close();
        let stranded = lanes.list.iter().map(|l| l.waiting_entries()).sum();
        lanes.release_all();
        stranded
    }

    /// Entries accepted into lanes that no worker will take: left in lanes after the last
    /// drain (still held by their threads, or already discarded and counted).
    pub(crate) fn stranded(&self) -> u64 {
        let lanes = self.lock_lanes();
        let held: u64 = lanes
            .released
            .iter()
            .filter_map(Weak::upgrade)
            .map(|l| l.waiting_entries())
            .sum();
        held + self.counts.stranded.load(Ordering::Relaxed)
    }

    /// Count `n` entries the worker held and will never seal (it is stopping on a panic).
    pub(crate) fn count_stranded(&self, n: u64) {
        self.counts.stranded.fetch_add(n, Ordering::Relaxed);
    }

    /// A closed lane's producer takes back what a call racing with shutdown left in it. Once
    /// the registry's lock is held, the closing (which closed the lane under that lock) is over
    /// and has let go of the lane, so no worker reads it again.
    #[cold]
    #[inline(never)]
    fn reclaim(&self, p: &Producer) {
        let lanes = self.lock_lanes();
        if !lanes.list.iter().any(|l| Arc::ptr_eq(l, p.owner())) {
            p.owner().discard_waiting();
        }
    }

    /// A new lane for the calling thread, or `None` after shutdown.
    pub(crate) fn register(&self) -> Option<Producer> {
        let mut lanes = self.lock_lanes();
        if lanes.closed {
            return None;
        }
        let lane = Arc::new(Lane::new(self.capacity, self.counts.clone()));
        lanes.list.push(lane.clone());
        // A new lane has no producer yet: this is `Some`.
        Producer::new(lane)
    }

    /// Append the item `src` holds to the producer's lane, waiting for room or dropping it as
    /// configured.
    #[inline]
    pub(crate) fn push(&self, p: &mut Producer, src: &mut impl Source) -> Pushed {
        if p.owner().closed.load(Ordering::Acquire) {
            drop(src.take());
            self.reclaim(p);
            return Pushed::Closed;
        }
        if p.looks_full()
            && let Err(pushed) = self.wait_for_room(p, src)
        {
            return pushed;
        }
        match p.push_with(|slot| src.move_into(slot)) {
            Push::Written => {
                if p.backlog() == self.wake_at {
                    self.wake();
                }
                Pushed::Queued
            }
            Push::Nothing => Pushed::Queued,
            // Not after `wait_for_room` found room; counted rather than lost if it ever were.
            Push::Full => {
                drop(src.take());
                Pushed::Dropped
            }
        }
    }

    /// The lane looks full: read the worker's progress again and, if it is really full, wait or
    /// drop as configured. `Ok` when there is room.
    #[cold]
    #[inline(never)]
    fn wait_for_room(&self, p: &mut Producer, src: &mut impl Source) -> Result<(), Pushed> {
        let lane = p.owner().clone();
        loop {
            if lane.closed.load(Ordering::SeqCst) {
                p.end_wait();
                drop(src.take());
                return Err(Pushed::Closed);
            }
            if p.has_room() {
                p.end_wait();
                return Ok(());
            }
            if self.is_worker() {
                // The worker cannot wait for itself (an exporter that makes audited calls).
                let sent = src
                    .take()
                    .is_none_or(|item| self.push_control(Entry { item }));
                return Err(if sent { Pushed::Queued } else { Pushed::Closed });
            }
            match self.on_full {
                QueueFull::DropAndCount => {
                    drop(src.take());
                    return Err(Pushed::Dropped);
                }
                QueueFull::Block => {
                    // Before the flag `prepare_wait` raises: a drain that sees the flag finds
                    // the thread to wake, and so does a `close` that comes after this.
                    *lane.waiter.lock().unwrap_or_else(PoisonError::into_inner) =
                        Some(std::thread::current());
                    if p.prepare_wait() && !lane.closed.load(Ordering::SeqCst) {
                        self.wake();
                        // The timeout only guards against a worker that has stopped.
                        std::thread::park_timeout(POLL_INTERVAL);
                    }
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
        // Every dropped record asks; `first` reads before it writes.
        self.warned_drop.first()
    }

    /// Entries ever accepted into lanes or the control channel (dropped ones not included).
    pub(crate) fn submitted(&self) -> u64 {
        let lanes = self.lock_lanes();
        let live: u64 = lanes.list.iter().map(|l| l.published()).sum();
        let released: u64 = lanes
            .released
            .iter()
            .filter_map(Weak::upgrade)
            .map(|l| l.published())
            .sum();
        live + released
            + self.counts.freed_published.load(Ordering::Relaxed)
            + self.control_submitted.load(Ordering::Relaxed)
    }
}

/// Split a round's entries into those to seal now, in completion order (by tick; the sort is
/// stable, so ties keep their positions and a lane its own order), and those stamped after
/// `cut`, to keep for the next round. With no cut (the last round), everything is sealed.
pub(crate) fn in_order_until(
    mut entries: Vec<Entry>,
    cut: Option<Ticks>,
) -> (Vec<Entry>, Vec<Entry>) {
    // Each lane's entries are a sorted run already; the stable sort merges the runs.
    entries.sort_by_key(Entry::tick);
    let now = cut.map_or(entries.len(), |cut| {
        entries.partition_point(|e| e.tick() <= cut)
    });
    let later = entries.split_off(now);
    (entries, later)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::{Entry, Item, Pushed, Queue};
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
        let mut producer = queue.register().expect("open");
        assert!(matches!(
            queue.push(&mut producer, &mut follow),
            Pushed::Queued
        ));
        let q = queue.clone();
        let (done, result) = std::sync::mpsc::channel();
        std::thread::spawn(move || done.send(q.push(&mut producer, &mut follow)));
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

    /// Entries go through the ring in order, many times round it, and a drained lane frees its
    /// slots for the producer.
    #[test]
    fn the_ring_keeps_order_across_wraps() {
        let (queue, _rx) = Queue::new(3, QueueFull::DropAndCount);
        let mut producer = queue.register().expect("open");
        let lane = queue.lock_lanes().list[0].clone();
        let mut out = Vec::new();
        let mut next = 0u64;
        for round in 0..10u64 {
            for _ in 0..3 {
                next += 1;
                assert!(matches!(
                    push_tick(&queue, &mut producer, next),
                    Pushed::Queued
                ));
            }
            // Full: the fourth is dropped (and dropped on the caller's side).
            assert!(matches!(
                push_tick(&queue, &mut producer, 0),
                Pushed::Dropped
            ));
            assert_eq!(lane.drain_into(&mut out), 3, "round {round}");
        }
        let ticks: Vec<u64> = out.iter().map(|e| e.tick().0).collect();
        assert_eq!(ticks, (1..=30).collect::<Vec<_>>());
        assert_eq!(queue.submitted(), 30);
    }

    /// Entries still in a lane when it is freed are dropped and counted, not leaked or lost.
    #[test]
    fn a_freed_lane_counts_what_it_held() {
        let (queue, _rx) = Queue::new(8, QueueFull::Block);
        let mut producer = queue.register().expect("open");
        for n in 1..=2 {
            assert!(matches!(
                push_tick(&queue, &mut producer, n),
                Pushed::Queued
            ));
        }
        assert_eq!(queue.close_all(), 2);
        // Still held by the producer: counted through the registry's weak reference.
        assert_eq!(queue.stranded(), 2);
        assert_eq!(queue.submitted(), 2);
        drop(producer);
        assert_eq!(queue.stranded(), 2);
        assert_eq!(queue.submitted(), 2);
    }

    /// A call that passed the closed check before the shutdown closed its lane publishes after
    /// the worker's last look: it is counted as stranded at once (through the registry), and
    /// the producer's next push, refused, takes it back out of the ring.
    #[test]
    fn a_push_racing_shutdown_is_counted_and_reclaimed() {
        let (queue, _rx) = Queue::new(8, QueueFull::Block);
        let mut producer = queue.register().expect("open");
        let lane = queue.lock_lanes().list[0].clone();
        // The worker's closing round: close, last drain, let go.
        {
            let mut lanes = queue.lock_lanes();
            lanes.close();
            let mut out = Vec::new();
            lane.drain_into(&mut out);
            lanes.release_all();
        }
        // The racing call: it checked `closed` before the round, so it writes and publishes.
        let mut item = Some(tick_item(1));
        assert_eq!(
            producer.push_with(|slot| item.take().map(|item| slot.write(Entry { item }))),
            super::Push::Written
        );
        assert_eq!(
            queue.stranded(),
            1,
            "counted while its thread still holds the lane"
        );
        assert_eq!(queue.submitted(), 1);
        assert!(matches!(
            push_tick(&queue, &mut producer, 2),
            Pushed::Closed
        ));
        assert_eq!(lane.waiting_entries(), 0, "reclaimed by the refused push");
        drop(lane);
        drop(producer);
        assert_eq!(queue.stranded(), 1, "counted once");
        assert_eq!(queue.submitted(), 1);
    }

    /// The race the cut exists for: the worker reads lane A (empty), then A publishes a record
    /// and B publishes one that follows it, then the worker reads lane B. The round must hold
    /// B back (it was stamped after the cut), and the next round seals A before B.
    #[test]
    fn a_record_read_before_its_cause_waits_for_it() {
        let (queue, _rx) = Queue::new(8, QueueFull::Block);
        let mut a = queue.register().expect("open");
        let mut b = queue.register().expect("open");
        let (lane_a, lane_b) = {
            let lanes = queue.lock_lanes();
            (lanes.list[0].clone(), lanes.list[1].clone())
        };
        let cut = crate::clock::Ticks(100);
        let mut round = Vec::new();
        lane_a.drain_into(&mut round);
        assert!(matches!(push_tick(&queue, &mut a, 101), Pushed::Queued));
        assert!(matches!(push_tick(&queue, &mut b, 102), Pushed::Queued));
        lane_b.drain_into(&mut round);
        let (sealed, held) = super::in_order_until(round, Some(cut));
        assert!(sealed.is_empty(), "the effect is sealed without its cause");
        assert_eq!(held.len(), 1);

        let mut next = held;
        lane_a.drain_into(&mut next);
        lane_b.drain_into(&mut next);
        let (sealed, held) = super::in_order_until(next, Some(crate::clock::Ticks(200)));
        let ticks: Vec<u64> = sealed.iter().map(|e| e.tick().0).collect();
        assert_eq!(ticks, [101, 102]);
        assert!(held.is_empty());
    }

    /// Ties keep their positions (a lane's own order); the last round seals everything.
    #[test]
    fn ties_keep_lane_order_and_the_last_round_takes_all() {
        let entries: Vec<Entry> = [5, 3, 5, 9]
            .into_iter()
            .enumerate()
            .map(|(i, t)| {
                let mut f = crate::followup::FollowUp::for_test();
                f.tick = crate::clock::Ticks(t);
                f.attributes.insert("i".into(), i.into());
                Entry {
                    item: Item::Follow(Box::new(f)),
                }
            })
            .collect();
        let (sealed, held) = super::in_order_until(entries, None);
        assert!(held.is_empty());
        let positions: Vec<u64> = sealed
            .iter()
            .filter_map(|e| match &e.item {
                Item::Follow(f) => f.attributes["i"].as_u64(),
                _ => None,
            })
            .collect();
        assert_eq!(positions, [1, 0, 2, 3]);
    }

    /// A producer whose backlog stays small rewinds to the start of the ring each time it finds
    /// it empty past `REWIND_FROM` slots, instead of walking (and backing with memory) every
    /// slot; entries still come out in order, counts stay exact, and a backlog that is not
    /// drained still gets the whole capacity.
    #[test]
    fn a_small_backlog_reuses_the_start_of_the_ring() {
        let (queue, _rx) = Queue::new(1024, QueueFull::DropAndCount);
        let mut producer = queue.register().expect("open");
        let lane = queue.lock_lanes().list[0].clone();
        let mut out = Vec::new();
        let mut next = 0u64;
        for _ in 0..200 {
            for _ in 0..10 {
                next += 1;
                assert!(matches!(
                    push_tick(&queue, &mut producer, next),
                    Pushed::Queued
                ));
                assert!(
                    producer.next_slot() < super::REWIND_FROM + 10,
                    "slot {} used with a backlog of at most 10",
                    producer.next_slot()
                );
            }
            assert_eq!(lane.drain_into(&mut out), 10);
        }
        let ticks: Vec<u64> = out.iter().map(|e| e.tick().0).collect();
        assert_eq!(ticks, (1..=2000).collect::<Vec<_>>());
        assert_eq!(queue.submitted(), 2000);
        assert_eq!(lane.waiting_entries(), 0);
        // Undrained, the lane still takes `capacity` entries, then drops.
        for n in 0..1024 {
            assert!(matches!(
                push_tick(&queue, &mut producer, 10_000 + n),
                Pushed::Queued
            ));
        }
        assert!(matches!(
            push_tick(&queue, &mut producer, 0),
            Pushed::Dropped
        ));
        out.clear();
        assert_eq!(lane.drain_into(&mut out), 1024);
        assert!(out.windows(2).all(|w| w[0].tick() < w[1].tick()));
    }

    /// The consumer and a rewinding producer on two threads: nothing lost, duplicated or out
    /// of order.
    #[test]
    fn rewinds_race_with_the_consumer_safely() {
        let (queue, _rx) = Queue::new(256, QueueFull::Block);
        let queue = Arc::new(queue);
        let mut producer = queue.register().expect("open");
        let lane = queue.lock_lanes().list[0].clone();
        const N: u64 = 200_000;
        let q = queue.clone();
        let pusher = std::thread::spawn(move || {
            for n in 1..=N {
                assert!(matches!(push_tick(&q, &mut producer, n), Pushed::Queued));
                if n % 97 == 0 {
                    std::thread::yield_now();
                }
            }
            producer
        });
        let mut out = Vec::new();
        let mut expect = 1u64;
        while expect <= N {
            out.clear();
            lane.drain_into(&mut out);
            for e in &out {
                assert_eq!(e.tick().0, expect);
                expect += 1;
            }
        }
        let producer = pusher.join().expect("pusher");
        assert_eq!(queue.submitted(), N);
        drop(producer);
    }

    /// Push a follow-up entry stamped `tick`.
    fn push_tick(queue: &Queue, p: &mut super::Producer, tick: u64) -> Pushed {
        let mut item = Some(tick_item(tick));
        queue.push(p, &mut || item.take())
    }

    fn tick_item(tick: u64) -> Item {
        let mut f = crate::followup::FollowUp::for_test();
        f.tick = crate::clock::Ticks(tick);
        Item::Follow(Box::new(f))
    }
}
