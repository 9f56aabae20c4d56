//! A bounded ring with one producer and one consumer: the lock-free part of a lane
//! ([`crate::queue::Lane`]), and the only code of the queue that needs `unsafe`.
//!
//! The producer ([`Producer`], one per ring) writes the slot at `tail` and publishes it with a
//! `Release` store of `tail`; the consumer ([`Ring::drain_into`]) reads the slots from `head` to
//! the `tail` it loaded with `Acquire` and frees them with a `Release` store of `head`, which
//! the producer loads with `Acquire` before it writes a slot again. No lock, no allocation and
//! no read-modify-write on the producer's path.
//!
//! Positions only grow; position `n` is slot `n & mask`. When the producer finds the ring empty
//! (`head == tail`) past the first `rewind_from` slots of a lap, it *rewinds*: it moves both to
//! the start of the next lap (storing `head` first, then `tail` with the next value), so a
//! producer whose values the consumer keeps up with keeps writing the same few slots, and only
//! the ring's first pages are backed by memory. Readers load `tail` before `head`: a rewind is
//! then never half seen (see [`Ring::waiting`]). The consumer never stores `head` when it found
//! nothing to take, so it cannot undo a rewind.
//!
//! A producer that finds the ring full and means to wait says so first ([`Producer::prepare_wait`])
//! and the consumer reports it with what it took ([`Drained::producer_waits`]); a `SeqCst` fence
//! on each side makes sure that one of the two sees the other, so the waiter is always woken.
//!
//! Architecture Invariant: this module's code is the code the runtime runs, and it is also the
//! code [loom](https://docs.rs/loom/0.7) checks (`cargo xtask loom`, the `loom_tests` below):
//! its atomics, fence, lock and cells come from [`crate::sync`], which is `std` or loom.

use std::mem::MaybeUninit;
use std::ops::Range;
use std::sync::{Arc, PoisonError};

use crate::sync::{AtomicBool, AtomicU64, Mutex, Ordering, UnsafeCell, fence};

/// A value alone on its cache line, so the producer's and the consumer's positions do not share
/// one (each write would take the line from the other core).
#[derive(Debug)]
#[repr(align(64))]
struct Padded<T>(T);

/// A ring of values of type `T` with room for `capacity` of them.
pub(crate) struct Ring<T> {
    /// Position `n` lives in slot `n & mask`; slots of positions in `head..tail` are
    /// initialized, the others are not.
    slots: Box<[UnsafeCell<MaybeUninit<T>>]>,
    mask: u64,
    /// At most `capacity` values wait (`capacity <= slots.len()`).
    capacity: u64,
    /// Past how many slots of a lap a producer that finds the ring empty starts the next lap.
    rewind_from: u64,
    /// The producer's side, on its own cache line.
    produced: Padded<Produced>,
    /// The position after the last value the consumer has taken: slots below it are free
    /// again. Stored by the consumer when it takes values, and by the producer when it rewinds
    /// an empty ring.
    head: Padded<AtomicU64>,
    /// The ring's [`Producer`] exists (there is only ever one).
    claimed: AtomicBool,
    /// The producer waits for room ([`Producer::prepare_wait`]).
    waiting: AtomicBool,
    /// Held while consuming: one consumer at a time, whichever thread it is.
    consumer: Mutex<()>,
}

/// The counters the producer publishes.
#[derive(Debug)]
struct Produced {
    /// The position after the last published value.
    tail: AtomicU64,
    /// Values ever published (positions skipped by rewinds are not values).
    count: AtomicU64,
}

// SAFETY: the slots are the only state that is not `Sync` by itself, and each slot is accessed
// by one side at a time. There is one producer, the ring's `Producer` (handed out once: see
// `claimed`; not `Clone`; its methods take `&mut self`), and one consumer at a time (the
// `consumer` lock). The producer writes slot `tail & mask` only while
// `tail - head < capacity <= slots.len()`, with `head` loaded with `Acquire` after the
// consumer's `Release` store of it (or set by the producer's own rewind of a ring it found
// empty): the consumer has finished with every position below `head`, and no position from
// `head` to `tail - 1` uses that slot. The consumer reads only positions in `head..tail`,
// `tail` loaded with `Acquire` after the producer's `Release` store, and the producer does not
// touch them again before the consumer's `Release` store of `head` past them. Values are moved
// from the producer's thread to the consumer's: `T: Send`. `&Ring` never lends a `&T`, so `T`
// need not be `Sync`.
#[allow(unsafe_code)]
unsafe impl<T: Send> Sync for Ring<T> {}

