use std::sync::Arc;
use std::time::Duration;

use tower_layer::Layer;

use super::circuit::{Circuits, Settings};
use super::{CircuitBreaker, OnOpen};

/// Guards each (API key, model) with a circuit that opens on a run of
/// outage-like failures; see the [module docs](super).
///
/// Configure it, then build services from it: every service it makes, and
/// every clone of those, share its circuits. [`Clone`] the layer to share
/// them further; a second [`CircuitBreakerLayer::new`] has circuits of its own.
#[derive(Clone, Debug)]
pub struct CircuitBreakerLayer {
    settings: Settings,
    on_open: OnOpen,
    max_replays: u32,
    circuits: Arc<Circuits>,
}

impl Default for CircuitBreakerLayer {
    fn default() -> Self {
        CircuitBreakerLayer::new()
    }
}

impl CircuitBreakerLayer {
    /// Defaults: open after 10 outage-like failures in a row; probe after
    /// 1 s, then every 2 s; calls wait for the circuit to close (up to their
    /// deadline); at most 1024 circuits.
    pub fn new() -> Self {
        let settings = Settings {
            failure_threshold: 10,
            cooldown: Duration::from_secs(1),
            max_cooldown: Duration::from_secs(2),
            max_circuits: 1024,
        };
        CircuitBreakerLayer {
            settings,
            on_open: OnOpen::Wait,
            max_replays: 3,
            circuits: Arc::new(Circuits::new(settings)),
        }
    }

    fn with(mut self, change: impl FnOnce(&mut Settings)) -> Self {
        change(&mut self.settings);
        // New settings, new circuits: a layer is configured, then built once.
        self.circuits = Arc::new(Circuits::new(self.settings));
        self
    }

    /// Outage-like failures in a row that open a circuit (default 10; 0
    /// counts as 1).
    pub fn failure_threshold(self, failures: u32) -> Self {
        self.with(|s| s.failure_threshold = failures.max(1))
    }

    /// The wait before the first probe of an open circuit (default 1 s);
    /// it doubles after each failed probe, up to
    /// [`max_cooldown`](Self::max_cooldown).
    pub fn cooldown(self, cooldown: Duration) -> Self {
        self.with(|s| s.cooldown = cooldown)
    }

    /// The longest wait between two probes (default 2 s).
    pub fn max_cooldown(self, cooldown: Duration) -> Self {
        self.with(|s| s.max_cooldown = cooldown)
    }

    /// The most circuits kept (default 1024; 0 counts as 1).
    pub fn max_circuits(self, circuits: usize) -> Self {
        self.with(|s| s.max_circuits = circuits.max(1))
    }

    /// What a call does when its circuit is open (default
    /// [`OnOpen::Wait`]); a request's own [`OnOpen`] extension wins.
    pub fn on_open(mut self, on_open: OnOpen) -> Self {
        self.on_open = on_open;
        self
    }

    /// How many times, in [`OnOpen::Wait`], a call that failed as its
    /// circuit opened is sent again once it closes (default 3).
    pub fn max_replays(mut self, replays: u32) -> Self {
        self.max_replays = replays;
        self
    }

    /// How many circuits are kept now.
    pub fn circuits(&self) -> usize {
        self.circuits.len()
    }

    /// How many times any circuit of this layer has opened.
    pub fn times_opened(&self) -> u64 {
        self.circuits.times_opened()
    }
}

impl<S> Layer<S> for CircuitBreakerLayer {
    type Service = CircuitBreaker<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CircuitBreaker {
            inner,
            circuits: self.circuits.clone(),
            on_open: self.on_open,
            max_replays: self.max_replays,
        }
    }
}
