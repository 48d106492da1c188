use std::task::{Context, Poll};

use http::{Request, Response};
use tower::retry::Retry;
use tower_service::Service;

use super::future::ResponseFuture;
use super::policy::RetryAfterPolicy;
use crate::extensions::AttemptBudget;

/// A service that resends 429s; made by
/// [`RetryAfterLayer`](super::RetryAfterLayer).
///
/// A [`tower::retry::Retry`] with a [`RetryAfterPolicy`] that first gives
/// each call an [`AttemptBudget`] when it has none. It keeps its own copy
/// of the request and makes its own resends wherever it sits: nothing it
/// does depends on the layers above or below, except the budget an outer
/// layer may have put on the request, which it draws from.
///
/// # Clone
///
/// Cheap when the inner service is: the policy is a few plain values.
#[derive(Clone, Debug)]
pub struct RetryAfter<S> {
    inner: Retry<RetryAfterPolicy, S>,
    /// The size of the budget a call without one gets.
    max_attempts: u32,
}

impl<S> RetryAfter<S> {
    pub(crate) fn new(inner: S, policy: RetryAfterPolicy, max_attempts: u32) -> Self {
        RetryAfter {
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

impl<S, B, ResB> Service<Request<B>> for RetryAfter<S>
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
        // clone carries (a handle to) the same budget.
        AttemptBudget::ensure(&mut request, self.max_attempts);
        ResponseFuture::new(self.inner.call(request))
    }
}
