//! Embedding a whole corpus: batches, concurrency, order, partial failure.

use std::fmt;
use std::ops::Range;

use futures_util::StreamExt;

use crate::client::types::EmbeddingRequest;
use crate::client::{Error, Together};

/// A request of [`Together::embed_all`] that failed for good.
#[derive(Debug)]
#[non_exhaustive]
pub struct FailedBatch {
    /// Positions (in the caller's input) of the texts it carried.
    pub inputs: Range<usize>,
    /// Why it failed.
    pub error: Error,
}

/// [`Together::embed_all`] could not embed every input.
///
/// The vectors of the batches that succeeded are kept: take them with
/// [`into_partial`](EmbedAllError::into_partial).
#[derive(Debug)]
pub struct EmbedAllError {
    embeddings: Vec<Option<Vec<f32>>>,
    failed: Vec<FailedBatch>,
}

impl EmbedAllError {
    /// The requests that failed, in input order.
    pub fn failed_batches(&self) -> &[FailedBatch] {
        &self.failed
    }

    /// Positions of the inputs that have no vector.
    pub fn failed_inputs(&self) -> impl Iterator<Item = usize> + '_ {
        self.failed.iter().flat_map(|batch| batch.inputs.clone())
    }

    /// One entry per input, in input order: `Some(vector)` where it
    /// succeeded.
    pub fn partial(&self) -> &[Option<Vec<f32>>] {
        &self.embeddings
    }

    /// Takes the vectors: one entry per input, in input order.
    pub fn into_partial(self) -> Vec<Option<Vec<f32>>> {
        self.embeddings
    }
}

impl fmt::Display for EmbedAllError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let failed: usize = self.failed.iter().map(|b| b.inputs.len()).sum();
        write!(
            f,
            "{failed} of {} inputs could not be embedded",
            self.embeddings.len()
        )?;
        for batch in self.failed.iter().take(3) {
            write!(f, "; inputs {:?}: {}", batch.inputs, batch.error)?;
        }
        if self.failed.len() > 3 {
            write!(f, "; and {} more failed requests", self.failed.len() - 3)?;
        }
        Ok(())
    }
}

impl std::error::Error for EmbedAllError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.failed
            .first()
            .map(|b| &b.error as &(dyn std::error::Error + 'static))
    }
}

impl Together {
    /// Embeds every text, returning one vector per text, in input order.
    ///
    /// The texts go in requests of at most
    /// [`embed_batch_size`](crate::TogetherBuilder::embed_batch_size) (default
    /// 20), at most
    /// [`embed_concurrency`](crate::TogetherBuilder::embed_concurrency) at a
    /// time, each paced by the rate limiter and retried by the layers.
    ///
    /// # Errors
    ///
    /// [`EmbedAllError`] when any request fails for good: it names the inputs
    /// that failed and why, and still holds every vector that was computed.
    pub async fn embed_all<S: AsRef<str>>(
        &self,
        model: impl Into<String>,
        texts: &[S],
    ) -> Result<Vec<Vec<f32>>, EmbedAllError> {
        let model = model.into();
        let size = self.inner.config.embed_batch_size;
        let requests = texts.chunks(size).enumerate().map(|(i, chunk)| {
            let start = i * size;
            let request = EmbeddingRequest::many(model.clone(), chunk);
            let inputs = start..start + chunk.len();
            let client = self.clone();
            async move {
                let result = client.embeddings(request).await;
                (inputs, result)
            }
        });
        let mut answers = futures_util::stream::iter(requests)
            .buffer_unordered(self.inner.config.embed_concurrency);

        let mut embeddings: Vec<Option<Vec<f32>>> = vec![None; texts.len()];
        let mut failed = Vec::new();
        while let Some((inputs, result)) = answers.next().await {
            let placed = result.and_then(|response| {
                let mut vectors: Vec<Option<Vec<f32>>> = vec![None; inputs.len()];
                for item in response.data {
                    match vectors.get_mut(item.index) {
                        Some(slot @ None) => *slot = Some(item.embedding),
                        _ => {
                            return Err(Error::unexpected(format!(
                                "the embeddings response has a bad or repeated index {}",
                                item.index
                            )))
                        }
                    }
                }
                if vectors.iter().any(Option::is_none) {
                    return Err(Error::unexpected(format!(
                        "the embeddings response has fewer vectors than the {} inputs sent",
                        inputs.len()
                    )));
                }
                Ok(vectors)
            });
            match placed {
                Ok(vectors) => {
                    for (slot, vector) in embeddings[inputs.clone()].iter_mut().zip(vectors) {
                        *slot = vector;
                    }
                }
                Err(error) => failed.push(FailedBatch { inputs, error }),
            }
        }
        if failed.is_empty() {
            Ok(embeddings
                .into_iter()
                .map(Option::unwrap_or_default)
                .collect())
        } else {
            failed.sort_by_key(|b| b.inputs.start);
            Err(EmbedAllError { embeddings, failed })
        }
    }
}
