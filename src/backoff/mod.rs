//! Resend after 5xx responses and transport errors, with exponential backoff.
//!
//! [`BackoffLayer`] handles server errors (status 500–599) and errors from
//! the inner service (connection refused, reset, timeouts), and nothing
//! else: 4xx answers, 429 included, pass through untouched.
//!
//! - The delay before resend `k` (from 0) is `base_delay × 2^k` (default
//!   1 s), capped by `max_delay` (default 30 s), then shortened by a random
//!   share of up to `jitter` (default 25 %): jitter never pushes a delay
//!   above the cap.
//! - A `Retry-After` on a 5xx (a 503 from a busy platform) is honoured,
//!   capped by `max_delay`; `x-should-retry: false` stops retries.
//! - A request that is not safe to repeat is sent once: by default a `POST`
//!   that creates a fine-tune job, a batch or a file. See
//!   [`Idempotency`](crate::extensions::Idempotency) and
//!   [`BackoffLayer::retry_non_idempotent`].
//! - A delay that would end past the request's
//!   [`Deadline`](crate::extensions::Deadline) is not slept.
//! - At most `max_retries` (default 4) resends; then the last response or
//!   error is returned unchanged.
//!
//! Place it **above** the [`RetryAfterLayer`](crate::RetryAfterLayer) and
//! the [`RateLimitLayer`](crate::RateLimitLayer), so every resend waits for
//! its slot.
//!
//! Transport errors are not classified: the layer cannot tell a refused
//! connection from a bad certificate through a generic error type, so every
//! error is treated as transient, as Together's SDKs do.
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
//! let service = BackoffLayer::new().jitter(0.0).layer(flaky);
//!
//! let start = tokio::time::Instant::now();
//! let response = service.oneshot(http::Request::new(String::new())).await.unwrap();
//! assert_eq!(response.status(), 200);
//! assert_eq!(start.elapsed(), Duration::from_secs(1 + 2));
//! # }
//! ```

mod layer;
mod policy;

pub use self::layer::BackoffLayer;
pub use self::policy::BackoffPolicy;

/// A service that resends after 5xx and transport errors; made by
/// [`BackoffLayer`].
pub type Backoff<S> = tower::retry::Retry<BackoffPolicy, S>;
