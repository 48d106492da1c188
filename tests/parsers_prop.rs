//! Property tests of the parsers that read what the network sends: the wait
//! hints (`retry-after-ms`, `Retry-After` as integer or fractional seconds
//! or an HTTP-date in each of RFC 9110's three formats, `x-ratelimit-reset`,
//! `x-ratelimit-limit`, `x-should-retry`) and the typed client's error-body
//! parser. Arbitrary input must never panic, and valid input must read as a
//! reference model built here says.
//!
//! `cargo test` runs 256 cases per property (proptest's default). The
//! `PROPTEST_CASES` environment variable sets the count; a long run of
//! 1 000 000 cases per property (16 000 000 in all; it passed in 17 minutes
//! in release on two shared cores):
//!
//! ```text
//! PROPTEST_CASES=1000000 cargo test --release --all-features --test parsers_prop
//! ```

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use http_body_util::Full;
use proptest::prelude::*;
use tower::Service;
use tower_together::wait_hint::{self, MAX_HINT};
use tower_together::Together;

// ---------------------------------------------------------------- helpers

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.insert(*name, HeaderValue::from_str(value).unwrap());
    }
    map
}

/// `|a - b| <= tolerance`.
fn close(a: Duration, b: Duration, tolerance: Duration) -> bool {
    a.abs_diff(b) <= tolerance
}

/// Spaces and tabs a header value may be padded with.
fn padding() -> impl Strategy<Value = String> {
    proptest::collection::vec(prop_oneof![Just(' '), Just('\t')], 0..3)
        .prop_map(|chars| chars.into_iter().collect())
}

// ------------------------------------------------- a reference HTTP-date

/// (year, month, day) of a day count since 1970-01-01 (proleptic
/// Gregorian), after Howard Hinnant's `civil_from_days`.
fn civil(days: i64) -> (i64, usize, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month as usize, day)
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const LONG_DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

#[derive(Clone, Copy, Debug)]
enum DateFormat {
    ImfFixdate,
    Rfc850,
    Asctime,
}

/// `secs` after the epoch in `format`, written here, not by the crate the
/// parser uses.
fn http_date(secs: u64, format: DateFormat) -> String {
    let days = (secs / 86_400) as i64;
    let (h, m, s) = (secs % 86_400 / 3600, secs % 3600 / 60, secs % 60);
    let (year, month, day) = civil(days);
    // 1970-01-01 was a Thursday.
    let weekday = (days + 4).rem_euclid(7) as usize;
    let month = MONTHS[month - 1];
    match format {
        DateFormat::ImfFixdate => format!(
            "{}, {day:02} {month} {year} {h:02}:{m:02}:{s:02} GMT",
            DAYS[weekday]
        ),
        DateFormat::Rfc850 => format!(
            "{}, {day:02}-{month}-{:02} {h:02}:{m:02}:{s:02} GMT",
            LONG_DAYS[weekday],
            year % 100
        ),
        DateFormat::Asctime => format!(
            "{} {month} {day:>2} {h:02}:{m:02}:{s:02} {year}",
            DAYS[weekday]
        ),
    }
}

/// The last second of year 9999, the end of what HTTP-dates can say.
const LAST_HTTP_DATE: u64 = 253_402_300_799;
/// 2069-12-31 23:59:59: RFC 850's two-digit years cover 1970-2069.
const LAST_RFC850_DATE: u64 = 3_155_759_999;

fn date_and_format() -> impl Strategy<Value = (u64, DateFormat)> {
    prop_oneof![
        (0..=LAST_HTTP_DATE).prop_map(|s| (s, DateFormat::ImfFixdate)),
        (0..=LAST_RFC850_DATE).prop_map(|s| (s, DateFormat::Rfc850)),
        (0..=LAST_HTTP_DATE).prop_map(|s| (s, DateFormat::Asctime)),
    ]
}

// ------------------------------------------------------- wait hints

