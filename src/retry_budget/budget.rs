use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use http::Request;
use tokio::time::Instant;

/// The number of slots the window is cut into: a first attempt or a retry
/// ages out within one slot's length of the window's end.
const SLOTS: usize = 10;

/// A retry budget shared by every clone: see the [module docs](super).
///
/// Cheap to clone (an `Arc`); clones draw from the same budget.
#[derive(Clone)]
pub struct RetryBudget {
    inner: Arc<Inner>,
}

struct Inner {
    window: Duration,
    slot: Duration,
    /// Retries always allowed in a window: `min_per_sec × window`.
    reserve: f64,
    retry_ratio: f64,
    counts: Mutex<Counts>,
    exhausted: AtomicU64,
}

/// First attempts and retries per slot of the sliding window.
struct Counts {
    deposits: [u64; SLOTS],
    withdrawals: [u64; SLOTS],
    /// The slot `current` started at.
    current_start: Instant,
    current: usize,
}

/// Settings of a [`RetryBudget`]; from [`RetryBudget::builder`].
#[derive(Clone, Copy, Debug)]
pub struct RetryBudgetBuilder {
    window: Duration,
    min_per_sec: u32,
    retry_ratio: f64,
}

impl Default for RetryBudgetBuilder {
    fn default() -> Self {
        RetryBudgetBuilder {
            window: Duration::from_secs(10),
            min_per_sec: 1,
            retry_ratio: 0.2,
        }
    }
}

impl RetryBudgetBuilder {
    /// How long a first attempt (or a retry) counts (default 10 s, as
    /// tower's `TpsBudget`). Clamped to at least 10 ms.
    pub fn window(mut self, window: Duration) -> Self {
        self.window = window.max(Duration::from_millis(10));
        self
    }

    /// Retries always allowed per second, whatever the first attempts
    /// (default 1), so a client with little traffic can still retry.
    pub fn min_per_sec(mut self, retries: u32) -> Self {
        self.min_per_sec = retries;
        self
    }

    /// Retries allowed per first attempt, on top of the floor (default 0.2,
    /// 20 % extra load). Clamped to `[0, 1000]`; NaN means 0.
    pub fn retry_ratio(mut self, ratio: f64) -> Self {
        self.retry_ratio = if ratio.is_nan() {
            0.0
        } else {
            ratio.clamp(0.0, 1000.0)
        };
        self
    }

    /// The budget.
    pub fn build(self) -> RetryBudget {
        let slot = self.window / SLOTS as u32;
        RetryBudget {
            inner: Arc::new(Inner {
                window: self.window,
                slot,
                reserve: f64::from(self.min_per_sec) * self.window.as_secs_f64(),
                retry_ratio: self.retry_ratio,
                counts: Mutex::new(Counts {
                    deposits: [0; SLOTS],
                    withdrawals: [0; SLOTS],
                    current_start: Instant::now(),
                    current: 0,
                }),
                exhausted: AtomicU64::new(0),
            }),
        }
    }
}

impl Default for RetryBudget {
    fn default() -> Self {
        RetryBudget::new()
    }
}

impl RetryBudget {
    /// The defaults: a 10 s window, 1 retry per second plus 20 % of first
    /// attempts.
    pub fn new() -> Self {
        RetryBudgetBuilder::default().build()
    }

    /// Settings other than the defaults.
    pub fn builder() -> RetryBudgetBuilder {
        RetryBudgetBuilder::default()
    }

    /// Counts one first attempt.
    pub fn deposit(&self) {
        let mut counts = self.inner.lock();
        let at = counts.advance(&self.inner, Instant::now());
        counts.deposits[at] = counts.deposits[at].saturating_add(1);
    }

    /// Takes one retry from the budget; `false` (and counted in
    /// [`exhausted`](Self::exhausted)) when it is spent.
    pub fn try_withdraw(&self) -> bool {
        let mut counts = self.inner.lock();
        let at = counts.advance(&self.inner, Instant::now());
        let deposits: u64 = counts.deposits.iter().sum();
        let withdrawals: u64 = counts.withdrawals.iter().sum();
        // f64 is exact for counts far beyond any window's traffic.
        let allowed = self.inner.reserve + self.inner.retry_ratio * deposits as f64;
        if (withdrawals as f64) + 1.0 <= allowed {
            counts.withdrawals[at] = counts.withdrawals[at].saturating_add(1);
            true
        } else {
            drop(counts);
            self.inner.exhausted.fetch_add(1, Ordering::Relaxed);
            false
        }
    }

