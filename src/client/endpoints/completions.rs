//! `POST /completions`, plain and streaming.

use super::{json_post, tokens_of};
use crate::client::stream::CompletionStream;
use crate::client::types::{CompletionChunk, CompletionRequest, CompletionResponse};
use crate::client::{Error, Together};

json_post!(CompletionRequest => CompletionResponse, "/completions", |request| {
    tokens_of(&request.prompt).saturating_add(request.max_tokens.unwrap_or(512))
}, |answer| answer.usage.as_ref().map(|u| u.total_tokens));

impl Together {
    /// Creates a completion of a raw prompt.
    ///
    /// # Errors
    ///
    /// As [`chat`](Together::chat).
    pub async fn completion(
        &self,
        request: CompletionRequest,
    ) -> Result<CompletionResponse, Error> {
        self.send(request).await
    }

    /// Creates a completion and streams it until `data: [DONE]`.
    ///
    /// # Errors
    ///
    /// As [`chat_stream`](Together::chat_stream).
    pub async fn completion_stream(
        &self,
        mut request: CompletionRequest,
    ) -> Result<CompletionStream, Error> {
        request.stream = Some(true);
        self.open_stream(request, |chunk: &CompletionChunk| {
            chunk.usage.as_ref().map(|u| u.total_tokens)
        })
        .await
    }
}
