//! Reading the server's "wait this long" hints from response headers.
//!
//! Shared by the three layers so they agree on what a header means. Every
//! function is total: a malformed, negative or absurd value is `None` (the
//! caller then uses its default), never a panic or an overflowing wait.

use std::time::{Duration, SystemTime};

use http::{HeaderMap, HeaderName};

/// Longest wait a header can ask for: one day. Anything longer is clamped,
/// so arithmetic on instants never overflows; the layers' own `max_wait`
/// caps are far below it anyway.
pub(crate) const MAX_HINT: Duration = Duration::from_secs(86_400);

/// `retry-after-ms` (float milliseconds), else `Retry-After` as (float)
/// seconds or an HTTP-date.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    if let Some(ms) = header_str(headers, &RETRY_AFTER_MS).and_then(parse_millis) {
        return Some(ms);
    }
    let value = header_str(headers, &http::header::RETRY_AFTER)?;
    parse_seconds(value).or_else(|| parse_http_date(value, headers))
}

/// `x-ratelimit-reset`: seconds (possibly fractional) until the per-second
/// window resets, per Together's docs.
pub(crate) fn ratelimit_reset(headers: &HeaderMap) -> Option<Duration> {
    header_str(headers, &X_RATELIMIT_RESET).and_then(parse_seconds)
}

/// The server's wait hint, best source first.
pub(crate) fn server_wait(headers: &HeaderMap) -> Option<Duration> {
    retry_after(headers).or_else(|| ratelimit_reset(headers))
}

/// `x-should-retry: true|false`, which Together's SDKs obey over everything.
pub(crate) fn should_retry(headers: &HeaderMap) -> Option<bool> {
    match header_str(headers, &X_SHOULD_RETRY)?.trim() {
        v if v.eq_ignore_ascii_case("true") => Some(true),
        v if v.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

// Names built once: looking a header up by `&str` parses and lowercases the
// name on every call, and these are read on every response.
static RETRY_AFTER_MS: HeaderName = HeaderName::from_static("retry-after-ms");
static X_RATELIMIT_RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");
static X_SHOULD_RETRY: HeaderName = HeaderName::from_static("x-should-retry");

fn header_str<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a str> {
    headers.get(name)?.to_str().ok()
}

fn parse_millis(value: &str) -> Option<Duration> {
    let ms: f64 = value.trim().parse().ok()?;
    from_secs(ms / 1000.0)
}

fn parse_seconds(value: &str) -> Option<Duration> {
    let secs: f64 = value.trim().parse().ok()?;
    from_secs(secs)
}

fn from_secs(secs: f64) -> Option<Duration> {
    if !secs.is_finite() || secs < 0.0 {
        return None;
    }
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
        for bad in ["soon", "-3", "NaN", "inf", "", "1e400x"] {
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
