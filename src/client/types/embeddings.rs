//! `POST /embeddings`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::lenient::null_as_default;

/// What to embed: one text or several.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum EmbeddingInput {
    /// One text.
    One(String),
    /// Several texts; the response has one embedding per text.
    Many(Vec<String>),
}

impl EmbeddingInput {
    /// How many texts.
    pub fn len(&self) -> usize {
        match self {
            EmbeddingInput::One(_) => 1,
            EmbeddingInput::Many(texts) => texts.len(),
        }
    }

    /// Whether there is no text at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// An embeddings request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct EmbeddingRequest {
    /// The model id.
    pub model: String,
    /// The text or texts.
    pub input: EmbeddingInput,
    /// Any other field of the API, sent as is.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl EmbeddingRequest {
    /// Embeds one text.
    pub fn new(model: impl Into<String>, input: impl Into<String>) -> Self {
        EmbeddingRequest {
            model: model.into(),
            input: EmbeddingInput::One(input.into()),
            extra: Map::new(),
        }
    }

    /// Embeds several texts in one request.
    pub fn many<S: AsRef<str>>(model: impl Into<String>, inputs: &[S]) -> Self {
        EmbeddingRequest {
            model: model.into(),
            input: EmbeddingInput::Many(inputs.iter().map(|s| s.as_ref().to_owned()).collect()),
            extra: Map::new(),
        }
    }

    /// Sets any other field of the API.
    pub fn extra(mut self, field: impl Into<String>, value: Value) -> Self {
        self.extra.insert(field.into(), value);
        self
    }
}

/// Embeddings, one per input.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct EmbeddingResponse {
    /// The model that answered.
    #[serde(default, deserialize_with = "null_as_default")]
    pub model: String,
    /// The embeddings. Use each one's `index`: the API does not promise order.
    #[serde(default, deserialize_with = "null_as_default")]
    pub data: Vec<Embedding>,
    /// Fields this crate does not type, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The embedding of one input.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Embedding {
    /// Position of the input it embeds.
    #[serde(default, deserialize_with = "null_as_default")]
    pub index: usize,
    /// The vector.
    #[serde(default, deserialize_with = "null_as_default")]
    pub embedding: Vec<f32>,
    /// Fields this crate does not type, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}
