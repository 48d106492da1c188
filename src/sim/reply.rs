//! An endpoint's answer before faults and headers are applied: what the
//! endpoints build and `render` and `pipeline` put on the wire.

use bytes::Bytes;
use http::{HeaderName, StatusCode};
use serde_json::Value;

/// The content type of a streamed answer.
pub(crate) const EVENT_STREAM: &str = "text/event-stream";

/// An answer before faults and headers are applied.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) content_type: &'static str,
    pub(crate) payload: Payload,
    pub(crate) headers: Vec<(HeaderName, String)>,
}

/// What the body holds.
#[derive(Debug)]
pub(crate) enum Payload {
    /// A whole body.
    Bytes(Bytes),
    /// Server-sent events, one `data:` line each, then `data: [DONE]`.
    Events(Vec<Value>),
}

impl Reply {
    pub(crate) fn json(status: StatusCode, value: &Value) -> Reply {
        Reply {
            status,
            content_type: "application/json",
            payload: Payload::Bytes(Bytes::from(value.to_string())),
            headers: Vec::new(),
        }
    }

    pub(crate) fn ok(value: &Value) -> Reply {
        Reply::json(StatusCode::OK, value)
    }

    pub(crate) fn events(events: Vec<Value>) -> Reply {
        Reply {
            status: StatusCode::OK,
            content_type: EVENT_STREAM,
            payload: Payload::Events(events),
            headers: Vec::new(),
        }
    }

    pub(crate) fn raw(status: StatusCode, content_type: &'static str, body: Bytes) -> Reply {
        Reply {
            status,
            content_type,
            payload: Payload::Bytes(body),
            headers: Vec::new(),
        }
    }
}
