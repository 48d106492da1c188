//! One request's place in its scope: a future that resolves once the
//! request may go.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::time::Instant;

use super::queue::NOT_QUEUED;
use super::registry::{Origin, ScopeRef};
use super::scope::Halt;
use super::store::StoreUnavailable;
use crate::telemetry::metrics;

/// Resolves once the request may go, or with [`StoreUnavailable`] when a
/// fail-closed layer's store is down. Dropping it before then gives the
/// place back.
#[derive(Debug)]
pub(crate) struct Acquire {
    scope: Arc<ScopeRef>,
    cost: u32,
    tokens: u32,
    /// Place in the queue, or `NOT_QUEUED`.
    id: u64,
    /// When the request first had to wait; `None` while it has not, so a
    /// request granted on its first poll reads no clock for telemetry.
    waiting_since: Option<Instant>,
}

impl Acquire {
    pub(crate) fn new(scope: Arc<ScopeRef>, cost: u32, tokens: u32) -> Acquire {
        Acquire {
            scope,
            cost: cost.max(1),
            tokens,
            id: NOT_QUEUED,
            waiting_since: None,
        }
    }

    /// The scope the request was granted in (after `poll` is ready).
    pub(crate) fn scope(&self) -> &Arc<ScopeRef> {
        &self.scope
    }
}

impl Future for Acquire {
    type Output = Result<(), StoreUnavailable>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        loop {
            match this
                .scope
                .scope
                .poll_acquire(this.cost, this.tokens, &mut this.id, cx)
            {
                Poll::Ready(Ok(())) => {
                    if let Some(since) = this.waiting_since {
                        waited(&this.scope, since);
                    }
                    return Poll::Ready(Ok(()));
                }
                Poll::Pending => {
                    if this.waiting_since.is_none() {
                        this.waiting_since = Some(Instant::now());
                    }
                    return Poll::Pending;
                }
                Poll::Ready(Err(Halt::StoreDown)) => {
                    return Poll::Ready(Err(StoreUnavailable::new()));
                }
                // The scope was swept away as idle before this request
                // joined it: join its successor instead.
                Poll::Ready(Err(Halt::Retired)) => {
                    let Some(limiter) = this.scope.limiter.upgrade() else {
                        // The limiter is gone, and nobody can share this
                        // budget any more: go.
                        return Poll::Ready(Ok(()));
                    };
                    let origin = Origin::Successor(&this.scope.scope);
                    let successor = ScopeRef::new(&limiter, this.scope.key.clone(), origin);
                    this.scope = Arc::new(successor);
                }
            }
        }
    }
}

/// The request waited for its slot since `since`: one event, with the
/// reason (`paused`: a pause after a 429 held the scope for some of the
/// wait; else `paced`), and the wait histogram. Only waiters get here.
#[cold]
fn waited(scope: &ScopeRef, since: Instant) {
    let wait = since.elapsed();
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

impl Drop for Acquire {
    fn drop(&mut self) {
        if self.id != NOT_QUEUED {
            self.scope.scope.cancel(self.id);
        }
    }
}
