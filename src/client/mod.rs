//! The typed Together client.
//!
//! [`Together`] turns typed requests ([`ChatRequest`](crate::types::ChatRequest)
//! and friends) into HTTP requests, tags them with the
//! [extensions](crate::extensions) the layers read (model, API key
//! fingerprint, token estimate, deadline), and sends them through a stack of
//! the crate's layers over a hyper-util + rustls transport:
//!
//! ```text
//! Together ─► Backoff ─► RetryAfter ─► RateLimit ─► per-attempt timeout ─► transport
//! ```
//!
//! so `client.chat(request).await?` gets pacing, 429 handling and 5xx backoff
//! for free. The transport honours `HTTPS_PROXY` / `HTTP_PROXY` /
//! `NO_PROXY` or [`TogetherBuilder::proxy`], and trusts the webpki roots
//! plus any [`TlsRoots`] you add. Use
//! [`TogetherBuilder::build_with_transport`] to stack the same layers over
//! your own transport (`build_with_reqwest` for a `reqwest::Client`, feature
//! `reqwest`), or [`Together::with_service`] to send through a stack you
//! built yourself. `Together` is itself a tower
//! [`Service`](tower::Service) for every [`ApiRequest`], so typed middleware
//! can sit above it.
//!
//! # Example
//!
//! ```no_run
//! use tower_together::{ChatRequest, Message, Together};
//!
//! # async fn run() -> Result<(), tower_together::Error> {
//! let client = Together::from_env()?; // TOGETHER_API_KEY, TOGETHER_BASE_URL
//! let response = client
//!     .chat(ChatRequest::new(
//!         "meta-llama/Llama-3.3-70B-Instruct-Turbo",
//!         vec![Message::user("Say hello.")],
//!     ))
//!     .await?;
//! println!("{}", response.choices[0].message.content);
//! # Ok(()) }
//! ```
//!
//! The same client over a fake transport, used as a tower `Service` of
//! typed requests (the layers are stacked over the fake as over the network):
//!
//! ```
//! use std::convert::Infallible;
//! use bytes::Bytes;
//! use http_body_util::Full;
//! use tower::{Service, ServiceExt};
//! use tower_together::{ChatRequest, Message, Together};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), tower_together::Error> {
//! let fake = tower::service_fn(|_req: http::Request<Full<Bytes>>| async {
//!     let body = r#"{"id":"1","model":"m","choices":[{"index":0,
//!         "message":{"role":"assistant","content":"Hello!"},"finish_reason":"stop"}]}"#;
//!     Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from(body))))
//! });
//! let mut client = Together::builder()
//!     .api_key("test-key")
//!     .build_with_transport(fake)?;
//!
//! let request = ChatRequest::new("m", vec![Message::user("Hi")]);
//! let response = client.clone().oneshot(request).await?;
//!
//! // Or ready-then-call, naming the request type for `ready`.
//! let request = ChatRequest::new("m", vec![Message::user("Hi again")]);
//! let again = ServiceExt::<ChatRequest>::ready(&mut client).await?.call(request).await?;
//! assert_eq!(again.choices[0].message.content, "Hello!");
//! assert_eq!(response.choices[0].message.content, "Hello!");
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderValue, Uri};

mod builder;
mod endpoints;
mod error;
mod estimate;
mod helpers;
mod request;
pub mod requests;
mod service;
mod stream;
mod transport;
pub mod types;

pub use builder::TogetherBuilder;
pub use endpoints::files::Upload;
pub use error::{Error, ErrorKind};
pub use estimate::estimate_tokens;
pub use helpers::batch::{
    BatchLineError, BatchOptions, BatchOutcome, BatchRequest, BatchResults, MAX_REQUESTS_PER_BATCH,
};
pub use helpers::embed_all::{EmbedAllError, FailedBatch};
pub use request::{ApiRequest, RequestBody};
pub use service::ResponseFuture;
pub use stream::{ChatStream, CompletionStream, SseStream};
pub use transport::proxy::ProxyError;
pub use transport::tls::TlsRoots;
pub use transport::ResponseBody;

use crate::extensions::ApiKeyFingerprint;
use helpers::fine_tune_cap::FineTuneGate;
use transport::HttpService;

/// The default base URL.
pub const DEFAULT_BASE_URL: &str = "https://api.together.ai/v1";

/// The client for Together's API. Cheap to clone: clones share one HTTP
/// connection pool, one rate limiter, one model cache and one fine-tune cap.
#[derive(Clone)]
pub struct Together {
    inner: Arc<Shared>,
}

struct Shared {
    http: HttpService,
    base: BaseUrl,
    api_key: Option<ApiKey>,
    config: Config,
    models_cache: tokio::sync::OnceCell<Arc<[String]>>,
    fine_tunes: FineTuneGate,
}

