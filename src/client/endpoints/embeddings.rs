//! `POST /embeddings`.

use super::{json_post, tokens_of};
use crate::client::types::{EmbeddingInput, EmbeddingRequest, EmbeddingResponse};
use crate::client::{Error, Together};

json_post!(EmbeddingRequest => EmbeddingResponse, "/embeddings", |request| {
    match &request.input {
        EmbeddingInput::One(text) => tokens_of(text),
        EmbeddingInput::Many(texts) => texts.iter().map(|t| tokens_of(t)).fold(0, u32::saturating_add),
    }
});

impl Together {
    /// Embeds one text or several in one request.
    ///
    /// See [`embed_all`](Together::embed_all) for a whole corpus.
    ///
    /// # Errors
    ///
    /// As [`chat`](Together::chat).
    pub async fn embeddings(&self, request: EmbeddingRequest) -> Result<EmbeddingResponse, Error> {
        self.send(request).await
    }
}
