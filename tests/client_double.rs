//! The typed client against in-memory doubles of Together (no socket), with
//! paused time: request shape and tags, error parsing, retries through the
//! real layers, fallback, suggestions, streaming, the helpers, redaction.
#![cfg(feature = "client")]

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::{json, Value};
use tokio::time::Instant;
use tower::ServiceExt;
use tower_together::client::{BatchOptions, ErrorKind, Upload};
use tower_together::extensions::TokenCost;
use tower_together::extensions::{ApiKeyFingerprint, Deadline, Model};
use tower_together::types::{FilePurpose, FineTuneRequest, ImageRequest, RerankRequest};
use tower_together::{
    BackoffLayer, ChatRequest, EmbeddingRequest, Message, Quota, RateLimitLayer, RetryAfterLayer,
    Together, TogetherBuilder,
};

const KEY: &str = "sk-test-0123456789-secret";
const CHAT: &str = "meta-llama/Llama-3.3-70B-Instruct-Turbo";
const FALLBACK: &str = "Qwen/Qwen2.5-72B-Instruct-Turbo";
const EMBED: &str = "BAAI/bge-base-en-v1.5";

type Req = Request<Full<Bytes>>;
type Resp = Response<Full<Bytes>>;

/// A transport double from an async handler.
fn double<F, Fut>(
    handler: F,
) -> impl tower::Service<Req, Response = Resp, Error = Infallible, Future = impl Send>
       + Clone
       + Send
       + Sync
where
    F: Fn(Req) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Resp> + Send + 'static,
{
    tower::service_fn(move |req: Req| {
        let handler = handler.clone();
        async move { Ok::<_, Infallible>(handler(req).await) }
    })
}

fn json_response(status: u16, value: Value) -> Resp {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("x-request-id", "req-42")
        .body(Full::new(Bytes::from(value.to_string())))
        .unwrap()
}

async fn body_json(req: Req) -> Value {
    let bytes = req.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&bytes).unwrap_or(Value::Null)
}

fn chat_answer(model: &str, content: Value) -> Value {
    json!({
        "id": "cmpl-1", "object": "chat.completion", "created": 1, "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                     "finish_reason": "eos", "logprobs": null, "seed": 7}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
        "warnings": []
    })
}

/// A builder with the real layers tuned for paused time.
fn quick() -> TogetherBuilder {
    Together::builder()
        .api_key(KEY)
        .base_url("http://sim.test/v1")
        .rate_limit(RateLimitLayer::new(Quota::per_second(1_000)))
        .retry_after(
            RetryAfterLayer::new()
                .jitter(Duration::ZERO)
                .default_wait(Duration::from_millis(100)),
        )
        .backoff(
            BackoffLayer::new()
                .max_retries(2)
                .base_delay(Duration::from_millis(10))
                .jitter(0.0),
        )
        .poll_interval(Duration::from_secs(1))
}

#[tokio::test(start_paused = true)]
async fn chat_request_is_shaped_and_tagged() {
    let seen = Arc::new(Mutex::new(None));
    let record = seen.clone();
    let client = quick()
        .build_with_transport(double(move |req: Req| {
            let record = record.clone();
            async move {
                let h = req.headers();
                let auth = h.get("authorization").unwrap();
                let tags = (
                    req.method().clone(),
                    req.uri().to_string(),
                    auth.is_sensitive(),
                    auth.to_str().unwrap().to_owned(),
                    h.get("content-type").unwrap().to_str().unwrap().to_owned(),
                    req.extensions()
                        .get::<Model>()
                        .map(|m| m.as_str().to_owned()),
                    req.extensions().get::<ApiKeyFingerprint>().is_some(),
                    req.extensions().get::<Deadline>().is_some(),
                    req.extensions().get::<TokenCost>().copied(),
                );
                let body = body_json(req).await;
                *record.lock().unwrap() = Some((tags, body));
                json_response(200, chat_answer(CHAT, json!(null)))
            }
        }))
        .unwrap();

    let request = ChatRequest::new(CHAT, vec![Message::user("Hello there")])
        .max_tokens(16)
        .extra("top_k", json!(5));
    let response = client.chat(request).await.unwrap();
    assert_eq!(
        response.choices[0].message.content, "",
        "null content reads as empty"
    );
    assert_eq!(response.usage.unwrap().total_tokens, 5);

    let (tags, body) = seen.lock().unwrap().take().unwrap();
    assert_eq!(tags.0, http::Method::POST);
    assert_eq!(tags.1, "http://sim.test/v1/chat/completions");
    assert!(tags.2, "the Authorization header is marked sensitive");
    assert_eq!(tags.3, format!("Bearer {KEY}"));
    assert_eq!(tags.4, "application/json");
    assert_eq!(tags.5.as_deref(), Some(CHAT));
    assert!(tags.6 && tags.7);
    assert!(tags.8.unwrap().get() >= 16);
    assert_eq!(body["model"], CHAT);
    assert_eq!(
        body["messages"][0],
        json!({"role": "user", "content": "Hello there"})
    );
    assert_eq!(body["top_k"], 5);
    assert!(body.get("stream").is_none());
}

