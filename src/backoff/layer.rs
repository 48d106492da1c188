use std::time::Duration;

use tower::retry::Retry;
use tower_layer::Layer;

use super::policy::{BackoffPolicy, Config};
use super::Backoff;

/// Resends requests that failed with a 5xx or a transport error, with
/// exponential backoff and jitter.
///
/// See the [module docs](super) for the behaviour and an example.
#[derive(Clone, Copy, Debug, Default)]
pub struct BackoffLayer {
    config: Config,
}

impl BackoffLayer {
    /// Defaults: 4 retries, delays 1 s, 2 s, 4 s, 8 s (each shortened by up
    /// to 25 % jitter), capped at 30 s.
    pub fn new() -> Self {
        BackoffLayer::default()
    }

    /// How many times one request is resent (default 4).
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.config.max_retries = retries;
        self
    }

    /// The delay before the first resend; it doubles each time (default 1 s).
    pub fn base_delay(mut self, delay: Duration) -> Self {
        self.config.base_delay = delay;
        self
    }

    /// The cap on every delay, including a server's `Retry-After` on a 5xx
    /// (default 30 s).
    pub fn max_delay(mut self, delay: Duration) -> Self {
        self.config.max_delay = delay;
        self
    }

    /// The largest share of a delay that jitter may take off it, in `[0, 1]`
    /// (default 0.25, as Together's SDKs do). Jitter only ever shortens a
    /// delay, so it never passes the cap. Values outside `[0, 1]` are clamped.
    pub fn jitter(mut self, fraction: f64) -> Self {
        self.config.jitter = if fraction.is_nan() {
            0.0
        } else {
            fraction.clamp(0.0, 1.0)
        };
        self
    }

    /// Also resend requests that are not safe to repeat (a `POST` creating a
    /// fine-tune job, a batch or a file). Off by default: a second attempt
    /// could start a second billed job. The
    /// [`Idempotency`](crate::extensions::Idempotency) extension overrides
    /// this per request.
    pub fn retry_non_idempotent(mut self, retry: bool) -> Self {
        self.config.retry_non_idempotent = retry;
        self
    }
}

impl<S> Layer<S> for BackoffLayer {
    type Service = Backoff<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Retry::new(BackoffPolicy::new(self.config), inner)
    }
}
