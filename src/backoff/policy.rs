use std::time::Duration;

use http::{Method, Request, Response, StatusCode};
use tower::retry::Policy;

use crate::endpoint::Endpoint;
use crate::extensions::{AttemptBudget, Deadline, Idempotency};
use crate::telemetry::metrics;
use crate::{circuit_breaker, jitter, retry_budget, wait_hint};

/// The [`Policy`] behind [`Backoff`](super::Backoff): resend after a
/// retryable status (408, 409, 5xx but 501 and 505, anything with
/// `x-should-retry: true`) or a transport error, with exponential backoff;
/// leave every other outcome alone.
///
/// Build one to compose [`tower::retry::Retry`] yourself; the
/// [`BackoffLayer`](super::BackoffLayer) has the same settings and also
/// gives each call an [`AttemptBudget`]. The policy draws from such a budget
/// when the request carries one, and otherwise is bounded by
/// [`max_retries`](BackoffPolicy::max_retries) alone.
///
/// ```
/// use std::convert::Infallible;
/// use std::time::Duration;
/// use tower::retry::Retry;
/// use tower::{service_fn, ServiceExt};
/// use tower_together::backoff::BackoffPolicy;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let policy = BackoffPolicy::new()
///     .max_retries(3)
///     .base_delay(Duration::from_millis(100))
///     .jitter_fraction(0.0);
/// let always_503 = service_fn(|_req: http::Request<String>| async {
///     Ok::<_, Infallible>(http::Response::builder().status(503).body(String::new()).unwrap())
/// });
/// let service = Retry::new(policy, always_503);
///
/// let start = tokio::time::Instant::now();
/// let response = service.oneshot(http::Request::new(String::new())).await.unwrap();
/// assert_eq!(response.status(), 503);
/// assert_eq!(start.elapsed(), Duration::from_millis(100 + 200 + 400));
/// # }
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BackoffPolicy {
    max_retries: u32,
    base_delay: Duration,
    max_delay: Duration,
    jitter_fraction: f64,
    retry_non_idempotent: bool,
    /// Resends made so far for this request.
    retries: u32,
}

impl Default for BackoffPolicy {
    fn default() -> Self {
        BackoffPolicy {
            max_retries: 4,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(30),
            jitter_fraction: 0.25,
            retry_non_idempotent: false,
            retries: 0,
        }
    }
}

impl BackoffPolicy {
    /// Defaults: 4 retries, delays 1 s, 2 s, 4 s, 8 s (each shortened by up
    /// to 25 % jitter), capped at 30 s.
    pub fn new() -> Self {
        BackoffPolicy::default()
    }

    /// How many times one request is resent (default 4).
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.max_retries = retries;
        self
    }

    /// The delay before the first resend; it doubles each time (default 1 s).
    pub fn base_delay(mut self, delay: Duration) -> Self {
        self.base_delay = delay;
        self
    }

    /// The cap on every delay, including a server's `Retry-After` (default
    /// 30 s).
    pub fn max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay;
        self
    }

    /// The largest share of a delay that jitter may take off it, in `[0, 1]`
    /// (default 0.25, as Together's SDKs do). Jitter only ever shortens a
    /// delay, so it never passes the cap. Values outside `[0, 1]` are
    /// clamped; NaN means no jitter.
    ///
    /// A fraction, unlike [`RetryAfterPolicy::jitter`](crate::retry_after::RetryAfterPolicy::jitter),
    /// which is a duration added to the server's wait.
    pub fn jitter_fraction(mut self, fraction: f64) -> Self {
        self.jitter_fraction = if fraction.is_nan() {
            0.0
        } else {
            fraction.clamp(0.0, 1.0)
        };
        self
    }

    /// Also resend requests that may not be safe to repeat (a `POST` that
    /// may create a billed resource: a video, an endpoint, a fine-tune job,
    /// a batch, a file, or any path this crate does not know). Off by default: a second attempt
    /// could start a second billed job. The
    /// [`Idempotency`](crate::extensions::Idempotency) extension overrides
    /// this per request.
    pub fn retry_non_idempotent(mut self, retry: bool) -> Self {
        self.retry_non_idempotent = retry;
        self
    }

    pub(crate) fn retry_limit(&self) -> u32 {
        self.max_retries
    }

    /// `base × 2^retry`, capped, then shortened by up to `jitter_fraction`
    /// of itself: jitter never pushes a delay above the cap.
    pub(crate) fn delay(&self, retry: u32) -> Duration {
        // Past 2^31 the factor saturates; the cap is reached long before.
        let factor = 1u32.checked_shl(retry).unwrap_or(u32::MAX);
        let delay = self.base_delay.saturating_mul(factor).min(self.max_delay);
        jitter::shrink(delay, self.jitter_fraction)
    }

    /// Whether a request may be sent a second time.
    pub(crate) fn replayable<B>(&self, request: &Request<B>) -> bool {
        match request.extensions().get::<Idempotency>() {
            Some(Idempotency::Idempotent) => true,
            Some(Idempotency::NonIdempotent) => false,
            None => self.retry_non_idempotent || !may_create_billed_work(request),
        }
    }
}

