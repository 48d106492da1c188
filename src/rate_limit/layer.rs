use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use tower_layer::Layer;

use super::builder::RateLimitBuilder;
use super::config::Config;
use super::registry::Limiter;
#[cfg(feature = "metrics")]
use super::snapshot::Series;
use super::snapshot::Snapshot;
use super::store::FailOpen;
use super::{Quota, RateLimit};
use crate::endpoint::Endpoint;

/// Paces requests per (API key, endpoint class, model) scope, with one budget
/// shared by every service it makes.
///
/// See the [module docs](super) for the behaviour and an example. Configure
/// it with [`RateLimitLayer::builder`]; a built layer has no setters, so
/// nothing can split its budget after it is handed out.
///
/// # Clone
///
/// Clones of the layer share the budget too: apply one layer (or its clones)
/// everywhere the same API key is used.
///
/// # Store down
///
/// `P` says what its services do while a shared store is unreachable:
/// [`FailOpen`] (the default) or
/// [`FailClosed`](super::store::FailClosed), from
/// [`RateLimitBuilder::fail_closed`].
pub struct RateLimitLayer<P = FailOpen> {
    limiter: Arc<Limiter>,
    when_store_down: PhantomData<fn() -> P>,
}

impl<P> Clone for RateLimitLayer<P> {
    fn clone(&self) -> Self {
        RateLimitLayer {
            limiter: self.limiter.clone(),
            when_store_down: PhantomData,
        }
    }
}

impl<P> fmt::Debug for RateLimitLayer<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimitLayer")
            .field("limiter", &self.limiter)
            .finish()
    }
}

impl RateLimitLayer {
    /// Every endpoint class gets its own scope paced by `quota` (per API key,
    /// and per model when requests carry a [`Model`](crate::extensions::Model)).
    pub fn new(quota: Quota) -> Self {
        RateLimitBuilder::new(quota).build()
    }

    /// The preset from the original request's table, each kept 10 % under
    /// the limit (see [`RateLimitBuilder::together`]).
    pub fn together() -> Self {
        RateLimitBuilder::together().build()
    }

    /// A builder with `quota` for every endpoint class, to set per-endpoint
    /// and per-model quotas and the 429 handling before building.
    pub fn builder(quota: Quota) -> RateLimitBuilder {
        RateLimitBuilder::new(quota)
    }
}

impl<P> RateLimitLayer<P> {
    /// The quota requests with this endpoint and model are paced by.
    pub fn quota_for(&self, endpoint: Endpoint, model: Option<&str>) -> Quota {
        self.limiter.config.quota_for(endpoint, model)
    }

    /// How many requests wait for their turn now, over every scope.
    pub fn waiting(&self) -> usize {
        self.limiter.waiting()
    }

    /// How many scopes the limiter holds now (idle ones are swept away; see
    /// [`RateLimitBuilder::idle_timeout`]).
    pub fn scope_count(&self) -> usize {
        self.limiter.scope_count()
    }

    /// The live state of every scope: quota, rates paced at now (learned
    /// or cut), waiters. For dashboards and progress lines; see [`Snapshot`].
    pub fn snapshot(&self) -> Snapshot {
        super::snapshot::of(&self.limiter)
    }

    /// Sets the limiter's per-scope gauges (live rates, waiters, pause)
    /// from a [`snapshot`](Self::snapshot) now (feature `metrics`). Nothing
    /// keeps them live between calls, so requests pay nothing for them:
    /// call it on the exporter's scrape interval. See
    /// [`Snapshot::record_metrics`] for why, and the names.
    ///
    /// ```no_run
    /// # use tower_together::RateLimitLayer;
    /// # async fn run(layer: RateLimitLayer) {
    /// let mut every = tokio::time::interval(std::time::Duration::from_secs(15));
    /// loop {
    ///     every.tick().await;
    ///     layer.publish_metrics();
    /// }
    /// # }
    /// ```
    #[cfg(feature = "metrics")]
    #[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
    pub fn publish_metrics(&self) {
        let mut published = self
            .limiter
            .published
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = self.snapshot().record_series();
        // A scope swept away as idle has no one waiting, no pause and no
        // live rate: say so, or its last values would stand forever.
        let live = |gone: &&Series| {
            now.iter()
                .any(|series| series.endpoint == gone.endpoint && series.model == gone.model)
        };
        for gone in published.iter().filter(|gone| !live(gone)) {
            let tokens = gone.tokens.then_some(0.0);
            crate::telemetry::metrics::scope_gauges(
                gone.endpoint,
                gone.model.as_ref(),
                0.0,
                tokens,
                0,
                std::time::Duration::ZERO,
            );
        }
        *published = now;
    }

    /// Drops every scope that has been idle for the idle timeout now, rather
    /// than at the next sweep (which happens when new scopes are made).
    pub fn evict_idle(&self) {
        self.limiter.sweep();
    }

    pub(crate) fn from_config(config: Config) -> Self {
        RateLimitLayer {
            limiter: Arc::new(Limiter::new(config)),
            when_store_down: PhantomData,
        }
    }
}

impl<S, P> Layer<S> for RateLimitLayer<P> {
    type Service = RateLimit<S, P>;

    fn layer(&self, inner: S) -> Self::Service {
        RateLimit::new(inner, self.limiter.clone())
    }
}
