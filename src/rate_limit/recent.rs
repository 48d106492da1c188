//! A per-thread cache of the scopes recently used, so that finding a
//! request's scope costs neither the shared map's lock nor an allocation,
//! however the service is cloned (the typed client and tower's `Retry`
//! clone the stack for every request), and however many scopes are busy.
//!
//! Each thread holds its own `Arc<ScopeRef>`s, so their reference counts are
//! never shared between cores; the shared `Scope` behind them is.
//!
//! Lookup checks the slot that hit last (one scope in use: no hashing at
//! all), then probes from the slot the key hashes to (many scopes: one hash
//! of a short key, no lock): a small open-addressing table with linear
//! probing, kept at most three quarters full, so every scope of a working
//! set up to 192 per thread stays cached whatever its hash. A miss goes to
//! the shared map and fills the first free slot; a miss that would fill the
//! table past three quarters empties it first (a flood of keys costs what
//! it did, one map lookup per new key). The direct-mapped cache this
//! replaces (the same 256 slots, one per hash) let two scopes with one slot
//! evict each other on every alternation: 7 to 21 % of requests taking
//! turns over 50 scopes missed, each a lock and an allocation.
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

/// Slots per thread (a power of two), at 16 bytes a slot.
const SLOTS: usize = 256;
/// Entries at most: past three quarters full, linear probing's runs grow
/// long.
const MAX_ENTRIES: usize = SLOTS / 4 * 3;

struct Entry {
    limiter: u64,
    scope: Arc<ScopeRef>,
}

impl Entry {
    fn is(&self, limiter: u64, api_key: u64, endpoint: Endpoint, model: Option<&Model>) -> bool {
        let key = &self.scope.key;
        self.limiter == limiter
            && key.api_key == api_key
            && key.endpoint == endpoint
            && key.model.as_ref() == model
    }

    fn is_dead(&self) -> bool {
        self.scope.scope.is_retired() || self.scope.limiter.strong_count() == 0
    }

    fn home(&self) -> usize {
        let key = &self.scope.key;
        home_of(self.limiter, key.api_key, key.endpoint, key.model.as_ref())
    }
}

struct Recent {
    slots: Box<[Option<Entry>]>,
    /// How many slots hold an entry (at most `MAX_ENTRIES`).
    entries: usize,
    /// The slot of the last hit.
    last: usize,
    /// The generation the entries belong to.
    generation: u64,
}

impl Default for Recent {
    fn default() -> Self {
        Recent {
            slots: (0..SLOTS).map(|_| None).collect(),
            entries: 0,
            last: 0,
            generation: 0,
        }
    }
}

/// Where a lookup ended: the slot holding the key, or the free slot that
/// ends its probe sequence.
enum Probe {
    Found(usize),
    Free(usize),
}

impl Recent {
    /// Probes from `home` to the key's slot or the first free one. Ends:
    /// the table is never full.
    fn probe(&self, home: usize, is: impl Fn(&Entry) -> bool) -> Probe {
        let mut slot = home;
        loop {
            // In bounds: `slot` is masked below SLOTS.
            match &self.slots[slot] {
                None => return Probe::Free(slot),
                Some(entry) if is(entry) => return Probe::Found(slot),
                Some(_) => slot = (slot + 1) & (SLOTS - 1),
            }
        }
    }

    /// Caches `entry`, whose key is not cached; empties the table first if
    /// it is as full as it may be.
    fn insert(&mut self, entry: Entry) {
        if self.entries >= MAX_ENTRIES {
            self.slots.iter_mut().for_each(|slot| *slot = None);
            self.entries = 0;
        }
        let slot = match self.probe(entry.home(), |_| false) {
            Probe::Free(slot) | Probe::Found(slot) => slot,
        };
        self.slots[slot] = Some(entry);
        self.entries += 1;
        self.last = slot;
    }

