//! RateLimitLayer in isolation, on paused tokio time.

mod support;

use std::time::Duration;

use futures_util::future::join_all;
use http::Request;
use support::{chat, max_in_window, Recorder};
use tokio::time::Instant;
use tower::{Layer, ServiceExt};
use tower_together::endpoint::Endpoint;
use tower_together::extensions::{ApiKeyFingerprint, Cost, Model};
use tower_together::{Quota, RateLimitLayer};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Offsets of the recorded calls from `start`, in milliseconds.
fn offsets(recorder: &Recorder, start: Instant) -> Vec<u128> {
    recorder
        .times()
        .iter()
        .map(|t| (*t - start).as_millis())
        .collect()
}

#[tokio::test(start_paused = true)]
async fn clones_and_services_from_one_layer_share_the_budget() {
    let recorder = Recorder::ok();
    let layer = RateLimitLayer::new(Quota::per_second(2).burst(2));
    let a = layer.layer(recorder.clone());
    let b = layer.clone().layer(recorder.clone());
    let start = Instant::now();
    let calls = (0..6).map(|i| {
        let service = if i % 2 == 0 { a.clone() } else { b.clone() };
        service.oneshot(chat(i))
    });
    for response in join_all(calls).await {
        assert_eq!(response.unwrap().status(), 200);
    }
    // Burst of 2, then one every 500 ms, across all six handles.
    assert_eq!(offsets(&recorder, start), vec![0, 0, 500, 1000, 1500, 2000]);
}

