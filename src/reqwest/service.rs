//! A `reqwest::Client` as a tower service of `http` requests.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_service::Service;

use super::body::SyncBody;
use crate::BoxError;

/// The future reqwest's own `Service` impl returns (its type is not named
/// in reqwest's public API, so it is named through the impl).
type Sending = <::reqwest::Client as Service<::reqwest::Request>>::Future;

/// A [`reqwest::Client`] as a
/// `Service<http::Request<B>>`, for the crate's layers to wrap.
///
/// - The request body may be any `Send` [`http_body::Body`]; it is handed
///   to reqwest as it is, so its size hint still sets the
///   `content-length`, and a streamed body is streamed.
/// - The answer is an `http::Response<reqwest::Body>`: reqwest's body,
///   which yields the bytes as they arrive. Nothing is buffered.
/// - The error is [`reqwest::Error`] itself, unchanged:
///   `is_timeout()`, `is_connect()`, `is_request()`, `is_body()` tell its
///   kind, and the typed client maps a timeout to
///   [`ErrorKind::Timeout`](crate::client::ErrorKind::Timeout).
///
/// Everything else is the client's: its TLS, proxies, timeouts, redirects,
/// connection pool. See the [module docs](super) for an example.
///
/// # Clone
///
/// Cheap: a `reqwest::Client` is a handle to one shared pool.
#[derive(Clone, Debug)]
pub struct ReqwestService {
    client: ::reqwest::Client,
}

impl ReqwestService {
    /// Sends through `client`.
    pub fn new(client: ::reqwest::Client) -> Self {
        ReqwestService { client }
    }

    /// The client requests go through.
    pub fn get_ref(&self) -> &::reqwest::Client {
        &self.client
    }

    /// The client, consuming this service.
    pub fn into_inner(self) -> ::reqwest::Client {
        self.client
    }
}

impl From<::reqwest::Client> for ReqwestService {
    fn from(client: ::reqwest::Client) -> Self {
        ReqwestService::new(client)
    }
}

impl<B> Service<Request<B>> for ReqwestService
where
    B: http_body::Body + Send + 'static,
    B::Data: Into<Bytes>,
    B::Error: Into<BoxError>,
{
    type Response = Response<::reqwest::Body>;
    type Error = ::reqwest::Error;
    type Future = ResponseFuture;

    /// Always ready: reqwest's client is (its pool waits inside the call).
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let request = request.map(|body| ::reqwest::Body::wrap(SyncBody::new(body)));
        match ::reqwest::Request::try_from(request) {
            Ok(request) => ResponseFuture::sending(self.client.call(request)),
            // A URI reqwest's URL parser refuses: a builder error, as
            // `reqwest::Client::execute` would give.
            Err(error) => ResponseFuture::failed(error),
        }
    }
}

pin_project! {
    /// The future of a [`ReqwestService`] call.
    #[must_use = "futures do nothing unless polled"]
    pub struct ResponseFuture {
        #[pin]
        state: State,
    }
}

pin_project! {
    #[project = StateProj]
    enum State {
        Sending { #[pin] sending: Sending },
        Failed { error: Option<::reqwest::Error> },
    }
}

impl ResponseFuture {
    fn sending(sending: Sending) -> Self {
        ResponseFuture {
            state: State::Sending { sending },
        }
    }

    fn failed(error: ::reqwest::Error) -> Self {
        ResponseFuture {
            state: State::Failed { error: Some(error) },
        }
    }
}

impl Future for ResponseFuture {
    type Output = Result<Response<::reqwest::Body>, ::reqwest::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Sending { sending } => sending.poll(cx).map_ok(Response::from),
            StateProj::Failed { error } => match error.take() {
                Some(error) => Poll::Ready(Err(error)),
                None => panic!("ResponseFuture polled after completion"),
            },
        }
    }
}

impl fmt::Debug for ResponseFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
