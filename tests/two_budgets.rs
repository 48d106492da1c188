//! Requests and tokens paced together, reconciled with usage, and learned
//! from Together's headers both ways. Paused tokio time throughout.

mod support;

use std::time::Duration;

use http::{Request, Response};
use support::{chat, Answer, Recorder};
use tokio::time::Instant;
use tower::{Layer, Service, ServiceExt};
use tower_together::extensions::TokenCost;
use tower_together::rate_limit::{RateLimitBuilder, TokenReservation};
use tower_together::{Quota, RateLimitLayer};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn with_tokens(id: usize, tokens: u32) -> Request<String> {
    let mut request = chat(id);
    request.extensions_mut().insert(TokenCost::new(tokens));
    request
}

/// Milliseconds from `start` of each recorded call.
fn offsets(recorder: &Recorder, start: Instant) -> Vec<u128> {
    recorder
        .times()
        .iter()
        .map(|t| (*t - start).as_millis())
        .collect()
}

fn limits(requests: &str, tokens: &str) -> Answer {
    (
        200,
        vec![
            ("x-ratelimit-limit", requests.to_owned()),
            ("x-tokenlimit-limit", tokens.to_owned()),
        ],
    )
}

#[tokio::test(start_paused = true)]
async fn a_request_goes_only_when_both_budgets_allow() {
    let recorder = Recorder::ok();
    let quota = Quota::per_second(10).tokens_per_second(100);
    let service = RateLimitLayer::new(quota).layer(recorder.clone());
    let start = Instant::now();
    for i in 0..4 {
        service.clone().oneshot(with_tokens(i, 50)).await.unwrap();
    }
    // The request budget (10/s, burst 10) would let all four go at once;
    // the token budget (100/s, burst 100) lets two go, then 50 tokens every
    // half second.
    assert_eq!(offsets(&recorder, start), vec![0, 0, 500, 1000]);
}

#[tokio::test(start_paused = true)]
async fn a_large_request_at_the_head_is_not_overtaken_by_small_ones() {
    let recorder = Recorder::ok();
    let quota = Quota::per_second(100).tokens_per_second(100);
    let service = RateLimitLayer::new(quota).layer(recorder.clone());
    let start = Instant::now();
    service.clone().oneshot(with_tokens(0, 100)).await.unwrap();
    let big = tokio::spawn(service.clone().oneshot(with_tokens(1, 100)));
    tokio::task::yield_now().await;
    let small = tokio::spawn(service.clone().oneshot(with_tokens(2, 1)));
    tokio::task::yield_now().await;
    big.await.unwrap().unwrap();
    small.await.unwrap().unwrap();
    let ids: Vec<_> = recorder.calls().into_iter().filter_map(|c| c.id).collect();
    assert_eq!(ids, ["0", "1", "2"], "first come, first served");
    assert_eq!(offsets(&recorder, start), vec![0, 1000, 1010]);
}

#[tokio::test(start_paused = true)]
async fn a_scope_without_a_token_quota_ignores_token_costs() {
    let recorder = Recorder::ok();
    let service = RateLimitLayer::new(Quota::per_second(2).burst(2)).layer(recorder.clone());
    let start = Instant::now();
    for i in 0..3 {
        service
            .clone()
            .oneshot(with_tokens(i, 1_000_000))
            .await
            .unwrap();
    }
    assert_eq!(offsets(&recorder, start), vec![0, 0, 500]);
}

