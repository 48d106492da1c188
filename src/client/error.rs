//! The one error type of the typed client.

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, StatusCode};

use crate::BoxError;

/// How much of a body an error quotes, in characters.
const QUOTE_CHARS: usize = 200;

/// The most of an error response's body that is read and parsed: a Together
/// error object is a few hundred bytes, and a hostile or runaway body must
/// not cost more than this. `pub(crate)` so the service that reads the body
/// can stop at the same bound.
pub(crate) const MAX_ERROR_BODY: usize = 64 * 1024;

/// The most of one server string (a message, a type, a code) an error keeps.
const MAX_SERVER_TEXT: usize = 2_000;

/// What kind of failure an [`Error`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The server answered with an error status (4xx, 5xx, or an unexpected 3xx).
    Api,
    /// The request never got an answer: connection refused, reset, TLS...
    Transport,
    /// An attempt or the whole request ran out of time.
    Timeout,
    /// The server answered 2xx but the body was not what the endpoint returns.
    Decode,
    /// A stream broke off, or the server sent an `error` object mid-stream.
    Stream,
    /// The client is misconfigured (no API key, a bad base URL).
    Config,
    /// The request could not be built (a bad id, duplicate `custom_id`s...).
    InvalidRequest,
}

/// The error of every call of [`Together`](crate::Together).
///
/// It carries what Together said (status, `type`, `code`, message, the
/// `Retry-After` wait and the `x-request-id`), and answers the questions a
/// caller asks: [`is_rate_limited`](Error::is_rate_limited),
/// [`is_overloaded`](Error::is_overloaded),
/// [`is_model_not_found`](Error::is_model_not_found),
/// [`is_timeout`](Error::is_timeout).
///
/// It never holds the API key: text that came from the server is scrubbed of
/// it before it is stored, and no request headers are kept.
pub struct Error {
    inner: Box<Inner>,
}

#[derive(Debug)]
struct Inner {
    kind: ErrorKind,
    status: Option<StatusCode>,
    error_type: Option<String>,
    code: Option<String>,
    param: Option<String>,
    message: String,
    retry_after: Option<Duration>,
    request_id: Option<String>,
    model: Option<String>,
    suggestions: Vec<String>,
    source: Option<BoxError>,
}

