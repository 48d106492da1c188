use std::time::Duration;

use http::{Request, Response, StatusCode};
use tower::retry::Policy;

use crate::extensions::{AttemptBudget, Deadline};
use crate::telemetry::metrics;
use crate::{circuit_breaker, jitter, retry_budget, wait_hint};

/// The [`Policy`] behind [`RetryAfter`](super::RetryAfter): resend on 429
/// after the server's wait plus jitter; leave every other outcome alone.
///
/// Build one to compose [`tower::retry::Retry`] yourself; the
/// [`RetryAfterLayer`](super::RetryAfterLayer) has the same settings and
/// also gives each call an [`AttemptBudget`]. The policy draws from such a
/// budget when the request carries one, and otherwise is bounded by
/// [`max_retries`](RetryAfterPolicy::max_retries) alone.
///
/// tower clones the policy for each request, so the retry count is per
/// request.
///
/// ```
/// use std::convert::Infallible;
/// use std::time::Duration;
/// use tower::retry::Retry;
/// use tower::{service_fn, ServiceExt};
/// use tower_together::retry_after::RetryAfterPolicy;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let policy = RetryAfterPolicy::new()
///     .max_retries(2)
///     .jitter(Duration::ZERO)
///     .default_wait(Duration::from_secs(1));
/// let always_429 = service_fn(|_req: http::Request<String>| async {
///     Ok::<_, Infallible>(http::Response::builder().status(429).body(String::new()).unwrap())
/// });
/// let service = Retry::new(policy, always_429);
///
/// let start = tokio::time::Instant::now();
/// let response = service.oneshot(http::Request::new(String::new())).await.unwrap();
/// assert_eq!(response.status(), 429);
/// assert_eq!(start.elapsed(), Duration::from_secs(2), "two resends, 1 s apart");
/// # }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryAfterPolicy {
    max_retries: u32,
    default_wait: Duration,
    jitter: Duration,
    max_wait: Duration,
    /// Resends made so far for this request.
    retries: u32,
}

impl Default for RetryAfterPolicy {
    fn default() -> Self {
        RetryAfterPolicy {
            max_retries: 4,
            default_wait: Duration::from_secs(5),
            jitter: Duration::from_secs(2),
            max_wait: Duration::from_secs(60),
            retries: 0,
        }
    }
}

impl RetryAfterPolicy {
    /// Defaults: 4 retries, 5 s when the server gives no wait, jitter up to
    /// 2 s, give up on waits over 60 s.
    pub fn new() -> Self {
        RetryAfterPolicy::default()
    }

    /// How many times one request is resent after a 429 (default 4).
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.max_retries = retries;
        self
    }

    /// The upper bound of the random time added to each wait (default 2 s).
    pub fn jitter(mut self, jitter: Duration) -> Self {
        self.jitter = jitter;
        self
    }

    /// The wait when a 429 carries no `retry-after-ms`, `Retry-After` or
    /// `x-ratelimit-reset` (default 5 s).
    pub fn default_wait(mut self, wait: Duration) -> Self {
        self.default_wait = wait;
        self
    }

    /// The longest wait the server may ask for (default 60 s). A 429 asking
    /// for more is given back at once, so the caller can decide.
    pub fn max_wait(mut self, wait: Duration) -> Self {
        self.max_wait = wait;
        self
    }

    pub(crate) fn retry_limit(&self) -> u32 {
        self.max_retries
    }

    /// How long to wait before resending after this 429, or `None` to give
    /// the 429 back now. Claims from the call's budget last, so a 429 given
    /// back for another reason costs the call nothing.
    fn wait_for<B>(
        &self,
        request: &Request<B>,
        response: &Response<impl Sized>,
    ) -> Option<Duration> {
        if self.retries >= self.max_retries {
            tracing::debug!(retries = self.retries, "429: retries spent, giving up");
            return None;
        }
        let headers = response.headers();
        if wait_hint::should_retry(headers) == Some(false) {
            tracing::debug!("429: server said x-should-retry: false");
            return None;
        }
        let asked = wait_hint::server_wait(headers).unwrap_or(self.default_wait);
        if asked > self.max_wait {
            tracing::debug!(?asked, max_wait = ?self.max_wait, "429: wait too long, giving up");
            return None;
        }
        // Jitter spreads a herd released by the same 429 window.
        let wait = asked.saturating_add(jitter::up_to(self.jitter));
        if let Some(deadline) = request.extensions().get::<Deadline>() {
            if deadline.would_pass(wait) {
                tracing::debug!(?wait, "429: wait would pass the deadline, giving up");
                return None;
            }
        }
        if !AttemptBudget::claim_for(request) {
            tracing::debug!("429: the call's attempt budget is spent, giving up");
            return None;
        }
        if !retry_budget::claim_for(request) {
            tracing::debug!(
                reason = "budget_exhausted",
                "429: the retry budget is spent, giving up"
            );
            metrics::gave_up(request, "budget_exhausted");
            return None;
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
        // Every outcome reaches the call's circuit first; an open circuit
        // stops resends.
        if !circuit_breaker::observe(request, result) {
            return None;
        }
        let response = result.as_ref().ok()?;
        if response.status() != StatusCode::TOO_MANY_REQUESTS {
            return None;
        }
        let wait = self.wait_for(request, response)?;
        // Below `max_retries`, checked in `wait_for`: cannot overflow.
        self.retries += 1;
        metrics::retry(request, "retry_after");
        tracing::debug!(
            reason = "retry_after",
            wait_ms = wait.as_millis() as u64,
            retry = self.retries,
            "429: waiting before resending"
        );
        // tokio clamps a wait past the end of its clock to "far future".
        Some(tokio::time::sleep(wait))
    }

    fn clone_request(&mut self, request: &Request<B>) -> Option<Request<B>> {
        // A 429 means the server did not act on the request, so resending
        // is safe for every request, job-creating ones included.
        Some(request.clone())
    }
}
