//! Request types that name an object by id, or take no parameters.
//!
//! The body-carrying request types ([`ChatRequest`](crate::types::ChatRequest)
//! and the rest) live in [`types`](crate::types). All of them implement
//! [`ApiRequest`](crate::client::ApiRequest), so they can be sent through
//! [`Together`](crate::Together) as a tower `Service`.
//!
//! # Example
//!
//! ```
//! use tower_together::client::requests::GetFineTune;
//! use tower_together::client::ApiRequest;
//!
//! let request = GetFineTune::new("ft-123");
//! assert_eq!(request.path(), "/fine-tunes/ft-123");
//! assert_eq!(request.method(), http::Method::GET);
//! ```

pub use super::endpoints::batches::{CancelBatch, GetBatch, ListBatches};
pub use super::endpoints::files::{DeleteFile, FileContent, GetFile, ListFiles};
pub use super::endpoints::fine_tunes::{
    CancelFineTune, DeleteFineTune, FineTuneCheckpoints, FineTuneEvents, GetFineTune, ListFineTunes,
};
pub use super::endpoints::models::ListModels;
pub use super::endpoints::videos::GetVideo;
