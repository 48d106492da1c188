//! Endpoint classes of Together's API, derived from a request path.
//!
//! ```
//! use tower_together::endpoint::Endpoint;
//!
//! assert_eq!(Endpoint::from_path("/v1/chat/completions"), Endpoint::ChatCompletions);
//! assert_eq!(Endpoint::from_path("/v1/fine-tunes/ft-123/cancel"), Endpoint::FineTunes);
//! assert_eq!(Endpoint::from_path("/somewhere/else"), Endpoint::Other);
//! assert_eq!(Endpoint::from_path("/proxy/v1/embeddings"), Endpoint::Embeddings);
//! assert_eq!(Endpoint::from_path("/chat//completions/"), Endpoint::ChatCompletions);
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
    #[inline]
    pub fn from_path(path: &str) -> Endpoint {
        // The inference paths as the typed client sends them: one length
        // check and one short compare, where the general rule below scans
        // for `/v1/` and splits on `/` (about 100 instructions a request).
        // Each answers as the general rule would: the first `/v1/` is at 0.
        if let Some(rest) = path.strip_prefix("/v1/") {
            match rest {
                "chat/completions" => return Endpoint::ChatCompletions,
                "completions" => return Endpoint::Completions,
                "embeddings" => return Endpoint::Embeddings,
                "images/generations" => return Endpoint::ImagesGenerations,
                "rerank" => return Endpoint::Rerank,
                _ => {}
            }
        }
        Endpoint::classify(path)
    }

    /// The general rule: everything up to and including a `/v1` segment is
    /// base URL, then the first one or two segments name the endpoint.
    fn classify(path: &str) -> Endpoint {
        // Hand-rolled and allocation-free: this runs on every request.
        let rest = after_version(path).unwrap_or(path);
        let rest = rest.trim_start_matches('/');
        let (first, tail) = rest.split_once('/').unwrap_or((rest, ""));
        let second = tail.trim_start_matches('/');
        let second = second.split_once('/').map_or(second, |(s, _)| s);
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

/// The part of `path` after its first `/v1/` segment.
fn after_version(path: &str) -> Option<&str> {
    // `at + 4 <= len` for every `at` below `len - 3`, so the slice is in
    // bounds; and the four bytes matched are ASCII, so `at + 4` is a char
    // boundary.
    let bytes = path.as_bytes();
    (0..bytes.len().saturating_sub(3))
        .find(|&at| bytes.get(at..at + 4) == Some(b"/v1/".as_slice()))
        .and_then(|at| path.get(at + 4..))
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::Endpoint;

    #[test]
    fn classifies_every_known_path_with_and_without_prefixes() {
        let cases = [
            ("/v1/chat/completions", Endpoint::ChatCompletions),
            ("/v1/completions", Endpoint::Completions),
            ("/v1/embeddings", Endpoint::Embeddings),
            ("/v1/images/generations", Endpoint::ImagesGenerations),
            ("/v1/rerank", Endpoint::Rerank),
            ("/v1/models", Endpoint::Models),
            ("/v1/files/file-1/content", Endpoint::Files),
            ("/v1/fine-tunes/ft-1/events", Endpoint::FineTunes),
            ("/v1/batches/b-1", Endpoint::Batches),
            ("/chat/completions", Endpoint::ChatCompletions),
            ("/api/v1/embeddings", Endpoint::Embeddings),
            ("/v1/images", Endpoint::Other),
            ("/v1/chat", Endpoint::Other),
            ("", Endpoint::Other),
            ("/", Endpoint::Other),
            ("/v1", Endpoint::Other),
            ("/v1/", Endpoint::Other),
            ("/v2/chat/completions", Endpoint::Other),
        ];
        for (path, expected) in cases {
            assert_eq!(Endpoint::from_path(path), expected, "{path}");
            assert_eq!(Endpoint::classify(path), expected, "{path}");
        }
    }

    proptest::proptest! {
        /// The fast path answers exactly as the general rule, on paths
        /// built from the segments that matter and on any path at all.
        #[test]
        fn the_fast_path_agrees_with_the_general_rule(
            segments in proptest::collection::vec(
                proptest::sample::select(vec![
                    "", "v1", "chat", "completions", "embeddings", "images",
                    "generations", "rerank", "models", "x",
                ]),
                0..5,
            ),
            leading in proptest::bool::ANY,
            trailing in proptest::bool::ANY,
            any in ".{0,40}",
        ) {
            let mut path = segments.join("/");
            if leading {
                path.insert(0, '/');
            }
            if trailing {
                path.push('/');
            }
            proptest::prop_assert_eq!(Endpoint::from_path(&path), Endpoint::classify(&path), "{}", path);
            proptest::prop_assert_eq!(Endpoint::from_path(&any), Endpoint::classify(&any), "{}", any);
        }
    }
}
