//! `POST /completions`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::chat::{Delta, Logprobs, PromptPart};
use super::common::{FinishReason, Usage};
use super::lenient::null_as_default;

/// A (raw text) completion request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CompletionRequest {
    /// The model id.
    pub model: String,
    /// The text to continue.
    pub prompt: String,
    /// Upper bound on generated tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// Sampling temperature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    /// Stop sequences.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop: Vec<String>,
    /// Random seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Whether to stream; set by [`Together::completion_stream`](crate::Together::completion_stream).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    /// Any other field of the API, sent as is.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl CompletionRequest {
    /// A request for `model` to continue `prompt`.
    pub fn new(model: impl Into<String>, prompt: impl Into<String>) -> Self {
        CompletionRequest {
            model: model.into(),
            prompt: prompt.into(),
            max_tokens: None,
            temperature: None,
            stop: Vec::new(),
            seed: None,
            stream: None,
            extra: Map::new(),
        }
    }

    /// Sets `max_tokens`.
    pub fn max_tokens(mut self, max_tokens: u32) -> Self {
        self.max_tokens = Some(max_tokens);
        self
    }

    /// Sets `temperature`.
    pub fn temperature(mut self, temperature: f32) -> Self {
        self.temperature = Some(temperature);
        self
    }

    /// Adds a stop sequence.
    pub fn stop(mut self, stop: impl Into<String>) -> Self {
        self.stop.push(stop.into());
        self
    }

    /// Sets `seed`.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Sets any other field of the API.
    pub fn extra(mut self, field: impl Into<String>, value: Value) -> Self {
        self.extra.insert(field.into(), value);
        self
    }
}

/// A completion.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CompletionResponse {
    /// The completion id.
    #[serde(default, deserialize_with = "null_as_default")]
    pub id: String,
    /// The model that answered.
    #[serde(default, deserialize_with = "null_as_default")]
    pub model: String,
    /// Unix time of creation.
    #[serde(default)]
    pub created: Option<u64>,
    /// The choices.
    #[serde(default, deserialize_with = "null_as_default")]
    pub choices: Vec<CompletionChoice>,
    /// Token counts, when sent.
    #[serde(default)]
    pub usage: Option<Usage>,
    /// `text.completion`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    /// The echoed prompt, with `echo: true`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub prompt: Vec<PromptPart>,
    /// Fields this crate does not type, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One choice of a completion.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CompletionChoice {
    /// Its position.
    #[serde(default, deserialize_with = "null_as_default")]
    pub index: u32,
    /// The generated text.
    #[serde(default, deserialize_with = "null_as_default")]
    pub text: String,
    /// Why generation stopped.
    #[serde(default)]
    pub finish_reason: Option<FinishReason>,
    /// The seed the answer was sampled with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Log probabilities, when asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<Logprobs>,
    /// Fields this crate does not type, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One chunk of a streamed completion.
///
/// The spec puts `finish_reason` (and the new `token`) at the chunk's top
/// level; the OpenAI shape puts it in `choices[i]`. Both are filled: a
/// top-level reason is copied into every choice that has none, so either
/// place reads the same.
///
/// ```
/// use tower_together::types::{CompletionChunk, FinishReason};
///
/// let chunk: CompletionChunk = serde_json::from_str(
///     r#"{"id":"c","token":{"id":2,"text":"","logprob":0,"special":true},
///         "choices":[{"index":0,"text":""}],"usage":null,"finish_reason":"eos"}"#,
/// ).unwrap();
/// assert_eq!(chunk.finish_reason, Some(FinishReason::Eos));
/// assert_eq!(chunk.choices[0].finish_reason, Some(FinishReason::Eos));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(remote = "Self")]
#[non_exhaustive]
pub struct CompletionChunk {
    /// The completion id.
    #[serde(default, deserialize_with = "null_as_default")]
    pub id: String,
    /// The model that answers.
    #[serde(default, deserialize_with = "null_as_default")]
    pub model: String,
    /// The choices' increments.
    #[serde(default, deserialize_with = "null_as_default")]
    pub choices: Vec<CompletionChunkChoice>,
    /// Token counts, usually on the last chunk only.
    #[serde(default)]
    pub usage: Option<Usage>,
    /// Why generation stopped, where the spec puts it (also copied into the
    /// choices).
    #[serde(default)]
    pub finish_reason: Option<FinishReason>,
    /// The new token, where the spec puts it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<CompletionToken>,
    /// Unix time of creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<u64>,
    /// `completion.chunk`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    /// The seed, when sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Fields this crate does not type, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl<'de> Deserialize<'de> for CompletionChunk {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut chunk = CompletionChunk::deserialize(deserializer)?;
        if let Some(reason) = &chunk.finish_reason {
            for choice in chunk
                .choices
                .iter_mut()
                .filter(|c| c.finish_reason.is_none())
            {
                choice.finish_reason = Some(reason.clone());
            }
        }
        Ok(chunk)
    }
}

impl Serialize for CompletionChunk {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        CompletionChunk::serialize(self, serializer)
    }
}

/// A generated token, as a completion chunk carries it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CompletionToken {
    /// The token id.
    #[serde(default, deserialize_with = "null_as_default")]
    pub id: i64,
    /// Its text.
    #[serde(default, deserialize_with = "null_as_default")]
    pub text: String,
    /// Its log probability.
    #[serde(default, deserialize_with = "null_as_default")]
    pub logprob: f64,
    /// Whether it is a special token (end of sequence...).
    #[serde(default, deserialize_with = "null_as_default")]
    pub special: bool,
}

/// The increment of one choice in a completion chunk.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CompletionChunkChoice {
    /// Which choice.
    #[serde(default, deserialize_with = "null_as_default")]
    pub index: u32,
    /// The new text.
    #[serde(default, deserialize_with = "null_as_default")]
    pub text: String,
    /// Set on the choice's last chunk (or copied from the chunk's own).
    #[serde(default)]
    pub finish_reason: Option<FinishReason>,
    /// The increment in chat form, when the server sends one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delta: Option<Delta>,
    /// Fields this crate does not type, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}
