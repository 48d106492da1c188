//! One scope's pacing state: GCRA arithmetic on atomics, plus a FIFO of
//! waiters behind a lock that only waiting requests touch.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::time::{Instant, Sleep};

use super::future::Feedback;
use super::limiter::ScopeKey;
use super::pace::Pace;
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
    /// GCRA's theoretical arrival time minus the burst tolerance: the
    /// earliest time the next unit may go. Grants are arithmetic on it, so a
    /// late timer wake-up does not cost throughput. Kept in this form (not
    /// as the TAT itself) so a change of rate or burst re-paces the backlog
    /// without a jump.
    value: AtomicU64,
}

#[derive(Debug, Default)]
struct Queue {
    /// Waiters in arrival order; ids increase front to back. Dropped waiters
    /// are marked and skipped, so a drop costs a binary search, not a shift.
    waiters: VecDeque<Waiter>,
    next_id: u64,
    /// The one timer of the scope, polled by whoever is at the head. Kept
    /// here rather than in each waiter, so a waiting request stays small.
    timer: HeadTimer,
}

/// 24 bytes: the cancelled flag lives in the id's top bit, which a
/// `u64` counter never reaches.
#[derive(Debug)]
struct Waiter {
    tagged_id: u64,
    waker: Option<Waker>,
}

const CANCELLED: u64 = 1 << 63;

impl Waiter {
    fn id(&self) -> u64 {
        self.tagged_id & !CANCELLED
    }

    fn cancelled(&self) -> bool {
        self.tagged_id & CANCELLED != 0
    }
}

impl Queue {
    fn drop_cancelled_front(&mut self) {
        while self.waiters.front().is_some_and(Waiter::cancelled) {
            self.waiters.pop_front();
        }
    }

    fn position(&self, id: u64) -> Option<usize> {
        self.waiters.binary_search_by_key(&id, Waiter::id).ok()
    }

    /// The new head must take over the timer: its waker, to wake it.
    fn head_waker(&mut self) -> Option<Waker> {
        self.drop_cancelled_front();
        self.waiters.front_mut().and_then(|w| w.waker.take())
    }
}

/// Scope time of the epoch: about 146 years of room below it for "long ago".
const BASE: u64 = 1 << 62;

/// Saturating, in 64-bit arithmetic (this runs on every request; `as_nanos`
/// goes through `u128`).
#[inline]
fn nanos(duration: Duration) -> u64 {
    duration
        .as_secs()
        .saturating_mul(1_000_000_000)
        .saturating_add(u64::from(duration.subsec_nanos()))
}

