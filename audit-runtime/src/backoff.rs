//! The one retry backoff of the SDK: exponential, with full jitter below a cap.
//!
//! Retry `n` (1-based) waits a uniform time in `[first / 2, min(max, first × 2ⁿ)]`. The
//! pipeline worker uses it between retries of a failing exporter (`max` 5 s) and the OTLP
//! exporter between attempts to reach its collector (`OtlpConfig::backoff`). The random
//! source is the caller's, so the schedule is a pure function and tested as one.

use std::time::Duration;

/// An exponential backoff with full jitter. See the [module docs](self).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The base delay; the shortest wait is half of it.
    pub first: Duration,
    /// The cap: no wait is longer.
    pub max: Duration,
}

impl Backoff {
    /// The wait before retry `retry` (1-based; 0 is treated as 1), drawn from `random`
    /// (any 64 random bits; the draw is `random mod (span + 1)` microseconds).
    pub fn delay(&self, retry: u32, random: u64) -> Duration {
        let ceiling = self
            .first
            .saturating_mul(1u32 << retry.clamp(1, 20))
            .min(self.max);
        let lo = (self.first / 2).min(ceiling);
        let span = u64::try_from(ceiling.saturating_sub(lo).as_micros()).unwrap_or(u64::MAX);
        lo + Duration::from_micros(if span == 0 {
            0
        } else {
            random % span.saturating_add(1)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn the_schedule_doubles_from_twice_first_up_to_the_cap() {
        let b = Backoff {
            first: 100 * MS,
            max: 30_000 * MS,
        };
        // The longest wait of each retry is the largest draw.
        let longest: Vec<u128> = (1..=10)
            .map(|n| b.delay(n, u64::MAX - 1).as_millis())
            .collect();
        // u64::MAX - 1 mod (span + 1) is not span for every span, so check the bound, not equality.
        for (i, ms) in longest.iter().enumerate() {
            let ceiling = (100u128 << (i + 1)).min(30_000);
            assert!(*ms <= ceiling, "retry {} waited {ms} ms > {ceiling}", i + 1);
        }
        // A draw of 0 is the floor, first / 2, for every retry.
        for n in 0..40 {
            assert_eq!(b.delay(n, 0), 50 * MS);
        }
        // The exact ceiling is reachable: random = span.
        assert_eq!(b.delay(1, 150_000), 200 * MS);
        assert_eq!(b.delay(3, 750_000), 800 * MS);
        assert_eq!(b.delay(9, 29_950_000), 30_000 * MS);
        assert_eq!(b.delay(30, 29_950_000), 30_000 * MS);
    }

    #[test]
    fn a_cap_below_the_floor_still_bounds_every_wait() {
        let b = Backoff {
            first: 100 * MS,
            max: 10 * MS,
        };
        for r in [0, 1, 12345, u64::MAX] {
            assert_eq!(b.delay(1, r), 10 * MS);
        }
    }

    proptest! {
        #[test]
        fn every_wait_lies_in_its_jitter_range(
            first_us in 1u64..10_000_000,
            max_us in 1u64..100_000_000,
            retry in 0u32..64,
            random in any::<u64>(),
        ) {
            let b = Backoff {
                first: Duration::from_micros(first_us),
                max: Duration::from_micros(max_us),
            };
            let d = b.delay(retry, random);
            // Oracle in plain integers: ceiling = min(max, first * 2^clamp(retry, 1, 20)).
            let ceiling = (u128::from(first_us) << retry.clamp(1, 20)).min(u128::from(max_us));
            let floor = (u128::from(first_us) / 2).min(ceiling);
            let us = d.as_micros();
            prop_assert!(us <= ceiling, "{us} > ceiling {ceiling}");
            // first / 2 of a Duration keeps nanoseconds; compare in microseconds, floor-rounded.
            prop_assert!(us >= floor, "{us} < floor {floor}");
            prop_assert!(d <= b.max);
        }
    }
}
