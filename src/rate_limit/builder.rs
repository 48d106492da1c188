//! The builder that configures a [`RateLimitLayer`], then makes it once.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use super::config::Config;
use super::store::{FailClosed, FailOpen, Store};
use super::{Quota, RateLimitLayer};
use crate::endpoint::Endpoint;

/// Configures a [`RateLimitLayer`](super::RateLimitLayer), then builds it
/// once.
///
/// Every setting lives here, none on the built layer, so one configuration
/// makes one budget: every clone of the layer, and every service it makes,
/// share the limiter [`build`](RateLimitBuilder::build) created. Building
/// twice makes two independent budgets, on purpose and visibly.
///
/// ```
/// use std::time::Duration;
/// use tower_together::endpoint::Endpoint;
/// use tower_together::rate_limit::RateLimitBuilder;
/// use tower_together::Quota;
///
/// let layer = RateLimitBuilder::together()
///     .endpoint_quota(Endpoint::Embeddings, Quota::per_second(10))
///     .model_quota("meta-llama/Llama-3.3-70B-Instruct-Turbo", Quota::per_second(5))
///     .max_pause(Duration::from_secs(30))
///     .build();
/// assert_eq!(
///     layer.quota_for(Endpoint::Embeddings, None),
///     Quota::per_second(10)
/// );
/// ```
pub struct RateLimitBuilder<P = FailOpen> {
    config: Config,
    when_store_down: PhantomData<fn() -> P>,
}

impl<P> Clone for RateLimitBuilder<P> {
    fn clone(&self) -> Self {
        RateLimitBuilder {
            config: self.config.clone(),
            when_store_down: PhantomData,
        }
    }
}

impl<P> fmt::Debug for RateLimitBuilder<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimitBuilder")
            .field("config", &self.config)
            .finish()
    }
}

impl RateLimitBuilder {
    /// Every endpoint class gets its own scope paced by `quota` (per API key,
    /// and per model when requests carry a [`Model`](crate::extensions::Model)).
    pub fn new(quota: Quota) -> Self {
        RateLimitBuilder {
            config: Config::new(quota),
            when_store_down: PhantomData,
        }
    }

    /// The preset from the original request's table, each kept 10 % under
    /// the limit: chat and text completions 540/min, embeddings 270/min,
    /// image generation 54/min, anything else 540/min; each with a burst of
    /// one second's worth.
    ///
    /// These figures are a starting point, not Together's truth: Together's
    /// limits are per organisation and per model, enforced per second, and
    /// change over time. Override them with
    /// [`endpoint_quota`](Self::endpoint_quota) and
    /// [`model_quota`](Self::model_quota) once you know yours.
    pub fn together() -> Self {
        // 90 % of the original request's 600, 300 and 60 per minute.
        Self::new(Quota::per_minute(540))
            .endpoint_quota(Endpoint::Embeddings, Quota::per_minute(270))
            .endpoint_quota(Endpoint::ImagesGenerations, Quota::per_minute(54))
    }

    /// Learned mode, every scope starting at 1 request a second (Together's
    /// documented base rate) with no token budget until the server states
    /// one: for when you do not know your limits.
    pub fn learned_together() -> Self {
        Self::new(Quota::per_second(1)).learned(true)
    }

    /// While the shared store is unreachable, refuse each request at once
    /// with [`StoreUnavailable`](super::store::StoreUnavailable) instead of
    /// deciding alone at `quota / workers` (the default, fail-open). The
    /// built services' errors become the inner service's errors or that
    /// refusal, so the inner error type must take it (`tower::BoxError`
    /// does). With the in-memory store nothing is ever refused.
    ///
    /// ```
    /// use tower::{service_fn, BoxError, Layer};
    /// use tower_together::rate_limit::store::StoreUnavailable;
    /// use tower_together::rate_limit::RateLimitBuilder;
    /// use tower_together::Quota;
    ///
    /// let layer = RateLimitBuilder::new(Quota::per_second(20)).fail_closed().build();
    /// let service = layer.layer(service_fn(|_req: http::Request<String>| async {
    ///     Ok::<_, BoxError>(http::Response::new(String::new()))
    /// }));
    /// # drop(service);
    /// // A refusal is `error.is::<StoreUnavailable>()`.
    /// # let _ = std::marker::PhantomData::<StoreUnavailable>;
    /// ```
    pub fn fail_closed(self) -> RateLimitBuilder<FailClosed> {
        let mut config = self.config;
        config.fail_closed = true;
        RateLimitBuilder {
            config,
            when_store_down: PhantomData,
        }
    }
}

