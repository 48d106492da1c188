//! Connections through a proxy: a CONNECT tunnel for `https://`
//! destinations, the proxy itself for `http://` ones.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{header::PROXY_AUTHORIZATION, Request, Uri};
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::client::proxy::matcher::Matcher;
use tower::ServiceExt;
use tower_service::Service;

use super::ProxyError;
use crate::BoxError;

/// Wraps a connector (hyper-util's `HttpConnector`) so that destinations
/// the [`Matcher`] intercepts are reached through their proxy.
///
/// - `https://`: an HTTP CONNECT tunnel (hyper-util's [`Tunnel`], with
///   the proxy's basic credentials), over which the TLS connector above
///   this one speaks to the destination itself, end to end.
/// - `http://`: a connection to the proxy, marked proxied, so hyper sends
///   it absolute-form requests (`GET http://host/path`);
///   [`ProxyAuthorization`] adds the credentials to each one.
#[derive(Clone, Debug)]
pub(crate) struct ProxyConnector<C> {
    inner: C,
    rules: Arc<Matcher>,
}

impl<C> ProxyConnector<C> {
    pub(crate) fn new(inner: C, rules: Arc<Matcher>) -> Self {
        ProxyConnector { inner, rules }
    }
}

type Connecting<T> = Pin<Box<dyn Future<Output = Result<ProxyStream<T>, BoxError>> + Send>>;

impl<C> Service<Uri> for ProxyConnector<C>
where
    C: Service<Uri> + Clone + Send + 'static,
    C::Response: Read + Write + Connection + Unpin + Send + 'static,
    C::Future: Send + 'static,
    C::Error: Into<BoxError>,
{
    type Response = ProxyStream<C::Response>;
    type Error = BoxError;
    type Future = Connecting<C::Response>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        let Some(intercept) = self.rules.intercept(&dst) else {
            let connecting = self.inner.call(dst);
            return Box::pin(async move {
                let stream = connecting.await.map_err(Into::into)?;
                Ok(ProxyStream::new(stream, false))
            });
        };
        let proxy = intercept.uri().clone();
        if dst.scheme() == Some(&http::uri::Scheme::HTTPS) {
            let mut tunnel = Tunnel::new(proxy.clone(), self.inner.clone());
            if let Some(auth) = intercept.basic_auth() {
                tunnel = tunnel.with_auth(auth.clone());
            }
            Box::pin(async move {
                let stream = tunnel
                    .oneshot(dst)
                    .await
                    .map_err(|e| ProxyError::new(&proxy, e))?;
                // End to end through the tunnel: not "proxied" to hyper.
                Ok(ProxyStream::new(stream, false))
            })
        } else {
            let connecting = self.inner.call(proxy.clone());
            Box::pin(async move {
                let stream = connecting.await.map_err(|e| ProxyError::new(&proxy, e))?;
                Ok(ProxyStream::new(stream, true))
            })
        }
    }
}

/// A connection, direct or through a proxy; says which to hyper.
#[derive(Debug)]
pub(crate) struct ProxyStream<T> {
    inner: T,
    proxied: bool,
}

impl<T> ProxyStream<T> {
    fn new(inner: T, proxied: bool) -> Self {
        ProxyStream { inner, proxied }
    }
}

impl<T: Connection> Connection for ProxyStream<T> {
    fn connected(&self) -> Connected {
        self.inner.connected().proxy(self.proxied)
    }
}

impl<T: Read + Unpin> Read for ProxyStream<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: Write + Unpin> Write for ProxyStream<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
}

/// Adds `Proxy-Authorization` to the requests that go to an `http://`
/// destination through a proxy with credentials (a tunnel sends them in
/// its CONNECT instead, and the destination never sees them). Marked
/// sensitive, so hyper's and this crate's logs leave it out.
#[derive(Clone, Debug)]
pub(crate) struct ProxyAuthorization<S> {
    inner: S,
    rules: Arc<Matcher>,
}

impl<S> ProxyAuthorization<S> {
    pub(crate) fn new(inner: S, rules: Arc<Matcher>) -> Self {
        ProxyAuthorization { inner, rules }
    }
}

impl<S, B> Service<Request<B>> for ProxyAuthorization<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        if request.uri().scheme() == Some(&http::uri::Scheme::HTTP) {
            let auth = self
                .rules
                .intercept(request.uri())
                .and_then(|intercept| intercept.basic_auth().cloned());
            if let Some(mut auth) = auth {
                auth.set_sensitive(true);
                request.headers_mut().insert(PROXY_AUTHORIZATION, auth);
            }
        }
        self.inner.call(request)
    }
}