/// A decimal number as a server may write it, and its value in units.
fn decimal() -> impl Strategy<Value = (String, f64)> {
    prop_oneof![
        // Integers, up to u64::MAX.
        any::<u64>().prop_map(|n| (n.to_string(), n as f64)),
        (0u64..200_000).prop_map(|n| (n.to_string(), n as f64)),
        // Fractions with up to nine decimals.
        (0u64..200_000, 0u32..1_000_000_000, 1usize..=9).prop_map(|(whole, frac, digits)| {
            let frac = frac % 10u32.pow(digits as u32);
            let text = format!("{whole}.{frac:0digits$}");
            let value = whole as f64 + f64::from(frac) / 10f64.powi(digits as i32);
            (text, value)
        }),
        // Exponents.
        (0u32..1000, -6i32..=6)
            .prop_map(|(m, e)| (format!("{m}e{e}"), f64::from(m) * 10f64.powi(e))),
        // Far too many digits for an f64.
        (310usize..600).prop_map(|n| ("9".repeat(n), f64::INFINITY)),
    ]
}

/// The wait a number of seconds reads as: clamped to `MAX_HINT`.
fn expected_secs(value: f64) -> Duration {
    if value >= MAX_HINT.as_secs_f64() {
        MAX_HINT
    } else {
        Duration::from_secs_f64(value)
    }
}

/// Text that is not a non-negative decimal: words, signs, other bases,
/// separators.
fn not_a_wait() -> impl Strategy<Value = String> {
    prop_oneof![
        prop_oneof![
            Just("nan"),
            Just("NaN"),
            Just("inf"),
            Just("+inf"),
            Just("-inf"),
            Just("Infinity"),
            Just("infinity"),
            Just("-Infinity"),
            Just("soon"),
            Just("0x10"),
            Just("1_000"),
            Just("1,5"),
            Just("5s"),
            Just(""),
            Just("."),
            Just("e"),
            Just("--1"),
        ]
        .prop_map(str::to_owned),
        // Negative numbers (zero excluded: "-0" is zero).
        (1u64..u64::MAX).prop_map(|n| format!("-{n}")),
        (0u64..1000, 1u32..1000).prop_map(|(w, f)| format!("-{w}.{f}")),
    ]
}

