//! A scope's live rate: the configured quota, slowed down to what the server
//! says or shows it allows.
//!
//! - **Learned.** Together's `x-ratelimit-limit` header gives the requests
//!   per second the server allows this key and model. When it is below the
//!   configured quota, the scope paces to it (rate and burst); a configured
//!   quota is never exceeded.
//! - **Cut on 429, raised slowly.** A 429 halves the rate (at most once per
//!   pause, so a burst of 429s from one window counts once); each success
//!   then raises it by 1 % of the target rate, up to the target (additive
//!   increase, multiplicative decrease).
//!
//! Rates are kept as emission intervals in nanoseconds, in atomics: waiters
//! read them on every grant, so a change applies to the next grant with no
//! wake-up storm.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use super::gcra::Pacing;
use super::Quota;

/// The slowest a 429 can push a scope: 1/64 of its target rate.
const MAX_SLOWDOWN: u64 = 64;

/// Each success raises the rate by 1/`RECOVERY_STEPS` of the target rate.
const RECOVERY_STEPS: f64 = 100.0;

#[derive(Debug)]
pub(crate) struct Pace {
    configured_interval: u64,
    configured_burst: u32,
    /// The interval to pace at when all is well: the configured one, or the
    /// server's if slower.
    target: AtomicU64,
    /// The interval paced at now: `target`, or slower after a 429.
    current: AtomicU64,
    burst: AtomicU32,
}

impl Pace {
    pub(crate) fn new(quota: Quota) -> Pace {
        // At least 1 ns: `Quota` refuses rates above 10^9/s, so this only guards.
        let interval = u64::try_from(quota.emission_interval().as_nanos())
            .unwrap_or(u64::MAX)
            .max(1);
        Pace {
            configured_interval: interval,
            configured_burst: quota.burst_size(),
            target: AtomicU64::new(interval),
            current: AtomicU64::new(interval),
            burst: AtomicU32::new(quota.burst_size()),
        }
    }

    /// The emission interval (ns) and burst to pace by now.
    #[inline]
    pub(crate) fn get(&self) -> Pacing {
        Pacing {
            interval: self.current.load(Ordering::Relaxed),
            burst: self.burst.load(Ordering::Relaxed),
        }
    }

    /// Whether a 429 has cut the rate below its target and it has not
    /// recovered yet: state worth keeping.
    pub(crate) fn is_cut(&self) -> bool {
        self.current.load(Ordering::Relaxed) > self.target.load(Ordering::Relaxed)
    }

    /// The server allows `per_second` requests a second.
    pub(crate) fn learn(&self, per_second: f64) {
        if !per_second.is_finite() || per_second <= 0.0 {
            return;
        }
        let server = (1e9 / per_second).ceil();
        let server = if server >= u64::MAX as f64 {
            u64::MAX
        } else {
            server as u64
        };
        let target = server.max(self.configured_interval);
        // Slower: at once. Faster (the server raised it): step by step, as
        // after a 429, through `succeeded`.
        self.target.store(target, Ordering::Relaxed);
        self.current.fetch_max(target, Ordering::Relaxed);
        let burst = (per_second.floor() as u32).clamp(1, self.configured_burst);
        self.burst.store(burst, Ordering::Relaxed);
    }

    /// A 429 came back: halve the rate.
    pub(crate) fn throttled(&self) {
        let floor = self
            .target
            .load(Ordering::Relaxed)
            .saturating_mul(MAX_SLOWDOWN);
        let _ = self
            .current
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |current| {
                Some(current.saturating_mul(2).min(floor).max(current))
            });
    }

    /// A request went through: raise the rate a step, if it was cut.
    pub(crate) fn succeeded(&self) {
        let target = self.target.load(Ordering::Relaxed);
        let current = self.current.load(Ordering::Relaxed);
        if current <= target {
            return;
        }
        let rate = 1e9 / current as f64 + 1e9 / target as f64 / RECOVERY_STEPS;
        let next = ((1e9 / rate) as u64).max(target);
        // Lost races only delay recovery by a step.
        let _ = self
            .current
            .compare_exchange(current, next, Ordering::Relaxed, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pacing(interval: u64, burst: u32) -> Pacing {
        Pacing { interval, burst }
    }

    #[test]
    fn a_slower_server_limit_is_adopted_and_a_faster_one_ignored() {
        let pace = Pace::new(Quota::per_second(20));
        pace.learn(10.0);
        assert_eq!(pace.get(), pacing(100_000_000, 10));
        pace.learn(1000.0);
        assert_eq!(pace.get().burst, 20);
        for _ in 0..200 {
            pace.succeeded();
        }
        assert_eq!(
            pace.get(),
            pacing(50_000_000, 20),
            "never faster than configured"
        );
        for bad in [0.0, -3.0, f64::NAN, f64::INFINITY] {
            pace.learn(bad);
            assert_eq!(pace.get(), pacing(50_000_000, 20));
        }
    }

    #[test]
    fn fractional_limits_become_slow_intervals() {
        let pace = Pace::new(Quota::per_second(5));
        pace.learn(0.15); // 9 per minute
        assert_eq!(pace.get(), pacing(6_666_666_667, 1));
    }

    #[test]
    fn a_429_halves_the_rate_and_successes_restore_it() {
        let pace = Pace::new(Quota::per_second(10));
        pace.throttled();
        assert_eq!(pace.get().interval, 200_000_000);
        let mut steps = 0;
        while pace.get().interval > 100_000_000 {
            pace.succeeded();
            steps += 1;
            assert!(steps <= 60, "recovery takes about 50 steps");
        }
        assert!(steps >= 40, "recovery is gradual: {steps} steps");
        for _ in 0..20 {
            pace.throttled();
        }
        assert_eq!(
            pace.get().interval,
            100_000_000 * MAX_SLOWDOWN,
            "bounded slowdown"
        );
    }
}
