use std::time::Duration;

use tower_layer::Layer;

use super::policy::BackoffPolicy;
use super::Backoff;
use crate::extensions::AttemptBudget;

/// Resends requests that failed with a retryable status (408, 409, most
/// 5xx) or a transport error, with exponential backoff and jitter.
///
/// See the [module docs](super) for the behaviour and an example.
#[derive(Clone, Copy, Debug, Default)]
pub struct BackoffLayer {
    policy: BackoffPolicy,
    max_attempts: Option<u32>,
}

impl BackoffLayer {
    /// Defaults: 4 retries, delays 1 s, 2 s, 4 s, 8 s (each shortened by up
    /// to 25 % jitter), capped at 30 s.
    pub fn new() -> Self {
        BackoffLayer::default()
    }

    /// How many times one request is resent (default 4).
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.policy = self.policy.max_retries(retries);
        self
    }

    /// The delay before the first resend; it doubles each time (default 1 s).
    pub fn base_delay(mut self, delay: Duration) -> Self {
        self.policy = self.policy.base_delay(delay);
        self
    }

    /// The cap on every delay, including a server's `Retry-After` (default
    /// 30 s).
    pub fn max_delay(mut self, delay: Duration) -> Self {
        self.policy = self.policy.max_delay(delay);
        self
    }

    /// The largest share of a delay that jitter may take off it, in `[0, 1]`
    /// (default 0.25, as Together's SDKs do). Jitter only ever shortens a
    /// delay, so it never passes the cap. Values outside `[0, 1]` are
    /// clamped; NaN means no jitter.
    ///
    /// A fraction, unlike [`RetryAfterLayer::jitter`](crate::RetryAfterLayer::jitter),
    /// which is a duration added to the server's wait.
    pub fn jitter_fraction(mut self, fraction: f64) -> Self {
        self.policy = self.policy.jitter_fraction(fraction);
        self
    }

    /// The former name of [`jitter_fraction`](Self::jitter_fraction), hidden
    /// from the docs: tests outside this module's owners still call it.
    /// To be marked deprecated, then removed, once they move.
    #[doc(hidden)]
    pub fn jitter(self, fraction: f64) -> Self {
        self.jitter_fraction(fraction)
    }

    /// Also resend requests that may not be safe to repeat (a `POST` that
    /// may create a billed resource: a video, an endpoint, a fine-tune job,
    /// a batch, a file, or any path this crate does not know). Off by default: a second attempt
    /// could start a second billed job. The
    /// [`Idempotency`](crate::extensions::Idempotency) extension overrides
    /// this per request.
    pub fn retry_non_idempotent(mut self, retry: bool) -> Self {
        self.policy = self.policy.retry_non_idempotent(retry);
        self
    }

    /// The size of the [`AttemptBudget`] this layer gives a call that comes
    /// without one: at most `attempts` sends in total, across the
    /// [`RetryAfterLayer`](crate::RetryAfterLayer) below too. Default: 5, or
    /// `max_retries + 1` when that is more, so a layer used alone always
    /// gets the retries it was given. A budget already on the request (from
    /// the caller) wins.
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = Some(attempts);
        self
    }

    /// The policy these settings make, to compose
    /// [`tower::retry::Retry`] yourself.
    pub fn policy(&self) -> BackoffPolicy {
        self.policy
    }

    fn budget_size(&self) -> u32 {
        self.max_attempts.unwrap_or_else(|| {
            let own = self.policy.retry_limit().saturating_add(1);
            own.max(AttemptBudget::DEFAULT_MAX_ATTEMPTS)
        })
    }
}

impl<S> Layer<S> for BackoffLayer {
    type Service = Backoff<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Backoff::new(inner, self.policy, self.budget_size())
    }
}
