//! A retry budget shared across calls: retries stay within a share of first
//! attempts.
//!
//! A per-call limit ([`AttemptBudget`](crate::extensions::AttemptBudget))
//! bounds one call; it does nothing about a thousand calls each retrying
//! four times while a model is down, which is five times the traffic at the
//! moment the platform is weakest. A [`RetryBudget`] bounds them together:
//! over a sliding window (default 10 s), retries may number at most
//! `min_per_sec × window + retry_ratio × first attempts` (defaults: 1 per
//! second and 20 %). A call that finds the budget spent is not retried: it
//! returns its last answer (or error) at once.
//!
//! This is tower's [`TpsBudget`](tower::retry::budget::TpsBudget) and
//! reqwest's default retry budget (20 % extra load), with two differences:
//!
//! - the floor is 1 retry per second, not tower's 10: a Together key paced
//!   at a few requests per second would let a floor of 10/s alone multiply
//!   its traffic during an outage;
//! - one handle serves both retry layers: a [`RetryBudgetLayer`] above the
//!   [`BackoffLayer`](crate::BackoffLayer) and the
//!   [`RetryAfterLayer`](crate::RetryAfterLayer) counts each call's first
//!   attempt and puts the handle on the request (an extension); every
//!   resend by either layer (or by their policies in a
//!   [`tower::retry::Retry`] of your own) draws from it. Clones of the
//!   layer, and of the services it makes, share the budget.
//!
//! A request that already carries a [`RetryBudget`] (from the caller or an
//! outer layer) keeps it and is not counted again. Without one, the retry
//! layers are bounded per call only, so a layer used alone with
//! `max_retries(n)` keeps meaning n resends.
//!
//! The typed [`Together`] client stacks a
//! [`RetryBudgetLayer`] with a budget of its own by default; set one with
//! `TogetherBuilder::retry_budget`, or turn it off with `retry_budget(None)`.
//!
//! # Example
//!
//! ```
//! use std::convert::Infallible;
//! use std::sync::atomic::{AtomicU32, Ordering};
//! use std::sync::Arc;
//! use std::time::Duration;
//! use tower::{service_fn, Layer, ServiceExt};
//! use tower_together::retry_budget::{RetryBudget, RetryBudgetLayer};
//! use tower_together::BackoffLayer;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let sends = Arc::new(AtomicU32::new(0));
//! let counter = sends.clone();
//! let down = service_fn(move |_req: http::Request<String>| {
//!     counter.fetch_add(1, Ordering::SeqCst);
//!     async { Ok::<_, Infallible>(http::Response::builder().status(503).body(String::new()).unwrap()) }
//! });
//! // No floor, 50 %: ten failing calls may retry five times between them.
//! let budget = RetryBudget::builder().min_per_sec(0).retry_ratio(0.5).build();
//! let service = (RetryBudgetLayer::new(budget.clone()), BackoffLayer::new()).layer(down);
//! for _ in 0..10 {
//!     let response = service.clone().oneshot(http::Request::new(String::new())).await.unwrap();
//!     assert_eq!(response.status(), 503);
//! }
//! assert_eq!(sends.load(Ordering::SeqCst), 10 + 5);
//! assert_eq!(budget.exhausted(), 10, "each call refused once, then it gave up");
//! # }
//! ```
//!
#![cfg_attr(feature = "client", doc = "[`Together`]: crate::Together")]
#![cfg_attr(
    not(feature = "client"),
    doc = "[`Together`]: https://docs.rs/tower-together/latest/tower_together/struct.Together.html"
)]

mod budget;
mod layer;
mod service;

pub(crate) use self::budget::claim_for;
pub use self::budget::{RetryBudget, RetryBudgetBuilder};
pub use self::layer::RetryBudgetLayer;
pub use self::service::RetryBudgeted;
