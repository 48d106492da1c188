//! A correlated outage against the simulator, on paused time: a model
//! answers 503 to everything for 60 s in the middle of a 10-minute run at
//! 2 calls/s against a 10 requests/s limit. The typed client's default
//! stack (retry budget, circuit breaker, both retry layers, limiter) is
//! measured beside three baselines on the same workload and seed: no
//! retries at all, a per-call SDK-style client (3 attempts, exponential
//! backoff, no limiter, budget or breaker), and tower's `Retry` with a
//! naive policy. Figures go to BENCHMARKS.md ("Outages").
#![cfg(feature = "client")]

use std::convert::Infallible;
use std::future::Future;

use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use tokio::time::Instant;
use tower::retry::{Policy, Retry};
use tower::ServiceExt;
use tower_together::circuit_breaker::{CircuitBreakerLayer, OnOpen};
use tower_together::sim::{Fault, Limits, OutageKind, SimService, Simulator};
use tower_together::{
    BackoffLayer, ChatRequest, Message, Quota, RateLimitLayer, Together, TogetherBuilder,
};

const KEY: &str = "sim-key";
const MODEL: &str = "meta-llama/Llama-3.3-70B-Instruct-Turbo";
const FALLBACK: &str = "Qwen/Qwen2.5-7B-Instruct-Turbo";
const SEED: u64 = 10;
const CALLS: u32 = 1200;
const EVERY: Duration = Duration::from_millis(500);
const OUTAGE_START: Duration = Duration::from_secs(300);
const OUTAGE: Duration = Duration::from_secs(60);

fn simulator() -> SimService {
    Simulator::builder()
        .api_key(KEY)
        .limits(Limits::per_second(10))
        .outage(Fault::outage(
            MODEL,
            OUTAGE_START,
            OUTAGE,
            OutageKind::Overloaded,
        ))
        .seed(SEED)
        .service()
}

fn builder() -> TogetherBuilder {
    Together::builder()
        .api_key(KEY)
        .base_url("http://sim.test/v1")
        .rate_limit(RateLimitLayer::new(Quota::per_second(10)))
}

/// One call's outcome: when it started, how long it took, the model that
/// answered (or the error's kind).
#[derive(Debug)]
struct Outcome {
    started: Duration,
    took: Duration,
    answer: Result<String, Failure>,
}

#[derive(Debug, PartialEq)]
enum Failure {
    CircuitOpen,
    Other(String),
}

/// What the server saw, and what the callers got.
#[derive(Debug)]
struct Run {
    outcomes: Vec<Outcome>,
    /// Requests for MODEL that arrived during the outage.
    sent_during: usize,
    /// From the end of the outage to the first 200 for MODEL.
    first_success_after: Option<Duration>,
}

/// Offers CALLS calls, one every EVERY, each made by `call`.
async fn run<F, Fut>(sim: SimService, call: F) -> Run
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<String, Failure>> + Send + 'static,
{
    let start = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..CALLS {
        tokio::time::sleep_until(start + EVERY * i).await;
        let call = call();
        tasks.push(tokio::spawn(async move {
            let began = Instant::now();
            let answer = call.await;
            Outcome {
                started: began - start,
                took: began.elapsed(),
                answer,
            }
        }));
    }
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.unwrap());
    }
    let stats = sim.stats();
    let begin = start + OUTAGE_START;
    let end = begin + OUTAGE;
    let for_model = || {
        stats
            .requests()
            .iter()
            .filter(|r| r.model.as_deref() == Some(MODEL))
    };
    let sent_during = for_model()
        .filter(|r| r.arrival >= begin && r.arrival < end)
        .count();
    let first_success_after = for_model()
        .filter(|r| r.arrival >= end && r.status.is_some_and(|s| s.is_success()))
        .map(|r| r.arrival - end)
        .min();
    Run {
        outcomes,
        sent_during,
        first_success_after,
    }
}

fn typed(
    client: &Together,
) -> impl Fn() -> std::pin::Pin<Box<dyn Future<Output = Result<String, Failure>> + Send>> + '_ {
    move || {
        let client = client.clone();
        Box::pin(async move {
            let request = ChatRequest::new(MODEL, vec![Message::user("hi")]).max_tokens(8);
            match client.chat(request).await {
                Ok(response) => Ok(response.model),
                Err(error) if error.is_circuit_open() => Err(Failure::CircuitOpen),
                Err(error) => Err(Failure::Other(error.to_string())),
            }
        })
    }
}

fn failures(run: &Run) -> usize {
    run.outcomes.iter().filter(|o| o.answer.is_err()).count()
}

