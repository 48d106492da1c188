//! One file per endpoint family: the [`ApiRequest`](super::ApiRequest)
//! impls of its request types and the `Together` methods that send them.

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

pub(crate) mod audio;
pub(crate) mod batches;
pub(crate) mod chat;
pub(crate) mod completions;
pub(crate) mod embeddings;
pub(crate) mod files;
pub(crate) mod fine_tunes;
pub(crate) mod generic;
pub(crate) mod images;
pub(crate) mod models;
pub(crate) mod rerank;
pub(crate) mod videos;

/// Implements [`ApiRequest`](super::ApiRequest) for a JSON `POST` request type
/// with a `model` field.
macro_rules! json_post {
    ($request:ty => $response:ty, $path:literal, |$this:ident| $estimate:expr) => {
        json_post!($request => $response, $path, |$this| $estimate, |_response| None);
    };
    ($request:ty => $response:ty, $path:literal, |$this:ident| $estimate:expr, |$answer:ident| $used:expr) => {
        impl $crate::client::ApiRequest for $request {
            type Response = $response;

            fn method(&self) -> http::Method {
                http::Method::POST
            }

            fn path(&self) -> std::borrow::Cow<'_, str> {
                std::borrow::Cow::Borrowed($path)
            }

            fn body(&self) -> Result<$crate::client::RequestBody, $crate::client::Error> {
                $crate::client::RequestBody::json(self)
            }

            fn decode(&self, body: bytes::Bytes) -> Result<$response, serde_json::Error> {
                $crate::client::endpoints::json_slice(&body)
            }

            fn model(&self) -> Option<&str> {
                Some(&self.model)
            }

            fn set_model(&mut self, model: &str) -> bool {
                model.clone_into(&mut self.model);
                true
            }

            fn token_estimate(&self) -> u32 {
                let $this = self;
                $estimate
            }

            fn used_tokens(&self, response: &$response) -> Option<u64> {
                let $answer = response;
                $used
            }

            fn idempotency(&self) -> Option<$crate::extensions::Idempotency> {
                Some($crate::client::endpoints::idempotency_of($path))
            }
        }
    };
}

/// Whether a typed `POST` to `path` (below the base URL) may be sent again:
/// the inference calls are (a second send bills a second answer, never a
/// second resource); anything else (`/videos`) is sent once. Said on the
/// request, not left to the path: behind a base URL without `/v1` the
/// backoff layer could not tell.
pub(crate) fn idempotency_of(path: &str) -> crate::extensions::Idempotency {
    use crate::endpoint::Endpoint;
    use crate::extensions::Idempotency;
    match Endpoint::from_path(path) {
        Endpoint::ChatCompletions
        | Endpoint::Completions
        | Endpoint::Embeddings
        | Endpoint::ImagesGenerations
        | Endpoint::Rerank => Idempotency::Idempotent,
        _ => Idempotency::NonIdempotent,
    }
}

/// Declares a request type that names one object by id, and implements
/// [`ApiRequest`](super::ApiRequest) for it.
macro_rules! id_request {
    ($(#[$meta:meta])* $name:ident, $method:ident, $prefix:literal, $suffix:literal => $response:ty, $decode:path) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub struct $name {
            /// The id.
            pub id: String,
        }

        impl $name {
            /// The request for the object `id`.
            pub fn new(id: impl Into<String>) -> Self {
                $name { id: id.into() }
            }
        }

        impl $crate::client::ApiRequest for $name {
            type Response = $response;

            fn method(&self) -> http::Method {
                http::Method::$method
            }

            fn path(&self) -> std::borrow::Cow<'_, str> {
                std::borrow::Cow::Owned(format!("{}/{}{}", $prefix, self.id, $suffix))
            }

            fn body(&self) -> Result<$crate::client::RequestBody, $crate::client::Error> {
                // Checked here, before anything is sent, so an id cannot
                // redirect the request to another path.
                $crate::client::request::path_id(&self.id)?;
                Ok($crate::client::RequestBody::empty())
            }

            fn decode(&self, body: bytes::Bytes) -> Result<$response, serde_json::Error> {
                $decode(body)
            }
        }
    };
}

/// Declares a request type with no parameters, and implements
/// [`ApiRequest`](super::ApiRequest) for it.
macro_rules! unit_request {
    ($(#[$meta:meta])* $name:ident, $method:ident, $path:literal => $response:ty, $decode:path) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        pub struct $name;

        impl $crate::client::ApiRequest for $name {
            type Response = $response;

            fn method(&self) -> http::Method {
                http::Method::$method
            }

            fn path(&self) -> std::borrow::Cow<'_, str> {
                std::borrow::Cow::Borrowed($path)
            }

            fn body(&self) -> Result<$crate::client::RequestBody, $crate::client::Error> {
                Ok($crate::client::RequestBody::empty())
            }

            fn decode(&self, body: bytes::Bytes) -> Result<$response, serde_json::Error> {
                $decode(body)
            }
        }
    };
}

pub(crate) use {id_request, json_post, unit_request};

/// Decodes JSON; a value of the wrong shape names the path of the bad field
/// (`choices[0].message.role: ...`), so the error says what to look at.
pub(crate) fn json<T: DeserializeOwned>(body: Bytes) -> Result<T, serde_json::Error> {
    json_slice(&body)
}

/// [`json`] over a slice.
pub(crate) fn json_slice<T: DeserializeOwned>(body: &[u8]) -> Result<T, serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(with_path)?;
    deserializer.end()?;
    Ok(value)
}

/// [`json`] over an already parsed value (a stream's chunk).
pub(crate) fn json_value<T: DeserializeOwned>(value: Value) -> Result<T, serde_json::Error> {
    serde_path_to_error::deserialize(value).map_err(with_path)
}

fn with_path(error: serde_path_to_error::Error<serde_json::Error>) -> serde_json::Error {
    let path = error.path().to_string();
    let inner = error.into_inner();
    // Syntax errors already carry a line and column; a path adds nothing.
    if path == "." || inner.is_syntax() || inner.is_eof() {
        return inner;
    }
    serde::de::Error::custom(format_args!("at `{path}`: {inner}"))
}

/// Decodes a list sent as a bare array (as `GET /models` and `GET /batches`
/// do) or, leniently, as `{"data": [...]}`.
pub(crate) fn bare_list<T: DeserializeOwned>(body: Bytes) -> Result<Vec<T>, serde_json::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum List<T> {
        Bare(Vec<T>),
        Wrapped { data: Vec<T> },
    }
    match serde_json::from_slice::<List<T>>(&body) {
        Ok(List::Bare(items)) | Ok(List::Wrapped { data: items }) => Ok(items),
        // Decode again as a bare array for the precise error message.
        Err(_) => json_slice::<Vec<T>>(&body),
    }
}

/// Keeps the body as bytes.
pub(crate) fn raw(body: Bytes) -> Result<Bytes, serde_json::Error> {
    Ok(body)
}

/// The estimated token count of some text (see `client::estimate`), at
/// least one.
pub(crate) fn tokens_of(text: &str) -> u32 {
    super::estimate::of_text(text)
}
