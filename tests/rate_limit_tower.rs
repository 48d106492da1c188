//! RateLimitLayer as a tower citizen: backpressure at the poll level, one
//! budget per build, one fingerprint per key, idle scopes evicted, absurd
//! settings. Paused tokio time throughout.

mod support;

use std::convert::Infallible;
use std::time::Duration;

use http::{Request, Response};
use support::{chat, Recorder};
use tokio::time::Instant;
use tokio_test::{assert_pending, assert_ready, task};
use tower::limit::ConcurrencyLimit;
use tower::{service_fn, Layer, Service, ServiceExt};
use tower_together::extensions::{ApiKeyFingerprint, Model};
use tower_together::{Quota, RateLimitLayer};

fn for_model(model: &str) -> Request<String> {
    let mut request = chat(0);
    request.extensions_mut().insert(Model::new(model));
    request
}

fn answer(status: u16, headers: &[(&str, &str)]) -> Response<String> {
    let mut response = Response::builder().status(status);
    for (name, value) in headers {
        response = response.header(*name, *value);
    }
    response.body(String::new()).unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_paused_scope_holds_no_permit_below_it() {
    let (mock, mut handle) = tower_test::mock::pair::<Request<String>, Response<String>>();
    let mut service =
        RateLimitLayer::new(Quota::per_second(100)).layer(ConcurrencyLimit::new(mock, 1));

    // Model "a" gets a 429 that pauses its scope for 10 s.
    let mut first = task::spawn(service.ready().await.unwrap().call(for_model("a")));
    assert_pending!(first.poll());
    let (_, reply) = handle.next_request().await.unwrap();
    reply.send_response(answer(429, &[("retry-after", "10")]));
    assert_eq!(assert_ready!(first.poll()).unwrap().status(), 429);

    // A second request of "a" now waits for the pause...
    let mut waiting = task::spawn(service.ready().await.unwrap().call(for_model("a")));
    assert_pending!(waiting.poll());
    // ...holding nothing: the limiter stays ready, and "b" gets the only
    // permit of the ConcurrencyLimit(1) below and reaches the server.
    let mut other = task::spawn(service.ready().await.unwrap().call(for_model("b")));
    assert_pending!(other.poll());
    let (request, reply) = handle.next_request().await.unwrap();
    assert_eq!(request.extensions().get::<Model>(), Some(&Model::new("b")));
    reply.send_response(answer(200, &[]));
    assert_eq!(assert_ready!(other.poll()).unwrap().status(), 200);
    assert_pending!(waiting.poll());

    // Once the pause is over, "a" readies the inner service and goes.
    tokio::time::advance(Duration::from_secs(10)).await;
    assert_pending!(waiting.poll());
    let (request, reply) = handle.next_request().await.unwrap();
    assert_eq!(request.extensions().get::<Model>(), Some(&Model::new("a")));
    reply.send_response(answer(200, &[]));
    assert!(waiting.is_woken());
    assert_eq!(assert_ready!(waiting.poll()).unwrap().status(), 200);
}

#[tokio::test(start_paused = true)]
async fn the_inner_service_is_readied_only_once_the_slot_is_granted() {
    let (mock, mut handle) = tower_test::mock::pair::<Request<String>, Response<String>>();
    let mut service = RateLimitLayer::new(Quota::per_second(1).burst(1)).layer(mock);
    handle.allow(0); // the inner service is not ready
                     // The limiter does not pass the inner readiness on: it is always ready.
    assert!(service.ready().await.is_ok());
    let mut first = task::spawn(service.call(chat(0)));
    assert_pending!(first.poll());
    handle.allow(1);
    assert!(first.is_woken(), "readiness below wakes the request");
    assert_pending!(first.poll());
    let (_, reply) = handle.next_request().await.unwrap();
    reply.send_response(answer(200, &[]));
    assert_ready!(first.poll()).unwrap();
}

#[tokio::test(start_paused = true)]
async fn an_inner_readiness_error_is_returned_from_the_future() {
    let (mock, mut handle) = tower_test::mock::pair::<Request<String>, Response<String>>();
    let mut service = RateLimitLayer::new(Quota::per_second(1)).layer(mock);
    handle.send_error("broken below");
    let mut call = task::spawn(service.ready().await.unwrap().call(chat(0)));
    let error = assert_ready!(call.poll()).unwrap_err();
    assert_eq!(error.to_string(), "broken below");
}

#[tokio::test(start_paused = true)]
async fn the_client_fingerprint_and_the_raw_header_are_one_scope() {
    let recorder = Recorder::ok();
    let service = RateLimitLayer::new(Quota::per_second(1).burst(1)).layer(recorder.clone());
    let start = Instant::now();
    // As the typed client sends it: the fingerprint extension.
    let mut typed = chat(0);
    typed
        .extensions_mut()
        .insert(ApiKeyFingerprint::of_api_key("test-key"));
    service.clone().oneshot(typed).await.unwrap();
    // As a raw user sends it: only `Authorization: Bearer test-key`.
    service.clone().oneshot(chat(1)).await.unwrap();
    let times = recorder.times();
    assert_eq!(
        times[1] - start,
        Duration::from_secs(1),
        "one budget, not two"
    );
}

#[tokio::test(start_paused = true)]
async fn a_built_layer_is_one_budget_and_a_second_build_is_another() {
    let builder = RateLimitLayer::builder(Quota::per_second(1).burst(1));
    let recorder = Recorder::ok();
    let layer = builder.clone().build();
    let a = layer.layer(recorder.clone());
    let b = layer.clone().layer(recorder.clone());
    let start = Instant::now();
    a.oneshot(chat(0)).await.unwrap();
    b.oneshot(chat(1)).await.unwrap();
    assert_eq!(recorder.times()[1] - start, Duration::from_secs(1));
    // Building again is a new, visible decision: a separate budget.
    let separate = builder.build().layer(recorder.clone());
    separate.oneshot(chat(2)).await.unwrap();
    assert_eq!(recorder.times()[2] - start, Duration::from_secs(1));
}

#[tokio::test(start_paused = true)]
async fn idle_scopes_are_evicted_and_come_back_fresh() {
    let recorder = Recorder::ok();
    let layer = RateLimitLayer::builder(Quota::per_second(2).burst(1))
        .idle_timeout(Duration::from_secs(10))
        .build();
    let service = layer.layer(recorder.clone());
    for model in ["a", "b", "c"] {
        service.clone().oneshot(for_model(model)).await.unwrap();
    }
    assert_eq!(layer.scope_count(), 3);
    tokio::time::advance(Duration::from_secs(5)).await;
    layer.evict_idle();
    assert_eq!(layer.scope_count(), 3, "not idle long enough");
    tokio::time::advance(Duration::from_secs(10)).await;
    // A new scope sweeps the idle ones on its way in (at most once per idle
    // time: the last sweep was 10 s ago).
    service.clone().oneshot(for_model("d")).await.unwrap();
    assert_eq!(layer.scope_count(), 1);
    // "a" comes back as a new scope with a full bucket, and still paces.
    let start = Instant::now();
    service.clone().oneshot(for_model("a")).await.unwrap();
    service.clone().oneshot(for_model("a")).await.unwrap();
    let times = recorder.times();
    assert_eq!(times[times.len() - 2], start);
    assert_eq!(times[times.len() - 1] - start, Duration::from_millis(500));
}

#[tokio::test(start_paused = true)]
async fn a_busy_scope_is_never_evicted() {
    let recorder = Recorder::ok();
    let layer = RateLimitLayer::builder(Quota::per_second(1).burst(1))
        .idle_timeout(Duration::ZERO)
        .build();
    let service = layer.layer(recorder.clone());
    service.clone().oneshot(chat(0)).await.unwrap();
    let waiter = tokio::spawn(service.clone().oneshot(chat(1)));
    tokio::task::yield_now().await;
    layer.evict_idle();
    assert_eq!(layer.scope_count(), 1, "someone waits: not idle");
    waiter.await.unwrap().unwrap();
    // Bucket empty right after a grant: still not idle, even with no timeout.
    layer.evict_idle();
    assert_eq!(layer.scope_count(), 1);
    tokio::time::advance(Duration::from_secs(1)).await;
    layer.evict_idle();
    assert_eq!(layer.scope_count(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_429_that_returns_after_eviction_pauses_the_successor() {
    let recorder = Recorder::script(vec![
        (429, vec![("retry-after", "5".into())]),
        (200, vec![]),
    ]);
    let calls = recorder.clone();
    let slow_first = service_fn(move |request: Request<String>| {
        let mut recorder = calls.clone();
        // The first call is slow (70 s) and ends in a 429; later ones are quick.
        async move {
            let first = recorder.count() == 0;
            let response = recorder.call(request).await?;
            if first {
                tokio::time::sleep(Duration::from_secs(70)).await;
            }
            Ok::<_, Infallible>(response)
        }
    });
    let layer = RateLimitLayer::builder(Quota::per_second(10))
        .idle_timeout(Duration::from_secs(10))
        .build();
    let service = layer.layer(slow_first);
    let start = Instant::now();
    let in_flight = tokio::spawn(service.clone().oneshot(chat(0)));
    tokio::time::sleep(Duration::from_secs(20)).await;
    layer.evict_idle();
    assert_eq!(layer.scope_count(), 0, "idle while its one request is out");
    assert_eq!(in_flight.await.unwrap().unwrap().status(), 429);
    // The 429 (at 70 s, Retry-After 5 s) paused the scope's successor.
    service.clone().oneshot(chat(1)).await.unwrap();
    let times = recorder.times();
    assert_eq!(times[1] - start, Duration::from_secs(75));
}

#[tokio::test(start_paused = true)]
async fn every_setting_at_zero_and_max_neither_panics_nor_hangs() {
    for setting in [Duration::ZERO, Duration::MAX] {
        let recorder = Recorder::script(vec![
            (429, vec![("retry-after", "1".into())]),
            (429, vec![]),
            (200, vec![("x-ratelimit-limit", "1000000000000".into())]),
        ]);
        let layer = RateLimitLayer::builder(Quota::per_second(1000))
            .default_pause(setting)
            .max_pause(setting)
            .idle_timeout(setting)
            .build();
        let service = layer.layer(recorder.clone());
        for i in 0..3 {
            // Duration::MAX pauses cap at max_pause, which is then "forever":
            // the point is that nothing panics and a timeout still applies.
            let outcome =
                tokio::time::timeout(Duration::from_secs(10), service.clone().oneshot(chat(i)))
                    .await;
            if setting.is_zero() {
                assert!(outcome.is_ok(), "a zero pause never blocks");
            }
        }
        layer.evict_idle();
        assert!(layer.scope_count() <= 1);
    }
}

#[test]
fn the_client_takes_a_finished_layer_or_quota_settings_not_both() {
    use tower_together::endpoint::Endpoint;
    use tower_together::Together;
    let mixed = Together::builder()
        .api_key("k")
        .base_url("http://127.0.0.1:9/v1")
        .rate_limit(RateLimitLayer::new(Quota::per_second(5)))
        .endpoint_quota(Endpoint::Embeddings, Quota::per_second(2))
        .build_with_transport(Recorder::ok());
    let error = mixed.unwrap_err().to_string();
    assert!(error.contains("RateLimitLayer::builder"), "{error}");
    for only_one in [
        Together::builder().rate_limit(RateLimitLayer::new(Quota::per_second(5))),
        Together::builder().model_quota("m", Quota::per_second(2)),
    ] {
        let client = only_one
            .api_key("sk-SECRET-123")
            .base_url("http://127.0.0.1:9/v1")
            .build_with_transport(Recorder::ok());
        let debug = format!("{:?}", client.unwrap());
        assert!(!debug.contains("SECRET"), "{debug}");
    }
}
