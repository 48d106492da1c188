//! `POST /chat/completions`, plain and streaming.

use super::{json_post, tokens_of};
use crate::client::stream::ChatStream;
use crate::client::types::{ChatChunk, ChatRequest, ChatResponse};
use crate::client::{Error, Together};

/// The completion budget assumed when a request sets no `max_tokens`.
const DEFAULT_COMPLETION_TOKENS: u32 = 512;

json_post!(ChatRequest => ChatResponse, "/chat/completions", |request| {
    let prompt: u32 = request
        .messages
        .iter()
        .map(|m| tokens_of(&m.content).saturating_add(4))
        .fold(0, u32::saturating_add);
    prompt.saturating_add(request.max_tokens.unwrap_or(DEFAULT_COMPLETION_TOKENS))
}, |answer| answer.usage.as_ref().map(|u| u.total_tokens));

impl Together {
    /// Creates a chat completion.
    ///
    /// With fallback models configured for the request's model, a request
    /// still answered 503 after retries goes to the next model; the
    /// response's `model` says which one answered.
    ///
    /// # Errors
    ///
    /// Any [`Error`]: the server's (400, 401, 404, 429 after retries, 5xx
    /// after retries), a transport failure, a timeout, an undecodable body.
    /// A model-not-found error names the closest model ids.
    pub async fn chat(&self, request: ChatRequest) -> Result<ChatResponse, Error> {
        self.send(request).await
    }

    /// Creates a chat completion and streams it, chunk by chunk, until
    /// `data: [DONE]`.
    ///
    /// Retries and fallbacks apply until the stream starts; after that, an
    /// `error` object in the stream is yielded as an [`Error`] and ends it.
    ///
    /// # Errors
    ///
    /// As [`chat`](Together::chat), for everything before the first byte of
    /// the stream.
    pub async fn chat_stream(&self, mut request: ChatRequest) -> Result<ChatStream, Error> {
        request.stream = Some(true);
        self.open_stream(request, |chunk: &ChatChunk| {
            chunk.usage.as_ref().map(|u| u.total_tokens)
        })
        .await
    }
}
