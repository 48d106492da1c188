//! An answer's body on the wire: SSE framing, and the faults that break it.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName};
use serde_json::{json, Value};

use super::body::SimBody;
use super::faults::FaultKind;
use super::headers::set_header;
use super::limits::Budget;
use super::reply::Payload;

/// The body of an answer, with the body fault that landed on it, if any.
/// `interval` paces a streamed answer's events (see
/// [`stream_interval`](super::SimulatorBuilder::stream_interval)).
pub(crate) fn body(
    payload: Payload,
    streamed: bool,
    fault: Option<FaultKind>,
    interval: Option<Duration>,
) -> SimBody {
    let chunks = match payload {
        Payload::Bytes(bytes) => vec![bytes],
        Payload::Events(mut events) => {
            if fault == Some(FaultKind::StreamError) {
                stream_error(&mut events);
            }
            events_to_chunks(events)
        }
    };
    let chunks = if fault == Some(FaultKind::MalformedJson) {
        malform(chunks, streamed)
    } else {
        chunks
    };
    if fault == Some(FaultKind::Disconnect) {
        SimBody::cut_off(first_half(chunks))
    } else if streamed {
        SimBody::chunked(chunks).paced(interval)
    } else {
        SimBody::full(chunks.into_iter().next().unwrap_or_default())
    }
}

/// `x-ratelimit-*` and `x-tokenlimit-*`, per second as Together sends them,
/// with the `-dynamic` variants (the simulator's limits are its dynamic
/// rate, so both say the same). The spec is silent on these headers; they
/// follow Together's documented behaviour (together-api.md §2).
pub(crate) fn rate_headers(headers: &mut HeaderMap, budget: &Budget) {
    let limits = budget.limits;
    let pairs = [
        (
            "x-ratelimit-limit-dynamic",
            limits.requests_per_second().to_string(),
        ),
        (
            "x-ratelimit-remaining-dynamic",
            budget.remaining_requests.to_string(),
        ),
        (
            "x-tokenlimit-limit-dynamic",
            limits.token_limit().to_string(),
        ),
        (
            "x-tokenlimit-remaining-dynamic",
            budget.remaining_tokens.to_string(),
        ),
        (
            "x-ratelimit-limit",
            limits.requests_per_second().to_string(),
        ),
        (
            "x-ratelimit-remaining",
            budget.remaining_requests.to_string(),
        ),
        (
            "x-ratelimit-reset",
            format!("{:.3}", budget.reset.as_secs_f64()),
        ),
        ("x-tokenlimit-limit", limits.token_limit().to_string()),
        (
            "x-tokenlimit-remaining",
            budget.remaining_tokens.to_string(),
        ),
    ];
    for (name, value) in pairs {
        set_header(headers, HeaderName::from_static(name), &value);
    }
}

fn events_to_chunks(events: Vec<Value>) -> Vec<Bytes> {
    let mut chunks: Vec<Bytes> = events
        .iter()
        .map(|e| Bytes::from(format!("data: {e}\n\n")))
        .collect();
    // An error event ends the stream without the sentinel, as Together's do.
    let errored = events.last().is_some_and(|e| e.get("error").is_some());
    if !errored {
        chunks.push(Bytes::from_static(b"data: [DONE]\n\n"));
    }
    chunks
}

/// The first half of the bytes of an answer, chunk boundaries kept.
fn first_half(chunks: Vec<Bytes>) -> Vec<Bytes> {
    let total: usize = chunks.iter().map(Bytes::len).sum();
    let mut left = total / 2;
    let mut kept = Vec::new();
    for chunk in chunks {
        if left == 0 {
            break;
        }
        let take = left.min(chunk.len());
        kept.push(chunk.slice(..take));
        left -= take;
    }
    kept
}

/// Half the events, then an `error` object.
fn stream_error(events: &mut Vec<Value>) {
    events.truncate(events.len() / 2);
    events.push(json!({
        "error": {
            "message": "An internal error occurred while generating the response.",
            "type": "server_error",
            "param": null,
            "code": null,
        }
    }));
}

/// Cuts a JSON body in half; for a stream, the middle event's JSON.
fn malform(mut chunks: Vec<Bytes>, streamed: bool) -> Vec<Bytes> {
    let middle = if streamed {
        chunks.len().saturating_sub(1) / 2
    } else {
        0
    };
    if let Some(chunk) = chunks.get_mut(middle) {
        let text = chunk.strip_suffix(b"\n\n").unwrap_or(chunk);
        let mut broken = text[..text.len() / 2].to_vec();
        if streamed {
            broken.extend_from_slice(b"\n\n");
        }
        *chunk = Bytes::from(broken);
    }
    chunks
}
