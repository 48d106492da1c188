//! Small header helpers shared by the service and the pipeline (apart, so
//! neither imports the other for them).

use std::time::Duration;

use http::{header, HeaderMap, HeaderValue};

/// Sets a header the simulator built itself; values are always valid.
pub(crate) fn set_header(headers: &mut HeaderMap, name: header::HeaderName, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(name, value);
    }
}

/// Rounds a wait up to whole seconds, as `Retry-After` must be.
pub(crate) fn whole_seconds(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}
