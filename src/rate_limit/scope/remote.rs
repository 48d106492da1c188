//! A scope whose state lives in a shared store: the queue and its one
//! timer stay here; only the head of the queue asks the store, one call per
//! admission, and decides alone (at this process's share) while the store
//! is unreachable.

use std::fmt;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use tokio::time::Instant;

use super::super::gcra::{Ask, Pacing};
use super::super::pace::UNLIMITED;
use super::super::queue::{set_waker, NOT_QUEUED};
use super::super::store::{Answer, Asking, Remote};
use super::{nanos, ChargedTo, Halt, Scope};

/// How long after its reserved slot a request is sent. The server measures
/// every arrival against the first one it saw, which went out at once, the
/// moment its answer came back; a reserved slot whose answer came back a
/// few microseconds faster than that first one would reach a server whose
/// bucket the shared quota keeps exactly full a hair early, and be refused
/// (seen: 3 µs early, one 429 in 400 at a quota equal to the limit). A
/// tokio timer tick absorbs that jitter; it delays each paced request, not
/// the pace, because the slots themselves stay where the store put them.
const SLOT_GUARD_NANOS: u64 = 1_000_000;

/// The store's handle for this scope, and what the head of the queue is
/// doing with it.
#[derive(Debug)]
pub(crate) struct RemoteScope {
    remote: Remote,
    /// Touched only under the queue lock (so never contended).
    head: Mutex<Head>,
}

#[derive(Debug, Default)]
struct Head {
    step: Step,
    /// The request units and tokens the call in flight, or the slot
    /// reserved, was asked for. A head that leaves hands both on to the
    /// next head; if that one costs something else, the grant is given back
    /// and the new head asks for its own (see `takes_over`).
    asked: (u32, u32),
    /// The fallback budgets' GCRA states (scope time), used while the store
    /// is down.
    fallback_requests: u64,
    fallback_tokens: u64,
}

/// What the head of the queue is doing. It belongs to the queue, not to a
/// waiter: if the head leaves, the next head takes over the call in flight
/// or the slot it reserved.
#[derive(Default)]
enum Step {
    #[default]
    Idle,
    Asking(Asking),
    /// Sleep until `at` (scope time), then go (a reserved slot) or ask again.
    Until {
        at: u64,
        go: bool,
    },
}

impl fmt::Debug for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Idle => f.write_str("Idle"),
            Step::Asking(_) => f.write_str("Asking"),
            Step::Until { at, go } => f
                .debug_struct("Until")
                .field("at", at)
                .field("go", go)
                .finish(),
        }
    }
}

impl RemoteScope {
    pub(crate) fn new(remote: Remote) -> RemoteScope {
        RemoteScope {
            remote,
            head: Mutex::default(),
        }
    }

    pub(crate) fn remote(&self) -> &Remote {
        &self.remote
    }

    fn head(&self) -> MutexGuard<'_, Head> {
        self.head.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Moves the fallback request budget's state (a grant given back). Call
    /// with the scope's queue lock held.
    pub(crate) fn adjust_fallback_requests(&self, adjust: impl FnOnce(u64) -> u64) {
        let mut head = self.head();
        head.fallback_requests = adjust(head.fallback_requests);
    }

    /// Moves the fallback token budget's state (a settlement of tokens
    /// taken from it). Call with the scope's queue lock held.
    pub(crate) fn adjust_fallback_tokens(&self, adjust: impl FnOnce(u64) -> u64) {
        let mut head = self.head();
        head.fallback_tokens = adjust(head.fallback_tokens);
    }
}

