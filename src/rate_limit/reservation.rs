//! The tokens a request took from its scope's token budget, to be settled
//! against what the answer says it used.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::registry::ScopeRef;
use super::scope::ChargedTo;

/// The tokens a request took from its scope's token budget: set by the rate
/// limiter in the extensions of every response of a scope that paces tokens
/// (see [`Quota::tokens_per_second`](super::Quota::tokens_per_second)).
///
/// Whoever reads the body settles it with the answer's `usage`: the typed
/// client does, for plain and streamed answers alike. Settling refunds what
/// the estimate (the request's [`TokenCost`](crate::extensions::TokenCost))
/// took too much, or charges what it took too little, at most one second's
/// worth of tokens more, so that a garbled usage cannot stall the scope. A
/// reservation never settled keeps the estimate. 429 and 503 answers and
/// transport errors, which Together does not count, are refunded by the
/// limiter itself and carry no reservation.
///
/// Clones share one reservation: only the first `settle` counts.
///
/// ```
/// use tower_together::rate_limit::TokenReservation;
///
/// fn settle<B>(response: &http::Response<B>, total_tokens: u64) {
///     if let Some(reservation) = response.extensions().get::<TokenReservation>() {
///         reservation.settle(total_tokens);
///     }
/// }
/// # settle(&http::Response::new(()), 10);
/// ```
#[derive(Clone)]
pub struct TokenReservation {
    inner: Arc<Reserved>,
}

struct Reserved {
    scope: Arc<ScopeRef>,
    charged: u32,
    /// The budget the tokens were taken from: a shared store's, or this
    /// process's fallback share while the store was down.
    charged_to: ChargedTo,
    settled: AtomicBool,
}

impl TokenReservation {
    pub(crate) fn new(scope: Arc<ScopeRef>, charged: u32, charged_to: ChargedTo) -> Self {
        TokenReservation {
            inner: Arc::new(Reserved {
                scope,
                charged,
                charged_to,
                settled: AtomicBool::new(false),
            }),
        }
    }

    /// The tokens taken when the request was admitted (0 when the scope did
    /// not pace tokens yet, or the request named no cost).
    pub fn charged(&self) -> u32 {
        self.inner.charged
    }

    /// Settles the reservation with the tokens the answer used (prompt and
    /// completion). Only the first call counts.
    pub fn settle(&self, used: u64) {
        if self.inner.settled.swap(true, Ordering::AcqRel) {
            return;
        }
        let Some(scope) = self.inner.scope.live() else {
            return;
        };
        let charged = u64::from(self.inner.charged);
        let delta = if used >= charged {
            // At most one second's worth more: beyond that, a usage is more
            // likely garbage than truth, and the server's own remainders
            // still hold the scope back.
            let burst = scope.rates().1.map_or(0, |tokens| u64::from(tokens.burst));
            i64::try_from((used - charged).min(burst)).unwrap_or(i64::MAX)
        } else {
            -i64::try_from(charged - used).unwrap_or(i64::MAX)
        };
        scope.adjust_tokens(delta, self.inner.charged_to);
    }

    /// Gives every charged token back to the budget they were taken from:
    /// the server did not count the request.
    pub(crate) fn refund(scope: &ScopeRef, charged: u32, charged_to: ChargedTo) {
        if charged == 0 {
            return;
        }
        if let Some(scope) = scope.live() {
            scope.adjust_tokens(-i64::from(charged), charged_to);
        }
    }
}

impl fmt::Debug for TokenReservation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenReservation")
            .field("charged", &self.inner.charged)
            .field("settled", &self.inner.settled.load(Ordering::Relaxed))
            .finish()
    }
}
