//! End to end, in virtual time: two budgets and live limits, against the
//! simulator, beside the original request's algorithm, tower's `RateLimit`
//! + `Retry`, and this crate without the new parts (same workload, seed).
//!
//! 1. **Token-bound:** 10 000 embedding requests of long documents (2 500
//!    tokens each) against 10 requests/s and 20 000 tokens/s (1 000 in a
//!    debug build).
//! 2. **Unknown limit:** a `learned` scope (starting at 1/s) against a
//!    7 requests/s model.
//! 3. **Changing limit:** 10 → 4 requests/s at 300 s → 12 at 600 s.
//!
//! The documents of case 1 are words the estimator and the simulator count
//! alike, so the figure measures pacing, not the estimate (the estimate's
//! accuracy is `tests/token_estimate.rs`).
//!
//! `cargo test --release --all-features --test e2e_tokens -- --nocapture`
//! prints the tables; with `E2E_CSV=DIR` each run also writes its requests
//! and tokens admitted per second to `DIR/<case>.csv`, which
//! `cargo run --example plot_e2e -- DIR` draws (the pictures in
//! BENCHMARKS.md). The targets are asserted, so CI holds them.
#![cfg(feature = "sim")]

mod e2e_support;

use std::fmt::Write as _;
use std::time::Duration;

use bytes::Bytes;
use e2e_support::{succeeded, Body, Original, TowerNaive};
use futures_util::stream::{self, StreamExt};
use http::Request;
use http_body_util::Full;
use tokio::time::Instant;
use tower::{ServiceBuilder, ServiceExt};
use tower_together::client::estimate_tokens;
use tower_together::extensions::{Model, TokenCost};
use tower_together::rate_limit::RateLimitBuilder;
use tower_together::sim::{Limits, SimService, Simulator, Stats};
use tower_together::{BackoffLayer, Quota, RateLimitLayer, RetryAfterLayer};

const KEY: &str = "sim-key";
const CHAT: &str = "meta-llama/Llama-3.3-70B-Instruct-Turbo";
const EMBED: &str = "BAAI/bge-base-en-v1.5";
const SEED: u64 = 11;
const CONCURRENCY: usize = 64;

/// One client's run of one case.
#[derive(Debug)]
struct Outcome {
    name: String,
    requests: usize,
    rate_limited: u64,
    failures: usize,
    makespan: Duration,
    ideal: Duration,
    stats: Stats,
}

impl Outcome {
    fn ratio(&self) -> f64 {
        self.makespan.as_secs_f64() / self.ideal.as_secs_f64()
    }

    fn print(&self) {
        println!(
            "{:<52} {:>6} {:>5.2} % {:>7} {:>9.1} s {:>7.3}",
            self.name,
            self.rate_limited,
            self.rate_limited as f64 * 100.0 / self.requests as f64,
            self.failures,
            self.makespan.as_secs_f64(),
            self.ratio(),
        );
    }
}

fn header(case: &str, ideal: Duration) {
    println!("\n{case}; ideal {:.0} s", ideal.as_secs_f64());
    println!(
        "{:<52} {:>6} {:>7} {:>7} {:>11} {:>7}",
        "client", "429s", "", "failed", "makespan", "/ideal"
    );
}

/// Sends `requests` through `send`, `CONCURRENCY` at once, and reads the
/// simulator's counters; writes the per-second series when `E2E_CSV` is set.
async fn run<F, Fut>(
    case: &str,
    name: &str,
    sim: &SimService,
    model: &str,
    requests: Vec<Request<Body>>,
    ideal: Duration,
    send: F,
) -> Outcome
where
    F: Fn(Request<Body>) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    fastrand::seed(SEED);
    let total = requests.len();
    let start = Instant::now();
    let failures = stream::iter(requests)
        .map(send)
        .buffer_unordered(CONCURRENCY)
        .filter(|ok| std::future::ready(!ok))
        .count()
        .await;
    let stats = sim.stats();
    let outcome = Outcome {
        name: name.to_owned(),
        requests: total,
        rate_limited: stats.rate_limited(),
        failures,
        makespan: start.elapsed(),
        ideal,
        stats,
    };
    outcome.print();
    write_csv(case, &outcome, model);
    outcome
}

fn write_csv(case: &str, outcome: &Outcome, model: &str) {
    let requests = outcome.stats.admitted_per_second(KEY, model);
    let tokens = outcome.stats.tokens_per_second(KEY, model);
    let mut csv = String::new();
    for (second, (r, t)) in requests.iter().zip(tokens.iter()).enumerate() {
        let _ = writeln!(csv, "{},{second},{r},{t}", outcome.name);
    }
    append_csv(case, &csv);
}

