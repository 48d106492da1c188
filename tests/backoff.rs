//! BackoffLayer in isolation, on paused tokio time.

mod support;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http::Request;
use http_body_util::BodyExt;
use support::{chat, Recorder};
use tokio::time::Instant;
use tower::{service_fn, Layer, ServiceExt};
use tower_together::extensions::{Deadline, Idempotency};
use tower_together::BackoffLayer;

fn gaps(recorder: &Recorder) -> Vec<Duration> {
    recorder.times().windows(2).map(|w| w[1] - w[0]).collect()
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

#[tokio::test(start_paused = true)]
async fn delays_double_and_respect_the_cap() {
    let recorder = Recorder::always(503, vec![]);
    let service = BackoffLayer::new()
        .jitter_fraction(0.0)
        .max_retries(6)
        .max_delay(secs(5))
        .layer(recorder.clone());
    let response = service.oneshot(chat(0)).await.unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(
        gaps(&recorder),
        vec![secs(1), secs(2), secs(4), secs(5), secs(5), secs(5)]
    );
}

#[tokio::test(start_paused = true)]
async fn jitter_only_shortens_and_never_passes_the_cap() {
    for _ in 0..50 {
        let recorder = Recorder::always(500, vec![]);
        let service = BackoffLayer::new()
            .max_retries(5)
            .max_delay(secs(4))
            .layer(recorder.clone());
        service.oneshot(chat(0)).await.unwrap();
        let nominal = [1, 2, 4, 4, 4].map(secs);
        for (gap, nominal) in gaps(&recorder).into_iter().zip(nominal) {
            assert!(
                gap <= nominal && gap >= nominal.mul_f64(0.75),
                "{gap:?} vs {nominal:?}"
            );
        }
    }
}

#[tokio::test(start_paused = true)]
async fn other_four_xx_is_never_retried() {
    // 408 and 409 are retried: see tests/retry_contract.rs.
    for status in [400, 401, 402, 403, 404, 422, 429] {
        let recorder = Recorder::always(status, vec![]);
        let service = BackoffLayer::new().layer(recorder.clone());
        assert_eq!(service.oneshot(chat(0)).await.unwrap().status(), status);
        assert_eq!(recorder.count(), 1, "{status} was retried");
    }
}

#[tokio::test(start_paused = true)]
async fn every_5xx_is_retried() {
    for status in [500, 502, 503, 504, 520, 524, 529] {
        let recorder = Recorder::script(vec![(status, vec![]), (200, vec![])]);
        let service = BackoffLayer::new().layer(recorder.clone());
        assert_eq!(service.oneshot(chat(0)).await.unwrap().status(), 200);
        assert_eq!(recorder.count(), 2, "{status}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_on_a_5xx_is_honoured_and_capped() {
    let recorder = Recorder::script(vec![
        (503, vec![("retry-after", "3".to_owned())]),
        (503, vec![("retry-after", "600".to_owned())]),
        (200, vec![]),
    ]);
    let service = BackoffLayer::new()
        .max_delay(secs(20))
        .layer(recorder.clone());
    assert_eq!(service.oneshot(chat(0)).await.unwrap().status(), 200);
    assert_eq!(gaps(&recorder), vec![secs(3), secs(20)]);
}

fn post(path: &str) -> Request<String> {
    Request::post(format!("https://api.together.ai/v1{path}"))
        .body(String::from("{}"))
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn requests_that_create_billed_work_are_sent_once() {
    for path in ["/fine-tunes", "/batches", "/files/upload"] {
        let recorder = Recorder::always(500, vec![]);
        let service = BackoffLayer::new().layer(recorder.clone());
        assert_eq!(service.oneshot(post(path)).await.unwrap().status(), 500);
        assert_eq!(recorder.count(), 1, "{path} was resent");
    }
    // Also after a transport error.
    let calls = Arc::new(AtomicU32::new(0));
    let counter = calls.clone();
    let failing = service_fn(move |_: Request<String>| {
        counter.fetch_add(1, Ordering::SeqCst);
        async { Err::<http::Response<String>, _>("connection reset") }
    });
    let service = BackoffLayer::new().layer(failing);
    assert!(service.oneshot(post("/fine-tunes")).await.is_err());
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    // Unless the caller says it is safe, or asks for it on the layer.
    let recorder = Recorder::script(vec![(500, vec![]), (200, vec![])]);
    let mut request = post("/batches");
    request.extensions_mut().insert(Idempotency::Idempotent);
    let service = BackoffLayer::new().layer(recorder.clone());
    assert_eq!(service.oneshot(request).await.unwrap().status(), 200);
    let recorder = Recorder::script(vec![(500, vec![]), (200, vec![])]);
    let service = BackoffLayer::new()
        .retry_non_idempotent(true)
        .layer(recorder.clone());
    assert_eq!(
        service.oneshot(post("/fine-tunes")).await.unwrap().status(),
        200
    );
}

#[tokio::test(start_paused = true)]
async fn transport_errors_are_retried_then_returned_unchanged() {
    let calls = Arc::new(AtomicU32::new(0));
    let counter = calls.clone();
    let failing = service_fn(move |_: Request<String>| {
        let call = counter.fetch_add(1, Ordering::SeqCst);
        async move { Err::<http::Response<String>, _>(format!("reset #{call}")) }
    });
    let service = BackoffLayer::new()
        .jitter_fraction(0.0)
        .max_retries(3)
        .layer(failing);
    let start = Instant::now();
    assert_eq!(service.oneshot(chat(0)).await.unwrap_err(), "reset #3");
    assert_eq!(calls.load(Ordering::SeqCst), 4);
    assert_eq!(start.elapsed(), secs(1 + 2 + 4));
}

#[tokio::test(start_paused = true)]
async fn spent_retries_return_the_last_response_unchanged() {
    let recorder = Recorder::always(502, vec![("x-marker", "kept".to_owned())]);
    let service = BackoffLayer::new().layer(recorder.clone());
    let response = service.oneshot(chat(0)).await.unwrap();
    assert_eq!(response.status(), 502);
    assert_eq!(response.headers()["x-marker"], "kept");
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "attempt 5");
}

#[tokio::test(start_paused = true)]
async fn no_delay_runs_past_the_deadline_and_should_retry_false_is_obeyed() {
    let recorder = Recorder::always(503, vec![]);
    let service = BackoffLayer::new()
        .jitter_fraction(0.0)
        .layer(recorder.clone());
    let mut request = chat(0);
    request.extensions_mut().insert(Deadline::after(secs(4)));
    service.oneshot(request).await.unwrap();
    // 1 s and 2 s fit in 4 s; the 4 s delay would not.
    assert_eq!(gaps(&recorder), vec![secs(1), secs(2)]);

    let recorder = Recorder::always(503, vec![("x-should-retry", "false".to_owned())]);
    let service = BackoffLayer::new().layer(recorder.clone());
    service.oneshot(chat(0)).await.unwrap();
    assert_eq!(recorder.count(), 1);
}
