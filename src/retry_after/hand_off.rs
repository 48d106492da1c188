//! A 429 handed up to the retry layer above, with the policy to resend it
//! under.
//!
//! A [`RetryAfter`](super::RetryAfter) below a [`Backoff`](crate::backoff::Backoff)
//! that holds a copy of the call's request keeps no copy of its own: each
//! copy of an `http::Request` clones its headers and every extension, about
//! five allocations for the typed client's requests. It sends the request
//! on, and tags a 429 answer with its policy; the layer above resends the
//! 429 from its copy under that policy, exactly as this layer would have:
//! the same wait, jitter, limits, budgets and metrics.

use http::Response;

use super::policy::RetryAfterPolicy;

/// The response extension a [`RetryAfter`](super::RetryAfter) puts on a 429
/// it hands up. The layer above takes it off before anything else sees the
/// answer.
#[derive(Clone, Copy, Debug)]
pub(crate) struct HandOff429(pub(crate) RetryAfterPolicy);

impl HandOff429 {
    /// Tags `response` when it is a 429 (an allocation, on a 429 only).
    pub(crate) fn tag<B>(response: &mut Response<B>, policy: RetryAfterPolicy) {
        if response.status() == http::StatusCode::TOO_MANY_REQUESTS {
            response.extensions_mut().insert(HandOff429(policy));
        }
    }

    /// Takes the tag off `response`: the policy of the layer below, when it
    /// handed this 429 up.
    pub(crate) fn take<B>(response: &mut Response<B>) -> Option<RetryAfterPolicy> {
        response
            .extensions_mut()
            .remove::<HandOff429>()
            .map(|HandOff429(policy)| policy)
    }
}
