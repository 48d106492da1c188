//! Instant arithmetic that never panics.

use std::time::Duration;

use tokio::time::Instant;

/// About thirty years: "never" for a wait, yet far from overflowing an
/// `Instant`.
const FAR_FUTURE: Duration = Duration::from_secs(86_400 * 365 * 30);

/// `at + by`, or the latest instant near `at + by` that can be represented
/// when the sum would overflow (a hostile `Retry-After`, an absurd setting).
///
/// The fallbacks are computed only on overflow, and each is itself checked:
/// `at` may already sit near the end of the clock's range, where even
/// `at + FAR_FUTURE` overflows.
pub(crate) fn later(at: Instant, by: Duration) -> Instant {
    at.checked_add(by)
        .or_else(|| at.checked_add(FAR_FUTURE))
        .unwrap_or_else(|| latest_after(at))
}

/// The latest instant at or after `at` that can be represented: steps that
/// double while they fit, then halve while they do not, so a few hundred
/// checked additions at most; never panics, and `at` itself is a valid
/// answer.
fn latest_after(at: Instant) -> Instant {
    let mut best = at;
    let mut step = Duration::from_nanos(1);
    while let Some(next) = best.checked_add(step) {
        best = next;
        step = step.saturating_mul(2);
    }
    while !step.is_zero() {
        if let Some(next) = best.checked_add(step) {
            best = next;
        }
        step /= 2;
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_durations_saturate() {
        let now = Instant::now();
        assert_eq!(
            later(now, Duration::from_secs(1)),
            now + Duration::from_secs(1)
        );
        assert_eq!(later(now, Duration::MAX), now + FAR_FUTURE);
    }

    #[test]
    fn an_instant_near_the_end_of_the_clock_does_not_panic() {
        let now = Instant::now();
        // Walk to (about) the last representable instant.
        let end = latest_after(now);
        assert!(end >= now);
        assert!(end.checked_add(Duration::from_secs(1)).is_none());
        // Neither `end + by` nor `end + FAR_FUTURE` fits: still no panic,
        // and never earlier than `end`.
        assert!(later(end, Duration::MAX) >= end);
        assert!(later(end, FAR_FUTURE) >= end);
        assert_eq!(later(end, Duration::ZERO), end);
    }
}
