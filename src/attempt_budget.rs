//! The per-call attempt budget the two retry layers share.

use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use http::Request;

/// How many sends one call may make in total, shared by every retry layer it
/// passes through.
///
/// Without it, a [`BackoffLayer`](crate::BackoffLayer) over a
/// [`RetryAfterLayer`](crate::RetryAfterLayer) multiplies their retries: 4
/// resends of 5 sends each is 25 sends for one call. With it, every resend by
/// either layer draws from one count, so a call makes at most
/// [`max_attempts`](AttemptBudget::max_attempts) sends whatever mix of 429s,
/// 5xx and transport errors it meets. Each layer's own `max_retries` still
/// applies: a budget can only lower the number of sends, never raise it.
///
/// Each retry layer inserts one before the call's first send when the
/// request has none (see `BackoffLayer::max_attempts` and
/// `RetryAfterLayer::max_attempts`), so the outermost retry layer makes it,
/// and the layers below find it on the request (and on every copy of it)
/// and draw from the same count. It travels down with the request, never
/// up with a response, so any layer may sit between the retry layers.
/// Insert one yourself to set the budget of one call. Clones share the count (it is behind an `Arc`), which is what
/// carries it across the clones of the request each resend is made from;
/// so give every call its own budget.
///
/// ```
/// use tower_together::extensions::AttemptBudget;
///
/// let mut request = http::Request::new(String::new());
/// request.extensions_mut().insert(AttemptBudget::new(3));
/// let budget = request.extensions().get::<AttemptBudget>().unwrap();
/// assert_eq!(budget.max_attempts(), 3);
/// assert_eq!(budget.sent(), 1, "the first send is always allowed");
/// ```
#[derive(Clone)]
pub struct AttemptBudget {
    max_attempts: u32,
    /// Sends made or granted so far, the first one included.
    sent: Arc<AtomicU32>,
}

impl AttemptBudget {
    /// The default number of sends per call: the first and 4 resends.
    pub const DEFAULT_MAX_ATTEMPTS: u32 = 5;

    /// A budget of `max_attempts` sends in total (0 counts as 1: the first
    /// send always goes).
    pub fn new(max_attempts: u32) -> Self {
        AttemptBudget {
            max_attempts: max_attempts.max(1),
            sent: Arc::new(AtomicU32::new(1)),
        }
    }

    /// The most sends this call may make.
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The sends made (or granted to a resend waiting its turn) so far,
    /// the first one included.
    pub fn sent(&self) -> u32 {
        self.sent.load(Ordering::Acquire)
    }

    /// Claims one more send; `false` when the budget is spent.
    pub(crate) fn try_claim(&self) -> bool {
        let max = self.max_attempts;
        self.sent
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |sent| {
                // `sent < max <= u32::MAX`, so `sent + 1` cannot overflow.
                (sent < max).then_some(sent + 1)
            })
            .is_ok()
    }

    /// Gives `request` a budget of `max_attempts` unless it already carries
    /// one (set by an outer layer or the caller).
    pub(crate) fn ensure<B>(request: &mut Request<B>, max_attempts: u32) {
        let extensions = request.extensions_mut();
        if extensions.get::<AttemptBudget>().is_none() {
            extensions.insert(AttemptBudget::new(max_attempts));
        }
    }

    /// Claims one more send for `request`: `true` when it carries no budget
    /// (a policy used without the layers) or its budget has room.
    pub(crate) fn claim_for<B>(request: &Request<B>) -> bool {
        request
            .extensions()
            .get::<AttemptBudget>()
            .is_none_or(AttemptBudget::try_claim)
    }
}

impl Default for AttemptBudget {
    fn default() -> Self {
        AttemptBudget::new(AttemptBudget::DEFAULT_MAX_ATTEMPTS)
    }
}

impl fmt::Debug for AttemptBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AttemptBudget")
            .field("max_attempts", &self.max_attempts)
            .field("sent", &self.sent())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_stop_at_the_maximum_and_clones_share_them() {
        let budget = AttemptBudget::new(3);
        let clone = budget.clone();
        assert!(budget.try_claim());
        assert!(clone.try_claim());
        assert!(!budget.try_claim());
        assert!(!clone.try_claim());
        assert_eq!(budget.sent(), 3);
    }

    #[test]
    fn zero_and_max_do_not_misbehave() {
        let none = AttemptBudget::new(0);
        assert_eq!(none.max_attempts(), 1);
        assert!(!none.try_claim());
        let all = AttemptBudget::new(u32::MAX);
        for _ in 0..1000 {
            assert!(all.try_claim());
        }
    }
}
