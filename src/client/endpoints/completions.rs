//! `POST /completions`, plain and streaming.

use super::{json_post, tokens_of};
use crate::client::stream::CompletionStream;
use crate::client::types::{CompletionRequest, CompletionResponse};
use crate::client::{Error, SseStream, Together};

json_post!(CompletionRequest => CompletionResponse, "/completions", |request| {
    tokens_of(&request.prompt).saturating_add(request.max_tokens.unwrap_or(512))
});

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
        let deadline = self.deadline();
        let (_, response) = self
            .within(deadline, self.open(request, deadline, "text/event-stream"))
            .await?;
        Ok(SseStream::new(
            response.into_body(),
            self.inner.api_key.as_ref().map(|k| k.secret.clone()),
            self.inner.config.stream_idle_timeout,
        ))
    }
}
