//! What a layer does while its shared store is unreachable: decide alone at
//! this process's share ([`FailOpen`], the default), or refuse at once with
//! [`StoreUnavailable`] ([`FailClosed`]).
//!
//! The choice is a type, chosen at build time with
//! [`RateLimitBuilder::fail_closed`](crate::rate_limit::RateLimitBuilder::fail_closed),
//! because it changes the service's error type: a fail-open layer only
//! ever returns its inner service's errors (as tower's own `RateLimit`
//! does), a fail-closed one can also return its own, so its inner errors
//! must take a [`StoreUnavailable`] (`tower::BoxError` does).

use std::fmt;

/// While the store is unreachable, decide alone at `quota / workers` (see
/// [`RedisStore::workers`][workers]) and go back to the store when it
/// answers. The default: a batch job keeps going through a Redis restart.
///
#[cfg_attr(feature = "redis", doc = "[workers]: super::RedisStore::workers")]
#[cfg_attr(
    not(feature = "redis"),
    doc = "[workers]: https://docs.rs/tower-together/latest/tower_together/rate_limit/store/struct.RedisStore.html#method.workers"
)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FailOpen {
    _private: (),
}

/// While the store is unreachable, refuse each request at once with
/// [`StoreUnavailable`], sending nothing: for deployments where going over
/// the organisation's quota costs more than a failed call (the workers
/// cannot know how many of them are still sending).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FailClosed {
    _private: (),
}

/// How a layer answers while its store is unreachable: [`FailOpen`] or
/// [`FailClosed`]. Sealed.
pub trait WhenStoreDown<E>: sealed::Sealed + Send + Sync + 'static {
    /// The error to return instead of sending, or `None` to decide alone.
    #[doc(hidden)]
    fn refuse(unavailable: StoreUnavailable) -> Option<E>;
}

impl<E> WhenStoreDown<E> for FailOpen {
    #[inline]
    fn refuse(_: StoreUnavailable) -> Option<E> {
        None
    }
}

impl<E: From<StoreUnavailable>> WhenStoreDown<E> for FailClosed {
    #[inline]
    fn refuse(unavailable: StoreUnavailable) -> Option<E> {
        Some(E::from(unavailable))
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::FailOpen {}
    impl Sealed for super::FailClosed {}
}

/// A fail-closed layer's store did not answer (within its timeout, or
/// failed in the last second), so the request was not sent.
///
/// Nothing was sent and nothing was taken from any budget: the call can be
/// retried as it is. It names no URL, key or scope.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoreUnavailable {
    _private: (),
}

impl StoreUnavailable {
    pub(crate) fn new() -> StoreUnavailable {
        StoreUnavailable::default()
    }
}

impl fmt::Display for StoreUnavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "the rate limiter's shared store is unreachable and the layer is fail-closed: \
             the request was not sent",
        )
    }
}

impl std::error::Error for StoreUnavailable {}
