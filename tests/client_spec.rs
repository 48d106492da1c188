#![cfg(feature = "client")]
//! The client speaks the spec: request bodies in the spec's shapes, answers
//! the spec allows decode (streams included), answers it does not allow
//! give `ErrorKind::Decode` naming the bad field and never a panic, and the
//! fine-tune cap never waits forever on a job whose status it cannot read.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use serde_json::{json, Value};
use tokio::time::Instant;
use tower_together::client::ErrorKind;
use tower_together::types::{
    ContentPart, CreateBatchRequest, FineTuneRequest, FinishReason, RerankRequest,
};
use tower_together::{ChatRequest, CompletionRequest, Message, Quota, RateLimitLayer, Together};

type Req = Request<Full<Bytes>>;
type Resp = Response<Full<Bytes>>;

const MODEL: &str = "meta-llama/Llama-3.3-70B-Instruct-Turbo";

fn respond(status: u16, content_type: &str, body: impl Into<Bytes>) -> Resp {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Full::new(body.into()))
        .unwrap()
}

/// A client over a handler that also records each request's JSON body.
fn client_with<F>(handler: F) -> (Together, Arc<Mutex<Vec<Value>>>)
where
    F: Fn(&str, &str, &Value) -> Resp + Clone + Send + Sync + 'static,
{
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let transport = tower::service_fn(move |req: Req| {
        let handler = handler.clone();
        let record = record.clone();
        async move {
            let method = req.method().to_string();
            let path = req.uri().path().to_owned();
            let bytes = req.into_body().collect().await.unwrap().to_bytes();
            let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            if !body.is_null() {
                record.lock().unwrap().push(body.clone());
            }
            Ok::<_, Infallible>(handler(&method, &path, &body))
        }
    });
    let client = Together::builder()
        .api_key("sk-spec-test")
        .base_url("http://spec.test/v1")
        .rate_limit(RateLimitLayer::new(Quota::per_second(1_000)))
        .poll_interval(Duration::from_secs(60))
        .fine_tune_cap(1)
        .build_with_transport(transport)
        .unwrap();
    (client, seen)
}