/// The server's limit each second (requests, tokens; tokens 0 where they
/// do not bind), as the series `server limit`.
fn write_limit(case: &str, seconds: u64, limit: impl Fn(u64) -> (u32, u32)) {
    let mut csv = String::new();
    for second in 0..=seconds {
        let (requests, tokens) = limit(second);
        let _ = writeln!(csv, "server limit,{second},{requests},{tokens}");
    }
    append_csv(case, &csv);
}

fn append_csv(case: &str, csv: &str) {
    let Ok(dir) = std::env::var("E2E_CSV") else {
        return;
    };
    let path = std::path::Path::new(&dir).join(format!("{case}.csv"));
    let _ = std::fs::create_dir_all(&dir);
    let mut existing = std::fs::read_to_string(&path).unwrap_or_default();
    existing.push_str(csv);
    std::fs::write(path, existing).unwrap();
}

/// This crate's three layers over the simulator, with `limiter`.
fn stack(
    sim: &SimService,
    limiter: RateLimitLayer,
) -> impl tower::Service<
    Request<Body>,
    Response = http::Response<tower_together::sim::SimBody>,
    Error = impl std::fmt::Debug,
    Future = impl Send,
> + Clone {
    ServiceBuilder::new()
        .layer(BackoffLayer::new())
        .layer(RetryAfterLayer::new())
        .layer(limiter)
        .service(sim.clone())
}

