//! `POST /rerank`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::common::Usage;
use super::lenient::null_as_default;

/// A rerank request: order `documents` by relevance to `query`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RerankRequest {
    /// The model id.
    pub model: String,
    /// The query.
    pub query: String,
    /// The documents: strings, or objects with the fields named in `rank_fields`.
    pub documents: Vec<Value>,
    /// How many results to return.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_n: Option<u32>,
    /// Whether to echo the documents in the results.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub return_documents: Option<bool>,
    /// For object documents: the fields to rank on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rank_fields: Vec<String>,
    /// Any other field of the API, sent as is.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl RerankRequest {
    /// Ranks text documents.
    pub fn new<S: AsRef<str>>(
        model: impl Into<String>,
        query: impl Into<String>,
        documents: &[S],
    ) -> Self {
        RerankRequest {
            model: model.into(),
            query: query.into(),
            documents: documents
                .iter()
                .map(|d| Value::String(d.as_ref().to_owned()))
                .collect(),
            top_n: None,
            return_documents: None,
            rank_fields: Vec::new(),
            extra: Map::new(),
        }
    }

    /// Ranks object documents (see [`RerankRequest::objects`]) on these fields.
    pub fn rank_fields<S: AsRef<str>>(mut self, fields: &[S]) -> Self {
        self.rank_fields = fields.iter().map(|f| f.as_ref().to_owned()).collect();
        self
    }

    /// A request over object documents (`{"title": .., "text": ..}`...), to
    /// rank on the fields [`RerankRequest::rank_fields`] names.
    pub fn objects(
        model: impl Into<String>,
        query: impl Into<String>,
        documents: Vec<Map<String, Value>>,
    ) -> Self {
        let mut request = RerankRequest::new::<&str>(model, query, &[]);
        request.documents = documents.into_iter().map(Value::Object).collect();
        request
    }

    /// Sets any other field of the API.
    pub fn extra(mut self, field: impl Into<String>, value: Value) -> Self {
        self.extra.insert(field.into(), value);
        self
    }

    /// Returns only the best `top_n`.
    pub fn top_n(mut self, top_n: u32) -> Self {
        self.top_n = Some(top_n);
        self
    }

    /// Echoes the documents in the results.
    pub fn return_documents(mut self, yes: bool) -> Self {
        self.return_documents = Some(yes);
        self
    }
}

/// Documents ranked by relevance.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RerankResponse {
    /// The request id.
    #[serde(default, deserialize_with = "null_as_default")]
    pub id: String,
    /// The model that answered.
    #[serde(default, deserialize_with = "null_as_default")]
    pub model: String,
    /// The results, most relevant first.
    #[serde(default, deserialize_with = "null_as_default")]
    pub results: Vec<RerankResult>,
    /// Token counts, when sent.
    #[serde(default)]
    pub usage: Option<Usage>,
    /// `rerank`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    /// Fields this crate does not type, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One ranked document.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RerankResult {
    /// Position of the document in the request.
    #[serde(default, deserialize_with = "null_as_default")]
    pub index: usize,
    /// Its relevance score.
    #[serde(default, deserialize_with = "null_as_default")]
    pub relevance_score: f64,
    /// The document, when asked for.
    #[serde(default)]
    pub document: Option<Value>,
    /// Fields this crate does not type, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}
