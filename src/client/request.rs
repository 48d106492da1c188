//! Typed requests: each knows its method, path, body and response type.

use std::borrow::Cow;

use bytes::Bytes;
use http::{HeaderValue, Method};
use serde::Serialize;

use super::error::Error;
use crate::extensions::Idempotency;

/// A typed request to Together's API.
///
/// The [`Together`](crate::Together) client is a tower `Service` for every
/// type that implements this trait, so typed middleware can sit above it. The
/// crate implements it for every request type it knows; implement it yourself
/// for an endpoint it does not cover.
///
/// # Example
///
/// ```
/// use std::borrow::Cow;
/// use bytes::Bytes;
/// use http::Method;
/// use tower_together::client::{ApiRequest, RequestBody};
/// use tower_together::Error;
///
/// /// `GET /whoami`, which this crate does not wrap.
/// #[derive(Clone, Debug)]
/// struct WhoAmI;
///
/// impl ApiRequest for WhoAmI {
///     type Response = serde_json::Value;
///     fn method(&self) -> Method { Method::GET }
///     fn path(&self) -> Cow<'_, str> { Cow::Borrowed("/whoami") }
///     fn body(&self) -> Result<RequestBody, Error> { Ok(RequestBody::empty()) }
///     fn decode(&self, body: Bytes) -> Result<Self::Response, serde_json::Error> {
///         serde_json::from_slice(&body)
///     }
/// }
/// assert_eq!(WhoAmI.path(), "/whoami");
/// ```
pub trait ApiRequest: Clone + Send + 'static {
    /// What a successful response decodes to.
    type Response: Send + 'static;

    /// The HTTP method.
    fn method(&self) -> Method;

    /// The path below the base URL, starting with `/` (e.g. `/chat/completions`).
    fn path(&self) -> Cow<'_, str>;

    /// The request body.
    ///
    /// # Errors
    ///
    /// When the request cannot be encoded, or names an invalid id.
    fn body(&self) -> Result<RequestBody, Error>;

    /// Decodes a 2xx response body.
    ///
    /// # Errors
    ///
    /// When the body is not what the endpoint returns.
    fn decode(&self, body: Bytes) -> Result<Self::Response, serde_json::Error>;

    /// The model the request is for, if any: it scopes rate limiting and
    /// enables fallback models and "did you mean" suggestions.
    fn model(&self) -> Option<&str> {
        None
    }

    /// Points the request at another model, for fallback. Returns `false`
    /// (the default) when the request has no model.
    fn set_model(&mut self, model: &str) -> bool {
        let _ = model;
        false
    }

    /// An estimate of the tokens the request will use (prompt plus
    /// completion: see [`estimate_tokens`](super::estimate_tokens)), which
    /// the rate limiter reserves in scopes with a token budget. Default 1.
    fn token_estimate(&self) -> u32 {
        1
    }

    /// The tokens the answer says it used (its `usage.total_tokens`), which
    /// settle the reservation. Default `None`: the estimate stands.
    fn used_tokens(&self, response: &Self::Response) -> Option<u64> {
        let _ = response;
        None
    }

    /// Whether the request is safe to send again after a 5xx or a transport
    /// error, put on it as the [`Idempotency`] extension. Default `None`:
    /// the backoff layer decides from the method and path, and a `POST` to
    /// a path it does not know is sent once (it may create a billed
    /// resource).
    fn idempotency(&self) -> Option<Idempotency> {
        None
    }

    /// Whether the answer is a download (read up to the client's
    /// `max_download_bytes`) rather than JSON (`max_response_bytes`).
    /// Default: when the answer is kept as [`Bytes`] (a file's content,
    /// audio).
    fn is_download(&self) -> bool {
        std::any::TypeId::of::<Self::Response>() == std::any::TypeId::of::<Bytes>()
    }
}

/// The body of a typed request, with its content type.
#[derive(Clone, Debug)]
pub struct RequestBody {
    content_type: Option<HeaderValue>,
    bytes: Bytes,
}

impl RequestBody {
    /// No body.
    pub fn empty() -> Self {
        RequestBody {
            content_type: None,
            bytes: Bytes::new(),
        }
    }

    /// A JSON body.
    ///
    /// # Errors
    ///
    /// When `value` does not serialize (a map with non-string keys...).
    pub fn json<T: Serialize + ?Sized>(value: &T) -> Result<Self, Error> {
        let bytes = serde_json::to_vec(value)
            .map_err(|e| Error::invalid_request(format!("cannot encode the request: {e}")))?;
        Ok(RequestBody {
            content_type: Some(HeaderValue::from_static("application/json")),
            bytes: Bytes::from(bytes),
        })
    }

