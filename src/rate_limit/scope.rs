//! One scope's pacing state in memory: the GCRA word in an atomic, the live
//! rate, the pause after a 429, and the FIFO of waiters behind a lock that
//! only waiting requests touch.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Instant;

use super::gcra::{Ask, Pacing};
use super::pace::{Pace, UNLIMITED};
use super::queue::{set_waker, Queue, NOT_QUEUED, SPIN_BELOW_INTERVAL};
use super::Quota;

#[cfg(feature = "redis")]
mod remote;
#[cfg(feature = "redis")]
pub(crate) use self::remote::RemoteScope;

/// A scope's shared state. Every request of one (key, endpoint, model) goes
/// through the same `Scope`, whichever service clone it came from.
///
/// Times are nanoseconds since `epoch` on tokio's clock, so the hot path is
/// a compare-and-swap on one `u64`: a request that finds nobody waiting and
/// room in the bucket never takes the lock.
///
/// Under contention every grant writes `allow_at`, so it has a cache line
/// of its own (`HotLine`); what grants only read (the pace, the pause, the
/// queue length) sits on other lines that stay shared between cores.
#[derive(Debug)]
#[repr(C)]
pub(crate) struct Scope {
    allow_at: HotLine,
    /// No grant before this time (set by a 429).
    paused_until: AtomicU64,
    /// Length of `queue.waiters`, readable without the lock: while anyone
    /// waits, newcomers queue behind them instead of taking the fast path.
    queued: AtomicUsize,
    pace: Pace,
    /// Where the state lives when it is not in this process (feature
    /// `redis`): checked once per request, so the in-memory path is
    /// unchanged.
    #[cfg(feature = "redis")]
    remote: Option<Box<RemoteScope>>,
    /// The second budget, in tokens. Written only under the queue lock, so
    /// a grant of both budgets is all or nothing.
    tokens: Tokens,
    // Cold: read on set-up and by waiters only.
    epoch: Instant,
    queue: Mutex<Queue>,
}

#[derive(Debug)]
struct Tokens {
    /// The token budget's GCRA state.
    allow_at: AtomicU64,
    /// Its live rate; `UNLIMITED` until configured or learned.
    pace: Pace,
}

/// A `u64` alone on its cache line (and the next, against the adjacent-line
/// prefetcher).
#[derive(Debug)]
#[repr(C, align(128))]
struct HotLine {
    /// The GCRA state (see `gcra`), or `RETIRED`.
    value: AtomicU64,
}

/// `allow_at` of a scope evicted from its limiter. Set only by a
/// compare-and-swap from an idle state, so once set no grant can follow:
/// a request still holding the scope must look up its live successor, and
/// one key never has two budgets at once.
const RETIRED: u64 = u64::MAX;

/// The latest time a live state may hold, so that no saturated sum (an
/// absurd quota, a hostile pause) ever reads as `RETIRED`.
const LATEST: u64 = RETIRED - 1;

/// Which budget a grant was charged to, so that its tokens are settled
/// where they were taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ChargedTo {
    /// The scope's own state: in memory, or in the shared store.
    Scope,
    /// This process's fallback share, taken while the shared store was
    /// down (feature `redis`).
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    Fallback,
}

/// Why a waiter left its scope without a grant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Halt {
    /// The scope was retired before this request joined it: ask its
    /// successor.
    Retired,
    /// The shared store is unreachable and the layer is fail-closed.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    StoreDown,
}

/// Why a scope gave no grant now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Not before this scope time.
    Until(u64),
    /// The scope was evicted: ask its successor.
    Retired,
}

/// The state `state` (at `now`) re-expressed for a new emission interval:
/// the units it owes (or has in hand) stay the same, they now take
/// `after` each instead of `before`. So a rate the server raises applies to
/// the backlog at once, and one it lowers holds the backlog to it.
fn rescale(state: u64, now: u64, before: u64, after: u64) -> u64 {
    if before == 0 {
        return state;
    }
    let scale = |span: u64| {
        // In range for any real span; saturates otherwise.
        let scaled = u128::from(span) * u128::from(after) / u128::from(before);
        u64::try_from(scaled).unwrap_or(u64::MAX)
    };
    if state >= now {
        now.saturating_add(scale(state - now)).min(LATEST)
    } else {
        now.saturating_sub(scale(now - state))
    }
}