impl fmt::Debug for Together {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Together")
            .field("base_url", &self.inner.base)
            .field("api_key", &self.inner.api_key)
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl Together {
    /// A builder.
    pub fn builder() -> TogetherBuilder {
        TogetherBuilder::new()
    }

    /// The default client: API key from `TOGETHER_API_KEY`, base URL from
    /// `TOGETHER_BASE_URL` (default `https://api.together.ai/v1`), the default
    /// layers and the default transport.
    ///
    /// # Errors
    ///
    /// When `TOGETHER_API_KEY` is not set, or the base URL is not a valid
    /// `http(s)://` URL.
    pub fn from_env() -> Result<Together, Error> {
        TogetherBuilder::new().build()
    }

    /// A client that sends through `service` as it is: your own stack, or a
    /// test double. The builder's layer settings are not used; everything
    /// else (key, base URL, timeouts, helpers) is.
    ///
    /// # Errors
    ///
    /// When the builder's base URL or API key is invalid.
    pub fn with_service<S, B>(service: S, builder: TogetherBuilder) -> Result<Together, Error>
    where
        S: tower::Service<
                http::Request<http_body_util::Full<bytes::Bytes>>,
                Response = http::Response<B>,
            > + Clone
            + Send
            + Sync
            + 'static,
        S::Error: Into<crate::BoxError>,
        S::Future: Send + 'static,
        B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
        B::Error: Into<crate::BoxError>,
    {
        builder.build_with_service(service)
    }

    /// The base URL requests go to.
    pub fn base_url(&self) -> String {
        self.inner.base.to_string()
    }
}

/// The API key: the header value (marked sensitive), the text for scrubbing
/// server messages, and the limiter's keyed fingerprint of it. Its `Debug`
/// shows neither.
#[derive(Clone)]
struct ApiKey {
    header: HeaderValue,
    secret: Arc<str>,
    fingerprint: ApiKeyFingerprint,
}

impl ApiKey {
    fn new(key: &str) -> Result<ApiKey, Error> {
        let key = key.trim();
        if key.is_empty() {
            return Err(Error::config("the API key is empty"));
        }
        let mut header = HeaderValue::from_str(&format!("Bearer {key}"))
            .map_err(|_| Error::config("the API key has characters not allowed in a header"))?;
        header.set_sensitive(true);
        // The same keyed hash the limiter takes of the header, so a raw
        // request with this key shares the client's scope.
        let fingerprint = ApiKeyFingerprint::of_authorization(&header);
        Ok(ApiKey {
            header,
            secret: Arc::from(key),
            fingerprint,
        })
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey([redacted])")
    }
}

/// A parsed base URL: scheme, authority and path prefix (no trailing `/`).
#[derive(Clone)]
struct BaseUrl {
    scheme: http::uri::Scheme,
    authority: http::uri::Authority,
    prefix: String,
}

impl BaseUrl {
    fn parse(text: &str) -> Result<BaseUrl, Error> {
        let bad = |why: &str| Error::config(format!("bad base URL {text:?}: {why}"));
        let uri: Uri = text.trim().parse().map_err(|_| bad("not a URL"))?;
        let scheme = uri.scheme().cloned().ok_or_else(|| bad("no scheme"))?;
        if scheme != http::uri::Scheme::HTTP && scheme != http::uri::Scheme::HTTPS {
            return Err(bad("the scheme must be http or https"));
        }
        let authority = uri.authority().cloned().ok_or_else(|| bad("no host"))?;
        if authority.as_str().contains('@') {
            return Err(bad("credentials in the URL are not supported"));
        }
        if uri.query().is_some() {
            return Err(bad("a query is not supported"));
        }
        Ok(BaseUrl {
            scheme,
            authority,
            prefix: uri.path().trim_end_matches('/').to_owned(),
        })
    }

    fn join(&self, path: &str) -> Result<Uri, Error> {
        Uri::builder()
            .scheme(self.scheme.clone())
            .authority(self.authority.clone())
            .path_and_query(format!("{}{}", self.prefix, path))
            .build()
            .map_err(|e| Error::invalid_request(format!("cannot build the URL: {e}")))
    }
}

impl fmt::Display for BaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}{}", self.scheme, self.authority, self.prefix)
    }
}

impl fmt::Debug for BaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Settings of the typed layer (the HTTP layers hold their own).
#[derive(Clone, Debug)]
struct Config {
    total_timeout: Option<Duration>,
    stream_idle_timeout: Option<Duration>,
    fallbacks: HashMap<String, Vec<String>>,
    embed_batch_size: usize,
    embed_concurrency: usize,
    fine_tune_cap: usize,
    poll_interval: Duration,
    max_response_bytes: usize,
    max_download_bytes: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            total_timeout: Some(Duration::from_secs(600)),
            stream_idle_timeout: Some(Duration::from_secs(60)),
            fallbacks: HashMap::new(),
            embed_batch_size: 20,
            embed_concurrency: 8,
            fine_tune_cap: 3,
            poll_interval: Duration::from_secs(10),
            // The largest JSON answers are embedding batches: 20 inputs (the
            // helper's batch) of 4 096 floats at ~20 bytes each is 1.6 MB, so
            // 16 MiB leaves room for 200 such inputs in one request while a
            // runaway or hostile body costs at most 16 MiB of memory.
            max_response_bytes: 16 * 1024 * 1024,
            // A file's content (batch output, fine-tune results) or audio:
            // large, and read whole into memory, so bounded too.
            max_download_bytes: 512 * 1024 * 1024,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_and_its_errors_cross_threads() {
        fn send_sync<T: Send + Sync + 'static>() {}
        send_sync::<Together>();
        send_sync::<TogetherBuilder>();
        send_sync::<Error>();
        send_sync::<EmbedAllError>();
        fn send<T: Send + 'static>() {}
        send::<ResponseFuture<types::ChatResponse>>();
        send::<ChatStream>();
    }

    #[test]
    fn base_urls() {
        let base = BaseUrl::parse("http://127.0.0.1:8080/v1/").unwrap();
        assert_eq!(
            base.join("/models").unwrap().to_string(),
            "http://127.0.0.1:8080/v1/models"
        );
        for bad in [
            "",
            "api.together.ai/v1",
            "ftp://x/v1",
            "https://user:pw@x/v1",
            "https://x/v1?a=b",
        ] {
            assert!(BaseUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn api_key_debug_is_redacted() {
        let key = ApiKey::new("sk-very-secret").unwrap();
        assert!(key.header.is_sensitive());
        assert!(!format!("{key:?}").contains("sk-very-secret"));
        assert!(ApiKey::new("bad\nkey").is_err());
        assert!(ApiKey::new("  ").is_err());
    }
}
