//! The state every clone of a rate-limited service shares: the configured
//! quotas and one [`Scope`] per (API key, endpoint class, model), with idle
//! scopes swept away so the map stays as small as the live traffic.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock, Weak};
use std::time::Duration;

use tokio::time::Instant;

use super::config::{Config, Feedback};
#[cfg(feature = "redis")]
use super::scope::RemoteScope;
use super::scope::Scope;
#[cfg(feature = "redis")]
use super::store::{Shared, Store};
use crate::endpoint::Endpoint;
use crate::extensions::Model;

/// Which budget a request draws from.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct ScopeKey {
    /// Keyed fingerprint of the API key (0 when the request has none).
    pub(crate) api_key: u64,
    pub(crate) endpoint: Endpoint,
    pub(crate) model: Option<Model>,
}

/// Where a new scope's name in a shared store comes from.
#[derive(Clone, Copy, Debug)]
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
pub(crate) enum Origin<'a> {
    /// A request's `Authorization` value (keyed-hashed, never kept).
    Request(Option<&'a [u8]>),
    /// The scope it succeeds (it was retired as idle).
    Successor(&'a Scope),
}

/// Bumped whenever scopes leave some limiter (a sweep, a limiter dropped),
/// so per-thread caches (see `recent`) drop what they hold and can keep
/// nothing dead alive.
static GENERATION: AtomicU64 = AtomicU64::new(0);

/// The current generation of all limiters' scope maps.
#[inline]
pub(crate) fn generation() -> u64 {
    GENERATION.load(Ordering::Acquire)
}

fn next_generation() {
    GENERATION.fetch_add(1, Ordering::AcqRel);
}

#[derive(Debug)]
pub(crate) struct Limiter {
    /// Unique in the process (never reused, unlike an address), so per-thread
    /// caches can tell limiters apart.
    id: u64,
    pub(crate) config: Config,
    scopes: RwLock<Scopes>,
    /// The Redis store's connection, when scopes live there.
    #[cfg(feature = "redis")]
    redis: Option<Arc<Shared>>,
    /// The gauge series `publish_metrics` set last time, so that those of
    /// scopes gone since are set to zero rather than left at old values.
    #[cfg(feature = "metrics")]
    pub(crate) published: std::sync::Mutex<Vec<super::snapshot::Series>>,
}

#[derive(Debug, Default)]
struct Scopes {
    map: HashMap<ScopeKey, Arc<Scope>>,
    /// When idle scopes were last swept, and how many scopes remained.
    swept_at: Option<Instant>,
    after_sweep: usize,
}

/// Below this many scopes, growth alone does not trigger a sweep.
const SWEEP_FLOOR: usize = 64;

impl Limiter {
    pub(crate) fn new(config: Config) -> Limiter {
        static NEXT_ID: AtomicU64 = AtomicU64::new(0);
        Limiter {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            #[cfg(feature = "redis")]
            redis: match &config.store {
                Store::Redis(store) => Some(Shared::new(store.clone(), config.fail_closed)),
                Store::Memory => None,
            },
            config,
            scopes: RwLock::default(),
            #[cfg(feature = "metrics")]
            published: std::sync::Mutex::default(),
        }
    }

    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// The scope for `key`, created on first use with its quota.
    pub(crate) fn scope(&self, key: &ScopeKey, origin: Origin<'_>) -> Arc<Scope> {
        if let Some(scope) = self
            .scopes
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .map
            .get(key)
        {
            return scope.clone();
        }
        let now = Instant::now();
        let quota = self
            .config
            .quota_for(key.endpoint, key.model.as_ref().map(Model::as_str));
        let mut scopes = self.scopes.write().unwrap_or_else(PoisonError::into_inner);
        if scopes.due_for_sweep(now, self.config.idle_timeout) {
            scopes.sweep(now, self.config.idle_timeout);
        }
        scopes
            .map
            .entry(key.clone())
            .or_insert_with(|| Arc::new(self.new_scope(key, quota, now, origin)))
            .clone()
    }

    #[cfg_attr(not(feature = "redis"), allow(unused_variables))]
    fn new_scope(
        &self,
        key: &ScopeKey,
        quota: super::Quota,
        now: Instant,
        origin: Origin<'_>,
    ) -> Scope {
        let scope = Scope::new(quota, self.config.learned, now);
        #[cfg(feature = "redis")]
        if let Some(redis) = &self.redis {
            let remote = match origin {
                Origin::Successor(scope) => scope.remote().map(|r| r.remote().clone()),
                Origin::Request(_) => None,
            };
            let remote = remote.unwrap_or_else(|| {
                let authorization = match origin {
                    Origin::Request(authorization) => authorization,
                    Origin::Successor(_) => None,
                };
                redis.remote(authorization, key.api_key, key.endpoint, key.model.as_ref())
            });
            return scope.with_remote(RemoteScope::new(remote));
        }
        scope
    }

    /// Drops every scope idle for the configured idle time now.
    pub(crate) fn sweep(&self) {
        let now = Instant::now();
        self.scopes
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .sweep(now, self.config.idle_timeout);
    }

    /// Every scope held now, with its key (for snapshots).
    pub(crate) fn live_scopes(&self) -> Vec<(ScopeKey, Arc<Scope>)> {
        let scopes = self.scopes.read().unwrap_or_else(PoisonError::into_inner);
        scopes
            .map
            .iter()
            .filter(|(_, scope)| !scope.is_retired())
            .map(|(key, scope)| (key.clone(), scope.clone()))
            .collect()
    }

    /// How many scopes the limiter holds now.
    pub(crate) fn scope_count(&self) -> usize {
        self.scopes
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .map
            .len()
    }

    /// How many requests wait now, over every scope.
    pub(crate) fn waiting(&self) -> usize {
        self.scopes
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .map
            .values()
            .map(|scope| scope.waiting())
            .sum()
    }

    /// What a scope learns from answers, as configured.
    pub(crate) fn feedback(&self) -> Feedback {
        self.config.feedback
    }
}

impl Scopes {
    /// At most once per idle time, and whenever the map has doubled since
    /// the last sweep (so a flood of new keys is swept in amortised O(1)).
    fn due_for_sweep(&self, now: Instant, idle: Duration) -> bool {
        let grown = self.map.len() >= SWEEP_FLOOR.max(self.after_sweep.saturating_mul(2));
        let stale = self
            .swept_at
            .is_none_or(|at| now.saturating_duration_since(at) >= idle);
        grown || (stale && !self.map.is_empty())
    }

    fn sweep(&mut self, now: Instant, idle: Duration) {
        let before = self.map.len();
        self.map.retain(|_, scope| !scope.retire_if_idle(now, idle));
        self.swept_at = Some(now);
        self.after_sweep = self.map.len();
        // A table sized for a past flood of keys would stay that size.
        if self.map.capacity() > 4 * self.map.len().max(16) {
            self.map.shrink_to(2 * self.map.len());
        }
        if self.map.len() < before {
            next_generation();
        }
    }
}

impl Drop for Limiter {
    fn drop(&mut self) {
        // Per-thread caches may still hold this limiter's scopes.
        next_generation();
    }
}

/// A thread's view of a scope (see `recent`). Requests clone this
/// per-thread `Arc`, not the shared scope's, so under contention the shared
/// scope's cache line is touched by the grant alone.
///
/// Aligned to its own cache lines: threads bump their own counts without
/// false sharing.
#[derive(Debug)]
#[repr(align(128))]
pub(crate) struct ScopeRef {
    pub(crate) key: ScopeKey,
    pub(crate) scope: Arc<Scope>,
    /// What the scope learns from answers (kept here, not in every request's future).
    pub(crate) feedback: Feedback,
    /// To find the scope's successor if it is retired while a request holds
    /// it. Weak: a request in flight does not keep a dropped limiter alive.
    pub(crate) limiter: Weak<Limiter>,
}

impl ScopeRef {
    pub(crate) fn new(limiter: &Arc<Limiter>, key: ScopeKey, origin: Origin<'_>) -> ScopeRef {
        ScopeRef {
            scope: limiter.scope(&key, origin),
            key,
            feedback: limiter.feedback(),
            limiter: Arc::downgrade(limiter),
        }
    }

    /// The scope that is live for this key now: this one, or, if it was
    /// retired, its successor (`None` if the limiter is gone: then nobody
    /// else shares the budget).
    pub(crate) fn live(&self) -> Option<Arc<Scope>> {
        if !self.scope.is_retired() {
            return Some(self.scope.clone());
        }
        self.limiter
            .upgrade()
            .map(|limiter| limiter.scope(&self.key, Origin::Successor(&self.scope)))
    }
}
