//! Request extensions through which the layers talk to each other.
//!
//! The layers never call each other: whoever builds a request (the typed
//! `Together` client, or your own code) tags it with these
//! values in [`http::Extensions`], and each layer reads the ones it cares about.
//! Every extension is optional; without it a layer falls back to a default
//! taken from the request itself (its path, method and headers).
//!
//! | extension | read by | default when absent |
//! |---|---|---|
//! | [`Model`] | rate limiter (scope) | one scope per endpoint class |
//! | [`Cost`] | rate limiter (weight in the request budget) | 1 |
//! | [`TokenCost`] | rate limiter (weight in the token budget) | 0 |
//! | [`ApiKeyFingerprint`] | rate limiter (scope) | hash of the `Authorization` header |
//! | [`Deadline`] | both retry layers | no deadline |
//! | [`Idempotency`] | backoff layer | from method and path |
//! | [`AttemptBudget`] | both retry layers | inserted by the outer retry layer |
//! | [`OnOpen`] | circuit breaker | the layer's setting ([`OnOpen::Wait`] by default) |
//! | [`RetryBudget`](crate::RetryBudget) | both retry layers | inserted by [`RetryBudgetLayer`](crate::RetryBudgetLayer); none: no budget across calls |
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use tower_together::extensions::{Cost, Deadline, Model};
//!
//! let mut request = http::Request::post("https://api.together.ai/v1/chat/completions")
//!     .body(String::from("{}"))
//!     .unwrap();
//! request.extensions_mut().insert(Model::new("meta-llama/Llama-3.3-70B-Instruct-Turbo"));
//! request.extensions_mut().insert(Cost::new(3));
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
//! request.extensions_mut().insert(Deadline::after(Duration::from_secs(30)));
//! # });
//! assert_eq!(request.extensions().get::<Cost>().map(|c| c.get()), Some(3));
//! ```

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

pub use crate::attempt_budget::AttemptBudget;

/// What a call does when its circuit is open; set on the
/// [`CircuitBreakerLayer`](crate::circuit_breaker::CircuitBreakerLayer), or per request as an extension.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum OnOpen {
    /// Wait for the circuit to close, up to the request's deadline,
    /// sending nothing.
    #[default]
    Wait,
    /// Fail at once with [`CircuitOpen`](crate::circuit_breaker::CircuitOpen).
    FailFast,
}

/// The model a request is for: part of the rate limiter's scope.
///
/// Together enforces its limits per model, so requests to different models are
/// paced independently when this extension is set.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Model(Arc<str>);

impl Model {
    /// Names the model of a request.
    pub fn new(model: impl Into<Arc<str>>) -> Self {
        Model(model.into())
    }

    /// The model id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Model").field(&&*self.0).finish()
    }
}

impl fmt::Display for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How many units of its scope's quota a request uses (default 1).
///
/// Use it for token-weighted limits: with a quota in tokens per minute, set the
/// cost to the request's token estimate. A cost larger than the quota's burst
/// is not an error: the request waits until the bucket is full, then goes.
/// A cost of 0 is treated as 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cost(u32);

impl Cost {
    /// A request that uses `units` of its quota (0 counts as 1).
    pub const fn new(units: u32) -> Self {
        Cost(if units == 0 { 1 } else { units })
    }

    /// The number of units.
    pub const fn get(self) -> u32 {
        self.0
    }
}

impl Default for Cost {
    fn default() -> Self {
        Cost(1)
    }
}

/// How many tokens a request is expected to use (prompt plus completion):
/// its cost in a token budget (see
/// [`Quota::tokens_per_second`](crate::Quota::tokens_per_second)).
///
/// The typed client sets an estimate on every request; set it yourself on
/// raw requests. The answer's usage corrects it afterwards through
/// [`TokenReservation`](crate::rate_limit::TokenReservation). Without it a
/// request takes no tokens up front (its usage can still be charged when
/// settled). A cost above the token burst waits for a full bucket and goes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TokenCost(u32);

