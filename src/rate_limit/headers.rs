//! What an answer's headers state about the limits: Together's
//! `x-ratelimit-*` (requests per second) and `x-tokenlimit-*` (tokens per
//! second), preferring the `-dynamic` variants, which carry the rate the
//! server enforces now, when both are present.
//!
//! Garbage (not a number, negative, infinite, absurdly large) reads as
//! absent: a broken header must never stall or speed up a scope. Numbers are
//! read as the retry layers read them ([`wait_hint`](crate::wait_hint)).

use http::header::{HeaderMap, HeaderName};

static REQUEST_LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
static REQUEST_LIMIT_DYNAMIC: HeaderName = HeaderName::from_static("x-ratelimit-limit-dynamic");
static REQUEST_REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
static REQUEST_REMAINING_DYNAMIC: HeaderName =
    HeaderName::from_static("x-ratelimit-remaining-dynamic");
static TOKEN_LIMIT: HeaderName = HeaderName::from_static("x-tokenlimit-limit");
static TOKEN_LIMIT_DYNAMIC: HeaderName = HeaderName::from_static("x-tokenlimit-limit-dynamic");
static TOKEN_REMAINING: HeaderName = HeaderName::from_static("x-tokenlimit-remaining");
static TOKEN_REMAINING_DYNAMIC: HeaderName =
    HeaderName::from_static("x-tokenlimit-remaining-dynamic");

/// Larger than any real per-second limit; above it a value is garbage.
const ABSURD: f64 = 1e12;

/// The limits an answer states (per second).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Stated {
    pub(crate) request_limit: Option<f64>,
    pub(crate) token_limit: Option<f64>,
    pub(crate) remaining: Option<u64>,
    pub(crate) remaining_tokens: Option<u64>,
}

impl Stated {
    pub(crate) fn is_empty(&self) -> bool {
        *self == Stated::default()
    }
}

fn number(headers: &HeaderMap, name: &HeaderName) -> Option<f64> {
    let value = crate::wait_hint::parse_number(headers.get(name)?.to_str().ok()?)?;
    (value.is_finite() && (0.0..ABSURD).contains(&value)).then_some(value)
}

fn either(headers: &HeaderMap, dynamic: &HeaderName, plain: &HeaderName) -> Option<f64> {
    number(headers, dynamic).or_else(|| number(headers, plain))
}

/// Reads the limit headers of an answer. Cheap when there are none.
#[inline]
pub(crate) fn stated(headers: &HeaderMap) -> Stated {
    if headers.is_empty() {
        return Stated::default();
    }
    let positive = |v: f64| (v > 0.0).then_some(v);
    // Whole units: "9.0" remaining is 9; the cast is in range (< ABSURD).
    let whole = |v: f64| v.floor() as u64;
    Stated {
        request_limit: either(headers, &REQUEST_LIMIT_DYNAMIC, &REQUEST_LIMIT).and_then(positive),
        token_limit: either(headers, &TOKEN_LIMIT_DYNAMIC, &TOKEN_LIMIT).and_then(positive),
        remaining: either(headers, &REQUEST_REMAINING_DYNAMIC, &REQUEST_REMAINING).map(whole),
        remaining_tokens: either(headers, &TOKEN_REMAINING_DYNAMIC, &TOKEN_REMAINING).map(whole),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(name, value)| {
                (
                    HeaderName::from_static(name),
                    http::HeaderValue::from_str(value).unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn dynamic_variants_win_and_garbage_reads_as_absent() {
        let both = stated(&headers(&[
            ("x-ratelimit-limit", "10"),
            ("x-ratelimit-limit-dynamic", "4"),
            ("x-tokenlimit-limit", "20000"),
            ("x-ratelimit-remaining", "3.0"),
            ("x-tokenlimit-remaining", "-5"),
        ]));
        assert_eq!(both.request_limit, Some(4.0));
        assert_eq!(both.token_limit, Some(20_000.0));
        assert_eq!(both.remaining, Some(3));
        assert_eq!(both.remaining_tokens, None);
        for garbage in ["", "abc", "NaN", "inf", "-1", "0", "1e300", "10 20"] {
            let read = stated(&headers(&[
                ("x-ratelimit-limit", garbage),
                ("x-tokenlimit-limit", garbage),
            ]));
            assert_eq!(read.request_limit, None, "{garbage:?}");
            assert_eq!(read.token_limit, None, "{garbage:?}");
        }
        assert!(stated(&HeaderMap::new()).is_empty());
    }
}