impl<P> RateLimitBuilder<P> {
    /// Paces requests to one endpoint class by `quota` instead of the default.
    pub fn endpoint_quota(mut self, endpoint: Endpoint, quota: Quota) -> Self {
        let quotas = &mut self.config.endpoint_quotas;
        quotas.retain(|(e, _)| *e != endpoint);
        quotas.push((endpoint, quota));
        self
    }

    /// Paces requests to one model (tagged with
    /// [`Model`](crate::extensions::Model)) by `quota`, whatever the endpoint.
    pub fn model_quota(mut self, model: impl Into<Arc<str>>, quota: Quota) -> Self {
        self.config.model_quotas.insert(model.into(), quota);
        self
    }

    /// How long a 429 that carries no wait hint pauses its scope (default 1 s:
    /// Together's limits are per second).
    pub fn default_pause(mut self, pause: Duration) -> Self {
        self.config.feedback.default_pause = pause;
        self
    }

    /// The longest pause a 429 can impose on its scope, whatever its headers
    /// say (default 60 s), so a hostile or broken header cannot stall a scope
    /// for hours.
    pub fn max_pause(mut self, pause: Duration) -> Self {
        self.config.feedback.max_pause = pause;
        self
    }

    /// Whether scopes adapt their rates to the server (default on): pace at
    /// the `x-ratelimit-limit` and `x-tokenlimit-limit` the answers state
    /// (Together's requests and tokens per second for this key and model;
    /// the `-dynamic` variants when present), hold back when
    /// `x-ratelimit-remaining` / `x-tokenlimit-remaining` say less is left
    /// than this scope's own accounting, halve the rate on a 429 and win it
    /// back 1 % per success. A configured quota is a ceiling (see
    /// [`learned`](Self::learned) for one that is not). Off, a scope paces
    /// by its quota alone, and a 429 only pauses it.
    pub fn adaptive(mut self, adaptive: bool) -> Self {
        self.config.feedback.adaptive = adaptive;
        self
    }

    /// Whether quotas are only where scopes start (default off): in learned
    /// mode each scope follows the limits the server states, up and down,
    /// instead of treating the quota as a ceiling, and takes up a token
    /// budget as soon as the server states one. Implies
    /// [`adaptive`](Self::adaptive)`(true)`.
    ///
    /// Start cautious: Together's base rate for a new model is 1 request a
    /// second, and the first answer states the real limits
    /// ([`RateLimitBuilder::learned_together`] does both).
    pub fn learned(mut self, learned: bool) -> Self {
        self.config.learned = learned;
        if learned {
            self.config.feedback.adaptive = true;
        }
        self
    }

    /// How long a scope must sit idle (nobody waiting, bucket full, not
    /// paused, rate not cut by a 429) before it is dropped (default 60 s).
    ///
    /// An idle scope remembers nothing a new one would not, so dropping it
    /// changes no decision; it keeps a proxy that serves many keys or models
    /// from growing without bound. What it learned from `x-ratelimit-limit`
    /// is learned again from the next answer. Idle scopes are swept when new
    /// scopes are made, at most once per idle time and whenever the number
    /// of scopes has doubled since the last sweep.
    pub fn idle_timeout(mut self, idle: Duration) -> Self {
        self.config.idle_timeout = idle;
        self
    }

    /// Where scopes keep their pacing state (default
    /// [`Store::Memory`](super::store::Store::Memory)): in this process, or
    /// (feature `redis`) in a [`RedisStore`](super::store::Store) shared by
    /// many processes. See [`store`](super::store).
    pub fn store(mut self, store: impl Into<Store>) -> Self {
        self.config.store = store.into();
        self
    }

    /// The layer: one budget, shared by every clone and every service it makes.
    pub fn build(self) -> RateLimitLayer<P> {
        RateLimitLayer::from_config(self.config)
    }
}
