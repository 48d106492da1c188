use std::task::{Context, Poll};

use http::{Request, Response};
use tower::retry::{future::ResponseFuture, Retry};
use tower_service::Service;

use super::policy::BackoffPolicy;
use crate::extensions::AttemptBudget;

/// A service that resends after retryable statuses and transport errors; made by
/// [`BackoffLayer`](super::BackoffLayer).
///
/// A [`tower::retry::Retry`] with a [`BackoffPolicy`] that first gives
/// each call an [`AttemptBudget`] when it has none. When it keeps a copy
/// of the request (it is safe to repeat), a
/// [`RetryAfterLayer`](crate::RetryAfterLayer) below hands its 429s up and
/// this layer resends them from that copy, under the 429 layer's policy:
/// one copy per call instead of one per layer.
///
/// # Clone
///
/// Cheap when the inner service is: the policy is a few plain values.
#[derive(Clone, Debug)]
pub struct Backoff<S> {
    inner: Retry<BackoffPolicy, S>,
    /// The policy `inner` clones for each call: whether it keeps a copy.
    policy: BackoffPolicy,
    max_attempts: u32,
}

impl<S> Backoff<S> {
    pub(crate) fn new(inner: S, policy: BackoffPolicy, max_attempts: u32) -> Self {
        Backoff {
            inner: Retry::new(policy, inner),
            policy,
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
    type Future = ResponseFuture<BackoffPolicy, S, Request<B>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        // Before `Retry` clones the request for its resends, so every
        // clone carries (a handle to) the same budget.
        AttemptBudget::ensure(&mut request, self.max_attempts);
        if self.policy.replayable(&request) {
            // `Retry` keeps a copy (`clone_request`), made after this, so
            // the copy and every resend from it carry the mark too.
            AttemptBudget::hold_for_below(&mut request);
        }
        self.inner.call(request)
    }
}
