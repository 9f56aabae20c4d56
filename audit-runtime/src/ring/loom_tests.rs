//! The ring under loom's model checker: every interleaving of a producer and a consumer thread
//! (up to the preemption bound below), and every value each load may return under the memory
//! model, through the ring's own code (`cargo xtask loom`). Loom fails a run on a data race on
//! a slot (an access not ordered after the other side's last one), a deadlock (a producer
//! parked that nobody wakes), or a failed assertion here.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use loom::sync::Mutex;

use super::{Producer, Push, Ring, Tracked};

/// Every interleaving: no preemption bound unless `LOOM_MAX_PREEMPTIONS` sets one. The models
/// are small enough (two threads, two or three values; one more value multiplies the executions past ten minutes) for loom to exhaust them in seconds.
/// Prints how many executions loom explored (`cargo xtask loom` shows it).
fn model(name: &str, f: impl Fn() + Sync + Send + 'static) {
    let runs = Arc::new(AtomicU64::new(0));
    let counted = runs.clone();
    loom::model::Builder::new().check(move || {
        counted.fetch_add(1, Ordering::Relaxed);
        f();
    });
    println!("loom: {name}: {} executions", runs.load(Ordering::Relaxed));
}

/// Push `n`, spinning (with a yield, so loom schedules the consumer) while the ring is full.
fn push_spinning(p: &mut Producer<Ring<Tracked>>, n: u64, drops: &Arc<AtomicU64>) {
    loop {
        match p.push_with(|slot| Some(slot.write(Tracked::new(n, drops)))) {
            Push::Written => return,
            Push::Full => {
                if !p.has_room() {
                    loom::thread::yield_now();
                }
            }
            Push::Nothing => unreachable!("the writer always writes"),
        }
    }
}

/// Take values until `want` have arrived; they must be `0..want` in order, each whole.
fn take_all(ring: &Ring<Tracked>, want: u64) {
    let mut got = Vec::new();
    while (got.len() as u64) < want {
        if ring.drain_into(&mut got).taken == 0 {
            loom::thread::yield_now();
        }
    }
    let ns: Vec<u64> = got.iter().map(|t| t.n).collect();
    assert_eq!(ns, (0..want).collect::<Vec<_>>());
}

/// Capacity 2 and a rewind from the second slot: three values fill the ring, wait for room,
/// and (when the consumer keeps up) rewind to the next lap, all while the consumer takes.
#[test]
fn values_arrive_once_in_order_through_full_and_rewind() {
    model(
        "values_arrive_once_in_order_through_full_and_rewind",
        || {
            let drops = Arc::new(AtomicU64::new(0));
            let ring = Arc::new(Ring::<Tracked>::new(2, 1));
            let mut p = Producer::new(ring.clone()).expect("first producer");
            let d = drops.clone();
            let producer = loom::thread::spawn(move || {
                for n in 0..3 {
                    push_spinning(&mut p, n, &d);
                }
            });
            take_all(&ring, 3);
            producer.join().expect("producer");
            assert_eq!(ring.waiting_len(), 0);
            assert_eq!(drops.load(Ordering::Relaxed), 3, "each value dropped once");
        },
    );
}

/// The rewind on its own: a ring of four slots that rewinds past the first, one value at a
/// time, so the producer finds it empty (and rewinds) or not depending on the interleaving.
#[test]
fn a_rewind_racing_the_consumer_loses_nothing() {
    model("a_rewind_racing_the_consumer_loses_nothing", || {
        let drops = Arc::new(AtomicU64::new(0));
        let ring = Arc::new(Ring::<Tracked>::new(4, 1));
        let mut p = Producer::new(ring.clone()).expect("first producer");
        let d = drops.clone();
        let producer = loom::thread::spawn(move || {
            for n in 0..3 {
                push_spinning(&mut p, n, &d);
            }
        });
        take_all(&ring, 3);
        producer.join().expect("producer");
        assert_eq!(drops.load(Ordering::Relaxed), 3);
    });
}

/// A producer that waits for room the way a lane's does (it leaves its thread where the
/// consumer finds it, `prepare_wait`, then an untimed park) is always woken by a consumer that
/// unparks that thread when `producer_waits` says so: a lost wake-up leaves it parked, which
/// loom reports as a deadlock.
#[test]
fn a_waiting_producer_is_always_woken() {
    model("a_waiting_producer_is_always_woken", || {
        let drops = Arc::new(AtomicU64::new(0));
        let ring = Arc::new(Ring::<Tracked>::new(1, 0));
        let mut p = Producer::new(ring.clone()).expect("first producer");
        let waiter = Arc::new(Mutex::new(None));
        let d = drops.clone();
        let w = waiter.clone();
        let producer = loom::thread::spawn(move || {
            for n in 0..2 {
                while p.push_with(|slot| Some(slot.write(Tracked::new(n, &d)))) == Push::Full {
                    if p.has_room() {
                        continue;
                    }
                    *w.lock().expect("waiter") = Some(loom::thread::current());
                    if p.prepare_wait() {
                        loom::thread::park();
                    }
                    p.end_wait();
                }
            }
        });
        let mut got = Vec::new();
        while got.len() < 2 {
            let drained = ring.drain_into(&mut got);
            if drained.producer_waits
                && let Some(t) = waiter.lock().expect("waiter").take()
            {
                t.unpark();
            }
            if drained.taken == 0 {
                loom::thread::yield_now();
            }
        }
        let ns: Vec<u64> = got.iter().map(|t| t.n).collect();
        assert_eq!(ns, [0, 1]);
        drop(got);
        producer.join().expect("producer");
        assert_eq!(drops.load(Ordering::Relaxed), 2);
    });
}

/// A ring freed with values in it (a lane freed after shutdown) drops each exactly once, the
/// consumer having taken some of them concurrently.
#[test]
fn a_freed_ring_drops_what_is_left_once() {
    model("a_freed_ring_drops_what_is_left_once", || {
        let drops = Arc::new(AtomicU64::new(0));
        let ring = Arc::new(Ring::<Tracked>::new(2, 1));
        let mut p = Producer::new(ring.clone()).expect("first producer");
        let consumer_ring = ring.clone();
        let consumer = loom::thread::spawn(move || {
            let mut got = Vec::new();
            consumer_ring.drain_into(&mut got);
            let ns: Vec<u64> = got.iter().map(|t| t.n).collect();
            assert_eq!(
                ns,
                (0..ns.len() as u64).collect::<Vec<_>>(),
                "a prefix, in order"
            );
        });
        for n in 0..2 {
            assert_eq!(
                p.push_with(|slot| Some(slot.write(Tracked::new(n, &drops)))),
                Push::Written
            );
        }
        consumer.join().expect("consumer");
        drop(p);
        drop(ring);
        assert_eq!(
            drops.load(Ordering::Relaxed),
            2,
            "taken or freed, each once"
        );
    });
}
