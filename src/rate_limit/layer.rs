use std::sync::Arc;
use std::time::Duration;

use tower_layer::Layer;

use super::limiter::{Config, Limiter, ScopeKey};
use super::{Quota, RateLimit};
use crate::endpoint::Endpoint;

/// Paces requests per (API key, endpoint class, model) scope, with one budget
/// shared by every service it makes.
///
/// See the [module docs](super) for the behaviour and an example.
///
/// # Clone
///
/// Clones of the layer share the budget too: apply one layer (or its clones)
/// everywhere the same API key is used.
#[derive(Clone, Debug)]
pub struct RateLimitLayer {
    limiter: Arc<Limiter>,
}

impl RateLimitLayer {
    /// Every endpoint class gets its own scope paced by `quota` (per API key,
    /// and per model when requests carry a [`Model`](crate::extensions::Model)).
    pub fn new(quota: Quota) -> Self {
        Self::from_config(Config::new(quota))
    }

    /// The preset from the original request's table, each kept 10 % under
    /// the limit: chat and text completions 540/min, embeddings 270/min,
    /// image generation 54/min, anything else 540/min; each with a burst of
    /// one second's worth.
    ///
    /// These figures are a starting point, not Together's truth: Together's
    /// limits are per organisation and per model, enforced per second, and
    /// change over time. Override them with [`endpoint_quota`] and
    /// [`model_quota`] once you know yours.
    ///
    /// [`endpoint_quota`]: RateLimitLayer::endpoint_quota
    /// [`model_quota`]: RateLimitLayer::model_quota
    pub fn together() -> Self {
        // 90 % of the original request's 600, 300 and 60 per minute.
        Self::new(Quota::per_minute(540))
            .endpoint_quota(Endpoint::Embeddings, Quota::per_minute(270))
            .endpoint_quota(Endpoint::ImagesGenerations, Quota::per_minute(54))
    }

    /// Paces requests to one endpoint class by `quota` instead of the default.
    pub fn endpoint_quota(self, endpoint: Endpoint, quota: Quota) -> Self {
        let mut config = self.limiter.config.clone();
        config.endpoint_quotas.retain(|(e, _)| *e != endpoint);
        config.endpoint_quotas.push((endpoint, quota));
        Self::from_config(config)
    }

    /// Paces requests to one model (tagged with
    /// [`Model`](crate::extensions::Model)) by `quota`, whatever the endpoint.
    pub fn model_quota(self, model: impl Into<Arc<str>>, quota: Quota) -> Self {
        let mut config = self.limiter.config.clone();
        config.model_quotas.insert(model.into(), quota);
        Self::from_config(config)
    }

    /// How long a 429 that carries no wait hint pauses its scope (default 1 s:
    /// Together's limits are per second).
    pub fn default_pause(self, pause: Duration) -> Self {
        let mut config = self.limiter.config.clone();
        config.default_pause = pause;
        Self::from_config(config)
    }

    /// The longest pause a 429 can impose on its scope, whatever its headers
    /// say (default 60 s), so a hostile or broken header cannot stall a scope
    /// for hours.
    pub fn max_pause(self, pause: Duration) -> Self {
        let mut config = self.limiter.config.clone();
        config.max_pause = pause;
        Self::from_config(config)
    }

    /// Whether scopes adapt their rate to the server (default on): slow down
    /// to a lower `x-ratelimit-limit` (Together's requests per second for
    /// this key and model), halve the rate on a 429 and win it back 1 % per
    /// success. A configured quota is never exceeded. Off, a scope paces by
    /// its quota alone, and a 429 only pauses it.
    pub fn adaptive(self, adaptive: bool) -> Self {
        let mut config = self.limiter.config.clone();
        config.adaptive = adaptive;
        Self::from_config(config)
    }

    /// The quota requests with this endpoint and model are paced by.
    pub fn quota_for(&self, endpoint: Endpoint, model: Option<&str>) -> Quota {
        self.limiter.config.quota_for(&ScopeKey {
            api_key: 0,
            endpoint,
            model: model.map(crate::extensions::Model::new),
        })
    }

    /// How many requests wait for their turn now, over every scope.
    pub fn waiting(&self) -> usize {
        self.limiter.waiting()
    }

    // Builder methods rebuild the shared state: they are meant for set-up,
    // before the layer makes services.
    fn from_config(config: Config) -> Self {
        RateLimitLayer {
            limiter: Arc::new(Limiter::new(config)),
        }
    }
}

impl<S> Layer<S> for RateLimitLayer {
    type Service = RateLimit<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RateLimit::new(inner, self.limiter.clone())
    }
}
