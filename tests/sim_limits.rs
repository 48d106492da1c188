#![cfg(feature = "sim")]
//! The simulator's rate limits are exact, its 429s carry each `Retry-After`
//! style, and its clock follows paused tokio time.

#[path = "sim_support/mod.rs"]
mod support;

use std::time::{Duration, SystemTime};

use http::StatusCode;
use serde_json::json;
use support::*;
use tokio::time::{sleep, Instant};
use tower_together::sim::{Limits, RetryAfterStyle, SimService, Simulator};

/// Sends a chat request every `gap` for `total`, ignoring the answers.
async fn hammer(service: &SimService, gap: Duration, total: Duration) -> (usize, usize) {
    let end = Instant::now() + total;
    let (mut ok, mut limited) = (0, 0);
    while Instant::now() < end {
        let answer = send(
            service,
            post("/v1/chat/completions", chat(CHAT_MODEL, "hi")),
        )
        .await;
        match answer.status {
            StatusCode::OK => ok += 1,
            StatusCode::TOO_MANY_REQUESTS => limited += 1,
            other => panic!("unexpected {other}"),
        }
        sleep(gap).await;
    }
    (ok, limited)
}

#[tokio::test(start_paused = true)]
async fn hammering_client_gets_exactly_the_limit_per_second() {
    let service = Simulator::builder()
        .limits(Limits::per_second(10).burst(10))
        .service();
    let (ok, limited) = hammer(&service, Duration::from_millis(10), Duration::from_secs(3)).await;
    let stats = service.stats();
    // A full burst plus one a tenth of a second in the first second, then
    // exactly the rate.
    assert_eq!(stats.admitted_per_second(KEY, CHAT_MODEL), vec![19, 10, 10]);
    assert_eq!(
        stats.max_admitted_in_window(KEY, CHAT_MODEL, Duration::from_secs(1)),
        19
    );
    assert_eq!(ok, 39);
    assert_eq!(limited, 300 - 39);
    assert_eq!(stats.rate_limited(), 261);
    // Refused requests are recorded but not admitted.
    assert_eq!(stats.requests().iter().filter(|r| r.admitted).count(), 39);
}

#[tokio::test(start_paused = true)]
async fn with_burst_one_no_window_of_a_second_exceeds_the_rate() {
    let service = Simulator::builder()
        .limits(Limits::per_second(10).burst(1))
        .service();
    hammer(&service, Duration::from_millis(7), Duration::from_secs(4)).await;
    let stats = service.stats();
    for second in stats.admitted_per_second(KEY, CHAT_MODEL) {
        assert!(second <= 10, "{second} in one second");
    }
    assert_eq!(
        stats.max_admitted_in_window(KEY, CHAT_MODEL, Duration::from_secs(1)),
        10
    );
    // Consecutive admissions are never closer than a tenth of a second.
    let admitted: Vec<Instant> = stats
        .requests()
        .iter()
        .filter(|r| r.admitted)
        .map(|r| r.arrival)
        .collect();
    for pair in admitted.windows(2) {
        assert!(
            pair[1] - pair[0] >= Duration::from_millis(100),
            "{:?}",
            pair[1] - pair[0]
        );
    }
}

#[tokio::test(start_paused = true)]
async fn token_limit_refuses_with_its_own_type() {
    // 20 tokens a request (4 prompt words + max_tokens 16), 100 a second.
    let service = Simulator::builder()
        .limits(Limits::per_second(1000).tokens_per_second(100))
        .service();
    let body = json!({ "model": CHAT_MODEL, "max_tokens": 16, "messages": [{ "role": "user", "content": "a b c d" }] });
    for _ in 0..5 {
        let answer = send(&service, post("/v1/chat/completions", body.clone())).await;
        assert_eq!(answer.status, StatusCode::OK);
    }
    let answer = send(&service, post("/v1/chat/completions", body.clone())).await;
    assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS);
    let error = error_of(&answer);
    assert_eq!(error["type"], "dynamic_token_limited");
    assert_eq!(error["code"], "rate_limit_exceeded");
    assert_eq!(answer.header("x-tokenlimit-limit"), Some("100"));
    assert_eq!(answer.header("x-tokenlimit-remaining"), Some("0"));
    // 20 tokens come back in 0.2 s.
    assert_eq!(answer.header("retry-after"), Some("1"));
    sleep(Duration::from_millis(200)).await;
    let answer = send(&service, post("/v1/chat/completions", body)).await;
    assert_eq!(answer.status, StatusCode::OK);
}