impl Scope {
    /// `poll_acquire` for a scope kept in a store: every request queues, the
    /// head asks the store and sleeps on the scope's one timer.
    pub(super) fn poll_acquire_remote(
        &self,
        remote: &RemoteScope,
        cost: u32,
        tokens: u32,
        slot: &mut u64,
        cx: &mut Context<'_>,
    ) -> Poll<Result<ChargedTo, Halt>> {
        loop {
            let instant = Instant::now();
            let now = self.time(instant);
            let mut queue = self.lock();
            let id = match *slot {
                NOT_QUEUED => {
                    // Retirement needs an empty queue, under this lock.
                    if queue.waiters.is_empty() && self.is_retired() {
                        return Poll::Ready(Err(Halt::Retired));
                    }
                    let id = queue.push(cx.waker().clone());
                    self.queued
                        .store(queue.waiters.len(), std::sync::atomic::Ordering::Release);
                    *slot = id;
                    id
                }
                id => id,
            };
            queue.drop_cancelled_front();
            if queue.waiters.front().map(|w| w.id()) != Some(id) {
                if let Some(at) = queue.position(id) {
                    set_waker(&mut queue.waiters[at].waker, cx);
                }
                return Poll::Pending;
            }
            if let Some(head) = queue.waiters.front_mut() {
                set_waker(&mut head.waker, cx);
            }
            let mut head = remote.head();
            match std::mem::take(&mut head.step) {
                Step::Idle => {
                    // A 429 this process saw pauses it at once, whatever
                    // the store says.
                    let paused = self.paused_until.load(std::sync::atomic::Ordering::Acquire);
                    if now < paused {
                        head.step = Step::Until {
                            at: paused,
                            go: false,
                        };
                    } else if remote.remote.is_down(instant) {
                        if remote.remote.fails_closed() {
                            // Refused at once, nothing taken; the next
                            // head, woken by the pop, is refused in turn.
                            drop(head);
                            *slot = NOT_QUEUED;
                            self.pop_head(queue);
                            return Poll::Ready(Err(Halt::StoreDown));
                        }
                        match self.fallback_grant(remote, &mut head, now, cost, tokens) {
                            Ok(()) => {
                                drop(head);
                                *slot = NOT_QUEUED;
                                self.pop_head(queue);
                                return Poll::Ready(Ok(ChargedTo::Fallback));
                            }
                            Err(at) => head.step = Step::Until { at, go: false },
                        }
                    } else {
                        let (requests, token_pacing) = self.rates();
                        let asked = token_pacing.map(|pacing| (pacing, tokens));
                        head.asked = (cost, asked.map_or(0, |_| tokens));
                        head.step = Step::Asking(remote.remote.ask(requests, cost, asked));
                    }
                }
                Step::Asking(mut asking) => match asking.as_mut().poll(cx) {
                    Poll::Pending => {
                        head.step = Step::Asking(asking);
                        return Poll::Pending;
                    }
                    Poll::Ready(Ok(Answer::Go | Answer::GoIn(_)))
                        if !self.takes_over(remote, &head, cost, tokens) => {}
                    Poll::Ready(Ok(Answer::Go)) => {
                        drop(head);
                        *slot = NOT_QUEUED;
                        self.pop_head(queue);
                        return Poll::Ready(Ok(ChargedTo::Scope));
                    }
                    Poll::Ready(Ok(Answer::GoIn(wait))) => {
                        let at = now.saturating_add(nanos(wait) + SLOT_GUARD_NANOS);
                        head.step = Step::Until { at, go: true };
                    }
                    Poll::Ready(Ok(Answer::AskIn(wait))) => {
                        let at = now.saturating_add(nanos(wait));
                        head.step = Step::Until { at, go: false };
                    }
                    // Reported by the store; the next turn decides alone.
                    Poll::Ready(Err(_)) => {}
                },
                Step::Until { at, go } => {
                    if now >= at {
                        if go && self.takes_over(remote, &head, cost, tokens) {
                            drop(head);
                            *slot = NOT_QUEUED;
                            self.pop_head(queue);
                            return Poll::Ready(Ok(ChargedTo::Scope));
                        }
                    } else {
                        head.step = Step::Until { at, go };
                        drop(head);
                        let waited =
                            queue
                                .timer
                                .poll_until(now, at, false, |at| self.instant(at), cx);
                        if waited.is_pending() {
                            return Poll::Pending;
                        }
                    }
                }
            }
        }
    }

    /// Whether the store's grant, asked for `head.asked`, is this head's
    /// to take (it costs `cost` units and `tokens` tokens). If another head
    /// asked for another cost and left, the grant goes back and this head
    /// must ask for its own: the budget is charged for the request that
    /// goes. (Given back in the background, so a new ask racing it sees the
    /// old charge: slower, never faster.)
    fn takes_over(&self, remote: &RemoteScope, head: &Head, cost: u32, tokens: u32) -> bool {
        let (requests, token_pacing) = self.rates();
        let wanted = (cost, token_pacing.map_or(0, |_| tokens));
        if head.asked == wanted {
            return true;
        }
        let (asked_cost, asked_tokens) = head.asked;
        remote
            .remote
            .share_requests(-i64::from(asked_cost), requests);
        if let Some(token_pacing) = token_pacing {
            remote
                .remote
                .share_tokens(-i64::from(asked_tokens), token_pacing);
        }
        false
    }

    /// Decides alone while the store is down, at this process's share of
    /// each budget. `Err(at)`: not before then.
    fn fallback_grant(
        &self,
        remote: &RemoteScope,
        head: &mut Head,
        now: u64,
        cost: u32,
        tokens: u32,
    ) -> Result<(), u64> {
        let ask = Ask { cost, waited: true };
        let (requests, token_pacing) = self.rates();
        let requests = remote.remote.fallback(requests);
        let next_requests = requests.decide(head.fallback_requests, now, ask, 0);
        let token_pacing = token_pacing
            .filter(|pacing| tokens > 0 && pacing.interval != UNLIMITED)
            .map(|pacing: Pacing| remote.remote.fallback(pacing));
        let next_tokens = token_pacing.map(|pacing| {
            let ask = Ask {
                cost: tokens,
                waited: true,
            };
            pacing.decide(head.fallback_tokens, now, ask, 0)
        });
        match (next_requests, next_tokens) {
            (Ok(requests), None) => {
                head.fallback_requests = requests;
                Ok(())
            }
            (Ok(requests), Some(Ok(tokens))) => {
                head.fallback_requests = requests;
                head.fallback_tokens = tokens;
                Ok(())
            }
            (Err(at), None | Some(Ok(_))) | (Ok(_), Some(Err(at))) => Err(at),
            (Err(a), Some(Err(b))) => Err(a.max(b)),
        }
    }
}