#[tokio::test(start_paused = true)]
async fn waiters_are_served_first_come_first_served() {
    let recorder = Recorder::ok();
    let service = RateLimitLayer::new(Quota::per_second(10).burst(1)).layer(recorder.clone());
    let mut tasks = Vec::new();
    for i in 0..50 {
        tasks.push(tokio::spawn(service.clone().oneshot(chat(i))));
        // Let the task join the queue before the next one arrives.
        tokio::task::yield_now().await;
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let order: Vec<String> = recorder.calls().into_iter().filter_map(|c| c.id).collect();
    let expected: Vec<String> = (0..50).map(|i| i.to_string()).collect();
    assert_eq!(order, expected);
}

#[tokio::test(start_paused = true)]
async fn a_dropped_waiter_gives_its_place_back() {
    let recorder = Recorder::ok();
    let service = RateLimitLayer::new(Quota::per_second(1).burst(1)).layer(recorder.clone());
    let start = Instant::now();
    service.clone().oneshot(chat(0)).await.unwrap(); // t = 0, bucket now empty

    // Two waiters: the head (due at 1 s) and one behind it (due at 2 s).
    let head = tokio::spawn(service.clone().oneshot(chat(1)));
    tokio::task::yield_now().await;
    let behind = tokio::spawn(service.clone().oneshot(chat(2)));
    tokio::task::yield_now().await;
    let last = tokio::spawn(service.clone().oneshot(chat(3)));
    tokio::task::yield_now().await;

    tokio::time::sleep(ms(500)).await;
    head.abort(); // the head leaves: the next one must take over its slot
    behind.abort(); // and one from the middle of the queue
    assert!(head.await.unwrap_err().is_cancelled());
    assert!(behind.await.unwrap_err().is_cancelled());

    last.await.unwrap().unwrap();
    // Request 3 went at 1 s, the slot the dropped head would have had.
    assert_eq!(offsets(&recorder, start), vec![0, 1000]);
    assert_eq!(
        recorder.calls().last().unwrap().id.as_deref(),
        Some("3"),
        "the survivor got the first free slot"
    );
}

#[tokio::test(start_paused = true)]
async fn dropping_every_waiter_leaves_the_budget_untouched() {
    let recorder = Recorder::ok();
    let layer = RateLimitLayer::new(Quota::per_second(1).burst(1));
    let service = layer.layer(recorder.clone());
    let start = Instant::now();
    service.clone().oneshot(chat(0)).await.unwrap();
    let waiters: Vec<_> = (1..100)
        .map(|i| tokio::spawn(service.clone().oneshot(chat(i))))
        .collect();
    tokio::time::sleep(ms(1)).await; // every waiter has joined the queue
    assert_eq!(layer.waiting(), 99);
    for waiter in &waiters {
        waiter.abort();
    }
    for waiter in waiters {
        let _ = waiter.await;
    }
    assert_eq!(layer.waiting(), 0);
    // The next request goes at 1 s, exactly as if nobody had waited.
    service.clone().oneshot(chat(100)).await.unwrap();
    assert_eq!(offsets(&recorder, start), vec![0, 1000]);
}

/// Fires `total` requests from `tasks` concurrent loops; returns the sorted
/// instants the inner service saw them.
async fn hammer(quota: Quota, total: usize, tasks: usize) -> Vec<Instant> {
    let recorder = Recorder::ok();
    let service = RateLimitLayer::new(quota).layer(recorder.clone());
    let per_task = total / tasks;
    let loops = (0..tasks).map(|t| {
        let service = service.clone();
        tokio::spawn(async move {
            for i in 0..per_task {
                service
                    .clone()
                    .oneshot(chat(t * per_task + i))
                    .await
                    .unwrap();
            }
        })
    });
    for task in join_all(loops).await {
        task.unwrap();
    }
    let mut times = recorder.times();
    times.sort();
    times
}

#[tokio::test(start_paused = true)]
async fn no_sliding_window_admits_more_than_rate_times_window_plus_burst() {
    // 10 000 requests from 80 tasks at 100/s with a burst of 10.
    let times = hammer(Quota::per_second(100).burst(10), 10_000, 80).await;
    assert_eq!(times.len(), 10_000);
    for (window, limit) in [(1000, 100 + 10), (100, 10 + 10), (10_000, 1000 + 10)] {
        let seen = max_in_window(&times, ms(window));
        assert!(seen <= limit, "{seen} in {window} ms, limit {limit}");
    }
    // And it does not pace slower than asked: 9 990 after the burst at 100/s.
    let span = *times.last().unwrap() - times[0];
    assert!(span <= Duration::from_millis(99_910), "took {span:?}");
}

#[tokio::test(start_paused = true)]
async fn late_timer_wakeups_cost_no_throughput_and_break_no_window() {
    // 300/s does not fall on tokio's 1 ms timer ticks, so every wake-up is
    // late; the schedule must absorb it.
    let times = hammer(Quota::per_second(300).burst(1), 3_000, 16).await;
    let seen = max_in_window(&times, Duration::from_secs(1));
    assert!(seen <= 301, "{seen} in 1 s");
    let span = (*times.last().unwrap() - times[0]).as_secs_f64();
    let utilization = 2_999.0 / 300.0 / span;
    assert!(utilization >= 0.99, "utilization {utilization:.3}");
}

#[tokio::test(start_paused = true)]
async fn a_request_costing_more_than_the_burst_goes_through() {
    let recorder = Recorder::ok();
    let service = RateLimitLayer::new(Quota::per_second(10).burst(5)).layer(recorder.clone());
    let start = Instant::now();
    service.clone().oneshot(chat(0)).await.unwrap(); // 1 unit
    let mut big = chat(1);
    big.extensions_mut().insert(Cost::new(20));
    // It waits until the bucket is full again (100 ms), then goes.
    service.clone().oneshot(big).await.unwrap();
    // It left the scope 20 units in debt: the next unit waits 2 s minus the
    // burst's tolerance (400 ms).
    service.clone().oneshot(chat(2)).await.unwrap();
    assert_eq!(offsets(&recorder, start), vec![0, 100, 1700]);
}

#[tokio::test(start_paused = true)]
async fn a_429_pauses_every_request_of_its_scope() {
    let recorder = Recorder::script(vec![
        (429, vec![("retry-after", "2".into())]),
        (200, vec![]),
    ]);
    // Adaptation off: the pause alone.
    let layer = RateLimitLayer::builder(Quota::per_second(100))
        .adaptive(false)
        .build();
    let service = layer.layer(recorder.clone());
    let start = Instant::now();
    let first = service.clone().oneshot(chat(0)).await.unwrap();
    assert_eq!(first.status(), 429, "the limiter does not retry by itself");

    // During the pause, another scope (another model, same key and
    // endpoint) goes at once, while this scope's requests wait.
    let other_recorder = Recorder::ok();
    let other = layer.layer(other_recorder.clone());
    let mut other_model = chat(9);
    other_model
        .extensions_mut()
        .insert(Model::new("other/model"));
    let same_scope = join_all((1..4).map(|i| service.clone().oneshot(chat(i))));
    let (others, other_answer) = tokio::join!(same_scope, other.oneshot(other_model));
    assert_eq!(other_answer.unwrap().status(), 200);
    assert_eq!(offsets(&other_recorder, start), vec![0], "not paused");

    assert!(others.iter().all(|r| r.as_ref().unwrap().status() == 200));
    // Paused until 2 s, then paced at 100/s, not released as a burst.
    assert_eq!(offsets(&recorder, start), vec![0, 2000, 2010, 2020]);
}

#[tokio::test(start_paused = true)]
async fn a_429_halves_the_rate_once_per_pause_and_successes_win_it_back() {
    let recorder = Recorder::script(vec![
        (429, vec![("retry-after", "1".into())]),
        (429, vec![("retry-after", "1".into())]),
        (200, vec![]),
    ]);
    let service = RateLimitLayer::new(Quota::per_second(10).burst(1)).layer(recorder.clone());
    let start = Instant::now();
    // The first 429 pauses the scope until 1 s and cuts the rate to 5/s;
    // the request queued behind it goes at 1 s, gets the second 429 (a new
    // window), which pauses until 2 s and cuts to 2.5/s.
    let both = join_all((0..2).map(|i| service.clone().oneshot(chat(i)))).await;
    assert!(both.iter().all(|r| r.as_ref().unwrap().status() == 429));
    for i in 2..120 {
        service.clone().oneshot(chat(i)).await.unwrap();
    }
    let times = offsets(&recorder, start);
    assert_eq!(&times[..4], &[0, 1000, 2000, 2400]);
    // Then each success wins back 1 % of 10/s: the gaps shrink to 100 ms.
    let gaps: Vec<u128> = times.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(gaps[2] > gaps[30] && gaps[30] > gaps[60], "{gaps:?}");
    assert_eq!(*gaps.last().unwrap(), 100, "back to 10/s: {gaps:?}");

    // 429s in flight together (one window) cut the rate once.
    let recorder = Recorder::script(vec![
        (429, vec![("retry-after", "1".into())]),
        (429, vec![("retry-after", "1".into())]),
        (429, vec![("retry-after", "1".into())]),
        (200, vec![]),
    ]);
    let slow = tower::service_fn(move |request: Request<String>| {
        let mut recorder = recorder.clone();
        async move {
            // Answers arrive 50 ms after the request, all three together.
            tokio::time::sleep(ms(50)).await;
            tower::Service::call(&mut recorder, request).await
        }
    });
    let service = RateLimitLayer::new(Quota::per_second(10).burst(3)).layer(slow);
    join_all((0..3).map(|i| service.clone().oneshot(chat(i)))).await;
    let start = Instant::now();
    join_all((3..5).map(|i| service.clone().oneshot(chat(i)))).await;
    // Paused until 1.05 s, then 5/s (cut once, not thrice to 1.25/s): the
    // second answer comes back at 1.05 + 0.2 + 0.05 s, 1.25 s after `start`.
    assert_eq!(start.elapsed(), ms(1250));
}

#[tokio::test(start_paused = true)]
async fn a_lower_x_ratelimit_limit_slows_the_scope_and_a_higher_one_is_ignored() {
    let recorder = Recorder::always(200, vec![("x-ratelimit-limit", "4".into())]);
    let service = RateLimitLayer::new(Quota::per_second(10)).layer(recorder.clone());
    let start = Instant::now();
    service.clone().oneshot(chat(0)).await.unwrap();
    join_all((1..9).map(|i| service.clone().oneshot(chat(i)))).await;
    // Learned after the first answer (sent under the configured burst):
    // 4/s with a burst of 4 from then on.
    assert_eq!(
        offsets(&recorder, start),
        vec![0, 0, 0, 0, 0, 250, 500, 750, 1000]
    );

    let recorder = Recorder::always(200, vec![("x-ratelimit-limit", "1000".into())]);
    let service = RateLimitLayer::new(Quota::per_second(2).burst(1)).layer(recorder.clone());
    let start = Instant::now();
    join_all((0..4).map(|i| service.clone().oneshot(chat(i)))).await;
    assert_eq!(
        offsets(&recorder, start),
        vec![0, 500, 1000, 1500],
        "never above the quota"
    );

    let recorder = Recorder::always(200, vec![("x-ratelimit-limit", "garbage".into())]);
    let service = RateLimitLayer::new(Quota::per_second(2).burst(1)).layer(recorder.clone());
    join_all((0..3).map(|i| service.clone().oneshot(chat(i)))).await;
    assert_eq!(offsets(&recorder, start), vec![1500, 2000, 2500]);
}

#[tokio::test(start_paused = true)]
async fn a_429_without_a_hint_pauses_for_the_default_and_absurd_hints_are_capped() {
    let recorder = Recorder::script(vec![
        (429, vec![("retry-after", "garbage".into())]),
        (429, vec![("retry-after", "99999999".into())]),
        (200, vec![]),
    ]);
    let service = RateLimitLayer::builder(Quota::per_second(1000))
        .default_pause(ms(700))
        .max_pause(Duration::from_secs(5))
        .build()
        .layer(recorder.clone());
    let start = Instant::now();
    assert_eq!(
        service.clone().oneshot(chat(0)).await.unwrap().status(),
        429
    );
    assert_eq!(
        service.clone().oneshot(chat(1)).await.unwrap().status(),
        429
    );
    assert_eq!(
        service.clone().oneshot(chat(2)).await.unwrap().status(),
        200
    );
    assert_eq!(offsets(&recorder, start), vec![0, 700, 5700]);
}

#[tokio::test(start_paused = true)]
async fn scopes_split_by_key_endpoint_and_model() {
    let recorder = Recorder::ok();
    let service = RateLimitLayer::new(Quota::per_second(1).burst(1)).layer(recorder.clone());
    let start = Instant::now();
    let with = |key: &str, path: &str, model: Option<&str>| {
        let mut request = Request::post(path)
            .header("authorization", format!("Bearer {key}"))
            .body(String::new())
            .unwrap();
        if let Some(model) = model {
            request.extensions_mut().insert(Model::new(model));
        }
        request
    };
    let chat_path = "https://api.together.ai/v1/chat/completions";
    let embed_path = "https://api.together.ai/v1/embeddings";
    let requests = vec![
        with("k1", chat_path, None),
        with("k2", chat_path, None),
        with("k1", embed_path, None),
        with("k1", chat_path, Some("a")),
        with("k1", chat_path, Some("b")),
        with("k1", chat_path, None), // same scope as the first: waits 1 s
    ];
    join_all(requests.into_iter().map(|r| service.clone().oneshot(r))).await;
    assert_eq!(offsets(&recorder, start), vec![0, 0, 0, 0, 0, 1000]);

    // Without a header, a fingerprint extension names the key (one added
    // below the limiter): a scope of its own, so it goes at once.
    let mut tagged = with("k1", chat_path, None);
    tagged.headers_mut().remove("authorization");
    tagged
        .extensions_mut()
        .insert(ApiKeyFingerprint::from_hash(42));
    service.clone().oneshot(tagged).await.unwrap();
    assert_eq!(*offsets(&recorder, start).last().unwrap(), 1000);
    // With the header, the header names it (as a shared store's key names
    // do): k1's scope, which waits its turn.
    let mut tagged = with("k1", chat_path, None);
    tagged
        .extensions_mut()
        .insert(ApiKeyFingerprint::from_hash(42));
    service.clone().oneshot(tagged).await.unwrap();
    assert_eq!(*offsets(&recorder, start).last().unwrap(), 2000);
}

#[tokio::test(start_paused = true)]
async fn model_and_endpoint_overrides_pick_the_quota() {
    let layer = RateLimitLayer::builder(Quota::per_second(5))
        .endpoint_quota(Endpoint::Embeddings, Quota::per_second(2))
        .model_quota("slow/model", Quota::per_minute(9))
        .build();
    assert_eq!(
        layer.quota_for(Endpoint::ChatCompletions, None),
        Quota::per_second(5)
    );
    assert_eq!(
        layer.quota_for(Endpoint::Embeddings, None),
        Quota::per_second(2)
    );
    assert_eq!(
        layer.quota_for(Endpoint::ImagesGenerations, Some("slow/model")),
        Quota::per_minute(9)
    );

    let preset = RateLimitLayer::together();
    assert_eq!(
        preset.quota_for(Endpoint::ChatCompletions, None),
        Quota::per_minute(540)
    );
    assert_eq!(
        preset.quota_for(Endpoint::Embeddings, None),
        Quota::per_minute(270)
    );
    assert_eq!(
        preset.quota_for(Endpoint::ImagesGenerations, None),
        Quota::per_minute(54)
    );
    // One second's worth of burst, never a minute's.
    assert_eq!(
        preset
            .quota_for(Endpoint::ChatCompletions, None)
            .burst_size(),
        9
    );
}

#[test]
fn invalid_quotas_are_refused_with_a_clear_error() {
    use tower_together::rate_limit::QuotaError;
    assert_eq!(
        Quota::try_per_period(0, Duration::from_secs(1)),
        Err(QuotaError::ZeroRate)
    );
    assert_eq!(
        Quota::try_per_period(1, Duration::ZERO),
        Err(QuotaError::ZeroPeriod)
    );
    assert_eq!(
        Quota::try_per_period(u32::MAX, Duration::from_nanos(1)),
        Err(QuotaError::TooFast)
    );
    assert_eq!(
        Quota::per_second(3).try_burst(0),
        Err(QuotaError::ZeroBurst)
    );
    let panic = std::panic::catch_unwind(|| Quota::per_second(0)).unwrap_err();
    let message = panic.downcast_ref::<String>().unwrap();
    assert!(message.contains("at least 1"), "{message}");
    // Absurd but valid: a request per hour-ish, a huge burst. No overflow.
    let slow = Quota::try_per_period(1, Duration::from_secs(u64::MAX / 4)).unwrap();
    assert_eq!(slow.burst_size(), 1);
}

#[tokio::test(start_paused = true)]
async fn absurd_quotas_neither_panic_nor_overflow() {
    let recorder = Recorder::ok();
    let service =
        RateLimitLayer::new(Quota::try_per_period(1, Duration::from_secs(u64::MAX / 4)).unwrap())
            .layer(recorder.clone());
    service.clone().oneshot(chat(0)).await.unwrap();
    let mut huge = chat(1);
    huge.extensions_mut().insert(Cost::new(u32::MAX));
    // The second request would wait for centuries: it must just stay pending.
    let waited = tokio::time::timeout(Duration::from_secs(3600), service.oneshot(huge)).await;
    assert!(waited.is_err());
    assert_eq!(recorder.count(), 1);
}

#[tokio::test(start_paused = true)]
async fn the_api_key_is_never_kept_in_clear() {
    let recorder = Recorder::ok();
    let layer = RateLimitLayer::new(Quota::per_second(1));
    let mut service = layer.layer(recorder.clone());
    let request = Request::post("https://api.together.ai/v1/chat/completions")
        .header("authorization", "Bearer tgp_v1_SECRET-KEY-123")
        .body(String::new())
        .unwrap();
    (&mut service).oneshot(request).await.unwrap();
    let debug = format!("{service:?} {layer:?}");
    assert!(!debug.contains("SECRET"), "{debug}");
}
