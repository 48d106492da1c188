use std::task::{Context, Poll};

use http::Request;
use tower_service::Service;

use super::RetryBudget;

/// A service that puts a [`RetryBudget`] on each request and counts its
/// first attempt; made by [`RetryBudgetLayer`](super::RetryBudgetLayer).
///
/// # Clone
///
/// Cheap when the inner service is: the budget is an `Arc`.
#[derive(Clone, Debug)]
pub struct RetryBudgeted<S> {
    pub(super) inner: S,
    pub(super) budget: RetryBudget,
}

impl<S> RetryBudgeted<S> {
    /// The budget requests are given.
    pub fn budget(&self) -> &RetryBudget {
        &self.budget
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, consuming this one.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, B> Service<Request<B>> for RetryBudgeted<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        super::budget::deposit_for(&mut request, &self.budget);
        self.inner.call(request)
    }
}
