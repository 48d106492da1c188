use std::time::Duration;

use http::{Method, Request, Response};
use tower::retry::Policy;

use crate::endpoint::Endpoint;
use crate::extensions::{Deadline, Idempotency};
use crate::{jitter, wait_hint};

/// The settings of a [`BackoffLayer`](super::BackoffLayer).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Config {
    pub(crate) max_retries: u32,
    pub(crate) base_delay: Duration,
    pub(crate) max_delay: Duration,
    pub(crate) jitter: f64,
    pub(crate) retry_non_idempotent: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_retries: 4,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(30),
            jitter: 0.25,
            retry_non_idempotent: false,
        }
    }
}

impl Config {
    /// `base × 2^retry`, capped, then shortened by up to `jitter` of itself:
    /// jitter never pushes a delay above the cap.
    pub(crate) fn delay(&self, retry: u32) -> Duration {
        let factor = 1u32.checked_shl(retry).unwrap_or(u32::MAX);
        let delay = self.base_delay.saturating_mul(factor).min(self.max_delay);
        jitter::shrink(delay, self.jitter)
    }

    /// Whether a request may be sent a second time.
    fn replayable<B>(&self, request: &Request<B>) -> bool {
        match request.extensions().get::<Idempotency>() {
            Some(Idempotency::Idempotent) => true,
            Some(Idempotency::NonIdempotent) => false,
            None => self.retry_non_idempotent || !creates_billed_work(request),
        }
    }
}

/// A `POST` that creates a fine-tune job, a batch or a file: sending it twice
/// could start two billed jobs. Cancelling is safe to repeat.
fn creates_billed_work<B>(request: &Request<B>) -> bool {
    if request.method() != Method::POST {
        return false;
    }
    let path = request.uri().path();
    let endpoint = Endpoint::from_path(path);
    matches!(
        endpoint,
        Endpoint::FineTunes | Endpoint::Batches | Endpoint::Files
    ) && !path.trim_end_matches('/').ends_with("/cancel")
}

/// The [`Policy`] behind [`Backoff`](super::Backoff): resend after a 5xx or a
/// transport error with exponential backoff; leave every other outcome alone.
#[derive(Clone, Debug)]
pub struct BackoffPolicy {
    config: Config,
    retries: u32,
}

impl BackoffPolicy {
    pub(crate) fn new(config: Config) -> Self {
        BackoffPolicy { config, retries: 0 }
    }
}

impl<B, ResB, E> Policy<Request<B>, Response<ResB>, E> for BackoffPolicy
where
    B: Clone,
{
    type Future = tokio::time::Sleep;

    fn retry(
        &mut self,
        request: &mut Request<B>,
        result: &mut Result<Response<ResB>, E>,
    ) -> Option<Self::Future> {
        let server_wait = match result {
            Ok(response) if response.status().is_server_error() => {
                if wait_hint::should_retry(response.headers()) == Some(false) {
                    return None;
                }
                wait_hint::retry_after(response.headers())
            }
            Ok(_) => return None,
            Err(_) => None,
        };
        if self.retries >= self.config.max_retries {
            tracing::debug!(
                retries = self.retries,
                "5xx/transport: retries spent, giving up"
            );
            return None;
        }
        let delay = match server_wait {
            // The server knows best, within our cap.
            Some(wait) => wait.min(self.config.max_delay),
            None => self.config.delay(self.retries),
        };
        if let Some(deadline) = request.extensions().get::<Deadline>() {
            if deadline.would_pass(delay) {
                tracing::debug!(?delay, "5xx/transport: delay would pass the deadline");
                return None;
            }
        }
        self.retries += 1;
        tracing::debug!(?delay, retry = self.retries, "5xx/transport: backing off");
        Some(tokio::time::sleep(delay))
    }

    fn clone_request(&mut self, request: &Request<B>) -> Option<Request<B>> {
        // No clone, no retry: a request not safe to repeat is sent once.
        self.config.replayable(request).then(|| request.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post(path: &str) -> Request<()> {
        Request::post(path).body(()).unwrap()
    }

    #[test]
    fn creating_billed_work_is_not_replayable() {
        let config = Config::default();
        assert!(!config.replayable(&post("/v1/fine-tunes")));
        assert!(!config.replayable(&post("/v1/batches")));
        assert!(!config.replayable(&post("/v1/files/upload")));
        assert!(config.replayable(&post("/v1/fine-tunes/ft-1/cancel")));
        assert!(config.replayable(&post("/v1/chat/completions")));
        assert!(config.replayable(&Request::get("/v1/batches").body(()).unwrap()));
    }

    #[test]
    fn extension_and_switch_override_the_default() {
        let mut request = post("/v1/batches");
        request.extensions_mut().insert(Idempotency::Idempotent);
        assert!(Config::default().replayable(&request));
        let mut request = post("/v1/chat/completions");
        request.extensions_mut().insert(Idempotency::NonIdempotent);
        assert!(!Config::default().replayable(&request));
        let config = Config {
            retry_non_idempotent: true,
            ..Config::default()
        };
        assert!(config.replayable(&post("/v1/fine-tunes")));
    }

    #[test]
    fn delays_never_exceed_the_cap_even_for_huge_retry_counts() {
        let config = Config::default();
        for retry in [0, 1, 5, 31, 32, 63, 64, 1000, u32::MAX] {
            assert!(config.delay(retry) <= config.max_delay, "{retry}");
        }
    }
}
