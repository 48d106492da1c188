//! Resend on 429, honouring the server's `Retry-After`, with jitter.
//!
//! [`RetryAfterLayer`] handles 429 (Too Many Requests) and nothing else. For
//! each 429 it waits, then resends the same request:
//!
//! - the wait is `retry-after-ms`, else `Retry-After` as seconds (fractions
//!   allowed) or an HTTP-date (measured against the response's `Date`
//!   header when present), else `x-ratelimit-reset`, else `default_wait`
//!   (5 s); malformed or negative values count as absent (see
//!   [`wait_hint`](crate::wait_hint));
//! - plus jitter, uniform in `[0, jitter]` (default 2 s), so a herd of
//!   requests released by the same 429 does not collide again;
//! - a wait above `max_wait` (default 60 s), or one that would end past the
//!   request's [`Deadline`](crate::extensions::Deadline), is not slept: the
//!   429 goes back at once;
//! - `x-should-retry: false` stops retries;
//! - at most `max_retries` (default 4) resends, and never more than the
//!   call's [`AttemptBudget`](crate::extensions::AttemptBudget) allows (see
//!   below); then the last 429 response is returned unchanged.
//!
//! Place it **above** the [`RateLimitLayer`](crate::RateLimitLayer), so every
//! resend waits for its slot too, and the limiter sees the 429 and pauses the
//! whole scope.
//!
//! # One attempt budget per call
//!
//! A call that passes through this layer and the
//! [`BackoffLayer`](crate::BackoffLayer) makes at most 5 sends in total by
//! default, whatever mix of 429s, 5xx and transport errors it meets: every
//! resend by either layer draws from one
//! [`AttemptBudget`](crate::extensions::AttemptBudget) (see the backoff
//! layer's docs for when it is made). Used
//! alone, this layer gives the call a budget itself (5, or `max_retries + 1`
//! when that is more); set its size with [`RetryAfterLayer::max_attempts`].
//!
//! # A copy of the request per layer
//!
//! A layer that may resend keeps a copy of the request from before its
//! first send (the inner service consumes the request). This one keeps its
//! own wherever it sits, and so does a
//! [`BackoffLayer`](crate::BackoffLayer) above it: each decides and makes
//! its own resends, so each is correct alone and any layer may sit between
//! them (one that rebuilds the response, say). What they share goes down
//! with the request: the call's attempt budget, above. A copy of an
//! `http::Request` clones its headers and each extension, a few
//! allocations; beside a round trip of 100 ms or more, that buys layers
//! that can be read, placed and tested one at a time.
//!
//! # Compared with Together's SDKs
//!
//! Together's TypeScript (`client.ts`), Python (`together-py`) and Go
//! (`together-go`) clients retry 408, 409, 429 and 5xx in one loop, obey
//! `x-should-retry` both ways, read `retry-after-ms` then `Retry-After`, and
//! make at most 3 attempts (2 retries) by default. Here:
//!
//! - 429 is this layer's alone, because it is a different wait: the
//!   server's hint (or 5 s, the original request's figure, where the SDKs
//!   fall back to 1-2 s of backoff that does not clear a per-second
//!   limiter) plus spreading jitter, and the limiter below learns from it.
//!   408, 409 and 5xx are the [`BackoffLayer`](crate::BackoffLayer)'s.
//! - `x-should-retry: false` stops a 429 resend, as in the SDKs;
//!   `x-should-retry: true` adds nothing here, since a 429 is retried
//!   anyway.
//! - A 429 is resent even for a request that creates a job: the server did
//!   not act on it.
//! - Waits over `max_wait` are given back instead of slept. The Python SDK
//!   ignores hints over 60 s and backs off briefly instead; TypeScript now
//!   sleeps any hint. Giving the 429 back lets the caller choose.
//! - The budget is 5 sends (the original request's 4 retries), not 3;
//!   lower it per call with an [`AttemptBudget`](crate::extensions::AttemptBudget)
//!   or per layer with `max_retries`/`max_attempts`.
//!
//! Built on [`tower::retry::Retry`]: the request body must be `Clone`
//! (`http_body_util::Full<Bytes>`, `String`, ...). To compose `Retry`
//! yourself, build a [`RetryAfterPolicy`].
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

pub mod future;
mod layer;
mod policy;
mod service;

pub use self::layer::RetryAfterLayer;
pub use self::policy::RetryAfterPolicy;
pub use self::service::RetryAfter;
