//! The response future of [`RateLimit`](super::RateLimit).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll, Waker};

use http::{Response, StatusCode};
use pin_project_lite::pin_project;
use tower_service::Service;

use super::acquire::Place;
use super::feedback;
use super::registry::ScopeRef;
use super::reservation::TokenReservation;
use super::scope::ChargedTo;
use super::store::StoreUnavailable;

pin_project! {
    /// Waits for the request's turn in its scope, then readies a clone of
    /// the inner service, sends the request, and feeds the answer back into
    /// the scope (a 429 pauses it). A request that may go at once and finds
    /// the clone ready at once was sent by `call` already.
    ///
    /// Nothing below the limiter is held while the request waits: the inner
    /// service is polled ready only once the request may go, as tower's own
    /// `Oneshot` does, so a permit of a `ConcurrencyLimit` or a slot of a
    /// `Buffer` below is never taken by a request that is still waiting.
    pub struct ResponseFuture<S, R>
    where
        S: Service<R>,
    {
        #[pin]
        state: State<S, R, S::Future, S::Error>,
        // The scope the request waits in and is granted in, for the
        // answer's feedback.
        scope: Arc<ScopeRef>,
        // Tokens taken from the scope's token budget (0: none).
        tokens: u32,
        // Units of the request budget asked for.
        cost: u32,
    }

    impl<S, R> PinnedDrop for ResponseFuture<S, R>
    where
        S: Service<R>,
    {
        // Dropped while waiting: give the place in the queue back. Dropped
        // granted but unsent: give the grant back.
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            match this.state.project() {
                StateProj::Waiting { place, .. } => place.leave(this.scope),
                StateProj::Readying { charged, .. } => {
                    give_back(this.scope, *this.cost, *this.tokens, *charged);
                }
                _ => {}
            }
        }
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, R, F, E> {
        Waiting {
            place: Place,
            service: Option<S>,
            request: Option<R>,
            // The error a fail-closed layer returns while its store is
            // down; `None`: go anyway (never asked of a fail-open one).
            refuse: fn(StoreUnavailable) -> Option<E>,
        },
        Readying {
            service: S,
            request: Option<R>,
            charged: ChargedTo,
        },
        Calling {
            #[pin]
            future: F,
            // The budget the tokens were taken from, settled there.
            charged: ChargedTo,
        },
        // The inner service failed to become ready, found out in `call`.
        Failed {
            error: Option<E>,
        },
        Done,
    }
}

