//! Endpoint classes of Together's API, derived from a request path.
//!
//! ```
//! use tower_together::endpoint::Endpoint;
//!
//! assert_eq!(Endpoint::from_path("/v1/chat/completions"), Endpoint::ChatCompletions);
//! assert_eq!(Endpoint::from_path("/v1/fine-tunes/ft-123/cancel"), Endpoint::FineTunes);
//! assert_eq!(Endpoint::from_path("/somewhere/else"), Endpoint::Other);
//! ```

use std::fmt;

/// The class of endpoint a request targets: part of the rate limiter's scope,
/// and what the backoff layer looks at to decide whether a request is safe to
/// repeat.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Endpoint {
    /// `/chat/completions`
    ChatCompletions,
    /// `/completions`
    Completions,
    /// `/embeddings`
    Embeddings,
    /// `/images/generations`
    ImagesGenerations,
    /// `/rerank`
    Rerank,
    /// `/models`
    Models,
    /// `/files...`
    Files,
    /// `/fine-tunes...`
    FineTunes,
    /// `/batches...`
    Batches,
    /// Anything else.
    Other,
}

impl Endpoint {
    /// Classifies a request path, with or without the `/v1` prefix (and with
    /// any prefix before `/v1`, as behind a proxy).
    pub fn from_path(path: &str) -> Endpoint {
        // Everything up to and including a `/v1` segment is base URL. No
        // allocation: this runs on every request.
        let rest = match path.find("/v1/") {
            Some(at) => &path[at + 4..],
            None => path,
        };
        let mut segments = rest.split('/').filter(|s| !s.is_empty());
        let first = segments.next().unwrap_or("");
        let second = segments.next().unwrap_or("");
        match (first, second) {
            ("chat", "completions") => Endpoint::ChatCompletions,
            ("completions", _) => Endpoint::Completions,
            ("embeddings", _) => Endpoint::Embeddings,
            ("images", "generations") => Endpoint::ImagesGenerations,
            ("rerank", _) => Endpoint::Rerank,
            ("models", _) => Endpoint::Models,
            ("files", _) => Endpoint::Files,
            ("fine-tunes", _) | ("fine_tunes", _) | ("finetune", _) => Endpoint::FineTunes,
            ("batches", _) => Endpoint::Batches,
            _ => Endpoint::Other,
        }
    }

    /// Every class, in a fixed order.
    pub const ALL: [Endpoint; 10] = [
        Endpoint::ChatCompletions,
        Endpoint::Completions,
        Endpoint::Embeddings,
        Endpoint::ImagesGenerations,
        Endpoint::Rerank,
        Endpoint::Models,
        Endpoint::Files,
        Endpoint::FineTunes,
        Endpoint::Batches,
        Endpoint::Other,
    ];

    /// The path this class is known by, without `/v1`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Endpoint::ChatCompletions => "/chat/completions",
            Endpoint::Completions => "/completions",
            Endpoint::Embeddings => "/embeddings",
            Endpoint::ImagesGenerations => "/images/generations",
            Endpoint::Rerank => "/rerank",
            Endpoint::Models => "/models",
            Endpoint::Files => "/files",
            Endpoint::FineTunes => "/fine-tunes",
            Endpoint::Batches => "/batches",
            Endpoint::Other => "other",
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
