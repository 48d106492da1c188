#![cfg(feature = "sim")]
//! The simulator against the spec: every answer carries each field the
//! spec requires (and no `null` where the spec has none), spec-valid
//! requests of every shape are accepted, and invalid ones get the spec's
//! error body naming the field.

#[path = "spec_support/mod.rs"]
mod spec;
#[path = "sim_support/mod.rs"]
mod support;

use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::Full;
use serde_json::{json, Value};
use support::*;
use tokio::time::sleep;
use tower_together::sim::{SimService, Simulator};

const FT_MODEL: &str = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference";

fn assert_spec(what: &str, value: &Value, required: &[&str]) {
    let missing = spec::missing(value, required);
    assert!(missing.is_empty(), "{what}: {missing:?} in {value}");
}

fn assert_no_nulls(what: &str, value: &Value) {
    let mut nulls = Vec::new();
    spec::nulls(value, "", &mut nulls);
    assert!(nulls.is_empty(), "{what}: null at {nulls:?} in {value}");
}

fn events(answer: &Answer) -> Vec<Value> {
    let text = answer.text();
    let mut out = Vec::new();
    for event in text.split("\n\n").filter(|e| !e.is_empty()) {
        let data = event.strip_prefix("data: ").expect("a data line");
        if data != "[DONE]" {
            out.push(serde_json::from_str(data).unwrap());
        }
    }
    out
}

/// Uploads through the spec's `POST /v1/files/upload`.
async fn upload(service: &SimService, name: &str, purpose: &str, content: &str) -> Value {
    let form = format!(
        "--xx\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\n{purpose}\r\n\
         --xx\r\nContent-Disposition: form-data; name=\"file_name\"\r\n\r\n{name}\r\n\
         --xx\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\r\n{content}\r\n--xx--\r\n"
    );
    let request = Request::post("http://sim.test/v1/files/upload")
        .header("authorization", format!("Bearer {KEY}"))
        .header("content-type", "multipart/form-data; boundary=xx")
        .body(Full::new(Bytes::from(form)))
        .unwrap();
    let answer = send(service, request).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    answer.json()
}

#[tokio::test(start_paused = true)]
async fn inference_answers_carry_every_required_field() {
    let service = Simulator::builder().service();

    let chat = send(
        &service,
        post(
            "/v1/chat/completions",
            support::chat(CHAT_MODEL, "hello there"),
        ),
    )
    .await;
    assert_spec("chat", &chat.json(), chat_completion_and_usage());

    let mut streamed = support::chat(CHAT_MODEL, "hello there friend");
    streamed["stream"] = json!(true);
    let chunks = events(&send(&service, post("/v1/chat/completions", streamed)).await);
    assert!(chunks.len() > 2);
    for chunk in &chunks {
        assert_spec("chat chunk", chunk, spec::CHAT_CHUNK);
    }

    let completion = send(
        &service,
        post(
            "/v1/completions",
            json!({"model": CHAT_MODEL, "prompt": "Once upon"}),
        ),
    )
    .await
    .json();
    assert_spec("completion", &completion, spec::COMPLETION);
    assert!(
        completion["choices"][0].get("logprobs").is_none(),
        "logprobs is an object or absent, never null"
    );
    let chunks = events(
        &send(
            &service,
            post(
                "/v1/completions",
                json!({"model": CHAT_MODEL, "prompt": "Once upon", "stream": true}),
            ),
        )
        .await,
    );
    for chunk in &chunks {
        assert_spec("completion chunk", chunk, spec::COMPLETION_CHUNK);
    }
    assert_eq!(chunks.last().unwrap()["finish_reason"], "stop");

    let embeddings = send(
        &service,
        post(
            "/v1/embeddings",
            json!({"model": EMBED_MODEL, "input": ["a", "b"]}),
        ),
    )
    .await
    .json();
    assert_spec("embeddings", &embeddings, spec::EMBEDDINGS);

    for return_documents in [false, true] {
        let rerank = send(
            &service,
            post(
                "/v1/rerank",
                json!({"model": "Salesforce/Llama-Rank-V1", "query": "q", "documents": ["a", "b"],
                       "return_documents": return_documents}),
            ),
        )
        .await
        .json();
        assert_spec("rerank", &rerank, spec::RERANK);
        assert_eq!(
            rerank["results"][0]["document"].get("text").is_some(),
            return_documents
        );
    }

    let images = send(
        &service,
        post(
            "/v1/images/generations",
            json!({"model": "black-forest-labs/FLUX.1-schnell", "prompt": "a cat"}),
        ),
    )
    .await
    .json();
    assert_spec("images", &images, spec::IMAGES);

    let models = send(&service, get("/v1/models")).await.json();
    assert_spec("models", &models, spec::MODELS);
    let project_models = send(&service, get("/v2/projects/proj_1/models")).await;
    assert_eq!(project_models.status, StatusCode::OK);
    assert_eq!(
        project_models.json(),
        json!({"data": []}),
        "no custom model yet"
    );
}

