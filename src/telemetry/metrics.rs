//! Metrics through the `metrics` facade (feature `metrics`): any exporter
//! (Prometheus, StatsD, OpenTelemetry...) installed as the global recorder
//! receives them. Without the feature each function is empty.
//!
//! Labels are bounded: `endpoint` (an endpoint class), `model` (at most
//! [`MAX_MODEL_LABELS`] distinct values, then `other`), `reason` (a fixed
//! set). Never the key, a request id or anything per request.

#[cfg(feature = "metrics")]
use std::collections::HashSet;
#[cfg(feature = "metrics")]
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use http::{Request, StatusCode};

use crate::endpoint::Endpoint;
use crate::extensions::Model;

/// Counter: requests the limiter admitted and sent (every attempt).
pub const REQUESTS_ADMITTED: &str = "together_requests_admitted_total";
/// Counter: 429 answers received.
pub const RATE_LIMITED: &str = "together_rate_limited_total";
/// Counter: 5xx answers received.
pub const SERVER_ERRORS: &str = "together_server_errors_total";
/// Counter: resends, by `reason` (`retry_after`, `backoff`).
pub const RETRIES: &str = "together_retries_total";
/// Counter: calls that gave up before their retries were spent, by
/// `reason` (`budget_exhausted`, `circuit_open`).
pub const GAVE_UP: &str = "together_calls_gave_up_total";
/// Histogram: seconds from an attempt entering the limiter to its answer
/// (its wait for a slot included).
pub const ATTEMPT_DURATION: &str = "together_attempt_duration_seconds";
/// Histogram: seconds a request waited in the rate limiter for its slot.
/// Only requests that waited record one: a request granted at once records
/// nothing, so the limiter's fast path stays free of metrics (the requests
/// that did not wait are `together_requests_admitted_total` minus this
/// histogram's count).
pub const RATE_LIMIT_WAIT: &str = "together_rate_limit_wait_seconds";
/// Gauge: requests per second the limiter paces at now (the quota, or what
/// was learned, or cut after a 429), summed over API keys. This gauge and
/// the three below are set by `RateLimitLayer::publish_metrics` (or
/// `Snapshot::record_metrics`), not by requests.
pub const RATE_LIMIT_REQUESTS_PER_SECOND: &str = "together_rate_limit_requests_per_second";
/// Gauge: tokens per second the limiter paces at now, summed over API
/// keys; only for scopes with a token budget.
pub const RATE_LIMIT_TOKENS_PER_SECOND: &str = "together_rate_limit_tokens_per_second";
/// Gauge: requests waiting in the limiter for a slot, summed over API keys.
pub const RATE_LIMIT_WAITING: &str = "together_rate_limit_waiting";
/// Gauge: seconds the pause after a 429 still holds the scope (0: not
/// paused); the longest over API keys.
pub const RATE_LIMIT_PAUSE: &str = "together_rate_limit_pause_seconds";
/// How many distinct `model` label values are kept; later models are
/// labelled `other`, so a flood of model names cannot grow the series.
pub const MAX_MODEL_LABELS: usize = 256;

/// The bounded `model` label.
#[cfg(feature = "metrics")]
fn model_label(model: Option<&Model>) -> metrics::SharedString {
    static SEEN: OnceLock<Mutex<HashSet<Arc<str>>>> = OnceLock::new();
    let Some(model) = model else {
        return metrics::SharedString::const_str("none");
    };
    let mut seen = SEEN
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    // A model seen before shares its stored name: no allocation per call.
    if let Some(name) = seen.get(model.as_str()) {
        return metrics::SharedString::from(name.clone());
    }
    if seen.len() < MAX_MODEL_LABELS {
        let name: Arc<str> = Arc::from(model.as_str());
        seen.insert(name.clone());
        metrics::SharedString::from(name)
    } else {
        metrics::SharedString::const_str("other")
    }
}

#[cfg(feature = "metrics")]
fn labels_of(
    endpoint: Endpoint,
    model: Option<&Model>,
) -> [(&'static str, metrics::SharedString); 2] {
    [
        (
            "endpoint",
            metrics::SharedString::const_str(endpoint.as_str()),
        ),
        ("model", model_label(model)),
    ]
}

#[cfg(feature = "metrics")]
fn labels<B>(request: &Request<B>) -> [(&'static str, metrics::SharedString); 2] {
    labels_of(
        Endpoint::from_path(request.uri().path()),
        request.extensions().get::<Model>(),
    )
}

/// One attempt answered (`status`) or failed (`None`) after `took`.
#[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
pub(crate) fn attempt(
    endpoint: Endpoint,
    model: Option<&Model>,
    status: Option<StatusCode>,
    took: Duration,
) {
    #[cfg(feature = "metrics")]
    {
        let labels = labels_of(endpoint, model);
        metrics::counter!(REQUESTS_ADMITTED, &labels).increment(1);
        metrics::histogram!(ATTEMPT_DURATION, &labels).record(took.as_secs_f64());
        match status {
            Some(StatusCode::TOO_MANY_REQUESTS) => {
                metrics::counter!(RATE_LIMITED, &labels).increment(1);
            }
            Some(status) if status.is_server_error() => {
                metrics::counter!(SERVER_ERRORS, &labels).increment(1);
            }
            _ => {}
        }
    }
}

/// A resend scheduled, for `reason`.
#[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
pub(crate) fn retry<B>(request: &Request<B>, reason: &'static str) {
    #[cfg(feature = "metrics")]
    {
        let [endpoint, model] = labels(request);
        metrics::counter!(RETRIES, &[endpoint, model, ("reason", reason.into())]).increment(1);
    }
}

/// A call that gave up, for `reason`.
#[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
pub(crate) fn gave_up<B>(request: &Request<B>, reason: &'static str) {
    #[cfg(feature = "metrics")]
    {
        let [endpoint, model] = labels(request);
        metrics::counter!(GAVE_UP, &[endpoint, model, ("reason", reason.into())]).increment(1);
    }
}

/// A request waited `waited` in the rate limiter for its slot.
#[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
pub(crate) fn slot_wait(endpoint: Endpoint, model: Option<&Model>, waited: Duration) {
    #[cfg(feature = "metrics")]
    {
        let labels = labels_of(endpoint, model);
        metrics::histogram!(RATE_LIMIT_WAIT, &labels).record(waited.as_secs_f64());
    }
}

/// Sets the gauges of one (endpoint, model): its live rates, waiters and
/// pause (see the `RATE_LIMIT_*` gauges).
#[cfg(feature = "metrics")]
pub(crate) fn scope_gauges(
    endpoint: Endpoint,
    model: Option<&Model>,
    requests_per_second: f64,
    tokens_per_second: Option<f64>,
    waiting: usize,
    pause: Duration,
) {
    let labels = labels_of(endpoint, model);
    metrics::gauge!(RATE_LIMIT_REQUESTS_PER_SECOND, &labels).set(requests_per_second);
    if let Some(tokens) = tokens_per_second {
        metrics::gauge!(RATE_LIMIT_TOKENS_PER_SECOND, &labels).set(tokens);
    }
    // Exact below 2^53 waiters.
    metrics::gauge!(RATE_LIMIT_WAITING, &labels).set(waiting as f64);
    metrics::gauge!(RATE_LIMIT_PAUSE, &labels).set(pause.as_secs_f64());
}