/// A request that may create a billed resource, so that sending it twice
/// could start two billed jobs (two videos, two endpoints, two fine-tunes):
/// a `POST` or `PATCH`, unless it is one of the inference calls whose
/// answer is all they make (chat, completions, embeddings, images, rerank:
/// a second send bills a second answer, never a second resource), or a
/// cancel. A path this crate does not know is assumed to create one: new
/// endpoints (`/endpoints`, `/evaluation`, `/deployments`...) mostly do.
/// `GET`, `PUT`, `DELETE` and the rest are idempotent by HTTP's rules.
pub(crate) fn may_create_billed_work<B>(request: &Request<B>) -> bool {
    let method = request.method();
    if method != Method::POST && method != Method::PATCH {
        return false;
    }
    let path = request.uri().path();
    let inference = matches!(
        Endpoint::from_path(path),
        Endpoint::ChatCompletions
            | Endpoint::Completions
            | Endpoint::Embeddings
            | Endpoint::ImagesGenerations
            | Endpoint::Rerank
    );
    !inference && !path.trim_end_matches('/').ends_with("/cancel")
}

/// `Some(server's wait, if any)` when this outcome may be resent.
fn retryable<B, ResB, E>(
    request: &Request<B>,
    result: &Result<Response<ResB>, E>,
) -> Option<Option<Duration>> {
    let response = match result {
        // Transport errors are not classified: through a generic error type
        // a refused connection looks like a bad certificate, and the SDKs
        // retry them all.
        Err(_) => return Some(None),
        Ok(response) => response,
    };
    let status = response.status();
    // 429 is the RetryAfterLayer's: it waits the server's hint, and when it
    // gives a 429 back (over `max_wait`, past the deadline) a resend here
    // would undo that decision.
    if status == StatusCode::TOO_MANY_REQUESTS {
        return None;
    }
    // Nothing below resends a success or a redirect: decided without
    // reading a header, on the path nearly every call takes.
    if !status.is_client_error() && !status.is_server_error() {
        return None;
    }
    let headers = response.headers();
    let retry = match wait_hint::should_retry(headers) {
        // The SDKs obey the server both ways, on error statuses.
        Some(told) => told && (status.is_client_error() || status.is_server_error()),
        None => retryable_status(status, request),
    };
    retry.then(|| wait_hint::retry_after(headers))
}

