//! `POST /v1/embeddings`.

use serde_json::{json, Map, Value};

use super::{required_str, Reply};
use crate::sim::errors::ApiError;
use crate::sim::text::{count_tokens, embedding_for};

/// A parsed embeddings request.
#[derive(Debug)]
pub(crate) struct EmbeddingRequest {
    pub(crate) model: String,
    inputs: Vec<String>,
}

impl EmbeddingRequest {
    pub(crate) fn parse(map: &Map<String, Value>) -> Result<Self, ApiError> {
        let model = required_str(map, "model")?.to_owned();
        let wrong = || {
            ApiError::invalid_field(
                "input",
                "`input` must be a string or a non-empty array of strings",
            )
        };
        let inputs = match map.get("input") {
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Array(items)) if !items.is_empty() => items
                .iter()
                .map(|item| item.as_str().map(str::to_owned).ok_or_else(wrong))
                .collect::<Result<_, _>>()?,
            None | Some(Value::Null) => {
                return Err(ApiError::invalid_field("input", "`input` is required"))
            }
            Some(_) => return Err(wrong()),
        };
        Ok(EmbeddingRequest { model, inputs })
    }

    pub(crate) fn tokens(&self) -> u64 {
        self.inputs.iter().map(|s| count_tokens(s)).sum()
    }

    /// One vector per input, in input order, from [`embedding_for`].
    pub(crate) fn answer(&self, dimension: usize) -> Reply {
        Reply::ok(&self.body(dimension))
    }

    /// The whole answer (also a batch line's body).
    pub(crate) fn body(&self, dimension: usize) -> Value {
        let data: Vec<Value> = self
            .inputs
            .iter()
            .enumerate()
            .map(|(index, text)| {
                json!({
                    "object": "embedding",
                    "embedding": embedding_for(text, dimension),
                    "index": index,
                })
            })
            .collect();
        json!({ "object": "list", "model": self.model, "data": data })
    }
}
