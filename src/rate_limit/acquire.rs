//! One request's place in its scope while it waits for its slot.

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use super::queue::NOT_QUEUED;
use super::registry::{Origin, ScopeRef};
use super::scope::{ChargedTo, Halt};
use super::store::StoreUnavailable;
use crate::telemetry::metrics;

/// `waiting_since` of a request that has not had to wait (scope time is
/// never 0: it starts at `2^62`).
const NOT_WAITING: u64 = 0;

/// Where a waiting request stands in its scope: its place in the queue and
/// when it began to wait. The scope itself is the response future's (one
/// handle per request, not two): every call passes it in, and the future
/// calls [`leave`](Place::leave) when it is dropped while waiting.
///
/// Small on purpose: it sits in every waiting request's future, and the
/// future's size decides the tokio task's allocation (see BENCHMARKS.md,
/// memory per waiter).
#[derive(Debug)]
pub(crate) struct Place {
    /// Place in the queue, or `NOT_QUEUED`.
    id: u64,
    /// When the request first had to wait (scope time), or `NOT_WAITING`:
    /// a request granted on its first poll reads no clock for telemetry.
    waiting_since: u64,
}

impl Place {
    pub(crate) const fn new() -> Place {
        Place {
            id: NOT_QUEUED,
            waiting_since: NOT_WAITING,
        }
    }

    /// Ready once the request may go (with the budget it was charged to),
    /// or with [`StoreUnavailable`] when a fail-closed layer's store is
    /// down. `scope` moves to the successor of
    /// a scope that was swept away as idle before this request joined it.
    pub(crate) fn poll(
        &mut self,
        scope: &mut Arc<ScopeRef>,
        cost: u32,
        tokens: u32,
        cx: &mut Context<'_>,
    ) -> Poll<Result<ChargedTo, StoreUnavailable>> {
        loop {
            match scope
                .scope
                .poll_acquire(cost.max(1), tokens, &mut self.id, cx)
            {
                Poll::Ready(Ok(charged)) => {
                    if self.waiting_since != NOT_WAITING {
                        waited(scope, self.waiting_since);
                    }
                    return Poll::Ready(Ok(charged));
                }
                Poll::Pending => {
                    if self.waiting_since == NOT_WAITING {
                        self.waiting_since = scope.scope.now();
                    }
                    return Poll::Pending;
                }
                Poll::Ready(Err(Halt::StoreDown)) => {
                    return Poll::Ready(Err(StoreUnavailable::new()));
                }
                // The scope was swept away as idle before this request
                // joined it (so it never waited there): join its successor.
                Poll::Ready(Err(Halt::Retired)) => {
                    let Some(limiter) = scope.limiter.upgrade() else {
                        // The limiter is gone, and nobody can share this
                        // budget any more: go.
                        return Poll::Ready(Ok(ChargedTo::Scope));
                    };
                    let origin = Origin::Successor(&scope.scope);
                    let successor = ScopeRef::new(&limiter, scope.key.clone(), origin);
                    *scope = Arc::new(successor);
                }
            }
        }
    }

    /// Gives the place back, if the request holds one (it was dropped while
    /// waiting).
    pub(crate) fn leave(&mut self, scope: &ScopeRef) {
        if self.id != NOT_QUEUED {
            scope.scope.cancel(self.id);
            self.id = NOT_QUEUED;
        }
    }
}

/// The request waited for its slot since `since` (scope time): one event,
/// with the reason (`paused`: a pause after a 429 held the scope for some
/// of the wait; else `paced`), and the wait histogram. Only waiters get
/// here.
#[cold]
fn waited(scope: &ScopeRef, since: u64) {
    let wait = Duration::from_nanos(scope.scope.now().saturating_sub(since));
    let reason = if scope.scope.paused_since(since) {
        "paused"
    } else {
        "paced"
    };
    tracing::debug!(
        reason,
        wait_ms = wait.as_millis() as u64,
        "rate limiter: waited for a slot"
    );
    metrics::slot_wait(scope.key.endpoint, scope.key.model.as_ref(), wait);
}
