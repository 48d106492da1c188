//! The baselines the end-to-end runs measure this crate against, shared by
//! `tests/e2e.rs` and `tests/e2e_tokens.rs`: the original request's
//! algorithm and tower's `RateLimit` + `Retry` with a naive policy.
#![allow(dead_code, unreachable_pub)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use tokio::time::Instant;
use tower::{Service, ServiceExt};
use tower_together::sim::SimService;
use tower_together::BoxError;

pub type Body = Full<Bytes>;

/// Whether an answer is a 200.
pub fn succeeded<B>(result: Result<Response<B>, impl std::fmt::Debug>) -> bool {
    matches!(result, Ok(response) if response.status() == StatusCode::OK)
}

/// The original request's token bucket: per minute, starts full, refills
/// continuously; a caller without a token sleeps until one is due.
struct OriginalBucket {
    tokens: f64,
    last: Instant,
    max: f64,
    per_ms: f64,
}

impl OriginalBucket {
    fn per_minute(max: f64) -> Self {
        OriginalBucket {
            tokens: max,
            last: Instant::now(),
            max,
            per_ms: max / 60_000.0,
        }
    }

    fn try_take(&mut self) -> Result<(), Duration> {
        let now = Instant::now();
        let elapsed_ms = (now - self.last).as_secs_f64() * 1000.0;
        self.tokens = (self.tokens + elapsed_ms * self.per_ms).min(self.max);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                (1.0 - self.tokens) / self.per_ms / 1000.0,
            ))
        }
    }
}

/// The original request's client: a per-minute bucket of `per_minute`
/// requests, `Retry-After` (default 5 s) plus 0-2 s jitter on 429, 2^n s
/// on 5xx, 4 retries.
#[derive(Clone)]
pub struct Original {
    sim: SimService,
    bucket: Arc<Mutex<OriginalBucket>>,
    rng: Arc<Mutex<fastrand::Rng>>,
}

impl Original {
    pub fn new(sim: SimService, per_minute: f64, seed: u64) -> Self {
        Original {
            sim,
            bucket: Arc::new(Mutex::new(OriginalBucket::per_minute(per_minute))),
            rng: Arc::new(Mutex::new(fastrand::Rng::with_seed(seed))),
        }
    }

    /// Sends one request the original way; whether it ended in a 200.
    pub async fn send(&self, request: Request<Body>) -> bool {
        for attempt in 0..=4u32 {
            loop {
                let wait = self.bucket.lock().unwrap().try_take();
                match wait {
                    Ok(()) => break,
                    // At least a tick: a wait that rounds to zero would
                    // spin without letting paused time move.
                    Err(wait) => tokio::time::sleep(wait.max(Duration::from_millis(1))).await,
                }
            }
            let response = self.sim.clone().oneshot(request.clone()).await.unwrap();
            let status = response.status().as_u16();
            if status == 200 {
                return true;
            }
            if status == 429 {
                let retry_after = response
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(5);
                let jitter = self.rng.lock().unwrap().u64(0..2000);
                tokio::time::sleep(Duration::from_millis(retry_after * 1000 + jitter)).await;
                continue;
            }
            if status >= 500 && attempt < 4 {
                tokio::time::sleep(Duration::from_secs(1 << attempt)).await;
                continue;
            }
            return false;
        }
        false
    }
}

/// Resend 429 and 5xx at once, up to 4 times.
#[derive(Clone)]
pub struct Naive(u32);

impl<B> tower::retry::Policy<Request<Body>, Response<B>, BoxError> for Naive {
    type Future = std::future::Ready<()>;

    fn retry(
        &mut self,
        _: &mut Request<Body>,
        result: &mut Result<Response<B>, BoxError>,
    ) -> Option<Self::Future> {
        let again = match result {
            Ok(response) => response.status() == 429 || response.status().is_server_error(),
            Err(_) => true,
        };
        (again && self.0 < 4).then(|| {
            self.0 += 1;
            std::future::ready(())
        })
    }

    fn clone_request(&mut self, request: &Request<Body>) -> Option<Request<Body>> {
        Some(request.clone())
    }
}

/// tower's `RateLimit` at `per_second` (behind a `Buffer`, to share it) and
/// `Retry` with the naive policy.
/// tower's `RateLimit` behind a `Buffer` (so clones share it).
type SharedRateLimit = tower::buffer::Buffer<
    Request<Body>,
    <tower::limit::RateLimit<SimService> as Service<Request<Body>>>::Future,
>;

#[derive(Clone)]
pub struct TowerNaive {
    client: tower::retry::Retry<Naive, SharedRateLimit>,
}

impl TowerNaive {
    pub fn new(sim: SimService, per_second: u64) -> Self {
        let limited = tower::limit::RateLimit::new(
            sim,
            tower::limit::rate::Rate::new(per_second, Duration::from_secs(1)),
        );
        let shared = tower::buffer::Buffer::new(limited, 1024);
        TowerNaive {
            client: tower::retry::Retry::new(Naive(0), shared),
        }
    }

    /// Sends one request; whether it ended in a 200.
    pub async fn send(&self, request: Request<Body>) -> bool {
        let mut client = self.client.clone();
        match client.ready().await {
            Ok(service) => succeeded(service.call(request).await),
            Err(_) => false,
        }
    }
}
