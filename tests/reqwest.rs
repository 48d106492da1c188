//! The layers and the typed client over a `reqwest::Client`
//! (`ReqwestService`, `TogetherBuilder::build_with_reqwest`), against the
//! simulator on loopback: a chat, a stream that arrives event by event, a
//! 429 the stack resends, reqwest's timeout and connect errors as the
//! crate's, and request bodies of every kind.
#![cfg(all(feature = "reqwest", feature = "client", feature = "sim"))]

#[path = "sim_support/mod.rs"]
mod sim_support;

use std::error::Error as _;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::{BodyExt, Full, StreamBody};
use sim_support::{chat_statuses, closed_port};
use tokio::time::Instant;
use tower::ServiceExt;
use tower_together::client::ErrorKind;
use tower_together::reqwest::ReqwestService;
use tower_together::sim::{FaultKind, Scripted, Simulator};
use tower_together::{
    BackoffLayer, ChatRequest, Message, Quota, RateLimitLayer, RetryAfterLayer, Together,
    TogetherBuilder,
};

const KEY: &str = "reqwest-test-key";
const CHAT: &str = "meta-llama/Llama-3.3-70B-Instruct-Turbo";

async fn sim() -> Simulator {
    Simulator::builder().api_key(KEY).start().await.unwrap()
}

fn builder(sim: &Simulator) -> TogetherBuilder {
    Together::builder()
        .api_key(KEY)
        .base_url(sim.base_url())
        .rate_limit(RateLimitLayer::new(Quota::per_second(50).burst(5)))
        .retry_after(RetryAfterLayer::new().jitter(Duration::from_millis(10)))
        .backoff(BackoffLayer::new().base_delay(Duration::from_millis(10)))
}

/// reqwest's error, the typed error's source.
fn reqwest_source(error: &tower_together::Error) -> &reqwest::Error {
    error
        .source()
        .and_then(|e| e.downcast_ref::<reqwest::Error>())
        .expect("reqwest's error is the source")
}

#[tokio::test]
async fn a_chat_over_reqwest() {
    let sim = sim().await;
    let client = builder(&sim)
        .build_with_reqwest(reqwest::Client::new())
        .unwrap();
    let response = client
        .chat(ChatRequest::new(CHAT, vec![Message::user("hello reqwest")]))
        .await
        .unwrap();
    assert_eq!(response.choices[0].message.content, "Echo: hello reqwest");
    assert_eq!(chat_statuses(&sim), [200]);
}

#[tokio::test]
async fn a_streamed_chat_arrives_event_by_event() {
    const GAP: Duration = Duration::from_millis(120);
    let sim = Simulator::builder()
        .api_key(KEY)
        .stream_interval(GAP)
        .start()
        .await
        .unwrap();
    let client = builder(&sim)
        .build_with_reqwest(reqwest::Client::new())
        .unwrap();
    let mut stream = client
        .chat_stream(ChatRequest::new(
            CHAT,
            vec![Message::user("one two three four")],
        ))
        .await
        .unwrap();
    let mut arrivals = Vec::new();
    let mut text = String::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        arrivals.push(Instant::now());
        if let Some(choice) = chunk.choices.first() {
            text.push_str(&choice.delta.content);
        }
    }
    assert_eq!(text.trim(), "Echo: one two three four");
    let n = arrivals.len();
    assert!(n >= 4, "{n} chunks");
    // A buffered body would hand every chunk over at once, at the end.
    // Passed on as they come, the chunks are spread over the answer:
    // consecutive ones at least most of a gap apart.
    for pair in arrivals.windows(2) {
        assert!(pair[1] - pair[0] >= GAP * 3 / 4, "{:?}", pair[1] - pair[0]);
    }
}

#[tokio::test]
async fn a_429_is_resent_by_the_stack() {
    let sim = sim().await;
    let client = builder(&sim)
        .build_with_reqwest(reqwest::Client::new())
        .unwrap();
    sim.script([Scripted::Status(429)]);
    let response = client
        .chat(ChatRequest::new(CHAT, vec![Message::user("after a 429")]))
        .await
        .unwrap();
    assert_eq!(response.choices[0].message.content, "Echo: after a 429");
    assert_eq!(chat_statuses(&sim), [429, 200]);
}

#[tokio::test]
async fn a_reqwest_timeout_is_the_crates_timeout_error() {
    let sim = sim().await;
    let reqwest = reqwest::Client::builder()
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let client = builder(&sim)
        .max_retries(0)
        .build_with_reqwest(reqwest)
        .unwrap();
    sim.script([Scripted::Fault(FaultKind::Slow(Duration::from_secs(5)))]);
    let started = Instant::now();
    let error = client
        .chat(ChatRequest::new(CHAT, vec![Message::user("too slow")]))
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "reqwest's 200 ms, not the server's 5 s"
    );
    assert_eq!(error.kind(), ErrorKind::Timeout, "{error}");
    assert!(error.is_timeout());
    let reqwest_error = reqwest_source(&error);
    assert!(reqwest_error.is_timeout() && !reqwest_error.is_connect());
}

#[tokio::test]
async fn a_refused_connection_is_a_transport_error_that_says_connect() {
    let port = closed_port();
    let client = Together::builder()
        .api_key(KEY)
        .base_url(format!("http://127.0.0.1:{port}/v1"))
        .max_retries(0)
        .build_with_reqwest(reqwest::Client::new())
        .unwrap();
    let error = client
        .chat(ChatRequest::new(CHAT, vec![Message::user("nobody home")]))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Transport, "{error}");
    let reqwest_error = reqwest_source(&error);
    assert!(reqwest_error.is_connect() && !reqwest_error.is_timeout());
}

#[tokio::test]
async fn the_layers_stack_over_reqwest_with_any_request_body() {
    let sim = sim().await;
    let http = tower::ServiceBuilder::new()
        .layer(RateLimitLayer::new(Quota::per_second(50)))
        .service(ReqwestService::new(reqwest::Client::new()));
    let url = format!("{}/chat/completions", sim.base_url());
    let json =
        format!(r#"{{"model":"{CHAT}","messages":[{{"role":"user","content":"in pieces"}}]}}"#);
    let (front, back) = json.split_at(json.len() / 2);
    // A streamed body, not `Sync` (boxed unsync): sent as it comes.
    let pieces = futures_util::stream::iter([front.to_owned(), back.to_owned()])
        .map(|piece| Ok::<_, std::convert::Infallible>(http_body::Frame::data(Bytes::from(piece))));
    let request = http::Request::post(&url)
        .header("authorization", format!("Bearer {KEY}"))
        .header("content-type", "application/json")
        .body(StreamBody::new(pieces).boxed_unsync())
        .unwrap();
    let response = http.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), 200);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(value["choices"][0]["message"]["content"], "Echo: in pieces");

    // A URI reqwest cannot take is its builder error, not a panic.
    let bad = http::Request::get("/relative/only")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let error = http.oneshot(bad).await.unwrap_err();
    assert!(error.is_builder(), "{error}");
}

#[tokio::test]
async fn proxy_settings_with_reqwest_are_refused_not_ignored() {
    let error = Together::builder()
        .api_key(KEY)
        .proxy("http://127.0.0.1:3128")
        .build_with_reqwest(reqwest::Client::new())
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Config);
    assert!(
        error.to_string().contains("reqwest::ClientBuilder"),
        "{error}"
    );
}
