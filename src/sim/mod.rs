//! A Together look-alike server, for tests, examples and benchmarks.
//!
//! The simulator answers Together's API the way the real service does in
//! every way a client can see: the same paths, JSON shapes, status codes,
//! error bodies and rate-limit headers. It also misbehaves on purpose, with
//! set probabilities or an exact script, and counts everything so a test can
//! prove what a client did (never exceeded a limit, never came back early).
//!
//! It runs two ways over the same state:
//!
//! - [`Simulator`]: real HTTP/1.1 on `127.0.0.1`, on a free port; give
//!   [`Simulator::base_url`] to any client.
//! - [`SimService`]: an in-process tower `Service`, no socket, for tests
//!   under `tokio::time::pause()`.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use bytes::Bytes;
//! use http_body_util::{BodyExt, Full};
//! use tower::ServiceExt;
//! use tower_together::sim::{Limits, RetryAfterStyle, Scripted, Simulator};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! let sim = Simulator::builder()
//!     .api_key("sim-key")
//!     .limits(Limits::per_second(10))
//!     .model_limits("Qwen/Qwen2.5-7B-Instruct-Turbo", Limits::per_second(2))
//!     .retry_after(RetryAfterStyle::Seconds)
//!     .script([Scripted::Status(503)])
//!     .seed(42)
//!     .start()
//!     .await?;
//! assert!(sim.base_url().starts_with("http://127.0.0.1:"));
//!
//! // The same simulator in-process (a socket client works the same way).
//! let chat = |text: &str| {
//!     let body = format!(
//!         r#"{{"model":"Qwen/Qwen2.5-7B-Instruct-Turbo","messages":[{{"role":"user","content":"{text}"}}]}}"#
//!     );
//!     http::Request::post(format!("{}/chat/completions", sim.base_url()))
//!         .header("authorization", "Bearer sim-key")
//!         .header("content-type", "application/json")
//!         .body(Full::new(Bytes::from(body)))
//!         .unwrap()
//! };
//! let service = sim.service();
//!
//! // The script comes first: one 503.
//! let response = service.clone().oneshot(chat("Hello")).await.unwrap();
//! assert_eq!(response.status(), 503);
//!
//! // Then real answers, deterministic: "Echo: " and the last user message.
//! let response = service.clone().oneshot(chat("Hello")).await.unwrap();
//! assert_eq!(response.status(), 200);
//! assert_eq!(response.headers()["x-ratelimit-limit"], "2");
//! let body = response.into_body().collect().await.unwrap().to_bytes();
//! let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
//! assert_eq!(json["choices"][0]["message"]["content"], "Echo: Hello");
//!
//! // Two requests a second for this model: the third in the burst is refused.
//! let _ = service.clone().oneshot(chat("again")).await.unwrap();
//! let refused = service.clone().oneshot(chat("too soon")).await.unwrap();
//! assert_eq!(refused.status(), 429);
//! assert!(refused.headers().contains_key("retry-after"));
//!
//! let stats = sim.stats();
//! assert_eq!(stats.total_requests(), 4);
//! assert_eq!(stats.rate_limited(), 1);
//! assert_eq!(stats.faults()["overloaded"], 1);
//! sim.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! # What it serves
//!
//! | endpoint | answer |
//! |---|---|
//! | `POST /v1/chat/completions` | `chat.completion`; with `stream: true`, SSE `data:` chunks (`chat.completion.chunk`, each with `delta.role`), the last with `finish_reason` and `usage`, then `data: [DONE]` |
//! | `POST /v1/completions` | `text.completion`, or `completion.chunk` events with `token`, and `finish_reason` at the chunk's top level |
//! | `POST /v1/embeddings` | `{object: "list", model, data: [{object: "embedding", embedding, index}]}`, in input order, vectors from [`embedding_for`] |
//! | `POST /v1/images/generations` | `{id, model, object: "list", data: [{index, type: "b64_json", b64_json}]}` (a 1×1 PNG), or `type: "url"` |
//! | `POST /v1/rerank` | `{object: "rerank", id, model, results: [{index, relevance_score, document}], usage}` (`document.text` with `return_documents`) |
//! | `GET /v1/models`, `GET /v2/projects/{project}/models` | a bare array of `{id, object: "model", created, type, display_name, organization, context_length, pricing, …}` |
//! | `POST /v1/files/upload` | the spec's upload: the whole file as `multipart/form-data` (`purpose`, `file_name`, `file_type`, `file`): `FileResponse` |
//! | `POST /v1/files` | what Together's SDKs send: the same multipart form (answered as above), or the fields alone, answered 302 with `Location` (a signed-URL look-alike) and `X-Together-File-Id` for a `PUT` of the bytes |
//! | `GET /v1/files`, `GET/DELETE /v1/files/{id}`, `GET /v1/files/{id}/content`, `POST /v1/files/{id}/preprocess` | `{data: [FileResponse]}`, `FileResponse` (`FileType`, `Processed`), the raw bytes as `text/plain` |
//! | `POST/GET /v1/fine-tunes`, `GET/DELETE /v1/fine-tunes/{id}`, `POST …/cancel`, `GET …/events`, `GET …/checkpoints` | jobs `pending` → `running` → `completed` on tokio time, with `model_output_name`, a complete `training_type` and `training_method`; beyond the capacity, 409 |
//! | `GET /v1/fine-tunes/models/limits?model_name=`, `POST /v1/fine-tunes/estimate-price` | `FineTuneModelLimits` (404 `{message}` for a model that cannot be tuned); a price from the files' tokens |
//! | `POST/GET /v1/batches`, `GET /v1/batches/{id}`, `POST …/cancel` | `201 {job}`, a bare array, `BatchJob` with `progress`; once `COMPLETED`, an `output_file_id` with one line per `custom_id` |
//!
//! Answers use the spec's field names and placements, one spelling each,
//! and leave out optional fields they have no value for rather than send
//! `null` where the spec has none. Where the spec is silent, the simulator
//! follows what Together is known to do (rate-limit headers, 429 versus
//! 503, the batch endpoints' error strings).
//!
//! Answers are deterministic: chat and completions answer `"Echo: "` and the
//! prompt ([`reply_for`]), cut to `max_tokens` words (`finish_reason:
//! "length"`). Tokens are whitespace-separated words ([`count_tokens`]). Ids
//! come from the seed and the order of requests.
//!
//! The default catalogue is [`DEFAULT_MODELS`]; `Qwen/Qwen3-VL-235B-A22B-Instruct-FP8`
//! is listed but answers 400 `model_not_available`, as models that need a
//! dedicated endpoint do. An unknown model gets 404 `model_not_found`; a
//! model of the wrong kind for the endpoint, 400.
//!
//! # Keys and limits
//!
//! A missing or wrong key gets 401 (`code: "invalid_api_key"`; the message
//! never repeats the key). Each accepted key has its own budgets, per model
//! (endpoints without a model are limited per endpoint, with the default
//! limits): requests per second and tokens per second, GCRA arithmetic with
//! the configured burst (see [`Limits`]). A request's token cost is its
//! prompt tokens plus `max_tokens` (or the answer's length). Over either
//! limit: 429 with `type` `dynamic_request_limited` or
//! `dynamic_token_limited` and `code: "rate_limit_exceeded"`, with
//! `Retry-After` in the configured [`RetryAfterStyle`]. A 429 charges
//! nothing. Every answer carries `x-ratelimit-limit`, `x-ratelimit-remaining`,
//! `x-ratelimit-reset` (in seconds, as a decimal: until the request budget
//! is whole again, or on a 429 until the request would have been admitted), `x-tokenlimit-limit`, `x-tokenlimit-remaining` and a `Date`
//! from the simulator's clock (the real time at build, then moved by tokio's
//! clock, so paused time moves it too).
//!
//! # Faults
//!
//! Random faults ([`Fault`]) are rolled with the seeded generator on each
//! admitted request; a script ([`Scripted`]) sets the outcome of the next
//! requests exactly. Errors use Together's body
//! `{"id", "error": {"message", "type", "param", "code"}}`; the batch
//! endpoints use `{"error": "<message>"}`; 502 and 524 come as HTML.
//!
//! # Bad input
//!
//! Malformed JSON, missing fields and wrong types get 400 with the error
//! body (`param` names the field); a body over the size limit gets 413; a
//! body that stops arriving gets 408 after 30 s, and hyper drops a client that
//! never finishes its headers.
//! Nothing a client sends makes the simulator panic or hang.

mod body;
mod builder;
mod endpoints;
mod errors;
mod faults;
mod headers;
mod inference;
mod limits;
mod models;
mod multipart;
mod pipeline;
mod records;
mod render;
mod reply;
mod router;
mod server;
mod service;
mod state;
mod stats;
mod text;

pub use self::body::{ConnectionClosed, SimBody};
pub use self::builder::SimulatorBuilder;
pub use self::faults::{Fault, FaultKind, Outage, OutageKind, Scripted};
pub use self::limits::{Limits, RetryAfterStyle};
pub use self::models::{ModelKind, SimModel, DEFAULT_MODELS};
pub use self::server::Simulator;
pub use self::service::{ResponseFuture, SimService};
pub use self::stats::{RequestRecord, Stats};
pub use self::text::{count_tokens, embedding_for, reply_for};
