//! `RateLimitLayer::snapshot()`: each scope's quota, live rates and
//! waiters, on paused time.

mod support;

use std::convert::Infallible;
use std::time::Duration;

use tower::{service_fn, Layer, ServiceExt};
use tower_together::endpoint::Endpoint;
use tower_together::extensions::Model;
use tower_together::{Quota, RateLimitLayer};

fn request(path: &str, model: &str) -> http::Request<String> {
    let mut request = http::Request::post(format!("https://api.together.ai{path}"))
        .header("authorization", "Bearer sk-snapshot-secret")
        .body(String::new())
        .unwrap();
    request.extensions_mut().insert(Model::new(model));
    request
}

#[tokio::test(start_paused = true)]
async fn lists_each_scope_with_its_quota_rates_and_waiters() {
    let layer = RateLimitLayer::builder(Quota::per_second(2).burst(1))
        .model_quota("big", Quota::per_second(10).tokens_per_second(1000))
        .build();
    let service = layer.layer(service_fn(|_req: http::Request<String>| async {
        Ok::<_, Infallible>(http::Response::new(String::new()))
    }));
    // Five calls for "small" at 2/s, burst 1: one goes, four wait.
    let mut calls = Vec::new();
    for _ in 0..5 {
        let service = service.clone();
        calls.push(tokio::spawn(
            service.oneshot(request("/v1/chat/completions", "small")),
        ));
    }
    service
        .clone()
        .oneshot(request("/v1/embeddings", "big"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1)).await;

    let snapshot = layer.snapshot();
    assert_eq!(snapshot.scopes().len(), 2);
    let small = snapshot
        .scopes()
        .iter()
        .find(|s| s.model() == Some("small"))
        .unwrap();
    assert_eq!(
        small.endpoint(),
        Endpoint::from_path("/v1/chat/completions")
    );
    assert_eq!(small.requests_per_second(), 2.0);
    assert_eq!(small.request_burst(), 1);
    assert_eq!(small.tokens_per_second(), None);
    assert_eq!(small.waiting(), 4);
    assert_eq!(snapshot.waiting(), 4);
    let big = snapshot
        .scopes()
        .iter()
        .find(|s| s.model() == Some("big"))
        .unwrap();
    assert_eq!(big.quota(), Quota::per_second(10).tokens_per_second(1000));
    assert_eq!(big.requests_per_second(), 10.0);
    assert_eq!(big.tokens_per_second(), Some(1000.0));
    assert_eq!(big.waiting(), 0);
    assert!(!format!("{snapshot:?}").contains("sk-snapshot-secret"));

    for call in calls {
        call.await.unwrap().unwrap();
    }
    assert_eq!(layer.snapshot().waiting(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_scope_paused_after_a_429_shows_the_pause_left() {
    let layer = RateLimitLayer::new(Quota::per_second(100));
    let service = layer.layer(support::throttles_on_header(2_000));
    service
        .clone()
        .oneshot(request("/v1/chat/completions", "m"))
        .await
        .unwrap();
    assert_eq!(layer.snapshot().scopes()[0].paused_for(), None);

    let mut throttled = request("/v1/chat/completions", "m");
    throttled
        .headers_mut()
        .insert("x-test-429", "1".parse().unwrap());
    let answer = service.clone().oneshot(throttled).await.unwrap();
    assert_eq!(answer.status(), 429);
    assert_eq!(
        layer.snapshot().scopes()[0].paused_for(),
        Some(Duration::from_secs(2))
    );

    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        layer.snapshot().scopes()[0].paused_for(),
        Some(Duration::from_millis(1500))
    );
    // Another model's scope is not paused by this one's 429.
    service
        .clone()
        .oneshot(request("/v1/chat/completions", "other"))
        .await
        .unwrap();
    let snapshot = layer.snapshot();
    let other = snapshot
        .scopes()
        .iter()
        .find(|s| s.model() == Some("other"))
        .unwrap();
    assert_eq!(other.paused_for(), None);

    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(layer.snapshot().scopes()[0].paused_for(), None);
}
