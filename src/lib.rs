//! Composable tower middleware for clients of Together AI's API.
//!
//! Three separate layers, each useful alone over any
//! `Service<http::Request<B>>` with `B: Clone`:
//!
//! - [`RateLimitLayer`]: shared, fair, per-scope pacing ([`rate_limit`]);
//! - [`RetryAfterLayer`]: resend on 429 after `Retry-After` + jitter
//!   ([`retry_after`]);
//! - [`BackoffLayer`]: resend on 5xx / transport errors with exponential
//!   backoff ([`backoff`]).
//!
//! Stack them in this order (outermost first), so every attempt pays for its
//! slot and the limiter sees every 429:
//!
//! ```text
//!  BackoffLayer      5xx / transport: exponential backoff + jitter
//!    ▼
//!  RetryAfterLayer   429: wait Retry-After (+ jitter), resend
//!    ▼
//!  RateLimitLayer    shared, fair, per-scope pacing; pauses a scope on 429
//!    ▼
//!  HTTP transport    hyper-util client, or any Service
//! ```
//!
//! The layers talk through request [`extensions`], never through each other.
//!
//! On top of them, the typed [`Together`] client (feature `client`, on by
//! default) builds the HTTP requests, tags them with those extensions and
//! sends them through the three layers over hyper-util + rustls: see
//! [`client`]. The `sim` module (feature `sim`) is a Together look-alike
//! server to test any of it against.
//!
//! # Example
//!
//! ```
//! use std::convert::Infallible;
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//! use tower_together::{BackoffLayer, Quota, RateLimitLayer, RetryAfterLayer};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let transport = service_fn(|_req: http::Request<String>| async {
//!     Ok::<_, Infallible>(http::Response::new(String::from("{}")))
//! });
//! let client = ServiceBuilder::new()
//!     .layer(BackoffLayer::new())
//!     .layer(RetryAfterLayer::new())
//!     .layer(RateLimitLayer::new(Quota::per_second(5)))
//!     .service(transport);
//!
//! let request = http::Request::post("https://api.together.ai/v1/chat/completions")
//!     .body(String::from("{}"))
//!     .unwrap();
//! let response = client.oneshot(request).await.unwrap();
//! assert_eq!(response.status(), 200);
//! # }
//! ```
//!
//! # Feature flags
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `client` | yes | the typed [`Together`] client over hyper-util + rustls (webpki roots, `HTTPS_PROXY` / `NO_PROXY`) |
//! | `native-roots` | no | the platform's root certificates for the client's TLS (`TlsRoots::native`) |
//! | `reqwest` | no | a `reqwest::Client` under the layers (module `reqwest`), and `TogetherBuilder::build_with_reqwest` |
//! | `reqwest-middleware` | no | the layers as one `reqwest_middleware::Middleware` (`reqwest::StackMiddleware`) |
//! | `redis` | no | scopes shared by many processes through Redis (`rate_limit::store::RedisStore`) |
//! | `sim` | no | a Together look-alike server for tests (module `sim`) |
//! | `metrics` | no | metrics through the `metrics` facade ([`telemetry::metrics`]) |
//!
//! All waiting goes through `tokio::time`, so `tokio::time::pause()` drives
//! every clock in tests.
//!
#![cfg_attr(feature = "client", doc = "[`Together`]: crate::Together")]
#![cfg_attr(feature = "client", doc = "[`client`]: crate::client")]
// Without the client, its links go to the full docs instead of nowhere.
#![cfg_attr(
    not(feature = "client"),
    doc = "[`Together`]: https://docs.rs/tower-together/latest/tower_together/struct.Together.html"
)]
#![cfg_attr(
    not(feature = "client"),
    doc = "[`client`]: https://docs.rs/tower-together/latest/tower_together/client/index.html"
)]
#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod backoff;
pub mod circuit_breaker;
#[cfg(feature = "client")]
#[cfg_attr(docsrs, doc(cfg(feature = "client")))]
pub mod client;
pub mod endpoint;
pub mod extensions;
pub mod rate_limit;
#[cfg(feature = "reqwest")]
#[cfg_attr(docsrs, doc(cfg(feature = "reqwest")))]
pub mod reqwest;
pub mod retry_after;
pub mod retry_budget;
#[cfg(feature = "sim")]
#[cfg_attr(docsrs, doc(cfg(feature = "sim")))]
pub mod sim;
pub mod telemetry;
pub mod wait_hint;

mod attempt_budget;
mod fingerprint;
mod jitter;
mod time;

pub use backoff::BackoffLayer;
pub use circuit_breaker::CircuitBreakerLayer;
pub use rate_limit::{Quota, RateLimitLayer};
pub use retry_after::RetryAfterLayer;
pub use retry_budget::{RetryBudget, RetryBudgetLayer};

#[cfg(feature = "client")]
#[cfg_attr(docsrs, doc(cfg(feature = "client")))]
pub use client::types;
#[cfg(feature = "client")]
pub use client::types::{
    ChatRequest, ChatResponse, CompletionRequest, CompletionResponse, EmbeddingRequest,
    EmbeddingResponse, Message, ModelInfo, Role,
};
#[cfg(feature = "client")]
pub use client::{EmbedAllError, Error, Together, TogetherBuilder};

/// Alias for a type-erased error type.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

// Compiles and runs the README's examples as doc tests, so it cannot drift.
#[cfg(all(doctest, feature = "client", feature = "sim"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
