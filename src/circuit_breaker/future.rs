use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use http::{Request, Response};
use pin_project_lite::pin_project;
use tokio::time::Instant;
use tower_service::Service;

use super::circuit::{is_outage, Admit, CallCircuit, Circuit};
use super::service::goes_now;
use super::{CircuitOpen, OnOpen};
use crate::extensions::{Idempotency, Model};
use crate::BoxError;

/// What a waiting call learns.
enum Turn {
    /// Go now; as the probe when `Some`.
    Go(Option<u64>),
    /// The deadline passes before the circuit can close.
    Late,
}

type Wait = Pin<Box<dyn Future<Output = Turn> + Send>>;

pin_project! {
    #[project = StateProj]
    enum State<F> {
        Waiting { wait: Wait },
        Readying,
        Calling { #[pin] future: F },
        Refused,
    }
}

pin_project! {
    /// The future of [`CircuitBreaker`](super::CircuitBreaker): waits while
    /// the call's circuit is open (or refuses at once, per [`OnOpen`]),
    /// then readies a clone of the inner service and calls it.
    #[must_use = "futures do nothing unless polled"]
    pub struct ResponseFuture<S, B>
    where
        S: Service<Request<B>>,
    {
        #[pin]
        state: State<S::Future>,
        service: S,
        request: Option<Request<B>>,
        replay: Option<Request<B>>,
        call: Option<CallCircuit>,
        probe: ProbeGuard,
        on_open: OnOpen,
        deadline: Option<Instant>,
        replays_left: u32,
        last: Option<Result<S::Response, BoxError>>,
    }
}

impl<S, B> ResponseFuture<S, B>
where
    S: Service<Request<B>>,
{
    pub(super) fn unguarded(service: S, request: Request<B>) -> Self {
        ResponseFuture {
            state: State::Readying,
            service,
            request: Some(request),
            replay: None,
            call: None,
            probe: ProbeGuard(None),
            on_open: OnOpen::FailFast,
            deadline: None,
            replays_left: 0,
            last: None,
        }
    }

    pub(super) fn new(
        service: S,
        request: Request<B>,
        call: CallCircuit,
        admit: Admit,
        on_open: OnOpen,
        deadline: Option<Instant>,
        max_replays: u32,
    ) -> Self {
        let mut probe = ProbeGuard(None);
        let state = match (goes_now(admit), on_open) {
            (Some(probe_id), _) => {
                if let Some(id) = probe_id {
                    probe.arm(call.circuit.clone(), id);
                }
                State::Readying
            }
            (None, OnOpen::FailFast) => State::Refused,
            (None, OnOpen::Wait) => State::Waiting {
                wait: Box::pin(wait_turn(call.circuit.clone(), deadline)),
            },
        };
        ResponseFuture {
            state,
            service,
            request: Some(request),
            replay: None,
            call: Some(call),
            probe,
            on_open,
            deadline,
            replays_left: max_replays,
            last: None,
        }
    }
}

/// Waits until the circuit lets the call go, or its deadline cannot be met.
async fn wait_turn(circuit: Arc<Circuit>, deadline: Option<Instant>) -> Turn {
    loop {
        // Registered before looking, so a change between the look and the
        // wait is not missed.
        let mut notified = std::pin::pin!(circuit.changed.notified());
        notified.as_mut().enable();
        let probe_at = match circuit.admit(Instant::now()) {
            Admit::Pass => return Turn::Go(None),
            Admit::Probe(id) => return Turn::Go(Some(id)),
            Admit::Wait(probe_at) => probe_at,
        };
        let wake = match (probe_at, deadline) {
            // No probe can go before the deadline: say so now, not then.
            (Some(at), Some(deadline)) if at > deadline => return Turn::Late,
            (Some(at), Some(deadline)) => Some(at.min(deadline)),
            (at, deadline) => at.or(deadline),
        };
        match wake {
            Some(wake) => {
                let _ = tokio::time::timeout_at(wake, notified).await;
            }
            None => notified.await,
        }
        if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
            return Turn::Late;
        }
    }
}

/// Whether a request may be sent again: not one that creates billed work,
/// unless marked idempotent.
fn replayable<B>(request: &Request<B>) -> bool {
    match request.extensions().get::<Idempotency>() {
        Some(Idempotency::Idempotent) => true,
        Some(Idempotency::NonIdempotent) => false,
        None => !crate::backoff::may_create_billed_work(request),
    }
}

