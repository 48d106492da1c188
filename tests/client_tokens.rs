//! The typed client's side of the token budget: every request carries an
//! estimate, and the answer's usage (plain or streamed) settles it.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use http::{Request, Response};
use http_body_util::Full;
use serde_json::json;
use tokio::time::Instant;
use tower_together::{ChatRequest, Message, Quota, RateLimitLayer, Together};

type Req = Request<Full<Bytes>>;

const MODEL: &str = "meta-llama/Llama-3.3-70B-Instruct-Turbo";

/// Answers every chat with `used` total tokens (streamed when asked), and
/// records when each request arrived.
fn server(
    used: u64,
    arrivals: Arc<Mutex<Vec<Instant>>>,
) -> impl tower::Service<Req, Response = Response<Full<Bytes>>, Error = Infallible, Future = impl Send>
       + Clone
       + Send
       + Sync {
    tower::service_fn(move |req: Req| {
        arrivals.lock().unwrap().push(Instant::now());
        let streamed = req
            .headers()
            .get("accept")
            .is_some_and(|a| a == "text/event-stream");
        let usage =
            json!({"prompt_tokens": 1, "completion_tokens": used - 1, "total_tokens": used});
        let body = if streamed {
            let first = json!({"id": "c", "object": "chat.completion.chunk", "created": 0, "model": MODEL,
                "choices": [{"index": 0, "delta": {"role": "assistant", "content": "hi"}, "finish_reason": null}]});
            let last = json!({"id": "c", "object": "chat.completion.chunk", "created": 0, "model": MODEL,
                "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": "stop"}],
                "usage": usage});
            format!("data: {first}\n\ndata: {last}\n\ndata: [DONE]\n\n")
        } else {
            json!({"id": "c", "object": "chat.completion", "created": 0, "model": MODEL,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
                "usage": usage})
            .to_string()
        };
        let content_type = if streamed {
            "text/event-stream"
        } else {
            "application/json"
        };
        async move {
            Ok::<_, Infallible>(
                Response::builder()
                    .header("content-type", content_type)
                    .body(Full::new(Bytes::from(body)))
                    .unwrap(),
            )
        }
    })
}

fn client(used: u64, arrivals: Arc<Mutex<Vec<Instant>>>) -> Together {
    // 1 000 tokens a second, burst 1 000: two estimates of ~520 do not fit
    // together, two settled answers of 10 do.
    let quota = Quota::per_second(100).tokens_per_second(1_000);
    Together::builder()
        .api_key("sk-test")
        .base_url("http://sim.test/v1")
        .rate_limit(RateLimitLayer::new(quota))
        .build_with_transport(server(used, arrivals))
        .unwrap()
}

fn chat() -> ChatRequest {
    // No max_tokens: the estimate reserves the default completion budget.
    ChatRequest::new(MODEL, vec![Message::user("Say hi.")])
}

fn offsets(arrivals: &Mutex<Vec<Instant>>, start: Instant) -> Vec<u128> {
    arrivals
        .lock()
        .unwrap()
        .iter()
        .map(|t| (*t - start).as_millis())
        .collect()
}

#[tokio::test(start_paused = true)]
async fn usage_settles_the_estimate_of_a_plain_answer() {
    let arrivals = Arc::default();
    let client = client(10, Arc::clone(&arrivals));
    let start = Instant::now();
    for _ in 0..3 {
        client.chat(chat()).await.unwrap();
    }
    // Each reservation (~520 tokens) is settled down to 10 before the next:
    // all three fit in the first second's burst.
    assert_eq!(offsets(&arrivals, start), vec![0, 0, 0]);
}

#[tokio::test(start_paused = true)]
async fn usage_in_the_last_chunk_settles_a_stream() {
    let arrivals = Arc::default();
    let client = client(10, Arc::clone(&arrivals));
    let start = Instant::now();
    for _ in 0..3 {
        let mut stream = client.chat_stream(chat()).await.unwrap();
        while let Some(chunk) = stream.next().await {
            chunk.unwrap();
        }
    }
    assert_eq!(offsets(&arrivals, start), vec![0, 0, 0]);
}

#[tokio::test(start_paused = true)]
async fn usage_above_the_estimate_is_charged() {
    let arrivals = Arc::default();
    let client = client(1_000, Arc::clone(&arrivals));
    let start = Instant::now();
    client.chat(chat()).await.unwrap();
    client.chat(chat()).await.unwrap();
    // The first used the whole second's worth: the second waits for its
    // ~520 tokens to come back.
    let times = offsets(&arrivals, start);
    assert!(
        (400..=600).contains(&times[1]),
        "waited for the overuse: {times:?}"
    );
    assert!(start.elapsed() < Duration::from_secs(1));
}