    /// An `application/x-www-form-urlencoded` body of `fields`.
    pub fn form(fields: &[(&str, &str)]) -> Self {
        let mut encoded = String::new();
        for (i, (name, value)) in fields.iter().enumerate() {
            if i > 0 {
                encoded.push('&');
            }
            form_encode(name, &mut encoded);
            encoded.push('=');
            form_encode(value, &mut encoded);
        }
        RequestBody {
            content_type: Some(HeaderValue::from_static(
                "application/x-www-form-urlencoded",
            )),
            bytes: Bytes::from(encoded),
        }
    }

    /// A `multipart/form-data` body: the text `fields`, then one file part
    /// named `file` holding `bytes` under `file_name` (the spec's
    /// `POST /files/upload` and the audio endpoints take this shape).
    ///
    /// ```
    /// use bytes::Bytes;
    /// use tower_together::client::RequestBody;
    ///
    /// let body = RequestBody::multipart(&[("purpose", "fine-tune")], "data.jsonl", Bytes::from_static(b"{}\n"));
    /// # let _ = body;
    /// ```
    pub fn multipart(fields: &[(&str, &str)], file_name: &str, bytes: Bytes) -> Self {
        RequestBody::form_data(fields, Some((file_name, bytes)))
    }

    /// A `multipart/form-data` body of text `fields` and, if given, a `file`
    /// part.
    pub(crate) fn form_data(fields: &[(&str, &str)], file: Option<(&str, Bytes)>) -> Self {
        // A random boundary: the chance that 128 random bits occur in the
        // content is nil, so the content is not scanned.
        let boundary = format!(
            "tower-together-{:016x}{:016x}",
            fastrand::u64(..),
            fastrand::u64(..)
        );
        let size = file.as_ref().map_or(0, |(_, bytes)| bytes.len());
        let mut body = Vec::with_capacity(size + 256 * (fields.len() + 1));
        for (name, value) in fields {
            body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
            body.extend_from_slice(
                format!(
                    "Content-Disposition: form-data; name=\"{}\"\r\n\r\n",
                    quoted(name)
                )
                .as_bytes(),
            );
            body.extend_from_slice(value.as_bytes());
            body.extend_from_slice(b"\r\n");
        }
        if let Some((file_name, bytes)) = file {
            body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
            body.extend_from_slice(
                format!(
                    "Content-Disposition: form-data; name=\"file\"; filename=\"{}\"\r\nContent-Type: application/octet-stream\r\n\r\n",
                    quoted(file_name)
                )
                .as_bytes(),
            );
            body.extend_from_slice(&bytes);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        let content_type =
            HeaderValue::from_str(&format!("multipart/form-data; boundary={boundary}"))
                .unwrap_or_else(|_| HeaderValue::from_static("multipart/form-data"));
        RequestBody {
            content_type: Some(content_type),
            bytes: Bytes::from(body),
        }
    }

    /// Raw bytes with a content type.
    pub fn bytes(content_type: HeaderValue, bytes: Bytes) -> Self {
        RequestBody {
            content_type: Some(content_type),
            bytes,
        }
    }

    pub(crate) fn into_parts(self) -> (Option<HeaderValue>, Bytes) {
        (self.content_type, self.bytes)
    }
}

/// A name fit for a quoted header parameter: quotes and line breaks, which
/// would end it early, are dropped.
fn quoted(text: &str) -> String {
    text.chars()
        .filter(|c| !matches!(c, '"' | '\r' | '\n' | '\\'))
        .collect()
}

fn form_encode(text: &str, out: &mut String) {
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                out.push(byte as char)
            }
            b' ' => out.push('+'),
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
}

/// Checks an id before it goes into a path, so `../` or `?` cannot redirect
/// a request elsewhere.
pub(crate) fn path_id(id: &str) -> Result<&str, Error> {
    let ok = !id.is_empty()
        && id.len() <= 256
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
        && id != "."
        && id != "..";
    if ok {
        Ok(id)
    } else {
        Err(Error::invalid_request(format!(
            "not a valid id for a path: {:?}",
            super::error::quote(id.as_bytes())
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_encoding() {
        let body =
            RequestBody::form(&[("file_name", "my data.jsonl"), ("purpose", "fine-tune&x=1")]);
        let (_, bytes) = body.into_parts();
        assert_eq!(
            &bytes[..],
            b"file_name=my+data.jsonl&purpose=fine-tune%26x%3D1"
        );
    }

    #[test]
    fn ids_cannot_escape_the_path() {
        assert!(path_id("ft-123_abc.def").is_ok());
        for bad in ["", "..", "a/b", "a?b", "a b", "%2e"] {
            assert!(path_id(bad).is_err(), "{bad}");
        }
    }
}
