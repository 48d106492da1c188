//! RetryAfterLayer in isolation, on paused tokio time.

mod support;

use std::time::Duration;

use http_body_util::BodyExt;
use support::{chat, Recorder};
use tokio::time::Instant;
use tower::{Layer, ServiceExt};
use tower_together::extensions::Deadline;
use tower_together::RetryAfterLayer;

type Headers = Vec<(&'static str, String)>;

fn h(name: &'static str, value: &str) -> Headers {
    vec![(name, value.to_owned())]
}

/// One 429 with `headers`, then 200; returns how long the layer waited.
async fn wait_after(headers: Headers, layer: RetryAfterLayer) -> Duration {
    let recorder = Recorder::script(vec![(429, headers), (200, vec![])]);
    let service = layer.layer(recorder.clone());
    let start = Instant::now();
    let response = service.oneshot(chat(0)).await.unwrap();
    assert_eq!(response.status(), 200);
    let times = recorder.times();
    assert_eq!(times.len(), 2);
    times[1] - start
}

fn no_jitter() -> RetryAfterLayer {
    RetryAfterLayer::new().jitter(Duration::ZERO)
}

#[tokio::test(start_paused = true)]
async fn each_wait_hint_is_obeyed_to_the_millisecond() {
    let ms = Duration::from_millis;
    assert_eq!(
        wait_after(h("retry-after-ms", "1234"), no_jitter()).await,
        ms(1234)
    );
    let both = vec![
        ("retry-after-ms", "250".to_owned()),
        ("retry-after", "9".to_owned()),
    ];
    assert_eq!(wait_after(both, no_jitter()).await, ms(250));
    assert_eq!(
        wait_after(h("retry-after", "3"), no_jitter()).await,
        ms(3000)
    );
    assert_eq!(
        wait_after(h("retry-after", "2.5"), no_jitter()).await,
        ms(2500)
    );
    let date = vec![
        ("retry-after", "Wed, 21 Oct 2015 07:28:07 GMT".to_owned()),
        ("date", "Wed, 21 Oct 2015 07:28:00 GMT".to_owned()),
    ];
    assert_eq!(wait_after(date, no_jitter()).await, ms(7000));
    assert_eq!(
        wait_after(h("x-ratelimit-reset", "0.75"), no_jitter()).await,
        ms(750)
    );
    // Nothing usable: the default wait.
    assert_eq!(wait_after(vec![], no_jitter()).await, ms(5000));
    assert_eq!(
        wait_after(h("retry-after", "-4"), no_jitter()).await,
        ms(5000)
    );
    assert_eq!(
        wait_after(h("retry-after", "soon"), no_jitter().default_wait(ms(800))).await,
        ms(800)
    );
}

#[tokio::test(start_paused = true)]
async fn an_http_date_without_a_date_header_uses_the_wall_clock() {
    let at = std::time::SystemTime::now() + Duration::from_secs(4);
    let waited = wait_after(h("retry-after", &httpdate::fmt_http_date(at)), no_jitter()).await;
    // HTTP-dates have whole seconds: between 3 and 4 s from now.
    assert!(
        waited >= Duration::from_secs(3) && waited <= Duration::from_secs(4),
        "{waited:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn jitter_stays_within_its_bound_and_actually_varies() {
    let jitter = Duration::from_millis(2000);
    let base = Duration::from_secs(1);
    let mut waits = Vec::new();
    for _ in 0..200 {
        let layer = RetryAfterLayer::new().jitter(jitter);
        waits.push(wait_after(h("retry-after", "1"), layer).await);
    }
    for wait in &waits {
        assert!(*wait >= base && *wait <= base + jitter, "{wait:?}");
    }
    let spread = *waits.iter().max().unwrap() - *waits.iter().min().unwrap();
    assert!(
        spread >= Duration::from_millis(1000),
        "jitter barely varies: {spread:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_wait_over_max_wait_returns_the_429_at_once() {
    let recorder = Recorder::script(vec![(429, h("retry-after", "120")), (200, vec![])]);
    let service = RetryAfterLayer::new().layer(recorder.clone());
    let start = Instant::now();
    let response = service.oneshot(chat(0)).await.unwrap();
    assert_eq!(response.status(), 429);
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert_eq!(recorder.count(), 1);

    // A lower max_wait turns a normal hint away too.
    let recorder = Recorder::script(vec![(429, h("retry-after", "3")), (200, vec![])]);
    let service = RetryAfterLayer::new()
        .max_wait(Duration::from_secs(2))
        .layer(recorder.clone());
    assert_eq!(service.oneshot(chat(0)).await.unwrap().status(), 429);
    assert_eq!(recorder.count(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_wait_past_the_deadline_returns_the_429_at_once() {
    let recorder = Recorder::script(vec![(429, h("retry-after", "10")), (200, vec![])]);
    let service = no_jitter().layer(recorder.clone());
    let mut request = chat(0);
    request
        .extensions_mut()
        .insert(Deadline::after(Duration::from_secs(5)));
    let start = Instant::now();
    assert_eq!(
        service.clone().oneshot(request).await.unwrap().status(),
        429
    );
    assert_eq!(start.elapsed(), Duration::ZERO);

    // With room before the deadline, it waits and resends.
    let mut request = chat(1);
    request
        .extensions_mut()
        .insert(Deadline::after(Duration::from_secs(60)));
    let recorder = Recorder::script(vec![(429, h("retry-after", "10")), (200, vec![])]);
    let service = no_jitter().layer(recorder.clone());
    assert_eq!(service.oneshot(request).await.unwrap().status(), 200);
}

#[tokio::test(start_paused = true)]
async fn x_should_retry_false_stops_retries() {
    let headers = vec![
        ("retry-after", "1".to_owned()),
        ("x-should-retry", "false".to_owned()),
    ];
    let recorder = Recorder::script(vec![(429, headers), (200, vec![])]);
    let service = RetryAfterLayer::new().layer(recorder.clone());
    assert_eq!(service.oneshot(chat(0)).await.unwrap().status(), 429);
    assert_eq!(recorder.count(), 1);
}

#[tokio::test(start_paused = true)]
async fn spent_retries_return_the_last_429_unchanged() {
    let recorder = Recorder::always(429, h("retry-after", "1"));
    let service = no_jitter().max_retries(4).layer(recorder.clone());
    let start = Instant::now();
    let response = service.oneshot(chat(0)).await.unwrap();
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "1");
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "attempt 5", "the fifth attempt's own response");
    assert_eq!(recorder.count(), 5);
    assert_eq!(start.elapsed(), Duration::from_secs(4));
}

#[tokio::test(start_paused = true)]
async fn other_statuses_are_never_touched() {
    for status in [
        200, 201, 400, 401, 402, 403, 404, 409, 422, 500, 502, 503, 524,
    ] {
        let recorder = Recorder::always(status, h("retry-after", "1"));
        let service = RetryAfterLayer::new().layer(recorder.clone());
        let response = service.oneshot(chat(0)).await.unwrap();
        assert_eq!(response.status(), status);
        assert_eq!(recorder.count(), 1, "status {status} was retried");
    }
}

#[tokio::test(start_paused = true)]
async fn transport_errors_pass_through() {
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let counter = calls.clone();
    let failing = tower::service_fn(move |_: http::Request<String>| {
        counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        async { Err::<http::Response<String>, _>("connection reset") }
    });
    let service = RetryAfterLayer::new().layer(failing);
    assert_eq!(
        service.oneshot(chat(0)).await.unwrap_err(),
        "connection reset"
    );
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);
}
