//! Composable tower middleware for clients of Together AI's API.
//!
//! (Crate docs are written with the layers; see README.md.)
#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod backoff;
pub mod endpoint;
pub mod extensions;
pub mod rate_limit;
pub mod retry_after;

mod jitter;
mod wait_hint;

pub use backoff::BackoffLayer;
pub use rate_limit::{Quota, RateLimitLayer};
pub use retry_after::RetryAfterLayer;

/// Alias for a type-erased error type.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