#[tokio::test(start_paused = true)]
async fn the_client_is_a_tower_service_for_typed_requests() {
    let client = quick()
        .build_with_service(double(|_req: Req| async {
            json_response(
                200,
                json!({"model": EMBED, "data": [{"index": 0, "embedding": [0.5, 1.5]}]}),
            )
        }))
        .unwrap();
    let response = client
        .oneshot(EmbeddingRequest::new(EMBED, "one text"))
        .await
        .unwrap();
    assert_eq!(response.data[0].embedding, vec![0.5, 1.5]);
}

#[tokio::test(start_paused = true)]
async fn a_429_is_retried_then_succeeds() {
    let calls = Arc::new(AtomicUsize::new(0));
    let count = calls.clone();
    let client = quick()
        .build_with_transport(double(move |_req: Req| {
            let n = count.fetch_add(1, Ordering::SeqCst);
            async move {
                if n == 0 {
                    let mut r = json_response(429, json!({"error": {"message": "slow down", "type": "dynamic_request_limited"}}));
                    r.headers_mut().insert("retry-after", "2".parse().unwrap());
                    r
                } else {
                    json_response(200, chat_answer(CHAT, json!("hi")))
                }
            }
        }))
        .unwrap();
    let start = Instant::now();
    let response = client
        .chat(ChatRequest::new(CHAT, vec![Message::user("x")]))
        .await
        .unwrap();
    assert_eq!(response.choices[0].message.content, "hi");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert!(
        start.elapsed() >= Duration::from_secs(2),
        "Retry-After honoured"
    );
}

#[tokio::test(start_paused = true)]
async fn a_429_that_persists_is_a_typed_error() {
    let client = quick()
        .retry_after(RetryAfterLayer::new().max_retries(1).jitter(Duration::ZERO))
        .build_with_transport(double(|_req: Req| async {
            let mut r = json_response(
                429,
                json!({"error": {"message": "slow down", "type": "dynamic_request_limited"}}),
            );
            r.headers_mut().insert("retry-after", "1".parse().unwrap());
            r
        }))
        .unwrap();
    let error = client
        .chat(ChatRequest::new(CHAT, vec![Message::user("x")]))
        .await
        .unwrap_err();
    assert!(error.is_rate_limited());
    assert_eq!(error.status(), Some(StatusCode::TOO_MANY_REQUESTS));
    assert_eq!(error.error_type(), Some("dynamic_request_limited"));
    assert_eq!(error.retry_after(), Some(Duration::from_secs(1)));
    assert_eq!(error.request_id(), Some("req-42"));
    assert_eq!(error.model(), Some(CHAT));
}

#[tokio::test(start_paused = true)]
async fn a_400_is_never_retried() {
    let calls = Arc::new(AtomicUsize::new(0));
    let count = calls.clone();
    let client = quick()
        .build_with_transport(double(move |_req: Req| {
            count.fetch_add(1, Ordering::SeqCst);
            async {
                json_response(400, json!({"error": {"message": "bad temperature", "type": "invalid_request_error", "param": "temperature", "code": null}}))
            }
        }))
        .unwrap();
    let error = client
        .chat(ChatRequest::new(CHAT, vec![Message::user("x")]).temperature(9.0))
        .await
        .unwrap_err();
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(error.status(), Some(StatusCode::BAD_REQUEST));
    assert_eq!(error.param(), Some("temperature"));
    assert!(!error.is_rate_limited() && !error.is_overloaded() && !error.is_model_not_found());
}

#[tokio::test(start_paused = true)]
async fn overloaded_models_fall_back_in_order() {
    let models_seen = Arc::new(Mutex::new(Vec::new()));
    let seen = models_seen.clone();
    let client = quick()
        .fallback(CHAT, ["also/overloaded", FALLBACK])
        .build_with_transport(double(move |req: Req| {
            let seen = seen.clone();
            async move {
                let body = body_json(req).await;
                let model = body["model"].as_str().unwrap().to_owned();
                seen.lock().unwrap().push(model.clone());
                if model == FALLBACK {
                    json_response(200, chat_answer(&model, json!("from the fallback")))
                } else {
                    json_response(503, json!({"error": {"message": "The server is overloaded", "type": "server_error"}}))
                }
            }
        }))
        .unwrap();
    let response = client
        .chat(ChatRequest::new(CHAT, vec![Message::user("x")]))
        .await
        .unwrap();
    assert_eq!(
        response.model, FALLBACK,
        "the response names the model that answered"
    );
    assert_eq!(response.choices[0].message.content, "from the fallback");
    let seen = models_seen.lock().unwrap().clone();
    // 1 + 2 backoff retries on each overloaded model, then the fallback.
    assert_eq!(seen.len(), 3 + 3 + 1, "{seen:?}");
    assert_eq!(seen[0], CHAT);
    assert_eq!(seen[3], "also/overloaded");

    // Without fallbacks, the 503 comes back as an overloaded error.
    let plain = quick()
        .max_retries(0)
        .build_with_transport(double(|_req: Req| async {
            json_response(
                503,
                json!({"error": {"message": "overloaded", "type": "server_error"}}),
            )
        }))
        .unwrap();
    let error = plain
        .chat(ChatRequest::new(CHAT, vec![Message::user("x")]))
        .await
        .unwrap_err();
    assert!(error.is_overloaded());
}

