//! The crate's layers as one `reqwest_middleware::Middleware`.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::Extensions;
use reqwest_middleware::{Next, Result};
use tower::{Layer, ServiceBuilder, ServiceExt};
use tower_service::Service;

use crate::{BackoffLayer, RateLimitLayer, RetryAfterLayer};

/// The crate's stack, [`BackoffLayer`] over [`RetryAfterLayer`] over
/// [`RateLimitLayer`], as a [`reqwest_middleware::Middleware`]: every
/// request a `ClientWithMiddleware` sends is paced, and resent on 429 and
/// 5xx, through the middlewares after this one and the client.
///
/// - A resend goes through the rest of the chain again (`Next` is cheap
///   to clone), so middlewares after this one see every attempt.
/// - The request's extensions and the chain's `Extensions` both reach the
///   layers: set a [`Model`](crate::extensions::Model) or a
///   [`Deadline`](crate::extensions::Deadline) with
///   `RequestBuilder::with_extension`. Each attempt hands the middlewares
///   after this one a copy of the chain's extensions; what they add to it
///   does not come back out.
/// - A body reqwest cannot replay (a stream) cannot be resent: such a
///   request is paced, sent once, and its answer returned as it is.
///
/// The rate limiter's budget is the layer's: clones of one
/// [`RateLimitLayer`] share it, wherever they are used.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use tower_together::reqwest::StackMiddleware;
/// use tower_together::{Quota, RateLimitLayer, RetryAfterLayer};
///
/// let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
///     .with(
///         StackMiddleware::new()
///             .rate_limit(RateLimitLayer::new(Quota::per_second(10)))
///             .retry_after(RetryAfterLayer::new().max_wait(Duration::from_secs(30))),
///     )
///     .build();
/// # drop(client);
/// ```
#[derive(Clone, Debug)]
pub struct StackMiddleware {
    backoff: BackoffLayer,
    retry_after: RetryAfterLayer,
    rate_limit: RateLimitLayer,
}

impl Default for StackMiddleware {
    fn default() -> Self {
        StackMiddleware::new()
    }
}

impl StackMiddleware {
    /// The layers' defaults: [`BackoffLayer::new()`],
    /// [`RetryAfterLayer::new()`] and [`RateLimitLayer::together()`] (a
    /// budget of this middleware's own, shared by its clones).
    pub fn new() -> Self {
        StackMiddleware {
            backoff: BackoffLayer::new(),
            retry_after: RetryAfterLayer::new(),
            rate_limit: RateLimitLayer::together(),
        }
    }

    /// The rate limiter; pass clones of one layer to share its budget.
    pub fn rate_limit(mut self, layer: RateLimitLayer) -> Self {
        self.rate_limit = layer;
        self
    }

    /// The 429 retry layer.
    pub fn retry_after(mut self, layer: RetryAfterLayer) -> Self {
        self.retry_after = layer;
        self
    }

    /// The 5xx / transport backoff layer.
    pub fn backoff(mut self, layer: BackoffLayer) -> Self {
        self.backoff = layer;
        self
    }

    async fn send(
        &self,
        request: ::reqwest::Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> Result<::reqwest::Response> {
        // The layers are configuration and shared handles: stacking them
        // over this call's `Next` is a few clones, and shares the budget.
        let rest = RestOfChain {
            next,
            extensions: extensions.clone(),
        };
        let replayable = request.body().is_none_or(|body| body.as_bytes().is_some());
        let mut request = http::Request::<::reqwest::Body>::try_from(request)?;
        request.extensions_mut().extend(extensions.clone());
        let response = if replayable {
            let request =
                request.map(|body| Bytes::copy_from_slice(body.as_bytes().unwrap_or(&[])));
            ServiceBuilder::new()
                .layer(self.backoff)
                .layer(self.retry_after)
                .layer(self.rate_limit.clone())
                .service(rest)
                .oneshot(request)
                .await?
        } else {
            self.rate_limit.layer(rest).oneshot(request).await?
        };
        Ok(into_reqwest(response))
    }
}

impl reqwest_middleware::Middleware for StackMiddleware {
    // `async_trait`'s expansion, written out: no proc macro for one method.
    fn handle<'life0, 'life1, 'life2, 'async_trait>(
        &'life0 self,
        request: ::reqwest::Request,
        extensions: &'life1 mut Extensions,
        next: Next<'life2>,
    ) -> Pin<Box<dyn Future<Output = Result<::reqwest::Response>> + Send + 'async_trait>>
    where
        Self: 'async_trait,
        'life0: 'async_trait,
        'life1: 'async_trait,
        'life2: 'async_trait,
    {
        Box::pin(self.send(request, extensions, next))
    }
}

/// Where a response came from (after redirects), carried through the
/// layers so the `reqwest::Response` handed back keeps its `url()`.
#[derive(Clone, Debug)]
struct FinalUrl(::reqwest::Url);

/// The middlewares after this one and the client, as a tower service.
#[derive(Clone)]
struct RestOfChain<'a> {
    next: Next<'a>,
    extensions: Extensions,
}

impl<'a, B> Service<http::Request<B>> for RestOfChain<'a>
where
    B: Into<::reqwest::Body>,
{
    type Response = http::Response<::reqwest::Body>;
    type Error = reqwest_middleware::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response>> + Send + 'a>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let next = self.next.clone();
        let mut extensions = self.extensions.clone();
        let request = ::reqwest::Request::try_from(request.map(Into::into));
        Box::pin(async move {
            let response = next.run(request?, &mut extensions).await?;
            let url = FinalUrl(response.url().clone());
            let mut response = http::Response::from(response);
            response.extensions_mut().insert(url);
            Ok(response)
        })
    }
}

impl std::fmt::Debug for RestOfChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RestOfChain").finish_non_exhaustive()
    }
}

/// Back to reqwest's response, with its URL.
fn into_reqwest(mut response: http::Response<::reqwest::Body>) -> ::reqwest::Response {
    use ::reqwest::ResponseBuilderExt;

    if let Some(FinalUrl(url)) = response.extensions_mut().remove::<FinalUrl>() {
        // The URL travels as reqwest's own (private) extension, which only
        // its response builder can set.
        let mut carrier = http::Response::builder().url(url);
        if let Some(carried) = carrier.extensions_mut() {
            response.extensions_mut().extend(std::mem::take(carried));
        }
    }
    ::reqwest::Response::from(response)
}
