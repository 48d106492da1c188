#![cfg(feature = "sim")]
//! Every endpoint answers in Together's documented shapes, and bad input
//! gets Together's error bodies.

#[path = "sim_support/mod.rs"]
mod support;

use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::Full;
use serde_json::{json, Value};
use support::*;
use tokio::time::sleep;
use tower_together::sim::{embedding_for, reply_for, Fault, Simulator, DEFAULT_MODELS};

#[tokio::test(start_paused = true)]
async fn models_is_a_bare_array_of_model_objects() {
    let service = Simulator::builder().service();
    let answer = send(&service, get("/v1/models")).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.header("content-type"), Some("application/json"));
    let models = answer.json();
    let models = models.as_array().expect("a bare array");
    assert_eq!(models.len(), DEFAULT_MODELS.len());
    for model in models {
        for field in [
            "id",
            "object",
            "created",
            "type",
            "display_name",
            "organization",
            "context_length",
            "pricing",
        ] {
            assert!(model.get(field).is_some(), "{field} missing in {model}");
        }
        assert_eq!(model["object"], "model");
    }
    let types: Vec<&str> = models.iter().map(|m| m["type"].as_str().unwrap()).collect();
    for kind in ["chat", "language", "embedding", "image", "rerank"] {
        assert!(types.contains(&kind), "no {kind} model");
    }
}

#[tokio::test(start_paused = true)]
async fn chat_answers_deterministically_with_usage() {
    let service = Simulator::builder().seed(7).service();
    let body = json!({
        "model": CHAT_MODEL,
        "messages": [
            { "role": "system", "content": "Be brief." },
            { "role": "user", "content": "What is the weather" },
        ],
    });
    let answer = send(&service, post("/v1/chat/completions", body.clone())).await;
    assert_eq!(answer.status, StatusCode::OK);
    let json = answer.json();
    assert_eq!(json["object"], "chat.completion");
    assert_eq!(json["model"], CHAT_MODEL);
    assert!(json["id"].is_string() && json["created"].is_u64());
    let choice = &json["choices"][0];
    assert_eq!(choice["index"], 0);
    assert_eq!(choice["message"]["role"], "assistant");
    assert_eq!(choice["message"]["content"], "Echo: What is the weather");
    assert_eq!(choice["finish_reason"], "stop");
    assert_eq!(
        json["usage"],
        json!({ "prompt_tokens": 6, "completion_tokens": 5, "total_tokens": 11 })
    );

    // The same request to a simulator with the same seed: the same answer.
    let twin = Simulator::builder().seed(7).service();
    assert_eq!(
        send(&twin, post("/v1/chat/completions", body)).await.json(),
        json
    );

    // max_tokens cuts the answer.
    let cut = json!({ "model": CHAT_MODEL, "max_tokens": 2, "messages": [{ "role": "user", "content": "one two three" }] });
    let json = send(&service, post("/v1/chat/completions", cut))
        .await
        .json();
    assert_eq!(json["choices"][0]["message"]["content"], "Echo: one");
    assert_eq!(json["choices"][0]["finish_reason"], "length");
    assert_eq!(reply_for("one two three", Some(2)).0, "Echo: one");
}

/// The `data:` payloads of an SSE body.
fn events(body: &Bytes) -> Vec<String> {
    let text = std::str::from_utf8(body).unwrap();
    assert!(text.ends_with("\n\n"), "events end with a blank line");
    text.split("\n\n")
        .filter(|e| !e.is_empty())
        .map(|e| {
            e.strip_prefix("data: ")
                .unwrap_or_else(|| panic!("not a data line: {e}"))
                .to_owned()
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn chat_stream_is_sse_ending_in_done_with_usage() {
    let service = Simulator::builder().service();
    let mut body = chat(CHAT_MODEL, "stream this please");
    body["stream"] = json!(true);
    let answer = send(&service, post("/v1/chat/completions", body)).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.header("content-type"), Some("text/event-stream"));
    let events = events(&answer.body);
    assert_eq!(events.last().unwrap(), "[DONE]");
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).unwrap())
        .collect();
    let mut text = String::new();
    for chunk in &chunks {
        assert_eq!(chunk["object"], "chat.completion.chunk");
        assert_eq!(chunk["choices"][0]["index"], 0);
        text.push_str(chunk["choices"][0]["delta"]["content"].as_str().unwrap());
    }
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    assert_eq!(text, "Echo: stream this please");
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"][0]["finish_reason"], "stop");
    assert_eq!(last["usage"]["completion_tokens"], 4);
    assert_eq!(last["usage"]["prompt_tokens"], 3);
    assert!(chunks[..chunks.len() - 1]
        .iter()
        .all(|c| c["usage"].is_null() && c["choices"][0]["finish_reason"].is_null()));
}

