use std::task::{Context, Poll};

use http::{Request, Response};
use tower::retry::Retry;
use tower_service::Service;

use super::future::ResponseFuture;
use super::policy::BackoffPolicy;
use crate::extensions::AttemptBudget;

/// A service that resends after retryable statuses and transport errors; made by
/// [`BackoffLayer`](super::BackoffLayer).
///
/// A [`tower::retry::Retry`] with a [`BackoffPolicy`] that first gives
/// each call an [`AttemptBudget`] when it has none. It keeps its own copy
/// of a request that is safe to repeat, none of one that is not (that one
/// is sent once), and makes its own resends wherever it sits: a
/// [`RetryAfterLayer`](crate::RetryAfterLayer) below keeps its own copy
/// and resends its own 429s, drawing from the same budget.
///
/// # Clone
///
/// Cheap when the inner service is: the policy is a few plain values.
#[derive(Clone, Debug)]
pub struct Backoff<S> {
    inner: Retry<BackoffPolicy, S>,
    /// The size of the budget a call without one gets.
    max_attempts: u32,
}

impl<S> Backoff<S> {
    pub(crate) fn new(inner: S, policy: BackoffPolicy, max_attempts: u32) -> Self {
        Backoff {
            inner: Retry::new(policy, inner),
            max_attempts,
        }
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        self.inner.get_ref()
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        self.inner.get_mut()
    }

    /// The inner service, consuming this one.
    pub fn into_inner(self) -> S {
        self.inner.into_inner()
    }
}

impl<S, B, ResB> Service<Request<B>> for Backoff<S>
where
    S: Service<Request<B>, Response = Response<ResB>> + Clone,
    B: Clone,
{
    type Response = Response<ResB>;
    type Error = S::Error;
    type Future = ResponseFuture<S, B>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        // Before `Retry` clones the request for its resends, so every
        // clone, and every layer below, carries (a handle to) the same
        // budget.
        AttemptBudget::ensure(&mut request, self.max_attempts);
        ResponseFuture::new(self.inner.call(request))
    }
}