impl<T> std::fmt::Debug for Ring<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ring")
            .field("slots", &self.slots.len())
            .field("capacity", &self.capacity)
            .field("produced", &self.produced.0)
            .field("head", &self.head.0)
            .finish_non_exhaustive()
    }
}

/// What [`Ring::drain_into`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Drained {
    /// Values moved out.
    pub(crate) taken: usize,
    /// The producer said it waits for room ([`Producer::prepare_wait`]): the caller wakes it.
    pub(crate) producer_waits: bool,
}

impl<T> Ring<T> {
    /// A ring with room for `capacity` values (at least 1, at most 2^62) that rewinds past
    /// `rewind_from` slots of a lap. Its slots take `capacity.next_power_of_two()` times the
    /// size of `T` of address space.
    pub(crate) fn new(capacity: usize, rewind_from: u64) -> Ring<T> {
        assert!(
            (1..=1 << 62).contains(&capacity),
            "ring capacity {capacity}"
        );
        let len = capacity.next_power_of_two();
        Ring {
            slots: (0..len)
                .map(|_| UnsafeCell::new(MaybeUninit::uninit()))
                .collect(),
            mask: len as u64 - 1,
            capacity: capacity as u64,
            rewind_from,
            produced: Padded(Produced {
                tail: AtomicU64::new(0),
                count: AtomicU64::new(0),
            }),
            head: Padded(AtomicU64::new(0)),
            claimed: AtomicBool::new(false),
            waiting: AtomicBool::new(false),
            consumer: Mutex::new(()),
        }
    }

    /// Values ever published.
    pub(crate) fn published(&self) -> u64 {
        self.produced.0.count.load(Ordering::Acquire)
    }

    /// The positions of the values published and not yet taken. `tail` is read first: a
    /// producer's rewind stores `head` before the `tail` that follows it, so with the old
    /// `tail` the range is empty, and with the new one `head` is the new one too.
    fn waiting(&self) -> Range<u64> {
        let tail = self.produced.0.tail.load(Ordering::Acquire);
        let head = self.head.0.load(Ordering::Acquire);
        head..tail.max(head)
    }

    /// Values published and not yet taken (a snapshot: either side may be moving).
    pub(crate) fn waiting_len(&self) -> u64 {
        let r = self.waiting();
        r.end - r.start
    }

    /// Move every published value to `out`, in order. Any thread may consume; consumers take
    /// turns.
    pub(crate) fn drain_into(&self, out: &mut Vec<T>) -> Drained {
        let _turn = self.consumer.lock().unwrap_or_else(PoisonError::into_inner);
        let Range {
            start: head,
            end: tail,
        } = self.waiting();
        if head == tail {
            // Nothing to take, and `head` must not be stored: the producer may be rewinding.
            // Nor can the producer be waiting on this: it waits only for a ring it saw full,
            // and the take that emptied it since looked at its flag.
            return Drained {
                taken: 0,
                producer_waits: false,
            };
        }
        // Before the first move: nothing below may panic between moving a value out and
        // storing `head` past it (a second take would move it again).
        out.reserve((tail - head) as usize);
        for n in head..tail {
            let value = self.slots[(n & self.mask) as usize].with(|slot| {
                // SAFETY: `head <= n < tail`: the producer initialized the slot and published
                // it with the `Release` store of `tail` that `waiting` loaded with `Acquire`;
                // it does not write the slot again before `head` passes `n`. The value is moved
                // out once: this is the only consumer (`_turn`), and `head` passes `n` below.
                #[allow(unsafe_code)]
                unsafe {
                    (*slot).assume_init_read()
                }
            });
            out.push(value);
        }
        self.head.0.store(tail, Ordering::Release);
        // Pairs with the fence in `Producer::prepare_wait`: either the producer loads the new
        // `head` after its fence, or this loads its flag (and what it did before it).
        fence(Ordering::SeqCst);
        Drained {
            taken: (tail - head) as usize,
            producer_waits: self.waiting.load(Ordering::Acquire),
        }
    }

    /// Drop every value published and not yet taken; returns how many.
    pub(crate) fn discard(&self) -> u64 {
        let mut left = Vec::new();
        // Moved out first, so that a value's `drop` that panics cannot leave the rest to be
        // dropped twice.
        let n = self.drain_into(&mut left).taken;
        drop(left);
        n as u64
    }
}

