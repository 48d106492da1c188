//! One keyed fingerprint of an API key for the whole process, shared by the
//! typed client and the rate limiter, so one key is one scope however its
//! requests are made.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::OnceLock;

/// SipHash with keys drawn at random once per process: a fingerprint cannot
/// be looked up in a table of known keys, and it means nothing outside the
/// process.
fn keyed() -> &'static RandomState {
    static KEY: OnceLock<RandomState> = OnceLock::new();
    KEY.get_or_init(RandomState::new)
}

/// The fingerprint of an `Authorization` header value (`Bearer KEY`).
#[inline]
pub(crate) fn of_authorization(value: &[u8]) -> u64 {
    keyed().hash_one(value)
}
