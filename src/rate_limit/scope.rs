//! One scope's pacing state in memory: the GCRA word in an atomic, the live
//! rate, the pause after a 429, and the FIFO of waiters behind a lock that
//! only waiting requests touch.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Instant;

use super::gcra::Ask;
use super::pace::Pace;
use super::queue::{set_waker, Queue, NOT_QUEUED, SPIN_BELOW_INTERVAL};
use super::Quota;

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
    // Cold: read on set-up and by waiters only.
    epoch: Instant,
    queue: Mutex<Queue>,
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

/// Why a scope gave no grant now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Not before this scope time.
    Until(u64),
    /// The scope was evicted: ask its successor.
    Retired,
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

impl Scope {
    pub(crate) fn new(quota: Quota, now: Instant) -> Scope {
        let pace = Pace::new(quota);
        // A full bucket now (not "long ago"), so a new scope counts as idle
        // only once the idle time has passed since it was made.
        let full = pace.get().full_at(BASE);
        Scope {
            epoch: now,
            pace,
            allow_at: HotLine {
                value: AtomicU64::new(full),
            },
            paused_until: AtomicU64::new(0),
            queued: AtomicUsize::new(0),
            queue: Mutex::default(),
        }
    }

    #[inline]
    fn now(&self) -> u64 {
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

    /// One GCRA decision, stored with a compare-and-swap.
    #[inline]
    fn grant(&self, now: u64, ask: Ask) -> Result<(), Refusal> {
        let pacing = self.pace.get();
        let mut allow_at = self.allow_at.value.load(Ordering::Acquire);
        loop {
            if allow_at == RETIRED {
                return Err(Refusal::Retired);
            }
            let paused_until = self.paused_until.load(Ordering::Acquire);
            let next = pacing
                .decide(allow_at, now, ask, paused_until)
                .map_err(Refusal::Until)?
                .min(LATEST);
            match self.allow_at.value.compare_exchange_weak(
                allow_at,
                next,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Ok(()),
                Err(actual) => allow_at = actual,
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        // Every mutation of the queue is complete before anything can panic,
        // so a poisoned lock still guards a consistent queue.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Grants `cost` at once if nobody is waiting and the quota allows.
    #[inline]
    pub(crate) fn try_acquire(&self, cost: u32) -> bool {
        self.queued.load(Ordering::Acquire) == 0
            && self
                .grant(
                    self.now(),
                    Ask {
                        cost,
                        waited: false,
                    },
                )
                .is_ok()
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
        if !queue.waiters.is_empty() || self.pace.is_cut() {
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
        let previous = self.paused_until.fetch_max(until, Ordering::AcqRel);
        if cut_rate && previous <= now {
            self.pace.throttled();
        }
        // Resume paced: one unit at `until`, the next an interval later.
        // (`fetch_max` leaves a retired scope retired.)
        self.allow_at.value.fetch_max(until, Ordering::AcqRel);
    }

    /// The server said how many requests a second it allows here.
    pub(crate) fn learn_limit(&self, per_second: f64) {
        self.pace.learn(per_second);
    }

    /// A request of this scope got an answer other than 429.
    pub(crate) fn succeeded(&self) {
        self.pace.succeeded();
    }

    /// How many requests wait in this scope now.
    pub(crate) fn waiting(&self) -> usize {
        self.lock().live()
    }

    /// Polls for a grant of `cost`, joining the queue on first poll; `slot`
    /// holds the waiter's id (or `NOT_QUEUED`).
    ///
    /// Only the head of the queue sleeps on a timer; the others sleep until
    /// the head, once granted, wakes its successor. So a scope with 10 000
    /// waiters has one timer, not 10 000.
    ///
    /// `Err(())`: the scope was retired before this request joined it; the
    /// caller must ask the scope's successor.
    pub(crate) fn poll_acquire(
        &self,
        cost: u32,
        slot: &mut u64,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), ()>> {
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
                        match self.grant(now, first) {
                            Ok(()) => return Poll::Ready(Ok(())),
                            // Retirement needs an empty queue, under this
                            // lock: once a waiter is queued it cannot happen.
                            Err(Refusal::Retired) => return Poll::Ready(Err(())),
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
            match self.grant(now, ask) {
                Ok(()) => {
                    *slot = NOT_QUEUED;
                    self.pop_head(queue);
                    return Poll::Ready(Ok(()));
                }
                // Unreachable while this waiter is queued (see above); if it
                // ever happened, the successor is the safe answer.
                Err(Refusal::Retired) => {
                    *slot = NOT_QUEUED;
                    self.pop_head(queue);
                    return Poll::Ready(Err(()));
                }
                Err(Refusal::Until(at)) => {
                    if let Some(head) = queue.waiters.front_mut() {
                        set_waker(&mut head.waker, cx);
                    }
                    let spin = self.pace.get().interval < SPIN_BELOW_INTERVAL;
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