fn refusal<B>(request: Option<&Request<B>>) -> BoxError {
    if let Some(request) = request {
        crate::telemetry::metrics::gave_up(request, "circuit_open");
    }
    let model = request.and_then(|r| r.extensions().get::<Model>());
    Box::new(CircuitOpen::new(model.map(Model::as_str)))
}

impl<S, B, ResB> Future for ResponseFuture<S, B>
where
    S: Service<Request<B>, Response = Response<ResB>>,
    S::Error: Into<BoxError>,
    B: Clone,
{
    type Output = Result<Response<ResB>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Refused => {
                    tracing::debug!(reason = "circuit_open", "circuit open: failing fast");
                    return Poll::Ready(Err(refusal(this.request.as_ref())));
                }
                StateProj::Waiting { wait } => match ready!(wait.as_mut().poll(cx)) {
                    Turn::Go(probe) => {
                        if let (Some(id), Some(call)) = (probe, this.call.as_ref()) {
                            this.probe.arm(call.circuit.clone(), id);
                        }
                        this.state.set(State::Readying);
                    }
                    Turn::Late => {
                        tracing::debug!(
                            reason = "circuit_open",
                            "circuit open past the deadline: giving up"
                        );
                        let refused = refusal(this.request.as_ref());
                        return Poll::Ready(this.last.take().unwrap_or(Err(refused)));
                    }
                },
                StateProj::Readying => {
                    if let Err(error) = ready!(this.service.poll_ready(cx)) {
                        this.probe.abandon();
                        return Poll::Ready(Err(error.into()));
                    }
                    let Some(request) = this.request.take() else {
                        return Poll::Ready(Err(
                            "circuit breaker future polled after completion".into()
                        ));
                    };
                    if *this.on_open == OnOpen::Wait
                        && *this.replays_left > 0
                        && this.call.is_some()
                        && replayable(&request)
                    {
                        *this.replay = Some(request.clone());
                    }
                    let future = this.service.call(request);
                    this.state.set(State::Calling { future });
                }
                StateProj::Calling { future } => {
                    let result = ready!(future.poll(cx)).map_err(Into::into);
                    let failed = is_outage(&result);
                    let Some(call) = this.call.as_ref() else {
                        return Poll::Ready(result);
                    };
                    if !call.reported_any() {
                        // No retry layer below reported the attempts.
                        call.circuit.record(failed, Instant::now());
                    }
                    // A failed probe is the circuit's news, not this call's:
                    // it does not use up a replay.
                    let was_probe = this.probe.disarm();
                    let in_time = this.deadline.is_none_or(|d| Instant::now() < d);
                    if failed && *this.replays_left > 0 && !call.circuit.is_closed() && in_time {
                        if let Some(mut next) = this.replay.take() {
                            // It failed as the circuit opened: send it again
                            // once the circuit closes, sending nothing before.
                            if !was_probe {
                                *this.replays_left -= 1;
                            }
                            let circuit = call.circuit.clone();
                            let fresh = CallCircuit::new(circuit.clone());
                            next.extensions_mut().insert(fresh.clone());
                            *this.call = Some(fresh);
                            *this.request = Some(next);
                            *this.last = Some(result);
                            tracing::debug!(
                                reason = "circuit_open",
                                "waiting for the circuit to close"
                            );
                            this.state.set(State::Waiting {
                                wait: Box::pin(wait_turn(circuit, *this.deadline)),
                            });
                            continue;
                        }
                    }
                    return Poll::Ready(result);
                }
            }
        }
    }
}

impl<S, B> fmt::Debug for ResponseFuture<S, B>
where
    S: Service<Request<B>>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("on_open", &self.on_open)
            .field("deadline", &self.deadline)
            .field("replays_left", &self.replays_left)
            .finish_non_exhaustive()
    }
}

/// The probe slot a call holds: given back if the call is dropped before
/// its answer, so the circuit does not wait for a probe that never ends.
struct ProbeGuard(Option<(Arc<Circuit>, u64)>);

impl ProbeGuard {
    fn arm(&mut self, circuit: Arc<Circuit>, id: u64) {
        self.0 = Some((circuit, id));
    }

    /// Whether the call was the probe.
    fn disarm(&mut self) -> bool {
        self.0.take().is_some()
    }

    fn abandon(&mut self) {
        if let Some((circuit, id)) = self.0.take() {
            circuit.abandon_probe(id, Instant::now());
        }
    }
}

impl Drop for ProbeGuard {
    fn drop(&mut self) {
        self.abandon();
    }
}
