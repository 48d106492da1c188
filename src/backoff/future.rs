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
    /// Resends with backoff (from this layer's copy of the request), or,
    /// below a retry layer that holds the copy and makes every resend,
    /// sends once and gives the outcome up to it.
    pub struct ResponseFuture<S, B>
    where
        S: Service<Request<B>>,
        BackoffPolicy: Policy<Request<B>, S::Response, S::Error>,
    {
        #[pin]
        kind: Kind<S, B>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<S, B>
    where
        S: Service<Request<B>>,
        BackoffPolicy: Policy<Request<B>, S::Response, S::Error>,
    {
        Resending {
            #[pin]
            future: RetryFuture<BackoffPolicy, S, Request<B>>,
        },
        HandingUp {
            #[pin]
            future: S::Future,
        },
    }
}

impl<S, B> ResponseFuture<S, B>
where
    S: Service<Request<B>>,
    BackoffPolicy: Policy<Request<B>, S::Response, S::Error>,
{
    pub(crate) fn resending(future: RetryFuture<BackoffPolicy, S, Request<B>>) -> Self {
        ResponseFuture {
            kind: Kind::Resending { future },
        }
    }

    pub(crate) fn handing_up(future: S::Future) -> Self {
        ResponseFuture {
            kind: Kind::HandingUp { future },
        }
    }
}

impl<S, B> Future for ResponseFuture<S, B>
where
    S: Service<Request<B>> + Clone,
    BackoffPolicy: Policy<Request<B>, S::Response, S::Error>,
{
    type Output = Result<S::Response, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Resending { future } => future.poll(cx),
            // The layer above reads the outcome as its own: a 429 handed up
            // by a 429 layer below keeps its tag.
            KindProj::HandingUp { future } => future.poll(cx),
        }
    }
}

impl<S, B> fmt::Debug for ResponseFuture<S, B>
where
    S: Service<Request<B>>,
    BackoffPolicy: Policy<Request<B>, S::Response, S::Error>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.kind {
            Kind::Resending { .. } => "resending",
            Kind::HandingUp { .. } => "handing up",
        };
        f.debug_struct("ResponseFuture")
            .field("kind", &kind)
            .finish()
    }
}