#[tokio::test(start_paused = true)]
async fn model_not_found_names_the_closest_models_from_a_cached_list() {
    let model_lists = Arc::new(AtomicUsize::new(0));
    let lists = model_lists.clone();
    let client = quick()
        .build_with_transport(double(move |req: Req| {
            let lists = lists.clone();
            async move {
                if req.uri().path() == "/v1/models" {
                    lists.fetch_add(1, Ordering::SeqCst);
                    return json_response(200, json!([
                        {"id": CHAT, "object": "model", "type": "chat"},
                        {"id": "meta-llama/Llama-3.1-8B-Instruct-Turbo", "type": "chat"},
                        {"id": EMBED, "type": "embedding"},
                        {"id": "Qwen/Qwen3-VL-235B-A22B-Instruct-FP8", "type": "brand-new-type"}
                    ]));
                }
                let body = body_json(req).await;
                if body["model"] == "Qwen/Qwen3-VL-235B-A22B-Instruct-FP8" {
                    return json_response(400, json!({"id": "x", "error": {"message": "Unable to access non-serverless model", "type": "invalid_request_error", "param": null, "code": "model_not_available"}}));
                }
                json_response(404, json!({"error": {"message": "model not found", "type": "invalid_request_error"}}))
            }
        }))
        .unwrap();
    let error = client
        .chat(ChatRequest::new(
            "meta-llama/Llama-3.3-70B-Instruct-Trubo",
            vec![Message::user("x")],
        ))
        .await
        .unwrap_err();
    assert!(error.is_model_not_found());
    assert_eq!(error.suggestions().len(), 3);
    assert_eq!(error.suggestions()[0], CHAT);
    assert!(
        error.to_string().contains(&format!("did you mean {CHAT}")),
        "{error}"
    );

    let error = client
        .chat(ChatRequest::new(
            "Qwen/Qwen3-VL-235B-A22B-Instruct-FP8",
            vec![Message::user("x")],
        ))
        .await
        .unwrap_err();
    assert!(error.is_model_not_found());
    assert_eq!(error.code(), Some("model_not_available"));
    assert!(!error
        .suggestions()
        .iter()
        .any(|s| s == "Qwen/Qwen3-VL-235B-A22B-Instruct-FP8"));
    assert_eq!(
        model_lists.load(Ordering::SeqCst),
        1,
        "GET /models is cached"
    );

    let models = client.models().await.unwrap();
    assert_eq!(models.len(), 4);
    assert_eq!(models[3].kind.as_ref().unwrap().as_str(), "brand-new-type");
}

