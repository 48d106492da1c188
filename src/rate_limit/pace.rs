//! One budget's live rate: the configured quota, moved to what the server
//! says it allows and slowed down after a 429.
//!
//! - **Learned.** Together's `x-ratelimit-limit` (requests per second) and
//!   `x-tokenlimit-limit` (tokens per second) say what the server allows
//!   this key and model now. A configured quota is a ceiling: the budget
//!   paces at the server's rate when that is lower, and at the quota's when
//!   the server allows more. In learned mode the quota is only where the
//!   budget starts: it follows the server up and down. A change the server
//!   states applies at once (waiters read the rate at every grant, so there
//!   is no herd).
//! - **Cut on 429, raised slowly.** A 429 halves the rate (at most once per
//!   pause, so a burst of 429s from one window counts once); each success
//!   then raises it by 1 % of the target rate, back up to the target
//!   (additive increase, multiplicative decrease). The target is the
//!   server's stated rate, or the ceiling.
//!
//! - **Floored, and forgotten.** A stated rate is never slower than 1/64 of
//!   the rate the budget started at (the same floor as the 429 cut), nor,
//!   for a token budget that started unlimited, below one token a second:
//!   a garbled `x-ratelimit-limit: 0.001` must not stall a scope for hours
//!   with no answer to correct it. And a stated rate lasts one minute
//!   unless an answer states it again; then the budget goes back to where
//!   it started.
//!
//! Rates are kept as emission intervals in nanoseconds, in atomics. An
//! interval of 0 means "no budget": a token budget that is neither
//! configured nor learned yet admits everything.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use super::gcra::Pacing;

/// The slowest a 429 can push a budget: 1/64 of its target rate.
const MAX_SLOWDOWN: u64 = 64;

/// Each success raises the rate by 1/`RECOVERY_STEPS` of the target rate.
const RECOVERY_STEPS: f64 = 100.0;

/// No budget (see the module docs).
pub(crate) const UNLIMITED: u64 = 0;

/// The slowest a stated rate can make a budget that started unlimited: one
/// unit a second (a token budget learned from nothing).
const SLOWEST_FROM_NOTHING: u64 = 1_000_000_000;

/// How long a stated rate holds without an answer stating it again (scope
/// nanoseconds): Together states its limits on every answer, so a minute
/// without one means the statement is stale.
pub(crate) const STATED_FOR: u64 = 60_000_000_000;

/// `stated_until` of a budget that paces at its start rate.
const NOT_STATED: u64 = 0;

#[derive(Debug)]
pub(crate) struct Pace {
    /// The fastest interval allowed (the configured quota's), or 1 in
    /// learned mode (the server's word is the limit).
    ceiling: u64,
    /// The largest burst allowed: the configured one, or unbounded in
    /// learned mode.
    max_burst: u32,
    /// Where the budget started (the configured quota's rate), to go back
    /// to when a stated rate expires.
    start: Pacing,
    /// The slowest interval a stated rate may set (see the module docs).
    slowest: u64,
    /// Until when (scope time) the last stated rate holds, or `NOT_STATED`.
    stated_until: AtomicU64,
    /// The interval to pace at when all is well.
    target: AtomicU64,
    /// The interval paced at now: `target`, or slower after a 429.
    current: AtomicU64,
    burst: AtomicU32,
}

/// Nanoseconds per unit at `per_second` units a second, rounded up (never
/// faster than asked); `None` for a rate that is not a positive number.
fn interval_of(per_second: f64) -> Option<u64> {
    if !per_second.is_finite() || per_second <= 0.0 {
        return None;
    }
    let interval = (1e9 / per_second).ceil();
    // Float to int casts saturate; at least 1 ns.
    Some((interval as u64).max(1))
}

