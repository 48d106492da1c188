//! Building a [`Together`] client.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;

use super::error::Error;
use super::helpers::fine_tune_cap::FineTuneGate;
use super::transport::proxy::{self, ProxySetting, ProxyUrl};
use super::transport::tls::TlsRoots;
use super::transport::{self, HttpService};
use super::{ApiKey, BaseUrl, Config, Shared, Together, DEFAULT_BASE_URL};
use crate::circuit_breaker::CircuitBreakerLayer;
use crate::endpoint::Endpoint;
use crate::rate_limit::RateLimitBuilder;
use crate::telemetry::AttemptSpanLayer;
use crate::{
    BackoffLayer, BoxError, Quota, RateLimitLayer, RetryAfterLayer, RetryBudget, RetryBudgetLayer,
};

/// Builds a [`Together`] client.
///
/// Anything not set falls back to the environment (`TOGETHER_API_KEY`,
/// `TOGETHER_BASE_URL`) and then to the defaults: base URL
/// `https://api.together.ai/v1`, connect timeout 5 s, per-attempt timeout
/// 60 s, total timeout 10 min, the layers' own defaults, 20 inputs per
/// embeddings request, at most 3 fine-tune jobs at once.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use tower_together::Together;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), tower_together::Error> {
/// let client = Together::builder()
///     .api_key("my-key")
///     .base_url("http://127.0.0.1:9/v1")
///     .timeout(Duration::from_secs(120))
///     .fallback("meta-llama/Llama-3.3-70B-Instruct-Turbo", ["Qwen/Qwen2.5-72B-Instruct-Turbo"])
///     .build()?;
/// assert_eq!(client.base_url(), "http://127.0.0.1:9/v1");
/// assert!(!format!("{client:?}").contains("my-key"));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct TogetherBuilder {
    api_key: Option<String>,
    base_url: Option<String>,
    connect_timeout: Duration,
    attempt_timeout: Duration,
    /// A finished layer, shared with whoever else holds its clones.
    rate_limit: Option<RateLimitLayer>,
    /// Quota settings over the preset, built into a layer of this client's
    /// own at `build()`. Never mixed with `rate_limit`: that would be two
    /// budgets for one key.
    quotas: Option<RateLimitBuilder>,
    retry_after: RetryAfterLayer,
    backoff: BackoffLayer,
    /// `None`: a fresh default budget per built client (so clones of this
    /// builder do not share one by accident); `Some(None)`: off.
    retry_budget: Option<Option<RetryBudget>>,
    /// As `retry_budget`: `None` is a fresh default breaker per client.
    circuit_breaker: Option<Option<CircuitBreakerLayer>>,
    /// The default transport's proxy and TLS settings; `build()` reads
    /// the proxy variables, so a builder made early sees them late.
    proxy: ProxySetting,
    no_proxy: Option<String>,
    /// `None`: the webpki roots, not set by the caller.
    tls_roots: Option<TlsRoots>,
    config: Config,
}

impl fmt::Debug for TogetherBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TogetherBuilder")
            .field("api_key", &self.api_key.as_ref().map(|_| "[redacted]"))
            .field("base_url", &self.base_url)
            .field("connect_timeout", &self.connect_timeout)
            .field("attempt_timeout", &self.attempt_timeout)
            .field("rate_limit", &self.rate_limit)
            .field("quotas", &self.quotas)
            .field("retry_after", &self.retry_after)
            .field("backoff", &self.backoff)
            .field("retry_budget", &self.retry_budget)
            .field("circuit_breaker", &self.circuit_breaker)
            .field("proxy", &self.proxy)
            .field("no_proxy", &self.no_proxy)
            .field("tls_roots", &self.tls_roots)
            .field("config", &self.config)
            .finish()
    }
}

impl Default for TogetherBuilder {
    fn default() -> Self {
        TogetherBuilder::new()
    }
}

