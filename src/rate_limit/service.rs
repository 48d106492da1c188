use std::mem;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower_service::Service;

use super::future::ResponseFuture;
use super::limiter::Limiter;
use super::recent;
use super::scope::ScopeRef;
use crate::endpoint::Endpoint;
use crate::extensions::{ApiKeyFingerprint, Cost, Model};

/// Paces requests per scope; made by [`RateLimitLayer`](super::RateLimitLayer).
///
/// See the [module docs](super) for what it does.
///
/// # Clone
///
/// Every clone shares one budget: clones and every service made by the same
/// layer draw from the same scopes.
#[derive(Debug)]
pub struct RateLimit<S> {
    inner: S,
    limiter: Arc<Limiter>,
}

impl<S> RateLimit<S> {
    pub(crate) fn new(inner: S, limiter: Arc<Limiter>) -> Self {
        RateLimit { inner, limiter }
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
        // The key itself is never stored, only its keyed hash. Callers that
        // send many requests set the fingerprint once as an extension.
        let api_key = match request.extensions().get::<ApiKeyFingerprint>() {
            Some(fingerprint) => fingerprint.get(),
            None => request
                .headers()
                .get(http::header::AUTHORIZATION)
                .map_or(0, |auth| self.limiter.fingerprint(auth)),
        };
        let endpoint = Endpoint::from_path(request.uri().path());
        let model = request.extensions().get::<Model>();
        recent::scope(&self.limiter, api_key, endpoint, model)
    }
}

impl<S: Clone> Clone for RateLimit<S> {
    fn clone(&self) -> Self {
        RateLimit {
            inner: self.inner.clone(),
            limiter: self.limiter.clone(),
        }
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for RateLimit<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S, Request<ReqBody>>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let scope = self.scope_for(&request);
        let cost = request.extensions().get::<Cost>().map_or(1, |c| c.get());
        // The readied service goes into the future; this handle keeps a fresh
        // clone and must be polled ready again, as tower requires.
        let clone = self.inner.clone();
        let inner = mem::replace(&mut self.inner, clone);
        if scope.scope.try_acquire(cost) {
            ResponseFuture::calling(inner, request, scope)
        } else {
            ResponseFuture::waiting(inner, request, scope, cost)
        }
    }
}
