//! "Did you mean": the closest model ids for a model that was not found.

use bytes::Bytes;
use http::Method;

use crate::client::endpoints::bare_list;
use crate::client::service::Outgoing;
use crate::client::types::ModelInfo;
use crate::client::{Error, RequestBody, Together};

/// How many model ids a model-not-found error names.
const SUGGESTIONS: usize = 3;

impl Together {
    /// Adds the closest model ids (from the cached `GET /models`) to a
    /// model-not-found error. If the catalogue cannot be fetched, the error
    /// goes back as it was.
    pub(crate) async fn with_suggestions(&self, error: Error) -> Error {
        let Some(model) = error.model().map(str::to_owned) else {
            return error;
        };
        match self.cached_model_ids().await {
            Ok(ids) => error.with_suggestions(closest(&model, &ids, SUGGESTIONS)),
            Err(e) => {
                tracing::debug!(error = %e, "cannot list models for suggestions");
                error
            }
        }
    }

    /// The model ids, fetched once and cached for the client's life. Sent
    /// directly (no fallbacks, no suggestions), so it cannot recurse.
    async fn cached_model_ids(&self) -> Result<std::sync::Arc<[String]>, Error> {
        self.inner
            .models_cache
            .get_or_try_init(|| async {
                let outgoing = Outgoing {
                    method: Method::GET,
                    uri: self.uri("/models")?,
                    body: RequestBody::empty(),
                    model: None,
                    token_estimate: 1,
                    authorize: true,
                    idempotency: None,
                    accept: "application/json",
                };
                let response = self.exchange(outgoing, self.deadline()).await?;
                if !response.status().is_success() {
                    return Err(self.error_from(response, None).await);
                }
                let body: Bytes = self
                    .read_body(response, self.inner.config.max_response_bytes)
                    .await?;
                let models: Vec<ModelInfo> = bare_list(body.clone())
                    .map_err(|e| Error::decode("cannot decode the model list", &e, &body))?;
                Ok(models.into_iter().map(|m| m.id).collect())
            })
            .await
            .cloned()
    }
}

/// The `n` ids closest to `target`, closest first; never `target` itself.
pub(crate) fn closest(target: &str, ids: &[String], n: usize) -> Vec<String> {
    let target_lower = target.to_ascii_lowercase();
    let target_name = short_name(&target_lower);
    let mut scored: Vec<(usize, &String)> = ids
        .iter()
        .filter(|id| id.as_str() != target)
        .map(|id| {
            let lower = id.to_ascii_lowercase();
            // A typo in the organisation, or a missing one, should not hide
            // an exact model name: score the better of the two comparisons.
            let whole = distance(&target_lower, &lower);
            let name = distance(target_name, short_name(&lower)) + 1;
            (whole.min(name), id)
        })
        .collect();
    scored.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(b.1)));
    scored
        .into_iter()
        .take(n)
        .map(|(_, id)| id.clone())
        .collect()
}

fn short_name(id: &str) -> &str {
    id.rsplit('/').next().unwrap_or(id)
}

/// Levenshtein distance over bytes (model ids are ASCII), in O(len) memory.
fn distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, &ca) in a.iter().enumerate() {
        current[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_ids() {
        let ids: Vec<String> = [
            "meta-llama/Llama-3.3-70B-Instruct-Turbo",
            "meta-llama/Llama-3.1-8B-Instruct-Turbo",
            "Qwen/Qwen2.5-72B-Instruct-Turbo",
            "BAAI/bge-base-en-v1.5",
            "black-forest-labs/FLUX.1-schnell",
        ]
        .map(String::from)
        .to_vec();
        let found = closest("meta-llama/Llama-3.3-70B-Instruct-Trubo", &ids, 3);
        assert_eq!(found[0], "meta-llama/Llama-3.3-70B-Instruct-Turbo");
        assert_eq!(found.len(), 3);
        assert_eq!(closest("Llama-3.3-70B-Instruct-Turbo", &ids, 1)[0], ids[0]);
        assert!(closest(&ids[3], &ids, 5).iter().all(|id| id != &ids[3]));
        assert_eq!(distance("kitten", "sitting"), 3);
        assert_eq!(distance("", "abc"), 3);
    }
}