    /// Retries the budget would allow now.
    pub fn remaining(&self) -> u64 {
        let mut counts = self.inner.lock();
        counts.advance(&self.inner, Instant::now());
        let deposits: u64 = counts.deposits.iter().sum();
        let withdrawals: u64 = counts.withdrawals.iter().sum();
        let allowed = self.inner.reserve + self.inner.retry_ratio * deposits as f64;
        // Truncation wanted: a fraction of a retry is no retry.
        (allowed - withdrawals as f64).max(0.0) as u64
    }

    /// How many retries the budget has refused since it was made.
    pub fn exhausted(&self) -> u64 {
        self.inner.exhausted.load(Ordering::Relaxed)
    }
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, Counts> {
        // The counts stay consistent whatever panicked while they were held.
        self.counts.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Counts {
    /// Moves the window to `now`, clearing the slots that aged out; returns
    /// the current slot.
    fn advance(&mut self, inner: &Inner, now: Instant) -> usize {
        let elapsed = now.saturating_duration_since(self.current_start);
        if elapsed < inner.slot {
            return self.current;
        }
        if elapsed >= inner.window {
            self.deposits = [0; SLOTS];
            self.withdrawals = [0; SLOTS];
            self.current = 0;
            self.current_start = now;
            return 0;
        }
        // Fewer than SLOTS steps, from the check above.
        let steps = (elapsed.as_nanos() / inner.slot.as_nanos().max(1)) as usize;
        for _ in 0..steps {
            self.current = (self.current + 1) % SLOTS;
            self.deposits[self.current] = 0;
            self.withdrawals[self.current] = 0;
        }
        // `steps × slot <= elapsed`, so this cannot pass `now`.
        self.current_start += inner.slot * steps as u32;
        self.current
    }
}

impl fmt::Debug for RetryBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryBudget")
            .field("window", &self.inner.window)
            .field("reserve", &self.inner.reserve)
            .field("retry_ratio", &self.inner.retry_ratio)
            .field("remaining", &self.remaining())
            .field("exhausted", &self.exhausted())
            .finish()
    }
}

/// Puts `budget` on `request` and counts the call's first attempt, unless
/// an outer [`RetryBudgetLayer`](super::RetryBudgetLayer) or the caller
/// put a budget there already (then that one governs the call).
pub(crate) fn deposit_for<B>(request: &mut Request<B>, budget: &RetryBudget) {
    let extensions = request.extensions_mut();
    if extensions.get::<RetryBudget>().is_none() {
        budget.deposit();
        extensions.insert(budget.clone());
    }
}

/// Takes one retry for `request` from its budget: `true` when it carries
/// none or the budget has room.
pub(crate) fn claim_for<B>(request: &Request<B>) -> bool {
    request
        .extensions()
        .get::<RetryBudget>()
        .is_none_or(RetryBudget::try_withdraw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn retries_stay_within_the_floor_plus_the_ratio() {
        let budget = RetryBudget::builder()
            .min_per_sec(1)
            .retry_ratio(0.2)
            .build();
        for _ in 0..100 {
            budget.deposit();
        }
        // 1/s × 10 s + 20 % of 100.
        let granted = (0..1000).filter(|_| budget.try_withdraw()).count();
        assert_eq!(granted, 30);
        assert_eq!(budget.exhausted(), 970);
    }

    #[tokio::test(start_paused = true)]
    async fn old_attempts_age_out_of_the_window() {
        let budget = RetryBudget::builder()
            .min_per_sec(0)
            .retry_ratio(1.0)
            .build();
        budget.deposit();
        tokio::time::advance(Duration::from_secs(5)).await;
        budget.deposit();
        assert_eq!(budget.remaining(), 2);
        tokio::time::advance(Duration::from_secs(6)).await;
        assert_eq!(budget.remaining(), 1, "the first deposit aged out");
        assert!(budget.try_withdraw());
        assert!(!budget.try_withdraw());
        tokio::time::advance(Duration::from_secs(30)).await;
        assert_eq!(budget.remaining(), 0);
    }

    #[test]
    fn hostile_settings_do_not_panic() {
        let budget = RetryBudget::builder()
            .window(Duration::ZERO)
            .retry_ratio(f64::NAN)
            .min_per_sec(u32::MAX)
            .build();
        assert!(budget.try_withdraw());
        let budget = RetryBudget::builder()
            .window(Duration::MAX)
            .retry_ratio(f64::INFINITY)
            .build();
        budget.deposit();
        assert!(budget.try_withdraw());
    }
}
