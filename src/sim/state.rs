//! The simulator's state, shared by every clone of its service.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use super::faults::{Fault, FaultKind, Outage, Scripted};
use super::limits::{Limiter, Limits, RetryAfterStyle};
use super::models::SimModel;
use super::records::{BatchJob, FineTuneJob, StoredFile, VideoJob};
use super::stats::Stats;
use super::text::splitmix64;

/// Everything the builder sets.
#[derive(Clone)]
pub(crate) struct Config {
    pub(crate) keys: Vec<Arc<str>>,
    pub(crate) limits: Limits,
    pub(crate) model_limits: HashMap<String, Limits>,
    /// Limits that take over during a run: (model, when after the start,
    /// the new limits), in the order given.
    pub(crate) limit_changes: Vec<(String, Duration, Limits)>,
    pub(crate) retry_after: RetryAfterStyle,
    pub(crate) faults: Vec<Fault>,
    pub(crate) outages: Vec<Outage>,
    pub(crate) script: Vec<Scripted>,
    pub(crate) seed: u64,
    pub(crate) fine_tune_capacity: usize,
    pub(crate) fine_tune_pending: Duration,
    pub(crate) fine_tune_running: Duration,
    pub(crate) batch_validating: Duration,
    pub(crate) batch_running: Duration,
    pub(crate) embedding_dimension: usize,
    pub(crate) max_body_bytes: usize,
    pub(crate) models: Vec<SimModel>,
    /// The gap between two events of a streamed answer (`None`: no gap).
    pub(crate) stream_interval: Option<Duration>,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Keys stay out of logs, even a simulator's.
        f.debug_struct("Config")
            .field("keys", &format_args!("[{} redacted]", self.keys.len()))
            .field("limits", &self.limits)
            .field("model_limits", &self.model_limits)
            .field("limit_changes", &self.limit_changes)
            .field("retry_after", &self.retry_after)
            .field("faults", &self.faults)
            .field("script", &self.script)
            .field("seed", &self.seed)
            .field("fine_tune_capacity", &self.fine_tune_capacity)
            .field("models", &self.models.len())
            .finish_non_exhaustive()
    }
}

impl Config {
    /// The limits of `scope` `elapsed` after the simulator started: the
    /// last scheduled change that has come, else the model's, else the
    /// default.
    pub(crate) fn limits_for(&self, scope: &str, elapsed: Duration) -> Limits {
        self.limit_changes
            .iter()
            .filter(|(model, at, _)| model == scope && *at <= elapsed)
            .max_by_key(|(_, at, _)| *at)
            .map(|(_, _, limits)| *limits)
            .or_else(|| self.model_limits.get(scope).copied())
            .unwrap_or(self.limits)
    }

    pub(crate) fn model(&self, id: &str) -> Option<&SimModel> {
        self.models.iter().find(|m| &*m.id == id)
    }
}

/// The mutable state. A test server needs no finer locking than one mutex,
/// never held across an `.await`.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) config: Config,
    pub(crate) rng: fastrand::Rng,
    pub(crate) script: VecDeque<Scripted>,
    pub(crate) limiter: Limiter,
    pub(crate) stats: Stats,
    epoch: Instant,
    wall_epoch: SystemTime,
    ids: u64,
    pub(crate) files: Vec<StoredFile>,
    pub(crate) fine_tunes: Vec<FineTuneJob>,
    pub(crate) batches: Vec<BatchJob>,
    pub(crate) videos: Vec<VideoJob>,
}

pub(crate) type Shared = Arc<Mutex<State>>;

impl State {
    /// The limits of `scope` now (see [`Config::limits_for`]).
    pub(crate) fn limits_for(&self, scope: &str, now: Instant) -> Limits {
        self.config
            .limits_for(scope, now.saturating_duration_since(self.epoch))
    }

    pub(crate) fn new(config: Config) -> Self {
        let epoch = Instant::now();
        State {
            rng: fastrand::Rng::with_seed(config.seed),
            script: config.script.iter().copied().collect(),
            limiter: Limiter::default(),
            stats: Stats::new(epoch),
            epoch,
            wall_epoch: SystemTime::now(),
            ids: 0,
            files: Vec::new(),
            fine_tunes: Vec::new(),
            batches: Vec::new(),
            videos: Vec::new(),
            config,
        }
    }

    /// The fault of an outage covering `model` at `now`, if any.
    pub(crate) fn outage(&self, model: &str, now: Instant) -> Option<FaultKind> {
        let elapsed = now.saturating_duration_since(self.epoch);
        self.config
            .outages
            .iter()
            .find_map(|outage| outage.fault_at(model, elapsed))
    }

    /// The simulator's wall clock: real at the start, then moved by tokio's
    /// clock, so paused time moves `Date` headers and timestamps too.
    pub(crate) fn wall(&self, at: Instant) -> SystemTime {
        self.wall_epoch + at.saturating_duration_since(self.epoch)
    }

    /// A fresh id: deterministic for a seed and the order of requests.
    pub(crate) fn id(&mut self, prefix: &str) -> String {
        self.ids += 1;
        let mut state = self.config.seed ^ self.ids.wrapping_mul(0xa076_1d64_78bd_642f);
        format!("{prefix}{:016x}", splitmix64(&mut state))
    }

    /// A fresh UUID-shaped id, as batches use.
    pub(crate) fn uuid(&mut self) -> String {
        let hex = format!("{}{}", &self.id("")[..16], &self.id("")[..16]);
        format!(
            "{}-{}-4{}-a{}-{}",
            &hex[0..8],
            &hex[8..12],
            &hex[13..16],
            &hex[17..20],
            &hex[20..32]
        )
    }
}

/// Locks the state; a panic elsewhere while holding it leaves counters that
/// are still worth reading, so poisoning is ignored.
pub(crate) fn lock(shared: &Shared) -> MutexGuard<'_, State> {
    shared
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
