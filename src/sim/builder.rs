//! Configures a simulator.

use std::collections::HashMap;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use super::faults::{Fault, Outage, Scripted};
use super::limits::{Limits, RetryAfterStyle};
use super::models::{default_models, SimModel};
use super::server::Simulator;
use super::service::SimService;
use super::state::Config;

// Here rather than in `server`, so the builder depends on the server and not
// the other way round.
impl Simulator {
    /// Configures a simulator.
    pub fn builder() -> SimulatorBuilder {
        SimulatorBuilder::new()
    }
}

/// Builds a [`Simulator`] (real HTTP on loopback) or a [`SimService`]
/// (in-process). See [the module docs](super) for the defaults.
#[derive(Clone, Debug)]
pub struct SimulatorBuilder {
    config: Config,
    keys_set: bool,
}

impl Default for SimulatorBuilder {
    fn default() -> Self {
        SimulatorBuilder {
            config: Config {
                keys: vec![Arc::from("sim-key")],
                limits: Limits::default(),
                model_limits: HashMap::new(),
                limit_changes: Vec::new(),
                retry_after: RetryAfterStyle::Seconds,
                faults: Vec::new(),
                outages: Vec::new(),
                script: Vec::new(),
                seed: 0,
                fine_tune_capacity: 3,
                fine_tune_pending: Duration::from_secs(2),
                fine_tune_running: Duration::from_secs(10),
                batch_validating: Duration::from_secs(1),
                batch_running: Duration::from_secs(5),
                embedding_dimension: 8,
                max_body_bytes: 8 * 1024 * 1024,
                models: default_models(),
                stream_interval: None,
            },
            keys_set: false,
        }
    }
}

impl SimulatorBuilder {
    /// A builder with the defaults.
    pub fn new() -> Self {
        SimulatorBuilder::default()
    }

    /// Accepts this API key. The first call replaces the default `sim-key`;
    /// later calls add keys. Each key has its own rate-limit budgets.
    pub fn api_key(mut self, key: impl Into<Arc<str>>) -> Self {
        if !self.keys_set {
            self.config.keys.clear();
            self.keys_set = true;
        }
        self.config.keys.push(key.into());
        self
    }

    /// The limits of every model (and of the endpoints without a model,
    /// which are limited per endpoint: `models`, `files`, `fine-tunes`,
    /// `batches`). Default: [`Limits::default`].
    pub fn limits(mut self, limits: Limits) -> Self {
        self.config.limits = limits;
        self
    }

    /// From `after` the simulator's start on (its tokio clock), `model` has
    /// these limits: Together changes limits during a run. Several changes
    /// make a schedule; the latest one that has come applies.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_together::sim::{Limits, Simulator};
    ///
    /// // 10 requests/s, then 4 after five minutes, then 12 after ten.
    /// let sim = Simulator::builder()
    ///     .model_limits("m", Limits::per_second(10))
    ///     .limits_from("m", Duration::from_secs(300), Limits::per_second(4))
    ///     .limits_from("m", Duration::from_secs(600), Limits::per_second(12));
    /// # drop(sim);
    /// ```
    pub fn limits_from(
        mut self,
        model: impl Into<String>,
        after: Duration,
        limits: Limits,
    ) -> Self {
        self.config
            .limit_changes
            .push((model.into(), after, limits));
        self
    }

    /// The limits of one model (or endpoint label), overriding
    /// [`limits`](SimulatorBuilder::limits).
    pub fn model_limits(mut self, model: impl Into<String>, limits: Limits) -> Self {
        self.config.model_limits.insert(model.into(), limits);
        self
    }

    /// How 429s carry `Retry-After`. Default: [`RetryAfterStyle::Seconds`].
    pub fn retry_after(mut self, style: RetryAfterStyle) -> Self {
        self.config.retry_after = style;
        self
    }

    /// Adds a fault injected with a probability; faults are rolled in the
    /// order added.
    pub fn fault(mut self, fault: Fault) -> Self {
        self.config.faults.push(fault);
        self
    }

    /// Adds a correlated outage of one model (see [`Fault::outage`]); it
    /// comes before the limiter, so a down model counts nothing.
    pub fn outage(mut self, outage: Outage) -> Self {
        self.config.outages.push(outage);
        self
    }

    /// Sets the outcomes of the next requests, in arrival order (see
    /// [`Scripted`]); appends to any script set before.
    pub fn script(mut self, outcomes: impl IntoIterator<Item = Scripted>) -> Self {
        self.config.script.extend(outcomes);
        self
    }

    /// Seeds the random faults and the ids. Default: 0.
    pub fn seed(mut self, seed: u64) -> Self {
        self.config.seed = seed;
        self
    }

    /// How many fine-tuning jobs may be pending or running at once; one
    /// more is answered 409. Default: 3.
    pub fn fine_tune_capacity(mut self, jobs: usize) -> Self {
        self.config.fine_tune_capacity = jobs;
        self
    }

    /// How long a fine-tuning job stays pending, then running, on tokio
    /// time. Default: 2 s and 10 s.
    pub fn fine_tune_durations(mut self, pending: Duration, running: Duration) -> Self {
        self.config.fine_tune_pending = pending;
        self.config.fine_tune_running = running;
        self
    }

    /// How long a batch stays validating, then in progress, on tokio time.
    /// Default: 1 s and 5 s.
    pub fn batch_durations(mut self, validating: Duration, in_progress: Duration) -> Self {
        self.config.batch_validating = validating;
        self.config.batch_running = in_progress;
        self
    }

    /// The length of embedding vectors. Default: 8.
    pub fn embedding_dimension(mut self, dimension: usize) -> Self {
        self.config.embedding_dimension = dimension;
        self
    }

    /// The largest request body accepted; larger ones get 413. Default: 8 MiB.
    pub fn max_body_bytes(mut self, bytes: usize) -> Self {
        self.config.max_body_bytes = bytes;
        self
    }

    /// Streamed answers send each event `interval` after the one before (on
    /// tokio time), as a model generating tokens does, so a test can tell a
    /// client that passes chunks on as they come from one that waits for
    /// the whole answer. Default: all events at once.
    pub fn stream_interval(mut self, interval: Duration) -> Self {
        self.config.stream_interval = Some(interval);
        self
    }

    /// Adds a model to the catalogue, replacing one with the same id.
    pub fn model(mut self, model: SimModel) -> Self {
        self.config.models.retain(|m| m.id != model.id);
        self.config.models.push(model);
        self
    }

    /// Empties the catalogue, so only models added after are served.
    pub fn without_default_models(mut self) -> Self {
        self.config.models.clear();
        self
    }

    /// The in-process service: no socket, works under paused time.
    pub fn service(self) -> SimService {
        SimService::new(self.config)
    }

    /// Serves the simulator over HTTP/1.1 on `127.0.0.1`, on a free port.
    ///
    /// # Errors
    ///
    /// If the listener cannot be bound.
    pub async fn start(self) -> io::Result<Simulator> {
        Simulator::start(self.service()).await
    }
}
