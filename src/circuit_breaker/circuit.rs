//! One circuit's state machine, and the bounded map of circuits by
//! (API key fingerprint, model).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use http::{Request, Response};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::extensions::{AttemptBudget, Model};

/// The thresholds of every circuit of one layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Settings {
    pub(crate) failure_threshold: u32,
    pub(crate) cooldown: Duration,
    pub(crate) max_cooldown: Duration,
    pub(crate) max_circuits: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Closed,
    Open,
    /// One probe is in flight; its id.
    Probing(u64),
}

#[derive(Debug)]
struct State {
    phase: Phase,
    /// Outage-like failures in a row, while closed.
    failures: u32,
    /// The wait before the next probe; doubles on each failed probe.
    cooldown: Duration,
    /// When the next probe may go, while open.
    probe_at: Instant,
    next_probe_id: u64,
}

/// What a call arriving at a circuit may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Admit {
    /// Closed: go.
    Pass,
    /// Open and cooled down: go as the one probe.
    Probe(u64),
    /// Open: wait until this instant (a probe may go then), or, while a
    /// probe is in flight (`None`), until it answers.
    Wait(Option<Instant>),
}

/// One (key, model) circuit.
#[derive(Debug)]
pub(crate) struct Circuit {
    settings: Settings,
    state: Mutex<State>,
    /// Woken on every change of phase, so waiting calls look again.
    pub(crate) changed: Notify,
    opened: AtomicU64,
}

