#![cfg(feature = "sim")]
//! Injected faults fire: scripted ones exactly, random ones by their seeded
//! probability.

#[path = "sim_support/mod.rs"]
mod support;

use std::time::Duration;

use http::StatusCode;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use support::*;
use tokio::time::Instant;
use tower::ServiceExt;
use tower_together::sim::{Fault, FaultKind, Limits, Scripted, Simulator};

fn stream_body(text: &str) -> Value {
    let mut body = chat(CHAT_MODEL, text);
    body["stream"] = json!(true);
    body
}

#[tokio::test(start_paused = true)]
async fn script_applies_to_the_next_requests_in_order() {
    let service = Simulator::builder()
        .script([
            Scripted::Status(503),
            Scripted::Status(429),
            Scripted::Ok,
            Scripted::Status(500),
            Scripted::Status(502),
            Scripted::Status(524),
            Scripted::Status(504),
        ])
        .service();
    // A request without a key takes no script entry.
    let mut anonymous = get("/v1/models");
    anonymous.headers_mut().remove("authorization");
    assert_eq!(
        send(&service, anonymous).await.status,
        StatusCode::UNAUTHORIZED
    );

    let mut statuses = Vec::new();
    let mut answers = Vec::new();
    for _ in 0..8 {
        let answer = send(
            &service,
            post("/v1/chat/completions", chat(CHAT_MODEL, "hi")),
        )
        .await;
        statuses.push(answer.status.as_u16());
        answers.push(answer);
    }
    assert_eq!(statuses, [503, 429, 200, 500, 502, 524, 504, 200]);

    let overloaded = error_of(&answers[0]);
    assert_eq!(overloaded["type"], "server_error");
    assert_eq!(answers[0].header("retry-after"), None);
    assert_eq!(error_of(&answers[1])["code"], "rate_limit_exceeded");
    assert_eq!(answers[1].header("retry-after"), Some("1"));
    assert_eq!(error_of(&answers[3])["type"], "server_error");
    for html in [&answers[4], &answers[5]] {
        assert!(html
            .header("content-type")
            .unwrap()
            .starts_with("text/html"));
        assert!(html.text().contains("<html"));
    }
    assert!(answers[5].text().contains("524"));
    error_of(&answers[6]);

    let stats = service.stats();
    assert_eq!(stats.rate_limited(), 1);
    assert_eq!(stats.faults_injected(), 4);
    for kind in [
        "overloaded",
        "internal",
        "bad_gateway",
        "cloudflare_timeout",
    ] {
        assert_eq!(stats.faults()[kind], 1, "{kind}");
    }
    let scripted: Vec<bool> = stats.requests().iter().map(|r| r.scripted).collect();
    assert_eq!(
        scripted,
        [false, true, true, true, true, true, true, true, false]
    );
    // Scripted answers skip the limiter: only the Ok and the last request
    // were admitted.
    let admitted: Vec<bool> = stats.requests().iter().map(|r| r.admitted).collect();
    assert_eq!(
        admitted,
        [false, false, false, true, false, false, false, false, true]
    );

    // More script can be added while running.
    service.script([Scripted::Status(503)]);
    assert_eq!(
        send(&service, get("/v1/models")).await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
}

#[tokio::test(start_paused = true)]
async fn certain_faults_always_fire_and_impossible_ones_never() {
    let service = Simulator::builder()
        .fault(Fault::internal(0.0))
        .fault(Fault::overloaded(1.0).with_retry_after(Duration::from_millis(2500)))
        .service();
    for _ in 0..5 {
        let answer = send(
            &service,
            post(
                "/v1/embeddings",
                json!({ "model": EMBED_MODEL, "input": "x" }),
            ),
        )
        .await;
        assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(answer.header("retry-after"), Some("3"));
        assert_eq!(
            error_of(&answer)["message"],
            "The server is overloaded or not ready yet."
        );
    }
    let stats = service.stats();
    assert_eq!(stats.faults(), &[("overloaded", 5)].into_iter().collect());
    assert!(stats.requests().iter().all(|r| r.fault
        == Some(FaultKind::Overloaded {
            retry_after: Some(Duration::from_millis(2500))
        })));
}

#[tokio::test(start_paused = true)]
async fn random_faults_follow_the_seed() {
    async fn run(seed: u64) -> Vec<u16> {
        let service = Simulator::builder()
            .limits(Limits::per_second(1000))
            .seed(seed)
            .fault(Fault::internal(0.3))
            .service();
        let mut statuses = Vec::new();
        for _ in 0..200 {
            statuses.push(send(&service, get("/v1/models")).await.status.as_u16());
        }
        assert_eq!(
            service.stats().faults_injected(),
            statuses.iter().filter(|&&s| s == 500).count() as u64
        );
        statuses
    }
    let first = run(42).await;
    assert_eq!(first, run(42).await);
    assert_ne!(first, run(43).await);
    let errors = first.iter().filter(|&&s| s == 500).count();
    assert!((30..=90).contains(&errors), "{errors} of 200 at p = 0.3");
}

#[tokio::test(start_paused = true)]
async fn faults_only_hit_admitted_requests() {
    let service = Simulator::builder()
        .limits(Limits::per_second(1).burst(1))
        .fault(Fault::overloaded(1.0))
        .service();
    assert_eq!(
        send(&service, get("/v1/models")).await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        send(&service, get("/v1/models")).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test(start_paused = true)]
async fn stream_error_arrives_mid_stream() {
    let service = Simulator::builder()
        .script([
            Scripted::Fault(FaultKind::StreamError),
            Scripted::Fault(FaultKind::StreamError),
        ])
        .service();
    let answer = send(
        &service,
        post(
            "/v1/chat/completions",
            stream_body("one two three four five six"),
        ),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    let text = answer.text();
    assert!(!text.contains("[DONE]"));
    let events: Vec<Value> = text
        .split("\n\n")
        .filter(|e| !e.is_empty())
        .map(|e| serde_json::from_str(e.strip_prefix("data: ").unwrap()).unwrap())
        .collect();
    assert!(events.len() > 2, "some chunks come before the error");
    assert_eq!(events[0]["object"], "chat.completion.chunk");
    assert_eq!(events.last().unwrap()["error"]["type"], "server_error");

    // Not a stream: the error comes whole.
    let answer = send(
        &service,
        post("/v1/chat/completions", chat(CHAT_MODEL, "hi")),
    )
    .await;
    assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(service.stats().faults()["stream_error"], 2);
}

#[tokio::test(start_paused = true)]
async fn random_stream_errors_spare_plain_requests() {
    let service = Simulator::builder()
        .fault(Fault::stream_error(1.0))
        .service();
    assert_eq!(
        send(
            &service,
            post("/v1/chat/completions", chat(CHAT_MODEL, "hi"))
        )
        .await
        .status,
        StatusCode::OK
    );
    let answer = send(
        &service,
        post("/v1/chat/completions", stream_body("hi there")),
    )
    .await;
    assert!(answer.text().contains("\"error\""));
    assert_eq!(service.stats().faults_injected(), 1);
}

#[tokio::test(start_paused = true)]
async fn disconnect_breaks_the_body_after_part_of_it() {
    let service = Simulator::builder().fault(Fault::disconnect(1.0)).service();
    let response = service
        .clone()
        .oneshot(post(
            "/v1/chat/completions",
            chat(CHAT_MODEL, "hello there"),
        ))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.into_body();
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert!(!first.is_empty() && first.starts_with(b"{"));
    let error = body.frame().await.unwrap().unwrap_err();
    assert!(error.to_string().contains("connection closed"));
    assert!(body.frame().await.is_none());
}

#[tokio::test(start_paused = true)]
async fn malformed_json_is_a_200_that_does_not_parse() {
    let service = Simulator::builder()
        .script([Scripted::Fault(FaultKind::MalformedJson)])
        .service();
    let answer = send(
        &service,
        post("/v1/chat/completions", chat(CHAT_MODEL, "hi")),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.header("content-type"), Some("application/json"));
    assert!(serde_json::from_slice::<Value>(&answer.body).is_err());
    assert_eq!(service.stats().faults()["malformed_json"], 1);
}

#[tokio::test(start_paused = true)]
async fn slow_answers_take_their_time_on_the_tokio_clock() {
    let service = Simulator::builder()
        .fault(Fault::slow(1.0, Duration::from_secs(30)))
        .service();
    let start = Instant::now();
    let answer = send(&service, get("/v1/models")).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(start.elapsed(), Duration::from_secs(30));
    // The arrival is when the request came, not when it was answered.
    assert_eq!(service.stats().requests()[0].arrival, start);
}