/// The statuses Together's SDKs retry, less 501 and 505 (this server will
/// not learn the method or HTTP version on a second try), and less 409 on a
/// request that creates a job (there it means "too many jobs running": a
/// resend in a second or two cannot help; the client's fine-tune cap waits
/// for a job to end instead).
fn retryable_status<B>(status: StatusCode, request: &Request<B>) -> bool {
    match status.as_u16() {
        408 => true,
        409 => !may_create_billed_work(request),
        501 | 505 => false,
        500..=599 => true,
        _ => false,
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
        // Every outcome reaches the call's circuit first (once, whichever
        // retry layer sees it first); an open circuit stops resends.
        if !circuit_breaker::observe(request, result) {
            return None;
        }
        let server_wait = retryable(request, result)?;
        if self.retries >= self.max_retries {
            tracing::debug!(retries = self.retries, "backoff: retries spent, giving up");
            return None;
        }
        let delay = match server_wait {
            // The server knows best, within our cap.
            Some(wait) => wait.min(self.max_delay),
            None => self.delay(self.retries),
        };
        if let Some(deadline) = request.extensions().get::<Deadline>() {
            if deadline.would_pass(delay) {
                tracing::debug!(?delay, "backoff: delay would pass the deadline");
                return None;
            }
        }
        // Last, so an outcome not resent for another reason costs nothing.
        if !AttemptBudget::claim_for(request) {
            tracing::debug!("backoff: the call's attempt budget is spent, giving up");
            return None;
        }
        if !retry_budget::claim_for(request) {
            tracing::debug!(
                reason = "budget_exhausted",
                "backoff: the retry budget is spent, giving up"
            );
            metrics::gave_up(request, "budget_exhausted");
            return None;
        }
        // Below `max_retries`, checked above: cannot overflow.
        self.retries += 1;
        metrics::retry(request, "backoff");
        tracing::debug!(
            reason = "backoff",
            wait_ms = delay.as_millis() as u64,
            retry = self.retries,
            "backoff: waiting before resending"
        );
        // tokio clamps a wait past the end of its clock to "far future".
        Some(tokio::time::sleep(delay))
    }

    fn clone_request(&mut self, request: &Request<B>) -> Option<Request<B>> {
        // No clone, no retry: a request not safe to repeat is sent once.
        self.replayable(request).then(|| request.clone())
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
        let policy = BackoffPolicy::default();
        assert!(!policy.replayable(&post("/v1/fine-tunes")));
        assert!(!policy.replayable(&post("/v1/batches")));
        assert!(!policy.replayable(&post("/v1/files/upload")));
        assert!(policy.replayable(&post("/v1/fine-tunes/ft-1/cancel")));
        assert!(policy.replayable(&post("/v1/chat/completions")));
        assert!(policy.replayable(&Request::get("/v1/batches").body(()).unwrap()));
    }

    #[test]
    fn extension_and_switch_override_the_default() {
        let mut request = post("/v1/batches");
        request.extensions_mut().insert(Idempotency::Idempotent);
        assert!(BackoffPolicy::default().replayable(&request));
        let mut request = post("/v1/chat/completions");
        request.extensions_mut().insert(Idempotency::NonIdempotent);
        assert!(!BackoffPolicy::default().replayable(&request));
        let policy = BackoffPolicy::default().retry_non_idempotent(true);
        assert!(policy.replayable(&post("/v1/fine-tunes")));
    }

    #[test]
    fn delays_never_exceed_the_cap_even_for_huge_retry_counts() {
        let policy = BackoffPolicy::default();
        for retry in [0, 1, 5, 31, 32, 63, 64, 1000, u32::MAX] {
            assert!(policy.delay(retry) <= policy.max_delay, "{retry}");
        }
    }

    #[test]
    fn statuses_follow_the_sdks_less_501_505_and_job_conflicts() {
        let chat = post("/v1/chat/completions");
        let create = post("/v1/fine-tunes");
        for status in [408, 409, 500, 502, 503, 504, 520, 524, 529, 599] {
            let status = StatusCode::from_u16(status).unwrap();
            assert!(retryable_status(status, &chat), "{status}");
        }
        for status in [200, 301, 400, 401, 403, 404, 422, 429, 501, 505] {
            let status = StatusCode::from_u16(status).unwrap();
            assert!(!retryable_status(status, &chat), "{status}");
        }
        assert!(!retryable_status(StatusCode::CONFLICT, &create));
        assert!(retryable_status(StatusCode::REQUEST_TIMEOUT, &create));
    }
}
