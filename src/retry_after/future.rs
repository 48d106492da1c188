//! The response future of [`RetryAfter`](super::RetryAfter).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use http::{Request, Response};
use pin_project_lite::pin_project;
use tower::retry::future::ResponseFuture as RetryFuture;
use tower::retry::Policy;
use tower_service::Service;

use super::hand_off::HandOff429;
use super::policy::RetryAfterPolicy;

pin_project! {
    /// Resends 429s itself (with its own copy of the request), or, below a
    /// layer that holds the copy, sends once and hands a 429 up to it.
    pub struct ResponseFuture<S, B>
    where
        S: Service<Request<B>>,
        RetryAfterPolicy: Policy<Request<B>, S::Response, S::Error>,
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
        RetryAfterPolicy: Policy<Request<B>, S::Response, S::Error>,
    {
        Resending {
            #[pin]
            future: RetryFuture<RetryAfterPolicy, S, Request<B>>,
        },
        HandingUp {
            #[pin]
            future: S::Future,
            policy: RetryAfterPolicy,
        },
    }
}

impl<S, B> ResponseFuture<S, B>
where
    S: Service<Request<B>>,
    RetryAfterPolicy: Policy<Request<B>, S::Response, S::Error>,
{
    pub(crate) fn resending(future: RetryFuture<RetryAfterPolicy, S, Request<B>>) -> Self {
        ResponseFuture {
            kind: Kind::Resending { future },
        }
    }

    pub(crate) fn handing_up(future: S::Future, policy: RetryAfterPolicy) -> Self {
        ResponseFuture {
            kind: Kind::HandingUp { future, policy },
        }
    }
}

impl<S, B, ResB> Future for ResponseFuture<S, B>
where
    S: Service<Request<B>, Response = Response<ResB>> + Clone,
    B: Clone,
{
    type Output = Result<Response<ResB>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Resending { future } => future.poll(cx),
            KindProj::HandingUp { future, policy } => {
                let mut result = ready!(future.poll(cx));
                if let Ok(response) = &mut result {
                    HandOff429::tag(response, *policy);
                }
                Poll::Ready(result)
            }
        }
    }
}

impl<S, B> fmt::Debug for ResponseFuture<S, B>
where
    S: Service<Request<B>>,
    RetryAfterPolicy: Policy<Request<B>, S::Response, S::Error>,
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
