//! One request's place in its scope: a future that resolves once the
//! request may go.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::queue::NOT_QUEUED;
use super::registry::{Origin, ScopeRef};
use super::scope::Halt;
use super::store::StoreUnavailable;

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
}

impl Acquire {
    pub(crate) fn new(scope: Arc<ScopeRef>, cost: u32, tokens: u32) -> Acquire {
        Acquire {
            scope,
            cost: cost.max(1),
            tokens,
            id: NOT_QUEUED,
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
                Poll::Ready(Ok(())) => return Poll::Ready(Ok(())),
                Poll::Pending => return Poll::Pending,
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

impl Drop for Acquire {
    fn drop(&mut self) {
        if self.id != NOT_QUEUED {
            self.scope.scope.cancel(self.id);
        }
    }
}
