//! The clock of audited calls: one cheap tick read when a call starts and one when it ends.
//!
//! A clock read is most of what an audited call costs its caller: on the 2-vCPU KVM machine of
//! `docs/BENCHMARKS.md`, `Instant::now()` and `SystemTime::now()` take about 33 ns each, and the
//! issue's budget for a whole call is 150 ns. So the caller reads a raw [`Ticks`] value and the
//! worker thread turns ticks into Unix nanoseconds and durations:
//!
//! * On x86-64 Linux, when the kernel itself uses the time stamp counter as its clocksource
//!   (`/sys/devices/system/clocksource/clocksource0/current_clocksource` is `tsc`), a tick is
//!   one `RDTSC` (about 12 ns here). The kernel only selects `tsc` after checking that the
//!   counter is invariant (constant rate, running in every power state) and synchronized across
//!   CPUs, which is what makes ticks read on different threads comparable. The rate is calibrated
//!   against the monotonic clock once per process (about 2 ms, at the first install) and refined
//!   by every worker over the process's lifetime.
//! * Everywhere else, or with `AUDIT_CLOCK=std` in the environment, a tick is a nanosecond of
//!   `std::time::Instant` since a process-wide base.
//!
//! Wall-clock time is never read on the caller's thread. The worker re-anchors ticks to
//! `SystemTime` on every round ([`Anchor`]), so a record's `time.start` follows the system clock
//! (NTP steps included) within the worker's round interval. The one caller-side use of wall time,
//! the millisecond field of a UUIDv7 record id, comes from [`approx_unix_nanos`]: a global offset
//! that every worker round refreshes, accurate to well under a millisecond.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A raw reading of the call clock. Only differences of ticks (and [`Anchor`] conversions)
/// mean anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub(crate) struct Ticks(pub(crate) u64);

/// How ticks are made, fixed for the process at the first use.
#[derive(Debug)]
struct Calibration {
    /// Ticks are RDTSC readings (else: nanoseconds since `base_instant`).
    tsc: bool,
    base_instant: Instant,
    /// The tick reading taken together with `base_instant`.
    base_ticks: u64,
    /// Nanoseconds per tick, as first measured (1.0 for `std` ticks).
    initial_ns_per_tick: f64,
    /// The same in 32.32 fixed point, for the callers' integer conversion.
    initial_mult: u64,
}

impl Calibration {
    /// Nanoseconds from the base to tick `t` at the initial rate (0 before the base).
    #[inline]
    fn nanos_since_base(&self, t: u64) -> u64 {
        let ticks = u128::from(t.saturating_sub(self.base_ticks));
        u64::try_from((ticks * u128::from(self.initial_mult)) >> 32).unwrap_or(u64::MAX)
    }
}

/// `rate` nanoseconds per tick in 32.32 fixed point.
fn fixed_point(rate: f64) -> u64 {
    (rate * 4_294_967_296.0).round() as u64
}

static CALIBRATION: OnceLock<Calibration> = OnceLock::new();

/// Unix nanoseconds at `base_ticks` by the initial rate, refreshed by every worker round (see
/// [`approx_unix_nanos`]).
static UNIX_AT_BASE: AtomicU64 = AtomicU64::new(0);

/// How long the first calibration measures the counter's rate against the monotonic clock.
const CALIBRATION_TIME: Duration = Duration::from_millis(2);

fn calibration() -> &'static Calibration {
    CALIBRATION.get_or_init(|| {
        let c = calibrate();
        UNIX_AT_BASE.store(unix_now_nanos(), Ordering::Relaxed);
        c
    })
}

/// Calibrate the clock now (install does this, so no audited call pays for it).
pub(crate) fn init() {
    let _ = calibration();
}

/// Which clock times audited calls in this process: `"tsc"` (the CPU's time stamp counter,
/// calibrated against the monotonic clock) or `"monotonic"` (`std::time::Instant`). Chosen once,
/// at the first install; see the module documentation for how.
pub fn call_clock() -> &'static str {
    if calibration().tsc {
        "tsc"
    } else {
        "monotonic"
    }
}

fn calibrate() -> Calibration {
    let use_tsc = tsc::usable() && std::env::var("AUDIT_CLOCK").as_deref() != Ok("std");
    let base_instant = Instant::now();
    if !use_tsc {
        return Calibration {
            tsc: false,
            base_instant,
            base_ticks: 0,
            initial_ns_per_tick: 1.0,
            initial_mult: fixed_point(1.0),
        };
    }
    let base_ticks = tsc::read();
    // Spin rather than sleep: a sleeping thread may wake late, which lengthens the measurement
    // harmlessly, but spinning keeps it short. The error is two clock reads (~70 ns) over 2 ms.
    let mut now = Instant::now();
    while now.duration_since(base_instant) < CALIBRATION_TIME {
        std::hint::spin_loop();
        now = Instant::now();
    }
    let ticks = tsc::read().wrapping_sub(base_ticks);
    let nanos = now.duration_since(base_instant).as_nanos() as f64;
    let rate = if ticks == 0 {
        1.0
    } else {
        nanos / ticks as f64
    };
    Calibration {
        tsc: true,
        base_instant,
        base_ticks,
        initial_ns_per_tick: rate,
        initial_mult: fixed_point(rate),
    }
}

impl Ticks {
    /// The current tick.
    #[inline]
    pub(crate) fn now() -> Ticks {
        Self::read_with(tsc::read)
    }

    /// The current tick, read after every earlier load and before every later one (the
    /// worker's cut: see `queue`). `Instant::now` is ordered so already (the kernel's vDSO
    /// fences its own counter read).
    pub(crate) fn now_ordered() -> Ticks {
        Self::read_with(tsc::read_ordered)
    }

