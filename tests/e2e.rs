//! End to end, in virtual time: 10 000 chat requests, 256 at once, against
//! the simulator enforcing 10 requests/s per model (burst 10) with 1 % 503s.
//! The same workload and seed through four client stacks:
//!
//! 1. this crate with the right quota;
//! 2. this crate with a quota twice too high (the limit unknown to the user);
//! 3. the original request's algorithm: a per-minute token bucket that starts
//!    full, `Retry-After` (default 5 s) plus 0-2 s jitter on 429, 2^n s on
//!    5xx, 4 retries;
//! 4. tower's `RateLimit` (behind a `Buffer`, to share it) + `Retry` with a
//!    naive policy (resend 429 and 5xx at once, 4 times).
//!
//! Run `cargo test --release --all-features --test e2e -- --nocapture` for
//! the table; the targets are asserted, so CI holds them.
#![cfg(feature = "sim")]

mod e2e_support;

use std::time::Duration;

use bytes::Bytes;
use e2e_support::{succeeded, Body, Original, TowerNaive};
use futures_util::stream::{self, StreamExt};
use http::Request;
use http_body_util::Full;
use tokio::time::Instant;
use tower::{ServiceBuilder, ServiceExt};
use tower_together::extensions::Model;
use tower_together::sim::{Fault, Limits, SimService, Simulator};
use tower_together::{BackoffLayer, Quota, RateLimitLayer, RetryAfterLayer};

const MODEL: &str = "meta-llama/Llama-3.3-70B-Instruct-Turbo";
const REQUESTS: usize = 10_000;
const CONCURRENCY: usize = 256;
const RATE: u32 = 10;
const SEED: u64 = 7;

fn simulator() -> SimService {
    Simulator::builder()
        .limits(Limits::per_second(RATE).burst(RATE))
        .fault(Fault::overloaded(0.01))
        .seed(SEED)
        .service()
}

fn chat(i: usize) -> Request<Body> {
    let body = format!(
        r#"{{"model":"{MODEL}","messages":[{{"role":"user","content":"request {i}"}}],"max_tokens":8}}"#
    );
    let mut request = Request::post("http://sim.invalid/v1/chat/completions")
        .header("authorization", "Bearer sim-key")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    request.extensions_mut().insert(Model::new(MODEL));
    request
}

#[derive(Debug)]
struct Outcome {
    name: &'static str,
    rate_limited: u64,
    failures: usize,
    makespan: Duration,
    real: std::time::Duration,
}

impl Outcome {
    fn ideal() -> Duration {
        Duration::from_secs_f64(REQUESTS as f64 / f64::from(RATE))
    }

    fn print(&self) {
        println!(
            "{:<46} {:>6} {:>8} {:>10.1} s {:>7.3} {:>8.2} s",
            self.name,
            self.rate_limited,
            self.failures,
            self.makespan.as_secs_f64(),
            self.makespan.as_secs_f64() / Self::ideal().as_secs_f64(),
            self.real.as_secs_f64(),
        );
    }
}

/// Sends the workload through `send` and reads the simulator's counters.
async fn run<F, Fut>(name: &'static str, sim: &SimService, send: F) -> Outcome
where
    F: Fn(Request<Body>) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    // The retry layers' jitter comes from fastrand's thread-local generator:
    // seeding it makes the run repeatable (tests run on one thread).
    fastrand::seed(SEED);
    let real = std::time::Instant::now();
    let start = Instant::now();
    let failures = stream::iter((0..REQUESTS).map(chat))
        .map(send)
        .buffer_unordered(CONCURRENCY)
        .filter(|ok| std::future::ready(!ok))
        .count()
        .await;
    let outcome = Outcome {
        name,
        rate_limited: sim.stats().rate_limited(),
        failures,
        makespan: start.elapsed(),
        real: real.elapsed(),
    };
    outcome.print();
    outcome
}

async fn this_crate(name: &'static str, quota: Quota) -> Outcome {
    let sim = simulator();
    let client = ServiceBuilder::new()
        .layer(BackoffLayer::new())
        .layer(RetryAfterLayer::new())
        .layer(RateLimitLayer::new(quota))
        .service(sim.clone());
    run(name, &sim, |request| {
        let client = client.clone();
        async move { succeeded(client.oneshot(request).await) }
    })
    .await
}

async fn original_algorithm() -> Outcome {
    let sim = simulator();
    // The original keeps 500/min for a 600/min limit.
    let original = Original::new(sim.clone(), 500.0, SEED);
    run("original request's algorithm", &sim, |request| {
        let original = original.clone();
        async move { original.send(request).await }
    })
    .await
}

async fn tower_naive() -> Outcome {
    let sim = simulator();
    let client = TowerNaive::new(sim.clone(), u64::from(RATE));
    run("tower RateLimit + Retry (naive policy)", &sim, |request| {
        let client = client.clone();
        async move { client.send(request).await }
    })
    .await
}

#[tokio::test(start_paused = true)]
async fn end_to_end_against_a_rate_limited_server() {
    println!(
        "{REQUESTS} chat requests, {CONCURRENCY} at once; server {RATE}/s per model, burst {RATE}, 1 % 503s; ideal {:.0} s",
        Outcome::ideal().as_secs_f64()
    );
    println!(
        "{:<46} {:>6} {:>8} {:>12} {:>7} {:>10}",
        "client", "429s", "failed", "makespan", "/ideal", "real time"
    );
    let right = this_crate(
        "tower-together, right quota (10/s)",
        Quota::per_second(RATE),
    )
    .await;
    let too_high = this_crate(
        "tower-together, quota 2x too high (20/s)",
        Quota::per_second(2 * RATE),
    )
    .await;
    let original = original_algorithm().await;
    let naive = tower_naive().await;

    // Case 1: no 429, no failure, within 2 % of the ideal makespan.
    assert_eq!(right.rate_limited, 0);
    assert_eq!(right.failures, 0);
    let ratio = right.makespan.as_secs_f64() / Outcome::ideal().as_secs_f64();
    assert!(ratio <= 1.02, "makespan {ratio:.3} x ideal");
    // Case 2: no failure, and at least 10x fewer 429s than the original.
    assert_eq!(too_high.failures, 0);
    assert!(
        too_high.rate_limited * 10 <= original.rate_limited,
        "{} vs {} 429s",
        too_high.rate_limited,
        original.rate_limited
    );
    // Every case under a minute of real time.
    for outcome in [&right, &too_high, &original, &naive] {
        assert!(
            outcome.real < std::time::Duration::from_secs(60),
            "{outcome:?}"
        );
    }
}
