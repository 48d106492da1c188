//! One keyed fingerprint of an API key for the whole process, shared by the
//! typed client and the rate limiter, so one key is one scope however its
//! requests are made.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::OnceLock;

use foldhash::quality::FixedState;

/// foldhash seeded once per process from std's random keys: a fingerprint
/// cannot be looked up in a table of known keys, and it means nothing
/// outside the process. Not SipHash: this runs on every request that
/// carries a raw `Authorization` header, and foldhash costs a fraction of
/// it for a value this short; its seed is never shown, and an API key has
/// far too much entropy for 64 bits of output to give it away.
fn keyed() -> &'static FixedState {
    static KEY: OnceLock<FixedState> = OnceLock::new();
    KEY.get_or_init(|| {
        FixedState::with_seed(RandomState::new().hash_one(0x746f_7765_725f_6b65_u64))
    })
}

/// The fingerprint of an `Authorization` header value (`Bearer KEY`).
#[inline]
pub(crate) fn of_authorization(value: &[u8]) -> u64 {
    keyed().hash_one(value)
}
