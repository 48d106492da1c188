//! The default HTTP transport (hyper-util + rustls) and type erasure of
//! whatever service the client sends through.

pub(crate) mod proxy;
pub(crate) mod tls;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::TokioExecutor;
use tower::util::BoxCloneSyncService;
use tower::{Service, ServiceExt};

use self::proxy::{ProxyAuthorization, ProxyConnector};
use crate::BoxError;

/// The response body every service under the client is erased to.
pub type ResponseBody = UnsyncBoxBody<Bytes, BoxError>;

/// The type-erased HTTP service the client sends through.
pub(crate) type HttpService =
    BoxCloneSyncService<Request<Full<Bytes>>, Response<ResponseBody>, BoxError>;

/// How long idle pooled connections are kept.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// The default transport: hyper-util's pooling client over rustls,
/// speaking HTTP/1.1 and HTTP/2 (by ALPN), `https://` and plain `http://`
/// (for a local simulator), with a connect timeout, trusting `tls`'s
/// roots, through the proxies `proxies` names (none when `None`).
pub(crate) fn hyper_transport(
    connect_timeout: Duration,
    tls: rustls::ClientConfig,
    proxies: Option<Matcher>,
) -> HttpService {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    // Also bounds the connection to a proxy.
    http.set_connect_timeout(Some(connect_timeout));
    let https = hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(tls);
    match proxies.map(Arc::new) {
        None => {
            let https = https
                .https_or_http()
                .enable_all_versions()
                .wrap_connector(http);
            erase(pooling(https))
        }
        Some(rules) => {
            let https = https
                .https_or_http()
                .enable_all_versions()
                .wrap_connector(ProxyConnector::new(http, rules.clone()));
            erase(ProxyAuthorization::new(pooling(https), rules))
        }
    }
}

fn pooling<C>(connector: C) -> Client<C, Full<Bytes>>
where
    C: hyper_util::client::legacy::connect::Connect + Clone,
{
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        .build(connector)
}

/// Erases a service's type and response body type.
pub(crate) fn erase<S, B>(service: S) -> HttpService
where
    S: Service<Request<Full<Bytes>>, Response = Response<B>> + Clone + Send + Sync + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    BoxCloneSyncService::new(
        service
            .map_response(|response: Response<B>| {
                response.map(|body| body.map_err(Into::into).boxed_unsync())
            })
            .map_err(Into::into),
    )
}
