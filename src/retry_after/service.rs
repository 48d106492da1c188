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
/// each call an [`AttemptBudget`] when it has none. Below a
/// [`BackoffLayer`](crate::BackoffLayer) that holds a copy of the call's
/// request (as in the typed client's stack), it keeps no copy of its own:
/// it sends the request once and hands a 429 up, tagged with this policy,
/// and the layer above resends it under that policy; the wire sees the
/// same waits and resends either way.
///
/// # Clone
///
/// Cheap when the inner service is: the policy is a few plain values.
#[derive(Clone, Debug)]
pub struct RetryAfter<S> {
    inner: Retry<RetryAfterPolicy, S>,
    /// The policy `inner` clones for each call, handed up with a 429 when
    /// the layer above resends.
    policy: RetryAfterPolicy,
    max_attempts: u32,
}

impl<S> RetryAfter<S> {
    pub(crate) fn new(inner: S, policy: RetryAfterPolicy, max_attempts: u32) -> Self {
        RetryAfter {
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
        if AttemptBudget::held_above(&request) {
            // The layer above resends from its copy: none here. `Retry`
            // readied the inner service in `poll_ready`.
            let future = self.inner.get_mut().call(request);
            return ResponseFuture::handing_up(future, self.policy);
        }
        // Before `Retry` clones the request for its resends, so every
        // clone carries (a handle to) the same budget.
        AttemptBudget::ensure(&mut request, self.max_attempts);
        ResponseFuture::resending(self.inner.call(request))
    }
}
