//! One scope's pacing state: GCRA arithmetic plus a FIFO of waiters.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::time::{Instant, Sleep};

use super::Quota;

/// A scope's shared state. Every request of one (key, endpoint, model) goes
/// through the same `Scope`, whichever service clone it came from.
#[derive(Debug)]
pub(crate) struct Scope {
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    quota: Quota,
    /// Theoretical arrival time (GCRA): when the bucket would be empty again
    /// if nothing more were sent. Grants are arithmetic on it, so a late
    /// timer wake-up does not cost throughput.
    tat: Instant,
    /// No grant before this instant (set by a 429).
    paused_until: Instant,
    /// Waiters in arrival order; ids increase front to back. Dropped waiters
    /// are marked and skipped, so a drop costs a binary search, not a shift.
    queue: VecDeque<Waiter>,
    next_id: u64,
}

#[derive(Debug)]
struct Waiter {
    id: u64,
    waker: Option<Waker>,
    cancelled: bool,
}

/// Why a grant cannot happen yet: the earliest instant it could.
type NotUntil = Instant;

impl State {
    /// GCRA with a weighted cost. A cost above the burst waits until the
    /// bucket is full, then goes and leaves the scope in debt, so it is never
    /// refused.
    fn grant(&mut self, now: Instant, cost: u32) -> Result<(), NotUntil> {
        let interval = self.quota.emission_interval();
        let burst = self.quota.burst_size();
        let tolerance = interval.saturating_mul(burst - 1);
        let need = cost.min(burst);
        // `None`: so long ago that the clock cannot express it; conforming.
        let conforming_at = add(self.tat, interval.saturating_mul(need - 1)).checked_sub(tolerance);
        let allowed_at = conforming_at.map_or(self.paused_until, |at| at.max(self.paused_until));
        if now < allowed_at {
            return Err(allowed_at);
        }
        // A waiter woken late by the timer (tokio's wheel has 1 ms ticks) may
        // keep up to half an interval of its lateness: the schedule continues
        // from the theoretical time instead of slipping to `now`. Less than
        // one interval, so a window of whole intervals still admits at most
        // rate × window + burst.
        let slack = interval / 2;
        let base = self.tat.max(sub(now, slack));
        self.tat = add(base, interval.saturating_mul(cost));
        Ok(())
    }

    fn drop_cancelled_front(&mut self) {
        while self.queue.front().is_some_and(|w| w.cancelled) {
            self.queue.pop_front();
        }
    }

    fn position(&self, id: u64) -> Option<usize> {
        self.queue.binary_search_by_key(&id, |w| w.id).ok()
    }

    /// The new head must take over the timer: wake it.
    fn head_waker(&mut self) -> Option<Waker> {
        self.drop_cancelled_front();
        self.queue.front_mut().and_then(|w| w.waker.take())
    }
}