fn request(path: &str, model: &str, body: String, tokens: u32) -> Request<Body> {
    let mut request = Request::post(format!("http://sim.invalid/v1{path}"))
        .header("authorization", format!("Bearer {KEY}"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    request.extensions_mut().insert(Model::new(model));
    request.extensions_mut().insert(TokenCost::new(tokens));
    request
}

// ---- case 1: token-bound embeddings -------------------------------------

/// 10 000 in release (the figures in BENCHMARKS.md); 1 000 in debug builds,
/// where the simulator's JSON and text work on 15 kB bodies is slow, so the
/// README's `cargo test` stays quick. The asserted targets are ratios.
const EMBED_REQUESTS: usize = if cfg!(debug_assertions) {
    1_000
} else {
    10_000
};
const DOC_TOKENS: usize = 2_500;
const EMBED_RPS: u32 = 10;
const EMBED_TPS: u32 = 20_000;

fn document() -> String {
    const WORDS: [&str; 8] = [
        "rate", "limit", "token", "budget", "model", "pace", "queue", "server",
    ];
    (0..DOC_TOKENS)
        .map(|i| WORDS[i % WORDS.len()])
        .collect::<Vec<_>>()
        .join(" ")
}

fn embeddings() -> Vec<Request<Body>> {
    let doc = document();
    let tokens = estimate_tokens(&doc);
    let body = serde_json::json!({"model": EMBED, "input": doc}).to_string();
    (0..EMBED_REQUESTS)
        .map(|_| request("/embeddings", EMBED, body.clone(), tokens))
        .collect()
}

fn embed_simulator() -> SimService {
    Simulator::builder()
        .model_limits(
            EMBED,
            Limits::per_second(EMBED_RPS)
                .burst(EMBED_RPS)
                .tokens_per_second(EMBED_TPS),
        )
        .seed(SEED)
        .service()
}

fn token_ideal() -> Duration {
    Duration::from_secs_f64((EMBED_REQUESTS * DOC_TOKENS) as f64 / f64::from(EMBED_TPS))
}

async fn token_bound(name: &str, limiter: RateLimitLayer) -> Outcome {
    let sim = embed_simulator();
    let client = stack(&sim, limiter);
    run(
        "token_bound",
        name,
        &sim,
        EMBED,
        embeddings(),
        token_ideal(),
        |r| {
            let client = client.clone();
            async move { succeeded(client.oneshot(r).await) }
        },
    )
    .await
}

#[tokio::test(start_paused = true)]
async fn token_bound_embeddings_run_at_the_token_limit() {
    header(
        &format!("1. token-bound: {EMBED_REQUESTS} embeddings of 2 500 tokens, server 10 req/s and 20 000 tokens/s"),
        token_ideal(),
    );
    let both = token_bound(
        "tower-together, requests and tokens",
        RateLimitLayer::new(Quota::per_second(EMBED_RPS).tokens_per_second(EMBED_TPS)),
    )
    .await;
    let learned = token_bound(
        "tower-together, requests only, tokens from headers",
        RateLimitLayer::new(Quota::per_second(EMBED_RPS)),
    )
    .await;
    let requests_only = token_bound(
        "tower-together, requests only, adaptation off",
        RateLimitBuilder::new(Quota::per_second(EMBED_RPS))
            .adaptive(false)
            .build(),
    )
    .await;
    let sim = embed_simulator();
    let original = Original::new(sim.clone(), 500.0, SEED);
    let original = run(
        "token_bound",
        "original request's algorithm",
        &sim,
        EMBED,
        embeddings(),
        token_ideal(),
        |r| {
            let original = original.clone();
            async move { original.send(r).await }
        },
    )
    .await;
    let sim = embed_simulator();
    let naive = TowerNaive::new(sim.clone(), u64::from(EMBED_RPS));
    let naive = run(
        "token_bound",
        "tower RateLimit + Retry (naive)",
        &sim,
        EMBED,
        embeddings(),
        token_ideal(),
        |r| {
            let naive = naive.clone();
            async move { naive.send(r).await }
        },
    )
    .await;

    write_limit("token_bound", both.makespan.as_secs(), |_| {
        (EMBED_RPS, EMBED_TPS)
    });

    assert_eq!(both.rate_limited, 0, "{both:?}");
    assert_eq!(both.failures, 0);
    assert!(both.ratio() <= 1.05, "makespan {:.3} x ideal", both.ratio());
    // Learning the token limit from the first answer keeps it nearly as good.
    assert_eq!(learned.failures, 0);
    assert!(learned.rate_limited <= 10, "{learned:?}");
    // Without tokens, the token limit answers with 429s.
    assert!(requests_only.rate_limited >= 10, "{requests_only:?}");
    assert!(original.rate_limited > 0 && naive.rate_limited > 0);
}

// ---- cases 2 and 3: chat with an unknown or changing limit --------------

fn chats(count: usize) -> Vec<Request<Body>> {
    (0..count)
        .map(|i| {
            let body = format!(
                r#"{{"model":"{CHAT}","messages":[{{"role":"user","content":"request {i}"}}],"max_tokens":8}}"#
            );
            request("/chat/completions", CHAT, body, 12)
        })
        .collect()
}

async fn chat_case<F>(
    case: &str,
    name: &str,
    sim: SimService,
    count: usize,
    ideal: Duration,
    limiter: F,
) -> Outcome
where
    F: FnOnce() -> Option<RateLimitLayer>,
{
    match limiter() {
        Some(limiter) => {
            let client = stack(&sim, limiter);
            run(case, name, &sim, CHAT, chats(count), ideal, |r| {
                let client = client.clone();
                async move { succeeded(client.oneshot(r).await) }
            })
            .await
        }
        None if name.starts_with("original") => {
            let original = Original::new(sim.clone(), 500.0, SEED);
            run(case, name, &sim, CHAT, chats(count), ideal, |r| {
                let original = original.clone();
                async move { original.send(r).await }
            })
            .await
        }
        None => {
            let naive = TowerNaive::new(sim.clone(), 10);
            run(case, name, &sim, CHAT, chats(count), ideal, |r| {
                let naive = naive.clone();
                async move { naive.send(r).await }
            })
            .await
        }
    }
}

/// The four clients of a chat case, ours first (learned mode).
async fn chat_clients(
    case: &str,
    sim: impl Fn() -> SimService,
    count: usize,
    ideal: Duration,
) -> Vec<Outcome> {
    let mut outcomes = Vec::new();
    outcomes.push(
        chat_case(
            case,
            "tower-together, learned (starts at 1/s)",
            sim(),
            count,
            ideal,
            || Some(RateLimitBuilder::learned_together().build()),
        )
        .await,
    );
    outcomes.push(
        chat_case(
            case,
            "tower-together, quota 10/s as a ceiling",
            sim(),
            count,
            ideal,
            || Some(RateLimitLayer::new(Quota::per_second(10))),
        )
        .await,
    );
    outcomes.push(
        chat_case(
            case,
            "original request's algorithm",
            sim(),
            count,
            ideal,
            || None,
        )
        .await,
    );
    outcomes.push(
        chat_case(
            case,
            "tower RateLimit(10/s) + Retry (naive)",
            sim(),
            count,
            ideal,
            || None,
        )
        .await,
    );
    outcomes
}

const UNKNOWN_RATE: u32 = 7;
const UNKNOWN_REQUESTS: usize = 1_400;

#[tokio::test(start_paused = true)]
async fn a_learned_scope_finds_an_unknown_limit() {
    let ideal = Duration::from_secs_f64(UNKNOWN_REQUESTS as f64 / f64::from(UNKNOWN_RATE));
    header(
        "2. unknown limit: 1 400 chats, server 7 req/s (burst 7)",
        ideal,
    );
    let sim = || {
        Simulator::builder()
            .model_limits(CHAT, Limits::per_second(UNKNOWN_RATE).burst(UNKNOWN_RATE))
            .seed(SEED)
            .service()
    };
    let outcomes = chat_clients("unknown_limit", sim, UNKNOWN_REQUESTS, ideal).await;
    let learned = &outcomes[0];
    write_limit("unknown_limit", learned.makespan.as_secs(), |_| {
        (UNKNOWN_RATE, 0)
    });
    let per_second = learned.stats.admitted_per_second(KEY, CHAT);
    // Within 10 s virtual, at least 90 % of the server's rate.
    let reached = per_second
        .iter()
        .position(|n| *n as f64 >= 0.9 * f64::from(UNKNOWN_RATE));
    assert!(reached.is_some_and(|s| s <= 10), "{per_second:?}");
    assert!(
        learned.rate_limited as f64 <= 0.01 * UNKNOWN_REQUESTS as f64,
        "{learned:?}"
    );
    assert_eq!(learned.failures, 0);
    assert!(
        learned.ratio() <= 1.05,
        "makespan {:.3} x ideal",
        learned.ratio()
    );
}

const SCHEDULE: [(u64, u32); 3] = [(0, 10), (300, 4), (600, 12)];
const CHANGING_REQUESTS: usize = 6_600;

/// The ideal makespan for `count` requests under the schedule.
fn schedule_ideal(count: usize) -> Duration {
    let mut left = count as f64;
    let mut at: f64 = 0.0;
    for (i, (start, rate)) in SCHEDULE.iter().enumerate() {
        let end = SCHEDULE
            .get(i + 1)
            .map_or(f64::INFINITY, |(s, _)| *s as f64);
        let capacity = (end - *start as f64) * f64::from(*rate);
        if left <= capacity {
            return Duration::from_secs_f64(at.max(*start as f64) + left / f64::from(*rate));
        }
        left -= capacity;
        at = end;
    }
    Duration::from_secs_f64(at)
}

#[tokio::test(start_paused = true)]
async fn a_learned_scope_follows_a_changing_limit() {
    let ideal = schedule_ideal(CHANGING_REQUESTS);
    header(
        "3. changing limit: 6 600 chats, server 10 -> 4 (300 s) -> 12 req/s (600 s)",
        ideal,
    );
    let sim = || {
        let mut builder = Simulator::builder().seed(SEED);
        for (at, rate) in SCHEDULE {
            let limits = Limits::per_second(rate).burst(rate);
            builder = if at == 0 {
                builder.model_limits(CHAT, limits)
            } else {
                builder.limits_from(CHAT, Duration::from_secs(at), limits)
            };
        }
        builder.service()
    };
    let outcomes = chat_clients("changing_limit", sim, CHANGING_REQUESTS, ideal).await;
    let learned = &outcomes[0];
    write_limit("changing_limit", learned.makespan.as_secs(), |second| {
        let rate = SCHEDULE
            .iter()
            .rev()
            .find(|(at, _)| *at <= second)
            .map_or(SCHEDULE[0].1, |(_, rate)| *rate);
        (rate, 0)
    });
    let per_second = learned.stats.admitted_per_second(KEY, CHAT);
    let mean = |from: usize, to: usize| {
        let slice = &per_second[from.min(per_second.len())..to.min(per_second.len())];
        slice.iter().sum::<u64>() as f64 / slice.len().max(1) as f64
    };
    // Within 5 s of each change, the new rate (to within 10 %).
    assert!(mean(5, 300) >= 9.0, "{:.2}", mean(5, 300));
    assert!(
        (3.6..=4.4).contains(&mean(305, 600)),
        "{:.2}",
        mean(305, 600)
    );
    let end = learned.makespan.as_secs() as usize;
    assert!(
        mean(605, end.saturating_sub(1)) >= 10.8,
        "{:.2}",
        mean(605, end - 1)
    );
    assert!(
        learned.rate_limited as f64 <= 0.01 * CHANGING_REQUESTS as f64,
        "{learned:?}"
    );
    assert_eq!(learned.failures, 0);
    assert!(
        learned.ratio() <= 1.05,
        "makespan {:.3} x ideal",
        learned.ratio()
    );
    // The ceiling of 10/s follows the server down, but not above 10.
    assert!(outcomes[1].makespan > learned.makespan);
}

#[test]
fn the_schedule_ideal_is_right() {
    // 3 000 at 10/s, 1 200 at 4/s, 2 400 at 12/s.
    assert_eq!(schedule_ideal(6_600), Duration::from_secs(800));
    assert_eq!(schedule_ideal(1_000), Duration::from_secs(100));
}

#[test]
fn the_documents_count_alike_for_the_estimator_and_the_simulator() {
    let doc = document();
    assert_eq!(
        estimate_tokens(&doc) as u64,
        tower_together::sim::count_tokens(&doc)
    );
}