impl Scope {
    pub(crate) fn new(quota: Quota, now: Instant) -> Scope {
        Scope {
            epoch: now,
            pace: Pace::new(quota),
            // Long ago: the bucket starts full.
            allow_at: HotLine {
                value: AtomicU64::new(0),
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

    /// GCRA with a weighted cost. A cost above the burst waits until the
    /// bucket is full, then goes and leaves the scope in debt, so it is never
    /// refused. On refusal, the earliest time it could go.
    ///
    /// `waited`: the request slept for its turn, so it may have been woken
    /// late by the timer (tokio's wheel has 1 ms ticks). It may then keep up
    /// to half an interval of that lateness: the schedule continues from
    /// where it should have been instead of slipping to `now`. Less than one
    /// interval, so a window of whole intervals still admits at most
    /// rate × window + burst. A request that did not wait gets no slack, so
    /// an idle scope never gains more than its burst.
    #[inline]
    fn grant(&self, now: u64, cost: u32, waited: bool) -> Result<(), u64> {
        let (interval, burst) = self.pace.get();
        let tolerance = interval.saturating_mul(u64::from(burst - 1));
        let need = u64::from(cost.min(burst));
        let slack = if waited { interval / 2 } else { 0 };
        // The bucket cannot be fuller than `burst`.
        let full = now.saturating_sub(tolerance).saturating_sub(slack);
        let charge = interval.saturating_mul(u64::from(cost));
        let mut allow_at = self.allow_at.value.load(Ordering::Acquire);
        loop {
            let conforming_at = allow_at.saturating_add(interval.saturating_mul(need - 1));
            let allowed_at = conforming_at.max(self.paused_until.load(Ordering::Acquire));
            if now < allowed_at {
                return Err(allowed_at);
            }
            let next = allow_at.max(full).saturating_add(charge);
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
        self.queued.load(Ordering::Acquire) == 0 && self.grant(self.now(), cost, false).is_ok()
    }

    /// Stops every grant in this scope until `until` (a 429 was seen), then
    /// resumes at half the rate rather than with a burst: the server's
    /// window state is unknown after a 429. 429s that arrive while the scope
    /// is already paused come from the same window and do not cut again.
    pub(crate) fn pause_until(&self, until: Instant, cut_rate: bool) {
        let now = self.now();
        let until = self.time(until);
        let previous = self.paused_until.fetch_max(until, Ordering::AcqRel);
        if cut_rate && previous <= now {
            self.pace.throttled();
        }
        // Resume paced: one unit at `until`, the next an interval later.
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
        self.lock()
            .waiters
            .iter()
            .filter(|w| !w.cancelled())
            .count()
    }

    /// Polls for a grant of `cost`, joining the queue on first poll.
    ///
    /// Only the head of the queue sleeps on a timer; the others sleep until
    /// the head, once granted, wakes its successor. So a scope with 10 000
    /// waiters has one timer, not 10 000.
    fn poll_acquire(&self, cost: u32, slot: &mut u64, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            let now = self.now();
            let mut queue = self.lock();
            let id = match *slot {
                NOT_QUEUED => {
                    if queue.waiters.is_empty() && self.grant(now, cost, false).is_ok() {
                        return Poll::Ready(());
                    }
                    let id = queue.next_id;
                    queue.next_id += 1;
                    queue.waiters.push_back(Waiter {
                        tagged_id: id,
                        waker: Some(cx.waker().clone()),
                    });
                    self.queued.store(queue.waiters.len(), Ordering::Release);
                    *slot = id;
                    id
                }
                id => id,
            };
            queue.drop_cancelled_front();
            if queue.waiters.front().map(Waiter::id) != Some(id) {
                if let Some(at) = queue.position(id) {
                    set_waker(&mut queue.waiters[at].waker, cx);
                }
                return Poll::Pending;
            }
            match self.grant(now, cost, true) {
                Ok(()) => {
                    *slot = NOT_QUEUED;
                    self.pop_head(queue);
                    return Poll::Ready(());
                }
                Err(at) => {
                    if let Some(head) = queue.waiters.front_mut() {
                        set_waker(&mut head.waker, cx);
                    }
                    let waited = queue.timer.poll_until(self, now, at, cx);
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
    fn cancel(&self, id: u64) {
        let mut queue = self.lock();
        let Some(at) = queue.position(id) else {
            return;
        };
        if at == 0 {
            self.pop_head(queue);
        } else {
            queue.waiters[at].tagged_id |= CANCELLED;
            queue.waiters[at].waker = None;
        }
    }
}

fn set_waker(slot: &mut Option<Waker>, cx: &Context<'_>) {
    match slot {
        Some(waker) if waker.will_wake(cx.waker()) => {}
        _ => *slot = Some(cx.waker().clone()),
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
}

/// One request's place in a scope: a future that resolves once the request
/// may go. Dropping it before then gives the place back.
#[derive(Debug)]
pub(crate) struct Acquire {
    scope: Arc<ScopeRef>,
    cost: u32,
    /// Place in the queue, or `NOT_QUEUED`.
    id: u64,
}

/// No place in the queue (ids count up from 0 and never reach it).
const NOT_QUEUED: u64 = u64::MAX;

/// tokio's timer wheel has 1 ms ticks and rounds deadlines up, so a sleep
/// until a grant's time wakes up to 1 ms late, and at 1 000/s with a burst
/// of 1 that halves throughput. The head of a queue therefore sleeps until
/// 1 ms before its time, then yields to the scheduler until its time comes.
const SPIN: u64 = 1_000_000;

#[derive(Debug, Default)]
struct HeadTimer {
    /// Created when a scope first has to wait.
    sleep: Option<Pin<Box<Sleep>>>,
    /// The clock reading of the last yield. If the next poll reads the same
    /// value the clock is paused (tests): yielding would never let it move,
    /// so sleep instead.
    yielded_at: Option<u64>,
}

impl HeadTimer {
    /// Waits, as the head of the queue, until `at` (scope nanoseconds).
    fn poll_until(&mut self, scope: &Scope, now: u64, at: u64, cx: &mut Context<'_>) -> Poll<()> {
        let frozen = self.yielded_at == Some(now);
        self.yielded_at = None;
        if at - now <= SPIN && !frozen {
            self.yielded_at = Some(now);
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let wake_at = if frozen { at } else { at - SPIN };
        let deadline = scope.instant(wake_at);
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if sleep.deadline() != deadline {
            sleep.as_mut().reset(deadline);
        }
        sleep.as_mut().poll(cx)
    }
}

impl Acquire {
    pub(crate) fn new(scope: Arc<ScopeRef>, cost: u32) -> Acquire {
        Acquire {
            scope,
            cost: cost.max(1),
            id: NOT_QUEUED,
        }
    }

    pub(crate) fn scope(&self) -> &Arc<ScopeRef> {
        &self.scope
    }
}

impl Future for Acquire {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        this.scope.scope.poll_acquire(this.cost, &mut this.id, cx)
    }
}

impl Drop for Acquire {
    fn drop(&mut self) {
        if self.id != NOT_QUEUED {
            self.scope.scope.cancel(self.id);
        }
    }
}
