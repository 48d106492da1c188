//! A per-thread cache of the scopes recently used, so that finding a
//! request's scope costs neither the shared map's lock nor an allocation,
//! however the service is cloned (the typed client and tower's `Retry`
//! clone the stack for every request).
//!
//! Each thread holds its own `Arc<ScopeRef>`s, so their reference counts are
//! never shared between cores; the shared `Scope` behind them is.
//!
//! The cache can neither split a budget nor keep the dead alive: whenever a
//! limiter drops scopes or is itself dropped, the global generation moves
//! and every thread empties its cache on its next lookup; and a scope
//! retired while cached refuses every grant, so its holders move on to its
//! successor instead of pacing on their own.

use std::cell::RefCell;
use std::sync::Arc;

use super::registry::{generation, Limiter, ScopeKey, ScopeRef};
use crate::endpoint::Endpoint;
use crate::extensions::Model;

/// Scopes remembered per thread: enough for a few models or keys in turn.
const SLOTS: usize = 4;

struct Entry {
    limiter: u64,
    scope: Arc<ScopeRef>,
}

#[derive(Default)]
struct Recent {
    entries: [Option<Entry>; SLOTS],
    /// The slot to overwrite next (round robin).
    next: usize,
    /// The generation the entries belong to.
    generation: u64,
}

thread_local! {
    static RECENT: RefCell<Recent> = RefCell::default();
}

/// The scope for (`api_key`, `endpoint`, `model`) in `limiter`.
#[inline]
pub(crate) fn scope(
    limiter: &Arc<Limiter>,
    api_key: u64,
    endpoint: Endpoint,
    model: Option<&Model>,
) -> Arc<ScopeRef> {
    let matches = |entry: &Entry| {
        let key = &entry.scope.key;
        entry.limiter == limiter.id()
            && key.api_key == api_key
            && key.endpoint == endpoint
            && key.model.as_ref() == model
    };
    let current = generation();
    let found = RECENT
        .try_with(|recent| {
            let mut recent = recent.borrow_mut();
            if recent.generation != current {
                recent.entries = Default::default();
                recent.generation = current;
                return None;
            }
            recent
                .entries
                .iter()
                .flatten()
                .find(|entry| matches(entry))
                .map(|entry| entry.scope.clone())
        })
        .ok()
        .flatten();
    if let Some(scope) = found {
        return scope;
    }
    let key = ScopeKey {
        api_key,
        endpoint,
        model: model.cloned(),
    };
    let scope = Arc::new(ScopeRef::new(limiter, key));
    // During thread teardown the cache is gone: the scope still works.
    let _ = RECENT.try_with(|recent| {
        let mut recent = recent.borrow_mut();
        if recent.generation != current {
            // Scopes left a limiter since this lookup began: do not cache
            // what may already be retired.
            return;
        }
        // In bounds: `next` is kept modulo SLOTS.
        let slot = recent.next;
        recent.entries[slot] = Some(Entry {
            limiter: limiter.id(),
            scope: scope.clone(),
        });
        recent.next = (slot + 1) % SLOTS;
    });
    scope
}
