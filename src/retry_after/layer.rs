use std::time::Duration;

use tower_layer::Layer;

use super::policy::RetryAfterPolicy;
use super::RetryAfter;
use crate::extensions::AttemptBudget;

/// Resends requests answered 429, after the server's wait plus jitter.
///
/// See the [module docs](super) for the behaviour and an example.
#[derive(Clone, Copy, Debug, Default)]
pub struct RetryAfterLayer {
    policy: RetryAfterPolicy,
    max_attempts: Option<u32>,
}

impl RetryAfterLayer {
    /// Defaults: 4 retries, 5 s when the server gives no wait, jitter up to
    /// 2 s, give up on waits over 60 s.
    pub fn new() -> Self {
        RetryAfterLayer::default()
    }

    /// How many times one request is resent after a 429 (default 4).
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.policy = self.policy.max_retries(retries);
        self
    }

    /// The upper bound of the random time added to each wait (default 2 s).
    pub fn jitter(mut self, jitter: Duration) -> Self {
        self.policy = self.policy.jitter(jitter);
        self
    }

    /// The wait when a 429 carries no `retry-after-ms`, `Retry-After` or
    /// `x-ratelimit-reset` (default 5 s).
    pub fn default_wait(mut self, wait: Duration) -> Self {
        self.policy = self.policy.default_wait(wait);
        self
    }

    /// The longest wait the server may ask for (default 60 s). A 429 asking
    /// for more is given back at once, so the caller can decide.
    pub fn max_wait(mut self, wait: Duration) -> Self {
        self.policy = self.policy.max_wait(wait);
        self
    }

    /// The size of the [`AttemptBudget`] this layer gives a call that comes
    /// without one: at most `attempts` sends in total, across every retry
    /// layer below too. Default: 5, or `max_retries + 1` when that is more,
    /// so a layer used alone always gets the retries it was given. A budget
    /// already on the request (from an outer layer or the caller) wins.
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = Some(attempts);
        self
    }

    /// The policy these settings make, to compose
    /// [`tower::retry::Retry`] yourself.
    pub fn policy(&self) -> RetryAfterPolicy {
        self.policy
    }

    fn budget_size(&self) -> u32 {
        self.max_attempts.unwrap_or_else(|| {
            let own = self.policy.retry_limit().saturating_add(1);
            own.max(AttemptBudget::DEFAULT_MAX_ATTEMPTS)
        })
    }
}

impl<S> Layer<S> for RetryAfterLayer {
    type Service = RetryAfter<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RetryAfter::new(inner, self.policy, self.budget_size())
    }
}
