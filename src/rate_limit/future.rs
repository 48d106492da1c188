//! The response future of [`RateLimit`](super::RateLimit).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use http::{Response, StatusCode};
use pin_project_lite::pin_project;
use tokio::time::Instant;
use tower_service::Service;

use super::scope::{Acquire, ScopeRef};
use crate::wait_hint;

/// How a 429 pauses its scope.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Pauses {
    pub(crate) default: Duration,
    pub(crate) max: Duration,
}

pin_project! {
    /// Waits for the request's turn in its scope, sends it, and pauses the
    /// scope if the answer is a 429.
    pub struct ResponseFuture<S, R>
    where
        S: Service<R>,
    {
        #[pin]
        state: State<S, R, S::Future>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, R, F> {
        Waiting {
            acquire: Acquire,
            service: Option<S>,
            request: Option<R>,
        },
        Calling {
            #[pin]
            future: F,
            scope: Arc<ScopeRef>,
        },
    }
}

impl<S, R> ResponseFuture<S, R>
where
    S: Service<R>,
{
    pub(crate) fn calling(mut service: S, request: R, scope: Arc<ScopeRef>) -> Self {
        ResponseFuture {
            state: State::Calling {
                future: service.call(request),
                scope,
            },
        }
    }

    pub(crate) fn waiting(service: S, request: R, scope: Arc<ScopeRef>, cost: u32) -> Self {
        ResponseFuture {
            state: State::Waiting {
                acquire: Acquire::new(scope, cost),
                service: Some(service),
                request: Some(request),
            },
        }
    }
}

impl<S, R, B> Future for ResponseFuture<S, R>
where
    S: Service<R, Response = Response<B>>,
{
    type Output = Result<S::Response, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Waiting {
                    acquire,
                    service,
                    request,
                } => {
                    ready!(Pin::new(&mut *acquire).poll(cx));
                    let scope = acquire.scope().clone();
                    let (Some(mut service), Some(request)) = (service.take(), request.take())
                    else {
                        unreachable!("ResponseFuture polled after completion");
                    };
                    let future = service.call(request);
                    this.state.set(State::Calling { future, scope });
                }
                StateProj::Calling { future, scope } => {
                    let result = ready!(future.poll(cx));
                    if let Ok(response) = &result {
                        if response.status() == StatusCode::TOO_MANY_REQUESTS {
                            let wait = wait_hint::server_wait(response.headers())
                                .unwrap_or(scope.pauses.default)
                                .min(scope.pauses.max);
                            tracing::debug!(?wait, "429: pausing the scope");
                            scope.scope.pause_until(Instant::now() + wait);
                        }
                    }
                    return Poll::Ready(result);
                }
            }
        }
    }
}

impl<S, R> fmt::Debug for ResponseFuture<S, R>
where
    S: Service<R>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Waiting { .. } => "waiting",
            State::Calling { .. } => "calling",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish()
    }
}
