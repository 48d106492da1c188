//! What a rate limiter is configured with.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::store::Store;
use super::Quota;
use crate::endpoint::Endpoint;

/// What a limiter is configured with. Only read after build.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub(crate) default_quota: Quota,
    pub(crate) endpoint_quotas: Vec<(Endpoint, Quota)>,
    pub(crate) model_quotas: HashMap<Arc<str>, Quota>,
    pub(crate) feedback: Feedback,
    pub(crate) idle_timeout: Duration,
    /// Quotas are where scopes start, not ceilings: the server's stated
    /// limits move them up and down.
    pub(crate) learned: bool,
    /// Where scopes keep their pacing state.
    pub(crate) store: Store,
    /// Refuse requests while the store is unreachable, instead of deciding
    /// alone (set together with the layer's `FailClosed` type).
    pub(crate) fail_closed: bool,
}

/// What a scope learns from the answers that come back through it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Feedback {
    /// How long a 429 without a wait hint pauses the scope.
    pub(crate) default_pause: Duration,
    /// The longest pause a 429 may impose.
    pub(crate) max_pause: Duration,
    /// Whether the `x-ratelimit-*` / `x-tokenlimit-*` headers and 429s change
    /// the scope's rates.
    pub(crate) adaptive: bool,
}

impl Config {
    pub(crate) fn new(default_quota: Quota) -> Config {
        Config {
            default_quota,
            endpoint_quotas: Vec::new(),
            model_quotas: HashMap::new(),
            feedback: Feedback {
                default_pause: Duration::from_secs(1),
                max_pause: Duration::from_secs(60),
                adaptive: true,
            },
            idle_timeout: Duration::from_secs(60),
            learned: false,
            store: Store::default(),
            fail_closed: false,
        }
    }

    /// Most specific first: model, then endpoint class, then the default.
    pub(crate) fn quota_for(&self, endpoint: Endpoint, model: Option<&str>) -> Quota {
        if let Some(quota) = model.and_then(|m| self.model_quotas.get(m)) {
            return *quota;
        }
        self.endpoint_quotas
            .iter()
            .find(|(e, _)| *e == endpoint)
            .map_or(self.default_quota, |(_, quota)| *quota)
    }
}
