//! The retry budget shared across calls: through both retry layers, across
//! clones, and in the typed client's default stack. Paused time.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use tokio::time::Instant;
use tower::{service_fn, Layer, Service, ServiceBuilder, ServiceExt};
use tower_together::retry_budget::{RetryBudget, RetryBudgetLayer};
use tower_together::{BackoffLayer, RetryAfterLayer};

/// A server answering `status(n)` to its n-th request (from 0); counts sends.
fn server(
    sends: Arc<AtomicU32>,
    status: fn(u32) -> u16,
) -> impl Service<Request<String>, Response = Response<String>, Error = Infallible, Future = impl Send>
       + Clone {
    service_fn(move |_req: Request<String>| {
        let n = sends.fetch_add(1, Ordering::SeqCst);
        async move {
            Ok::<_, Infallible>(
                Response::builder()
                    .status(status(n))
                    .header("retry-after", "0")
                    .body(String::new())
                    .unwrap(),
            )
        }
    })
}

fn fast_layers() -> (BackoffLayer, RetryAfterLayer) {
    (
        BackoffLayer::new()
            .base_delay(Duration::from_millis(10))
            .jitter_fraction(0.0),
        RetryAfterLayer::new()
            .jitter(Duration::ZERO)
            .default_wait(Duration::from_millis(10)),
    )
}

#[tokio::test(start_paused = true)]
async fn many_failing_calls_retry_within_the_share_not_per_call() {
    let sends = Arc::new(AtomicU32::new(0));
    let budget = RetryBudget::builder()
        .min_per_sec(0)
        .retry_ratio(0.2)
        .build();
    let (backoff, retry_after) = fast_layers();
    let service = ServiceBuilder::new()
        .layer(RetryBudgetLayer::new(budget.clone()))
        .layer(backoff)
        .layer(retry_after)
        .service(server(sends.clone(), |_| 503));

    let calls = 100;
    let mut tasks = Vec::new();
    for _ in 0..calls {
        let service = service.clone();
        tasks.push(tokio::spawn(async move {
            service.oneshot(Request::new(String::new())).await.unwrap()
        }));
    }
    for task in tasks {
        assert_eq!(
            task.await.unwrap().status(),
            503,
            "the last answer, unchanged"
        );
    }
    // Without the budget: 100 × 5 sends. With it: 100 + 20 % of 100.
    assert_eq!(sends.load(Ordering::SeqCst), calls + calls / 5);
    assert!(budget.exhausted() > 0);
}