fn chat_completion_and_usage() -> &'static [&'static str] {
    static ALL: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
    ALL.get_or_init(|| [spec::CHAT_COMPLETION, spec::usage()].concat())
}

#[tokio::test(start_paused = true)]
async fn files_fine_tunes_and_batches_carry_every_required_field_and_no_stray_null() {
    let service = Simulator::builder()
        .fine_tune_durations(Duration::from_secs(1), Duration::from_secs(2))
        .batch_durations(Duration::from_secs(1), Duration::from_secs(2))
        .service();
    let file = upload(
        &service,
        "train.jsonl",
        "fine-tune",
        "{\"text\": \"a b c\"}\n",
    )
    .await;
    assert_spec("file", &file, spec::FILE);
    let id = file["id"].as_str().unwrap().to_owned();
    let list = send(&service, get("/v1/files")).await.json();
    assert_spec("file list", &list, &["data"]);
    assert_spec("file list item", &list["data"][0], spec::FILE);
    let content = send(&service, get(&format!("/v1/files/{id}/content"))).await;
    assert_eq!(content.header("content-type"), Some("text/plain"));

    let created = send(
        &service,
        post(
            "/v1/fine-tunes",
            json!({"model": FT_MODEL, "training_file": id}),
        ),
    )
    .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.text());
    let job = created.json();
    assert_spec("fine-tune", &job, spec::FINE_TUNE_TRUNCATED);
    assert_spec("fine-tune training", &job, spec::TRAINING);
    assert_no_nulls("fine-tune", &job);
    assert!(
        job["batch_size"].is_u64(),
        "an integer, as the truncated job has it"
    );
    let job_id = job["id"].as_str().unwrap().to_owned();

    sleep(Duration::from_secs(5)).await;
    let done = send(&service, get(&format!("/v1/fine-tunes/{job_id}")))
        .await
        .json();
    assert_eq!(done["status"], "completed");
    assert_spec("fine-tune", &done, spec::FINE_TUNE_TRUNCATED);
    assert_no_nulls("fine-tune", &done);
    // The finished job's output is now a custom model of the project.
    let custom = send(&service, get("/v2/projects/proj_1/models"))
        .await
        .json();
    assert_eq!(custom["data"].as_array().unwrap().len(), 1);
    assert_eq!(custom["data"][0]["projectId"], "proj_1");
    assert_eq!(custom["data"][0]["weights"]["type"], "WEIGHTS_TYPE_ADAPTER");
    let listed = send(&service, get("/v1/fine-tunes")).await.json();
    assert_spec("fine-tune list", &listed, &["data"]);
    assert_spec(
        "fine-tune list item",
        &listed["data"][0],
        spec::FINE_TUNE_TRUNCATED,
    );
    let events = send(&service, get(&format!("/v1/fine-tunes/{job_id}/events")))
        .await
        .json();
    assert_spec("events", &events, spec::FINE_TUNE_EVENTS);
    assert!(events["data"].as_array().unwrap().len() >= 3);
    let checkpoints = send(
        &service,
        get(&format!("/v1/fine-tunes/{job_id}/checkpoints")),
    )
    .await
    .json();
    assert_spec("checkpoints", &checkpoints, spec::CHECKPOINTS);
    assert_eq!(checkpoints["data"].as_array().unwrap().len(), 1);

    let batch_input = format!(
        "{}\n",
        json!({"custom_id": "r1", "body": support::chat(CHAT_MODEL, "hi")})
    );
    let input = upload(&service, "in.jsonl", "batch-api", &batch_input).await;
    let created = send(
        &service,
        post(
            "/v1/batches",
            json!({"endpoint": "/v1/chat/completions", "input_file_id": input["id"], "priority": 1}),
        ),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    let job = created.json()["job"].clone();
    assert_no_nulls("new batch", &job);
    assert!(job.get("output_file_id").is_none());
    let batch_id = job["id"].as_str().unwrap().to_owned();
    sleep(Duration::from_secs(5)).await;
    let done = send(&service, get(&format!("/v1/batches/{batch_id}")))
        .await
        .json();
    assert_eq!(done["status"], "COMPLETED");
    assert_no_nulls("done batch", &done);
    assert!(done["output_file_id"].is_string());
    assert!(done["completed_at"].is_string());
}

