use std::time::Duration;

use tower::retry::Retry;
use tower_layer::Layer;

use super::policy::{Config, RetryAfterPolicy};
use super::RetryAfter;

/// Resends requests answered 429, after the server's wait plus jitter.
///
/// See the [module docs](super) for the behaviour and an example.
#[derive(Clone, Copy, Debug, Default)]
pub struct RetryAfterLayer {
    config: Config,
}

impl RetryAfterLayer {
    /// Defaults: 4 retries, 5 s when the server gives no wait, jitter up to
    /// 2 s, give up on waits over 60 s.
    pub fn new() -> Self {
        RetryAfterLayer::default()
    }

    /// How many times one request is resent after a 429 (default 4).
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.config.max_retries = retries;
        self
    }

    /// The upper bound of the random time added to each wait (default 2 s).
    pub fn jitter(mut self, jitter: Duration) -> Self {
        self.config.jitter = jitter;
        self
    }

    /// The wait when a 429 carries no `retry-after-ms`, `Retry-After` or
    /// `x-ratelimit-reset` (default 5 s).
    pub fn default_wait(mut self, wait: Duration) -> Self {
        self.config.default_wait = wait;
        self
    }

    /// The longest wait the server may ask for (default 60 s). A 429 asking
    /// for more is given back at once, so the caller can decide.
    pub fn max_wait(mut self, wait: Duration) -> Self {
        self.config.max_wait = wait;
        self
    }
}

impl<S> Layer<S> for RetryAfterLayer {
    type Service = RetryAfter<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Retry::new(RetryAfterPolicy::new(self.config), inner)
    }
}
