//! The catalogue of models the simulator serves.

use std::sync::Arc;

/// What a model does, and so which endpoints accept it (the `type` field of
/// `GET /models`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ModelKind {
    /// `/chat/completions` (and `/completions`).
    Chat,
    /// `/completions`.
    Language,
    /// `/embeddings`.
    Embedding,
    /// `/images/generations`.
    Image,
    /// `/rerank`.
    Rerank,
}

impl ModelKind {
    /// The `type` string Together uses.
    pub const fn as_str(&self) -> &'static str {
        match self {
            ModelKind::Chat => "chat",
            ModelKind::Language => "language",
            ModelKind::Embedding => "embedding",
            ModelKind::Image => "image",
            ModelKind::Rerank => "rerank",
        }
    }
}

/// One model of the catalogue.
///
/// ```
/// use tower_together::sim::{ModelKind, SimModel};
///
/// let model = SimModel::new("acme/tiny-chat", ModelKind::Chat).context_length(4096);
/// assert_eq!(model.id(), "acme/tiny-chat");
/// assert!(model.is_serverless());
/// assert!(!SimModel::new("acme/huge", ModelKind::Chat).dedicated_only().is_serverless());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimModel {
    pub(crate) id: Arc<str>,
    pub(crate) kind: ModelKind,
    pub(crate) serverless: bool,
    pub(crate) context_length: u32,
    pub(crate) created: u64,
}

impl SimModel {
    /// A serverless model with an 8192-token context.
    pub fn new(id: impl Into<Arc<str>>, kind: ModelKind) -> Self {
        SimModel {
            id: id.into(),
            kind,
            serverless: true,
            context_length: 8192,
            created: 1_700_000_000,
        }
    }

    /// Listed by `GET /models`, but answering 400 `model_not_available`, as
    /// Together's models that need a dedicated endpoint do.
    pub fn dedicated_only(mut self) -> Self {
        self.serverless = false;
        self
    }

    /// The context length it reports.
    pub fn context_length(mut self, tokens: u32) -> Self {
        self.context_length = tokens;
        self
    }

    /// The model id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// What it does.
    pub fn kind(&self) -> ModelKind {
        self.kind
    }

    /// Whether it answers without a dedicated endpoint.
    pub fn is_serverless(&self) -> bool {
        self.serverless
    }

    /// The organisation: the part of the id before `/`.
    pub(crate) fn organization(&self) -> &str {
        self.id.split('/').next().unwrap_or("")
    }

    /// The display name: the part of the id after `/`, dashes as spaces.
    pub(crate) fn display_name(&self) -> String {
        self.id.rsplit('/').next().unwrap_or("").replace('-', " ")
    }
}

/// The models served unless the builder is told otherwise, as
/// `(id, kind, serverless)`. The one that is not serverless is listed by
/// `GET /models` but answers 400 `model_not_available`.
pub const DEFAULT_MODELS: &[(&str, ModelKind, bool)] = &[
    (
        "meta-llama/Llama-3.3-70B-Instruct-Turbo",
        ModelKind::Chat,
        true,
    ),
    ("Qwen/Qwen2.5-7B-Instruct-Turbo", ModelKind::Chat, true),
    (
        "mistralai/Mixtral-8x7B-Instruct-v0.1",
        ModelKind::Chat,
        true,
    ),
    (
        "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference",
        ModelKind::Chat,
        true,
    ),
    ("meta-llama/Llama-2-70b-hf", ModelKind::Language, true),
    ("BAAI/bge-base-en-v1.5", ModelKind::Embedding, true),
    (
        "togethercomputer/m2-bert-80M-8k-retrieval",
        ModelKind::Embedding,
        true,
    ),
    ("black-forest-labs/FLUX.1-schnell", ModelKind::Image, true),
    ("Salesforce/Llama-Rank-V1", ModelKind::Rerank, true),
    (
        "Qwen/Qwen3-VL-235B-A22B-Instruct-FP8",
        ModelKind::Chat,
        false,
    ),
];

pub(crate) fn default_models() -> Vec<SimModel> {
    DEFAULT_MODELS
        .iter()
        .map(|&(id, kind, serverless)| {
            let model = SimModel::new(id, kind);
            if serverless {
                model
            } else {
                model.dedicated_only()
            }
        })
        .collect()
}