/// Requests a client that never retries sends during the outage.
async fn no_retries() -> Run {
    let sim = simulator();
    let client = builder()
        .max_retries(0)
        .retry_budget(None)
        .circuit_breaker(None)
        .build_with_transport(sim.clone())
        .unwrap();
    run(sim, typed(&client)).await
}

#[tokio::test(start_paused = true)]
async fn light_load_outage_costs_no_extra_traffic_and_loses_no_call() {
    let baseline = no_retries().await;

    // A per-call SDK-style client: 3 attempts, backoff 0.5 s doubling, no
    // limiter (a quota far above the server's), no budget, no breaker.
    let sim = simulator();
    let sdk = Together::builder()
        .api_key(KEY)
        .base_url("http://sim.test/v1")
        .rate_limit(RateLimitLayer::new(Quota::per_second(100_000)))
        .backoff(
            BackoffLayer::new()
                .max_retries(2)
                .base_delay(Duration::from_millis(500)),
        )
        .retry_budget(None)
        .circuit_breaker(None)
        .build_with_transport(sim.clone())
        .unwrap();
    let sdk_run = run(sim, typed(&sdk)).await;

    // tower's Retry with a naive policy (resend any error status, 4 times,
    // at once), over the raw simulator.
    let sim = simulator();
    let naive = Retry::new(Naive(4), sim.clone());
    let naive_run = run(sim, move || {
        let naive = naive.clone();
        async move {
            let response = naive.oneshot(chat_request()).await.unwrap();
            if response.status().is_success() {
                Ok(MODEL.to_owned())
            } else {
                Err(Failure::Other(response.status().to_string()))
            }
        }
    })
    .await;

    // The default stack.
    let sim = simulator();
    let client = builder().build_with_transport(sim.clone()).unwrap();
    let ours = run(sim, typed(&client)).await;

    eprintln!(
        "light-load outage, requests sent during the 60 s outage: default stack {}, \
         no retries {}, SDK-style {}, naive tower Retry {}; \
         first success after the end: default {:?}, SDK-style {:?}; \
         failed calls: default {}, no retries {}, SDK-style {}, naive {}",
        ours.sent_during,
        baseline.sent_during,
        sdk_run.sent_during,
        naive_run.sent_during,
        ours.first_success_after,
        sdk_run.first_success_after,
        failures(&ours),
        failures(&baseline),
        failures(&sdk_run),
        failures(&naive_run),
    );
    assert!(baseline.sent_during >= 119, "{}", baseline.sent_during);
    assert!(
        ours.sent_during as f64 <= 1.1 * baseline.sent_during as f64,
        "{} > 1.1 × {}",
        ours.sent_during,
        baseline.sent_during
    );
    assert!(
        sdk_run.sent_during > baseline.sent_during,
        "the baseline multiplies"
    );
    let first = ours
        .first_success_after
        .expect("a success after the outage");
    assert!(first <= Duration::from_secs(2), "{first:?}");
    // Every call's deadline (the 10-minute total timeout) outlasts the
    // outage: every call succeeds.
    assert_eq!(
        failures(&ours),
        0,
        "{:?}",
        ours.outcomes.iter().find(|o| o.answer.is_err())
    );
    assert!(failures(&baseline) >= 119);
}

#[tokio::test(start_paused = true)]
async fn fail_fast_mode_answers_at_once_or_falls_back() {
    let sim = simulator();
    let client = builder()
        .circuit_breaker(CircuitBreakerLayer::new().on_open(OnOpen::FailFast))
        .build_with_transport(sim.clone())
        .unwrap();
    let fast = run(sim, typed(&client)).await;
    let mut refused: Vec<Duration> = fast
        .outcomes
        .iter()
        .filter(|o| o.answer == Err(Failure::CircuitOpen))
        .map(|o| o.took)
        .collect();
    refused.sort();
    // Most calls offered during the outage (120) are refused at once; the
    // others got the 503s that opened the circuit, or were its probes.
    assert!(refused.len() > 60, "{} refused", refused.len());
    let p99 = refused[refused.len() * 99 / 100];
    eprintln!(
        "fail-fast: {} calls refused with a typed error ({} failed in all), p99 {:?}, max {:?}; sent during the outage {}",
        refused.len(),
        failures(&fast),
        p99,
        refused.last().unwrap(),
        fast.sent_during
    );
    assert!(p99 <= Duration::from_millis(100), "{p99:?}");
    // Outside the outage everything succeeds.
    for outcome in &fast.outcomes {
        let outside = outcome.started + outcome.took < OUTAGE_START
            || outcome.started > OUTAGE_START + OUTAGE + Duration::from_secs(3);
        if outside {
            assert!(outcome.answer.is_ok(), "{outcome:?}");
        }
    }

    let sim = simulator();
    let client = builder()
        .fallback(MODEL, [FALLBACK])
        .build_with_transport(sim.clone())
        .unwrap();
    let fallback = run(sim, typed(&client)).await;
    let served_by_fallback = fallback
        .outcomes
        .iter()
        .filter(|o| o.answer.as_deref() == Ok(FALLBACK))
        .count();
    eprintln!(
        "fallback: {served_by_fallback} calls served by {FALLBACK}, {} failed, sent to {MODEL} during the outage {}",
        failures(&fallback),
        fallback.sent_during
    );
    assert_eq!(failures(&fallback), 0);
    assert!(served_by_fallback >= 110, "{served_by_fallback}");
}

