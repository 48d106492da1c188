//! Live state of a limiter's scopes, on demand: for dashboards, progress
//! lines and (feature `metrics`) the per-scope gauges.

use std::time::Duration;

use tokio::time::Instant;

use crate::endpoint::Endpoint;
use crate::extensions::{ApiKeyFingerprint, Model};

use super::gcra::Pacing;
use super::registry::Limiter;
use super::Quota;

/// The state of every scope of a [`RateLimitLayer`](super::RateLimitLayer)
/// at one instant; from [`RateLimitLayer::snapshot`](super::RateLimitLayer::snapshot).
///
/// ```
/// use tower::{service_fn, Layer, ServiceExt};
/// use tower_together::extensions::Model;
/// use tower_together::{Quota, RateLimitLayer};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let layer = RateLimitLayer::new(Quota::per_second(5));
/// let service = layer.layer(service_fn(|_req: http::Request<String>| async {
///     Ok::<_, std::convert::Infallible>(http::Response::new(String::new()))
/// }));
/// let mut request = http::Request::post("https://api.together.ai/v1/chat/completions")
///     .body(String::new())
///     .unwrap();
/// request.extensions_mut().insert(Model::new("m"));
/// service.oneshot(request).await.unwrap();
///
/// let snapshot = layer.snapshot();
/// let scope = &snapshot.scopes()[0];
/// assert_eq!(scope.model(), Some("m"));
/// assert_eq!(scope.requests_per_second(), 5.0);
/// assert_eq!(scope.waiting(), 0);
/// # }
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Snapshot {
    scopes: Vec<ScopeSnapshot>,
}

impl Snapshot {
    /// Every live scope, ordered by endpoint, then model.
    pub fn scopes(&self) -> &[ScopeSnapshot] {
        &self.scopes
    }

    /// Requests waiting for a slot, over every scope.
    pub fn waiting(&self) -> usize {
        self.scopes.iter().map(|s| s.waiting).sum()
    }

    /// Sets the limiter's gauges from this snapshot (feature `metrics`):
    /// per (endpoint, model), the live request and token rates and the
    /// waiters, each summed over API keys, and the longest pause left.
    /// Names in [`telemetry::metrics`](crate::telemetry::metrics)
    /// (`RATE_LIMIT_*`).
    ///
    /// Gauges are set here, on demand, rather than by requests: keeping
    /// them live would put a metrics registry lookup on every grant and
    /// every queue change, the limiter's hottest code, to publish values
    /// an exporter reads only once per scrape. A snapshot costs one read
    /// of the scope map and one short lock per scope, off the request
    /// path; call this (or
    /// [`RateLimitLayer::publish_metrics`](super::RateLimitLayer::publish_metrics))
    /// on the scrape interval, or just before rendering. A snapshot knows
    /// only the scopes alive now, so this sets no series of a scope swept
    /// away as idle; `publish_metrics` remembers what it set and sets
    /// those to zero.
    #[cfg(feature = "metrics")]
    #[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
    pub fn record_metrics(&self) {
        self.record_series();
    }

    /// Sets the gauges of every (endpoint, model) in this snapshot; returns
    /// those series.
    #[cfg(feature = "metrics")]
    pub(crate) fn record_series(&self) -> Vec<Series> {
        // Sorted by endpoint, then model: each (endpoint, model) is one run.
        let same =
            |a: &ScopeSnapshot, b: &ScopeSnapshot| a.endpoint == b.endpoint && a.model == b.model;
        let mut recorded = Vec::new();
        for group in self.scopes.chunk_by(same) {
            let first = &group[0];
            let tokens = group
                .iter()
                .filter_map(ScopeSnapshot::tokens_per_second)
                .reduce(|a, b| a + b);
            crate::telemetry::metrics::scope_gauges(
                first.endpoint,
                first.model.as_ref(),
                group.iter().map(ScopeSnapshot::requests_per_second).sum(),
                tokens,
                group.iter().map(|s| s.waiting).sum(),
                group
                    .iter()
                    .filter_map(|s| s.paused)
                    .max()
                    .unwrap_or_default(),
            );
            recorded.push(Series {
                endpoint: first.endpoint,
                model: first.model.clone(),
                tokens: tokens.is_some(),
            });
        }
        recorded
    }
}

/// One (endpoint, model) set of gauges, and whether it has a token rate.
#[cfg(feature = "metrics")]
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Series {
    pub(crate) endpoint: Endpoint,
    pub(crate) model: Option<Model>,
    pub(crate) tokens: bool,
}

/// The state of one (API key, endpoint, model) scope.
#[derive(Clone, Debug, PartialEq)]
pub struct ScopeSnapshot {
    api_key: ApiKeyFingerprint,
    endpoint: Endpoint,
    model: Option<Model>,
    quota: Quota,
    requests: Pacing,
    tokens: Option<Pacing>,
    waiting: usize,
    paused: Option<Duration>,
}

fn per_second(pacing: Pacing) -> f64 {
    // `interval` is at least 1 ns.
    1e9 / pacing.interval.max(1) as f64
}

impl ScopeSnapshot {
    /// The API key's fingerprint (never the key).
    pub fn api_key(&self) -> ApiKeyFingerprint {
        self.api_key
    }

    /// The endpoint class.
    pub fn endpoint(&self) -> Endpoint {
        self.endpoint
    }

    /// The model, when requests name one.
    pub fn model(&self) -> Option<&str> {
        self.model.as_ref().map(Model::as_str)
    }

    /// The quota configured for the scope (a ceiling when limits are
    /// learned).
    pub fn quota(&self) -> Quota {
        self.quota
    }

    /// The request rate paced at now: the quota's, or what was learned from
    /// the server's headers, or cut after a 429.
    pub fn requests_per_second(&self) -> f64 {
        per_second(self.requests)
    }

    /// The request burst paced at now.
    pub fn request_burst(&self) -> u32 {
        self.requests.burst
    }

    /// The token rate paced at now; `None` without a token budget.
    pub fn tokens_per_second(&self) -> Option<f64> {
        self.tokens.map(per_second)
    }

    /// Requests waiting for a slot in this scope.
    pub fn waiting(&self) -> usize {
        self.waiting
    }

    /// How long the pause after a 429 still holds this scope (no request
    /// is granted until it ends); `None` when it is not paused.
    pub fn paused_for(&self) -> Option<Duration> {
        self.paused
    }
}

pub(crate) fn of(limiter: &Limiter) -> Snapshot {
    let now = Instant::now();
    let mut scopes: Vec<ScopeSnapshot> = limiter
        .live_scopes()
        .into_iter()
        .map(|(key, scope)| {
            let (requests, tokens) = scope.rates();
            ScopeSnapshot {
                api_key: ApiKeyFingerprint::from_hash(key.api_key),
                endpoint: key.endpoint,
                quota: limiter
                    .config
                    .quota_for(key.endpoint, key.model.as_ref().map(Model::as_str)),
                model: key.model,
                requests,
                tokens,
                waiting: scope.waiting(),
                paused: scope.paused_for(now),
            }
        })
        .collect();
    scopes.sort_by(|a, b| {
        (a.endpoint, a.model())
            .cmp(&(b.endpoint, b.model()))
            .then(a.api_key.get().cmp(&b.api_key.get()))
    });
    Snapshot { scopes }
}
