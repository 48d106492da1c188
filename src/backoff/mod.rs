//! Resend after 408, 409, 5xx and transport errors, with exponential
//! backoff.
//!
//! [`BackoffLayer`] handles the failures a second try may fix, and nothing
//! else:
//!
//! - errors from the inner service (connection refused, reset, timeouts);
//! - 408 (Request Timeout);
//! - 409 (Conflict), except on a request that creates a job (below);
//! - 500 and every other 5xx except 501 (Not Implemented) and 505 (HTTP
//!   Version Not Supported), which no second try changes;
//! - any 4xx or 5xx with `x-should-retry: true`; and nothing with
//!   `x-should-retry: false`.
//!
//! 429 is never handled here: it is the
//! [`RetryAfterLayer`](crate::RetryAfterLayer)'s. Other 4xx pass through.
//!
//! - The delay before resend `k` (from 0) is `base_delay × 2^k` (default
//!   1 s), capped by `max_delay` (default 30 s), then shortened by a random
//!   share of up to `jitter_fraction` (default 25 %): jitter never pushes a
//!   delay above the cap.
//! - A `Retry-After` (or `retry-after-ms`) on a retried answer (a 503 from a
//!   busy platform) is honoured, capped by `max_delay`.
//! - A request that may create a billed resource is sent once: by default
//!   a `POST` or `PATCH` other than chat, completions, embeddings, images,
//!   rerank and cancels, so `/videos`, `/fine-tunes`, `/batches`, `/files`
//!   and every path this crate does not know (`/endpoints`, ...). See
//!   [`Idempotency`](crate::extensions::Idempotency) and
//!   [`BackoffLayer::retry_non_idempotent`].
//! - A delay that would end past the request's
//!   [`Deadline`](crate::extensions::Deadline) is not slept.
//! - At most `max_retries` (default 4) resends, and never more than the
//!   call's [`AttemptBudget`](crate::extensions::AttemptBudget) allows; then
//!   the last response or error is returned unchanged.
//!
//! Place it **above** the [`RetryAfterLayer`](crate::RetryAfterLayer) and
//! the [`RateLimitLayer`](crate::RateLimitLayer), so every resend waits for
//! its slot.
//!
//! # One attempt budget per call
//!
//! As the outer retry layer, this one gives each call that has none an
//! [`AttemptBudget`](crate::extensions::AttemptBudget) before its first
//! send (5 sends by default, or `max_retries + 1` when that is more; see
//! [`BackoffLayer::max_attempts`]), so a call makes at most 5 sends in total
//! by default, whatever mix of 429s, 5xx and transport errors it meets,
//! instead of up to 5 × 5. The budget goes down with the request (and
//! every copy of it): the `RetryAfterLayer` below, which keeps its own copy
//! and resends its own 429s, draws from the same count, whatever sits
//! between them. Two backoff layers stacked draw from it too.
//!
//! # Compared with Together's SDKs
//!
//! Together's TypeScript (`client.ts` `shouldRetry`), Python
//! (`together-py` `_should_retry`) and Go (`together-go` `shouldRetry`)
//! clients retry connection errors, 408, 409, 429 and 5xx (TypeScript:
//! 501 and up, not 500), obey `x-should-retry: true|false` over the status,
//! back off `min(2^k, 10) s` shortened by up to 25 %, and make at most 3
//! attempts by default. Here:
//!
//! - 408 and 409 are handled here, with exponential backoff, as the SDKs
//!   do; 429 is split off to the `RetryAfterLayer`, whose wait is the
//!   server's hint.
//! - 500 is retried, as the Python and Go SDKs do and as Together's docs
//!   advise ("try again"); TypeScript stopped retrying it.
//! - 501 and 505 are not retried, where the SDKs' "5xx" retries them: they
//!   say the server does not support the request, which a resend cannot
//!   change.
//! - Nothing is resent after a 5xx, a 409 or a transport error for a
//!   request that may create a billed resource (above): a second send could
//!   start a second billed job. The SDKs have no such guard.
//! - `x-should-retry` is obeyed both ways on 4xx and 5xx, as in the SDKs
//!   (which look at it on error answers only), except that it cannot make
//!   this layer resend a 429 or a request not safe to repeat.
//! - Delays start at 1 s and double to a 30 s cap (the SDKs cap at 10 s);
//!   the jitter is the SDKs' shrink-only 25 %.
//! - The budget is 5 sends (the original request's 4 retries), not 3.
//!
//! Built on [`tower::retry::Retry`]: the request body must be `Clone`. To
//! compose `Retry` yourself, build a [`BackoffPolicy`].
//!
//! # Example
//!
//! ```
//! use std::convert::Infallible;
//! use std::sync::atomic::{AtomicU32, Ordering};
//! use std::sync::Arc;
//! use std::time::Duration;
//! use tower::{service_fn, Layer, ServiceExt};
//! use tower_together::BackoffLayer;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let calls = Arc::new(AtomicU32::new(0));
//! let counter = calls.clone();
//! let flaky = service_fn(move |_req: http::Request<String>| {
//!     let call = counter.fetch_add(1, Ordering::SeqCst);
//!     async move {
//!         let status = if call < 2 { 503 } else { 200 };
//!         let response = http::Response::builder().status(status).body(String::new()).unwrap();
//!         Ok::<_, Infallible>(response)
//!     }
//! });
//! let service = BackoffLayer::new().jitter_fraction(0.0).layer(flaky);
//!
//! let start = tokio::time::Instant::now();
//! let response = service.oneshot(http::Request::new(String::new())).await.unwrap();
//! assert_eq!(response.status(), 200);
//! assert_eq!(start.elapsed(), Duration::from_secs(1 + 2));
//! # }
//! ```

pub mod future;
mod layer;
mod policy;
mod service;

pub use self::layer::BackoffLayer;
pub(crate) use self::policy::may_create_billed_work;
pub use self::policy::BackoffPolicy;
pub use self::service::Backoff;
