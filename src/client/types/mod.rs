//! Request and response types of Together's API.
//!
//! Requests have a constructor for the required fields and builder methods for
//! the common optional ones; anything else goes through `extra`. Responses are
//! lenient, because Together adds fields and enum values without notice:
//! unknown fields are ignored, unknown enum values are kept as `Other(String)`,
//! and fields the API may send as `null` or leave out default to empty.
//!
//! # Example
//!
//! ```
//! use tower_together::types::{ChatRequest, ChatResponse, FinishReason, Message};
//!
//! let request = ChatRequest::new("meta-llama/Llama-3.3-70B-Instruct-Turbo", vec![
//!     Message::system("Answer in one word."),
//!     Message::user("Capital of France?"),
//! ])
//! .max_tokens(8)
//! .temperature(0.0);
//! assert_eq!(request.messages.len(), 2);
//!
//! // A response with a null content and a finish reason this crate has never seen.
//! let body = r#"{"id":"x","choices":[{"index":0,"message":{"role":"assistant","content":null},
//!                "finish_reason":"brand_new"}],"surprise":true}"#;
//! let response: ChatResponse = serde_json::from_str(body).unwrap();
//! assert_eq!(response.choices[0].message.content, "");
//! assert_eq!(response.choices[0].finish_reason, Some(FinishReason::Other("brand_new".into())));
//! ```

#[macro_use]
mod lenient;
mod audio;
mod batches;
mod chat;
mod common;
mod completions;
mod embeddings;
mod files;
mod fine_tunes;
mod images;
mod models;
mod rerank;
mod videos;

pub use audio::{AudioFile, SpeechRequest, Transcription, TranscriptionRequest};
pub use batches::{BatchJob, BatchStatus, CreateBatchRequest, CreateBatchResponse};
pub use chat::{
    ChatChoice, ChatChunk, ChatChunkChoice, ChatRequest, ChatResponse, ContentPart, Delta,
    InputAudio, Logprobs, MediaUrl, Message, PromptPart, Role, ToolCall, Warning,
};
pub use common::{FinishReason, Usage};
pub use completions::{
    CompletionChoice, CompletionChunk, CompletionChunkChoice, CompletionRequest,
    CompletionResponse, CompletionToken,
};
pub use embeddings::{Embedding, EmbeddingInput, EmbeddingRequest, EmbeddingResponse};
pub use files::{FileDeleted, FileList, FileObject, FilePurpose};
pub use fine_tunes::{
    FineTune, FineTuneCheckpoint, FineTuneCheckpointList, FineTuneDeleted, FineTuneEvent,
    FineTuneEventList, FineTuneList, FineTuneRequest, FineTuneStatus, TrainingType,
};
pub use images::{ImageData, ImageRequest, ImageResponse};
pub use models::{ModelInfo, ModelType};
pub use rerank::{RerankRequest, RerankResponse, RerankResult};
pub use videos::{VideoJob, VideoOutputs, VideoRequest, VideoStatus};
