//! Instant arithmetic that never panics.

use std::time::Duration;

use tokio::time::Instant;

/// About thirty years: "never" for a wait, yet far from overflowing an
/// `Instant`.
const FAR_FUTURE: Duration = Duration::from_secs(86_400 * 365 * 30);

/// `at + by`, or about thirty years after `at` when the sum would overflow
/// (a hostile `Retry-After`, an absurd setting).
pub(crate) fn later(at: Instant, by: Duration) -> Instant {
    at.checked_add(by).unwrap_or(at + FAR_FUTURE)
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
}
