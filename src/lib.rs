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

#[cfg(feature = "client")]
#[cfg_attr(docsrs, doc(cfg(feature = "client")))]
pub mod client;
pub mod endpoint;
pub mod extensions;

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
