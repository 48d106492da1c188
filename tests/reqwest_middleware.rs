//! `StackMiddleware`: the crate's layers inside a
//! `reqwest_middleware::ClientWithMiddleware`, against the simulator on
//! loopback. A 429 and a 503 are resent through the rest of the chain, a
//! streamed body is sent once, and the response keeps its URL.
#![cfg(all(feature = "reqwest-middleware", feature = "sim"))]

#[path = "sim_support/mod.rs"]
mod sim_support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http::Extensions;
use reqwest_middleware::{ClientBuilder, ClientWithMiddleware, Middleware, Next};
use sim_support::chat_statuses;
use tower_together::reqwest::StackMiddleware;
use tower_together::sim::{Scripted, Simulator};
use tower_together::{BackoffLayer, Quota, RateLimitLayer, RetryAfterLayer};

const KEY: &str = "middleware-test-key";
const CHAT: &str = "meta-llama/Llama-3.3-70B-Instruct-Turbo";

/// Counts the requests that pass it: a middleware after the stack.
#[derive(Clone, Default)]
struct Counter(Arc<AtomicUsize>);

impl Middleware for Counter {
    fn handle<'a, 'b, 'c, 'd>(
        &'a self,
        request: reqwest::Request,
        extensions: &'b mut Extensions,
        next: Next<'c>,
    ) -> std::pin::Pin<
        Box<
            dyn std::future::Future<Output = reqwest_middleware::Result<reqwest::Response>>
                + Send
                + 'd,
        >,
    >
    where
        Self: 'd,
        'a: 'd,
        'b: 'd,
        'c: 'd,
    {
        self.0.fetch_add(1, Ordering::Relaxed);
        next.run(request, extensions)
    }
}

fn client(counter: &Counter) -> ClientWithMiddleware {
    let stack = StackMiddleware::new()
        .rate_limit(RateLimitLayer::new(Quota::per_second(50).burst(5)))
        .retry_after(RetryAfterLayer::new().jitter(Duration::from_millis(10)))
        .backoff(BackoffLayer::new().base_delay(Duration::from_millis(10)));
    ClientBuilder::new(reqwest::Client::new())
        .with(stack)
        .with(counter.clone())
        .build()
}

fn chat_body(text: &str) -> String {
    format!(r#"{{"model":"{CHAT}","messages":[{{"role":"user","content":"{text}"}}]}}"#)
}

#[tokio::test]
async fn a_429_and_a_503_are_resent_through_the_rest_of_the_chain() {
    let sim = Simulator::builder().api_key(KEY).start().await.unwrap();
    let counter = Counter::default();
    let client = client(&counter);
    let url = format!("{}/chat/completions", sim.base_url());
    sim.script([Scripted::Status(429), Scripted::Status(503)]);
    let response = client
        .post(&url)
        .bearer_auth(KEY)
        .header("content-type", "application/json")
        .body(chat_body("again"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.url().as_str(), url, "the response keeps its URL");
    let value: serde_json::Value =
        serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    assert_eq!(value["choices"][0]["message"]["content"], "Echo: again");
    assert_eq!(chat_statuses(&sim), [429, 503, 200]);
    assert_eq!(
        counter.0.load(Ordering::Relaxed),
        3,
        "each attempt went through the chain"
    );
}

#[tokio::test]
async fn a_streamed_body_is_sent_once() {
    let sim = Simulator::builder().api_key(KEY).start().await.unwrap();
    let counter = Counter::default();
    let client = client(&counter);
    sim.script([Scripted::Status(503)]);
    let pieces = futures_util::stream::iter([Ok::<_, std::io::Error>(chat_body("once"))]);
    let response = client
        .post(format!("{}/chat/completions", sim.base_url()))
        .bearer_auth(KEY)
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(pieces))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        503,
        "the answer as it came: it cannot be resent"
    );
    assert_eq!(chat_statuses(&sim), [503]);
    assert_eq!(counter.0.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn the_limiter_paces_by_the_model_set_as_an_extension() {
    let sim = Simulator::builder().api_key(KEY).start().await.unwrap();
    // Plenty for the endpoint; 4 a second, burst 1, for the model.
    let layer = RateLimitLayer::builder(Quota::per_second(1_000).burst(100))
        .model_quota(CHAT, Quota::per_second(4).burst(1))
        .build();
    let client = ClientBuilder::new(reqwest::Client::new())
        .with(StackMiddleware::new().rate_limit(layer))
        .build();
    let url = format!("{}/chat/completions", sim.base_url());
    let send = |model: Option<&'static str>| {
        let mut request = client
            .post(&url)
            .bearer_auth(KEY)
            .header("content-type", "application/json")
            .body(chat_body("paced"));
        if let Some(model) = model {
            request = request.with_extension(tower_together::extensions::Model::new(model));
        }
        request.send()
    };

    let started = tokio::time::Instant::now();
    for _ in 0..3 {
        assert_eq!(send(None).await.unwrap().status(), 200);
    }
    assert!(
        started.elapsed() < Duration::from_millis(200),
        "{:?}",
        started.elapsed()
    );

    let started = tokio::time::Instant::now();
    for _ in 0..3 {
        assert_eq!(send(Some(CHAT)).await.unwrap().status(), 200);
    }
    // The first at once, then one every 250 ms.
    assert!(
        started.elapsed() >= Duration::from_millis(450),
        "{:?}",
        started.elapsed()
    );
}