impl<T> Drop for Ring<T> {
    fn drop(&mut self) {
        self.discard();
    }
}

/// What owns a ring: the ring itself, or a value it is a field of (a lane).
///
/// # Safety
///
/// `ring` returns the same ring every time it is called on the same value (a [`Producer`]
/// keeps its positions between calls: they must stay those of one ring).
#[allow(unsafe_code)]
pub(crate) unsafe trait RingOwner {
    type Item;
    fn ring(&self) -> &Ring<Self::Item>;
}

// SAFETY: the ring is `self`.
#[allow(unsafe_code)]
unsafe impl<T> RingOwner for Ring<T> {
    type Item = T;
    fn ring(&self) -> &Ring<T> {
        self
    }
}

/// The producing side of a ring: the only one that writes it (not `Clone`; [`Producer::new`]
/// hands out one per ring).
#[derive(Debug)]
pub(crate) struct Producer<O: RingOwner> {
    owner: Arc<O>,
    /// The next position to write (the ring's `tail`, kept here so pushing does not read it
    /// back).
    tail: u64,
    /// Values published (the ring's `produced.count`).
    count: u64,
    /// The consumer's `head` as last loaded (never ahead of the real one): positions below it
    /// are free. Loaded again when the ring looks full by it, and past the first slots of a lap
    /// to see whether the ring is empty (a rewind).
    head: u64,
}

/// What [`Producer::push_with`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Push {
    /// The value is published.
    Written,
    /// The writer wrote nothing; nothing is published.
    Nothing,
    /// No room by the last loaded `head` ([`Producer::has_room`] loads it again); the writer
    /// was not called.
    Full,
}

impl<O: RingOwner> Producer<O> {
    /// The producer of `owner`'s ring; `None` if that ring already has one.
    pub(crate) fn new(owner: Arc<O>) -> Option<Producer<O>> {
        let ring = owner.ring();
        if ring.claimed.swap(true, Ordering::AcqRel) {
            return None;
        }
        // No producer wrote before: these are the ring's first positions.
        let tail = ring.produced.0.tail.load(Ordering::Acquire);
        let count = ring.produced.0.count.load(Ordering::Acquire);
        Some(Producer {
            tail,
            count,
            head: tail,
            owner,
        })
    }

    /// What owns the ring.
    #[inline]
    pub(crate) fn owner(&self) -> &Arc<O> {
        &self.owner
    }

    /// Whether the ring is full by the last loaded `head` (it may have room by now).
    #[inline]
    pub(crate) fn looks_full(&self) -> bool {
        self.tail - self.head >= self.owner.ring().capacity
    }

    /// Values published and not yet taken by the last loaded `head` (at least the real number).
    #[inline]
    pub(crate) fn backlog(&self) -> u64 {
        self.tail - self.head
    }

    /// Load the consumer's progress again; whether there is room.
    pub(crate) fn has_room(&mut self) -> bool {
        self.head = self.owner.ring().head.0.load(Ordering::Acquire);
        !self.looks_full()
    }

    /// The ring looks full and the caller means to wait until the consumer takes something:
    /// raise the waiting flag (everything the caller did before is visible to a consumer that
    /// sees it), then load the consumer's progress again. `true` if there is still no room:
    /// the consumer's next take that frees a slot reports [`Drained::producer_waits`].
    pub(crate) fn prepare_wait(&mut self) -> bool {
        let ring = self.owner.ring();
        ring.waiting.store(true, Ordering::Release);
        // Pairs with the fence in `Ring::drain_into`, after its store of `head`: of the two
        // loads after the fences (this one of `head`, that one of the flag), at least one sees
        // the other side's store.
        fence(Ordering::SeqCst);
        self.head = ring.head.0.load(Ordering::Acquire);
        self.looks_full()
    }

    /// The wait is over (there is room, or the caller gives up).
    pub(crate) fn end_wait(&self) {
        self.owner.ring().waiting.store(false, Ordering::Relaxed);
    }

