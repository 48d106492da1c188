//! Where a scope's pacing state lives.
//!
//! The pacing rules are pure arithmetic (GCRA on a theoretical arrival
//! time); a store is where the state they work on is kept.
//!
//! - [`Store::Memory`] (the default): atomics in this process, one
//!   compare-and-swap per request. Every service made by one layer shares
//!   it; other processes do not.
//! - `Store::Redis` (feature `redis`): one Redis server shared by many
//!   processes, so a quota that belongs to an organisation and a model is
//!   kept however many workers send under it. See `RedisStore`.
//!
//! The store is chosen once, at build time; everything else about the layer
//! (scopes, first come first served within a process, costs, pauses,
//! adaptation) is the same with either.
//!
//! ```
//! use tower_together::rate_limit::{store::Store, RateLimitBuilder};
//! use tower_together::Quota;
//!
//! let layer = RateLimitBuilder::new(Quota::per_second(20))
//!     .store(Store::Memory)
//!     .build();
//! # drop(layer);
//! ```

#[cfg(feature = "redis")]
mod redis;
mod when_down;

#[cfg(feature = "redis")]
pub use self::redis::RedisStore;
#[cfg(feature = "redis")]
pub(crate) use self::redis::{Answer, Asking, Remote, Shared};
pub use self::when_down::{FailClosed, FailOpen, StoreUnavailable, WhenStoreDown};

/// Where a limiter keeps its scopes' pacing state: chosen once, with
/// [`RateLimitBuilder::store`](super::RateLimitBuilder::store).
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub enum Store {
    /// In this process's memory (the default): the fastest, shared by every
    /// service one layer makes and by nothing else.
    #[default]
    Memory,
    /// In Redis, shared by every process that names the same server, prefix
    /// and secret.
    #[cfg(feature = "redis")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    Redis(RedisStore),
}

#[cfg(feature = "redis")]
impl From<RedisStore> for Store {
    fn from(store: RedisStore) -> Store {
        Store::Redis(store)
    }
}