fn sse(events: &[&str]) -> Resp {
    let mut text = String::new();
    for e in events {
        text.push_str("data: ");
        text.push_str(e);
        text.push_str("\n\n");
    }
    Response::builder()
        .header("content-type", "text/event-stream")
        .body(Full::new(Bytes::from(text)))
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn streams_end_at_done_and_surface_mid_stream_errors() {
    let client = quick()
        .build_with_transport(double(|req: Req| async move {
            let path = req.uri().path().to_owned();
            let body = body_json(req).await;
            assert_eq!(body["stream"], true);
            if path.ends_with("/chat/completions") {
                if body["messages"][0]["content"] == "fail" {
                    return sse(&[
                        r#"{"id":"1","choices":[{"index":0,"delta":{"role":"assistant","content":"Hel"}}]}"#,
                        r#"{"error":{"message":"engine crashed","type":"server_error"}}"#,
                    ]);
                }
                sse(&[
                    r#"{"id":"1","choices":[{"index":0,"delta":{"role":"assistant","content":"Hel"},"finish_reason":null}],"usage":null}"#,
                    r#"{"id":"1","choices":[{"index":0,"delta":{"content":"lo","token_id":5},"finish_reason":"eos"}],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}"#,
                    "[DONE]",
                ])
            } else {
                sse(&[r#"{"id":"2","choices":[{"index":0,"text":"abc"}]}"#, "[DONE]"])
            }
        }))
        .unwrap();

    let chunks: Vec<_> = client
        .chat_stream(ChatRequest::new(CHAT, vec![Message::user("hi")]))
        .await
        .unwrap()
        .collect()
        .await;
    let text: String = chunks
        .iter()
        .map(|c| c.as_ref().unwrap().choices[0].delta.content.clone())
        .collect();
    assert_eq!(text, "Hello");
    assert_eq!(
        chunks[1]
            .as_ref()
            .unwrap()
            .usage
            .as_ref()
            .unwrap()
            .total_tokens,
        3
    );

    let chunks: Vec<_> = client
        .chat_stream(ChatRequest::new(CHAT, vec![Message::user("fail")]))
        .await
        .unwrap()
        .collect()
        .await;
    assert_eq!(chunks.len(), 2);
    let error = chunks[1].as_ref().unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Stream);
    assert!(error.to_string().contains("engine crashed"));

    let completions: Vec<_> = client
        .completion_stream(tower_together::CompletionRequest::new(CHAT, "Once"))
        .await
        .unwrap()
        .collect()
        .await;
    assert_eq!(completions.len(), 1);
    assert_eq!(completions[0].as_ref().unwrap().choices[0].text, "abc");
}

#[tokio::test(start_paused = true)]
async fn html_gateway_pages_give_a_clear_error() {
    let client = quick()
        .max_retries(0)
        .build_with_transport(double(|_req: Req| async {
            Response::builder()
                .status(524)
                .header("content-type", "text/html")
                .body(Full::new(Bytes::from(format!(
                    "<!DOCTYPE html><html><head><title>A timeout occurred</title></head>{}</html>",
                    "<p>cloudflare</p>".repeat(1_000)
                ))))
                .unwrap()
        }))
        .unwrap();
    let error = client
        .chat(ChatRequest::new(CHAT, vec![Message::user("x")]))
        .await
        .unwrap_err();
    let text = error.to_string();
    assert!(error.is_timeout());
    assert!(
        text.contains("<!DOCTYPE html><html><head><title>A timeout occurred"),
        "{text}"
    );
    assert!(text.len() < 500, "quoted briefly: {}", text.len());
}

#[tokio::test(start_paused = true)]
async fn an_attempt_that_hangs_times_out() {
    let client = quick()
        .max_retries(0)
        .timeout(Duration::from_secs(5))
        .build_with_transport(double(|_req: Req| async {
            tokio::time::sleep(Duration::from_secs(3_600)).await;
            json_response(200, json!({}))
        }))
        .unwrap();
    let start = Instant::now();
    let error = client.models().await.unwrap_err();
    assert!(error.is_timeout(), "{error:?}");
    assert!(start.elapsed() >= Duration::from_secs(5) && start.elapsed() < Duration::from_secs(6));
}

#[tokio::test(start_paused = true)]
async fn a_2xx_body_that_is_not_json_is_a_decode_error() {
    let client = quick()
        .build_with_service(double(|_req: Req| async {
            Response::new(Full::new(Bytes::from_static(b"<html>maintenance</html>")))
        }))
        .unwrap();
    let error = client.models().await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Decode);
    assert!(error.to_string().contains("<html>maintenance"));
}

/// An embeddings double: each vector is `[position of the text in the
/// corpus]`, sent back in reverse order; records the largest batch and the
/// most requests in flight at once.
#[derive(Clone, Default)]
struct EmbedDouble {
    in_flight: Arc<AtomicUsize>,
    max_in_flight: Arc<AtomicUsize>,
    max_batch: Arc<AtomicUsize>,
    fail_text: Option<&'static str>,
}

impl EmbedDouble {
    async fn handle(self, req: Req) -> Resp {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        let body = body_json(req).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        let inputs = body["input"].as_array().unwrap().clone();
        self.max_batch.fetch_max(inputs.len(), Ordering::SeqCst);
        if let Some(fail) = self.fail_text {
            if inputs.iter().any(|i| i == fail) {
                return json_response(
                    400,
                    json!({"error": {"message": "input too long", "type": "invalid_request_error"}}),
                );
            }
        }
        let data: Vec<Value> = inputs
            .iter()
            .enumerate()
            .rev()
            .map(|(i, text)| {
                let n: f32 = text
                    .as_str()
                    .unwrap()
                    .trim_start_matches("text-")
                    .parse()
                    .unwrap();
                json!({"object": "embedding", "index": i, "embedding": [n]})
            })
            .collect();
        json_response(200, json!({"object": "list", "model": EMBED, "data": data}))
    }
}

#[tokio::test(start_paused = true)]
async fn embed_all_keeps_order_batches_and_bounds_concurrency() {
    let fake = EmbedDouble::default();
    let handler = fake.clone();
    let client = quick()
        .embed_concurrency(4)
        .build_with_transport(double(move |req| handler.clone().handle(req)))
        .unwrap();
    let texts: Vec<String> = (0..1_000).map(|i| format!("text-{i}")).collect();
    let vectors = client.embed_all(EMBED, &texts).await.unwrap();
    assert_eq!(vectors.len(), 1_000);
    for (i, v) in vectors.iter().enumerate() {
        assert_eq!(v, &vec![i as f32]);
    }
    assert_eq!(fake.max_batch.load(Ordering::SeqCst), 20);
    let max = fake.max_in_flight.load(Ordering::SeqCst);
    assert!(
        (2..=4).contains(&max),
        "ran concurrently, at most 4 at once: {max}"
    );
    assert!(client
        .embed_all(EMBED, &Vec::<String>::new())
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test(start_paused = true)]
async fn embed_all_keeps_the_vectors_of_batches_that_succeeded() {
    let fake = EmbedDouble {
        fail_text: Some("text-45"),
        ..EmbedDouble::default()
    };
    let handler = fake.clone();
    let client = quick()
        .embed_batch_size(10)
        .build_with_transport(double(move |req| handler.clone().handle(req)))
        .unwrap();
    let texts: Vec<String> = (0..95).map(|i| format!("text-{i}")).collect();
    let error = client.embed_all(EMBED, &texts).await.unwrap_err();
    assert_eq!(error.failed_batches().len(), 1);
    assert_eq!(error.failed_batches()[0].inputs, 40..50);
    assert_eq!(
        error.failed_batches()[0].error.status(),
        Some(StatusCode::BAD_REQUEST)
    );
    assert_eq!(
        error.failed_inputs().collect::<Vec<_>>(),
        (40..50).collect::<Vec<_>>()
    );
    assert!(error.to_string().contains("10 of 95 inputs"), "{error}");
    let partial = error.into_partial();
    assert_eq!(partial.len(), 95);
    for (i, v) in partial.iter().enumerate() {
        if (40..50).contains(&i) {
            assert!(v.is_none());
        } else {
            assert_eq!(v.as_deref(), Some(&[i as f32][..]));
        }
    }
}

/// A fine-tune double: jobs run 30 s; more than `server_cap` running gets a 409.
#[derive(Clone)]
struct FineTuneDouble {
    jobs: Arc<Mutex<Vec<(String, Instant)>>>,
    max_running: Arc<AtomicUsize>,
    conflicts: Arc<AtomicUsize>,
    server_cap: usize,
}

impl FineTuneDouble {
    fn running(jobs: &[(String, Instant)]) -> usize {
        jobs.iter().filter(|(_, end)| *end > Instant::now()).count()
    }

    fn job(id: &str, end: Instant) -> Value {
        let status = if end > Instant::now() {
            "running"
        } else {
            "completed"
        };
        json!({"id": id, "status": status, "model": "m", "training_file": "file-1"})
    }

    async fn handle(self, req: Req) -> Resp {
        let path = req.uri().path().to_owned();
        let method = req.method().clone();
        let mut jobs = self.jobs.lock().unwrap();
        match (method.as_str(), path.as_str()) {
            ("POST", "/v1/fine-tunes") => {
                if Self::running(&jobs) >= self.server_cap {
                    self.conflicts.fetch_add(1, Ordering::SeqCst);
                    return json_response(
                        409,
                        json!({"error": {"message": "too many running jobs", "type": "conflict"}}),
                    );
                }
                let id = format!("ft-{}", jobs.len());
                let end = Instant::now() + Duration::from_secs(30);
                jobs.push((id.clone(), end));
                self.max_running
                    .fetch_max(Self::running(&jobs), Ordering::SeqCst);
                json_response(200, Self::job(&id, end))
            }
            ("GET", "/v1/fine-tunes") => {
                let data: Vec<Value> = jobs.iter().map(|(id, end)| Self::job(id, *end)).collect();
                json_response(200, json!({ "data": data }))
            }
            ("GET", p) => {
                let id = p.trim_start_matches("/v1/fine-tunes/");
                match jobs.iter().find(|(j, _)| j == id) {
                    Some((id, end)) => json_response(200, Self::job(id, *end)),
                    None => json_response(
                        404,
                        json!({"error": {"message": "no such job", "type": "not_found"}}),
                    ),
                }
            }
            _ => json_response(
                404,
                json!({"error": {"message": "no route", "type": "not_found"}}),
            ),
        }
    }
}

#[tokio::test(start_paused = true)]
async fn the_fine_tune_cap_holds_with_ten_concurrent_creates() {
    // The server's own cap is 3 as well; a 2-job cap on the client shows
    // that the client's cap is what holds, and the 409 path is covered below.
    for (client_cap, server_cap, expect_max) in [(3, 100, 3), (2, 100, 2), (5, 3, 3)] {
        let fake = FineTuneDouble {
            jobs: Arc::default(),
            max_running: Arc::default(),
            conflicts: Arc::default(),
            server_cap,
        };
        let handler = fake.clone();
        let client = quick()
            .fine_tune_cap(client_cap)
            .build_with_transport(double(move |req| handler.clone().handle(req)))
            .unwrap();
        let creates = (0..10).map(|_| {
            let client = client.clone();
            tokio::spawn(async move {
                client
                    .create_fine_tune(FineTuneRequest::new("m", "file-1").n_epochs(1))
                    .await
            })
        });
        let jobs = futures_util::future::join_all(creates).await;
        let ids: HashSet<String> = jobs.into_iter().map(|j| j.unwrap().unwrap().id).collect();
        assert_eq!(ids.len(), 10, "ten distinct jobs, no duplicate creates");
        assert_eq!(fake.max_running.load(Ordering::SeqCst), expect_max);
        if client_cap > server_cap {
            assert!(
                fake.conflicts.load(Ordering::SeqCst) > 0,
                "the 409 path ran"
            );
        } else {
            assert_eq!(fake.conflicts.load(Ordering::SeqCst), 0);
        }
    }
}

#[derive(Clone, Default)]
struct FilesAndBatches {
    files: Arc<Mutex<HashMap<String, Bytes>>>,
    polls: Arc<AtomicUsize>,
}

impl FilesAndBatches {
    async fn handle(self, req: Req) -> Resp {
        let path = req.uri().path().to_owned();
        let method = req.method().clone();
        match (method.as_str(), path.as_str()) {
            ("POST", "/v1/files/upload") => {
                let content_type = req.headers()["content-type"].to_str().unwrap().to_owned();
                assert!(content_type.starts_with("multipart/form-data; boundary="));
                let form = req.into_body().collect().await.unwrap().to_bytes();
                let form = String::from_utf8(form.to_vec()).unwrap();
                for field in [
                    "name=\"purpose\"",
                    "name=\"file_name\"",
                    "name=\"file_type\"",
                ] {
                    assert!(form.contains(field), "{field} in {form}");
                }
                let file = form
                    .split_once("name=\"file\"; filename=\"")
                    .and_then(|(_, rest)| rest.split_once("\r\n\r\n"))
                    .and_then(|(_, rest)| rest.split_once("\r\n--"))
                    .map(|(content, _)| content.to_owned())
                    .expect("a file part");
                let id = format!("file-{}", self.files.lock().unwrap().len());
                self.files
                    .lock()
                    .unwrap()
                    .insert(id.clone(), Bytes::from(file.clone()));
                json_response(
                    200,
                    json!({"id": id, "object": "file", "created_at": 1, "filename": "train.jsonl",
                    "bytes": file.len(), "purpose": "batch-api", "FileType": "jsonl", "Processed": true}),
                )
            }
            ("GET", "/v1/files") => {
                let files = self.files.lock().unwrap();
                let data: Vec<Value> = files
                    .keys()
                    .map(|id| json!({"id": id, "filename": "x.jsonl"}))
                    .collect();
                json_response(200, json!({ "data": data }))
            }
            ("GET", p) if p.ends_with("/content") => {
                let id = p
                    .trim_start_matches("/v1/files/")
                    .trim_end_matches("/content");
                let bytes = self.files.lock().unwrap().get(id).cloned().unwrap();
                Response::new(Full::new(bytes))
            }
            ("GET", p) if p.starts_with("/v1/files/") => {
                let id = p.trim_start_matches("/v1/files/");
                let size = self.files.lock().unwrap().get(id).map(|b| b.len()).unwrap();
                json_response(
                    200,
                    json!({"id": id, "object": "file", "filename": "x.jsonl", "bytes": size,
                    "purpose": "batch-api", "FileType": "jsonl", "Processed": true, "LineCount": 0}),
                )
            }
            ("DELETE", p) => {
                let id = p.trim_start_matches("/v1/files/").to_owned();
                self.files.lock().unwrap().remove(&id);
                json_response(200, json!({"id": id, "deleted": true}))
            }
            ("POST", "/v1/batches") => {
                let body = body_json(req).await;
                assert_eq!(body["endpoint"], "/v1/chat/completions");
                let input = body["input_file_id"].as_str().unwrap().to_owned();
                let content = self.files.lock().unwrap().get(&input).cloned().unwrap();
                // Answer every line now, except "req-7", which fails, and
                // "req-9", which the server drops.
                let mut output = String::new();
                let mut errors = String::new();
                for line in String::from_utf8(content.to_vec()).unwrap().lines() {
                    let line: Value = serde_json::from_str(line).unwrap();
                    let id = line["custom_id"].as_str().unwrap();
                    let question = line["body"]["messages"][0]["content"].as_str().unwrap();
                    match id {
                        "req-7" => errors.push_str(&format!("{}\n", json!({"custom_id": id, "error": {"message": "context too long", "code": "context_length_exceeded"}}))),
                        "req-9" => {}
                        _ => output.push_str(&format!("{}\n", json!({"custom_id": id, "response": {"status_code": 200,
                            "body": chat_answer(CHAT, json!(format!("answer to {question}")))}}))),
                    }
                }
                let mut files = self.files.lock().unwrap();
                files.insert("file-out".into(), Bytes::from(output));
                files.insert("file-err".into(), Bytes::from(errors));
                json_response(
                    201,
                    json!({"job": {"id": "batch-1", "status": "VALIDATING", "progress": 0}, "warning": null}),
                )
            }
            ("GET", "/v1/batches/batch-1") => {
                let n = self.polls.fetch_add(1, Ordering::SeqCst);
                let job = if n < 2 {
                    json!({"id": "batch-1", "status": "IN_PROGRESS", "progress": 50.0 * n as f64})
                } else {
                    json!({"id": "batch-1", "status": "COMPLETED", "progress": 100.0,
                           "output_file_id": "file-out", "error_file_id": "file-err"})
                };
                json_response(200, job)
            }
            ("GET", "/v1/batches") => {
                json_response(200, json!([{"id": "batch-1", "status": "NEW_STATE"}]))
            }
            ("POST", "/v1/batches/batch-1/cancel") => {
                json_response(200, json!({"id": "batch-1", "status": "CANCELLED"}))
            }
            _ => json_response(
                404,
                json!({"error": {"message": "no route", "type": "not_found"}}),
            ),
        }
    }
}

#[tokio::test(start_paused = true)]
async fn files_upload_as_one_multipart_form() {
    let fake = FilesAndBatches::default();
    let handler = fake.clone();
    let client = quick()
        .build_with_transport(double(move |req| handler.clone().handle(req)))
        .unwrap();
    let file = client
        .upload_file(Upload::new(
            "train.jsonl",
            FilePurpose::FineTune,
            &b"{\"text\":\"hi\"}\n"[..],
        ))
        .await
        .unwrap();
    assert_eq!(file.id, "file-0");
    assert_eq!(file.bytes, 14);
    assert_eq!(file.file_type.as_deref(), Some("jsonl"));
    assert_eq!(file.processed, Some(true));
    assert_eq!(
        &client.file_content("file-0").await.unwrap()[..],
        b"{\"text\":\"hi\"}\n"
    );
    assert_eq!(client.list_files().await.unwrap().len(), 1);
    assert!(client.delete_file("file-0").await.unwrap().deleted);
    let bad = client.get_file("../models").await.unwrap_err();
    assert_eq!(bad.kind(), ErrorKind::InvalidRequest);
}

#[tokio::test(start_paused = true)]
async fn a_batch_of_200_comes_back_complete_matched_by_custom_id() {
    let fake = FilesAndBatches::default();
    let handler = fake.clone();
    let client = quick()
        .build_with_transport(double(move |req| handler.clone().handle(req)))
        .unwrap();
    let requests: Vec<(String, ChatRequest)> = (0..200)
        .map(|i| {
            (
                format!("req-{i}"),
                ChatRequest::new(CHAT, vec![Message::user(format!("q{i}"))]),
            )
        })
        .collect();
    let progress = Arc::new(Mutex::new(Vec::new()));
    let record = progress.clone();
    let results = client
        .run_batch(
            requests,
            BatchOptions::new()
                .on_progress(move |job| record.lock().unwrap().push(job.progress.unwrap_or(0.0))),
        )
        .await
        .unwrap();
    assert_eq!(results.outcomes.len(), 200);
    assert_eq!(results.succeeded(), 198);
    for (i, outcome) in results.outcomes.iter().enumerate() {
        assert_eq!(outcome.custom_id, format!("req-{i}"));
        if i != 7 && i != 9 {
            let answer = &outcome.result.as_ref().unwrap().choices[0].message.content;
            assert_eq!(answer, &format!("answer to q{i}"));
        }
    }
    let e7 = results.get("req-7").unwrap().as_ref().unwrap_err();
    assert_eq!(e7.code.as_deref(), Some("context_length_exceeded"));
    assert!(
        results.get("req-9").unwrap().is_err(),
        "a dropped line is reported"
    );
    assert_eq!(*progress.lock().unwrap(), vec![0.0, 50.0, 100.0]);

    let listed = client.list_batches().await.unwrap();
    assert_eq!(listed[0].status.as_str(), "NEW_STATE");
    assert!(client
        .cancel_batch("batch-1")
        .await
        .unwrap()
        .status
        .is_terminal());
}

#[tokio::test(start_paused = true)]
async fn other_endpoints_round_trip() {
    let client = quick()
        .build_with_service(double(|req: Req| async move {
            let path = req.uri().path().to_owned();
            let body = body_json(req).await;
            match path.as_str() {
                "/v1/images/generations" => {
                    assert_eq!(body["width"], 512);
                    json_response(200, json!({"id": "img", "model": body["model"], "object": "list",
                        "data": [{"index": 0, "type": "url", "url": "https://x/1.png"}]}))
                }
                "/v1/rerank" => json_response(200, json!({"object": "rerank", "id": "r", "model": body["model"],
                    "results": [{"index": 1, "relevance_score": 0.9, "document": {"text": "b"}},
                                {"index": 0, "relevance_score": 0.1}],
                    "usage": {"total_tokens": 4}})),
                "/v1/completions" => json_response(200, json!({"id": "c", "object": "text.completion", "model": body["model"],
                    "choices": [{"index": 0, "text": " upon a time", "finish_reason": "length"}]})),
                "/v1/fine-tunes/ft-1/events" => json_response(200, json!({"data": [{"object": "fine-tune-event", "message": "started", "type": "job_start", "level": null}]})),
                "/v1/fine-tunes/ft-1/cancel" => json_response(200, json!({"id": "ft-1", "status": "cancel_requested"})),
                "/v1/fine-tunes" => json_response(200, json!({"data": [{"id": "ft-1", "status": "queued"}]})),
                _ => json_response(404, json!({"error": {"message": "no route", "type": "not_found"}})),
            }
        }))
        .unwrap();
    let images = client
        .images(ImageRequest::new("black-forest-labs/FLUX.1-schnell", "a cat").size(512, 512))
        .await
        .unwrap();
    assert_eq!(images.data[0].url.as_deref(), Some("https://x/1.png"));
    let ranked = client
        .rerank(RerankRequest::new("Salesforce/Llama-Rank-V1", "q", &["a", "b"]).top_n(2))
        .await
        .unwrap();
    assert_eq!(ranked.results[0].index, 1);
    let completion = client
        .completion(tower_together::CompletionRequest::new(CHAT, "Once").max_tokens(4))
        .await
        .unwrap();
    assert_eq!(completion.choices[0].text, " upon a time");
    assert_eq!(
        client.fine_tune_events("ft-1").await.unwrap()[0].message,
        "started"
    );
    assert!(!client
        .cancel_fine_tune("ft-1")
        .await
        .unwrap()
        .status
        .is_terminal());
    assert_eq!(client.list_fine_tunes().await.unwrap()[0].id, "ft-1");
}

#[tokio::test(start_paused = true)]
async fn the_key_is_absent_from_every_debug_and_error_string() {
    let client = quick()
        .max_retries(0)
        .build_with_transport(double(|req: Req| async move {
            let auth = req.headers().get("authorization").cloned();
            // A hostile server that echoes the key back in every field.
            let echoed = format!("{auth:?} {}", auth.as_ref().map(|a| a.to_str().unwrap()).unwrap_or(""));
            let mut r = json_response(401, json!({"id": echoed, "error": {"message": format!("Invalid API key {echoed}"), "type": echoed, "code": echoed, "param": echoed}}));
            r.headers_mut().insert("x-request-id", auth.unwrap());
            r
        }))
        .unwrap();
    let builder = quick();
    let error = client
        .chat(ChatRequest::new(CHAT, vec![Message::user("x")]))
        .await
        .unwrap_err();
    assert_eq!(error.status(), Some(StatusCode::UNAUTHORIZED));
    let stream_error = client
        .chat_stream(ChatRequest::new(CHAT, vec![Message::user("x")]))
        .await
        .unwrap_err();
    let upload_error = client
        .upload_file(Upload::new(
            "a.jsonl",
            FilePurpose::FineTune,
            Bytes::from_static(b"{}"),
        ))
        .await
        .unwrap_err();
    let request = ChatRequest::new(CHAT, vec![Message::user("x")]);
    let texts = [
        format!("{client:?}"),
        format!("{client:#?}"),
        format!("{builder:?}"),
        format!("{error}"),
        format!("{error:?}"),
        format!("{stream_error} {stream_error:?}"),
        format!("{upload_error} {upload_error:?}"),
        format!("{request:?}"),
        format!("{:?}", std::error::Error::source(&error)),
    ];
    for text in texts {
        assert!(!text.contains(KEY), "the key leaked: {text}");
        assert!(
            !text.contains("0123456789-secret"),
            "part of the key leaked: {text}"
        );
    }
    assert!(error.message().contains("[redacted]"));
}

#[tokio::test]
async fn construction_errors_are_clear() {
    let bad_url = Together::builder()
        .api_key(KEY)
        .base_url("not a url")
        .build()
        .unwrap_err();
    assert_eq!(bad_url.kind(), ErrorKind::Config);
    assert!(bad_url.to_string().contains("base URL"));
    let bad_key = Together::builder()
        .api_key("line\nbreak")
        .base_url("http://x/v1")
        .build()
        .unwrap_err();
    assert_eq!(bad_key.kind(), ErrorKind::Config);
    assert!(!bad_key.to_string().contains("line"));
    // The default transport builds for http and https base URLs.
    let client = Together::builder()
        .api_key(KEY)
        .base_url("https://api.together.ai/v1/")
        .build()
        .unwrap();
    assert_eq!(client.base_url(), "https://api.together.ai/v1");
    let clone = client.clone();
    assert_eq!(clone.base_url(), client.base_url());
    // A transport error is an error of kind Transport.
    let unreachable = Together::builder()
        .api_key(KEY)
        .base_url("http://127.0.0.1:1/v1")
        .max_retries(0)
        .build()
        .unwrap();
    let error = unreachable.models().await.unwrap_err();
    assert!(
        matches!(error.kind(), ErrorKind::Transport | ErrorKind::Timeout),
        "{error:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn clones_share_one_limiter_and_every_request_carries_a_token_estimate() {
    let costs = Arc::new(Mutex::new(Vec::new()));
    let record = costs.clone();
    let client = Together::with_service(
        double(|_req: Req| async { json_response(200, json!([])) }),
        Together::builder()
            .api_key(KEY)
            .base_url("http://sim.test/v1"),
    )
    .unwrap();
    assert!(client.models().await.unwrap().is_empty());

    let client = quick()
        .rate_limit(RateLimitLayer::new(Quota::per_second(1).burst(1)))
        .build_with_transport(double(move |req: Req| {
            record
                .lock()
                .unwrap()
                .push(req.extensions().get::<TokenCost>().map(|c| c.get()));
            async { json_response(200, json!([])) }
        }))
        .unwrap();
    let clone = client.clone();
    // A chat answered with an empty array fails to decode; only its estimate matters.
    let _ = client
        .chat(ChatRequest::new(CHAT, vec![Message::user("x")]).max_tokens(100))
        .await;
    let chat_cost = costs.lock().unwrap().pop().flatten().unwrap();
    assert!(
        chat_cost >= 100,
        "the estimate covers max_tokens: {chat_cost}"
    );
    // Let the budget refill before measuring sharing.
    tokio::time::sleep(Duration::from_secs(200)).await;
    let start = Instant::now();
    let (a, b) = tokio::join!(client.models(), clone.models());
    a.unwrap();
    b.unwrap();
    assert!(
        start.elapsed() >= Duration::from_millis(900),
        "the second request waited for the shared budget: {:?}",
        start.elapsed()
    );
    assert_eq!(*costs.lock().unwrap(), vec![Some(1), Some(1)]);
}
