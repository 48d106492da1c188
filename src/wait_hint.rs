//! Reading the server's "wait this long" hints from response headers.
//!
//! The three layers share these readings so they agree on what a header
//! means; they are public for code that composes its own retry policy. Every
//! function is total: a malformed, negative, NaN or infinite value is `None`
//! (the caller then uses its default), a huge one is clamped to
//! [`MAX_HINT`], and nothing panics or overflows, whatever bytes the server
//! sent.
//!
//! ```
//! use std::time::Duration;
//! use tower_together::wait_hint;
//!
//! let mut headers = http::HeaderMap::new();
//! headers.insert("retry-after", "1.5".parse().unwrap());
//! assert_eq!(wait_hint::retry_after(&headers), Some(Duration::from_millis(1500)));
//!
//! headers.insert("retry-after-ms", "250".parse().unwrap());
//! assert_eq!(wait_hint::server_wait(&headers), Some(Duration::from_millis(250)));
//!
//! headers.insert("x-should-retry", "false".parse().unwrap());
//! assert_eq!(wait_hint::should_retry(&headers), Some(false));
//! ```

use std::time::{Duration, SystemTime};

use http::{HeaderMap, HeaderName};

/// Longest wait a header can ask for: one day. Anything longer is clamped,
/// so arithmetic on instants never overflows; the layers' own `max_wait`
/// caps are far below it anyway.
pub const MAX_HINT: Duration = Duration::from_secs(86_400);

/// `retry-after-ms` (float milliseconds), else `Retry-After` as (float)
/// seconds or an HTTP-date (IMF-fixdate, RFC 850 or asctime), measured
/// against the response's `Date` header when it has one. A date in the past
/// is `Duration::ZERO`.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    if let Some(ms) = header_str(headers, &RETRY_AFTER_MS).and_then(parse_millis) {
        return Some(ms);
    }
    let value = header_str(headers, &http::header::RETRY_AFTER)?;
    parse_seconds(value).or_else(|| parse_http_date(value, headers))
}

/// `x-ratelimit-reset`: seconds (possibly fractional) until the per-second
/// window resets, per Together's docs.
pub fn ratelimit_reset(headers: &HeaderMap) -> Option<Duration> {
    header_str(headers, &X_RATELIMIT_RESET).and_then(parse_seconds)
}

/// `x-ratelimit-limit`: the requests per second the server allows this key
/// (and model), per Together's docs. Positive and finite, or `None`.
pub fn ratelimit_limit(headers: &HeaderMap) -> Option<f64> {
    let limit = parse_number(header_str(headers, &X_RATELIMIT_LIMIT)?)?;
    (limit.is_finite() && limit > 0.0).then_some(limit)
}

/// The server's wait hint, best source first: [`retry_after`], else
/// [`ratelimit_reset`].
pub fn server_wait(headers: &HeaderMap) -> Option<Duration> {
    retry_after(headers).or_else(|| ratelimit_reset(headers))
}

