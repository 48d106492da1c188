use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower_service::Service;

use super::future::ResponseFuture;
use super::recent;
use super::registry::{Limiter, ScopeRef};
use super::store::{FailOpen, WhenStoreDown};
use crate::endpoint::Endpoint;
use crate::extensions::{Cost, Model, TokenCost};

/// Paces requests per scope; made by [`RateLimitLayer`](super::RateLimitLayer).
///
/// See the [module docs](super) for what it does.
///
/// # Clone
///
/// Every clone shares one budget: clones and every service made by the same
/// layer draw from the same scopes.
///
/// # Errors
///
/// With `P` = [`FailOpen`] (the default), only the inner service's. With
/// [`FailClosed`](super::store::FailClosed), also
/// [`StoreUnavailable`](super::store::StoreUnavailable) while a shared
/// store is unreachable (see [`WhenStoreDown`]).
pub struct RateLimit<S, P = FailOpen> {
    inner: S,
    limiter: Arc<Limiter>,
    // `fn() -> P`: the service is `Send` and `Sync` whatever `P` is.
    when_store_down: PhantomData<fn() -> P>,
}

impl<S: fmt::Debug, P> fmt::Debug for RateLimit<S, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimit")
            .field("inner", &self.inner)
            .field("limiter", &self.limiter)
            .finish()
    }
}

impl<S, P> RateLimit<S, P> {
    pub(crate) fn new(inner: S, limiter: Arc<Limiter>) -> Self {
        RateLimit {
            inner,
            limiter,
            when_store_down: PhantomData,
        }
    }

    /// Gets a reference to the inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Gets a mutable reference to the inner service.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Consumes `self`, returning the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }

    #[inline]
    fn scope_for<B>(&self, request: &Request<B>) -> Arc<ScopeRef> {
        // The key itself is never stored, only its keyed hash.
        let api_key = crate::fingerprint::of_request(request);
        let endpoint = Endpoint::from_path(request.uri().path());
        let model = request.extensions().get::<Model>();
        // The headers go down for a new scope in a shared store, whose name
        // is hashed from `Authorization` (read only on a cache miss).
        recent::scope(&self.limiter, api_key, endpoint, model, request.headers())
    }
}

impl<S: Clone, P> Clone for RateLimit<S, P> {
    fn clone(&self) -> Self {
        RateLimit::new(self.inner.clone(), self.limiter.clone())
    }
}

impl<S, P, ReqBody, ResBody> Service<Request<ReqBody>> for RateLimit<S, P>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
    P: WhenStoreDown<S::Error>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S, Request<ReqBody>>;

    /// Always ready: the wait for a slot depends on the request, and a
    /// clone of the inner service is readied only once the request may go
    /// (in `call` when it may go at once, else in the [`ResponseFuture`]),
    /// so nothing below is held while waiting.
    #[inline]
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    #[inline]
    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let scope = self.scope_for(&request);
        let cost = request.extensions().get::<Cost>().map_or(1, |c| c.get());
        // Read only where a token budget exists: request-only scopes pay
        // nothing for it.
        let tokens = if scope.scope.paces_tokens() {
            request
                .extensions()
                .get::<TokenCost>()
                .map_or(0, |t| t.get())
        } else {
            0
        };
        let inner = self.inner.clone();
        if scope.scope.try_acquire(cost, tokens) {
            ResponseFuture::granted(inner, request, scope, (cost, tokens))
        } else {
            ResponseFuture::waiting(inner, request, scope, (cost, tokens), P::refuse)
        }
    }
}
