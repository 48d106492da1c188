//! A shared, fair, per-scope rate limiter for HTTP clients.
//!
//! [`RateLimitLayer`] paces requests so that a server's rate limit is never
//! hit in the first place, and stops a whole scope when it is hit anyway.
//!
//! - **Shared.** Every clone of the service, and every service made by one
//!   layer, draws from one budget. (tower's own `RateLimit` gives each copy
//!   its own budget, which multiplies the limit by the number of copies.)
//! - **Scoped.** A scope is (API key, endpoint class, model). The API key
//!   comes from the `Authorization` header (hashed, never kept in clear; the
//!   scheme's case and stray spaces do not count), else an
//!   [`ApiKeyFingerprint`](crate::extensions::ApiKeyFingerprint) extension;
//!   the endpoint class from the path ([`Endpoint`](crate::endpoint::Endpoint));
//!   the model from a [`Model`](crate::extensions::Model) extension, else one
//!   scope per endpoint class.
//! - **Exact.** Pacing is GCRA arithmetic on a theoretical arrival time, not
//!   a timer per permit, so timer granularity costs no throughput. Over any
//!   window that is a whole number of emission intervals, a scope admits at
//!   most `rate × window + burst` units.
//! - **Fair.** Waiters in a scope are served first come, first served. A
//!   waiter that is dropped gives its place back at once; nobody starves.
//! - **Weighted.** A [`Cost`](crate::extensions::Cost) extension makes a
//!   request count as several units. A cost above the burst waits until the
//!   bucket is full, then goes: it is never an error.
//! - **429-aware.** A 429 coming back through the layer pauses its whole
//!   scope until the server's `retry-after-ms` / `Retry-After` /
//!   `x-ratelimit-reset` (or 1 s), so the other requests of that scope stop
//!   too, then resume at the quota's pace.
//! - **Adaptive.** A lower `x-ratelimit-limit` in the answers (Together's
//!   requests per second for the key and model) slows the scope to it; a
//!   429 halves the rate (once per pause), and each success wins back 1 %.
//!   A configured quota is never exceeded. [`RateLimitBuilder::adaptive`]
//!   turns this off.
//! - **Bounded.** Idle scopes are dropped (see
//!   [`RateLimitBuilder::idle_timeout`]), so a proxy serving many keys or
//!   models holds only the scopes its live traffic uses.
//! - **Cheap.** A request that finds room and nobody waiting costs a clock
//!   read and one compare-and-swap; once a thread has seen a scope, no lock
//!   and no allocation (a per-thread cache finds the scope); only the head
//!   of a queue has a timer, and a waiting request costs a 24-byte queue
//!   entry. See `BENCHMARKS.md`.
//!
//! All time goes through `tokio::time`, so `tokio::time::pause()` drives it.
//!
//! The future waits in `call`, not in `poll_ready`: the scope depends on the
//! request, which `poll_ready` does not see. So `poll_ready` is always ready,
//! and the response future first waits for the request's slot, then polls a
//! clone of the inner service ready, then calls it (as tower's `Oneshot`
//! does): a request that waits holds nothing below the limiter, so a paused
//! scope cannot starve other scopes of a `ConcurrencyLimit` or `Buffer`
//! underneath.
//!
//! # Layout
//!
//! `service` and `future` find a request's scope through `recent` (a
//! per-thread cache) and `registry` (the shared map, swept of idle scopes);
//! `acquire` waits in a scope's `queue`; `feedback` feeds answers back;
//! `scope` keeps the state in atomics and decides with `gcra`, which is pure
//! arithmetic; a scope built with a shared [`store`] (Redis) keeps its queue
//! here and asks the store from the head of the queue. Arrows run one way,
//! in that order.
//!
//! # Example
//!
//! ```
//! use std::convert::Infallible;
//! use std::time::Duration;
//! use tower::{service_fn, Layer, ServiceExt};
//! use tower_together::{Quota, RateLimitLayer};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let layer = RateLimitLayer::new(Quota::per_second(5).burst(1));
//! let service = layer.layer(service_fn(|_req: http::Request<String>| async {
//!     Ok::<_, Infallible>(http::Response::new(String::new()))
//! }));
//!
//! let start = tokio::time::Instant::now();
//! for _ in 0..10 {
//!     let request = http::Request::post("https://api.together.ai/v1/chat/completions")
//!         .body(String::new())
//!         .unwrap();
//!     // Each clone shares the same budget.
//!     service.clone().oneshot(request).await.unwrap();
//! }
//! // 10 requests at 5/s with a burst of 1: the last goes 1.8 s in.
//! assert_eq!(start.elapsed(), Duration::from_millis(1800));
//! # }
//! ```

mod acquire;
mod builder;
mod config;
mod feedback;
pub mod future;
mod gcra;
mod headers;
mod layer;
mod pace;
mod queue;
mod quota;
mod recent;
mod registry;
mod reservation;
mod scope;
mod service;
mod snapshot;
pub mod store;

pub use self::builder::RateLimitBuilder;
pub use self::layer::RateLimitLayer;
pub use self::quota::{Quota, QuotaError};
pub use self::reservation::TokenReservation;
pub use self::service::RateLimit;
pub use self::snapshot::{ScopeSnapshot, Snapshot};
