//! The model endpoints behind one face, so the pipeline can ask any of them
//! for its model, its token cost and its answer.

use tokio::time::Instant;

use super::endpoints::chat::ChatRequest;
use super::endpoints::completions::CompletionRequest;
use super::endpoints::embeddings::EmbeddingRequest;
use super::endpoints::images::ImageRequest;
use super::endpoints::rerank::RerankRequest;
use super::endpoints::{object, serve_model, Reply};
use super::errors::ApiError;
use super::models::ModelKind;
use super::router::Route;
use super::state::State;

#[derive(Debug)]
pub(crate) enum Inference {
    Chat(ChatRequest),
    Completion(CompletionRequest),
    Embedding(EmbeddingRequest),
    Image(ImageRequest),
    Rerank(RerankRequest),
}

impl Inference {
    /// Parses the body of a model endpoint's request; `None` for other routes.
    pub(crate) fn parse(route: &Route, body: &[u8]) -> Option<Result<Inference, ApiError>> {
        let parse = |body: &[u8]| -> Result<Inference, ApiError> {
            let map = object(body)?;
            Ok(match route {
                Route::Chat => Inference::Chat(ChatRequest::parse(&map)?),
                Route::Completions => Inference::Completion(CompletionRequest::parse(&map)?),
                Route::Embeddings => Inference::Embedding(EmbeddingRequest::parse(&map)?),
                Route::Images => Inference::Image(ImageRequest::parse(&map)?),
                _ => Inference::Rerank(RerankRequest::parse(&map)?),
            })
        };
        route.is_inference().then(|| parse(body))
    }

    pub(crate) fn model(&self) -> &str {
        match self {
            Inference::Chat(r) => &r.model,
            Inference::Completion(r) => &r.model,
            Inference::Embedding(r) => &r.model,
            Inference::Image(r) => &r.model,
            Inference::Rerank(r) => &r.model,
        }
    }

    pub(crate) fn streaming(&self) -> bool {
        match self {
            Inference::Chat(r) => r.stream,
            Inference::Completion(r) => r.stream,
            _ => false,
        }
    }

    /// The token limiter's charge: prompt tokens plus `max_tokens` (or the
    /// answer's length when `max_tokens` is absent).
    pub(crate) fn tokens(&self) -> u64 {
        match self {
            Inference::Chat(r) => r.tokens(),
            Inference::Completion(r) => r.tokens(),
            Inference::Embedding(r) => r.tokens(),
            Inference::Image(r) => r.tokens(),
            Inference::Rerank(r) => r.tokens(),
        }
    }

    /// Checks the model exists, is serverless and serves this endpoint.
    pub(crate) fn check_model(&self, state: &State) -> Result<(), ApiError> {
        let kinds: &[ModelKind] = match self {
            Inference::Chat(_) => &[ModelKind::Chat],
            Inference::Completion(_) => &[ModelKind::Chat, ModelKind::Language],
            Inference::Embedding(_) => &[ModelKind::Embedding],
            Inference::Image(_) => &[ModelKind::Image],
            Inference::Rerank(_) => &[ModelKind::Rerank],
        };
        let model = serve_model(&state.config, self.model(), kinds)?;
        match self {
            Inference::Chat(chat) => chat.check_context(model.context_length)?,
            Inference::Completion(completion) => completion.check_context(model.context_length)?,
            _ => {}
        }
        Ok(())
    }

    pub(crate) fn answer(&self, state: &mut State, now: Instant, origin: &str) -> Reply {
        match self {
            Inference::Chat(r) => r.answer(state, now),
            Inference::Completion(r) => r.answer(state, now),
            Inference::Embedding(r) => r.answer(state.config.embedding_dimension),
            Inference::Image(r) => r.answer(state, origin),
            Inference::Rerank(r) => r.answer(state),
        }
    }
}