#[tokio::test(start_paused = true)]
async fn completions_plain_and_streamed() {
    let service = Simulator::builder().service();
    let model = "meta-llama/Llama-2-70b-hf";
    let json = send(
        &service,
        post(
            "/v1/completions",
            json!({ "model": model, "prompt": "Once upon" }),
        ),
    )
    .await
    .json();
    assert_eq!(json["object"], "text.completion");
    assert_eq!(json["choices"][0]["text"], "Echo: Once upon");
    assert_eq!(json["usage"]["total_tokens"], 5);
    let answer = send(
        &service,
        post(
            "/v1/completions",
            json!({ "model": model, "prompt": "Once upon", "stream": true }),
        ),
    )
    .await;
    let events = events(&answer.body);
    assert_eq!(events.last().unwrap(), "[DONE]");
    let last: Value = serde_json::from_str(&events[events.len() - 2]).unwrap();
    assert_eq!(last["object"], "completion.chunk");
    // Where the spec puts it, and only there.
    assert_eq!(last["finish_reason"], "stop");
    assert!(last["choices"][0].get("finish_reason").is_none());
    assert_eq!(last["usage"]["completion_tokens"], 3);
}

#[tokio::test(start_paused = true)]
async fn embeddings_keep_input_order_and_are_pure() {
    let service = Simulator::builder().embedding_dimension(16).service();
    let inputs = ["first", "second", "third", "second"];
    let answer = send(
        &service,
        post(
            "/v1/embeddings",
            json!({ "model": EMBED_MODEL, "input": inputs }),
        ),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    let json = answer.json();
    assert_eq!(json["object"], "list");
    assert_eq!(json["model"], EMBED_MODEL);
    let data = json["data"].as_array().unwrap();
    assert_eq!(data.len(), 4);
    for (i, item) in data.iter().enumerate() {
        assert_eq!(item["object"], "embedding");
        assert_eq!(item["index"], i);
        let vector: Vec<f32> = item["embedding"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap() as f32)
            .collect();
        assert_eq!(vector, embedding_for(inputs[i], 16));
    }
    assert_eq!(data[1]["embedding"], data[3]["embedding"]);
    assert_ne!(data[0]["embedding"], data[1]["embedding"]);

    let single = send(
        &service,
        post(
            "/v1/embeddings",
            json!({ "model": "togethercomputer/m2-bert-80M-8k-retrieval", "input": "first" }),
        ),
    )
    .await
    .json();
    assert_eq!(single["data"][0]["embedding"], data[0]["embedding"]);
}

#[tokio::test(start_paused = true)]
async fn images_as_base64_or_url() {
    let service = Simulator::builder().service();
    let model = "black-forest-labs/FLUX.1-schnell";
    let json = send(
        &service,
        post(
            "/v1/images/generations",
            json!({ "model": model, "prompt": "a cat", "n": 2 }),
        ),
    )
    .await
    .json();
    assert_eq!(json["object"], "list");
    assert_eq!(json["model"], model);
    let data = json["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    assert_eq!(data[0]["type"], "b64_json");
    assert!(
        data[0]["b64_json"]
            .as_str()
            .unwrap()
            .starts_with("iVBORw0KGgo"),
        "a PNG"
    );

    let json = send(
        &service,
        post(
            "/v1/images/generations",
            json!({ "model": model, "prompt": "a cat", "response_format": "url" }),
        ),
    )
    .await
    .json();
    assert_eq!(json["data"][0]["type"], "url");
    let url = json["data"][0]["url"].as_str().unwrap();
    let image = send(
        &service,
        Request::get(url).body(Full::new(Bytes::new())).unwrap(),
    )
    .await;
    assert_eq!(image.status, StatusCode::OK);
    assert_eq!(image.header("content-type"), Some("image/png"));
    assert!(image.body.starts_with(b"\x89PNG"));
}

#[tokio::test(start_paused = true)]
async fn rerank_orders_by_relevance() {
    let service = Simulator::builder().service();
    let body = json!({
        "model": "Salesforce/Llama-Rank-V1",
        "query": "rust tower middleware",
        "documents": ["cooking pasta", "rust tower middleware", { "text": "gardening tips" }],
        "top_n": 2,
        "return_documents": true,
    });
    let json = send(&service, post("/v1/rerank", body)).await.json();
    assert_eq!(json["object"], "rerank");
    assert!(json["usage"]["total_tokens"].is_u64());
    let results = json["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    assert_eq!(results[0]["index"], 1, "the identical document ranks first");
    assert_eq!(results[0]["document"]["text"], "rust tower middleware");
    assert!(
        results[0]["relevance_score"].as_f64().unwrap()
            >= results[1]["relevance_score"].as_f64().unwrap()
    );
}

#[tokio::test(start_paused = true)]
async fn files_upload_through_a_redirect_then_list_get_content_delete() {
    let service = Simulator::builder().service();
    let content = "{\"text\": \"a\"}\n{\"text\": \"b\"}\n";
    let id = upload(&service, "train.jsonl", "fine-tune", content).await;
    assert!(id.starts_with("file-"));

    let file = send(&service, get(&format!("/v1/files/{id}"))).await.json();
    assert_eq!(file["id"], id.as_str());
    assert_eq!(file["object"], "file");
    assert_eq!(file["filename"], "train.jsonl");
    assert_eq!(file["purpose"], "fine-tune");
    assert_eq!(file["bytes"], content.len());
    assert_eq!(file["FileType"], "jsonl");
    assert_eq!(file["Processed"], true);
    assert!(file.get("LineCount").is_none(), "only the spec's fields");
    assert!(file["created_at"].is_u64());

    let list = send(&service, get("/v1/files")).await.json();
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    let raw = send(&service, get(&format!("/v1/files/{id}/content"))).await;
    assert_eq!(raw.body, content.as_bytes());

    // The JSON form of the create call works too.
    let answer = send(
        &service,
        post(
            "/v1/files",
            json!({ "file_name": "b.jsonl", "purpose": "batch-api" }),
        ),
    )
    .await;
    assert_eq!(answer.status, StatusCode::FOUND);

    let deleted = send(
        &service,
        request(Method::DELETE, &format!("/v1/files/{id}"), None),
    )
    .await
    .json();
    assert_eq!(deleted["deleted"], true);
    let gone = send(&service, get(&format!("/v1/files/{id}"))).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    error_of(&gone);

    let bad = send(
        &service,
        post(
            "/v1/files",
            json!({ "file_name": "c.jsonl", "purpose": "nonsense" }),
        ),
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(error_of(&bad)["param"], "purpose");
}

#[tokio::test(start_paused = true)]
async fn fine_tunes_advance_over_time_and_cap_with_409() {
    let service = Simulator::builder()
        .fine_tune_capacity(2)
        .fine_tune_durations(Duration::from_secs(5), Duration::from_secs(60))
        .service();
    let file = upload(&service, "train.jsonl", "fine-tune", "{\"text\": \"a\"}\n").await;
    let create = json!({ "training_file": file, "model": "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference", "suffix": "mine" });

    let first = send(&service, post("/v1/fine-tunes", create.clone())).await;
    assert_eq!(first.status, StatusCode::OK);
    let job = first.json();
    let id = job["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("ft-"));
    assert_eq!(job["status"], "pending");
    assert_eq!(job["training_file"], file.as_str());
    assert!(job["created_at"].is_string());

    sleep(Duration::from_secs(3)).await;
    assert_eq!(
        send(&service, post("/v1/fine-tunes", create.clone()))
            .await
            .status,
        StatusCode::OK
    );
    let refused = send(&service, post("/v1/fine-tunes", create.clone())).await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    error_of(&refused);

    sleep(Duration::from_secs(5)).await;
    assert_eq!(
        send(&service, get(&format!("/v1/fine-tunes/{id}")))
            .await
            .json()["status"],
        "running"
    );
    // t = 66 s: the first finished at 65 s, the second runs until 68 s.
    sleep(Duration::from_secs(58)).await;
    let done = send(&service, get(&format!("/v1/fine-tunes/{id}")))
        .await
        .json();
    assert_eq!(done["status"], "completed");
    assert!(done["model_output_name"].as_str().unwrap().contains("mine"));
    let events = send(&service, get(&format!("/v1/fine-tunes/{id}/events")))
        .await
        .json();
    let kinds: Vec<&str> = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["job_pending", "job_start", "job_complete"]);

    // One finished: room for one more; cancel frees room too.
    let third = send(&service, post("/v1/fine-tunes", create.clone())).await;
    assert_eq!(third.status, StatusCode::OK);
    let third_id = third.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(
        send(&service, post("/v1/fine-tunes", create.clone()))
            .await
            .status,
        StatusCode::CONFLICT
    );
    let cancelled = send(
        &service,
        post(&format!("/v1/fine-tunes/{third_id}/cancel"), json!({})),
    )
    .await
    .json();
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(
        send(&service, post("/v1/fine-tunes", create.clone()))
            .await
            .status,
        StatusCode::OK
    );

    let list = send(&service, get("/v1/fine-tunes")).await.json();
    assert_eq!(list["data"].as_array().unwrap().len(), 4);
    assert_eq!(
        send(&service, get("/v1/fine-tunes/ft-nope")).await.status,
        StatusCode::NOT_FOUND
    );
    let no_file = json!({ "training_file": "file-nope", "model": CHAT_MODEL });
    assert_eq!(
        send(&service, post("/v1/fine-tunes", no_file)).await.status,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test(start_paused = true)]
async fn batches_produce_one_output_line_per_custom_id() {
    let service = Simulator::builder()
        .batch_durations(Duration::from_secs(1), Duration::from_secs(10))
        .service();
    let lines = [
        json!({ "custom_id": "req-1", "body": chat(CHAT_MODEL, "first") }).to_string(),
        json!({ "custom_id": "req-2", "body": chat(CHAT_MODEL, "second") }).to_string(),
        json!({ "custom_id": "req-3", "body": chat("nope/unknown", "third") }).to_string(),
        "this is not json".to_owned(),
    ];
    let file = upload(
        &service,
        "batch.jsonl",
        "batch-api",
        &(lines.join("\n") + "\n"),
    )
    .await;
    let created = send(&service, post("/v1/batches", json!({ "input_file_id": file, "endpoint": "/v1/chat/completions", "completion_window": "24h" }))).await;
    assert_eq!(created.status, StatusCode::CREATED);
    let job = created.json()["job"].clone();
    let id = job["id"].as_str().unwrap().to_owned();
    assert_eq!(job["status"], "VALIDATING");
    assert_eq!(job["input_file_id"], file.as_str());

    sleep(Duration::from_secs(6)).await;
    let running = send(&service, get(&format!("/v1/batches/{id}")))
        .await
        .json();
    assert_eq!(running["status"], "IN_PROGRESS");
    assert_eq!(running["progress"], 50.0);
    assert!(running["output_file_id"].is_null());

    sleep(Duration::from_secs(6)).await;
    let list = send(&service, get("/v1/batches")).await.json();
    let done = &list.as_array().expect("a bare array")[0];
    assert_eq!(done["status"], "COMPLETED");
    assert_eq!(done["progress"], 100.0);
    let output = send(
        &service,
        get(&format!(
            "/v1/files/{}/content",
            done["output_file_id"].as_str().unwrap()
        )),
    )
    .await;
    let output: Vec<Value> = output
        .text()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let ids: Vec<&str> = output
        .iter()
        .map(|l| l["custom_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["req-1", "req-2", "req-3"]);
    assert_eq!(output[0]["response"]["status_code"], 200);
    assert_eq!(
        output[0]["response"]["body"]["choices"][0]["message"]["content"],
        "Echo: first"
    );
    assert_eq!(output[2]["response"]["status_code"], 404);
    let errors = send(
        &service,
        get(&format!(
            "/v1/files/{}/content",
            done["error_file_id"].as_str().unwrap()
        )),
    )
    .await;
    let errors: Vec<Value> = errors
        .text()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(errors.len(), 1);
    assert!(errors[0]["error"]["message"].is_string());

    // Batch errors use the flat shape.
    let missing = send(&service, get("/v1/batches/no-such-batch")).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(missing.json()["error"].is_string());
    let bad = send(
        &service,
        post("/v1/batches", json!({ "endpoint": "/v1/chat/completions" })),
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.json()["error"].is_string());
    let finished = send(
        &service,
        post(&format!("/v1/batches/{id}/cancel"), json!({})),
    )
    .await;
    assert_eq!(finished.status, StatusCode::BAD_REQUEST);
}

#[tokio::test(start_paused = true)]
async fn batch_can_be_cancelled_while_in_progress() {
    let service = Simulator::builder().service();
    let line = json!({ "custom_id": "a", "body": chat(CHAT_MODEL, "x") }).to_string();
    let file = upload(&service, "batch.jsonl", "batch-api", &line).await;
    let job = send(
        &service,
        post(
            "/v1/batches",
            json!({ "input_file_id": file, "endpoint": "/v1/chat/completions" }),
        ),
    )
    .await
    .json();
    let id = job["job"]["id"].as_str().unwrap().to_owned();
    sleep(Duration::from_secs(2)).await;
    let cancelled = send(
        &service,
        post(&format!("/v1/batches/{id}/cancel"), json!({})),
    )
    .await
    .json();
    assert_eq!(cancelled["status"], "CANCELLED");
    sleep(Duration::from_secs(60)).await;
    let later = send(&service, get(&format!("/v1/batches/{id}")))
        .await
        .json();
    assert_eq!(later["status"], "CANCELLED");
    assert!(later["output_file_id"].is_null());
}

#[tokio::test(start_paused = true)]
async fn wrong_or_missing_key_is_401_without_echoing_it() {
    let service = Simulator::builder().service();
    let secret = "sk-very-secret-value-123";
    let mut request = post("/v1/chat/completions", chat(CHAT_MODEL, "hi"));
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {secret}").parse().unwrap());
    let answer = send(&service, request).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(error_of(&answer)["code"], "invalid_api_key");
    assert!(!answer.text().contains(secret));
    assert!(!answer.text().contains("very-secret"));

    let mut request = get("/v1/models");
    request.headers_mut().remove("authorization");
    let answer = send(&service, request).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    error_of(&answer);
    // Refused keys are never recorded.
    assert!(service.stats().requests().iter().all(|r| r.key.is_none()));
    let builder = Simulator::builder().api_key("sk-builder-secret");
    assert!(!format!("{builder:?}").contains("sk-builder-secret"));
}

#[tokio::test(start_paused = true)]
async fn unknown_model_is_404_and_dedicated_model_is_400() {
    let service = Simulator::builder().service();
    let answer = send(
        &service,
        post("/v1/chat/completions", chat("acme/no-such-model", "hi")),
    )
    .await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    let error = error_of(&answer);
    assert_eq!(error["type"], "invalid_request_error");
    assert_eq!(error["code"], "model_not_found");
    // The body's id is the request id a client would quote to support.
    assert_eq!(answer.json()["id"], answer.header("x-request-id").unwrap());

    let answer = send(
        &service,
        post(
            "/v1/chat/completions",
            chat("Qwen/Qwen3-VL-235B-A22B-Instruct-FP8", "hi"),
        ),
    )
    .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    let error = error_of(&answer);
    assert_eq!(error["code"], "model_not_available");
    assert_eq!(error["type"], "invalid_request_error");
    assert!(error["param"].is_null());
    assert!(error["message"]
        .as_str()
        .unwrap()
        .starts_with("Unable to access non-serverless model"));

    // A model of the wrong kind for the endpoint.
    let answer = send(
        &service,
        post("/v1/chat/completions", chat(EMBED_MODEL, "hi")),
    )
    .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
}

#[tokio::test(start_paused = true)]
async fn bad_input_gets_4xx_with_the_error_body() {
    let service = Simulator::builder().max_body_bytes(1024).service();
    let raw = |body: &'static [u8]| {
        Request::post("http://sim.test/v1/chat/completions")
            .header("authorization", format!("Bearer {KEY}"))
            .body(Full::new(Bytes::from_static(body)))
            .unwrap()
    };
    // (request, expected status, expected `param`)
    type Case = (Request<Full<Bytes>>, StatusCode, Option<&'static str>);
    let cases: Vec<Case> = vec![
        (raw(b"{not json"), StatusCode::BAD_REQUEST, None),
        (raw(b""), StatusCode::BAD_REQUEST, None),
        (raw(b"[1, 2]"), StatusCode::BAD_REQUEST, None),
        (raw(b"\xff\xfe"), StatusCode::BAD_REQUEST, None),
        (
            post("/v1/chat/completions", json!({ "messages": [] })),
            StatusCode::BAD_REQUEST,
            Some("model"),
        ),
        (
            post("/v1/chat/completions", json!({ "model": CHAT_MODEL })),
            StatusCode::BAD_REQUEST,
            Some("messages"),
        ),
        (
            post(
                "/v1/chat/completions",
                json!({ "model": 42, "messages": [] }),
            ),
            StatusCode::BAD_REQUEST,
            Some("model"),
        ),
        (
            post(
                "/v1/chat/completions",
                json!({ "model": CHAT_MODEL, "messages": "hi" }),
            ),
            StatusCode::BAD_REQUEST,
            Some("messages"),
        ),
        (
            post(
                "/v1/chat/completions",
                json!({ "model": CHAT_MODEL, "messages": [{ "role": "robot", "content": "x" }] }),
            ),
            StatusCode::BAD_REQUEST,
            Some("messages[0].role"),
        ),
        (
            post(
                "/v1/chat/completions",
                json!({ "model": CHAT_MODEL, "messages": [{ "role": "user", "content": 5 }] }),
            ),
            StatusCode::BAD_REQUEST,
            Some("messages[0].content"),
        ),
        (
            post(
                "/v1/chat/completions",
                json!({ "model": CHAT_MODEL, "max_tokens": -1, "messages": [{ "role": "user", "content": "x" }] }),
            ),
            StatusCode::BAD_REQUEST,
            Some("max_tokens"),
        ),
        (
            post(
                "/v1/chat/completions",
                json!({ "model": CHAT_MODEL, "stream": "yes", "messages": [{ "role": "user", "content": "x" }] }),
            ),
            StatusCode::BAD_REQUEST,
            Some("stream"),
        ),
        (
            post(
                "/v1/chat/completions",
                json!({ "model": CHAT_MODEL, "temperature": "hot", "messages": [{ "role": "user", "content": "x" }] }),
            ),
            StatusCode::BAD_REQUEST,
            Some("temperature"),
        ),
        (
            post(
                "/v1/chat/completions",
                json!({ "model": CHAT_MODEL, "max_tokens": 100000, "messages": [{ "role": "user", "content": "x" }] }),
            ),
            StatusCode::BAD_REQUEST,
            Some("max_tokens"),
        ),
        (
            post(
                "/v1/embeddings",
                json!({ "model": EMBED_MODEL, "input": [1, 2] }),
            ),
            StatusCode::BAD_REQUEST,
            Some("input"),
        ),
        (
            post("/v1/embeddings", json!({ "model": EMBED_MODEL })),
            StatusCode::BAD_REQUEST,
            Some("input"),
        ),
        (
            post(
                "/v1/rerank",
                json!({ "model": "Salesforce/Llama-Rank-V1", "query": "q" }),
            ),
            StatusCode::BAD_REQUEST,
            Some("documents"),
        ),
        (
            post(
                "/v1/images/generations",
                json!({ "model": "black-forest-labs/FLUX.1-schnell", "prompt": "x", "n": 99 }),
            ),
            StatusCode::BAD_REQUEST,
            Some("n"),
        ),
        (
            post(
                "/v1/chat/completions",
                json!({ "model": CHAT_MODEL, "messages": [{ "role": "user", "content": "x".repeat(2000) }] }),
            ),
            StatusCode::PAYLOAD_TOO_LARGE,
            None,
        ),
        (get("/v1/nothing-here"), StatusCode::NOT_FOUND, None),
        (
            request(Method::PATCH, "/v1/models", None),
            StatusCode::NOT_FOUND,
            None,
        ),
    ];
    for (request, status, param) in cases {
        let answer = send(&service, request).await;
        assert_eq!(answer.status, status, "{}", answer.text());
        let error = error_of(&answer);
        if let Some(param) = param {
            assert_eq!(error["param"], param, "{error}");
        }
    }
    // None of them was charged to the limiter.
    assert!(service.stats().requests().iter().all(|r| !r.admitted));
}

#[tokio::test(start_paused = true)]
async fn files_upload_as_one_multipart_form() {
    let service = Simulator::builder().service();
    let form = "--b0undary\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch-api\r\n\
                --b0undary\r\nContent-Disposition: form-data; name=\"file_name\"\r\n\r\nin.jsonl\r\n\
                --b0undary\r\nContent-Disposition: form-data; name=\"file\"; filename=\"in.jsonl\"\r\n\
                Content-Type: application/octet-stream\r\n\r\n{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n\r\n--b0undary--\r\n";
    let upload = Request::post("http://sim.test/v1/files/upload")
        .header("authorization", format!("Bearer {KEY}"))
        .header("content-type", "multipart/form-data; boundary=b0undary")
        .body(Full::new(Bytes::from(form)))
        .unwrap();
    let answer = send(&service, upload).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let file = answer.json();
    assert_eq!(file["filename"], "in.jsonl");
    assert_eq!(file["purpose"], "batch-api");
    assert_eq!(file["bytes"], 24);
    assert_eq!(file["Processed"], true);
    let id = file["id"].as_str().unwrap();

    // Together's Python SDK sends the same form to `POST /v1/files`.
    let sdk_upload = Request::post("http://sim.test/v1/files")
        .header("authorization", format!("Bearer {KEY}"))
        .header("content-type", "multipart/form-data; boundary=b0undary")
        .body(Full::new(Bytes::from(form)))
        .unwrap();
    let answer = send(&service, sdk_upload).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let second = answer.json();
    assert_ne!(second["id"], id);
    assert_eq!(second["bytes"], 24);
    let content = send(
        &service,
        get(&format!(
            "/v1/files/{}/content",
            second["id"].as_str().unwrap()
        )),
    )
    .await;
    assert_eq!(content.text(), "{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n");
    let preprocessed = send(
        &service,
        post(&format!("/v1/files/{id}/preprocess"), json!({})),
    )
    .await;
    assert_eq!(preprocessed.json()["id"], id);

    let broken = Request::post("http://sim.test/v1/files/upload")
        .header("authorization", format!("Bearer {KEY}"))
        .header("content-type", "multipart/form-data; boundary=b0undary")
        .body(Full::new(Bytes::from_static(b"--b0undary\r\ngarbage")))
        .unwrap();
    let answer = send(&service, broken).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    error_of(&answer);
}

#[tokio::test(start_paused = true)]
async fn stats_can_be_reset_mid_request() {
    let service = Simulator::builder()
        .fault(Fault::slow(1.0, Duration::from_secs(5)))
        .service();
    let slow = tokio::spawn({
        let service = service.clone();
        async move { send(&service, get("/v1/models")).await.status }
    });
    tokio::task::yield_now().await;
    assert_eq!(service.stats().total_requests(), 1);
    service.reset_stats();
    assert_eq!(service.stats().total_requests(), 0);
    // The request in flight finishes normally and is not counted again.
    assert_eq!(slow.await.unwrap(), StatusCode::OK);
    assert_eq!(service.stats().total_requests(), 0);
    send(&service, get("/v1/models")).await;
    assert_eq!(service.stats().total_requests(), 1);
    assert_eq!(service.stats().faults()["slow"], 1);
}

#[tokio::test(start_paused = true)]
async fn a_body_that_never_ends_gets_408_not_a_hang() {
    use tower::ServiceExt;
    let service = Simulator::builder().service();
    let never = futures_util::stream::pending::<
        Result<http_body::Frame<Bytes>, std::convert::Infallible>,
    >();
    let request = Request::post("http://sim.test/v1/chat/completions")
        .header("authorization", format!("Bearer {KEY}"))
        .body(http_body_util::StreamBody::new(never))
        .unwrap();
    let start = tokio::time::Instant::now();
    let response = service.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
    assert_eq!(start.elapsed(), Duration::from_secs(30));
}