#[tokio::test(start_paused = true)]
async fn fine_tune_limits_price_checkpoints_and_delete() {
    let service = Simulator::builder()
        .fine_tune_durations(Duration::from_secs(1), Duration::from_secs(2))
        .service();
    let limits = send(
        &service,
        get("/v1/fine-tunes/models/limits?model_name=meta-llama%2FMeta-Llama-3.1-8B-Instruct-Reference"),
    )
    .await;
    assert_eq!(limits.status, StatusCode::OK, "{}", limits.text());
    assert_spec("limits", &limits.json(), spec::MODEL_LIMITS);
    assert_eq!(limits.json()["model_name"], FT_MODEL);
    let unknown = send(
        &service,
        get("/v1/fine-tunes/models/limits?model_name=nope"),
    )
    .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert!(unknown.json()["message"].is_string());

    let file = upload(
        &service,
        "train.jsonl",
        "fine-tune",
        "{\"text\": \"one two three four\"}\n",
    )
    .await;
    let one = send(
        &service,
        post(
            "/v1/fine-tunes/estimate-price",
            json!({"training_file": file["id"], "model": FT_MODEL}),
        ),
    )
    .await
    .json();
    let three = send(
        &service,
        post(
            "/v1/fine-tunes/estimate-price",
            json!({"training_file": file["id"], "model": FT_MODEL, "n_epochs": 3}),
        ),
    )
    .await
    .json();
    let tokens = one["estimated_train_token_count"].as_f64().unwrap();
    assert!(tokens > 0.0);
    assert_eq!(
        three["estimated_train_token_count"].as_f64().unwrap(),
        3.0 * tokens
    );
    assert!(
        three["estimated_total_price"].as_f64().unwrap()
            > one["estimated_total_price"].as_f64().unwrap()
    );
    assert_eq!(one["allowed_to_proceed"], true);
    let missing = send(
        &service,
        post(
            "/v1/fine-tunes/estimate-price",
            json!({"training_file": "file-none"}),
        ),
    )
    .await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert_eq!(error_of(&missing)["param"], "training_file");

    let job = send(
        &service,
        post(
            "/v1/fine-tunes",
            json!({"model": FT_MODEL, "training_file": file["id"]}),
        ),
    )
    .await
    .json();
    let id = job["id"].as_str().unwrap().to_owned();
    let empty = send(&service, get(&format!("/v1/fine-tunes/{id}/checkpoints")))
        .await
        .json();
    assert_eq!(empty["data"], json!([]), "no checkpoint while running");
    let early = send(
        &service,
        request(Method::DELETE, &format!("/v1/fine-tunes/{id}"), None),
    )
    .await;
    assert_eq!(
        early.status,
        StatusCode::BAD_REQUEST,
        "a running job is cancelled first"
    );
    sleep(Duration::from_secs(5)).await;
    let deleted = send(
        &service,
        request(Method::DELETE, &format!("/v1/fine-tunes/{id}"), None),
    )
    .await;
    assert_eq!(deleted.status, StatusCode::OK);
    assert!(deleted.json()["message"].is_string());
    let gone = send(&service, get(&format!("/v1/fine-tunes/{id}"))).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
}

#[tokio::test(start_paused = true)]
async fn every_spec_valid_request_shape_is_accepted() {
    let service = Simulator::builder().service();
    let valid_chats = [
        json!({"model": CHAT_MODEL, "messages": [
            {"role": "system", "content": "Be brief.", "name": "rules"},
            {"role": "user", "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
                {"type": "video_url", "video_url": {"url": "https://example.com/a.mp4"}},
                {"type": "audio_url", "audio_url": {"url": "https://example.com/a.mp3"}},
                {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}}
            ]},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_1", "type": "function", "index": 0,
                 "function": {"name": "look", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "a cat"},
            {"role": "function", "name": "look", "content": "a cat"}
        ]}),
        json!({"model": CHAT_MODEL, "messages": [{"role": "user", "content": "weather?"}],
               "tools": [{"type": "function", "function": {"name": "weather", "description": "Weather",
                          "parameters": {"type": "object", "properties": {}}}}],
               "tool_choice": "auto"}),
        json!({"model": CHAT_MODEL, "messages": [{"role": "user", "content": "json"}],
               "response_format": {"type": "json_schema", "json_schema": {"name": "answer",
                   "schema": {"type": "object"}, "strict": null}}}),
        json!({"model": CHAT_MODEL, "messages": [{"role": "user", "content": "json"}],
               "response_format": {"type": "json_object"}, "temperature": 0.2, "top_k": 5,
               "logprobs": 1, "echo": false, "n": 2, "seed": 7, "stop": ["\n"]}),
    ];
    for body in valid_chats {
        let answer = send(&service, post("/v1/chat/completions", body.clone())).await;
        assert_eq!(answer.status, StatusCode::OK, "{body} -> {}", answer.text());
    }
    let rerank = send(
        &service,
        post(
            "/v1/rerank",
            json!({"model": "Salesforce/Llama-Rank-V1", "query": "llama",
                   "documents": [{"title": "Llama", "text": "a camelid"}, {"title": "Panda", "text": "a bear"}],
                   "rank_fields": ["title", "text"], "top_n": 1, "return_documents": true}),
        ),
    )
    .await;
    assert_eq!(rerank.status, StatusCode::OK, "{}", rerank.text());

    let file = upload(&service, "train.jsonl", "fine-tune", "{\"text\": \"a\"}\n").await;
    for extra in [
        json!({"training_type": {"type": "Full"}}),
        json!({"training_type": {"type": "Lora", "lora_r": 16, "lora_alpha": 32, "lora_dropout": 0.1,
                                 "lora_trainable_modules": "all-linear"}, "batch_size": "max"}),
        json!({"training_method": {"method": "dpo", "dpo_beta": 0.2}, "batch_size": 8}),
        json!({"train_on_inputs": false}),
    ] {
        let mut body = json!({"model": FT_MODEL, "training_file": file["id"]});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let answer = send(&service, post("/v1/fine-tunes", body.clone())).await;
        assert_eq!(answer.status, StatusCode::OK, "{body} -> {}", answer.text());
        let job = answer.json();
        assert_spec(
            "fine-tune training",
            &job,
            &["training_type.type", "training_method.method"],
        );
        if extra["training_type"]["type"] == "Lora" {
            assert_eq!(job["training_type"]["lora_r"], 16);
        }
        if extra["train_on_inputs"] == false {
            assert_eq!(job["training_method"]["train_on_inputs"], false);
        }
        let id = job["id"].as_str().unwrap();
        let cancelled = send(
            &service,
            post(&format!("/v1/fine-tunes/{id}/cancel"), json!({})),
        )
        .await;
        assert_eq!(cancelled.status, StatusCode::OK);
    }
}