impl Error {
    fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            inner: Box::new(Inner {
                kind,
                status: None,
                error_type: None,
                code: None,
                param: None,
                message: message.into(),
                retry_after: None,
                request_id: None,
                model: None,
                suggestions: Vec::new(),
                source: None,
            }),
        }
    }

    pub(crate) fn config(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Config, message)
    }

    pub(crate) fn invalid_request(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::InvalidRequest, message)
    }

    pub(crate) fn stream(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Stream, message)
    }

    /// A job (a batch) that ended without results.
    pub(crate) fn job_failed(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Api, message)
    }

    pub(crate) fn timeout(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Timeout, message)
    }

    /// A failure of the service below the typed client: a timeout when any
    /// error in the chain is one, else a transport error.
    pub(crate) fn transport(source: BoxError) -> Self {
        let kind = if is_timeout_chain(&*source) {
            ErrorKind::Timeout
        } else {
            ErrorKind::Transport
        };
        // The whole chain, as hyper-util's top error says little on its own
        // ("client error (Connect)").
        let mut message = source.to_string();
        let mut next = source.source();
        while let Some(cause) = next {
            let text = cause.to_string();
            if !message.contains(&text) {
                message.push_str(": ");
                message.push_str(&text);
            }
            next = cause.source();
        }
        let mut error = Error::new(kind, message);
        error.inner.source = Some(source);
        error
    }

    /// A 2xx body that does not decode.
    pub(crate) fn decode(what: &str, cause: &serde_json::Error, body: &[u8]) -> Self {
        Error::new(
            ErrorKind::Decode,
            format!("{what}: {cause}; body starts with \"{}\"", quote(body)),
        )
    }

    /// A 2xx answer that is not what the endpoint returns, for a reason
    /// other than JSON syntax (too large, missing items...).
    pub(crate) fn unexpected(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Decode, message)
    }

    /// A stream's `error` object, or any JSON error body, scrubbed of `secret`.
    pub(crate) fn from_error_json(value: &serde_json::Value, secret: Option<&str>) -> Self {
        let mut error = Error::new(ErrorKind::Stream, String::new());
        error.fill_from_json(value, secret);
        error
    }

    /// An error response: status, headers and (at most a bounded prefix of) its body.
    pub(crate) fn from_response(
        status: StatusCode,
        headers: &HeaderMap,
        body: &[u8],
        secret: Option<&str>,
    ) -> Self {
        let mut error = Error::new(ErrorKind::Api, String::new());
        error.inner.status = Some(status);
        // The same reading the retry layers use.
        error.inner.retry_after = crate::wait_hint::retry_after(headers);
        error.inner.request_id = headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(|v| scrub(&cap(v), secret));
        match serde_json::from_slice::<serde_json::Value>(body) {
            Ok(value) if value.is_object() => error.fill_from_json(&value, secret),
            _ if body.iter().all(u8::is_ascii_whitespace) => {
                error.inner.message = status
                    .canonical_reason()
                    .unwrap_or("no reason given")
                    .to_owned();
            }
            _ => {
                let content_type = headers
                    .get(http::header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("unknown");
                error.inner.message = scrub(
                    &format!(
                        "non-JSON error body (content-type {content_type}): \"{}\"",
                        quote(body)
                    ),
                    secret,
                );
            }
        }
        error
    }

    fn fill_from_json(&mut self, value: &serde_json::Value, secret: Option<&str>) {
        let text = |v: Option<&serde_json::Value>| -> Option<String> {
            v.and_then(|v| v.as_str()).map(|s| scrub(&cap(s), secret))
        };
        match value.get("error") {
            Some(serde_json::Value::Object(object)) => {
                self.inner.message = text(object.get("message")).unwrap_or_default();
                self.inner.error_type = text(object.get("type"));
                self.inner.code = text(object.get("code")).or_else(|| {
                    object
                        .get("code")
                        .and_then(|c| c.as_i64())
                        .map(|c| c.to_string())
                });
                self.inner.param = text(object.get("param"));
            }
            // The batch endpoints' `{"error": "..."}`.
            Some(serde_json::Value::String(message)) => {
                self.inner.message = scrub(&cap(message), secret);
            }
            _ => {
                self.inner.message = text(value.get("message")).unwrap_or_else(|| {
                    scrub(
                        &format!("unexpected error body: {}", cap(&value.to_string())),
                        secret,
                    )
                });
            }
        }
        if self.inner.message.is_empty() {
            self.inner.message = "no message given".to_owned();
        }
        if self.inner.request_id.is_none() {
            self.inner.request_id = text(value.get("id"));
        }
    }

    pub(crate) fn with_model(mut self, model: Option<&str>) -> Self {
        if self.inner.model.is_none() {
            self.inner.model = model.map(str::to_owned);
        }
        self
    }

    pub(crate) fn with_suggestions(mut self, suggestions: Vec<String>) -> Self {
        self.inner.suggestions = suggestions;
        self
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }

    /// The HTTP status, when the server answered.
    pub fn status(&self) -> Option<StatusCode> {
        self.inner.status
    }

    /// Together's error `type` (e.g. `invalid_request_error`,
    /// `dynamic_request_limited`), when sent.
    pub fn error_type(&self) -> Option<&str> {
        self.inner.error_type.as_deref()
    }

    /// Together's error `code` (e.g. `model_not_available`), when sent.
    pub fn code(&self) -> Option<&str> {
        self.inner.code.as_deref()
    }

    /// The request parameter the error is about, when sent.
    pub fn param(&self) -> Option<&str> {
        self.inner.param.as_deref()
    }

    /// The message (the server's, when it sent one).
    pub fn message(&self) -> &str {
        &self.inner.message
    }

    /// The wait the server asked for (`retry-after-ms` or `Retry-After`, in
    /// seconds or as an HTTP date), when sent.
    pub fn retry_after(&self) -> Option<Duration> {
        self.inner.retry_after
    }

    /// The `x-request-id` of the response (or the body's `id`), for support.
    pub fn request_id(&self) -> Option<&str> {
        self.inner.request_id.as_deref()
    }

    /// The model the request was for, when it named one.
    pub fn model(&self) -> Option<&str> {
        self.inner.model.as_deref()
    }

    /// For a model-not-found error, up to three closest model ids from
    /// `GET /models`, closest first.
    pub fn suggestions(&self) -> &[String] {
        &self.inner.suggestions
    }

    /// Whether the server said 429: over your rate limit.
    pub fn is_rate_limited(&self) -> bool {
        self.inner.status == Some(StatusCode::TOO_MANY_REQUESTS)
    }

    /// Whether the server said it is overloaded (503, or 529).
    pub fn is_overloaded(&self) -> bool {
        matches!(self.inner.status.map(|s| s.as_u16()), Some(503 | 529))
    }

    /// Whether the model does not exist, or is not served (404 on a request
    /// that named a model, or 400 `model_not_available`).
    pub fn is_model_not_found(&self) -> bool {
        let code = self.inner.code.as_deref().unwrap_or("");
        let by_code = matches!(code, "model_not_available" | "model_not_found");
        let by_type = self.inner.error_type.as_deref() == Some("model_not_found");
        let by_status =
            self.inner.status == Some(StatusCode::NOT_FOUND) && self.inner.model.is_some();
        by_code || by_type || by_status
    }

    /// Whether the request was not sent because its model's circuit is open
    /// (see [`circuit_breaker`](crate::circuit_breaker)): the model has
    /// been failing, and the call was set to fail fast or its deadline
    /// would pass before the circuit could close.
    pub fn is_circuit_open(&self) -> bool {
        let mut next: Option<&(dyn std::error::Error + 'static)> = self
            .inner
            .source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static));
        while let Some(error) = next {
            if error.is::<crate::circuit_breaker::CircuitOpen>() {
                return true;
            }
            next = error.source();
        }
        false
    }

    /// Whether the request ran out of time: a client-side timeout, or a 408,
    /// 504 or 524 (Cloudflare's timeout) from the server.
    pub fn is_timeout(&self) -> bool {
        self.inner.kind == ErrorKind::Timeout
            || matches!(self.inner.status.map(|s| s.as_u16()), Some(408 | 504 | 524))
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `Inner` holds no secret: every string in it was scrubbed on the way in.
        fmt::Debug::fmt(&self.inner, f)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        match inner.kind {
            ErrorKind::Api => match inner.status {
                Some(status) => write!(f, "Together API error {status}: {}", inner.message)?,
                None => write!(f, "Together API error: {}", inner.message)?,
            },
            ErrorKind::Transport => write!(f, "transport error: {}", inner.message)?,
            ErrorKind::Timeout => write!(f, "timed out: {}", inner.message)?,
            ErrorKind::Decode => write!(f, "unexpected response body: {}", inner.message)?,
            ErrorKind::Stream => write!(f, "stream error: {}", inner.message)?,
            ErrorKind::Config => write!(f, "client configuration error: {}", inner.message)?,
            ErrorKind::InvalidRequest => write!(f, "invalid request: {}", inner.message)?,
        }
        match (&inner.error_type, &inner.code) {
            (Some(t), Some(c)) => write!(f, " (type {t}, code {c})")?,
            (Some(t), None) => write!(f, " (type {t})")?,
            (None, Some(c)) => write!(f, " (code {c})")?,
            (None, None) => {}
        }
        if let Some(model) = &inner.model {
            write!(f, " [model {model}]")?;
        }
        if let Some(id) = &inner.request_id {
            write!(f, " [request id {id}]")?;
        }
        if !inner.suggestions.is_empty() {
            write!(f, "; did you mean {}?", inner.suggestions.join(", "))?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner
            .source
            .as_ref()
            .map(|s| &**s as &(dyn std::error::Error + 'static))
    }
}

fn is_timeout_chain(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(error) = current {
        if error.is::<tower::timeout::error::Elapsed>() || error.is::<tokio::time::error::Elapsed>()
        {
            return true;
        }
        if let Some(io) = error.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::TimedOut {
                return true;
            }
        }
        // reqwest's own timeouts (`timeout`, `read_timeout`,
        // `connect_timeout`): its marker type is private, its predicate not.
        #[cfg(feature = "reqwest")]
        if error
            .downcast_ref::<::reqwest::Error>()
            .is_some_and(::reqwest::Error::is_timeout)
        {
            return true;
        }
        current = error.source();
    }
    false
}

/// The start of a body, on one line, for an error message.
pub(crate) fn quote(body: &[u8]) -> String {
    // `min` keeps the range inside the body.
    let text = String::from_utf8_lossy(&body[..body.len().min(QUOTE_CHARS * 4)]);
    let mut quoted: String = text
        .chars()
        .take(QUOTE_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if text.chars().count() > QUOTE_CHARS || body.len() > QUOTE_CHARS * 4 {
        quoted.push_str("...");
    }
    quoted
}

/// A server message, capped so a hostile body cannot make a huge error.
fn cap(text: &str) -> String {
    if text.len() <= MAX_SERVER_TEXT {
        return text.to_owned();
    }
    // Index 0 is always a char boundary, so the walk back ends in bounds.
    let end = (0..=MAX_SERVER_TEXT)
        .rev()
        .find(|&end| text.is_char_boundary(end))
        .unwrap_or(0);
    format!("{}...", text.get(..end).unwrap_or(""))
}

/// Removes every occurrence of the API key from text that came from outside.
pub(crate) fn scrub(text: &str, secret: Option<&str>) -> String {
    match secret {
        Some(secret) if !secret.is_empty() && text.contains(secret) => {
            text.replace(secret, "[redacted]")
        }
        _ => text.to_owned(),
    }
}

/// Bytes of a body, as a prefix no longer than what errors need.
pub(crate) fn error_body_prefix(body: &Bytes) -> &[u8] {
    // `min` keeps the range inside the body.
    &body[..body.len().min(MAX_ERROR_BODY)]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn together_error_object() {
        let body = br#"{"id":"req-1","error":{"message":"Unable to access non-serverless model X","type":"invalid_request_error","param":null,"code":"model_not_available"}}"#;
        let e = Error::from_response(StatusCode::BAD_REQUEST, &HeaderMap::new(), body, None);
        assert_eq!(e.status(), Some(StatusCode::BAD_REQUEST));
        assert_eq!(e.code(), Some("model_not_available"));
        assert_eq!(e.error_type(), Some("invalid_request_error"));
        assert_eq!(e.request_id(), Some("req-1"));
        assert!(e.is_model_not_found());
        assert!(!e.is_rate_limited() && !e.is_overloaded() && !e.is_timeout());
    }

    #[test]
    fn batch_string_error_and_headers() {
        let h = headers(&[("x-request-id", "abc"), ("retry-after", "1.5")]);
        let e = Error::from_response(
            StatusCode::TOO_MANY_REQUESTS,
            &h,
            br#"{"error":"slow down"}"#,
            None,
        );
        assert_eq!(e.message(), "slow down");
        assert_eq!(e.request_id(), Some("abc"));
        assert_eq!(e.retry_after(), Some(Duration::from_millis(1500)));
        assert!(e.is_rate_limited());
    }

    #[test]
    fn html_524_is_quoted_briefly() {
        let page = format!("<html><body>{}</body></html>", "timeout ".repeat(500));
        let h = headers(&[("content-type", "text/html")]);
        let e = Error::from_response(
            StatusCode::from_u16(524).unwrap(),
            &h,
            page.as_bytes(),
            None,
        );
        let text = e.to_string();
        assert!(text.contains("non-JSON error body"), "{text}");
        assert!(text.contains("<html><body>timeout"), "{text}");
        assert!(text.len() < 400, "{}", text.len());
        assert!(e.is_timeout());
    }

    #[test]
    fn retry_after_forms() {
        use crate::wait_hint::retry_after;
        assert_eq!(
            retry_after(&headers(&[("retry-after-ms", "250")])),
            Some(Duration::from_millis(250))
        );
        assert_eq!(
            retry_after(&headers(&[("retry-after", "3")])),
            Some(Duration::from_secs(3))
        );
        assert_eq!(retry_after(&headers(&[("retry-after", "-3")])), None);
        assert_eq!(
            retry_after(&headers(&[(
                "retry-after",
                "Thu, 01 Jan 1970 00:00:00 GMT"
            )])),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after(&headers(&[("retry-after", "soon")])), None);
    }

    #[test]
    fn secret_is_scrubbed_from_server_text() {
        let body = br#"{"error":{"message":"bad key sk-secret-123","type":"auth"}}"#;
        let e = Error::from_response(
            StatusCode::UNAUTHORIZED,
            &HeaderMap::new(),
            body,
            Some("sk-secret-123"),
        );
        assert!(!e.to_string().contains("sk-secret-123"));
        assert!(!format!("{e:?}").contains("sk-secret-123"));
        assert!(e.message().contains("[redacted]"));
    }

    #[test]
    fn hostile_bodies_do_not_panic() {
        for body in [
            &b""[..],
            b"\xff\xfe",
            b"{",
            b"[1,2]",
            b"null",
            b"{\"error\":42}",
        ] {
            let e = Error::from_response(StatusCode::BAD_GATEWAY, &HeaderMap::new(), body, None);
            assert!(!e.message().is_empty());
        }
        let multibyte = "é".repeat(5_000);
        assert!(quote(multibyte.as_bytes()).ends_with("..."));
    }
}
