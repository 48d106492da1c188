//! `POST /v1/rerank`.

use serde_json::{json, Map, Value};

use super::{optional_bool, optional_u64, required_str, Reply};
use crate::sim::errors::ApiError;
use crate::sim::state::State;
use crate::sim::text::{count_tokens, embedding_for};

/// A parsed rerank request.
#[derive(Debug)]
pub(crate) struct RerankRequest {
    pub(crate) model: String,
    query: String,
    documents: Vec<String>,
    top_n: usize,
    return_documents: bool,
}

impl RerankRequest {
    pub(crate) fn parse(map: &Map<String, Value>) -> Result<Self, ApiError> {
        let model = required_str(map, "model")?.to_owned();
        let query = required_str(map, "query")?.to_owned();
        let fields: Vec<String> = match map.get("rank_fields") {
            None | Some(Value::Null) => vec!["text".to_owned()],
            Some(Value::Array(items)) => items
                .iter()
                .map(|f| f.as_str().map(str::to_owned))
                .collect::<Option<_>>()
                .ok_or_else(|| {
                    ApiError::invalid_field(
                        "rank_fields",
                        "`rank_fields` must be an array of strings",
                    )
                })?,
            Some(_) => {
                return Err(ApiError::invalid_field(
                    "rank_fields",
                    "`rank_fields` must be an array of strings",
                ))
            }
        };
        let wrong = || {
            ApiError::invalid_field(
                "documents",
                "`documents` must be a non-empty array of strings or objects",
            )
        };
        let documents: Vec<String> = match map.get("documents") {
            Some(Value::Array(items)) if !items.is_empty() => items
                .iter()
                .map(|item| match item {
                    Value::String(s) => Ok(s.clone()),
                    Value::Object(doc) => Ok(fields
                        .iter()
                        .filter_map(|f| {
                            doc.get(f)
                                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                        })
                        .collect::<Vec<_>>()
                        .join(" ")),
                    _ => Err(wrong()),
                })
                .collect::<Result<_, _>>()?,
            None | Some(Value::Null) => {
                return Err(ApiError::invalid_field(
                    "documents",
                    "`documents` is required",
                ))
            }
            Some(_) => return Err(wrong()),
        };
        let top_n = match optional_u64(map, "top_n")? {
            Some(0) => {
                return Err(ApiError::invalid_field(
                    "top_n",
                    "`top_n` must be at least 1",
                ))
            }
            Some(n) => usize::try_from(n)
                .unwrap_or(usize::MAX)
                .min(documents.len()),
            None => documents.len(),
        };
        let return_documents = optional_bool(map, "return_documents")?.unwrap_or(false);
        Ok(RerankRequest {
            model,
            query,
            documents,
            top_n,
            return_documents,
        })
    }

    pub(crate) fn tokens(&self) -> u64 {
        count_tokens(&self.query) + self.documents.iter().map(|d| count_tokens(d)).sum::<u64>()
    }

    /// Scores are the cosine of the texts' embeddings moved to `[0, 1]`:
    /// deterministic, and equal texts score highest.
    pub(crate) fn answer(&self, state: &mut State) -> Reply {
        let query = embedding_for(&self.query, 32);
        let mut scored: Vec<(usize, f64)> = self
            .documents
            .iter()
            .enumerate()
            .map(|(index, doc)| {
                let dot: f32 = query
                    .iter()
                    .zip(embedding_for(doc, 32))
                    .map(|(a, b)| a * b)
                    .sum();
                (index, f64::from((dot + 1.0) / 2.0))
            })
            .collect();
        scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let results: Vec<Value> = scored
            .iter()
            .take(self.top_n)
            .map(|&(index, score)| {
                // The spec requires `document` on every result; its `text`
                // is optional, and sent only when asked for.
                let document = if self.return_documents {
                    json!({ "text": self.documents[index] })
                } else {
                    json!({})
                };
                json!({ "index": index, "relevance_score": score, "document": document })
            })
            .collect();
        let tokens = self.tokens();
        Reply::ok(&json!({
            "object": "rerank",
            "id": state.id(""),
            "model": self.model,
            "results": results,
            "usage": { "prompt_tokens": tokens, "completion_tokens": 0, "total_tokens": tokens },
        }))
    }
}
