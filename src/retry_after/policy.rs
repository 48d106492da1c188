use std::time::Duration;

use http::{Request, Response, StatusCode};
use tower::retry::Policy;

use crate::extensions::Deadline;
use crate::{jitter, wait_hint};

/// The settings of a [`RetryAfterLayer`](super::RetryAfterLayer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Config {
    pub(crate) max_retries: u32,
    pub(crate) default_wait: Duration,
    pub(crate) jitter: Duration,
    pub(crate) max_wait: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_retries: 4,
            default_wait: Duration::from_secs(5),
            jitter: Duration::from_secs(2),
            max_wait: Duration::from_secs(60),
        }
    }
}

/// The [`Policy`] behind [`RetryAfter`](super::RetryAfter): resend on 429
/// after the server's wait plus jitter; leave every other outcome alone.
///
/// One policy value lives for one request (tower clones it per request), so
/// the retry count is per request.
#[derive(Clone, Debug)]
pub struct RetryAfterPolicy {
    config: Config,
    retries: u32,
}

impl RetryAfterPolicy {
    pub(crate) fn new(config: Config) -> Self {
        RetryAfterPolicy { config, retries: 0 }
    }

    /// How long to wait before resending after this 429, or `None` to give
    /// the 429 back now.
    fn wait_for<B>(
        &self,
        request: &Request<B>,
        response: &Response<impl Sized>,
    ) -> Option<Duration> {
        if self.retries >= self.config.max_retries {
            tracing::debug!(retries = self.retries, "429: retries spent, giving up");
            return None;
        }
        let headers = response.headers();
        if wait_hint::should_retry(headers) == Some(false) {
            tracing::debug!("429: server said x-should-retry: false");
            return None;
        }
        let asked = wait_hint::server_wait(headers).unwrap_or(self.config.default_wait);
        if asked > self.config.max_wait {
            tracing::debug!(?asked, max_wait = ?self.config.max_wait, "429: wait too long, giving up");
            return None;
        }
        // Jitter spreads a herd released by the same 429 window.
        let wait = asked.saturating_add(jitter::up_to(self.config.jitter));
        if let Some(deadline) = request.extensions().get::<Deadline>() {
            if deadline.would_pass(wait) {
                tracing::debug!(?wait, "429: wait would pass the deadline, giving up");
                return None;
            }
        }
        Some(wait)
    }
}

impl<B, ResB, E> Policy<Request<B>, Response<ResB>, E> for RetryAfterPolicy
where
    B: Clone,
{
    type Future = tokio::time::Sleep;

    fn retry(
        &mut self,
        request: &mut Request<B>,
        result: &mut Result<Response<ResB>, E>,
    ) -> Option<Self::Future> {
        let response = result.as_ref().ok()?;
        if response.status() != StatusCode::TOO_MANY_REQUESTS {
            return None;
        }
        let wait = self.wait_for(request, response)?;
        self.retries += 1;
        tracing::debug!(?wait, retry = self.retries, "429: waiting before resending");
        Some(tokio::time::sleep(wait))
    }

    fn clone_request(&mut self, request: &Request<B>) -> Option<Request<B>> {
        Some(request.clone())
    }
}
