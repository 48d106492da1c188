//! The typed tower `Service`: turns an [`ApiRequest`] into an HTTP request
//! tagged with the extensions the layers read, sends it, and turns the answer
//! into the typed response or an [`Error`].

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE, USER_AGENT};
use http::{Method, Request, Response, Uri};
use http_body_util::{BodyExt, Full};
use tokio::time::Instant;
use tower::{Service, ServiceExt};
use tracing::field::Empty;
use tracing::{Instrument, Span};

use super::error::{error_body_prefix, Error, ErrorKind};
use super::request::{ApiRequest, RequestBody};
use super::stream::SseStream;
use super::transport::ResponseBody;
use super::Together;
use crate::endpoint::Endpoint;
use crate::extensions::{Deadline, Idempotency, Model, OnOpen, TokenCost};
use crate::rate_limit::TokenReservation;

/// The boxed future of a typed call.
type BoxFuture<T> = Pin<Box<dyn Future<Output = Result<T, Error>> + Send + 'static>>;

/// The future of a typed call through [`Together`] as a tower `Service`.
#[must_use = "futures do nothing unless polled"]
pub struct ResponseFuture<T> {
    inner: BoxFuture<T>,
}

impl<T> fmt::Debug for ResponseFuture<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<T> Future for ResponseFuture<T> {
    type Output = Result<T, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx)
    }
}

/// The most of an error body that is read.
const MAX_ERROR_BODY: usize = 64 * 1024;

impl<R: ApiRequest> Service<R> for Together {
    type Response = R::Response;
    type Error = Error;
    type Future = ResponseFuture<R::Response>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Readiness of the HTTP stack is awaited per call, on its own clone.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: R) -> Self::Future {
        let this = self.clone();
        ResponseFuture {
            inner: Box::pin(async move { this.send(request).await }),
        }
    }
}

/// What to send, below the typed layer.
pub(crate) struct Outgoing<'a> {
    pub(crate) method: Method,
    pub(crate) uri: Uri,
    pub(crate) body: RequestBody,
    pub(crate) model: Option<&'a str>,
    pub(crate) token_estimate: u32,
    pub(crate) authorize: bool,
    pub(crate) idempotency: Option<Idempotency>,
    pub(crate) accept: &'static str,
}

impl Together {
    /// Sends a typed request: with fallback models on 503, and "did you mean"
    /// suggestions on a model-not-found error, within the total timeout.
    pub(crate) async fn send<R: ApiRequest>(&self, request: R) -> Result<R::Response, Error> {
        let span = self.call_span(&request);
        let result = self.send_inner(request).instrument(span.clone()).await;
        record_call(&span, &result);
        result
    }

    async fn send_inner<R: ApiRequest>(&self, request: R) -> Result<R::Response, Error> {
        let deadline = self.deadline();
        let work = async {
            let (request, response) = self.open(request, deadline, "application/json").await?;
            let reservation = response.extensions().get::<TokenReservation>().cloned();
            let limit = if request.is_download() {
                self.inner.config.max_download_bytes
            } else {
                self.inner.config.max_response_bytes
            };
            let body = self.read_body(response, limit).await?;
            let mut decoded = request.decode(body.clone());
            if decoded.is_err() && body.is_empty() {
                // An empty 2xx body (a DELETE answered with 204...) decodes as `null`.
                decoded = request.decode(Bytes::from_static(b"null"));
            }
            let decoded =
                decoded.map_err(|e| Error::decode("cannot decode the response", &e, &body))?;
            // The answer's usage settles the limiter's reservation; without
            // usage, the estimate stands.
            if let (Some(reservation), Some(used)) = (reservation, request.used_tokens(&decoded)) {
                reservation.settle(used);
            }
            Ok(decoded)
        };
        self.within(deadline, work).await
    }

    /// Sends a typed request that asked to be streamed and returns its
    /// server-sent events as a typed stream (the fallbacks and the deadline
    /// apply until the first byte).
    pub(crate) async fn open_stream<R, T>(
        &self,
        request: R,
        used: fn(&T) -> Option<u64>,
    ) -> Result<SseStream<T>, Error>
    where
        R: ApiRequest,
        T: serde::de::DeserializeOwned,
    {
        let deadline = self.deadline();
        let span = self.call_span(&request);
        let opened = self
            .within(deadline, self.open(request, deadline, "text/event-stream"))
            .instrument(span.clone())
            .await;
        record_call(&span, &opened);
        let (_, response) = opened?;
        let reservation = response.extensions().get::<TokenReservation>().cloned();
        Ok(SseStream::new(
            response.into_body(),
            self.inner.api_key.as_ref().map(|k| k.secret.clone()),
            self.inner.config.stream_idle_timeout,
        )
        .settling(reservation, used))
    }