impl TokenCost {
    /// A request expected to use `tokens` tokens.
    pub const fn new(tokens: u32) -> Self {
        TokenCost(tokens)
    }

    /// The number of tokens.
    pub const fn get(self) -> u32 {
        self.0
    }
}

/// The instant by which a request must have finished.
///
/// The retry layers do not start a wait that would end past it: they return
/// the last response at once instead, so the caller can decide.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Deadline(Instant);

impl Deadline {
    /// A deadline at `instant`.
    pub const fn at(instant: Instant) -> Self {
        Deadline(instant)
    }

    /// A deadline `timeout` from now (on tokio's clock).
    ///
    /// # Panics
    ///
    /// When called outside a tokio runtime with paused time and the clock
    /// cannot be read; never in ordinary use.
    pub fn after(timeout: Duration) -> Self {
        Deadline(crate::time::later(Instant::now(), timeout))
    }

    /// The deadline instant.
    pub const fn instant(self) -> Instant {
        self.0
    }

    /// Whether a wait of `wait` starting now would end past the deadline.
    pub(crate) fn would_pass(self, wait: Duration) -> bool {
        match Instant::now().checked_add(wait) {
            Some(end) => end > self.0,
            None => true,
        }
    }
}

/// A short, one-way fingerprint of the API key a request is sent with: part of
/// the rate limiter's scope.
///
/// The typed client sets it so the limiter need not hash the `Authorization`
/// header on every request. It is a keyed hash (the key drawn at random once
/// per process), never the API key, and the same for the typed client and
/// for a raw request carrying the same `Authorization` header, so both land
/// in one scope. It means nothing outside the process, and its `Debug`
/// prints no digits of it.
///
/// ```
/// use http::HeaderValue;
/// use tower_together::extensions::ApiKeyFingerprint;
///
/// let header = HeaderValue::from_static("Bearer my-key");
/// assert_eq!(
///     ApiKeyFingerprint::of_api_key("my-key"),
///     ApiKeyFingerprint::of_authorization(&header)
/// );
/// assert!(!format!("{:?}", ApiKeyFingerprint::of_api_key("my-key")).contains("my-key"));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ApiKeyFingerprint(u64);

impl ApiKeyFingerprint {
    /// The fingerprint of an `Authorization` header value, as the rate
    /// limiter computes it for requests without this extension.
    pub fn of_authorization(value: &http::HeaderValue) -> Self {
        ApiKeyFingerprint(crate::fingerprint::of_authorization(value.as_bytes()))
    }

    /// The fingerprint of the requests sent with `Authorization: Bearer {key}`.
    pub fn of_api_key(key: &str) -> Self {
        ApiKeyFingerprint(crate::fingerprint::of_authorization(
            format!("Bearer {key}").as_bytes(),
        ))
    }

    /// A fingerprint from a hash value you computed yourself (for scopes of
    /// your own making; it will not match the limiter's for a header).
    pub const fn from_hash(hash: u64) -> Self {
        ApiKeyFingerprint(hash)
    }

    /// The hash value.
    pub const fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Debug for ApiKeyFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKeyFingerprint(..)")
    }
}

/// Whether a request may be sent again after a 5xx or a transport error.
///
/// By default the [`BackoffLayer`](crate::BackoffLayer) decides from the method
/// and path: a `POST` or `PATCH` is sent once, because a second attempt could
/// create a second billed resource (a video, an endpoint, a fine-tune job, a
/// batch, a file), unless it is one of the inference calls whose answer is
/// all they make (`/chat/completions`, `/completions`, `/embeddings`,
/// `/images/generations`, `/rerank`) or a `.../cancel`. A path the layer
/// does not know counts as creating one. Set this extension to override
/// that decision for one request; the typed client sets it on the requests
/// it knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Idempotency {
    /// Safe to send again: retried after a 5xx or a transport error.
    Idempotent,
    /// Not safe to send again: sent once, whatever happens.
    NonIdempotent,
}