impl Scope {
    pub(crate) fn new(quota: Quota, now: Instant) -> Scope {
        Scope {
            state: Mutex::new(State {
                quota,
                // A full bucket: `burst` units may go at once.
                tat: now,
                paused_until: now,
                queue: VecDeque::new(),
                next_id: 0,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere while holding the lock leaves the state
        // consistent (every mutation is a single assignment), so go on.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Grants `cost` at once if nobody is waiting and the quota allows.
    pub(crate) fn try_acquire(&self, cost: u32) -> bool {
        let now = Instant::now();
        let mut state = self.lock();
        state.queue.is_empty() && state.grant(now, cost).is_ok()
    }

    /// Stops every grant in this scope until `until` (a 429 was seen), then
    /// resumes at the quota's rate rather than with a burst: the server's
    /// window state is unknown after a 429.
    pub(crate) fn pause_until(&self, until: Instant) {
        let mut state = self.lock();
        if until > state.paused_until {
            state.paused_until = until;
            let tolerance = state
                .quota
                .emission_interval()
                .saturating_mul(state.quota.burst_size() - 1);
            state.tat = state.tat.max(add(until, tolerance));
        }
    }

    /// The quota this scope paces by.
    pub(crate) fn quota(&self) -> Quota {
        self.lock().quota
    }

    /// How many requests wait in this scope now.
    pub(crate) fn waiting(&self) -> usize {
        self.lock().queue.iter().filter(|w| !w.cancelled).count()
    }

    /// Polls for a grant of `cost`, joining the queue on first poll.
    ///
    /// Only the head of the queue sleeps on a timer; the others sleep until
    /// the head, once granted, wakes its successor. So a scope with 10 000
    /// waiters has one timer, not 10 000.
    fn poll_acquire(
        &self,
        cost: u32,
        slot: &mut Option<u64>,
        sleep: &mut Option<Pin<Box<Sleep>>>,
        cx: &mut Context<'_>,
    ) -> Poll<()> {
        loop {
            let now = Instant::now();
            let mut state = self.lock();
            let id = match *slot {
                Some(id) => id,
                None => {
                    if state.queue.is_empty() && state.grant(now, cost).is_ok() {
                        return Poll::Ready(());
                    }
                    let id = state.next_id;
                    state.next_id += 1;
                    state.queue.push_back(Waiter {
                        id,
                        waker: Some(cx.waker().clone()),
                        cancelled: false,
                    });
                    *slot = Some(id);
                    id
                }
            };
            state.drop_cancelled_front();
            if state.queue.front().map(|w| w.id) != Some(id) {
                if let Some(at) = state.position(id) {
                    set_waker(&mut state.queue[at].waker, cx);
                }
                return Poll::Pending;
            }
            match state.grant(now, cost) {
                Ok(()) => {
                    state.queue.pop_front();
                    *slot = None;
                    let next = state.head_waker();
                    drop(state);
                    if let Some(next) = next {
                        next.wake();
                    }
                    return Poll::Ready(());
                }
                Err(at) => {
                    if let Some(head) = state.queue.front_mut() {
                        set_waker(&mut head.waker, cx);
                    }
                    drop(state);
                    let sleep = sleep.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(at)));
                    if sleep.deadline() != at {
                        sleep.as_mut().reset(at);
                    }
                    if sleep.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    // The deadline passed while we computed it: try again.
                }
            }
        }
    }

    /// A waiter gave up: free its place, and hand the timer on if it was
    /// the head.
    fn cancel(&self, id: u64) {
        let mut state = self.lock();
        let Some(at) = state.position(id) else {
            return;
        };
        if at == 0 {
            state.queue.pop_front();
            let next = state.head_waker();
            drop(state);
            if let Some(next) = next {
                next.wake();
            }
        } else {
            state.queue[at].cancelled = true;
            state.queue[at].waker = None;
        }
    }
}

fn set_waker(slot: &mut Option<Waker>, cx: &Context<'_>) {
    match slot {
        Some(waker) if waker.will_wake(cx.waker()) => {}
        _ => *slot = Some(cx.waker().clone()),
    }
}

/// Instant arithmetic that saturates instead of panicking on absurd quotas.
fn add(at: Instant, by: Duration) -> Instant {
    at.checked_add(by)
        .unwrap_or_else(|| at + Duration::from_secs(86_400 * 365 * 30))
}

fn sub(at: Instant, by: Duration) -> Instant {
    at.checked_sub(by).unwrap_or(at)
}

/// One request's place in a scope: a future that resolves once the request
/// may go. Dropping it before then gives the place back.
#[derive(Debug)]
pub(crate) struct Acquire {
    scope: Arc<Scope>,
    cost: u32,
    id: Option<u64>,
    /// Boxed, and only created for the head of the queue: waiters behind it
    /// stay small.
    sleep: Option<Pin<Box<Sleep>>>,
}

impl Acquire {
    pub(crate) fn new(scope: Arc<Scope>, cost: u32) -> Acquire {
        Acquire {
            scope,
            cost: cost.max(1),
            id: None,
            sleep: None,
        }
    }

    pub(crate) fn scope(&self) -> &Arc<Scope> {
        &self.scope
    }
}

impl Future for Acquire {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        this.scope
            .poll_acquire(this.cost, &mut this.id, &mut this.sleep, cx)
    }
}

impl Drop for Acquire {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            self.scope.cancel(id);
        }
    }
}