#[tokio::test(start_paused = true)]
async fn both_layers_draw_from_one_budget() {
    let sends = Arc::new(AtomicU32::new(0));
    // A floor of 0.3/s over 10 s is 3 retries; no share of first attempts.
    let budget = RetryBudget::builder()
        .min_per_sec(0)
        .retry_ratio(3.0)
        .build();
    let (backoff, retry_after) = fast_layers();
    let service = (RetryBudgetLayer::new(budget.clone()), backoff, retry_after).layer(server(
        sends.clone(),
        |n| if n % 2 == 0 { 429 } else { 503 },
    ));
    // One call: 3 retries allowed (ratio 3 × 1 first attempt), mixing 429s
    // (RetryAfterLayer) and 503s (BackoffLayer); the attempt budget is 5.
    let response = service.oneshot(Request::new(String::new())).await.unwrap();
    assert_eq!(sends.load(Ordering::SeqCst), 4);
    assert!(response.status() == 429 || response.status() == 503);
    assert_eq!(budget.remaining(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_call_that_finds_the_budget_spent_returns_at_once() {
    let sends = Arc::new(AtomicU32::new(0));
    let budget = RetryBudget::builder()
        .min_per_sec(0)
        .retry_ratio(0.0)
        .build();
    let (backoff, retry_after) = fast_layers();
    let layer = (RetryBudgetLayer::new(budget.clone()), backoff, retry_after);
    // Two services from one layer, and a clone: one budget.
    let a = layer.layer(server(sends.clone(), |_| 503));
    let b = layer.layer(server(sends.clone(), |_| 503));
    let start = Instant::now();
    for service in [a.clone(), a, b] {
        let response = service.oneshot(Request::new(String::new())).await.unwrap();
        assert_eq!(response.status(), 503);
    }
    assert_eq!(start.elapsed(), Duration::ZERO, "no backoff slept");
    assert_eq!(sends.load(Ordering::SeqCst), 3);
    assert_eq!(budget.exhausted(), 3);
}

#[tokio::test(start_paused = true)]
async fn budget_recovers_as_first_attempts_age_out() {
    let sends = Arc::new(AtomicU32::new(0));
    let budget = RetryBudget::builder()
        .min_per_sec(0)
        .retry_ratio(1.0)
        .build();
    let (backoff, _) = fast_layers();
    let service = (
        RetryBudgetLayer::new(budget.clone()),
        backoff.max_retries(1),
    )
        .layer(server(
            sends.clone(),
            |n| if n % 2 == 0 { 503 } else { 200 },
        ));
    // Each call: a 503, then one retry that succeeds, paid by its own deposit.
    for _ in 0..5 {
        let response = service
            .clone()
            .oneshot(Request::new(String::new()))
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    assert_eq!(sends.load(Ordering::SeqCst), 10);
    assert_eq!(budget.exhausted(), 0);
}

#[tokio::test(start_paused = true)]
async fn without_a_budget_layer_each_call_keeps_its_own_retries() {
    let sends = Arc::new(AtomicU32::new(0));
    let (backoff, retry_after) = fast_layers();
    let service = (backoff, retry_after).layer(server(sends.clone(), |_| 503));
    for _ in 0..10 {
        let _ = service
            .clone()
            .oneshot(Request::new(String::new()))
            .await
            .unwrap();
    }
    assert_eq!(sends.load(Ordering::SeqCst), 10 * 5);
}

#[cfg(feature = "client")]
mod client {
    use super::*;
    use bytes::Bytes;
    use http_body_util::Full;
    use tower_together::{ChatRequest, Message, Together};

    fn busy(
        sends: Arc<AtomicU32>,
    ) -> impl Service<
        Request<Full<Bytes>>,
        Response = Response<Full<Bytes>>,
        Error = Infallible,
        Future = impl Send,
    > + Clone
           + Send
           + Sync {
        service_fn(move |_req: Request<Full<Bytes>>| {
            sends.fetch_add(1, Ordering::SeqCst);
            async {
                Ok::<_, Infallible>(
                    Response::builder()
                        .status(503)
                        .body(Full::new(Bytes::from_static(
                            br#"{"error":{"message":"busy","type":"server_error"}}"#,
                        )))
                        .unwrap(),
                )
            }
        })
    }

    async fn run(client: Together, calls: u32) {
        let mut tasks = Vec::new();
        for _ in 0..calls {
            let client = client.clone();
            tasks.push(tokio::spawn(async move {
                let request = ChatRequest::new("m", vec![Message::user("hi")]);
                client.chat(request).await.unwrap_err()
            }));
        }
        for task in tasks {
            assert_eq!(task.await.unwrap().status().map(|s| s.as_u16()), Some(503));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_client_shares_one_budget_by_default_and_it_can_be_turned_off() {
        let sends = Arc::new(AtomicU32::new(0));
        let client = Together::builder()
            .api_key("sk-secret")
            // The breaker would hold these calls for the model to recover;
            // this test is about the budget alone.
            .circuit_breaker(None)
            .build_with_transport(busy(sends.clone()))
            .unwrap();
        let start = Instant::now();
        run(client, 200).await;
        let span = start.elapsed().as_secs() as u32 + 1;
        let with_budget = sends.load(Ordering::SeqCst);
        // 200 first attempts, plus 20 % of them, plus the floor of 1/s over
        // the run and one 10 s window's worth: far below 5 sends per call.
        assert!(
            (200..=200 + 40 + span + 10).contains(&with_budget),
            "{with_budget} sends in {span} s"
        );

        let sends = Arc::new(AtomicU32::new(0));
        let client = Together::builder()
            .api_key("sk-secret")
            // The breaker would hold these calls for the model to recover;
            // this test is about the budget alone.
            .circuit_breaker(None)
            .retry_budget(None)
            .build_with_transport(busy(sends.clone()))
            .unwrap();
        run(client, 200).await;
        assert_eq!(sends.load(Ordering::SeqCst), 200 * 5);
    }

    #[tokio::test(start_paused = true)]
    async fn clients_given_one_budget_share_it() {
        let sends = Arc::new(AtomicU32::new(0));
        let budget = RetryBudget::builder()
            .min_per_sec(0)
            .retry_ratio(0.5)
            .build();
        for _ in 0..2 {
            let client = Together::builder()
                .api_key("sk-secret")
                .circuit_breaker(None)
                // The breaker would hold these calls for the model to recover;
                // this test is about the budget alone.
                .circuit_breaker(None)
                .retry_budget(budget.clone())
                .build_with_transport(busy(sends.clone()))
                .unwrap();
            run(client, 50).await;
        }
        assert_eq!(sends.load(Ordering::SeqCst), 100 + 50);
        assert!(!format!("{budget:?}").contains("sk-secret"));
    }
}