proptest! {
    #[test]
    fn retry_after_seconds_read_as_their_value((text, value) in decimal(), pad in padding()) {
        let h = headers(&[("retry-after", &format!("{pad}{text}{pad}"))]);
        let got = wait_hint::retry_after(&h).expect("a valid number");
        prop_assert!(close(got, expected_secs(value), Duration::from_micros(1)), "{text}: {got:?}");
        // x-ratelimit-reset reads the same numbers the same way.
        let h = headers(&[("x-ratelimit-reset", &text)]);
        prop_assert_eq!(wait_hint::ratelimit_reset(&h), Some(got));
    }

    #[test]
    fn retry_after_ms_reads_as_milliseconds((text, value) in decimal()) {
        let h = headers(&[("retry-after-ms", &text), ("retry-after", "7")]);
        let got = wait_hint::retry_after(&h).expect("a valid number");
        prop_assert!(close(got, expected_secs(value / 1000.0), Duration::from_micros(1)), "{text}: {got:?}");
    }

    #[test]
    fn words_negatives_and_garbage_are_no_hint(text in not_a_wait()) {
        for name in ["retry-after", "retry-after-ms", "x-ratelimit-reset"] {
            let h = headers(&[(name, &text)]);
            prop_assert_eq!(wait_hint::server_wait(&h), None, "{}: {:?}", name, text);
        }
        // An unusable retry-after-ms falls through to the next source.
        let h = headers(&[("retry-after-ms", &text), ("retry-after", "3")]);
        prop_assert_eq!(wait_hint::retry_after(&h), Some(Duration::from_secs(3)));
        let h = headers(&[("x-ratelimit-limit", &text)]);
        prop_assert_eq!(wait_hint::ratelimit_limit(&h), None);
    }

    #[test]
    fn http_dates_in_every_format_read_against_the_date_header(
        (at, format) in date_and_format(),
        (now, now_format) in date_and_format(),
    ) {
        let h = headers(&[
            ("retry-after", &http_date(at, format)),
            ("date", &http_date(now, now_format)),
        ]);
        let expected = Duration::from_secs(at.saturating_sub(now)).min(MAX_HINT);
        prop_assert_eq!(wait_hint::retry_after(&h), Some(expected), "{} vs {}", http_date(at, format), http_date(now, now_format));
    }

    #[test]
    fn past_http_dates_without_a_date_header_mean_now(at in 0u64..1_600_000_000, format_pick in 0..3usize) {
        let format = [DateFormat::ImfFixdate, DateFormat::Rfc850, DateFormat::Asctime][format_pick];
        let h = headers(&[("retry-after", &http_date(at, format))]);
        prop_assert_eq!(wait_hint::retry_after(&h), Some(Duration::ZERO));
    }

    #[test]
    fn the_best_source_wins(
        ms in proptest::option::of(0u64..100_000),
        secs in proptest::option::of(0u64..100_000),
        reset in proptest::option::of(0u64..100_000),
    ) {
        let (ms_text, secs_text, reset_text) =
            (ms.map(|v| v.to_string()), secs.map(|v| v.to_string()), reset.map(|v| v.to_string()));
        let mut pairs = Vec::new();
        if let Some(v) = &ms_text { pairs.push(("retry-after-ms", v.as_str())); }
        if let Some(v) = &secs_text { pairs.push(("retry-after", v.as_str())); }
        if let Some(v) = &reset_text { pairs.push(("x-ratelimit-reset", v.as_str())); }
        let expected = ms
            .map(Duration::from_millis)
            .or(secs.map(Duration::from_secs))
            .or(reset.map(Duration::from_secs))
            .map(|d| d.min(MAX_HINT));
        prop_assert_eq!(wait_hint::server_wait(&headers(&pairs)), expected);
    }

    #[test]
    fn ratelimit_limit_is_positive_and_finite((text, value) in decimal()) {
        let h = headers(&[("x-ratelimit-limit", &text)]);
        let expected = (value.is_finite() && value > 0.0).then_some(value);
        match (wait_hint::ratelimit_limit(&h), expected) {
            (Some(got), Some(want)) => prop_assert!((got - want).abs() <= want * 1e-12, "{text}: {got}"),
            (got, want) => prop_assert_eq!(got, want, "{}", text),
        }
    }

    #[test]
    fn should_retry_is_true_false_or_nothing(
        word in prop_oneof![Just("true"), Just("false")],
        upper in proptest::collection::vec(any::<bool>(), 5),
        pad in padding(),
        other in "[ -~]{0,12}",
    ) {
        let cased: String = word
            .chars()
            .zip(upper)
            .map(|(c, up)| if up { c.to_ascii_uppercase() } else { c })
            .collect();
        let h = headers(&[("x-should-retry", &format!("{pad}{cased}{pad}"))]);
        prop_assert_eq!(wait_hint::should_retry(&h), Some(word == "true"));
        let expected = match other.trim().to_ascii_lowercase().as_str() {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        };
        let h = headers(&[("x-should-retry", &other)]);
        prop_assert_eq!(wait_hint::should_retry(&h), expected);
    }

    #[test]
    fn arbitrary_header_bytes_never_panic_nor_exceed_the_cap(
        bytes in proptest::collection::vec(any::<u8>(), 0..64),
        pick in 0..6usize,
    ) {
        // Not every byte string is a header value (no CR, LF or NUL).
        let Ok(value) = HeaderValue::from_bytes(&bytes) else { return Ok(()) };
        let name = ["retry-after", "retry-after-ms", "x-ratelimit-reset", "x-ratelimit-limit", "x-should-retry", "date"][pick];
        let mut h = HeaderMap::new();
        h.insert(name, value.clone());
        h.insert("retry-after", value);
        if let Some(wait) = wait_hint::server_wait(&h) {
            prop_assert!(wait <= MAX_HINT);
        }
        if let Some(limit) = wait_hint::ratelimit_limit(&h) {
            prop_assert!(limit.is_finite() && limit > 0.0);
        }
        let _ = wait_hint::should_retry(&h);
    }

    #[test]
    fn arbitrary_text_never_panics_nor_exceeds_the_cap(text in "\\PC{0,40}") {
        let Ok(value) = HeaderValue::from_str(&text) else { return Ok(()) };
        let mut h = HeaderMap::new();
        for name in ["retry-after", "retry-after-ms", "x-ratelimit-reset", "date"] {
            h.insert(name, value.clone());
        }
        if let Some(wait) = wait_hint::server_wait(&h) {
            prop_assert!(wait <= MAX_HINT);
        }
    }
}