fn chat_request() -> Request<Full<Bytes>> {
    let body = format!(
        r#"{{"model":"{MODEL}","messages":[{{"role":"user","content":"hi"}}],"max_tokens":8}}"#
    );
    Request::post("http://sim.test/v1/chat/completions")
        .header("authorization", format!("Bearer {KEY}"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .unwrap()
}

/// Resend any error status, up to n times, at once: what a quick
/// `tower::retry::Policy` often looks like.
#[derive(Clone)]
struct Naive(u32);

impl<B: Clone, ResB> Policy<Request<B>, http::Response<ResB>, Infallible> for Naive {
    type Future = std::future::Ready<()>;

    fn retry(
        &mut self,
        _request: &mut Request<B>,
        result: &mut Result<http::Response<ResB>, Infallible>,
    ) -> Option<Self::Future> {
        let failed = result.as_ref().is_ok_and(|r| !r.status().is_success());
        (failed && self.0 > 0).then(|| {
            self.0 -= 1;
            std::future::ready(())
        })
    }

    fn clone_request(&mut self, request: &Request<B>) -> Option<Request<B>> {
        Some(request.clone())
    }
}

const EMBED: &str = "BAAI/bge-base-en-v1.5";

/// 10 000 inputs at the limit (500 requests of 20 at 10 requests/s: 50 s
/// of work), with the embedding model down for 60 s from 20 s in.
#[tokio::test(start_paused = true)]
async fn full_load_outage_loses_nothing_and_resumes_at_the_ideal_pace() {
    let sim = Simulator::builder()
        .api_key(KEY)
        .limits(Limits::per_second(10))
        .outage(Fault::outage(
            EMBED,
            Duration::from_secs(20),
            OUTAGE,
            OutageKind::Overloaded,
        ))
        .seed(SEED)
        .service();
    // Fail fast, so the run ends with what it has during the outage.
    let client = builder()
        .circuit_breaker(CircuitBreakerLayer::new().on_open(OnOpen::FailFast))
        .build_with_transport(sim.clone())
        .unwrap();
    let texts: Vec<String> = (0..10_000).map(|i| format!("text {i}")).collect();
    let start = Instant::now();
    let error = client.embed_all(EMBED, &texts).await.unwrap_err();
    let first_run = start.elapsed();
    let failed: Vec<usize> = error.failed_inputs().collect();
    let partial = error.into_partial();
    let finished = partial.iter().filter(|v| v.is_some()).count();
    // Every finished vector is in the error, at its input's place, and is
    // the one the server sent.
    let answered_ok = sim
        .stats()
        .requests()
        .iter()
        .filter(|r| r.model.as_deref() == Some(EMBED) && r.status.is_some_and(|s| s.is_success()))
        .count();
    assert_eq!(finished, answered_ok * 20, "every answered batch kept");
    assert_eq!(finished + failed.len(), texts.len());
    for (i, vector) in partial.iter().enumerate() {
        if let Some(vector) = vector {
            assert_eq!(
                vector,
                &tower_together::sim::embedding_for(&texts[i], vector.len())
            );
        }
    }

    // Resume after the outage with what remains.
    tokio::time::sleep_until(start + Duration::from_secs(20) + OUTAGE).await;
    let remaining: Vec<&str> = failed.iter().map(|&i| texts[i].as_str()).collect();
    let resumed = Instant::now();
    let vectors = client.embed_all(EMBED, &remaining).await.unwrap();
    let took = resumed.elapsed();
    assert_eq!(vectors.len(), remaining.len());
    let ideal = Duration::from_secs_f64(remaining.len().div_ceil(20) as f64 / 10.0);
    eprintln!(
        "full-load outage: first run ended after {first_run:?} with {finished} of 10000 vectors kept; \
         resumed {} inputs in {took:?} (ideal {ideal:?}, ratio {:.3})",
        remaining.len(),
        took.as_secs_f64() / ideal.as_secs_f64()
    );
    assert!(!remaining.is_empty());
    assert!(
        took.as_secs_f64() <= 1.05 * ideal.as_secs_f64(),
        "{took:?} > 1.05 × {ideal:?}"
    );
}