/// Scope time of the epoch: about 146 years of room below it for "long ago".
const BASE: u64 = 1 << 62;

/// Saturating, in 64-bit arithmetic (this runs on every request; `as_nanos`
/// goes through `u128`).
#[inline]
pub(crate) fn nanos(duration: Duration) -> u64 {
    duration
        .as_secs()
        .saturating_mul(1_000_000_000)
        .saturating_add(u64::from(duration.subsec_nanos()))
}

fn requests_of(quota: Quota) -> Pacing {
    Pacing {
        // At least 1 ns: `Quota` refuses rates above 10^9/s, so this only guards.
        interval: nanos(quota.emission_interval()).max(1),
        burst: quota.burst_size(),
    }
}

fn tokens_of(quota: Quota) -> Pacing {
    match (quota.token_interval(), quota.token_burst_size()) {
        (Some(interval), Some(burst)) => Pacing {
            interval: nanos(interval).max(1),
            burst,
        },
        _ => Pacing {
            interval: UNLIMITED,
            burst: 1,
        },
    }
}

impl Scope {
    /// A scope paced by `quota`; in `learned` mode the quota is only where
    /// it starts.
    pub(crate) fn new(quota: Quota, learned: bool, now: Instant) -> Scope {
        let pace = Pace::new(requests_of(quota), learned);
        let token_pace = Pace::new(tokens_of(quota), learned);
        // Full buckets now (not "long ago"), so a new scope counts as idle
        // only once the idle time has passed since it was made.
        let full = pace.get().full_at(BASE);
        let tokens_full = token_pace.get().full_at(BASE);
        Scope {
            epoch: now,
            pace,
            tokens: Tokens {
                allow_at: AtomicU64::new(tokens_full),
                pace: token_pace,
            },
            allow_at: HotLine {
                value: AtomicU64::new(full),
            },
            paused_until: AtomicU64::new(0),
            queued: AtomicUsize::new(0),
            queue: Mutex::default(),
            #[cfg(feature = "redis")]
            remote: None,
        }
    }

    /// The same scope, its state kept in a shared store.
    #[cfg(feature = "redis")]
    pub(crate) fn with_remote(mut self, remote: RemoteScope) -> Scope {
        self.remote = Some(Box::new(remote));
        self
    }

    /// The store's handle, when the state is not in this process.
    #[cfg(feature = "redis")]
    pub(crate) fn remote(&self) -> Option<&RemoteScope> {
        self.remote.as_deref()
    }

    /// Scope time now.
    #[inline]
    pub(crate) fn now(&self) -> u64 {
        self.time(Instant::now())
    }

    /// Scope time: nanoseconds since the epoch, plus `BASE` so that "a full
    /// bucket" (a time before the epoch) needs no negative numbers.
    #[inline]
    fn time(&self, at: Instant) -> u64 {
        BASE.saturating_add(nanos(at.saturating_duration_since(self.epoch)))
    }

    fn instant(&self, at: u64) -> Instant {
        crate::time::later(self.epoch, Duration::from_nanos(at.saturating_sub(BASE)))
    }

    /// Whether this scope paces tokens as well as requests.
    #[inline]
    pub(crate) fn paces_tokens(&self) -> bool {
        self.tokens.pace.is_limited()
    }