// ------------------------------------------------------- error bodies

/// A status, its headers and its body.
type Scripted = (u16, Vec<(&'static str, String)>, Bytes);

/// A transport double that answers every request with the current scripted
/// status, headers and body.
#[derive(Clone, Default)]
struct Answer {
    current: Arc<Mutex<Scripted>>,
}

impl Answer {
    fn set(&self, status: u16, headers: Vec<(&'static str, String)>, body: impl Into<Bytes>) {
        *self.current.lock().unwrap() = (status, headers, body.into());
    }
}

impl Service<Request<Full<Bytes>>> for Answer {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<Full<Bytes>>) -> Self::Future {
        let (status, headers, body) = self.current.lock().unwrap().clone();
        let mut response = Response::builder().status(status);
        for (name, value) in headers {
            response = response.header(name, value);
        }
        std::future::ready(Ok(response.body(Full::new(body)).unwrap()))
    }
}

const KEY: &str = "sk-proptest-0123456789abcdef";

/// A client over the double (no retry layers), and a runtime to drive it.
fn client() -> (Together, Answer, tokio::runtime::Runtime) {
    let answer = Answer::default();
    let client = Together::builder()
        .api_key(KEY)
        .base_url("http://127.0.0.1:9/v1")
        .build_with_service(answer.clone())
        .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    (client, answer, runtime)
}

/// Statuses with no special handling in the client (no model-name lookups,
/// no fallbacks).
fn error_status() -> impl Strategy<Value = u16> {
    prop_oneof![
        Just(400u16),
        Just(401),
        Just(402),
        Just(403),
        Just(409),
        Just(422),
        Just(429),
        Just(500),
        Just(502),
        Just(503),
        Just(520),
        Just(524),
        Just(529),
    ]
}

/// Server text: short arbitrary strings without the API key in them.
fn server_text() -> impl Strategy<Value = String> {
    "\\PC{0,60}"
}

/// Longer than the 2 000-byte cap on one server string.
const MAX_SERVER_TEXT: usize = 2_000;

fn capped(text: &str) -> String {
    if text.len() <= MAX_SERVER_TEXT {
        return text.to_owned();
    }
    let mut end = MAX_SERVER_TEXT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

proptest! {
    #[test]
    fn together_error_objects_read_field_by_field(
        status in error_status(),
        message in server_text(),
        kind in proptest::option::of(server_text()),
        code in proptest::option::of(prop_oneof![
            server_text().prop_map(serde_json::Value::String),
            any::<i64>().prop_map(serde_json::Value::from),
        ]),
        param in proptest::option::of(server_text()),
        long in any::<bool>(),
    ) {
        let (client, answer, runtime) = client();
        let message = if long { message.repeat(80) } else { message };
        let mut object = serde_json::Map::new();
        object.insert("message".into(), message.clone().into());
        if let Some(kind) = &kind { object.insert("type".into(), kind.clone().into()); }
        if let Some(code) = &code { object.insert("code".into(), code.clone()); }
        if let Some(param) = &param { object.insert("param".into(), param.clone().into()); }
        let body = serde_json::json!({ "error": object }).to_string();
        answer.set(status, vec![("content-type", "application/json".into())], body);

        let error = runtime.block_on(client.models()).unwrap_err();
        prop_assert_eq!(error.status(), Some(StatusCode::from_u16(status).unwrap()));
        let want = if message.is_empty() { "no message given".to_owned() } else { capped(&message) };
        prop_assert_eq!(error.message(), want.as_str());
        let want_kind = kind.as_deref().map(capped);
        prop_assert_eq!(error.error_type(), want_kind.as_deref());
        let want_code = code.map(|c| match c {
            serde_json::Value::String(s) => capped(&s),
            other => other.to_string(),
        });
        prop_assert_eq!(error.code(), want_code.as_deref());
        let want_param = param.as_deref().map(capped);
        prop_assert_eq!(error.param(), want_param.as_deref());
        prop_assert_eq!(error.is_rate_limited(), status == 429);
    }

    #[test]
    fn batch_style_string_errors_read_as_the_message(status in error_status(), message in server_text()) {
        let (client, answer, runtime) = client();
        answer.set(status, vec![], serde_json::json!({ "error": message }).to_string());
        let error = runtime.block_on(client.models()).unwrap_err();
        let want = if message.is_empty() { "no message given".to_owned() } else { capped(&message) };
        prop_assert_eq!(error.message(), want.as_str());
        prop_assert_eq!(error.error_type(), None);
    }

    #[test]
    fn the_api_key_never_survives_into_the_error(status in error_status(), before in server_text(), after in server_text()) {
        let (client, answer, runtime) = client();
        let text = format!("{before}{KEY}{after}");
        let body = serde_json::json!({ "error": { "message": text, "type": text, "code": text } }).to_string();
        answer.set(status, vec![("x-request-id", format!("id-{KEY}"))], body);
        let error = runtime.block_on(client.models()).unwrap_err();
        prop_assert!(!error.to_string().contains(KEY));
        let debug = format!("{error:?}");
        prop_assert!(!debug.contains(KEY));
    }

    #[test]
    fn html_pages_are_quoted_briefly(status in error_status(), words in proptest::collection::vec("[a-z<>/ ]{0,12}", 0..400)) {
        let (client, answer, runtime) = client();
        let page = format!("<html><body>{}</body></html>", words.concat());
        answer.set(status, vec![("content-type", "text/html".into())], page);
        let error = runtime.block_on(client.models()).unwrap_err();
        prop_assert!(error.message().contains("non-JSON error body"), "{}", error.message());
        prop_assert!(error.message().contains("<html><body>"));
        // 200 characters quoted, plus the frame around them.
        prop_assert!(error.message().chars().count() < 300, "{}", error.message().len());
    }

    #[test]
    fn arbitrary_bodies_never_panic_and_stay_bounded(
        status in error_status(),
        body in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..2048),
            // Near-JSON: an error object cut off or with odd types.
            (server_text(), 0usize..80).prop_map(|(m, cut)| {
                let full = format!(r#"{{"error":{{"message":"{m}","type":[1],"code":{{}}}}}}"#);
                let cut = (0..=cut.min(full.len())).rev().find(|&i| full.is_char_boundary(i)).unwrap_or(0);
                full.as_bytes()[..cut].to_vec()
            }),
            Just(b"null".to_vec()),
            Just(b"[1,2,3]".to_vec()),
            Just(br#"{"error":42}"#.to_vec()),
            Just(br#"{"message":"top-level"}"#.to_vec()),
        ],
    ) {
        let (client, answer, runtime) = client();
        answer.set(status, vec![], body);
        let error = runtime.block_on(client.models()).unwrap_err();
        prop_assert!(!error.message().is_empty());
        // Every server string is capped: message, type, code and param.
        prop_assert!(error.to_string().len() < 5 * (MAX_SERVER_TEXT * 4 + 200));
    }
}

#[test]
fn the_reference_dates_match_known_ones() {
    // RFC 9110's own example, in its three forms.
    let at = 784_111_777;
    assert_eq!(
        http_date(at, DateFormat::ImfFixdate),
        "Sun, 06 Nov 1994 08:49:37 GMT"
    );
    assert_eq!(
        http_date(at, DateFormat::Rfc850),
        "Sunday, 06-Nov-94 08:49:37 GMT"
    );
    assert_eq!(
        http_date(at, DateFormat::Asctime),
        "Sun Nov  6 08:49:37 1994"
    );
    assert_eq!(
        http_date(LAST_HTTP_DATE, DateFormat::ImfFixdate),
        "Fri, 31 Dec 9999 23:59:59 GMT"
    );
    assert_eq!(
        UNIX_EPOCH + Duration::from_secs(at),
        SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777)
    );
}
