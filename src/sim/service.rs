//! The simulator as a tower `Service`: usable in-process (no socket, so
//! paused time works) and served over loopback by [`Simulator`](super::Simulator).

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes};
use http::{header, HeaderMap, Request, Response};
use http_body::Body;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use tokio::time::Instant;
use tower_service::Service;

use super::body::SimBody;
use super::errors::ApiError;
use super::faults::Scripted;
use super::pipeline::{self, Outcome};
use super::state::{lock, Config, Shared, State};
use super::stats::{RequestRecord, Stats};
use crate::BoxError;

/// The simulator as an in-process tower `Service`.
///
/// Clones share one simulator: one set of keys, limits, files, jobs and
/// counters. It never waits for capacity (`poll_ready` is always ready) and
/// every clock it reads is tokio's, so it runs under
/// `tokio::time::pause()`. Request bodies may be any [`http_body::Body`],
/// such as `http_body_util::Full<Bytes>` or hyper's `Incoming`.
///
/// ```
/// use bytes::Bytes;
/// use http_body_util::{BodyExt, Full};
/// use tower::ServiceExt;
/// use tower_together::sim::Simulator;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let service = Simulator::builder().service();
/// let request = http::Request::get("http://sim/v1/models")
///     .header("authorization", "Bearer sim-key")
///     .body(Full::new(Bytes::new()))
///     .unwrap();
/// let response = service.clone().oneshot(request).await.unwrap();
/// assert_eq!(response.status(), 200);
/// let body = response.into_body().collect().await.unwrap().to_bytes();
/// assert!(body.starts_with(b"["));
/// assert_eq!(service.stats().total_requests(), 1);
/// # }
/// ```
#[derive(Clone)]
pub struct SimService {
    shared: Shared,
}

impl SimService {
    pub(crate) fn new(config: Config) -> Self {
        SimService {
            shared: std::sync::Arc::new(std::sync::Mutex::new(State::new(config))),
        }
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> Stats {
        lock(&self.shared).stats.clone()
    }

    /// Appends to the script: these outcomes apply to the next requests,
    /// after any entries still waiting. See [`Scripted`].
    pub fn script(&self, outcomes: impl IntoIterator<Item = Scripted>) {
        lock(&self.shared).script.extend(outcomes);
    }

    /// Forgets every counted request, 429 and fault (files and jobs stay).
    pub fn reset_stats(&self) {
        lock(&self.shared).stats.reset();
    }
}

impl fmt::Debug for SimService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimService").finish_non_exhaustive()
    }
}

impl<B> Service<Request<B>> for SimService
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    type Response = Response<SimBody>;
    type Error = Infallible;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> ResponseFuture {
        // The arrival is stamped here, before the body is read, so it is the
        // moment the client sent the request.
        let arrival = Instant::now();
        let number = {
            let mut state = lock(&self.shared);
            state.stats.arrive(RequestRecord {
                arrival,
                method: request.method().clone(),
                path: request.uri().path().to_owned(),
                key: None,
                model: None,
                status: None,
                admitted: false,
                tokens: 0,
                fault: None,
                scripted: false,
            })
        };
        let shared = self.shared.clone();
        ResponseFuture {
            inner: Box::pin(async move { Ok(serve(shared, request, number).await) }),
        }
    }
}

async fn serve<B>(shared: Shared, request: Request<B>, number: usize) -> Response<SimBody>
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let (parts, body) = request.into_parts();
    let max = lock(&shared).config.max_body_bytes;
    let body = read_body(&parts.headers, body, max).await;
    let Outcome { response, delay } = {
        let mut state = lock(&shared);
        pipeline::process(&mut state, &parts, body, number)
    };
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    response
}

/// How long a request body may take to arrive.
const BODY_TIMEOUT: Duration = Duration::from_secs(30);

/// Reads a body of at most `max` bytes: a larger one is refused without
/// reading it all, a broken one is a 400.
async fn read_body<B>(headers: &HeaderMap, body: B, max: usize) -> Result<Bytes, ApiError>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > max as u64) {
        return Err(ApiError::too_large(max));
    }
    // A client that stops sending half way gets an answer, not a connection
    // held open for ever.
    let collected = tokio::time::timeout(BODY_TIMEOUT, Limited::new(body, max).collect()).await;
    let Ok(collected) = collected else {
        return Err(ApiError::new(
            http::StatusCode::REQUEST_TIMEOUT,
            "invalid_request_error",
            "Timed out reading the request body",
        ));
    };
    match collected {
        Ok(collected) => {
            let mut buf = collected.aggregate();
            Ok(buf.copy_to_bytes(buf.remaining()))
        }
        Err(error) if error.downcast_ref::<LengthLimitError>().is_some() => {
            Err(ApiError::too_large(max))
        }
        Err(_) => Err(ApiError::invalid("The request body could not be read")),
    }
}

/// The future of [`SimService`]: the answer, after any slow fault's delay.
#[must_use = "futures do nothing unless polled"]
pub struct ResponseFuture {
    inner: Pin<Box<dyn Future<Output = Result<Response<SimBody>, Infallible>> + Send>>,
}

impl Future for ResponseFuture {
    type Output = Result<Response<SimBody>, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx)
    }
}

impl fmt::Debug for ResponseFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
