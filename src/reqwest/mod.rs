//! reqwest as the HTTP client under the layers (feature `reqwest`).
//!
//! [`ReqwestService`] makes a [`reqwest::Client`] a
//! `tower::Service<http::Request<B>>`, so the crate's layers stack over the
//! client an application already has, with its TLS, proxy and pool
//! settings. With the `client` feature,
//! [`TogetherBuilder::build_with_reqwest`](crate::TogetherBuilder::build_with_reqwest)
//! puts the typed client's whole stack over it. With the
//! `reqwest-middleware` feature, [`StackMiddleware`] is the same stack as a
//! `reqwest_middleware::Middleware`, for code already written against
//! `ClientWithMiddleware`.
//!
//! Streaming answers stay streaming: the response body is reqwest's, read
//! as it arrives. Errors are `reqwest::Error`s, unchanged.
//!
//! This crate turns on no reqwest features: TLS (`rustls`, `native-tls`),
//! HTTP/2 and the system proxy settings are your `reqwest` dependency's
//! choice, as is the crypto provider. (reqwest 0.13's `rustls` feature
//! brings `aws-lc-rs`, a second provider beside the `ring` of this crate's
//! own transport; with `rustls-no-provider` it uses the process default,
//! `rustls::crypto::ring::default_provider().install_default()`.)
//!
//! # Example
//!
//! ```
//! use bytes::Bytes;
//! use http_body_util::{BodyExt, Full};
//! use tower::{ServiceBuilder, ServiceExt};
//! use tower_together::reqwest::ReqwestService;
//! use tower_together::sim::Simulator;
//! use tower_together::{BackoffLayer, Quota, RateLimitLayer, RetryAfterLayer};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let sim = Simulator::builder().api_key("sim-key").start().await?;
//! let http = ServiceBuilder::new()
//!     .layer(BackoffLayer::new())
//!     .layer(RetryAfterLayer::new())
//!     .layer(RateLimitLayer::new(Quota::per_second(5)))
//!     .service(ReqwestService::new(reqwest::Client::new()));
//!
//! let request = http::Request::get(format!("{}/models", sim.base_url()))
//!     .header("authorization", "Bearer sim-key")
//!     .body(Full::new(Bytes::new()))?;
//! let response = http.oneshot(request).await?;
//! assert_eq!(response.status(), 200);
//! let body = response.into_body().collect().await?.to_bytes();
//! assert!(body.starts_with(b"["));
//! # Ok(()) }
//! ```

mod body;
#[cfg(feature = "reqwest-middleware")]
mod middleware;
mod service;

#[cfg(feature = "reqwest-middleware")]
#[cfg_attr(docsrs, doc(cfg(feature = "reqwest-middleware")))]
pub use middleware::StackMiddleware;
pub use service::{ReqwestService, ResponseFuture};
