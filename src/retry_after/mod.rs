//! Resend on 429, honouring the server's `Retry-After`, with jitter.
//!
//! [`RetryAfterLayer`] handles 429 (Too Many Requests) and nothing else. For
//! each 429 it waits, then resends the same request:
//!
//! - the wait is `retry-after-ms`, else `Retry-After` as seconds (fractions
//!   allowed) or an HTTP-date (measured against the response's `Date`
//!   header when present), else `x-ratelimit-reset`, else `default_wait`
//!   (5 s); malformed or negative values count as absent;
//! - plus jitter, uniform in `[0, jitter]` (default 2 s), so a herd of
//!   requests released by the same 429 does not collide again;
//! - a wait above `max_wait` (default 60 s), or one that would end past the
//!   request's [`Deadline`](crate::extensions::Deadline), is not slept: the
//!   429 goes back at once;
//! - `x-should-retry: false` stops retries;
//! - at most `max_retries` (default 4) resends; then the last 429 response is
//!   returned unchanged.
//!
//! Place it **above** the [`RateLimitLayer`](crate::RateLimitLayer), so every
//! resend waits for its slot too, and the limiter sees the 429 and pauses the
//! whole scope.
//!
//! Built on [`tower::retry::Retry`]: the request body must be `Clone`
//! (`http_body_util::Full<Bytes>`, `String`, ...).
//!
//! # Example
//!
//! ```
//! use std::convert::Infallible;
//! use std::sync::atomic::{AtomicU32, Ordering};
//! use std::sync::Arc;
//! use std::time::Duration;
//! use tower::{service_fn, Layer, ServiceExt};
//! use tower_together::RetryAfterLayer;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let calls = Arc::new(AtomicU32::new(0));
//! let counter = calls.clone();
//! let server = service_fn(move |_req: http::Request<String>| {
//!     let first = counter.fetch_add(1, Ordering::SeqCst) == 0;
//!     async move {
//!         let status = if first { 429 } else { 200 };
//!         let response = http::Response::builder()
//!             .status(status)
//!             .header("retry-after", "1.5")
//!             .body(String::new())
//!             .unwrap();
//!         Ok::<_, Infallible>(response)
//!     }
//! });
//! let service = RetryAfterLayer::new().jitter(Duration::ZERO).layer(server);
//!
//! let start = tokio::time::Instant::now();
//! let response = service.oneshot(http::Request::new(String::new())).await.unwrap();
//! assert_eq!(response.status(), 200);
//! assert_eq!(start.elapsed(), Duration::from_millis(1500));
//! assert_eq!(calls.load(Ordering::SeqCst), 2);
//! # }
//! ```

mod layer;
mod policy;

pub use self::layer::RetryAfterLayer;
pub use self::policy::RetryAfterPolicy;

/// A service that resends 429s; made by [`RetryAfterLayer`].
///
/// # Clone
///
/// Cheap when the inner service is: the policy is a few plain values.
pub type RetryAfter<S> = tower::retry::Retry<RetryAfterPolicy, S>;
