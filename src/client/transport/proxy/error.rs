//! The error of a connection through a proxy.

use std::fmt;

use crate::BoxError;

/// The default transport could not reach a destination through its proxy:
/// the proxy refused the connection or the tunnel, asked for credentials
/// (407), or closed.
///
/// Found in the [`source`](std::error::Error::source) chain of the
/// client's [`Error`](crate::Error) (kind
/// [`Transport`](crate::client::ErrorKind::Transport)). It names the proxy
/// by scheme, host and port only: never its credentials.
#[derive(Debug)]
pub struct ProxyError {
    /// `http://host:port`: hyper-util's matcher keeps the userinfo apart.
    proxy: String,
    source: BoxError,
}

impl ProxyError {
    pub(super) fn new(proxy: &http::Uri, source: impl Into<BoxError>) -> Self {
        let proxy = match (proxy.scheme_str(), proxy.authority()) {
            (Some(scheme), Some(authority)) => format!("{scheme}://{authority}"),
            _ => proxy.to_string(),
        };
        ProxyError {
            proxy,
            source: source.into(),
        }
    }

    /// The proxy, as `http://host:port`.
    pub fn proxy(&self) -> &str {
        &self.proxy
    }
}

impl fmt::Display for ProxyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "through the proxy {}: {}", self.proxy, self.source)
    }
}

impl std::error::Error for ProxyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.source)
    }
}
