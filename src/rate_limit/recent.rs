//! A per-thread cache of the scopes recently used, so that finding a
//! request's scope costs neither the shared map's lock nor an allocation,
//! however the service is cloned (the typed client and tower's `Retry`
//! clone the stack for every request), and however many scopes are busy.
//!
//! Each thread holds its own `Arc<ScopeRef>`s, so their reference counts are
//! never shared between cores; the shared `Scope` behind them is.
//!
//! Lookup checks the slot that hit last (one scope in use: no hashing at
//! all), then the slot the key hashes to (many scopes: one hash of a short
//! key, no lock). A miss goes to the shared map and fills that slot.
//!
//! The cache can neither split a budget nor keep the dead alive: whenever a
//! limiter drops scopes or is itself dropped, the global generation moves
//! and every thread, on its next lookup, drops the entries whose scope was
//! retired or whose limiter is gone (and keeps the rest, so one limiter's
//! churn costs another's requests nothing); and a scope retired while
//! cached refuses every grant, so its holders move on to its successor
//! instead of pacing on their own.

use std::cell::RefCell;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::Arc;

use foldhash::fast::FixedState;

use super::registry::{generation, Limiter, Origin, ScopeKey, ScopeRef};
use crate::endpoint::Endpoint;
use crate::extensions::Model;

/// Scopes remembered per thread (a power of two): a busy proxy's working
/// set of models and keys, at 8 bytes a slot.
const SLOTS: usize = 256;

struct Entry {
    limiter: u64,
    scope: Arc<ScopeRef>,
}

struct Recent {
    slots: Box<[Option<Entry>]>,
    /// The slot of the last hit.
    last: usize,
    /// The generation the entries belong to.
    generation: u64,
}

impl Default for Recent {
    fn default() -> Self {
        Recent {
            slots: (0..SLOTS).map(|_| None).collect(),
            last: 0,
            generation: 0,
        }
    }
}

impl Recent {
    /// Drops the entries whose scope was retired or whose limiter is gone,
    /// and keeps the rest: a limiter dropped or swept elsewhere in the
    /// process (another client, another test) must not cost this thread's
    /// live scopes a lookup and an allocation each.
    ///
    /// Called after reading the new generation: a scope retired or a
    /// limiter dropped after that read moves the generation again, so the
    /// next lookup looks again.
    fn forget_the_dead(&mut self) {
        for slot in self.slots.iter_mut() {
            let dead = slot.as_ref().is_some_and(|entry| {
                entry.scope.scope.is_retired() || entry.scope.limiter.strong_count() == 0
            });
            if dead {
                *slot = None;
            }
        }
    }
}

thread_local! {
    static RECENT: RefCell<Recent> = RefCell::default();
}

fn slot_of(limiter: u64, api_key: u64, endpoint: Endpoint, model: Option<&Model>) -> usize {
    let mut hasher = FixedState::default().build_hasher();
    limiter.hash(&mut hasher);
    api_key.hash(&mut hasher);
    endpoint.hash(&mut hasher);
    model.map(Model::as_str).hash(&mut hasher);
    // Truncation is the point: the low bits pick the slot.
    hasher.finish() as usize & (SLOTS - 1)
}

/// The scope for (`api_key`, `endpoint`, `model`) in `limiter`.
#[inline]
pub(crate) fn scope(
    limiter: &Arc<Limiter>,
    api_key: u64,
    endpoint: Endpoint,
    model: Option<&Model>,
    headers: &http::HeaderMap,
) -> Arc<ScopeRef> {
    let hit = |entry: &Option<Entry>| -> Option<Arc<ScopeRef>> {
        let entry = entry.as_ref()?;
        let key = &entry.scope.key;
        let found = entry.limiter == limiter.id()
            && key.api_key == api_key
            && key.endpoint == endpoint
            && key.model.as_ref() == model;
        found.then(|| entry.scope.clone())
    };
    let current = generation();
    let looked_up = RECENT.try_with(|recent| {
        let mut recent = recent.borrow_mut();
        if recent.generation != current {
            recent.forget_the_dead();
            recent.generation = current;
        }
        // In bounds: `last` and `slot_of` are below SLOTS.
        if let Some(scope) = hit(&recent.slots[recent.last]) {
            return Ok(scope);
        }
        let slot = slot_of(limiter.id(), api_key, endpoint, model);
        if let Some(scope) = hit(&recent.slots[slot]) {
            recent.last = slot;
            return Ok(scope);
        }
        Err(slot)
    });
    let slot = match looked_up {
        Ok(Ok(scope)) => return scope,
        Ok(Err(slot)) => Some(slot),
        // During thread teardown the cache is gone: the scope still works.
        Err(_) => None,
    };
    let key = ScopeKey {
        api_key,
        endpoint,
        model: model.cloned(),
    };
    let authorization = headers
        .get(http::header::AUTHORIZATION)
        .map(http::HeaderValue::as_bytes);
    let scope = Arc::new(ScopeRef::new(limiter, key, Origin::Request(authorization)));
    if let Some(slot) = slot {
        let _ = RECENT.try_with(|recent| {
            let mut recent = recent.borrow_mut();
            if recent.generation != current {
                // Scopes left a limiter since this lookup began: do not
                // cache what may already be retired.
                return;
            }
            recent.slots[slot] = Some(Entry {
                limiter: limiter.id(),
                scope: scope.clone(),
            });
            recent.last = slot;
        });
    }
    scope
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Weak};
    use std::time::Duration;

    use super::scope;
    use crate::endpoint::Endpoint;
    use crate::rate_limit::config::Config;
    use crate::rate_limit::registry::Limiter;
    use crate::rate_limit::scope::Scope;
    use crate::Quota;

    fn limiter() -> Arc<Limiter> {
        Arc::new(Limiter::new(Config::new(Quota::per_second(10))))
    }

    fn look_up(limiter: &Arc<Limiter>) -> Arc<super::ScopeRef> {
        scope(
            limiter,
            7,
            Endpoint::ChatCompletions,
            None,
            &http::HeaderMap::new(),
        )
    }

    #[tokio::test(start_paused = true)]
    async fn another_limiter_dropped_leaves_this_ones_entry_cached() {
        let kept = limiter();
        let first = look_up(&kept);
        let other = limiter();
        look_up(&other);
        drop(other);
        let again = look_up(&kept);
        assert!(Arc::ptr_eq(&first, &again), "served from the cache");
    }

    #[tokio::test(start_paused = true)]
    async fn a_dropped_limiters_scope_is_freed_at_the_next_lookup() {
        let gone = limiter();
        let scope: Weak<Scope> = Arc::downgrade(&look_up(&gone).scope);
        drop(gone);
        assert!(scope.upgrade().is_some(), "still cached until a lookup");
        look_up(&limiter());
        assert!(scope.upgrade().is_none(), "the cache let it go");
    }

    #[tokio::test(start_paused = true)]
    async fn a_swept_scope_is_freed_at_the_next_lookup_and_replaced() {
        let mut config = Config::new(Quota::per_second(10));
        config.idle_timeout = Duration::from_secs(1);
        let limiter = Arc::new(Limiter::new(config));
        let first = look_up(&limiter);
        let swept: Weak<Scope> = Arc::downgrade(&first.scope);
        drop(first);
        tokio::time::advance(Duration::from_secs(2)).await;
        limiter.sweep();
        let successor = look_up(&limiter);
        assert!(swept.upgrade().is_none(), "the retired scope is gone");
        assert!(!successor.scope.is_retired());
    }
}