#[tokio::test(start_paused = true)]
async fn retry_after_in_seconds_is_honest_and_429s_charge_nothing() {
    let service = Simulator::builder()
        .limits(Limits::per_second(1).burst(1))
        .service();
    let first = send(
        &service,
        post("/v1/chat/completions", chat(CHAT_MODEL, "one")),
    )
    .await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.header("x-ratelimit-limit"), Some("1"));
    assert_eq!(first.header("x-ratelimit-remaining"), Some("0"));
    assert_eq!(first.header("x-ratelimit-reset"), Some("1.000"));

    // Many refusals in a row do not push the next slot back.
    for i in 1..=5 {
        sleep(Duration::from_millis(100)).await;
        let refused = send(
            &service,
            post("/v1/chat/completions", chat(CHAT_MODEL, "two")),
        )
        .await;
        assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(refused.header("retry-after"), Some("1"));
        let reset = format!("{:.3}", 1.0 - 0.1 * f64::from(i));
        assert_eq!(refused.header("x-ratelimit-reset"), Some(reset.as_str()));
        assert!(refused.header("date").is_some());
        let error = error_of(&refused);
        assert_eq!(error["type"], "dynamic_request_limited");
    }
    sleep(Duration::from_millis(500)).await;
    let again = send(
        &service,
        post("/v1/chat/completions", chat(CHAT_MODEL, "three")),
    )
    .await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(service.stats().rate_limited(), 5);
    assert_eq!(
        service.stats().admitted_per_second(KEY, CHAT_MODEL),
        vec![1, 1]
    );
    assert_eq!(
        service.stats().requests_per_second(KEY, CHAT_MODEL),
        vec![6, 1]
    );
}

#[tokio::test(start_paused = true)]
async fn retry_after_as_http_date_comes_with_a_date_from_the_same_clock() {
    let service = Simulator::builder()
        .limits(Limits::per_second(1).burst(1))
        .retry_after(RetryAfterStyle::HttpDate)
        .service();
    send(
        &service,
        post("/v1/chat/completions", chat(CHAT_MODEL, "one")),
    )
    .await;
    sleep(Duration::from_millis(300)).await;
    let refused = send(
        &service,
        post("/v1/chat/completions", chat(CHAT_MODEL, "two")),
    )
    .await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    let retry_at = httpdate::parse_http_date(refused.header("retry-after").unwrap()).unwrap();
    let date = httpdate::parse_http_date(refused.header("date").unwrap()).unwrap();
    let wait = retry_at.duration_since(date).unwrap();
    // The real wait is 0.7 s; whole-second dates round it up, never down.
    assert!(
        wait >= Duration::from_millis(700) && wait <= Duration::from_secs(2),
        "{wait:?}"
    );
    sleep(wait).await;
    let again = send(
        &service,
        post("/v1/chat/completions", chat(CHAT_MODEL, "three")),
    )
    .await;
    assert_eq!(again.status, StatusCode::OK);
}

#[tokio::test(start_paused = true)]
async fn retry_after_can_be_absent() {
    let service = Simulator::builder()
        .limits(Limits::per_second(1).burst(1))
        .retry_after(RetryAfterStyle::Absent)
        .service();
    send(
        &service,
        post("/v1/chat/completions", chat(CHAT_MODEL, "one")),
    )
    .await;
    let refused = send(
        &service,
        post("/v1/chat/completions", chat(CHAT_MODEL, "two")),
    )
    .await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused.header("retry-after"), None);
    assert_eq!(refused.header("x-ratelimit-reset"), Some("1.000"));
    assert_eq!(refused.header("x-ratelimit-remaining"), Some("0"));
}