    /// One GCRA decision for the request budget and, when `tokens` > 0 and
    /// the scope paces tokens, the token budget: both granted or neither.
    /// A token grant must hold the queue lock (see `Tokens`).
    #[inline]
    fn grant(&self, now: u64, ask: Ask, tokens: u32) -> Result<(), Refusal> {
        if self.pace.expire(now) {
            self.repace_requests(self.pace.get().interval, now);
        }
        // Token state is written under the queue lock only, which a grant
        // with tokens holds.
        if tokens > 0 {
            let before = self.tokens.pace.get().interval;
            if self.tokens.pace.expire(now) {
                self.repace_tokens(before, now);
            }
        }
        let pacing = self.pace.get();
        let token_pacing = self.tokens.pace.get();
        let with_tokens = tokens > 0 && token_pacing.interval != UNLIMITED;
        let token_ask = Ask {
            cost: tokens,
            waited: ask.waited,
        };
        let mut allow_at = self.allow_at.value.load(Ordering::Acquire);
        loop {
            if allow_at == RETIRED {
                return Err(Refusal::Retired);
            }
            let paused_until = self.paused_until.load(Ordering::Acquire);
            let requests = pacing.decide(allow_at, now, ask, paused_until);
            let tokens_next = if with_tokens {
                let state = self.tokens.allow_at.load(Ordering::Acquire);
                Some(token_pacing.decide(state, now, token_ask, 0))
            } else {
                None
            };
            let next = match (requests, tokens_next) {
                (Ok(next), None | Some(Ok(_))) => next.min(LATEST),
                (Err(at), None | Some(Ok(_))) | (Ok(_), Some(Err(at))) => {
                    return Err(Refusal::Until(at))
                }
                (Err(a), Some(Err(b))) => return Err(Refusal::Until(a.max(b))),
            };
            match self.allow_at.value.compare_exchange_weak(
                allow_at,
                next,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    if let Some(Ok(tokens_next)) = tokens_next {
                        self.tokens
                            .allow_at
                            .store(tokens_next.min(LATEST), Ordering::Release);
                    }
                    return Ok(());
                }
                Err(actual) => allow_at = actual,
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        // Every mutation of the queue is complete before anything can panic,
        // so a poisoned lock still guards a consistent queue.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Grants `cost` requests and `tokens` tokens at once if nobody is
    /// waiting and both budgets allow.
    #[inline]
    pub(crate) fn try_acquire(&self, cost: u32, tokens: u32) -> bool {
        // A shared store is asked by the head of the queue only.
        #[cfg(feature = "redis")]
        if self.remote.is_some() {
            return false;
        }
        if self.queued.load(Ordering::Acquire) != 0 {
            return false;
        }
        let ask = Ask {
            cost,
            waited: false,
        };
        if tokens > 0 && self.paces_tokens() {
            // Two budgets: decided under the lock, so both or neither.
            let queue = self.lock();
            return queue.waiters.is_empty() && self.grant(self.now(), ask, tokens).is_ok();
        }
        self.grant(self.now(), ask, 0).is_ok()
    }

    /// Corrects the tokens charged for a request granted earlier: `+n`
    /// charges `n` more (the answer used more than estimated), `-n` gives
    /// `n` back (it used less, or the server did not count it). A refund
    /// never fills the bucket past full. `charged`: the budget the tokens
    /// were taken from, which is the one corrected.
    #[cfg_attr(not(feature = "redis"), allow(unused_variables))]
    pub(crate) fn adjust_tokens(&self, delta: i64, charged: ChargedTo) {
        if delta == 0 || !self.paces_tokens() {
            return;
        }
        #[cfg(feature = "redis")]
        if let Some(remote) = &self.remote {
            match charged {
                // In a shared store the token budget lives there, for
                // every process.
                ChargedTo::Scope => remote.remote().share_tokens(delta, self.tokens.pace.get()),
                // Taken from this process's share while the store was down.
                ChargedTo::Fallback => {
                    let queue = self.lock();
                    let pacing = remote.remote().fallback(self.tokens.pace.get());
                    remote.adjust_fallback_tokens(|state| self.adjusted(state, delta, pacing));
                    self.wake_head_after(queue, delta);
                }
            }
            return;
        }
        let queue = self.lock();
        let state = self.tokens.allow_at.load(Ordering::Acquire);
        let next = self.adjusted(state, delta, self.tokens.pace.get());
        self.tokens.allow_at.store(next, Ordering::Release);
        self.wake_head_after(queue, delta);
    }

    /// A request granted `cost` units (and the tokens it took) was never
    /// sent: its dropped future, or an inner service that failed to become
    /// ready, gives the units back to the budget they came from, so the
    /// next request does not wait for a slot nobody used.
    #[cfg_attr(not(feature = "redis"), allow(unused_variables))]
    pub(crate) fn give_back(&self, cost: u32, charged: ChargedTo) {
        let delta = -i64::from(cost.max(1));
        #[cfg(feature = "redis")]
        if let Some(remote) = &self.remote {
            let pacing = self.pace.get();
            match charged {
                ChargedTo::Scope => remote.remote().share_requests(delta, pacing),
                ChargedTo::Fallback => {
                    let queue = self.lock();
                    let pacing = remote.remote().fallback(pacing);
                    remote.adjust_fallback_requests(|state| self.adjusted(state, delta, pacing));
                    self.wake_head_after(queue, delta);
                }
            }
            return;
        }
        let pacing = self.pace.get();
        let _ = self
            .allow_at
            .value
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |state| {
                (state != RETIRED).then(|| self.adjusted(state, delta, pacing))
            });
        self.wake_head();
    }

    /// The GCRA `state` of a budget paced by `pacing`, `delta` units later
    /// (more owed) or earlier (given back, never past a full bucket).
    fn adjusted(&self, state: u64, delta: i64, pacing: Pacing) -> u64 {
        let change = pacing.interval.saturating_mul(delta.unsigned_abs());
        if delta > 0 {
            state.saturating_add(change).min(LATEST)
        } else {
            state
                .saturating_sub(change)
                .max(pacing.full_at(self.now()))
                .min(state)
        }
    }

    /// After a correction of `delta`: a refund may let the head go sooner,
    /// so it looks again (woken outside the lock).
    fn wake_head_after(&self, queue: MutexGuard<'_, Queue>, delta: i64) {
        let head = queue.waiters.front().and_then(|w| w.waker.clone());
        drop(queue);
        if let (true, Some(head)) = (delta < 0, head) {
            head.wake();
        }
    }

    /// The server says only `remaining` requests (and `remaining_tokens`
    /// tokens) are left now, and no more requests before `reset` (scope
    /// time) when none are left. Holds the budgets back to that when it is
    /// less than this scope's own accounting allows; never lends more.
    pub(crate) fn hold_back(
        &self,
        remaining: Option<u64>,
        reset: Option<Instant>,
        remaining_tokens: Option<u64>,
    ) {
        let now = self.now();
        if let Some(remaining) = remaining {
            let pacing = self.pace.get();
            let at = match remaining {
                0 => reset.map_or(now.saturating_add(pacing.interval), |r| self.time(r)),
                n => now.saturating_sub(pacing.interval.saturating_mul(n - 1)),
            };
            // `fetch_max` leaves a retired scope retired.
            self.allow_at
                .value
                .fetch_max(at.min(LATEST), Ordering::AcqRel);
        }
        if let (Some(remaining), true) = (remaining_tokens, self.paces_tokens()) {
            let _queue = self.lock();
            let pacing = self.tokens.pace.get();
            let at = match remaining {
                0 => now.saturating_add(pacing.interval),
                n => now.saturating_sub(pacing.interval.saturating_mul(n - 1)),
            };
            self.tokens
                .allow_at
                .fetch_max(at.min(LATEST), Ordering::AcqRel);
        }
    }

    /// Whether this scope was evicted from its limiter.
    #[inline]
    pub(crate) fn is_retired(&self) -> bool {
        self.allow_at.value.load(Ordering::Acquire) == RETIRED
    }

    /// Retires the scope if it has been idle for `idle`: nobody waiting, not
    /// paused, its rate not cut by a 429, and its bucket full all that time.
    /// Its state is then that of a new scope, so a successor made later
    /// changes nothing for the requests that follow. Returns whether it is
    /// retired.
    pub(crate) fn retire_if_idle(&self, now: Instant, idle: Duration) -> bool {
        let mut queue = self.lock();
        queue.drop_cancelled_front();
        if !queue.waiters.is_empty() || self.pace.is_cut() || self.tokens.pace.is_cut() {
            return false;
        }
        let now = self.time(now);
        if self.paused_until.load(Ordering::Acquire) > now {
            return false;
        }
        let allow_at = self.allow_at.value.load(Ordering::Acquire);
        if allow_at == RETIRED {
            return true;
        }
        if !self.pace.get().idle_since(allow_at, now, nanos(idle)) {
            return false;
        }
        let tokens = self.tokens.pace.get();
        let token_state = self.tokens.allow_at.load(Ordering::Acquire);
        if tokens.interval != UNLIMITED && !tokens.idle_since(token_state, now, nanos(idle)) {
            return false;
        }
        // A grant between the load and here changes `allow_at`, and the
        // exchange fails: the scope stays.
        let retired = self
            .allow_at
            .value
            .compare_exchange(allow_at, RETIRED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        drop(queue);
        retired
    }

    /// Stops every grant in this scope until `until` (a 429 was seen), then
    /// resumes at half the rate rather than with a burst: the server's
    /// window state is unknown after a 429. 429s that arrive while the scope
    /// is already paused come from the same window and do not cut again.
    pub(crate) fn pause_until(&self, until: Instant, cut_rate: bool) {
        let now = self.now();
        let until = self.time(until).min(LATEST);
        #[cfg(feature = "redis")]
        if let Some(remote) = &self.remote {
            let wait = self
                .instant(until)
                .saturating_duration_since(self.instant(now));
            remote.remote().share_pause(wait, self.pace.get());
        }
        let previous = self.paused_until.fetch_max(until, Ordering::AcqRel);
        if cut_rate && previous <= now {
            self.throttled();
        }
        // Resume paced: one unit at `until`, the next an interval later.
        // (`fetch_max` leaves a retired scope retired.)
        self.allow_at.value.fetch_max(until, Ordering::AcqRel);
    }

    /// The server said how many requests a second it allows here.
    pub(crate) fn learn_limit(&self, per_second: f64) {
        let now = self.now();
        let before = self.pace.get().interval;
        self.pace.learn(per_second, now);
        let after = self.pace.get().interval;
        if before != after {
            #[cfg(feature = "redis")]
            if let Some(remote) = &self.remote {
                remote.remote().share_rate(false, self.pace.get());
            }
            self.repace_requests(before, now);
            self.wake_head();
        }
    }

    /// The request budget's rate moved from the interval `before`: the
    /// backlog is re-paced at the new one (see `rescale`).
    fn repace_requests(&self, before: u64, now: u64) {
        let after = self.pace.get().interval;
        let _ = self
            .allow_at
            .value
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |state| {
                (state != RETIRED).then(|| rescale(state, now, before, after))
            });
    }

    /// The token budget's rate moved from the interval `before`. Call with
    /// the queue lock held.
    fn repace_tokens(&self, before: u64, now: u64) {
        let after = self.tokens.pace.get().interval;
        if before != after && before != UNLIMITED {
            let state = self.tokens.allow_at.load(Ordering::Acquire);
            let state = rescale(state, now, before, after);
            self.tokens.allow_at.store(state, Ordering::Release);
        }
    }

    /// The server said how many tokens a second it allows here.
    pub(crate) fn learn_token_limit(&self, per_second: f64) {
        // Under the lock: a token budget that starts here must not race a
        // grant deciding with the old (unlimited) pace.
        let queue = self.lock();
        let now = self.now();
        let before = self.tokens.pace.get().interval;
        self.tokens.pace.learn(per_second, now);
        let after = self.tokens.pace.get().interval;
        #[cfg(feature = "redis")]
        if let (true, Some(remote)) = (before != after, &self.remote) {
            remote.remote().share_rate(true, self.tokens.pace.get());
        }
        self.repace_tokens(before, now);
        let head = queue.waiters.front().and_then(|w| w.waker.clone());
        drop(queue);
        if let (true, Some(head)) = (before != after, head) {
            head.wake();
        }
    }

    /// Wakes the head of the queue to look at the scope again (its rate
    /// changed).
    fn wake_head(&self) {
        let head = self.lock().waiters.front().and_then(|w| w.waker.clone());
        if let Some(head) = head {
            head.wake();
        }
    }

    /// A 429 was seen: cut both rates (the answer may not say which one
    /// the server ran out of).
    fn throttled(&self) {
        self.pace.throttled();
        self.tokens.pace.throttled();
    }

    /// A request of this scope got an answer other than 429.
    pub(crate) fn succeeded(&self) {
        self.pace.succeeded();
        self.tokens.pace.succeeded();
    }

    /// The rates paced at now: requests, then tokens (`None`: no token budget).
    pub(crate) fn rates(&self) -> (Pacing, Option<Pacing>) {
        let tokens = self.tokens.pace.get();
        (
            self.pace.get(),
            (tokens.interval != UNLIMITED).then_some(tokens),
        )
    }

    /// How many requests wait in this scope now.
    pub(crate) fn waiting(&self) -> usize {
        self.lock().live()
    }

    /// How long the pause after a 429 still holds the scope at `now`;
    /// `None` when it is not paused.
    pub(crate) fn paused_for(&self, now: Instant) -> Option<Duration> {
        let until = self.paused_until.load(Ordering::Acquire);
        let now = self.time(now);
        (until > now).then(|| Duration::from_nanos(until - now))
    }

    /// Whether a pause after a 429 held the scope at any time since
    /// `since` (scope time; the pause only ever moves later, so one load
    /// tells).
    pub(crate) fn paused_since(&self, since: u64) -> bool {
        self.paused_until.load(Ordering::Acquire) > since
    }

    /// Polls for a grant of `cost`, joining the queue on first poll; `slot`
    /// holds the waiter's id (or `NOT_QUEUED`).
    ///
    /// Only the head of the queue sleeps on a timer; the others sleep until
    /// the head, once granted, wakes its successor. So a scope with 10 000
    /// waiters has one timer, not 10 000.
    ///
    /// `Err(Halt::Retired)`: the scope was retired before this request
    /// joined it; the caller must ask the scope's successor.
    /// `Err(Halt::StoreDown)`: refused, fail-closed (shared stores only).
    pub(crate) fn poll_acquire(
        &self,
        cost: u32,
        tokens: u32,
        slot: &mut u64,
        cx: &mut Context<'_>,
    ) -> Poll<Result<ChargedTo, Halt>> {
        #[cfg(feature = "redis")]
        if let Some(remote) = &self.remote {
            return self.poll_acquire_remote(remote, cost, tokens, slot, cx);
        }
        loop {
            let now = self.now();
            let mut queue = self.lock();
            let id = match *slot {
                NOT_QUEUED => {
                    if queue.waiters.is_empty() {
                        let first = Ask {
                            cost,
                            waited: false,
                        };
                        match self.grant(now, first, tokens) {
                            Ok(()) => return Poll::Ready(Ok(ChargedTo::Scope)),
                            // Retirement needs an empty queue, under this
                            // lock: once a waiter is queued it cannot happen.
                            Err(Refusal::Retired) => return Poll::Ready(Err(Halt::Retired)),
                            Err(Refusal::Until(_)) => {}
                        }
                    }
                    let id = queue.push(cx.waker().clone());
                    self.queued.store(queue.waiters.len(), Ordering::Release);
                    *slot = id;
                    id
                }
                id => id,
            };
            queue.drop_cancelled_front();
            if queue.waiters.front().map(|w| w.id()) != Some(id) {
                if let Some(at) = queue.position(id) {
                    // In bounds: `position` found it under this lock.
                    set_waker(&mut queue.waiters[at].waker, cx);
                }
                return Poll::Pending;
            }
            let ask = Ask { cost, waited: true };
            match self.grant(now, ask, tokens) {
                Ok(()) => {
                    *slot = NOT_QUEUED;
                    self.pop_head(queue);
                    return Poll::Ready(Ok(ChargedTo::Scope));
                }
                // Unreachable while this waiter is queued (see above); if it
                // ever happened, the successor is the safe answer.
                Err(Refusal::Retired) => {
                    *slot = NOT_QUEUED;
                    self.pop_head(queue);
                    return Poll::Ready(Err(Halt::Retired));
                }
                Err(Refusal::Until(at)) => {
                    if let Some(head) = queue.waiters.front_mut() {
                        set_waker(&mut head.waker, cx);
                    }
                    let spin = self.pace.get().interval < SPIN_BELOW_INTERVAL
                        || (tokens > 0
                            && self
                                .tokens
                                .pace
                                .get()
                                .interval
                                .saturating_mul(u64::from(tokens))
                                < SPIN_BELOW_INTERVAL);
                    let waited = queue
                        .timer
                        .poll_until(now, at, spin, |at| self.instant(at), cx);
                    drop(queue);
                    if waited.is_pending() {
                        return Poll::Pending;
                    }
                    // The wait is over: try again.
                }
            }
        }
    }

    /// The head leaves the queue (granted or gone): the new head must take
    /// over the timer, so wake it, outside the lock.
    fn pop_head(&self, mut queue: MutexGuard<'_, Queue>) {
        queue.waiters.pop_front();
        let next = queue.head_waker();
        self.queued.store(queue.waiters.len(), Ordering::Release);
        drop(queue);
        if let Some(next) = next {
            next.wake();
        }
    }

    /// A waiter gave up: free its place, and hand the timer on if it was
    /// the head.
    pub(crate) fn cancel(&self, id: u64) {
        let mut queue = self.lock();
        match queue.position(id) {
            Some(0) => self.pop_head(queue),
            Some(at) => queue.cancel_at(at),
            None => {}
        }
    }
}