impl Circuit {
    pub(crate) fn new(settings: Settings) -> Self {
        Circuit {
            settings,
            state: Mutex::new(State {
                phase: Phase::Closed,
                failures: 0,
                cooldown: settings.cooldown,
                probe_at: Instant::now(),
                next_probe_id: 0,
            }),
            changed: Notify::new(),
            opened: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every update leaves the state consistent, so a poisoned lock is usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn admit(&self, now: Instant) -> Admit {
        let mut state = self.lock();
        match state.phase {
            Phase::Closed => Admit::Pass,
            Phase::Probing(_) => Admit::Wait(None),
            Phase::Open if now >= state.probe_at => {
                let id = state.next_probe_id;
                state.next_probe_id = id.wrapping_add(1);
                state.phase = Phase::Probing(id);
                Admit::Probe(id)
            }
            Phase::Open => Admit::Wait(Some(state.probe_at)),
        }
    }

    /// Learns from one attempt: `failure` when it looked like an outage.
    pub(crate) fn record(&self, failure: bool, now: Instant) {
        let mut state = self.lock();
        let before = state.phase;
        if failure {
            match state.phase {
                Phase::Closed => {
                    state.failures = state.failures.saturating_add(1);
                    if state.failures >= self.settings.failure_threshold {
                        state.phase = Phase::Open;
                        state.cooldown = self.settings.cooldown;
                        state.probe_at = crate::time::later(now, state.cooldown);
                        self.opened.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(reason = "circuit_open", "circuit opened");
                    }
                }
                Phase::Probing(_) => {
                    state.cooldown = state
                        .cooldown
                        .saturating_mul(2)
                        .min(self.settings.max_cooldown);
                    state.phase = Phase::Open;
                    state.probe_at = crate::time::later(now, state.cooldown);
                    tracing::debug!(cooldown = ?state.cooldown, "circuit probe failed");
                }
                // An attempt sent before the circuit opened.
                Phase::Open => {}
            }
        } else {
            state.failures = 0;
            if state.phase != Phase::Closed {
                state.phase = Phase::Closed;
                state.cooldown = self.settings.cooldown;
                tracing::info!("circuit closed");
            }
        }
        let changed = state.phase != before;
        drop(state);
        if changed {
            self.changed.notify_waiters();
        }
    }

    /// A probe dropped before its answer: let the next call probe at once.
    pub(crate) fn abandon_probe(&self, id: u64, now: Instant) {
        let mut state = self.lock();
        if state.phase == Phase::Probing(id) {
            state.phase = Phase::Open;
            state.probe_at = now;
            drop(state);
            self.changed.notify_waiters();
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.lock().phase == Phase::Closed
    }

    /// How many times this circuit has opened.
    pub(crate) fn times_opened(&self) -> u64 {
        self.opened.load(Ordering::Relaxed)
    }

    /// Closed with no failures counted: nothing lost if forgotten.
    fn is_idle(&self) -> bool {
        let state = self.lock();
        state.phase == Phase::Closed && state.failures == 0
    }
}

/// Whether an attempt's outcome says "this model is unwell": a transport
/// error or timeout, 502, 503, 504, 520-524 (Cloudflare's origin errors,
/// 524 a timeout) or 529. 500 is left out (often one request's fault), and
/// so is every 4xx, 429 above all: that is the rate limiter's business.
pub(crate) fn is_outage<ResB, E>(result: &Result<Response<ResB>, E>) -> bool {
    match result {
        Err(_) => true,
        Ok(response) => matches!(
            response.status().as_u16(),
            502 | 503 | 504 | 520..=524 | 529
        ),
    }
}

/// The circuit of one call, on its request, so the retry policies below
/// report each attempt and stop resending once it opens.
#[derive(Clone, Debug)]
pub(crate) struct CallCircuit {
    pub(crate) circuit: Arc<Circuit>,
    /// The last attempt number reported, so two retry layers seeing the same
    /// outcome report it once.
    reported: Arc<AtomicU32>,
}

impl CallCircuit {
    pub(crate) fn new(circuit: Arc<Circuit>) -> Self {
        CallCircuit {
            circuit,
            reported: Arc::new(AtomicU32::new(0)),
        }
    }

    /// Reports attempt `attempt` once.
    fn report(&self, attempt: u32, failure: bool) {
        let previous = self.reported.fetch_max(attempt, Ordering::AcqRel);
        if previous < attempt {
            self.circuit.record(failure, Instant::now());
        }
    }

    pub(crate) fn reported_any(&self) -> bool {
        self.reported.load(Ordering::Acquire) > 0
    }
}

/// Called by the retry policies on every outcome: reports it to the call's
/// circuit, if any; `false` when that circuit is open (do not resend).
pub(crate) fn observe<B, ResB, E>(
    request: &Request<B>,
    result: &Result<Response<ResB>, E>,
) -> bool {
    let Some(call) = request.extensions().get::<CallCircuit>() else {
        return true;
    };
    let attempt = request
        .extensions()
        .get::<AttemptBudget>()
        .map_or(1, AttemptBudget::sent);
    call.report(attempt, is_outage(result));
    let closed = call.circuit.is_closed();
    if !closed {
        tracing::debug!(reason = "circuit_open", "circuit open: not resending");
    }
    closed
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Key {
    api_key: u64,
    model: Option<Model>,
}

/// Circuits by (API key fingerprint, model), at most `max_circuits`.
#[derive(Debug)]
pub(crate) struct Circuits {
    settings: Settings,
    map: Mutex<HashMap<Key, Arc<Circuit>>>,
    opened_total: AtomicU64,
}

impl Circuits {
    pub(crate) fn new(settings: Settings) -> Self {
        Circuits {
            settings,
            map: Mutex::new(HashMap::new()),
            opened_total: AtomicU64::new(0),
        }
    }

    /// The circuit for `request`, or `None` when the map is full of circuits
    /// in use (the call then goes unguarded rather than growing the map).
    pub(crate) fn for_request<B>(&self, request: &Request<B>) -> Option<Arc<Circuit>> {
        let extensions = request.extensions();
        let key = Key {
            api_key: crate::fingerprint::of_request(request),
            model: extensions.get::<Model>().cloned(),
        };
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(circuit) = map.get(&key) {
            return Some(circuit.clone());
        }
        if map.len() >= self.settings.max_circuits {
            // Forget the circuits nobody holds that have nothing to remember.
            let before = map.len();
            map.retain(|_, circuit| {
                let keep = Arc::strong_count(circuit) > 1 || !circuit.is_idle();
                if !keep {
                    self.opened_total
                        .fetch_add(circuit.times_opened(), Ordering::Relaxed);
                }
                keep
            });
            let evicted = before - map.len();
            tracing::debug!(evicted, "circuit map full: evicted idle circuits");
            if map.len() >= self.settings.max_circuits {
                return None;
            }
        }
        let circuit = Arc::new(Circuit::new(self.settings));
        map.insert(key, circuit.clone());
        Some(circuit)
    }

    pub(crate) fn len(&self) -> usize {
        self.map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    pub(crate) fn times_opened(&self) -> u64 {
        let map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        self.opened_total.load(Ordering::Relaxed)
            + map.values().map(|c| c.times_opened()).sum::<u64>()
    }
}