#[tokio::test(start_paused = true)]
async fn usage_settles_the_estimate_both_ways() {
    let recorder = Recorder::ok();
    let quota = Quota::per_second(100).tokens_per_second(100);
    let service = RateLimitLayer::new(quota).layer(recorder.clone());
    let start = Instant::now();

    // Estimated 100, used 20: 80 come back, so 80 more can go at once.
    let response = service.clone().oneshot(with_tokens(0, 100)).await.unwrap();
    let reservation = response.extensions().get::<TokenReservation>().unwrap();
    assert_eq!(reservation.charged(), 100);
    reservation.settle(20);
    reservation.settle(0); // only the first settle counts
    service.clone().oneshot(with_tokens(1, 80)).await.unwrap();
    assert_eq!(recorder.times()[1] - start, Duration::ZERO);

    // Estimated 10, used 60: 50 more are charged; the next 10 waits 0.6 s
    // (50 + 10 tokens at 100/s, the bucket being empty).
    let response = service.clone().oneshot(with_tokens(2, 10)).await.unwrap();
    assert_eq!(recorder.times()[2] - start, ms(100));
    response
        .extensions()
        .get::<TokenReservation>()
        .unwrap()
        .settle(60);
    service.clone().oneshot(with_tokens(3, 10)).await.unwrap();
    assert_eq!(recorder.times()[3] - start, ms(700));

    // No settle: the estimate stands.
    drop(service.clone().oneshot(with_tokens(4, 50)).await.unwrap());
    service.clone().oneshot(with_tokens(5, 50)).await.unwrap();
    assert_eq!(recorder.times()[5] - recorder.times()[4], ms(500));
}

