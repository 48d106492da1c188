//! A scope's FIFO of waiters and the one timer its head sleeps on.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use tokio::time::{Instant, Sleep};

#[derive(Debug, Default)]
pub(crate) struct Queue {
    /// Waiters in arrival order; ids increase front to back. Dropped waiters
    /// are marked and skipped, so a drop costs a binary search, not a shift.
    pub(crate) waiters: VecDeque<Waiter>,
    next_id: u64,
    /// The one timer of the scope, polled by whoever is at the head. Kept
    /// here rather than in each waiter, so a waiting request stays small.
    pub(crate) timer: HeadTimer,
}

/// 24 bytes: the cancelled flag lives in the id's top bit, which a `u64`
/// counter never reaches.
#[derive(Debug)]
pub(crate) struct Waiter {
    tagged_id: u64,
    pub(crate) waker: Option<Waker>,
}

const CANCELLED: u64 = 1 << 63;

/// No place in the queue (ids count up from 0 and never reach it).
pub(crate) const NOT_QUEUED: u64 = u64::MAX;

impl Waiter {
    pub(crate) fn id(&self) -> u64 {
        self.tagged_id & !CANCELLED
    }

    pub(crate) fn cancelled(&self) -> bool {
        self.tagged_id & CANCELLED != 0
    }
}

impl Queue {
    /// Joins the back of the queue; returns the new waiter's id.
    pub(crate) fn push(&mut self, waker: Waker) -> u64 {
        let id = self.next_id;
        // 2^63 arrivals in one scope would take centuries at any real rate.
        self.next_id = self.next_id.wrapping_add(1) & !CANCELLED;
        self.waiters.push_back(Waiter {
            tagged_id: id,
            waker: Some(waker),
        });
        id
    }

    pub(crate) fn drop_cancelled_front(&mut self) {
        while self.waiters.front().is_some_and(Waiter::cancelled) {
            self.waiters.pop_front();
        }
    }

    pub(crate) fn position(&self, id: u64) -> Option<usize> {
        self.waiters.binary_search_by_key(&id, Waiter::id).ok()
    }

    /// Marks the waiter at `at` (not the head) as gone.
    pub(crate) fn cancel_at(&mut self, at: usize) {
        if let Some(waiter) = self.waiters.get_mut(at) {
            waiter.tagged_id |= CANCELLED;
            waiter.waker = None;
        }
    }

    /// How many waiters are still there.
    pub(crate) fn live(&self) -> usize {
        self.waiters.iter().filter(|w| !w.cancelled()).count()
    }

    /// The new head must take over the timer: its waker, to wake it.
    pub(crate) fn head_waker(&mut self) -> Option<Waker> {
        self.drop_cancelled_front();
        self.waiters.front_mut().and_then(|w| w.waker.take())
    }
}

/// Stores `cx`'s waker in `slot` unless it already wakes the same task.
pub(crate) fn set_waker(slot: &mut Option<Waker>, cx: &Context<'_>) {
    match slot {
        Some(waker) if waker.will_wake(cx.waker()) => {}
        _ => *slot = Some(cx.waker().clone()),
    }
}

/// tokio's timer wheel has 1 ms ticks and rounds deadlines up, so a sleep
/// until a grant's time wakes up to about 1 ms late. The grant forgives up
/// to half an interval of lateness (see `gcra::Ask::waited`), so that only
/// costs throughput when an interval is shorter than about twice the tick:
/// only then does the head sleep until 1 ms before its time and yield to the
/// scheduler until its time comes. Slower scopes just sleep, and cost no CPU
/// while they wait.
const SPIN: u64 = 1_000_000;

/// Intervals (ns) shorter than this make the head spin its last millisecond.
pub(crate) const SPIN_BELOW_INTERVAL: u64 = 4 * SPIN;

#[derive(Debug, Default)]
pub(crate) struct HeadTimer {
    /// Created when a scope first has to wait.
    sleep: Option<Pin<Box<Sleep>>>,
    /// The clock reading of the last yield. If the next poll reads the same
    /// value the clock is paused (tests): yielding would never let it move,
    /// so sleep instead.
    yielded_at: Option<u64>,
}

impl HeadTimer {
    /// Waits, as the head of the queue, until `at` (scope nanoseconds, after
    /// `now`); `deadline` turns scope time into an `Instant`.
    pub(crate) fn poll_until(
        &mut self,
        now: u64,
        at: u64,
        spin: bool,
        deadline: impl Fn(u64) -> Instant,
        cx: &mut Context<'_>,
    ) -> Poll<()> {
        let frozen = self.yielded_at == Some(now);
        self.yielded_at = None;
        let spin = spin && !frozen;
        if spin && at.saturating_sub(now) <= SPIN {
            self.yielded_at = Some(now);
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let wake_at = if spin { at.saturating_sub(SPIN) } else { at };
        let deadline = deadline(wake_at);
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if sleep.deadline() != deadline {
            sleep.as_mut().reset(deadline);
        }
        sleep.as_mut().poll(cx)
    }
}