    /// A tick from the TSC by `read_tsc`, or from `Instant` where ticks are not TSC readings.
    #[inline]
    fn read_with(read_tsc: fn() -> u64) -> Ticks {
        let c = calibration();
        if c.tsc {
            Ticks(read_tsc())
        } else {
            Ticks(saturating_nanos(c.base_instant.elapsed()))
        }
    }
}

fn saturating_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Nanoseconds since the Unix epoch by the system clock (0 before 1970).
pub(crate) fn unix_now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, saturating_nanos)
}

/// Unix nanoseconds at tick `t`, good to well under a millisecond: for the timestamp field of
/// record ids, which the caller needs before the worker sees the call.
#[inline]
pub(crate) fn approx_unix_nanos(t: Ticks) -> u64 {
    UNIX_AT_BASE
        .load(Ordering::Relaxed)
        .saturating_add(calibration().nanos_since_base(t.0))
}

/// The worker's conversion from ticks to Unix time and durations, re-anchored every round.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Anchor {
    ticks: u64,
    unix: u64,
    ns_per_tick: f64,
}

impl Anchor {
    /// Read the clocks now, refine the tick rate over the whole time since calibration, and
    /// refresh the callers' offset for [`approx_unix_nanos`].
    pub(crate) fn now() -> Anchor {
        let c = calibration();
        let unix = unix_now_nanos();
        let mono = Instant::now();
        let ticks = Ticks::now().0;
        let ns_per_tick = if c.tsc {
            let elapsed = ticks.wrapping_sub(c.base_ticks);
            // Over a longer baseline the rate is more precise than the first 2 ms measurement.
            if elapsed > 0 && mono.duration_since(c.base_instant) > CALIBRATION_TIME * 8 {
                mono.duration_since(c.base_instant).as_nanos() as f64 / elapsed as f64
            } else {
                c.initial_ns_per_tick
            }
        } else {
            1.0
        };
        UNIX_AT_BASE.store(
            unix.saturating_sub(c.nanos_since_base(ticks)),
            Ordering::Relaxed,
        );
        Anchor {
            ticks,
            unix,
            ns_per_tick,
        }
    }

    /// Unix nanoseconds at tick `t`.
    pub(crate) fn unix_nanos(&self, t: Ticks) -> u64 {
        // Signed: `t` may be a hair after the anchor when read on another CPU.
        let back = self.ticks.wrapping_sub(t.0) as i64 as f64 * self.ns_per_tick;
        self.unix.saturating_add_signed(-(back as i64))
    }

    /// Nanoseconds from `start` to `end` (0 if `end` is not after `start`).
    pub(crate) fn nanos_between(&self, start: Ticks, end: Ticks) -> u64 {
        let ticks = end.0.saturating_sub(start.0);
        (ticks as f64 * self.ns_per_tick) as u64
    }
}

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod tsc {
    /// Whether the kernel trusts the TSC as its clocksource (invariant and synchronized).
    pub(super) fn usable() -> bool {
        std::fs::read_to_string("/sys/devices/system/clocksource/clocksource0/current_clocksource")
            .is_ok_and(|s| s.trim() == "tsc")
    }

    #[inline]
    #[allow(unsafe_code)]
    pub(super) fn read() -> u64 {
        // SAFETY: RDTSC exists on every x86-64 CPU and neither reads nor writes memory; the
        // intrinsic is `unsafe` only because `core::arch` marks all of its intrinsics so.
        unsafe { core::arch::x86_64::_rdtsc() }
    }

    /// `RDTSC` between fences: not executed before earlier loads and stores complete, and
    /// completed before later instructions start (Intel SDM, `RDTSC`: `MFENCE; LFENCE` before,
    /// `LFENCE` after; the `MFENCE` also covers AMD guests where `LFENCE` is not made
    /// dispatch-serializing). Read once per worker round, so its cost does not matter.
    #[allow(unsafe_code)]
    pub(super) fn read_ordered() -> u64 {
        // SAFETY: as `read`; the fences (SSE2, on every x86-64 CPU) touch no memory either.
        unsafe {
            core::arch::x86_64::_mm_mfence();
            core::arch::x86_64::_mm_lfence();
            let t = core::arch::x86_64::_rdtsc();
            core::arch::x86_64::_mm_lfence();
            t
        }
    }
}

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
mod tsc {
    pub(super) fn usable() -> bool {
        false
    }

    pub(super) fn read() -> u64 {
        0
    }

    pub(super) fn read_ordered() -> u64 {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_measure_sleeps() {
        init();
        let start = Ticks::now();
        std::thread::sleep(Duration::from_millis(20));
        let end = Ticks::now();
        let anchor = Anchor::now();
        let nanos = anchor.nanos_between(start, end);
        assert!(
            (19_000_000..200_000_000).contains(&nanos),
            "a 20 ms sleep measured {nanos} ns"
        );
        assert_eq!(anchor.nanos_between(end, start), 0);
    }

    #[test]
    fn anchors_agree_with_the_system_clock() {
        init();
        let t = Ticks::now();
        let sys = unix_now_nanos();
        let by_anchor = Anchor::now().unix_nanos(t);
        let approx = approx_unix_nanos(t);
        for (what, v) in [("anchor", by_anchor), ("approx", approx)] {
            let diff = v.abs_diff(sys);
            assert!(diff < 5_000_000, "{what} is {diff} ns off the system clock");
        }
    }

    #[test]
    fn ticks_do_not_go_backwards_on_one_thread() {
        init();
        let mut last = Ticks::now();
        for _ in 0..10_000 {
            let t = Ticks::now();
            assert!(t >= last);
            last = t;
        }
    }
}
