//! One typed call to any path, for endpoints this crate has no type for:
//! method, path and JSON body in, `T: DeserializeOwned` (or the raw bytes)
//! out, through the same stack as every other call.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use bytes::Bytes;
use http::Method;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::client::request::path_id;
use crate::client::{ApiRequest, Error, RequestBody, Together};
use crate::extensions::Idempotency;

/// A call whose answer is JSON decoded as `T`.
pub(crate) struct JsonCall<T> {
    method: Method,
    path: String,
    body: Option<Value>,
    /// Set by [`Together::call_idempotent`]; otherwise the backoff layer
    /// decides from the method and path.
    idempotency: Option<Idempotency>,
    answer: PhantomData<fn() -> T>,
}

// By hand: a derive would ask `T: Clone`/`T: Debug`, which `T` need not be.
impl<T> Clone for JsonCall<T> {
    fn clone(&self) -> Self {
        JsonCall {
            method: self.method.clone(),
            path: self.path.clone(),
            body: self.body.clone(),
            idempotency: self.idempotency,
            answer: PhantomData,
        }
    }
}

impl<T> fmt::Debug for JsonCall<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JsonCall")
            .field("method", &self.method)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// A call whose answer is kept as bytes (audio, files...).
#[derive(Clone, Debug)]
pub(crate) struct BytesCall(JsonCall<Value>);

/// Checks a caller's path: `/` then segments an id may hold, and an
/// optional plain query, so nothing can leave the base URL.
fn checked(path: &str) -> Result<(), Error> {
    let (path_part, query) = match path.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path, None),
    };
    let bad = || Error::invalid_request(format!("not a path this client sends to: {path:?}"));
    let rest = path_part.strip_prefix('/').ok_or_else(bad)?;
    for segment in rest.split('/') {
        path_id(segment).map_err(|_| bad())?;
    }
    if let Some(query) = query {
        let plain = query
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.~=&%+,".contains(&b));
        if !plain {
            return Err(bad());
        }
    }
    Ok(())
}

impl<T: DeserializeOwned + Send + 'static> ApiRequest for JsonCall<T> {
    type Response = T;

    fn method(&self) -> Method {
        self.method.clone()
    }

    fn path(&self) -> Cow<'_, str> {
        Cow::Borrowed(&self.path)
    }

    fn body(&self) -> Result<RequestBody, Error> {
        checked(&self.path)?;
        match &self.body {
            Some(body) => RequestBody::json(body),
            None => Ok(RequestBody::empty()),
        }
    }

    fn decode(&self, body: Bytes) -> Result<T, serde_json::Error> {
        super::json(body)
    }

    /// The body's `model`, so the call is rate limited in its model's scope.
    fn model(&self) -> Option<&str> {
        self.body.as_ref()?.get("model")?.as_str()
    }

    fn idempotency(&self) -> Option<Idempotency> {
        self.idempotency
    }
}

impl ApiRequest for BytesCall {
    type Response = Bytes;

    fn method(&self) -> Method {
        self.0.method()
    }

    fn path(&self) -> Cow<'_, str> {
        self.0.path()
    }

    fn body(&self) -> Result<RequestBody, Error> {
        self.0.body()
    }

    fn decode(&self, body: Bytes) -> Result<Bytes, serde_json::Error> {
        Ok(body)
    }

    fn model(&self) -> Option<&str> {
        self.0.model()
    }

    fn idempotency(&self) -> Option<Idempotency> {
        self.0.idempotency()
    }
}

impl Together {
    /// Calls any endpoint: `method` on `path` (below the base URL, e.g.
    /// `/fine-tunes/models/limits?model_name=...`), with an optional JSON
    /// body, the answer decoded as `T`. The call goes through the same
    /// layers as the typed ones; a body's `model` scopes its rate limit.
    ///
    /// A `POST` or `PATCH` to a path the backoff layer does not know (any
    /// but chat, completions, embeddings, images, rerank and cancels) is
    /// sent once after a 5xx or a transport error, since it may create a
    /// billed resource; use [`call_idempotent`](Together::call_idempotent)
    /// for one that is safe to repeat.
    ///
    /// ```no_run
    /// # async fn run(client: tower_together::Together) -> Result<(), tower_together::Error> {
    /// use serde_json::{json, Value};
    ///
    /// let estimate: Value = client
    ///     .call(http::Method::POST, "/fine-tunes/estimate-price", Some(json!({"training_file": "file-1"})))
    ///     .await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`chat`](Together::chat); `InvalidRequest` for a path that is not
    /// `/` and plain segments (and a plain query).
    pub async fn call<T>(&self, method: Method, path: &str, body: Option<Value>) -> Result<T, Error>
    where
        T: DeserializeOwned + Send + 'static,
    {
        self.send(JsonCall {
            method,
            path: path.to_owned(),
            body,
            idempotency: None,
            answer: PhantomData,
        })
        .await
    }

    /// [`call`](Together::call) for a request that is safe to send again
    /// (it creates nothing, or the server deduplicates it): resent after a
    /// 5xx or a transport error whatever its method and path.
    ///
    /// # Errors
    ///
    /// As [`call`](Together::call).
    pub async fn call_idempotent<T>(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<T, Error>
    where
        T: DeserializeOwned + Send + 'static,
    {
        self.send(JsonCall {
            method,
            path: path.to_owned(),
            body,
            idempotency: Some(Idempotency::Idempotent),
            answer: PhantomData,
        })
        .await
    }

    /// [`call`](Together::call), keeping the answer's bytes as they came.
    ///
    /// # Errors
    ///
    /// As [`call`](Together::call).
    pub async fn call_bytes(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Bytes, Error> {
        self.send(BytesCall(JsonCall {
            method,
            path: path.to_owned(),
            body,
            idempotency: None,
            answer: PhantomData,
        }))
        .await
    }
}
