//! The three layers stacked in the documented order, over a double that
//! enforces a rate limit the way Together does.

mod support;

use std::time::Duration;

use futures_util::future::join_all;
use support::{chat, Throttled};
use tokio::time::Instant;
use tower::{ServiceBuilder, ServiceExt};
use tower_together::{BackoffLayer, Quota, RateLimitLayer, RetryAfterLayer};

async fn run(server: Throttled, quota: Quota, requests: usize) -> (Vec<u16>, Duration) {
    let client = ServiceBuilder::new()
        .layer(BackoffLayer::new())
        .layer(RetryAfterLayer::new())
        .layer(RateLimitLayer::new(quota))
        .service(server);
    let start = Instant::now();
    let calls = (0..requests).map(|i| {
        let client = client.clone();
        tokio::spawn(async move { client.oneshot(chat(i)).await.unwrap().status().as_u16() })
    });
    let statuses = join_all(calls)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    (statuses, start.elapsed())
}

#[tokio::test(start_paused = true)]
async fn the_right_quota_finishes_every_request_without_a_single_429() {
    let server = Throttled::new(5, 17);
    let (statuses, elapsed) = run(server.clone(), Quota::per_second(5), 200).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let (admitted, too_many, failed) = server.counts();
    assert_eq!(
        too_many, 0,
        "the limiter should keep the server from ever saying 429"
    );
    assert_eq!(admitted, 200 + failed, "each 503 was resent once");
    // 200 + retries at 5/s after a burst of 5: about 40 s plus the backoffs.
    assert!(elapsed <= Duration::from_secs(45), "{elapsed:?}");
}

#[tokio::test(start_paused = true)]
async fn a_quota_twice_too_high_still_lets_no_429_reach_the_caller() {
    let server = Throttled::new(5, 0);
    let (statuses, _) = run(server.clone(), Quota::per_second(10), 200).await;
    let failures = statuses.iter().filter(|s| **s != 200).count();
    assert_eq!(failures, 0, "{statuses:?}");
    let (admitted, too_many, _) = server.counts();
    assert_eq!(admitted, 200);
    // Each 429 pauses the whole scope, so they stay rare.
    assert!(too_many < 60, "{too_many} 429s");
}

#[tokio::test(start_paused = true)]
async fn absurd_settings_neither_panic_nor_overflow() {
    use support::Recorder;
    use tower::Layer;

    let huge = Duration::MAX;
    // A 429 with no hint (so every default applies), with every knob at
    // its maximum.
    let recorder = Recorder::script(vec![
        (429, vec![]),
        (503, vec![("retry-after", "99999999999".into())]),
        (200, vec![]),
    ]);
    let client = ServiceBuilder::new()
        .layer(
            BackoffLayer::new()
                .base_delay(huge)
                .max_delay(huge)
                .jitter(f64::NAN)
                .max_retries(u32::MAX),
        )
        .layer(
            RetryAfterLayer::new()
                .default_wait(huge)
                .jitter(huge)
                .max_wait(huge)
                .max_retries(u32::MAX),
        )
        .layer(
            RateLimitLayer::builder(Quota::per_second(1))
                .default_pause(huge)
                .max_pause(huge)
                .build(),
        )
        .service(recorder.clone());
    // It waits (a very long time, on the paused clock) rather than panicking.
    let outcome = tokio::time::timeout(Duration::from_secs(3600), client.oneshot(chat(0))).await;
    assert!(outcome.is_err(), "still waiting after an hour, as asked");
    assert_eq!(recorder.count(), 1);

    // Zero everything: no wait, no retry, no panic.
    let recorder = Recorder::always(503, vec![]);
    let service = BackoffLayer::new()
        .base_delay(Duration::ZERO)
        .max_delay(Duration::ZERO)
        .layer(recorder.clone());
    assert_eq!(service.oneshot(chat(0)).await.unwrap().status(), 503);
    assert_eq!(recorder.count(), 5);
}

/// The stack against the crate's simulator (in-process, paused time): the
/// simulator's own counters prove the client never went over the limit and
/// never sent a 429'd request back early.
#[cfg(feature = "sim")]
#[tokio::test(start_paused = true)]
async fn against_the_simulator_no_window_goes_over_and_no_429_reaches_the_caller() {
    use bytes::Bytes;
    use http_body_util::Full;
    use tower_together::extensions::Model;
    use tower_together::sim::{Fault, Limits, Simulator};

    const MODEL: &str = "meta-llama/Llama-3.3-70B-Instruct-Turbo";
    let sim = Simulator::builder()
        .limits(Limits::per_second(5).burst(5))
        .fault(Fault::overloaded(0.05))
        .seed(3)
        .service();
    let client = ServiceBuilder::new()
        .layer(BackoffLayer::new())
        .layer(RetryAfterLayer::new())
        .layer(RateLimitLayer::new(Quota::per_second(5)))
        .service(sim.clone());
    let calls = (0..200).map(|i| {
        let client = client.clone();
        let body =
            format!(r#"{{"model":"{MODEL}","messages":[{{"role":"user","content":"{i}"}}]}}"#);
        let mut request = http::Request::post("http://sim.invalid/v1/chat/completions")
            .header("authorization", "Bearer sim-key")
            .body(Full::new(Bytes::from(body)))
            .unwrap();
        request.extensions_mut().insert(Model::new(MODEL));
        tokio::spawn(async move { client.oneshot(request).await.unwrap().status() })
    });
    for status in join_all(calls).await {
        assert_eq!(status.unwrap(), 200);
    }
    let stats = sim.stats();
    assert_eq!(stats.rate_limited(), 0);
    assert!(
        stats.faults_injected() > 0,
        "the 503s were there, and absorbed"
    );
    // Any 1 s window: at most rate + burst.
    assert!(stats.max_admitted_in_window("sim-key", MODEL, Duration::from_secs(1)) <= 10);
}
