//! Faults the simulator injects on purpose: by probability, or scripted for
//! exact tests.

use std::sync::Arc;
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

    /// A correlated outage of one model: from `start` after the simulator
    /// started (on tokio time) for `duration`, every request for `model`
    /// gets `kind`, whatever its key; then the model recovers. Add it with
    /// [`SimulatorBuilder::outage`](super::SimulatorBuilder::outage).
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_together::sim::{Fault, OutageKind, Simulator};
    ///
    /// let minute = Duration::from_secs(60);
    /// let service = Simulator::builder()
    ///     .outage(Fault::outage("m", 5 * minute, minute, OutageKind::Overloaded))
    ///     .service();
    /// # drop(service);
    /// ```
    pub fn outage(
        model: impl Into<Arc<str>>,
        start: Duration,
        duration: Duration,
        kind: OutageKind,
    ) -> Outage {
        Outage {
            model: model.into(),
            start,
            duration,
            kind,
        }
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

/// What a model does during an [`Outage`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OutageKind {
    /// 503 "overloaded", no `Retry-After`.
    Overloaded,
    /// 502 with a proxy's HTML page.
    BadGateway,
    /// 524 with Cloudflare's HTML timeout page.
    CloudflareTimeout,
    /// No answer: the request hangs (a day, on tokio time), so the client's
    /// own timeout ends it.
    Hang,
}

/// A span of time in which one model is down; see [`Fault::outage`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outage {
    model: Arc<str>,
    start: Duration,
    duration: Duration,
    kind: OutageKind,
}

impl Outage {
    /// The model that is down.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// When it goes down, after the simulator started.
    pub fn start(&self) -> Duration {
        self.start
    }

    /// How long it stays down.
    pub fn duration(&self) -> Duration {
        self.duration
    }

    /// What it answers meanwhile.
    pub fn kind(&self) -> OutageKind {
        self.kind
    }

    /// The fault a request for `model` gets `elapsed` after the start, if
    /// this outage covers it.
    pub(crate) fn fault_at(&self, model: &str, elapsed: Duration) -> Option<FaultKind> {
        let end = self.start.saturating_add(self.duration);
        if *self.model != *model || elapsed < self.start || elapsed >= end {
            return None;
        }
        Some(match self.kind {
            OutageKind::Overloaded => FaultKind::Overloaded { retry_after: None },
            OutageKind::BadGateway => FaultKind::BadGateway,
            OutageKind::CloudflareTimeout => FaultKind::CloudflareTimeout,
            OutageKind::Hang => FaultKind::Slow(Duration::from_secs(86_400)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outage_covers_its_model_and_span_only() {
        let outage = Fault::outage(
            "m",
            Duration::from_secs(10),
            Duration::from_secs(5),
            OutageKind::Overloaded,
        );
        let at = |s| outage.fault_at("m", Duration::from_secs(s));
        assert_eq!(at(9), None);
        assert!(at(10).is_some());
        assert!(at(14).is_some());
        assert_eq!(at(15), None);
        assert_eq!(outage.fault_at("other", Duration::from_secs(12)), None);
        let forever = Fault::outage("m", Duration::MAX, Duration::MAX, OutageKind::Hang);
        assert_eq!(forever.fault_at("m", Duration::from_secs(1)), None);
    }
}