#[tokio::test(start_paused = true)]
async fn limits_are_per_key_and_per_model() {
    let qwen = "Qwen/Qwen2.5-7B-Instruct-Turbo";
    let service = Simulator::builder()
        .api_key("key-a")
        .api_key("key-b")
        .limits(Limits::per_second(3))
        .model_limits(qwen, Limits::per_second(1))
        .service();
    let with_key = |key: &str, model: &str| {
        let mut request = post("/v1/chat/completions", chat(model, "hi"));
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {key}").parse().unwrap());
        request
    };
    for key in ["key-a", "key-b"] {
        for _ in 0..3 {
            assert_eq!(
                send(&service, with_key(key, CHAT_MODEL)).await.status,
                StatusCode::OK
            );
        }
        assert_eq!(
            send(&service, with_key(key, CHAT_MODEL)).await.status,
            StatusCode::TOO_MANY_REQUESTS
        );
        let answer = send(&service, with_key(key, qwen)).await;
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(answer.header("x-ratelimit-limit"), Some("1"));
        assert_eq!(
            send(&service, with_key(key, qwen)).await.status,
            StatusCode::TOO_MANY_REQUESTS
        );
    }
    // The default key is no longer accepted once keys are named.
    assert_eq!(
        send(
            &service,
            post("/v1/chat/completions", chat(CHAT_MODEL, "hi"))
        )
        .await
        .status,
        StatusCode::UNAUTHORIZED
    );
    let stats = service.stats();
    assert_eq!(stats.admitted_per_second("key-a", CHAT_MODEL), vec![3]);
    assert_eq!(stats.admitted_per_second("key-b", qwen), vec![1]);
}

#[tokio::test(start_paused = true)]
async fn every_answer_carries_the_rate_headers() {
    let service = Simulator::builder().service();
    let answers = [
        send(&service, get("/v1/models")).await,
        send(
            &service,
            post(
                "/v1/embeddings",
                json!({ "model": EMBED_MODEL, "input": "x" }),
            ),
        )
        .await,
        send(
            &service,
            post(
                "/v1/chat/completions",
                json!({ "model": "nope/nope", "messages": [] }),
            ),
        )
        .await,
        send(&service, get("/v1/files")).await,
        send(&service, get("/v1/no-such-endpoint")).await,
    ];
    for answer in &answers {
        for name in [
            "x-ratelimit-limit",
            "x-ratelimit-remaining",
            "x-ratelimit-reset",
            "x-tokenlimit-limit",
            "x-tokenlimit-remaining",
            "date",
        ] {
            assert!(
                answer.header(name).is_some(),
                "{name} missing from a {} answer",
                answer.status
            );
        }
    }
    assert_eq!(answers[0].header("x-ratelimit-remaining"), Some("9"));
}

#[tokio::test(start_paused = true)]
async fn clock_follows_paused_time() {
    let service = Simulator::builder().service();
    let start = Instant::now();
    let first = send(&service, get("/v1/models")).await;
    tokio::time::advance(Duration::from_secs(3600)).await;
    let second = send(&service, get("/v1/models")).await;
    let date = |a: &support::Answer| -> SystemTime {
        httpdate::parse_http_date(a.header("date").unwrap()).unwrap()
    };
    let moved = date(&second).duration_since(date(&first)).unwrap();
    assert_eq!(moved, Duration::from_secs(3600));
    let arrivals: Vec<Instant> = service
        .stats()
        .requests()
        .iter()
        .map(|r| r.arrival)
        .collect();
    assert_eq!(arrivals, vec![start, start + Duration::from_secs(3600)]);
}

#[tokio::test(start_paused = true)]
async fn limits_change_on_schedule_and_the_dynamic_headers_say_so() {
    let service = Simulator::builder()
        .model_limits(CHAT_MODEL, Limits::per_second(10).tokens_per_second(5_000))
        .limits_from(CHAT_MODEL, Duration::from_secs(300), Limits::per_second(4))
        .limits_from(CHAT_MODEL, Duration::from_secs(600), Limits::per_second(12))
        .service();
    let limit_at = |seconds: u64| {
        let service = service.clone();
        async move {
            sleep(Duration::from_secs(seconds)).await;
            let answer = send(
                &service,
                post("/v1/chat/completions", chat(CHAT_MODEL, "hi")),
            )
            .await;
            assert_eq!(answer.status, StatusCode::OK);
            let header = |name: &str| answer.headers[name].to_str().unwrap().to_owned();
            assert_eq!(
                header("x-ratelimit-limit"),
                header("x-ratelimit-limit-dynamic")
            );
            assert_eq!(
                header("x-tokenlimit-limit"),
                header("x-tokenlimit-limit-dynamic")
            );
            assert!(answer.headers.contains_key("x-ratelimit-remaining-dynamic"));
            assert!(answer
                .headers
                .contains_key("x-tokenlimit-remaining-dynamic"));
            (header("x-ratelimit-limit"), header("x-tokenlimit-limit"))
        }
    };
    assert_eq!(limit_at(0).await, ("10".into(), "5000".into()));
    assert_eq!(limit_at(299).await.0, "10");
    assert_eq!(limit_at(2).await.0, "4");
    assert_eq!(limit_at(300).await.0, "12");
}