impl TogetherBuilder {
    /// A builder with the defaults.
    pub fn new() -> Self {
        TogetherBuilder {
            api_key: None,
            base_url: None,
            connect_timeout: Duration::from_secs(5),
            attempt_timeout: Duration::from_secs(60),
            rate_limit: None,
            quotas: None,
            retry_after: RetryAfterLayer::new(),
            backoff: BackoffLayer::new(),
            retry_budget: None,
            circuit_breaker: None,
            proxy: ProxySetting::Env,
            no_proxy: None,
            tls_roots: None,
            config: Config::default(),
        }
    }

    /// The API key (else `TOGETHER_API_KEY`).
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// The base URL, e.g. `https://api.together.ai/v1` or a simulator's
    /// `http://127.0.0.1:PORT/v1` (else `TOGETHER_BASE_URL`, else the default).
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    /// How long to wait for a TCP connection (default 5 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The proxy of the default transport, for every destination: an
    /// `http://` URL, with `user:password@` for basic auth (percent-encode
    /// reserved characters). `None`: no proxy, whatever the environment
    /// says.
    ///
    /// Unset, the proxy comes from the environment as curl and reqwest read
    /// it, when the client is built: `HTTPS_PROXY` for `https://` base
    /// URLs, `HTTP_PROXY` for `http://` ones, `ALL_PROXY` for either, each
    /// name upper case first, then lower case; `NO_PROXY` lists the hosts,
    /// domains (`.corp.example` and `corp.example` both cover its
    /// subdomains), IP addresses and networks (`10.0.0.0/8`) that go
    /// direct, `*` for all. A loopback simulator is proxied too unless
    /// `NO_PROXY` names it (`127.0.0.1,localhost`), as with curl.
    ///
    /// `https://` destinations go through a CONNECT tunnel (TLS stays end
    /// to end), `http://` ones as absolute-form requests. The credentials
    /// appear in no `Debug`, log or error. A proxy URL that is not
    /// `http://` (TLS to the proxy, SOCKS) or does not parse fails
    /// `build()`, whether set here or in the environment.
    ///
    /// ```
    /// use tower_together::Together;
    ///
    /// # fn main() -> Result<(), tower_together::Error> {
    /// let client = Together::builder()
    ///     .api_key("my-key")
    ///     .proxy("http://me:s3cret@proxy.corp.example:3128")
    ///     .no_proxy("localhost,127.0.0.1,.corp.example")
    ///     .build()?;
    /// assert!(!format!("{client:?}").contains("s3cret"));
    ///
    /// let direct = Together::builder().api_key("my-key").proxy(None).build()?;
    /// # drop(direct);
    /// # Ok(()) }
    /// ```
    pub fn proxy<'a>(mut self, url: impl Into<Option<&'a str>>) -> Self {
        self.proxy = match url.into() {
            Some(url) => ProxySetting::Url(ProxyUrl::new(url)),
            None => ProxySetting::Off,
        };
        self
    }

    /// The destinations that bypass the proxy, in `NO_PROXY`'s syntax
    /// (see [`proxy`](Self::proxy)), in place of `NO_PROXY`; `"*"` for all.
    pub fn no_proxy(mut self, hosts: impl Into<String>) -> Self {
        self.no_proxy = Some(hosts.into());
        self
    }

    /// The root certificates the default transport trusts (default: the
    /// webpki roots). Add a company or private CA to them with
    /// [`TlsRoots::pem`] or [`TlsRoots::der`], or the platform's roots
    /// with `TlsRoots::native` (feature `native-roots`).
    pub fn tls_roots(mut self, roots: TlsRoots) -> Self {
        self.tls_roots = Some(roots);
        self
    }

    /// How long one attempt may take to get response headers (default 60 s).
    /// Retries get a fresh timeout each.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.attempt_timeout = timeout;
        self
    }

    /// The rate limiter (default [`RateLimitLayer::together()`], the preset).
    /// Every clone of the client shares it; pass clones of one layer to
    /// several builders to share one budget between clients of one key.
    ///
    /// Configure its quotas with [`RateLimitLayer::builder`]; combined with
    /// [`endpoint_quota`](Self::endpoint_quota) or
    /// [`model_quota`](Self::model_quota), `build()` fails rather than
    /// guess which budget was meant.
    pub fn rate_limit(mut self, layer: RateLimitLayer) -> Self {
        self.rate_limit = Some(layer);
        self
    }

    /// Paces one model by `quota`, over the preset, in a rate limiter of
    /// this client's own (not with [`rate_limit`](Self::rate_limit)).
    pub fn model_quota(mut self, model: impl Into<Arc<str>>, quota: Quota) -> Self {
        let quotas = self
            .quotas
            .take()
            .unwrap_or_else(RateLimitBuilder::together);
        self.quotas = Some(quotas.model_quota(model, quota));
        self
    }

    /// Paces one endpoint class by `quota`, over the preset, in a rate
    /// limiter of this client's own (not with [`rate_limit`](Self::rate_limit)).
    pub fn endpoint_quota(mut self, endpoint: Endpoint, quota: Quota) -> Self {
        let quotas = self
            .quotas
            .take()
            .unwrap_or_else(RateLimitBuilder::together);
        self.quotas = Some(quotas.endpoint_quota(endpoint, quota));
        self
    }

    /// The 429 retry layer (default [`RetryAfterLayer::new()`]).
    pub fn retry_after(mut self, layer: RetryAfterLayer) -> Self {
        self.retry_after = layer;
        self
    }

    /// The 5xx / transport backoff layer (default [`BackoffLayer::new()`]).
    pub fn backoff(mut self, layer: BackoffLayer) -> Self {
        self.backoff = layer;
        self
    }

    /// The retry budget both retry layers draw from (see
    /// [`retry_budget`](crate::retry_budget)); `None` turns it off. Default:
    /// a [`RetryBudget::new()`] of this client's own (1 retry per second
    /// plus 20 % of first attempts over 10 s), shared by its clones. Pass
    /// one handle to several builders to share it between clients.
    pub fn retry_budget(mut self, budget: impl Into<Option<RetryBudget>>) -> Self {
        self.retry_budget = Some(budget.into());
        self
    }

    /// The circuit breaker above the retry layers (see
    /// [`circuit_breaker`](crate::circuit_breaker)); `None` turns it off.
    /// Default: a [`CircuitBreakerLayer::new()`] of this client's own,
    /// whose calls wait (up to the total timeout) while a model's circuit
    /// is open, except calls for a model with [`fallback`](Self::fallback)s
    /// left, which go to the next one at once. Pass one layer to several
    /// builders to share its circuits.
    pub fn circuit_breaker(mut self, layer: impl Into<Option<CircuitBreakerLayer>>) -> Self {
        self.circuit_breaker = Some(layer.into());
        self
    }

    /// Sets `max_retries` of both retry layers (0 turns retries off).
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.retry_after = self.retry_after.max_retries(retries);
        self.backoff = self.backoff.max_retries(retries);
        self
    }

    /// How long a response body may stay silent (between two chunks of a
    /// stream, or while a JSON answer, a download or an error body is read)
    /// before the call ends (default 60 s): a timeout error, or for an
    /// error body the error from what came. `None` to wait for ever.
    pub fn stream_idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.config.stream_idle_timeout = timeout;
        self
    }

    /// How long a whole call may take, retries and waits included (default
    /// 10 min); `None` for no limit. Also set as the
    /// [`Deadline`](crate::extensions::Deadline) the retry layers respect.
    pub fn total_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.config.total_timeout = timeout;
        self
    }

    /// Fallback models for `model`, in order: when a request for `model` is
    /// still answered 503 (overloaded) after retries, it goes to the next one.
    pub fn fallback<I, S>(mut self, model: impl Into<String>, fallbacks: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.config.fallbacks.insert(
            model.into(),
            fallbacks.into_iter().map(Into::into).collect(),
        );
        self
    }

    /// Inputs per request in [`Together::embed_all`] (default 20, at least 1).
    pub fn embed_batch_size(mut self, size: usize) -> Self {
        self.config.embed_batch_size = size.max(1);
        self
    }

    /// Requests in flight at once in [`Together::embed_all`] (default 8, at
    /// least 1); the rate limiter paces them.
    pub fn embed_concurrency(mut self, concurrency: usize) -> Self {
        self.config.embed_concurrency = concurrency.max(1);
        self
    }

    /// At most this many fine-tune jobs running at once (default 3, at least 1).
    pub fn fine_tune_cap(mut self, cap: usize) -> Self {
        self.config.fine_tune_cap = cap.max(1);
        self
    }

    /// How often to poll a job's status while waiting (fine-tune cap, batch
    /// jobs); default 10 s.
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.config.poll_interval = interval;
        self
    }

    /// The largest JSON answer read (default 16 MiB: an embeddings answer
    /// for 200 inputs of 4 096 dimensions). A larger one is an error.
    pub fn max_response_bytes(mut self, bytes: usize) -> Self {
        self.config.max_response_bytes = bytes.max(1);
        self
    }

    /// The largest download read: a file's content, audio, any answer kept
    /// as bytes (default 512 MiB).
    pub fn max_download_bytes(mut self, bytes: usize) -> Self {
        self.config.max_download_bytes = bytes.max(1);
        self
    }

    /// The client over the default transport (hyper-util + rustls) with the
    /// default stack of layers.
    ///
    /// # Errors
    ///
    /// When no API key is set (here or in `TOGETHER_API_KEY`), the key is not
    /// a valid header value, or the base URL is not a valid `http(s)://` URL.
    pub fn build(self) -> Result<Together, Error> {
        let key = self.key()?;
        if key.is_none() {
            return Err(Error::config(
                "no API key: call `api_key(..)` or set TOGETHER_API_KEY",
            ));
        }
        let rate_limit = self.rate_limit_layer()?;
        let tls = self.tls_roots.clone().unwrap_or_default().client_config()?;
        let proxies = proxy::rules(&self.proxy, self.no_proxy.as_deref(), |name| {
            std::env::var(name).ok()
        })?;
        let transport = transport::hyper_transport(self.connect_timeout, tls, proxies);
        let http = self.stack(transport, rate_limit);
        self.finish(http, key)
    }

    /// The client over a [`reqwest::Client`](::reqwest::Client) (feature
    /// `reqwest`), with the default stack of layers and the per-attempt
    /// timeout above it: see [`crate::reqwest`].
    ///
    /// The client's own settings stay in force: its TLS, proxies, pool,
    /// and timeouts (a reqwest timeout is a [`Timeout`](super::ErrorKind::Timeout)
    /// error, as the crate's own are).
    ///
    /// # Errors
    ///
    /// As [`build`](Self::build); and when [`proxy`](Self::proxy),
    /// [`no_proxy`](Self::no_proxy) or [`tls_roots`](Self::tls_roots) was
    /// set, as they configure the default transport only (set them on
    /// your `reqwest::ClientBuilder`).
    #[cfg(feature = "reqwest")]
    #[cfg_attr(docsrs, doc(cfg(feature = "reqwest")))]
    pub fn build_with_reqwest(self, client: ::reqwest::Client) -> Result<Together, Error> {
        if self.key()?.is_none() {
            return Err(Error::config(
                "no API key: call `api_key(..)` or set TOGETHER_API_KEY",
            ));
        }
        self.build_with_transport(crate::reqwest::ReqwestService::new(client))
    }

    /// The client over your transport, with the default stack of layers (and
    /// the per-attempt timeout) above it. The API key is optional here.
    ///
    /// # Errors
    ///
    /// When the key is not a valid header value or the base URL is invalid.
    pub fn build_with_transport<S, B>(self, transport: S) -> Result<Together, Error>
    where
        S: tower::Service<http::Request<Full<Bytes>>, Response = http::Response<B>>
            + Clone
            + Send
            + Sync
            + 'static,
        S::Error: Into<BoxError>,
        S::Future: Send + 'static,
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        self.no_transport_settings()?;
        let key = self.key()?;
        let rate_limit = self.rate_limit_layer()?;
        let http = self.stack(transport::erase(transport), rate_limit);
        self.finish(http, key)
    }

    /// The client over `service` as it is, with no layers added (see
    /// [`Together::with_service`]). The API key is optional here.
    ///
    /// # Errors
    ///
    /// When the key is not a valid header value or the base URL is invalid.
    pub fn build_with_service<S, B>(self, service: S) -> Result<Together, Error>
    where
        S: tower::Service<http::Request<Full<Bytes>>, Response = http::Response<B>>
            + Clone
            + Send
            + Sync
            + 'static,
        S::Error: Into<BoxError>,
        S::Future: Send + 'static,
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        self.no_transport_settings()?;
        let key = self.key()?;
        let http = transport::erase(service);
        self.finish(http, key)
    }

    /// Fails when a setting of the default transport was made for a client
    /// that will not use it: ignoring it would send around a proxy or trust
    /// other roots than asked.
    fn no_transport_settings(&self) -> Result<(), Error> {
        let set = !matches!(self.proxy, ProxySetting::Env)
            || self.no_proxy.is_some()
            || self.tls_roots.is_some();
        if set {
            return Err(Error::config(
                "`proxy`, `no_proxy` and `tls_roots` configure the default transport, \
                 which `build_with_transport`, `build_with_service` and `build_with_reqwest` \
                 do not use: configure your own transport (or reqwest::ClientBuilder) instead",
            ));
        }
        Ok(())
    }

    fn key(&self) -> Result<Option<ApiKey>, Error> {
        match &self.api_key {
            Some(key) => ApiKey::new(key).map(Some),
            None => match std::env::var("TOGETHER_API_KEY") {
                Ok(key) if !key.trim().is_empty() => ApiKey::new(&key).map(Some),
                _ => Ok(None),
            },
        }
    }

    /// The HTTP layers over `transport`: backoff, 429 retry, rate limit,
    /// per-attempt timeout, outermost first.
    /// The finished layer, or one built from the quota settings (the
    /// preset when neither is given).
    fn rate_limit_layer(&self) -> Result<RateLimitLayer, Error> {
        match (&self.rate_limit, &self.quotas) {
            (Some(_), Some(_)) => Err(Error::config(
                "both `rate_limit(layer)` and `endpoint_quota`/`model_quota` were set: \
                 put the quotas into the layer with `RateLimitLayer::builder`, or drop the layer",
            )),
            (Some(layer), None) => Ok(layer.clone()),
            (None, Some(quotas)) => Ok(quotas.clone().build()),
            (None, None) => Ok(RateLimitLayer::together()),
        }
    }

    fn stack(&self, transport: HttpService, rate_limit: RateLimitLayer) -> HttpService {
        let budget = match &self.retry_budget {
            None => Some(RetryBudget::new()),
            Some(setting) => setting.clone(),
        };
        let breaker = match &self.circuit_breaker {
            None => Some(CircuitBreakerLayer::new()),
            Some(setting) => setting.clone(),
        };
        let stack = tower::ServiceBuilder::new()
            .option_layer(budget.map(RetryBudgetLayer::new))
            .option_layer(breaker)
            .layer(self.backoff)
            .layer(self.retry_after)
            .layer(AttemptSpanLayer::new())
            .layer(rate_limit)
            .timeout(self.attempt_timeout)
            .service(transport);
        transport::erase(stack)
    }

    fn finish(self, http: HttpService, api_key: Option<ApiKey>) -> Result<Together, Error> {
        let base_url = match self.base_url {
            Some(url) => url,
            None => std::env::var("TOGETHER_BASE_URL")
                .ok()
                .filter(|u| !u.trim().is_empty())
                .unwrap_or_else(|| DEFAULT_BASE_URL.to_owned()),
        };
        let base = BaseUrl::parse(&base_url)?;
        Ok(Together {
            inner: Arc::new(Shared {
                http,
                base,
                api_key,
                fine_tunes: FineTuneGate::new(self.config.fine_tune_cap),
                config: self.config,
                models_cache: tokio::sync::OnceCell::new(),
            }),
        })
    }
}