/// `x-should-retry: true|false` (any case, surrounding spaces ignored),
/// which Together's SDKs obey over everything; `None` when absent or
/// anything else.
pub fn should_retry(headers: &HeaderMap) -> Option<bool> {
    match header_str(headers, &X_SHOULD_RETRY)?.trim() {
        v if v.eq_ignore_ascii_case("true") => Some(true),
        v if v.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

// Names built once: looking a header up by `&str` parses and lowercases the
// name on every call, and these are read on every response.
static RETRY_AFTER_MS: HeaderName = HeaderName::from_static("retry-after-ms");
static X_RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
static X_RATELIMIT_RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");
static X_SHOULD_RETRY: HeaderName = HeaderName::from_static("x-should-retry");

fn header_str<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a str> {
    headers.get(name)?.to_str().ok()
}

fn parse_millis(value: &str) -> Option<Duration> {
    from_secs(parse_number(value)? / 1000.0)
}

fn parse_seconds(value: &str) -> Option<Duration> {
    from_secs(parse_number(value)?)
}

/// A decimal number (`12`, `2.5`, `1e3`): Rust's float grammar without its
/// words, so `inf`, `infinity` and `NaN` are garbage here, while digits too
/// many for an `f64` still read as a (huge) number.
pub(crate) fn parse_number(value: &str) -> Option<f64> {
    let value = value.trim();
    let numeric = |b: u8| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-');
    if !value.bytes().all(numeric) {
        return None;
    }
    value.parse().ok()
}

/// Non-negative seconds as a wait, clamped to [`MAX_HINT`]; negative or NaN
/// is no wait at all.
fn from_secs(secs: f64) -> Option<Duration> {
    if secs.is_nan() || secs < 0.0 {
        return None;
    }
    // `try_from_secs_f64` fails only above `Duration::MAX` (infinity
    // included): that is a huge wait, so it clamps like one.
    Some(Duration::try_from_secs_f64(secs).map_or(MAX_HINT, |d| d.min(MAX_HINT)))
}

/// An HTTP-date is measured against the response's own `Date` header when it
/// has one (so client clock skew does not matter, as RFC 9110 suggests), else
/// against the local wall clock. A date in the past means "now".
fn parse_http_date(value: &str, headers: &HeaderMap) -> Option<Duration> {
    let at = httpdate::parse_http_date(value.trim()).ok()?;
    let now = header_str(headers, &http::header::DATE)
        .and_then(|d| httpdate::parse_http_date(d.trim()).ok())
        .unwrap_or_else(SystemTime::now);
    Some(
        at.duration_since(now)
            .unwrap_or(Duration::ZERO)
            .min(MAX_HINT),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn milliseconds_win_over_seconds() {
        let h = headers(&[("retry-after-ms", "1500.5"), ("retry-after", "9")]);
        assert_eq!(retry_after(&h), Some(Duration::from_micros(1_500_500)));
    }

    #[test]
    fn fractional_seconds() {
        assert_eq!(
            retry_after(&headers(&[("retry-after", " 2.25 ")])),
            Some(Duration::from_millis(2250))
        );
    }

    #[test]
    fn http_date_relative_to_date_header() {
        let h = headers(&[
            ("retry-after", "Wed, 21 Oct 2015 07:28:07 GMT"),
            ("date", "Wed, 21 Oct 2015 07:28:00 GMT"),
        ]);
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
    }

    #[test]
    fn past_http_date_means_now() {
        let h = headers(&[("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT")]);
        assert_eq!(retry_after(&h), Some(Duration::ZERO));
    }

    #[test]
    fn garbage_negative_and_nan_are_ignored() {
        for bad in [
            "soon", "-3", "NaN", "inf", "+inf", "infinity", "", "1e400x", "0x10", "1_000",
        ] {
            assert_eq!(
                retry_after(&headers(&[("retry-after", bad)])),
                None,
                "{bad}"
            );
        }
        let h = headers(&[("retry-after-ms", "-1"), ("retry-after", "3")]);
        assert_eq!(retry_after(&h), Some(Duration::from_secs(3)));
    }

    #[test]
    fn huge_values_are_clamped() {
        let h = headers(&[("retry-after", "1e300")]);
        assert_eq!(retry_after(&h), Some(MAX_HINT));
        let h = headers(&[("x-ratelimit-reset", "99999999999999999999")]);
        assert_eq!(server_wait(&h), Some(MAX_HINT));
        // Too many digits for an f64 is still a number, not garbage.
        let h = headers(&[("retry-after", &"9".repeat(400))]);
        assert_eq!(retry_after(&h), Some(MAX_HINT));
    }

    #[test]
    fn non_utf8_header_is_ignored() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_bytes(b"\xff\xfe").unwrap());
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn reset_is_the_fallback() {
        let h = headers(&[("x-ratelimit-reset", "0.4")]);
        assert_eq!(server_wait(&h), Some(Duration::from_millis(400)));
    }

    #[test]
    fn should_retry_values() {
        assert_eq!(
            should_retry(&headers(&[("x-should-retry", "FALSE")])),
            Some(false)
        );
        assert_eq!(
            should_retry(&headers(&[("x-should-retry", "true")])),
            Some(true)
        );
        assert_eq!(should_retry(&headers(&[("x-should-retry", "maybe")])), None);
    }
}