#[tokio::test(start_paused = true)]
async fn request_bodies_take_the_spec_shapes() {
    let answer = json!({"id": "c", "object": "chat.completion", "created": 1, "model": MODEL,
                        "prompt": [], "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}}]});
    let (client, seen) = client_with(move |method, path, _| match path {
        "/v1/fine-tunes" if method == "GET" => respond(200, "application/json", r#"{"data":[]}"#),
        "/v1/chat/completions" => respond(200, "application/json", answer.to_string()),
        "/v1/rerank" => respond(
            200,
            "application/json",
            r#"{"object":"rerank","model":"r","results":[]}"#,
        ),
        "/v1/batches" => respond(
            201,
            "application/json",
            r#"{"job":{"id":"b","status":"VALIDATING"}}"#,
        ),
        _ => respond(
            200,
            "application/json",
            r#"{"id":"ft-1","status":"pending"}"#,
        ),
    });
    let request = ChatRequest::new(
        MODEL,
        vec![Message::user_parts(vec![
            ContentPart::text("What is this?"),
            ContentPart::image_url("https://example.com/a.png"),
            ContentPart::input_audio("UklGRg==", "wav"),
        ])],
    )
    .extra(
        "tools",
        json!([{"type": "function", "function": {"name": "look"}}]),
    );
    let response = client.chat(request).await.unwrap();
    assert_eq!(response.choices[0].message.content, "ok");

    let mut documents = serde_json::Map::new();
    documents.insert("title".into(), json!("Llama"));
    let rerank = RerankRequest::objects("r", "llama", vec![documents]).rank_fields(&["title"]);
    client.rerank(rerank).await.unwrap();
    client
        .create_batch(CreateBatchRequest::new("/v1/chat/completions", "file-1").priority(2))
        .await
        .unwrap();
    client
        .create_fine_tune(FineTuneRequest::new("base", "file-1").lora(8, 16))
        .await
        .unwrap();

    let seen = seen.lock().unwrap();
    let content = &seen[0]["messages"][0]["content"];
    assert_eq!(content[0], json!({"type": "text", "text": "What is this?"}));
    assert_eq!(content[1]["image_url"]["url"], "https://example.com/a.png");
    assert_eq!(
        content[2]["input_audio"],
        json!({"data": "UklGRg==", "format": "wav"})
    );
    assert_eq!(seen[0]["tools"][0]["function"]["name"], "look");
    assert_eq!(seen[1]["rank_fields"], json!(["title"]));
    assert_eq!(seen[1]["documents"][0]["title"], "Llama");
    assert_eq!(seen[2]["priority"], 2);
    assert_eq!(
        seen[3]["training_type"],
        json!({"type": "Lora", "lora_r": 8, "lora_alpha": 16})
    );
    assert!(seen[3].get("lora").is_none());
}

#[tokio::test(start_paused = true)]
async fn a_completion_stream_reports_the_top_level_finish_reason() {
    let chunk = |text: &str, finish: Value| {
        json!({"id": "t", "object": "completion.chunk", "created": 1,
               "token": {"id": 1, "text": text, "logprob": -0.1, "special": false},
               "choices": [{"index": 0, "text": text}],
               "usage": if finish.is_null() { Value::Null } else { json!({"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}) },
               "finish_reason": finish})
    };
    let sse = format!(
        "data: {}\n\ndata: {}\n\ndata: [DONE]\n\n",
        chunk("Once", Value::Null),
        chunk("", json!("eos"))
    );
    let (client, _) = client_with(move |_, _, _| respond(200, "text/event-stream", sse.clone()));
    let mut stream = client
        .completion_stream(CompletionRequest::new(MODEL, "Once").max_tokens(4))
        .await
        .unwrap();
    let mut chunks = Vec::new();
    while let Some(chunk) = stream.next().await {
        chunks.push(chunk.unwrap());
    }
    assert_eq!(chunks.len(), 2);
    assert_eq!(chunks[0].finish_reason, None);
    assert_eq!(chunks[1].finish_reason, Some(FinishReason::Eos));
    assert_eq!(chunks[1].choices[0].finish_reason, Some(FinishReason::Eos));
    assert_eq!(chunks[1].usage.as_ref().unwrap().total_tokens, 3);
}

#[tokio::test(start_paused = true)]
async fn answers_outside_the_spec_are_decode_errors_naming_the_field() {
    let cases: Vec<(&'static str, &'static str)> = vec![
        (r#"{"id":"c","choices":"none"}"#, "choices"),
        (
            r#"{"id":"c","choices":[],"usage":{"prompt_tokens":"many"}}"#,
            "usage.prompt_tokens",
        ),
        (
            r#"{"id":"c","created":"yesterday","choices":[]}"#,
            "created",
        ),
        (r#"{"id":["c"],"choices":[]}"#, "id"),
    ];
    for (body, path) in cases {
        let (client, _) = client_with(move |_, _, _| respond(200, "application/json", body));
        let error = client
            .chat(ChatRequest::new(MODEL, vec![Message::user("hi")]))
            .await
            .unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Decode, "{body}");
        assert!(
            error.to_string().contains(&format!("at `{path}`")),
            "{body}: {error}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn no_body_makes_the_client_panic() {
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let bodies: Vec<Bytes> = vec![
        Bytes::from_static(b"[]"),
        Bytes::from_static(b"null"),
        Bytes::from_static(b"{\"choices\":[{\"message\":{\"role\":null,\"content\":[1,2]}}]}"),
        Bytes::from_static(b"{\"choices\":[{\"message\":{\"content\":[{\"type\":\"nope\"}]}}]}"),
        Bytes::from_static(b"{\"choices\":[{\"index\":-1}]}"),
        Bytes::from_static(b"{\"created\":1e999}"),
        Bytes::from_static(b"\xff\xfe\x00"),
        Bytes::from(deep),
    ];
    for body in bodies {
        let answer = body.clone();
        let (client, _) =
            client_with(move |_, _, _| respond(200, "application/json", answer.clone()));
        let result = client
            .chat(ChatRequest::new(MODEL, vec![Message::user("hi")]))
            .await;
        let error = result.expect_err("not a chat completion");
        assert_eq!(error.kind(), ErrorKind::Decode, "{:?}", body);
    }
}

#[tokio::test(start_paused = true)]
async fn the_fine_tune_cap_stops_waiting_on_a_job_of_unknown_status() {
    let creates = Arc::new(AtomicUsize::new(0));
    let count = creates.clone();
    let (client, _) = client_with(move |method, path, _| match (method, path) {
        ("GET", "/v1/fine-tunes") => respond(200, "application/json", r#"{"data":[]}"#),
        ("POST", "/v1/fine-tunes") => {
            let n = count.fetch_add(1, Ordering::SeqCst);
            respond(
                200,
                "application/json",
                json!({"id": format!("ft-{n}"), "status": "mystery"}).to_string(),
            )
        }
        // A status the client cannot read, forever.
        _ => respond(200, "application/json", r#"{"id":"ft-0"}"#),
    });
    let started = Instant::now();
    let first = client
        .create_fine_tune(FineTuneRequest::new("base", "file-1"))
        .await
        .unwrap();
    assert_eq!(first.id, "ft-0");
    let client = client.clone();
    let second = tokio::spawn(async move {
        client
            .create_fine_tune(FineTuneRequest::new("base", "file-2"))
            .await
    });
    let second = second.await.unwrap().unwrap();
    assert_eq!(second.id, "ft-1");
    let waited = started.elapsed();
    assert!(waited >= Duration::from_secs(30 * 60), "waited {waited:?}");
    assert!(waited < Duration::from_secs(32 * 60), "waited {waited:?}");
    assert_eq!(creates.load(Ordering::SeqCst), 2);
}