#[tokio::test(start_paused = true)]
async fn invalid_requests_get_the_spec_error_naming_the_field() {
    let service = Simulator::builder().service();
    let user = |content: Value| json!({"model": CHAT_MODEL, "messages": [{"role": "user", "content": content}]});
    let cases = [
        (
            user(json!([{"type": "bogus"}])),
            "messages[0].content[0].type",
        ),
        (
            user(json!([{"type": "image_url", "image_url": {}}])),
            "messages[0].content[0].image_url.url",
        ),
        (
            user(json!([{"type": "input_audio", "input_audio": {"data": "x", "format": "mp3"}}])),
            "messages[0].content[0].input_audio.format",
        ),
        (user(json!(7)), "messages[0].content"),
        (
            json!({"model": CHAT_MODEL, "messages": [{"role": "tool", "content": "x"}]}),
            "messages[0].tool_call_id",
        ),
        (
            json!({"model": CHAT_MODEL, "messages": [{"role": "system"}]}),
            "messages[0].content",
        ),
        (
            json!({"model": CHAT_MODEL, "messages": [{"role": "user", "content": "x"}],
                "tools": [{"type": "function", "function": {}}]}),
            "tools[0].function.name",
        ),
        (
            json!({"model": CHAT_MODEL, "messages": [{"role": "user", "content": "x"}],
                "response_format": {"type": "json_schema", "json_schema": {}}}),
            "response_format.json_schema.name",
        ),
        (
            json!({"model": CHAT_MODEL, "messages": [{"role": "user", "content": "x"}],
                "response_format": {"type": "yaml"}}),
            "response_format.type",
        ),
    ];
    for (body, param) in cases {
        let answer = send(&service, post("/v1/chat/completions", body.clone())).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{body}");
        assert_spec("error", &answer.json(), spec::ERROR);
        assert_eq!(error_of(&answer)["param"], param, "{body}");
    }
    let file = upload(&service, "train.jsonl", "fine-tune", "{\"text\": \"a\"}\n").await;
    for (extra, param) in [
        (
            json!({"training_type": {"type": "Lora", "lora_r": "big"}}),
            "training_type",
        ),
        (json!({"training_type": {"type": "Half"}}), "training_type"),
        (
            json!({"training_method": {"method": "rl"}}),
            "training_method",
        ),
        (json!({"train_on_inputs": "sometimes"}), "train_on_inputs"),
        (json!({"batch_size": 0}), "batch_size"),
    ] {
        let mut body = json!({"model": FT_MODEL, "training_file": file["id"]});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let answer = send(&service, post("/v1/fine-tunes", body.clone())).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(error_of(&answer)["param"], param, "{body}");
    }
    let batch = send(
        &service,
        post("/v1/batches", json!({"endpoint": "/v1/chat/completions", "input_file_id": file["id"], "priority": "high"})),
    )
    .await;
    assert_eq!(batch.status, StatusCode::BAD_REQUEST);
    assert!(
        batch.json()["error"].is_string(),
        "the batch endpoints' error shape"
    );
}
