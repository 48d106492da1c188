//! One keyed fingerprint of an API key for the whole process, shared by the
//! typed client and the rate limiter, so one key is one scope however its
//! requests are made.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
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

/// The fingerprint of an `Authorization` header value (`Bearer KEY`), of
/// its canonical form (see [`feed`]).
#[inline]
pub(crate) fn of_authorization(value: &[u8]) -> u64 {
    let mut hasher = keyed().build_hasher();
    feed(&mut hasher, value);
    hasher.finish()
}

/// The API key a request is sent with, as the limiter and the circuit
/// breaker both scope it: the `Authorization` header wherever it is present
/// (a shared store names scopes from it too), else the
/// [`ApiKeyFingerprint`](crate::extensions::ApiKeyFingerprint) extension
/// (for a header added below these layers), else 0 (no key).
#[inline]
pub(crate) fn of_request<B>(request: &http::Request<B>) -> u64 {
    match request.headers().get(http::header::AUTHORIZATION) {
        Some(value) => of_authorization(value.as_bytes()),
        None => request
            .extensions()
            .get::<crate::extensions::ApiKeyFingerprint>()
            .map_or(0, |fingerprint| fingerprint.get()),
    }
}

/// Writes the identity an `Authorization` value names into `hasher`: the
/// scheme without regard to case (RFC 9110 §11.1: `Bearer` and `bearer`
/// are one scheme) and the credentials without the white space around
/// them. Every fingerprint of a key, in memory or in a shared store's key
/// names, goes through here, so one key is one identity everywhere.
pub(crate) fn feed(hasher: &mut impl Hasher, value: &[u8]) {
    let value = value.trim_ascii();
    let (scheme, credentials) = match value.iter().position(u8::is_ascii_whitespace) {
        Some(at) => (&value[..at], value[at..].trim_ascii()),
        None => (value, &value[value.len()..]),
    };
    if scheme.eq_ignore_ascii_case(b"bearer") {
        hasher.write(b"bearer");
    } else {
        for byte in scheme {
            hasher.write_u8(byte.to_ascii_lowercase());
        }
    }
    // Apart from the scheme: `Bearer ab` is not `Bearera b`.
    hasher.write_u8(b' ');
    hasher.write(credentials);
}

#[cfg(test)]
mod tests {
    use super::of_authorization;

    #[test]
    fn the_scheme_is_case_blind_and_white_space_does_not_count() {
        let canonical = of_authorization(b"Bearer sk-1");
        for same in ["bearer sk-1", "BEARER  sk-1", " Bearer\tsk-1 "] {
            assert_eq!(of_authorization(same.as_bytes()), canonical, "{same:?}");
        }
        for other in ["Bearer sk-2", "Bearer sk-1x", "Basic sk-1", "Bearersk-1"] {
            assert_ne!(of_authorization(other.as_bytes()), canonical, "{other:?}");
        }
    }
}
