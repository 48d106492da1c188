//! The state every clone of a rate-limited service shares: the configured
//! quotas and one [`Scope`] per (API key, endpoint class, model).

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use http::HeaderValue;
use tokio::time::Instant;

use super::future::Feedback;
use super::scope::Scope;
use super::Quota;
use crate::endpoint::Endpoint;
use crate::extensions::Model;

/// What a limiter is configured with. Cheap to clone; only read after build.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub(crate) default_quota: Quota,
    pub(crate) endpoint_quotas: Vec<(Endpoint, Quota)>,
    pub(crate) model_quotas: HashMap<Arc<str>, Quota>,
    /// How long a 429 without a wait hint pauses its scope.
    pub(crate) default_pause: Duration,
    /// The longest pause a 429 may impose, whatever its headers say.
    pub(crate) max_pause: Duration,
    /// Whether the rate follows the server's headers and 429s.
    pub(crate) adaptive: bool,
}

impl Config {
    pub(crate) fn new(default_quota: Quota) -> Config {
        Config {
            default_quota,
            endpoint_quotas: Vec::new(),
            model_quotas: HashMap::new(),
            default_pause: Duration::from_secs(1),
            max_pause: Duration::from_secs(60),
            adaptive: true,
        }
    }

    /// Most specific first: model, then endpoint class, then the default.
    pub(crate) fn quota_for(&self, key: &ScopeKey) -> Quota {
        if let Some(quota) = key
            .model
            .as_ref()
            .and_then(|m| self.model_quotas.get(m.as_str()))
        {
            return *quota;
        }
        self.endpoint_quotas
            .iter()
            .find(|(endpoint, _)| *endpoint == key.endpoint)
            .map_or(self.default_quota, |(_, quota)| *quota)
    }
}

/// Which budget a request draws from.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct ScopeKey {
    /// One-way fingerprint of the API key (0 when the request has none).
    pub(crate) api_key: u64,
    pub(crate) endpoint: Endpoint,
    pub(crate) model: Option<Model>,
}

#[derive(Debug)]
pub(crate) struct Limiter {
    /// Unique in the process (never reused, unlike an address), so per-thread
    /// caches can tell limiters apart.
    id: u64,
    pub(crate) config: Config,
    scopes: RwLock<HashMap<ScopeKey, Arc<Scope>>>,
    /// Keyed with process-random keys: the fingerprint of an API key cannot
    /// be looked up in a table, and it never leaves the process.
    key_hasher: std::collections::hash_map::RandomState,
}

impl Limiter {
    pub(crate) fn new(config: Config) -> Limiter {
        static NEXT_ID: AtomicU64 = AtomicU64::new(0);
        Limiter {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            config,
            scopes: RwLock::new(HashMap::new()),
            key_hasher: Default::default(),
        }
    }

    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    pub(crate) fn fingerprint(&self, authorization: &HeaderValue) -> u64 {
        self.key_hasher.hash_one(authorization.as_bytes())
    }

    /// The scope for `key`, created on first use with its quota.
    pub(crate) fn scope(&self, key: &ScopeKey) -> Arc<Scope> {
        if let Some(scope) = self
            .scopes
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
        {
            return scope.clone();
        }
        let quota = self.config.quota_for(key);
        self.scopes
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(key.clone())
            .or_insert_with(|| Arc::new(Scope::new(quota, Instant::now())))
            .clone()
    }

    /// How many requests wait now, over every scope.
    pub(crate) fn waiting(&self) -> usize {
        self.scopes
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .map(|scope| scope.waiting())
            .sum()
    }

    /// What a scope learns from answers, as configured.
    pub(crate) fn feedback(&self) -> Feedback {
        Feedback {
            default_pause: self.config.default_pause,
            max_pause: self.config.max_pause,
            adaptive: self.config.adaptive,
        }
    }
}