    /// Sends a typed request and returns the 2xx response unread, trying the
    /// fallback models in order while the answer is "overloaded". Returns the
    /// request that succeeded (its model is the one that answered).
    pub(crate) async fn open<R: ApiRequest>(
        &self,
        mut request: R,
        deadline: Option<Instant>,
        accept: &'static str,
    ) -> Result<(R, Response<ResponseBody>), Error> {
        let original = request.model().map(str::to_owned);
        let fallbacks = original
            .as_deref()
            .and_then(|m| self.inner.config.fallbacks.get(m))
            .cloned()
            .unwrap_or_default();
        let mut next_fallback = fallbacks.iter();
        loop {
            let outgoing = Outgoing {
                method: request.method(),
                uri: self.uri(&request.path())?,
                body: request.body()?,
                model: request.model(),
                token_estimate: request.token_estimate(),
                authorize: true,
                idempotency: request.idempotency(),
                accept,
            };
            // With a fallback left, an open circuit should hand over at
            // once rather than wait for this model to recover.
            let on_open = (next_fallback.len() > 0).then_some(OnOpen::FailFast);
            let response = match self.exchange_with(outgoing, deadline, on_open).await {
                Ok(response) => response,
                Err(error) if error.is_circuit_open() && next_fallback.len() > 0 => {
                    if let Some(fallback) = next_fallback.next() {
                        if request.set_model(fallback) {
                            tracing::debug!(to = %fallback, reason = "circuit_open", "falling back");
                            continue;
                        }
                    }
                    return Err(error);
                }
                Err(error) => return Err(error),
            };
            if response.status().is_success() {
                return Ok((request, response));
            }
            let error = self.error_from(response, request.model()).await;
            if error.is_overloaded() {
                if let Some(fallback) = next_fallback.next() {
                    if request.set_model(fallback) {
                        tracing::debug!(
                            from = request.model().unwrap_or(""),
                            to = %fallback,
                            "model overloaded; falling back"
                        );
                        continue;
                    }
                }
            }
            if error.is_model_not_found() {
                return Err(self.with_suggestions(error).await);
            }
            return Err(error);
        }
    }

    /// Builds the HTTP request, tags it, and sends it through the stack.
    pub(crate) async fn exchange(
        &self,
        outgoing: Outgoing<'_>,
        deadline: Option<Instant>,
    ) -> Result<Response<ResponseBody>, Error> {
        self.exchange_with(outgoing, deadline, None).await
    }

