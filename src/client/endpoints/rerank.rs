//! `POST /rerank`.

use super::{json_post, tokens_of};
use crate::client::types::{RerankRequest, RerankResponse};
use crate::client::{Error, Together};

json_post!(RerankRequest => RerankResponse, "/rerank", |request| {
    let documents = request
        .documents
        .iter()
        .map(|d| d.as_str().map_or(1, tokens_of))
        .fold(0, u32::saturating_add);
    tokens_of(&request.query).saturating_add(documents)
}, |answer| answer.usage.as_ref().map(|u| u.total_tokens));

impl Together {
    /// Ranks documents by relevance to a query.
    ///
    /// # Errors
    ///
    /// As [`chat`](Together::chat).
    pub async fn rerank(&self, request: RerankRequest) -> Result<RerankResponse, Error> {
        self.send(request).await
    }
}
