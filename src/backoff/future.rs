//! The response future of [`Backoff`](super::Backoff).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::Request;
use pin_project_lite::pin_project;
use tower::retry::future::ResponseFuture as RetryFuture;
use tower::retry::Policy;
use tower_service::Service;

use super::policy::BackoffPolicy;

pin_project! {
    /// Sends the request, and resends it from this layer's own copy after
    /// each 5xx or transport error its policy resends.
    pub struct ResponseFuture<S, B>
    where
        S: Service<Request<B>>,
        BackoffPolicy: Policy<Request<B>, S::Response, S::Error>,
    {
        #[pin]
        future: RetryFuture<BackoffPolicy, S, Request<B>>,
    }
}

impl<S, B> ResponseFuture<S, B>
where
    S: Service<Request<B>>,
    BackoffPolicy: Policy<Request<B>, S::Response, S::Error>,
{
    pub(crate) fn new(future: RetryFuture<BackoffPolicy, S, Request<B>>) -> Self {
        ResponseFuture { future }
    }
}

impl<S, B> Future for ResponseFuture<S, B>
where
    S: Service<Request<B>> + Clone,
    BackoffPolicy: Policy<Request<B>, S::Response, S::Error>,
{
    type Output = Result<S::Response, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().future.poll(cx)
    }
}

impl<S, B> fmt::Debug for ResponseFuture<S, B>
where
    S: Service<Request<B>>,
    BackoffPolicy: Policy<Request<B>, S::Response, S::Error>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