    /// Drops the entries whose scope was retired or whose limiter is gone,
    /// and keeps the rest: a limiter dropped or swept elsewhere in the
    /// process (another client, another test) must not cost this thread's
    /// live scopes a lookup and an allocation each.
    ///
    /// Called after reading the new generation: a scope retired or a
    /// limiter dropped after that read moves the generation again, so the
    /// next lookup looks again.
    fn forget_the_dead(&mut self) {
        let mut slot = 0;
        while slot < SLOTS {
            if self.slots[slot].as_ref().is_some_and(Entry::is_dead) {
                // An entry from further on may move into `slot`: look again.
                self.remove(slot);
            } else {
                slot += 1;
            }
        }
    }

    /// Empties `hole` and moves back the entries after it in its run whose
    /// probe sequences passed through it (backward-shift deletion: no
    /// tombstones, every remaining entry still found from its home).
    fn remove(&mut self, mut hole: usize) {
        self.slots[hole] = None;
        self.entries -= 1;
        let mut next = hole;
        loop {
            next = (next + 1) & (SLOTS - 1);
            let Some(entry) = &self.slots[next] else {
                return;
            };
            let home = entry.home();
            // The entry stays if its home lies cyclically in (hole, next]:
            // its probe sequence does not pass through the hole.
            let stays = if hole <= next {
                hole < home && home <= next
            } else {
                hole < home || home <= next
            };
            if !stays {
                self.slots[hole] = self.slots[next].take();
                hole = next;
            }
        }
    }
}

thread_local! {
    static RECENT: RefCell<Recent> = RefCell::default();
}

