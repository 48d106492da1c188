//! `POST /images/generations`.

use super::json_post;
use crate::client::types::{ImageRequest, ImageResponse};
use crate::client::{Error, Together};

json_post!(ImageRequest => ImageResponse, "/images/generations", |_request| 1);

impl Together {
    /// Generates images.
    ///
    /// # Errors
    ///
    /// As [`chat`](Together::chat).
    pub async fn images(&self, request: ImageRequest) -> Result<ImageResponse, Error> {
        self.send(request).await
    }
}
