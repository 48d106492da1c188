//! A circuit breaker per (API key, model): when a model is down, stop
//! sending to it, probe it, and resume when it answers.
//!
//! When a model on Together degrades (a run of 503s, 524s, timeouts), every
//! call that retries on its own multiplies the traffic exactly when the
//! platform is weakest. [`CircuitBreakerLayer`] sits **above** the retry
//! layers and keeps one circuit per (API key, model):
//!
//! - **Closed** (normal): calls go. Every attempt's outcome is counted (the
//!   retry layers below report each one): a transport error or timeout,
//!   502, 503, 504, 520-524 or 529 is a failure; anything else, 4xx and 429
//!   included, resets the count. 429 is the rate limiter's business, and a
//!   4xx is the request's fault, not the model's; 500 is often one
//!   request's fault too, so it does not count.
//! - **Open**, after `failure_threshold` failures in a row (default 10:
//!   twice one call's 5 attempts, so one unlucky call never opens it alone;
//!   a run no healthy model produces; short enough to stop within a few
//!   seconds at a few calls per second): nothing is sent, and the retry
//!   layers stop resending calls already in flight. After a cooldown
//!   (default 1 s, doubling after each failed probe up to 2 s) one call
//!   goes through as a **probe**. One probe every 2 s is no load on a
//!   platform, and the cap bounds how late a recovery is noticed.
//! - A successful probe (any answer that is not a failure) closes the
//!   circuit and releases every waiting call; the rate limiter below paces
//!   them.
//!
//! While a circuit is open, a call does what [`OnOpen`] says:
//!
//! - [`OnOpen::Wait`] (the default): wait for the circuit to close, up to
//!   the request's [`Deadline`](crate::extensions::Deadline), sending
//!   nothing; a batch job loses nothing and adds no traffic. A call whose
//!   deadline would pass before the next probe fails at once with
//!   [`CircuitOpen`]. A call that failed as the circuit opened is sent
//!   again once it closes (at most [`max_replays`](CircuitBreakerLayer::max_replays)
//!   times, and never a request that is not safe to repeat).
//! - [`OnOpen::FailFast`]: fail at once with [`CircuitOpen`]. The typed
//!   client does this for a model with fallbacks, and tries the next one.
//!
//! The map of circuits holds at most `max_circuits` (default 1024): when
//! full, circuits that are closed, count no failures and serve no call are
//! forgotten; if none is, a call for a new (key, model) goes unguarded
//! rather than growing the map. So a flood of made-up model names costs a
//! bounded amount of memory.
//!
//! The error type is [`BoxError`](crate::BoxError), as in tower's own
//! `Timeout`: the inner service's errors, boxed, or a [`CircuitOpen`].
//!
//! # Example
//!
//! ```
//! use std::convert::Infallible;
//! use std::time::Duration;
//! use tower::{service_fn, Layer, ServiceExt};
//! use tower_together::circuit_breaker::{CircuitBreakerLayer, CircuitOpen, OnOpen};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let down = service_fn(|_req: http::Request<String>| async {
//!     Ok::<_, Infallible>(http::Response::builder().status(503).body(String::new()).unwrap())
//! });
//! let layer = CircuitBreakerLayer::new()
//!     .failure_threshold(2)
//!     .on_open(OnOpen::FailFast);
//! let service = layer.layer(down);
//! for _ in 0..2 {
//!     let response = service.clone().oneshot(http::Request::new(String::new())).await.unwrap();
//!     assert_eq!(response.status(), 503);
//! }
//! let refused = service.oneshot(http::Request::new(String::new())).await.unwrap_err();
//! assert!(refused.is::<CircuitOpen>());
//! assert_eq!(layer.times_opened(), 1);
//! # }
//! ```

mod circuit;
mod error;
mod future;
mod layer;
mod service;

pub(crate) use self::circuit::observe;
pub use self::error::CircuitOpen;
pub use self::future::ResponseFuture;
pub use self::layer::CircuitBreakerLayer;
pub use self::service::CircuitBreaker;

pub use crate::extensions::OnOpen;