/// The slot the key's probe sequence starts at.
fn home_of(limiter: u64, api_key: u64, endpoint: Endpoint, model: Option<&Model>) -> usize {
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
    let id = limiter.id();
    let is = |entry: &Entry| entry.is(id, api_key, endpoint, model);
    let current = generation();
    let looked_up = RECENT.try_with(|recent| {
        let mut recent = recent.borrow_mut();
        if recent.generation != current {
            recent.forget_the_dead();
            recent.generation = current;
        }
        // In bounds: `last` is below SLOTS.
        if let Some(entry) = recent.slots[recent.last].as_ref().filter(|e| is(e)) {
            return Some(entry.scope.clone());
        }
        match recent.probe(home_of(id, api_key, endpoint, model), is) {
            Probe::Found(slot) => {
                recent.last = slot;
                recent.slots[slot].as_ref().map(|entry| entry.scope.clone())
            }
            Probe::Free(_) => None,
        }
    });
    if let Ok(Some(scope)) = looked_up {
        return scope;
    }
    let key = ScopeKey {
        api_key,
        endpoint,
        model: model.cloned(),
    };
    let authorization = headers
        .get(http::header::AUTHORIZATION)
        .map(http::HeaderValue::as_bytes);
    let scope = Arc::new(ScopeRef::new(limiter, key, Origin::Request(authorization)));
    // During thread teardown the cache is gone (`try_with` fails): the
    // scope still works, uncached.
    let _ = RECENT.try_with(|recent| {
        let mut recent = recent.borrow_mut();
        if recent.generation != current {
            // Scopes left a limiter since this lookup began: do not cache
            // what may already be retired.
            return;
        }
        recent.insert(Entry {
            limiter: id,
            scope: scope.clone(),
        });
    });
    scope
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Weak};
    use std::time::Duration;

    use super::scope;
    use crate::endpoint::Endpoint;
    use crate::rate_limit::config::Config;
    use crate::rate_limit::registry::{Limiter, Origin};
    use crate::rate_limit::scope::Scope;
    use crate::Quota;

    fn limiter() -> Arc<Limiter> {
        Arc::new(Limiter::new(Config::new(Quota::per_second(10))))
    }

    fn look_up_key(limiter: &Arc<Limiter>, api_key: u64) -> Arc<super::ScopeRef> {
        scope(
            limiter,
            api_key,
            Endpoint::ChatCompletions,
            None,
            &http::HeaderMap::new(),
        )
    }

    fn look_up(limiter: &Arc<Limiter>) -> Arc<super::ScopeRef> {
        look_up_key(limiter, 7)
    }

    /// `n` API keys whose scopes in `limiter` have their home at `home`.
    fn keys_homed_at(limiter: &Limiter, home: usize, n: usize) -> Vec<u64> {
        let home_of = |key| super::home_of(limiter.id(), key, Endpoint::ChatCompletions, None);
        (0..).filter(|&key| home_of(key) == home).take(n).collect()
    }

    #[tokio::test(start_paused = true)]
    async fn scopes_with_one_home_slot_all_stay_cached() {
        let limiter = limiter();
        let keys = keys_homed_at(&limiter, 0, 4);
        let cached: Vec<_> = keys.iter().map(|&k| look_up_key(&limiter, k)).collect();
        for _ in 0..3 {
            for (key, scope) in keys.iter().zip(&cached) {
                assert!(Arc::ptr_eq(scope, &look_up_key(&limiter, *key)));
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn dead_entries_taken_from_a_run_leave_the_rest_found() {
        let kept = limiter();
        let gone = limiter();
        // One run from the last slot, wrapping: kept, gone, kept, gone, kept.
        let home = super::SLOTS - 1;
        let kept_keys = keys_homed_at(&kept, home, 3);
        let gone_keys = keys_homed_at(&gone, home, 2);
        let mut cached = Vec::new();
        for (i, key) in kept_keys.iter().enumerate() {
            cached.push(look_up_key(&kept, *key));
            if let Some(&key) = gone_keys.get(i) {
                look_up_key(&gone, key);
            }
        }
        drop(gone);
        for (key, scope) in kept_keys.iter().zip(&cached) {
            assert!(
                Arc::ptr_eq(scope, &look_up_key(&kept, *key)),
                "still cached"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn more_scopes_than_the_table_holds_are_all_served() {
        let limiter = limiter();
        let first = look_up_key(&limiter, 0);
        for key in 1..(super::MAX_ENTRIES as u64 + 10) {
            look_up_key(&limiter, key);
        }
        // Emptied once it was full: looked up anew, the same budget.
        let again = look_up_key(&limiter, 0);
        assert!(!Arc::ptr_eq(&first, &again));
        assert!(Arc::ptr_eq(&first.scope, &again.scope));
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

    /// Every cached entry is found from its home, and the count is right.
    fn assert_table_sound() {
        super::RECENT.with(|recent| {
            let recent = recent.borrow();
            let mut held = 0;
            for (slot, entry) in recent.slots.iter().enumerate() {
                let Some(entry) = entry else { continue };
                held += 1;
                let key = &entry.scope.key;
                let found = recent.probe(entry.home(), |e| {
                    e.is(entry.limiter, key.api_key, key.endpoint, key.model.as_ref())
                });
                assert!(matches!(found, super::Probe::Found(s) if s == slot));
            }
            assert_eq!(held, recent.entries);
            assert!(held <= super::MAX_ENTRIES);
        });
    }

    proptest::proptest! {
        /// Lookups, limiters dropped and scopes swept in any order: every
        /// lookup gives the limiter's live scope for that key, and the table
        /// stays sound.
        #[test]
        fn any_sequence_of_lookups_drops_and_sweeps_keeps_the_cache_sound(
            steps in proptest::collection::vec((0..3usize, 0..300u64, 0..20u8), 1..400),
        ) {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .start_paused(true)
                .build()
                .unwrap();
            runtime.block_on(async {
                let mut limiters: Vec<Arc<Limiter>> = (0..3).map(|_| limiter()).collect();
                for (which, key, action) in steps {
                    match action {
                        // Now and then a limiter is dropped for a new one.
                        0 => limiters[which] = limiter(),
                        // Or its idle scopes are swept (all idle after 61 s).
                        1 => {
                            tokio::time::advance(Duration::from_secs(61)).await;
                            limiters[which].sweep();
                        }
                        _ => {
                            let limiter = &limiters[which];
                            let found = look_up_key(limiter, key);
                            proptest::prop_assert_eq!(found.key.api_key, key);
                            // Never a retired scope: a sweep moved the
                            // generation, and the lookup dropped the dead.
                            proptest::prop_assert!(!found.scope.is_retired());
                            let in_map = limiter.scope(&found.key, Origin::Request(None));
                            proptest::prop_assert!(Arc::ptr_eq(&found.scope, &in_map));
                        }
                    }
                    assert_table_sound();
                }
                Ok(())
            })?;
        }
    }
}