    /// [`exchange`](Self::exchange), telling the circuit breaker what to do
    /// when the model's circuit is open.
    pub(crate) async fn exchange_with(
        &self,
        outgoing: Outgoing<'_>,
        deadline: Option<Instant>,
        on_open: Option<OnOpen>,
    ) -> Result<Response<ResponseBody>, Error> {
        let (content_type, bytes) = outgoing.body.into_parts();
        let mut request = Request::new(Full::new(bytes));
        *request.method_mut() = outgoing.method;
        *request.uri_mut() = outgoing.uri;
        let headers = request.headers_mut();
        headers.insert(ACCEPT, HeaderValue::from_static(outgoing.accept));
        headers.insert(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE));
        if let Some(content_type) = content_type {
            headers.insert(CONTENT_TYPE, content_type);
        }
        if outgoing.authorize {
            if let Some(key) = &self.inner.api_key {
                headers.insert(AUTHORIZATION, key.header.clone());
                request.extensions_mut().insert(key.fingerprint);
            }
        }
        let extensions = request.extensions_mut();
        if let Some(model) = outgoing.model {
            extensions.insert(Model::new(model));
        }
        // The limiter reserves it in scopes that pace tokens; the answer's
        // usage settles it (see `send` and the streams).
        extensions.insert(TokenCost::new(outgoing.token_estimate));
        if let Some(deadline) = deadline {
            extensions.insert(Deadline::at(deadline));
        }
        if let Some(idempotency) = outgoing.idempotency {
            extensions.insert(idempotency);
        }
        if let Some(on_open) = on_open {
            extensions.insert(on_open);
        }
        let mut http = self.inner.http.clone();
        let ready = http.ready().await.map_err(Error::transport)?;
        ready.call(request).await.map_err(Error::transport)
    }

    /// Reads a 2xx body, bounded in size by `limit` and in time by the idle
    /// timeout between two frames.
    pub(crate) async fn read_body(
        &self,
        response: Response<ResponseBody>,
        limit: usize,
    ) -> Result<Bytes, Error> {
        let mut body = response.into_body();
        let mut collected = bytes::BytesMut::new();
        while let Some(frame) = self.next_frame(&mut body).await? {
            let frame = frame.map_err(Error::transport)?;
            if let Ok(data) = frame.into_data() {
                if collected.len() + data.len() > limit {
                    return Err(Error::unexpected(format!(
                        "the response body is larger than the limit of {limit} bytes"
                    )));
                }
                collected.extend_from_slice(&data);
            }
        }
        Ok(collected.freeze())
    }

    /// The body's next frame, or a timeout error when it sends nothing for
    /// the idle timeout: without it, a body that stalls after its headers
    /// holds the call until the total timeout, or for ever without one.
    async fn next_frame(
        &self,
        body: &mut ResponseBody,
    ) -> Result<
        Option<Result<http_body::Frame<Bytes>, <ResponseBody as http_body::Body>::Error>>,
        Error,
    > {
        match self.inner.config.stream_idle_timeout {
            Some(idle) => tokio::time::timeout(idle, body.frame()).await.map_err(|_| {
                Error::timeout(format!(
                    "the response body sent nothing for {} ms",
                    idle.as_millis()
                ))
            }),
            None => Ok(body.frame().await),
        }
    }

    /// Turns a non-2xx response into an [`Error`], reading a bounded prefix
    /// of its body.
    pub(crate) async fn error_from(
        &self,
        response: Response<ResponseBody>,
        model: Option<&str>,
    ) -> Error {
        let (parts, body) = response.into_parts();
        let mut prefix = Vec::new();
        let mut body = body;
        // Read frame by frame and stop at the cap: an endless error body must
        // not hold the caller.
        while prefix.len() < MAX_ERROR_BODY {
            // A body that stalls ends the read too: the status and what
            // came are the error, without waiting for the rest.
            match self.next_frame(&mut body).await.ok().flatten() {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        let take = data.len().min(MAX_ERROR_BODY - prefix.len());
                        prefix.extend_from_slice(&data[..take]);
                    }
                }
                Some(Err(_)) | None => break,
            }
        }
        let prefix = Bytes::from(prefix);
        Error::from_response(
            parts.status,
            &parts.headers,
            error_body_prefix(&prefix),
            self.secret(),
        )
        .with_model(model)
    }

    /// The `together.call` span of one typed call (see
    /// [`telemetry`](crate::telemetry)): never the key or the body.
    fn call_span<R: ApiRequest>(&self, request: &R) -> Span {
        let path = request.path();
        let uri = self.uri(&path).ok();
        tracing::info_span!(
            "together.call",
            http.request.method = %request.method(),
            server.address = uri.as_ref().and_then(Uri::host),
            url.path = uri.as_ref().map(Uri::path),
            together.model = request.model(),
            together.endpoint = Endpoint::from_path(&path).as_str(),
            http.response.status_code = Empty,
            error.type = Empty,
        )
    }

    /// The full URI of `path` below the base URL.
    pub(crate) fn uri(&self, path: &str) -> Result<Uri, Error> {
        self.inner.base.join(path)
    }

    /// The instant the whole request must finish by, if a total timeout is set.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.inner
            .config
            .total_timeout
            .and_then(|t| Instant::now().checked_add(t))
    }

    /// Runs `work`, failing with a timeout error at `deadline`.
    pub(crate) async fn within<T>(
        &self,
        deadline: Option<Instant>,
        work: impl Future<Output = Result<T, Error>>,
    ) -> Result<T, Error> {
        match deadline {
            // Already past (a zero total timeout): time's up before anything
            // is sent, however fast the server would have been. tokio's
            // `timeout_at` polls the work once first, so an instant answer
            // would get through and a slow one not.
            Some(deadline) if deadline <= Instant::now() => {
                Err(Error::timeout("the request's total timeout elapsed"))
            }
            Some(deadline) => tokio::time::timeout_at(deadline, work)
                .await
                .unwrap_or_else(|_| Err(Error::timeout("the request's total timeout elapsed"))),
            None => work.await,
        }
    }

    /// The API key, for scrubbing server text; never shown.
    pub(crate) fn secret(&self) -> Option<&str> {
        self.inner.api_key.as_ref().map(|k| &*k.secret)
    }
}

/// Records a call's outcome on its span: 200 on success (the typed
/// response keeps no status), else the error's status or kind.
fn record_call<T>(span: &Span, result: &Result<T, Error>) {
    match result {
        Ok(_) => {
            span.record("http.response.status_code", 200u16);
        }
        Err(error) => {
            if let Some(status) = error.status() {
                span.record("http.response.status_code", status.as_u16());
                span.record("error.type", status.as_str());
            } else if error.is_circuit_open() {
                span.record("error.type", "circuit_open");
            } else {
                span.record("error.type", error_kind_name(error.kind()));
            }
        }
    }
}

fn error_kind_name(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::Api => "api",
        ErrorKind::Transport => "transport",
        ErrorKind::Timeout => "timeout",
        ErrorKind::Decode => "decode",
        ErrorKind::Stream => "stream",
        ErrorKind::Config => "config",
        ErrorKind::InvalidRequest => "invalid_request",
    }
}

const USER_AGENT_VALUE: &str = concat!("tower-together/", env!("CARGO_PKG_VERSION"));
