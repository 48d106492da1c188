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
/// A [`tower::retry::Retry`] with a [`BackoffPolicy`]. When it keeps a
/// copy of the request (it is safe to repeat), it makes every resend of
/// the call: a [`RetryAfterLayer`](crate::RetryAfterLayer) below hands its
/// 429s up and this layer resends them from that copy, under the 429
/// layer's policy (one copy per call instead of one per layer), and it
/// gives the call its [`AttemptBudget`] at the first resend, on that copy
/// (a call sent once allocates none). When it keeps no copy, it gives the
/// call its budget before the first send, for the 429 layer below to draw
/// from. Below another such layer it sends once and gives every outcome
/// up.
///
/// # Clone
///
/// Cheap when the inner service is: the policy is a few plain values.
#[derive(Clone, Debug)]
pub struct Backoff<S> {
    inner: Retry<BackoffPolicy, S>,
    /// The policy `inner` clones for each call: whether it keeps a copy.
    policy: BackoffPolicy,
    /// The size of the budget a call without one gets: here, before the
    /// first send of a call this layer keeps no copy of; in the policy, at
    /// the first resend of one it holds.
    max_attempts: u32,
}

impl<S> Backoff<S> {
    pub(crate) fn new(inner: S, policy: BackoffPolicy, max_attempts: u32) -> Self {
        let policy = policy.with_budget_size(max_attempts);
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
    type Future = ResponseFuture<S, B>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        if AttemptBudget::held_above(&request) {
            // A backoff layer above holds a copy and makes every resend
            // (resending here too would multiply them). `Retry` readied the
            // inner service in `poll_ready`.
            return ResponseFuture::handing_up(self.inner.get_mut().call(request));
        }
        if self.policy.replayable(&request) {
            // `Retry` keeps a copy (`clone_request`), made after this, so
            // the copy and every resend from it carry the mark too. The
            // budget is put on the copy at the first resend.
            AttemptBudget::hold_for_below(&mut request);
        } else {
            // No copy here: the 429 layer below resends, and needs the
            // budget before `Retry` clones the request for it, so every
            // clone carries (a handle to) the same count.
            AttemptBudget::ensure(&mut request, self.max_attempts);
        }
        ResponseFuture::resending(self.inner.call(request))
    }
}
