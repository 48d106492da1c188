//! GCRA (the generic cell rate algorithm) as pure arithmetic on a
//! theoretical arrival time: no atomics, no clock, no futures. Where the
//! state lives (an atomic in memory today) is the caller's business, so the
//! same rules can run against any store.
//!
//! Times are `u64` nanoseconds on the caller's clock. The state is one word,
//! `allow_at`: the theoretical arrival time minus the burst tolerance, i.e.
//! the earliest time the next unit may go. Keeping it in this form (rather
//! than the TAT itself) means a change of rate or burst re-paces the backlog
//! without a jump.

/// How a budget is paced: the time one unit is worth and how many units may
/// go back to back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Pacing {
    /// Nanoseconds per unit (at least 1).
    pub(crate) interval: u64,
    /// Units that may go back to back (at least 1).
    pub(crate) burst: u32,
}

/// What a request asks of a budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Ask {
    /// Units wanted (at least 1). A cost above the burst waits for a full
    /// bucket, then goes and leaves the budget in debt: never refused.
    pub(crate) cost: u32,
    /// The request slept for its turn, so a timer may have woken it late
    /// (tokio's wheel has 1 ms ticks). It may keep up to half an interval of
    /// that lateness: the schedule continues from where it should have been
    /// instead of slipping to `now`. Less than one interval, so a window of
    /// whole intervals still admits at most `rate × window + burst`; a
    /// request that did not wait gets no slack, so an idle budget never
    /// gains more than its burst.
    pub(crate) waited: bool,
}

impl Pacing {
    /// The burst tolerance: how far behind `now` the state may lag.
    #[inline]
    pub(crate) fn tolerance(self) -> u64 {
        self.interval
            .saturating_mul(u64::from(self.burst.saturating_sub(1)))
    }

    /// A state that is a full bucket at `now`.
    #[inline]
    pub(crate) fn full_at(self, now: u64) -> u64 {
        now.saturating_sub(self.tolerance())
    }

    /// Decides `ask` against the state `allow_at` at `now`, with no grant
    /// before `paused_until`. `Ok(next)`: go, and store `next`. `Err(at)`: the
    /// earliest time the ask could go.
    ///
    /// Every operation saturates, so no input can overflow or panic.
    #[inline]
    pub(crate) fn decide(
        self,
        allow_at: u64,
        now: u64,
        ask: Ask,
        paused_until: u64,
    ) -> Result<u64, u64> {
        let cost = ask.cost.max(1);
        let need = u64::from(cost.min(self.burst.max(1)));
        let conforming_at = allow_at.saturating_add(self.interval.saturating_mul(need - 1));
        let allowed_at = conforming_at.max(paused_until);
        if now < allowed_at {
            return Err(allowed_at);
        }
        let slack = if ask.waited { self.interval / 2 } else { 0 };
        // The bucket cannot be fuller than `burst`.
        let full = self.full_at(now).saturating_sub(slack);
        let charge = self.interval.saturating_mul(u64::from(cost));
        Ok(allow_at.max(full).saturating_add(charge))
    }

    /// Whether the state `allow_at` has been a full bucket for at least
    /// `idle` nanoseconds at `now`: nothing it remembers matters any more.
    #[inline]
    pub(crate) fn idle_since(self, allow_at: u64, now: u64, idle: u64) -> bool {
        allow_at
            .saturating_add(self.tolerance())
            .saturating_add(idle)
            <= now
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: u64 = 1_000_000_000;

    fn go(cost: u32) -> Ask {
        Ask {
            cost,
            waited: false,
        }
    }

    #[test]
    fn a_full_bucket_admits_the_burst_then_paces() {
        let pacing = Pacing {
            interval: SECOND / 10,
            burst: 3,
        };
        let now = 100 * SECOND;
        let mut state = pacing.full_at(now);
        for _ in 0..3 {
            state = pacing.decide(state, now, go(1), 0).unwrap();
        }
        assert_eq!(pacing.decide(state, now, go(1), 0), Err(now + SECOND / 10));
    }

    #[test]
    fn a_cost_above_the_burst_waits_for_a_full_bucket_then_goes_into_debt() {
        let pacing = Pacing {
            interval: SECOND,
            burst: 2,
        };
        let now = 100 * SECOND;
        let state = pacing.full_at(now);
        let next = pacing.decide(state, now, go(5), 0).unwrap();
        // Five units charged: the next unit goes four intervals later (the
        // bucket held two, so one of the five came free).
        assert_eq!(pacing.decide(next, now, go(1), 0), Err(now + 4 * SECOND));
    }

    #[test]
    fn a_pause_holds_everything_back() {
        let pacing = Pacing {
            interval: SECOND,
            burst: 5,
        };
        let now = 100 * SECOND;
        let state = pacing.full_at(now);
        assert_eq!(
            pacing.decide(state, now, go(1), now + 3 * SECOND),
            Err(now + 3 * SECOND)
        );
    }

    #[test]
    fn extremes_saturate_instead_of_overflowing() {
        let pacing = Pacing {
            interval: u64::MAX,
            burst: u32::MAX,
        };
        assert!(pacing
            .decide(u64::MAX, u64::MAX, go(u32::MAX), u64::MAX)
            .is_ok());
        assert_eq!(pacing.decide(u64::MAX, 0, go(1), 0), Err(u64::MAX));
        let tiny = Pacing {
            interval: 1,
            burst: 1,
        };
        assert_eq!(tiny.decide(0, 0, go(0), 0), Ok(1), "cost 0 counts as 1");
    }

    #[test]
    fn idleness_needs_a_full_bucket_for_the_whole_idle_time() {
        let pacing = Pacing {
            interval: SECOND,
            burst: 2,
        };
        let now = 100 * SECOND;
        let state = pacing.decide(pacing.full_at(now), now, go(1), 0).unwrap();
        assert!(!pacing.idle_since(state, now + SECOND, 10 * SECOND));
        assert!(!pacing.idle_since(state, now + 10 * SECOND, 10 * SECOND));
        assert!(pacing.idle_since(state, now + 11 * SECOND, 10 * SECOND));
    }
}
