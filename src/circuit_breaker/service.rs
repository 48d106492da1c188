use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tokio::time::Instant;
use tower_service::Service;

use super::circuit::{Admit, CallCircuit, Circuits};
use super::future::ResponseFuture;
use super::OnOpen;
use crate::extensions::Deadline;
use crate::BoxError;

/// A service guarded by per-(key, model) circuits; made by
/// [`CircuitBreakerLayer`](super::CircuitBreakerLayer).
///
/// # Clone
///
/// Cheap when the inner service is: the circuits are behind an `Arc`, and
/// shared by every clone.
#[derive(Clone, Debug)]
pub struct CircuitBreaker<S> {
    pub(super) inner: S,
    pub(super) circuits: Arc<Circuits>,
    pub(super) on_open: OnOpen,
    pub(super) max_replays: u32,
}

impl<S> CircuitBreaker<S> {
    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, consuming this one.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, B, ResB> Service<Request<B>> for CircuitBreaker<S>
where
    S: Service<Request<B>, Response = Response<ResB>> + Clone,
    S::Error: Into<BoxError>,
    B: Clone,
{
    type Response = Response<ResB>;
    type Error = BoxError;
    type Future = ResponseFuture<S, B>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        // The ready service goes with the call; this one is readied afresh.
        let clone = self.inner.clone();
        let service = std::mem::replace(&mut self.inner, clone);
        let Some(circuit) = self.circuits.for_request(&request) else {
            return ResponseFuture::unguarded(service, request);
        };
        let on_open = request
            .extensions()
            .get::<OnOpen>()
            .copied()
            .unwrap_or(self.on_open);
        let deadline = request.extensions().get::<Deadline>().map(|d| d.instant());
        let call = CallCircuit::new(circuit);
        request.extensions_mut().insert(call.clone());
        let admit = call.circuit.admit(Instant::now());
        ResponseFuture::new(
            service,
            request,
            call,
            admit,
            on_open,
            deadline,
            self.max_replays,
        )
    }
}

/// Whether a call that found `admit` may go now.
pub(super) fn goes_now(admit: Admit) -> Option<Option<u64>> {
    match admit {
        Admit::Pass => Some(None),
        Admit::Probe(id) => Some(Some(id)),
        Admit::Wait(_) => None,
    }
}