impl<S, R> ResponseFuture<S, R>
where
    S: Service<R>,
{
    /// The request already has its grant. When the inner service is ready
    /// at once (a connection pool, a `service_fn`: the common case), the
    /// request goes now, and never moves through this future's states.
    ///
    /// Polled with a no-op waker: a service that is not ready yet is polled
    /// again from [`poll`](Future::poll), with the caller's waker, as
    /// tower's contract allows; the no-op registration is simply replaced.
    ///
    /// Only an in-memory scope grants in `call`, so the tokens are always
    /// the scope's own (`ChargedTo::Scope`).
    #[inline]
    pub(crate) fn granted(
        mut service: S,
        request: R,
        scope: Arc<ScopeRef>,
        (cost, tokens): (u32, u32),
    ) -> Self {
        let mut cx = Context::from_waker(Waker::noop());
        let state = match service.poll_ready(&mut cx) {
            Poll::Ready(Ok(())) => State::Calling {
                future: service.call(request),
                charged: ChargedTo::Scope,
            },
            Poll::Ready(Err(error)) => State::Failed { error: Some(error) },
            Poll::Pending => State::Readying {
                service,
                request: Some(request),
                charged: ChargedTo::Scope,
            },
        };
        ResponseFuture {
            state,
            scope,
            tokens,
            cost,
        }
    }

    pub(crate) fn waiting(
        service: S,
        request: R,
        scope: Arc<ScopeRef>,
        (cost, tokens): (u32, u32),
        refuse: fn(StoreUnavailable) -> Option<S::Error>,
    ) -> Self {
        ResponseFuture {
            state: State::Waiting {
                place: Place::new(),
                service: Some(service),
                request: Some(request),
                refuse,
            },
            scope,
            tokens,
            cost,
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
                    place,
                    service,
                    request,
                    refuse,
                } => {
                    let granted = place.poll(this.scope, *this.cost, *this.tokens, cx);
                    let charged = match ready!(granted) {
                        Ok(charged) => charged,
                        // Nothing was taken from the budgets, so nothing
                        // is refunded.
                        Err(unavailable) => match refuse(unavailable) {
                            Some(error) => {
                                this.state.set(State::Done);
                                return Poll::Ready(Err(error));
                            }
                            None => ChargedTo::Scope,
                        },
                    };
                    // Both are `Some` until this state is left, which is now.
                    let (Some(service), request) = (service.take(), request.take()) else {
                        panic!("rate_limit::ResponseFuture polled after completion");
                    };
                    this.state.set(State::Readying {
                        service,
                        request,
                        charged,
                    });
                }
                StateProj::Readying {
                    service,
                    request,
                    charged,
                } => {
                    let charged = *charged;
                    if let Err(error) = ready!(service.poll_ready(cx)) {
                        this.state.set(State::Done);
                        give_back(this.scope, *this.cost, *this.tokens, charged);
                        return Poll::Ready(Err(error));
                    }
                    let Some(request) = request.take() else {
                        panic!("rate_limit::ResponseFuture polled after completion");
                    };
                    let future = service.call(request);
                    this.state.set(State::Calling { future, charged });
                }
                StateProj::Calling { future, charged } => {
                    let charged = *charged;
                    let mut result = ready!(future.poll(cx));
                    match &mut result {
                        Ok(response) => {
                            feedback::learn(this.scope, response);
                            settle_later(this.scope, (*this.tokens, charged), response);
                        }
                        // Never reached the server: nothing was counted.
                        Err(_) => TokenReservation::refund(this.scope, *this.tokens, charged),
                    }
                    this.state.set(State::Done);
                    return Poll::Ready(result);
                }
                StateProj::Failed { error } => {
                    let error = error.take();
                    this.state.set(State::Done);
                    give_back(this.scope, *this.cost, *this.tokens, ChargedTo::Scope);
                    if let Some(error) = error {
                        return Poll::Ready(Err(error));
                    }
                    panic!("rate_limit::ResponseFuture polled after completion");
                }
                StateProj::Done => panic!("rate_limit::ResponseFuture polled after completion"),
            }
        }
    }
}

/// A grant that was never sent (the inner service failed to become ready,
/// or the future was dropped first) goes back to its budgets.
fn give_back(scope: &ScopeRef, cost: u32, tokens: u32, charged: ChargedTo) {
    if let Some(live) = scope.live() {
        live.give_back(cost, charged);
    }
    TokenReservation::refund(scope, tokens, charged);
}

/// Refunds the tokens of an answer Together does not count (429, 503), or
/// hands the reservation on to whoever reads the body, to settle with the
/// answer's usage. Nothing at all for a scope without a token budget.
#[inline]
fn settle_later<B>(
    scope: &Arc<ScopeRef>,
    (tokens, charged): (u32, ChargedTo),
    response: &mut Response<B>,
) {
    if tokens == 0 && !scope.scope.paces_tokens() {
        return;
    }
    let status = response.status();
    if status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE {
        TokenReservation::refund(scope, tokens, charged);
    } else {
        response
            .extensions_mut()
            .insert(TokenReservation::new(scope.clone(), tokens, charged));
    }
}

impl<S, R> fmt::Debug for ResponseFuture<S, R>
where
    S: Service<R>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Waiting { .. } => "waiting",
            State::Readying { .. } => "readying",
            State::Calling { .. } => "calling",
            State::Failed { .. } => "failed",
            State::Done => "done",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish()
    }
}
