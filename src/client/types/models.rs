//! `GET /models`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::lenient::null_as_default;

lenient_enum! {
    /// What kind of model.
    pub enum ModelType {
        /// Chat.
        Chat => "chat",
        /// Raw language model.
        Language => "language",
        /// Code.
        Code => "code",
        /// Image generation.
        Image => "image",
        /// Embeddings.
        Embedding => "embedding",
        /// Moderation.
        Moderation => "moderation",
        /// Reranking.
        Rerank => "rerank",
    }
}

/// One model of the catalogue (named so as not to clash with
/// [`extensions::Model`](crate::extensions::Model)).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ModelInfo {
    /// The model id, as used in requests.
    #[serde(default, deserialize_with = "null_as_default")]
    pub id: String,
    /// What kind of model.
    #[serde(rename = "type", default)]
    pub kind: Option<ModelType>,
    /// A human name.
    #[serde(default)]
    pub display_name: Option<String>,
    /// Who made it.
    #[serde(default)]
    pub organization: Option<String>,
    /// Its context length in tokens.
    #[serde(default)]
    pub context_length: Option<u64>,
    /// Unix time it was added.
    #[serde(default)]
    pub created: Option<u64>,
    /// Prices, kept as sent.
    #[serde(default)]
    pub pricing: Option<Value>,
    /// Fields this crate does not type, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}
