//! Faults the simulator injects on purpose: by probability, or scripted for
//! exact tests.

use std::time::Duration;

/// One kind of misbehaviour.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FaultKind {
    /// 503 with Together's "overloaded" body, with or without `Retry-After`.
    Overloaded {
        /// The `Retry-After` to send, in whole seconds (rounded up).
        retry_after: Option<Duration>,
    },
    /// 500 with Together's `server_error` body.
    Internal,
    /// 502 with a short HTML body, as a proxy in front of the service sends.
    BadGateway,
    /// 524 with Cloudflare's HTML timeout page.
    CloudflareTimeout,
    /// The normal answer, after a delay (on tokio time).
    Slow(Duration),
    /// Headers and part of the body, then the connection closes (in-process:
    /// the body yields an error after part of it).
    Disconnect,
    /// A streamed answer carries an `error` object part way through and ends
    /// there. A request that is not streamed gets a 500 instead.
    StreamError,
    /// A 200 whose JSON body is cut in half (for a stream: one chunk is).
    MalformedJson,
}

impl FaultKind {
    /// A short stable name, the key of [`Stats::faults`](super::Stats::faults).
    pub const fn name(&self) -> &'static str {
        match self {
            FaultKind::Overloaded { .. } => "overloaded",
            FaultKind::Internal => "internal",
            FaultKind::BadGateway => "bad_gateway",
            FaultKind::CloudflareTimeout => "cloudflare_timeout",
            FaultKind::Slow(_) => "slow",
            FaultKind::Disconnect => "disconnect",
            FaultKind::StreamError => "stream_error",
            FaultKind::MalformedJson => "malformed_json",
        }
    }

    /// Whether this fault can apply to a request: a stream error needs a
    /// stream, and only answers with a body can be cut.
    pub(crate) fn applies(&self, streaming: bool) -> bool {
        match self {
            FaultKind::StreamError => streaming,
            _ => true,
        }
    }
}

/// A fault injected with a probability on every admitted request.
///
/// Faults are rolled in the order they were added, with the simulator's
/// seeded random numbers; the first that fires wins.
///
/// ```
/// use std::time::Duration;
/// use tower_together::sim::{Fault, FaultKind};
///
/// let fault = Fault::overloaded(0.05).with_retry_after(Duration::from_secs(2));
/// assert_eq!(fault.kind(), FaultKind::Overloaded { retry_after: Some(Duration::from_secs(2)) });
/// assert_eq!(fault.probability(), 0.05);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Fault {
    kind: FaultKind,
    probability: f64,
}

impl Fault {
    /// A fault of any kind with probability `probability` (clamped to 0..=1).
    pub fn new(kind: FaultKind, probability: f64) -> Self {
        let probability = if probability.is_nan() {
            0.0
        } else {
            probability.clamp(0.0, 1.0)
        };
        Fault { kind, probability }
    }

    /// 503 "overloaded", without `Retry-After` (see [`Fault::with_retry_after`]).
    pub fn overloaded(probability: f64) -> Self {
        Fault::new(FaultKind::Overloaded { retry_after: None }, probability)
    }

    /// 500 server error.
    pub fn internal(probability: f64) -> Self {
        Fault::new(FaultKind::Internal, probability)
    }

    /// 502 bad gateway.
    pub fn bad_gateway(probability: f64) -> Self {
        Fault::new(FaultKind::BadGateway, probability)
    }

    /// 524 with an HTML body.
    pub fn cloudflare_timeout(probability: f64) -> Self {
        Fault::new(FaultKind::CloudflareTimeout, probability)
    }

    /// The normal answer, `delay` late.
    pub fn slow(probability: f64, delay: Duration) -> Self {
        Fault::new(FaultKind::Slow(delay), probability)
    }

    /// The connection closes part way through the answer.
    pub fn disconnect(probability: f64) -> Self {
        Fault::new(FaultKind::Disconnect, probability)
    }

    /// An `error` object in the middle of a stream.
    pub fn stream_error(probability: f64) -> Self {
        Fault::new(FaultKind::StreamError, probability)
    }

    /// A 200 with a body that is not valid JSON.
    pub fn malformed_json(probability: f64) -> Self {
        Fault::new(FaultKind::MalformedJson, probability)
    }

    /// For an overloaded fault, the `Retry-After` to send; other kinds are
    /// left as they are.
    pub fn with_retry_after(mut self, retry_after: Duration) -> Self {
        if let FaultKind::Overloaded { .. } = self.kind {
            self.kind = FaultKind::Overloaded {
                retry_after: Some(retry_after),
            };
        }
        self
    }

    /// What the fault does.
    pub fn kind(&self) -> FaultKind {
        self.kind
    }

    /// How likely it is on each admitted request.
    pub fn probability(&self) -> f64 {
        self.probability
    }
}

/// The outcome of one request, set in advance.
///
/// A script is applied to the next authenticated, well-formed requests in
/// arrival order, one entry each. Entries other than [`Scripted::Ok`] skip the
/// rate limiter (they are neither admitted nor counted against the limit), so
/// a test knows exactly what each request gets.
///
/// ```
/// use tower_together::sim::{FaultKind, Scripted, Simulator};
///
/// // The first request gets 503, the second 429, the third goes through,
/// // the fourth loses its connection half way.
/// let service = Simulator::builder()
///     .script([
///         Scripted::Status(503),
///         Scripted::Status(429),
///         Scripted::Ok,
///         Scripted::Fault(FaultKind::Disconnect),
///     ])
///     .service();
/// // More can be appended while it runs.
/// service.script([Scripted::Status(500)]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Scripted {
    /// No fault: the request goes through the limiter and the random faults
    /// as usual.
    Ok,
    /// An error answer with this status, in Together's shape for it: 429 as
    /// the rate limiter sends it (one second's wait), 503 overloaded, 500,
    /// 502, 524 with HTML, anything else from 400 up with the generic error
    /// body. A status below 400 answers the request normally (still without
    /// the limiter).
    Status(u16),
    /// This fault.
    Fault(FaultKind),
}