#[tokio::test(start_paused = true)]
async fn answers_the_server_did_not_count_give_their_tokens_back() {
    for status in [429, 503] {
        let recorder = Recorder::script(vec![
            (status, vec![("retry-after", "0".into())]),
            (200, vec![]),
        ]);
        let quota = Quota::per_second(100).tokens_per_second(100);
        let service = RateLimitLayer::builder(quota)
            .adaptive(false)
            .build()
            .layer(recorder.clone());
        let start = Instant::now();
        let response = service.clone().oneshot(with_tokens(0, 100)).await.unwrap();
        assert_eq!(response.status(), status);
        assert!(response.extensions().get::<TokenReservation>().is_none());
        service.clone().oneshot(with_tokens(1, 100)).await.unwrap();
        assert_eq!(
            recorder.times()[1] - start,
            Duration::ZERO,
            "status {status}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_transport_error_gives_its_tokens_back() {
    let (mock, mut handle) = tower_test::mock::pair::<Request<String>, Response<String>>();
    let quota = Quota::per_second(100).tokens_per_second(100);
    let mut service = RateLimitLayer::new(quota).layer(mock);
    let start = Instant::now();
    let failed = tokio::spawn(service.ready().await.unwrap().call(with_tokens(0, 100)));
    let (_, reply) = handle.next_request().await.unwrap();
    reply.send_error("connection reset");
    assert!(failed.await.unwrap().is_err());
    let next = tokio::spawn(service.ready().await.unwrap().call(with_tokens(1, 100)));
    let (_, reply) = handle.next_request().await.unwrap();
    assert_eq!(Instant::now() - start, Duration::ZERO);
    reply.send_response(Response::new(String::new()));
    next.await.unwrap().unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_token_cost_above_the_burst_waits_for_a_full_bucket_and_goes() {
    let recorder = Recorder::ok();
    let quota = Quota::per_second(100).tokens_per_second(100);
    let service = RateLimitLayer::new(quota).layer(recorder.clone());
    let start = Instant::now();
    service.clone().oneshot(with_tokens(0, 60)).await.unwrap();
    service
        .clone()
        .oneshot(with_tokens(1, 1_000))
        .await
        .unwrap();
    service.clone().oneshot(with_tokens(2, 1)).await.unwrap();
    // 1 000 tokens wait for a full bucket (0.6 s), go, and leave 900 of debt.
    assert_eq!(offsets(&recorder, start), vec![0, 600, 9610]);
}

#[tokio::test(start_paused = true)]
async fn a_configured_quota_is_a_ceiling_the_server_moves_under() {
    let recorder = Recorder::script(vec![
        limits("20", "1000000"),
        limits("2", "1000000"),
        (200, vec![]),
    ]);
    let service = RateLimitLayer::new(Quota::per_second(5).burst(1)).layer(recorder.clone());
    let start = Instant::now();
    for i in 0..4 {
        service.clone().oneshot(chat(i)).await.unwrap();
    }
    // 20/s stated: still 5/s (200 ms). Then 2/s stated: 500 ms.
    assert_eq!(offsets(&recorder, start), vec![0, 200, 700, 1200]);
}

#[tokio::test(start_paused = true)]
async fn learned_mode_follows_the_server_up_and_down_and_takes_up_a_token_budget() {
    let recorder = Recorder::script(vec![
        limits("10", "100"),
        limits("10", "100"),
        limits("2", "100"),
        limits("2", "100"),
        limits("20", "100000"),
    ]);
    let layer = RateLimitBuilder::learned_together().build();
    let service = layer.layer(recorder.clone());
    let start = Instant::now();
    for i in 0..7 {
        service.clone().oneshot(with_tokens(i, 1)).await.unwrap();
    }
    // Starts at 1/s; learns 10/s (burst 10) from the first answer, 2/s
    // (burst 2) from the third, 20/s from the fifth.
    let times = offsets(&recorder, start);
    assert_eq!(times[0], 0);
    assert!(times[1] <= 100, "{times:?}");
    assert!(
        times[4] - times[3] >= 500 || times[3] - times[2] >= 500,
        "{times:?}"
    );
    assert!(times[6] - times[5] <= 50, "{times:?}");
    assert_eq!(
        layer.quota_for(tower_together::endpoint::Endpoint::ChatCompletions, None),
        Quota::per_second(1),
        "the configured quota is only the start"
    );
}

#[tokio::test(start_paused = true)]
async fn waiters_see_a_new_rate_at_once() {
    let recorder = Recorder::script(vec![limits("10", "1000000"), (200, vec![])]);
    let layer = RateLimitBuilder::new(Quota::per_second(1).burst(1))
        .learned(true)
        .build();
    let service = layer.layer(recorder.clone());
    let start = Instant::now();
    let calls: Vec<_> = (0..5)
        .map(|i| tokio::spawn(service.clone().oneshot(chat(i))))
        .collect();
    for call in calls {
        call.await.unwrap().unwrap();
    }
    // The first answer (at 0) says 10/s: the request already charged at
    // 1/s now counts at 10/s, and the head, woken, goes at 100 ms; the rest
    // follow 100 ms apart (a new burst of 10 is no herd: the schedule
    // continues from the backlog).
    assert_eq!(offsets(&recorder, start), vec![0, 100, 200, 300, 400]);
}

#[tokio::test(start_paused = true)]
async fn the_servers_remainders_hold_the_scope_back_never_forward() {
    let recorder = Recorder::script(vec![
        (
            200,
            vec![
                ("x-ratelimit-remaining", "0".into()),
                ("x-ratelimit-reset", "2".into()),
            ],
        ),
        (200, vec![("x-ratelimit-remaining", "1000".into())]),
        (200, vec![]),
    ]);
    let service = RateLimitLayer::new(Quota::per_second(10).burst(10)).layer(recorder.clone());
    let start = Instant::now();
    for i in 0..3 {
        service.clone().oneshot(chat(i)).await.unwrap();
    }
    // Nothing left, reset in 2 s: the next waits 2 s and finds the bucket
    // empty then. A large remainder lends nothing: the one after still
    // waits its interval.
    assert_eq!(offsets(&recorder, start), vec![0, 2000, 2100]);
}

#[tokio::test(start_paused = true)]
async fn garbage_token_headers_and_absurd_usage_neither_panic_nor_stall() {
    let recorder = Recorder::script(vec![
        (
            200,
            vec![
                ("x-tokenlimit-limit", "-5".into()),
                ("x-tokenlimit-remaining", "NaN".into()),
                ("x-ratelimit-limit", "1e400".into()),
            ],
        ),
        (200, vec![("x-tokenlimit-limit", "banana".into())]),
        (200, vec![]),
    ]);
    let quota = Quota::per_second(100).tokens_per_second(1000);
    let service = RateLimitLayer::new(quota).layer(recorder.clone());
    let start = Instant::now();
    for (i, usage) in [(0, 0), (1, 7), (2, u64::MAX)] {
        let response = service.clone().oneshot(with_tokens(i, 10)).await.unwrap();
        let reservation = response.extensions().get::<TokenReservation>().unwrap();
        reservation.settle(usage);
    }
    // u64::MAX used is charged at most one second's worth (1 000 tokens):
    // a full burst then waits about a second, not forever.
    service.clone().oneshot(with_tokens(3, 1000)).await.unwrap();
    let last = *recorder.times().last().unwrap() - start;
    assert!(last <= Duration::from_secs(2), "{last:?}");
    assert!(last >= ms(900), "the overuse was charged: {last:?}");
}