    /// Publish the value `write` puts into the next slot. `write` gets the slot and returns the
    /// value it wrote there (`MaybeUninit::write` returns it), or `None` to write nothing.
    #[inline]
    pub(crate) fn push_with<F>(&mut self, write: F) -> Push
    where
        F: for<'s> FnOnce(&'s mut MaybeUninit<O::Item>) -> Option<&'s mut O::Item>,
    {
        let ring = self.owner.ring();
        if self.tail - self.head >= ring.capacity {
            return Push::Full;
        }
        if self.tail & ring.mask >= ring.rewind_from
            && ring.head.0.load(Ordering::Acquire) == self.tail
            // Positions only grow; the lap after the last one that fits in a u64 is never used.
            && let Some(lap) = (self.tail | ring.mask).checked_add(1)
        {
            // Empty: start the next lap. `head` is stored before the `tail` published with the
            // value below (see `Ring::waiting`); the consumer never stores `head` while the ring
            // is empty (`Ring::drain_into`), so it cannot undo this.
            ring.head.0.store(lap, Ordering::Release);
            self.tail = lap;
            self.head = lap;
        }
        let written = ring.slots[(self.tail & ring.mask) as usize].with_mut(|slot| {
            // SAFETY: this is the ring's only producer, and `tail - head < capacity <=
            // slots.len()` with `head` loaded with `Acquire` (in `has_room`, `prepare_wait` or
            // the rewind check above), or set by a rewind of the empty ring, whose slots are
            // all released: the consumer has moved out whatever the slot held and will not read
            // it before the `Release` store of `tail` below, so this is the only reference to
            // the slot. Writing a `MaybeUninit` drops nothing.
            #[allow(unsafe_code)]
            let slot = unsafe { &mut *slot };
            let at: *const O::Item = slot.as_ptr();
            // Only a value in this very slot counts as written: a writer cannot make the
            // consumer read an uninitialized slot by returning some other reference.
            write(slot).is_some_and(|value| std::ptr::eq(value, at))
        });
        if !written {
            return Push::Nothing;
        }
        self.tail += 1;
        self.count += 1;
        ring.produced.0.count.store(self.count, Ordering::Relaxed);
        ring.produced.0.tail.store(self.tail, Ordering::Release);
        Push::Written
    }

    /// The next position to write (tests look at which slot a rewind reuses).
    #[cfg(test)]
    pub(crate) fn next_slot(&self) -> u64 {
        self.tail & self.owner.ring().mask
    }
}

/// A value that checks, when dropped, that it was whole (not read from an uninitialized or
/// reused slot) and counts its drops.
#[cfg(test)]
#[derive(Debug)]
struct Tracked {
    n: u64,
    check: u64,
    drops: Arc<std::sync::atomic::AtomicU64>,
}

#[cfg(test)]
impl Tracked {
    fn new(n: u64, drops: &Arc<std::sync::atomic::AtomicU64>) -> Tracked {
        Tracked {
            n,
            check: !n,
            drops: drops.clone(),
        }
    }
}

