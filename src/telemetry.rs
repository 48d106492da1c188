//! Tracing and metrics: the names of span fields and metrics, and a layer
//! that opens one span per attempt and records its metrics.
//!
//! The typed [`Together`] client opens one span per call
//! (`together.call`) and, through [`AttemptSpanLayer`] in its stack just
//! above the rate limiter, one per attempt (`together.attempt`), with the
//! fields below. Names follow OpenTelemetry's HTTP client conventions
//! where one exists; ours start with `together.`. No field ever holds the
//! API key, a header or a request body.
//!
//! | field | span | meaning |
//! |---|---|---|
//! | `http.request.method` | call, attempt | `POST`, `GET`, ... |
//! | `server.address` | call | the host of the base URL |
//! | `url.path` | call, attempt | the request's path (no query) |
//! | `together.model` | call, attempt | the model, when the request names one |
//! | `together.endpoint` | call, attempt | the endpoint class (`chat`, `embeddings`, ...) |
//! | `http.request.resend_count` | attempt | resends of this call before this attempt |
//! | `http.response.status_code` | call, attempt | the status answered |
//! | `error.type` | call, attempt | the status code as text for an error status, else the kind of failure (`timeout`, `transport`, `circuit_open`, ...) |
//!
//! Metrics (feature `metrics`, through the `metrics` facade, so any
//! exporter works): see [`metrics`] for the names; the table is in the
//! README's "Observability" section. The limiter's per-scope gauges are
//! set on demand, by
//! [`RateLimitLayer::publish_metrics`](crate::RateLimitLayer) or
//! `Snapshot::record_metrics`, not by requests.
//!
//! Every wait is a `tracing` event (level `debug`) with a `reason` field:
//!
//! | `reason` | emitted by | fields | meaning |
//! |---|---|---|---|
//! | `paced` | rate limiter | `wait_ms` | the request waited for its slot under the quota |
//! | `paused` | rate limiter | `wait_ms` | the request waited while its scope was paused after a 429 (for some or all of the wait) |
//! | `retry_after` | `RetryAfterLayer` | `wait_ms`, `retry` | a 429's wait before resending |
//! | `backoff` | `BackoffLayer` | `wait_ms`, `retry` | the wait before resending after a retryable status (5xx, 408, ...) or a transport error |
//! | `budget_exhausted` | both retry layers | | the retry budget refused a resend |
//! | `circuit_open` | circuit breaker | | the breaker holds or refuses the call |
//!
//! The limiter's events come only from requests that waited: one granted
//! at once emits nothing and reads no clock for it. Emitted while the
//! request is polled, so inside its `together.attempt` span.
//!
//! # Example
//!
//! ```
//! use std::convert::Infallible;
//! use tower::{service_fn, Layer, ServiceExt};
//! use tower_together::telemetry::AttemptSpanLayer;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let server = service_fn(|_req: http::Request<String>| async {
//!     Ok::<_, Infallible>(http::Response::new(String::new()))
//! });
//! let service = AttemptSpanLayer::new().layer(server);
//! let request = http::Request::post("https://api.together.ai/v1/embeddings")
//!     .body(String::new())
//!     .unwrap();
//! // Inside a span `together.attempt` with url.path = "/v1/embeddings".
//! let response = service.oneshot(request).await.unwrap();
//! assert_eq!(response.status(), 200);
//! # }
//! ```
//!
#![cfg_attr(feature = "client", doc = "[`Together`]: crate::Together")]
#![cfg_attr(
    not(feature = "client"),
    doc = "[`Together`]: https://docs.rs/tower-together/latest/tower_together/struct.Together.html"
)]

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;
use tracing::field::Empty;
use tracing::Span;

use tokio::time::Instant;

use crate::endpoint::Endpoint;
use crate::extensions::{AttemptBudget, Model};

pub mod metrics;

/// Opens a `together.attempt` span around each request that passes; see
/// the [module docs](self).
#[derive(Clone, Copy, Debug, Default)]
pub struct AttemptSpanLayer {
    _private: (),
}

impl AttemptSpanLayer {
    /// The layer.
    pub fn new() -> Self {
        AttemptSpanLayer::default()
    }
}

impl<S> Layer<S> for AttemptSpanLayer {
    type Service = AttemptSpan<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AttemptSpan { inner }
    }
}

/// A service that runs each request in a `together.attempt` span; made by
/// [`AttemptSpanLayer`].
#[derive(Clone, Debug)]
pub struct AttemptSpan<S> {
    inner: S,
}

impl<S, B, ResB> Service<Request<B>> for AttemptSpan<S>
where
    S: Service<Request<B>, Response = Response<ResB>>,
    S::Error: fmt::Display,
{
    type Response = Response<ResB>;
    type Error = S::Error;
    type Future = AttemptFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let path = request.uri().path();
        let extensions = request.extensions();
        let resends = extensions
            .get::<AttemptBudget>()
            .map_or(0, |budget| budget.sent().saturating_sub(1));
        let endpoint = Endpoint::from_path(path);
        let model = extensions.get::<Model>().cloned();
        let span = tracing::info_span!(
            "together.attempt",
            http.request.method = %request.method(),
            url.path = path,
            together.model = model.as_ref().map(Model::as_str),
            together.endpoint = endpoint.as_str(),
            http.request.resend_count = resends,
            http.response.status_code = Empty,
            error.type = Empty,
        );
        let future = {
            let _entered = span.enter();
            self.inner.call(request)
        };
        AttemptFuture {
            inner: future,
            span,
            endpoint,
            model,
            started: Instant::now(),
        }
    }
}

pin_project! {
    /// The future of [`AttemptSpan`]: polls the inner future in the span and
    /// records the outcome on it.
    #[must_use = "futures do nothing unless polled"]
    pub struct AttemptFuture<F> {
        #[pin]
        inner: F,
        span: Span,
        endpoint: Endpoint,
        model: Option<Model>,
        started: Instant,
    }
}

impl<F> fmt::Debug for AttemptFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AttemptFuture").finish_non_exhaustive()
    }
}

impl<F, ResB, E> Future for AttemptFuture<F>
where
    F: Future<Output = Result<Response<ResB>, E>>,
    E: fmt::Display,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let _entered = this.span.enter();
        let result = ready!(this.inner.poll(cx));
        record_outcome(this.span, &result);
        let status = result.as_ref().ok().map(Response::status);
        metrics::attempt(
            *this.endpoint,
            this.model.as_ref(),
            status,
            this.started.elapsed(),
        );
        Poll::Ready(result)
    }
}

/// Records `http.response.status_code` and `error.type` on `span`.
pub(crate) fn record_outcome<ResB, E: fmt::Display>(
    span: &Span,
    result: &Result<Response<ResB>, E>,
) {
    match result {
        Ok(response) => {
            let status = response.status();
            span.record("http.response.status_code", status.as_u16());
            if status.is_client_error() || status.is_server_error() {
                span.record("error.type", status.as_str());
            }
        }
        Err(error) => {
            span.record("error.type", error_type(error));
        }
    }
}

/// A low-cardinality name for an error from below the retry layers: the
/// error types there are erased, so tower's `Elapsed` ("request timed
/// out") is told apart by its text.
fn error_type(error: &impl fmt::Display) -> &'static str {
    if error.to_string().contains("timed out") {
        "timeout"
    } else {
        "transport"
    }
}
