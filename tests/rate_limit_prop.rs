//! Property tests of the rate limiter on paused time: random arrivals,
//! costs, cancellations, learned rate changes and 429 pauses.
//!
//! Checked for every case: no 1 s window holds more than the quota's
//! `rate × 1 s + burst` units; requests of a scope are admitted in arrival
//! order; every request that does not give up is served; a cancelled waiter
//! leaks no capacity (afterwards nobody waits, and a full bucket admits its
//! whole burst at once).
//!
//! Learned rates (`x-ratelimit-limit`, Together's requests per second) are
//! exercised with requests of cost 1 only: a scope has one budget today, and
//! a weighted cost above a learned, smaller burst goes into debt (the
//! documented rule), which mixes request and token units. Weighted costs are
//! exercised with adaptation off. The two-budget limiter (requests and
//! tokens apart) is what lifts that split.
//!
//! `cargo test` runs 64 cases; `PROPTEST_CASES=1000000 cargo test --release
//! --all-features --test rate_limit_prop` runs a million.

use std::convert::Infallible;
use std::future::{ready, Ready};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use http::{Request, Response};
use proptest::prelude::*;
use tokio::time::Instant;
use tower::{Layer, Service, ServiceExt};
use tower_together::extensions::Cost;
use tower_together::{Quota, RateLimitLayer};

const RATE: u32 = 10;
const BURST: u32 = 3;

#[derive(Clone, Debug)]
enum Answer {
    Ok,
    /// A 429 with `Retry-After` in milliseconds (`retry-after-ms`).
    TooMany(u64),
    /// A 200 saying the server allows this many requests a second.
    Limit(u32),
}

#[derive(Clone, Debug)]
struct Arrival {
    gap_ms: u64,
    cost: u32,
    /// Gives up after this long (plus half a millisecond, so it never ties
    /// with a grant on the millisecond grid).
    patience_ms: Option<u64>,
    answer: Answer,
}

fn arrival() -> impl Strategy<Value = Arrival> {
    (
        1u64..300,
        1u32..=BURST,
        prop::option::weighted(0.2, 0u64..500),
        prop_oneof![
            6 => Just(Answer::Ok),
            1 => (0u64..2_000).prop_map(Answer::TooMany),
            1 => (1u32..20).prop_map(Answer::Limit),
        ],
    )
        .prop_map(|(gap_ms, cost, patience_ms, answer)| Arrival {
            gap_ms,
            cost,
            patience_ms,
            answer,
        })
}

/// Answers each request as its arrival says, and records admissions.
#[derive(Clone)]
struct Server {
    script: Arc<Vec<Arrival>>,
    admitted: Arc<Mutex<Vec<(usize, Instant, u32)>>>,
}

impl Service<Request<usize>> for Server {
    type Response = Response<()>;
    type Error = Infallible;
    type Future = Ready<Result<Response<()>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<usize>) -> Self::Future {
        let id = *request.body();
        let cost = request.extensions().get::<Cost>().map_or(1, |c| c.get());
        self.admitted
            .lock()
            .unwrap()
            .push((id, Instant::now(), cost));
        // Ids past the script (the final burst check) are answered 200.
        let answer = self.script.get(id).map_or(&Answer::Ok, |a| &a.answer);
        let response = match answer {
            Answer::Ok => Response::builder().status(200),
            Answer::TooMany(ms) => Response::builder()
                .status(429)
                .header("retry-after-ms", ms.to_string()),
            Answer::Limit(limit) => Response::builder()
                .status(200)
                .header("x-ratelimit-limit", limit.to_string()),
        };
        ready(Ok(response.body(()).unwrap()))
    }
}

fn request(id: usize, cost: u32) -> Request<usize> {
    let mut request = Request::post("https://api.together.ai/v1/chat/completions")
        .body(id)
        .unwrap();
    request.extensions_mut().insert(Cost::new(cost));
    request
}

fn run(script: Vec<Arrival>, adaptive: bool) -> Result<(), TestCaseError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    runtime.block_on(async move {
        let server = Server {
            script: Arc::new(script.clone()),
            admitted: Arc::default(),
        };
        let layer = RateLimitLayer::builder(Quota::per_second(RATE).burst(BURST))
            .adaptive(adaptive)
            .max_pause(Duration::from_secs(2))
            .build();
        let service = layer.layer(server.clone());

        let mut tasks = Vec::new();
        for (id, arrival) in script.iter().enumerate() {
            tokio::time::sleep(Duration::from_millis(arrival.gap_ms)).await;
            let call = service.clone().oneshot(request(id, arrival.cost));
            let patience = arrival
                .patience_ms
                .map(|ms| Duration::from_millis(ms) + Duration::from_micros(500));
            tasks.push(tokio::spawn(async move {
                match patience {
                    Some(patience) => tokio::time::timeout(patience, call).await.is_ok(),
                    None => {
                        call.await.unwrap();
                        true
                    }
                }
            }));
            // The task joins its queue before the next one arrives.
            tokio::task::yield_now().await;
        }
        let mut finished = Vec::new();
        for task in tasks {
            finished.push(task.await.unwrap());
        }

        let admitted = server.admitted.lock().unwrap().clone();
        // Everyone who did not give up was served.
        for (id, arrival) in script.iter().enumerate() {
            if arrival.patience_ms.is_none() {
                prop_assert!(finished[id]);
                prop_assert!(admitted.iter().any(|(a, _, _)| *a == id));
            }
        }
        // First come, first served: admissions in arrival order.
        let ids: Vec<usize> = admitted.iter().map(|(id, _, _)| *id).collect();
        prop_assert!(ids.windows(2).all(|w| w[0] < w[1]), "order {ids:?}");
        // No 1 s window over rate + burst (learned rates only go lower).
        let limit = RATE + BURST;
        for (i, (_, start, _)) in admitted.iter().enumerate() {
            let end = *start + Duration::from_secs(1);
            let units: u32 = admitted[i..]
                .iter()
                .take_while(|(_, at, _)| *at < end)
                .map(|(_, _, cost)| cost)
                .sum();
            prop_assert!(units <= limit, "{units} units in the second from {start:?}");
        }
        // Nothing leaked: nobody waits, and once the scope is idle a full
        // bucket admits its burst at once.
        prop_assert_eq!(layer.waiting(), 0);
        if !adaptive {
            tokio::time::sleep(Duration::from_secs(10)).await;
            let before = server.admitted.lock().unwrap().len();
            let start = Instant::now();
            let burst =
                (0..BURST as usize).map(|i| service.clone().oneshot(request(script.len() + i, 1)));
            futures_util::future::join_all(burst).await;
            let after = server.admitted.lock().unwrap().clone();
            prop_assert_eq!(after.len(), before + BURST as usize);
            prop_assert!(after[before..].iter().all(|(_, at, _)| *at == start));
        }
        Ok(())
    })
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(64)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn pacing_holds_under_learned_rates_and_pauses(script in prop::collection::vec(
        arrival().prop_map(|mut a| { a.cost = 1; a }), 1..60)
    ) {
        run(script, true)?;
    }

    #[test]
    fn weighted_costs_pauses_and_cancellations_leak_nothing(
        script in prop::collection::vec(arrival(), 1..60)
    ) {
        run(script, false)?;
    }
}
