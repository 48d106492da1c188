//! Random jitter for retry waits.

use std::time::Duration;

/// A duration drawn uniformly from `[0, max]`.
///
/// Uses fastrand's thread-local generator: no lock, no allocation, and
/// different threads never share a sequence, so a herd released together
/// spreads out.
pub(crate) fn up_to(max: Duration) -> Duration {
    if max.is_zero() {
        return Duration::ZERO;
    }
    // Past u64::MAX ns (584 years) the bound saturates; `0..=nanos` is
    // never empty, so fastrand cannot panic on it.
    let nanos = u64::try_from(max.as_nanos()).unwrap_or(u64::MAX);
    Duration::from_nanos(fastrand::u64(0..=nanos))
}

/// `delay` shortened by a random fraction in `[0, fraction]`: the result is
/// never above `delay`, so jitter cannot push a capped delay past its cap.
pub(crate) fn shrink(delay: Duration, fraction: f64) -> Duration {
    if fraction <= 0.0 || delay.is_zero() {
        return delay;
    }
    // Float arithmetic: no panic, only NaN or infinity, handled below.
    let cut = fastrand::f64() * fraction.min(1.0);
    // Through f64 a huge delay can round up past `Duration::MAX`: never
    // panic, never grow.
    Duration::try_from_secs_f64(delay.as_secs_f64() * (1.0 - cut)).map_or(delay, |d| d.min(delay))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn up_to_stays_in_bounds() {
        let max = Duration::from_millis(2000);
        for _ in 0..10_000 {
            assert!(up_to(max) <= max);
        }
        assert_eq!(up_to(Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn shrink_never_grows() {
        let d = Duration::from_secs(8);
        for _ in 0..10_000 {
            let s = shrink(d, 0.25);
            assert!(s <= d && s >= d.mul_f64(0.75), "{s:?}");
        }
        assert_eq!(shrink(d, 0.0), d);
        for _ in 0..1000 {
            assert!(shrink(Duration::MAX, 1.0) <= Duration::MAX);
        }
    }
}
