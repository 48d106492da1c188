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

/// What a scope learns from the answers that come back through it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Feedback {
    /// How long a 429 without a wait hint pauses the scope.
    pub(crate) default_pause: Duration,
    /// The longest pause a 429 may impose.
    pub(crate) max_pause: Duration,
    /// Whether `x-ratelimit-limit` and 429s change the scope's rate.
    pub(crate) adaptive: bool,
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
    #[inline]
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

    #[inline]
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
                        learn(scope, response);
                    }
                    return Poll::Ready(result);
                }
            }
        }
    }
}

/// Feeds an answer back into its scope: a 429 pauses it; with adaptation
/// on, `x-ratelimit-limit` sets its rate, a 429 cuts it, a success lets it
/// recover.
#[inline]
fn learn<B>(scope: &ScopeRef, response: &Response<B>) {
    let feedback = scope.feedback;
    let status = response.status();
    if feedback.adaptive {
        if let Some(limit) = wait_hint::ratelimit_limit(response.headers()) {
            scope.scope.learn_limit(limit);
        }
    }
    if status == StatusCode::TOO_MANY_REQUESTS {
        let wait = wait_hint::server_wait(response.headers())
            .unwrap_or(feedback.default_pause)
            .min(feedback.max_pause);
        tracing::debug!(?wait, "429: pausing the scope");
        let until = crate::time::later(Instant::now(), wait);
        scope.scope.pause_until(until, feedback.adaptive);
    } else if feedback.adaptive && status.is_success() {
        scope.scope.succeeded();
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