impl Pace {
    /// A budget paced at `pacing` (interval 0: no budget yet). In learned
    /// mode, `pacing` is only where it starts.
    pub(crate) fn new(pacing: Pacing, learned: bool) -> Pace {
        let (ceiling, max_burst) = if learned {
            (1, u32::MAX)
        } else if pacing.interval == UNLIMITED {
            (UNLIMITED, u32::MAX)
        } else {
            (pacing.interval, pacing.burst)
        };
        let slowest = if pacing.interval == UNLIMITED {
            SLOWEST_FROM_NOTHING
        } else {
            pacing.interval.saturating_mul(MAX_SLOWDOWN)
        };
        Pace {
            ceiling,
            max_burst,
            start: Pacing {
                interval: pacing.interval,
                burst: pacing.burst.max(1),
            },
            slowest,
            stated_until: AtomicU64::new(NOT_STATED),
            target: AtomicU64::new(pacing.interval),
            current: AtomicU64::new(pacing.interval),
            burst: AtomicU32::new(pacing.burst.max(1)),
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

    /// Whether this budget limits anything (a token budget may not, yet).
    #[inline]
    pub(crate) fn is_limited(&self) -> bool {
        self.current.load(Ordering::Relaxed) != UNLIMITED
    }

    /// Whether a 429 has cut the rate below its target and it has not
    /// recovered yet: state worth keeping.
    pub(crate) fn is_cut(&self) -> bool {
        self.current.load(Ordering::Relaxed) > self.target.load(Ordering::Relaxed)
    }

    /// The server allows `per_second` units a second, as of `now` (scope
    /// time): pace at that, within the ceiling and the floor, for
    /// `STATED_FOR`. Garbage (not a positive number) is ignored.
    pub(crate) fn learn(&self, per_second: f64, now: u64) {
        let Some(server) = interval_of(per_second) else {
            return;
        };
        let server = server.min(self.slowest);
        self.stated_until
            .store(now.saturating_add(STATED_FOR).max(1), Ordering::Relaxed);
        self.set_target(server, per_second);
    }

    /// Whether the last stated rate has expired at `now`: it has, and this
    /// call put the budget back to its start rate (or found it there).
    /// One load when nothing was stated.
    #[inline]
    pub(crate) fn expire(&self, now: u64) -> bool {
        let until = self.stated_until.load(Ordering::Relaxed);
        if until == NOT_STATED || now < until {
            return false;
        }
        if self
            .stated_until
            .compare_exchange(until, NOT_STATED, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
        {
            // Restated (or expired by another thread) meanwhile.
            return false;
        }
        let start = self.start;
        self.set_target(start.interval, f64::from(start.burst));
        true
    }

    /// Paces at `server` (ns per unit, before the ceiling) with a burst of
    /// one second's worth of `per_second`.
    fn set_target(&self, server: u64, per_second: f64) {
        // A configured budget never goes faster than configured; a budget
        // with no configured rate (UNLIMITED ceiling) takes the server's.
        let target = if self.ceiling == UNLIMITED {
            server
        } else {
            server.max(self.ceiling)
        };
        let previous = self.target.swap(target, Ordering::Relaxed);
        let _ = self
            .current
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |current| {
                if current == UNLIMITED || target == UNLIMITED || current <= previous {
                    // Not cut by a 429 (or back to no budget at all): adopt
                    // the stated rate, up or down.
                    Some(target)
                } else {
                    // Cut: stay cut, but never faster than the new target.
                    Some(current.max(target))
                }
            });
        // One second's worth, as Together counts per second. In range:
        // float to int casts saturate.
        let burst = (per_second.floor() as u32).clamp(1, self.max_burst.max(1));
        self.burst.store(burst, Ordering::Relaxed);
    }

    /// A 429 came back: halve the rate.
    pub(crate) fn throttled(&self) {
        let target = self.target.load(Ordering::Relaxed);
        if target == UNLIMITED {
            return;
        }
        let floor = target.saturating_mul(MAX_SLOWDOWN);
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
        if current <= target || target == UNLIMITED {
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
    fn a_configured_quota_is_a_ceiling_and_the_server_can_lower_and_raise_below_it() {
        let pace = Pace::new(pacing(50_000_000, 20), false);
        pace.learn(10.0, 0);
        assert_eq!(pace.get(), pacing(100_000_000, 10));
        pace.learn(15.0, 0);
        assert_eq!(pace.get(), pacing(66_666_667, 15), "raised at once");
        pace.learn(1000.0, 0);
        assert_eq!(pace.get(), pacing(50_000_000, 20), "never above the quota");
        for bad in [0.0, -3.0, f64::NAN, f64::INFINITY] {
            pace.learn(bad, 0);
            assert_eq!(pace.get(), pacing(50_000_000, 20));
        }
    }

    #[test]
    fn learned_mode_follows_the_server_both_ways() {
        let pace = Pace::new(pacing(1_000_000_000, 1), true);
        pace.learn(7.0, 0);
        assert_eq!(pace.get(), pacing(142_857_143, 7));
        pace.learn(4.0, 0);
        assert_eq!(pace.get(), pacing(250_000_000, 4));
        pace.learn(12.0, 0);
        assert_eq!(pace.get(), pacing(83_333_334, 12));
    }

    #[test]
    fn an_unlimited_budget_takes_the_first_stated_limit() {
        let pace = Pace::new(pacing(UNLIMITED, 1), false);
        assert!(!pace.is_limited());
        pace.throttled();
        pace.succeeded();
        assert!(!pace.is_limited(), "429s do not invent a limit");
        pace.learn(20_000.0, 0);
        assert_eq!(pace.get(), pacing(50_000, 20_000));
    }

    #[test]
    fn a_tiny_stated_limit_is_floored_at_a_64th_of_the_start_rate() {
        // Fails before the floor: 0.001/s paced one request per 1 000 s.
        let pace = Pace::new(pacing(100_000_000, 10), false);
        pace.learn(0.001, 0);
        assert_eq!(pace.get().interval, 100_000_000 * MAX_SLOWDOWN);
        let learned = Pace::new(pacing(1_000_000_000, 1), true);
        learned.learn(1e-9, 0);
        assert_eq!(learned.get().interval, 1_000_000_000 * MAX_SLOWDOWN);
        let tokens = Pace::new(pacing(UNLIMITED, 1), false);
        tokens.learn(0.001, 0);
        assert_eq!(tokens.get(), pacing(SLOWEST_FROM_NOTHING, 1));
    }

    #[test]
    fn a_stated_limit_expires_unless_restated() {
        let pace = Pace::new(pacing(100_000_000, 10), false);
        pace.learn(2.0, 0);
        assert_eq!(pace.get(), pacing(500_000_000, 2));
        assert!(!pace.expire(STATED_FOR - 1));
        pace.learn(2.0, STATED_FOR / 2);
        assert!(!pace.expire(STATED_FOR), "restated: holds a minute more");
        assert!(pace.expire(STATED_FOR / 2 + STATED_FOR));
        assert_eq!(pace.get(), pacing(100_000_000, 10), "back to the start");
        assert!(!pace.expire(10 * STATED_FOR), "nothing left to expire");
        // A token budget learned from nothing goes back to no budget, even
        // after a 429 cut it.
        let tokens = Pace::new(pacing(UNLIMITED, 1), false);
        tokens.learn(1000.0, 0);
        tokens.throttled();
        assert!(tokens.expire(STATED_FOR));
        assert!(!tokens.is_limited() && !tokens.is_cut());
    }

    #[test]
    fn fractional_limits_become_slow_intervals() {
        let pace = Pace::new(pacing(200_000_000, 5), false);
        pace.learn(0.15, 0); // 9 per minute
        assert_eq!(pace.get(), pacing(6_666_666_667, 1));
    }

    #[test]
    fn a_429_halves_the_rate_and_successes_restore_it() {
        let pace = Pace::new(pacing(100_000_000, 10), false);
        pace.throttled();
        assert_eq!(pace.get().interval, 200_000_000);
        // A stated limit does not undo the cut...
        pace.learn(10.0, 0);
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