#[cfg(test)]
impl Drop for Tracked {
    fn drop(&mut self) {
        assert_eq!(self.check, !self.n, "a torn or uninitialized value");
        self.drops
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

#[cfg(all(test, loom))]
mod loom_tests;

#[cfg(all(test, not(loom)))]
mod tests {
    use std::collections::VecDeque;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    use proptest::prelude::*;

    use super::{Producer, Push, Ring, Tracked};

    fn drops() -> Arc<AtomicU64> {
        Arc::new(AtomicU64::new(0))
    }

    /// Push `n` (loading `head` again if the ring looks full); what `push_with` said.
    fn push(p: &mut Producer<Ring<Tracked>>, n: u64, drops: &Arc<AtomicU64>) -> Push {
        if p.looks_full() {
            p.has_room();
        }
        p.push_with(|slot| Some(slot.write(Tracked::new(n, drops))))
    }

    #[test]
    fn a_ring_has_one_producer() {
        let ring = Arc::new(Ring::<u64>::new(4, 0));
        let first = Producer::new(ring.clone());
        assert!(first.is_some());
        assert!(Producer::new(ring).is_none(), "a second producer");
    }

    /// A writer that writes nothing, or hands back some other value than the one in its slot,
    /// publishes nothing: the consumer never reads a slot the writer did not fill.
    #[test]
    fn only_a_value_written_into_the_slot_is_published() {
        let ring = Arc::new(Ring::<u64>::new(4, 0));
        let mut p = Producer::new(ring.clone()).expect("first producer");
        assert_eq!(p.push_with(|_| None), Push::Nothing);
        let elsewhere: &'static mut u64 = Box::leak(Box::new(7));
        assert_eq!(p.push_with(|_| Some(elsewhere)), Push::Nothing);
        assert_eq!(ring.waiting_len(), 0);
        assert_eq!(p.push_with(|slot| Some(slot.write(9))), Push::Written);
        let mut out = Vec::new();
        assert_eq!(ring.drain_into(&mut out).taken, 1);
        assert_eq!(out, [9]);
        assert_eq!(ring.published(), 1);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Push(u8),
        Drain,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![3 => (1u8..6).prop_map(Op::Push), 1 => Just(Op::Drain)]
    }

    proptest! {
        /// Any sequence of pushes and drains, any capacity and rewind point, against a
        /// `VecDeque` of the same capacity: the same values come out, in order, a push is
        /// refused exactly when the deque is full, and every value is dropped once (taken and
        /// dropped by the test, or dropped with the ring).
        #[test]
        fn the_ring_behaves_as_a_bounded_deque(
            capacity in 1usize..10,
            rewind_from in 0u64..12,
            ops in proptest::collection::vec(op(), 0..200),
        ) {
            let drops = drops();
            let ring = Arc::new(Ring::<Tracked>::new(capacity, rewind_from));
            let mut p = Producer::new(ring.clone()).expect("first producer");
            let mut oracle = VecDeque::new();
            let mut next = 0u64;
            for op in ops {
                match op {
                    Op::Push(k) => {
                        for _ in 0..k {
                            let pushed = push(&mut p, next, &drops);
                            if oracle.len() < capacity {
                                prop_assert_eq!(pushed, Push::Written);
                                oracle.push_back(next);
                            } else {
                                prop_assert_eq!(pushed, Push::Full);
                            }
                            next += 1;
                        }
                    }
                    Op::Drain => {
                        let mut out = Vec::new();
                        let drained = ring.drain_into(&mut out);
                        prop_assert_eq!(drained.taken, out.len());
                        prop_assert!(!drained.producer_waits);
                        let got: Vec<u64> = out.iter().map(|t| t.n).collect();
                        let want: Vec<u64> = oracle.drain(..).collect();
                        prop_assert_eq!(got, want);
                    }
                }
                prop_assert_eq!(ring.waiting_len(), oracle.len() as u64);
            }
            let published = ring.published();
            drop(p);
            drop(ring);
            prop_assert_eq!(drops.load(Ordering::Relaxed), published);
        }
    }

    /// A producer and a consumer on two threads, through a small ring that fills and rewinds
    /// all the time: every value arrives once, in order, whole.
    #[test]
    fn a_producer_and_a_consumer_on_two_threads() {
        const N: u64 = 200_000;
        let drops = drops();
        let ring = Arc::new(Ring::<Tracked>::new(3, 1));
        let mut p = Producer::new(ring.clone()).expect("first producer");
        let d = drops.clone();
        let producer = std::thread::spawn(move || {
            for n in 0..N {
                while push(&mut p, n, &d) == Push::Full {
                    std::thread::yield_now();
                }
            }
        });
        let mut expect = 0u64;
        let mut out = Vec::new();
        while expect < N {
            ring.drain_into(&mut out);
            for t in out.drain(..) {
                assert_eq!(t.n, expect);
                expect += 1;
            }
        }
        producer.join().expect("producer");
        assert_eq!(ring.waiting_len(), 0);
        assert_eq!(drops.load(Ordering::Relaxed), N);
    }

    /// A producer that waits for room the way a lane's does (`prepare_wait`, then park) and a
    /// consumer that wakes it when told: it is never left asleep. The park has no timeout, so
    /// a lost wake-up hangs the test.
    #[test]
    fn a_waiting_producer_is_woken() {
        const N: u64 = 20_000;
        let drops = drops();
        let ring = Arc::new(Ring::<Tracked>::new(1, 0));
        let mut p = Producer::new(ring.clone()).expect("first producer");
        let d = drops.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        let producer = std::thread::spawn(move || {
            tx.send(std::thread::current()).expect("consumer alive");
            let mut parks = 0u64;
            for n in 0..N {
                while push(&mut p, n, &d) == Push::Full {
                    if p.prepare_wait() {
                        parks += 1;
                        std::thread::park();
                    }
                    p.end_wait();
                }
            }
            parks
        });
        let waiter = rx.recv().expect("producer started");
        let mut expect = 0u64;
        let mut out = Vec::new();
        while expect < N {
            if ring.drain_into(&mut out).producer_waits {
                waiter.unpark();
            }
            for t in out.drain(..) {
                assert_eq!(t.n, expect);
                expect += 1;
            }
        }
        let parks = producer.join().expect("producer");
        assert!(
            parks > 0,
            "the producer never waited: the test proves nothing"
        );
        assert_eq!(drops.load(Ordering::Relaxed), N);
    }
}
