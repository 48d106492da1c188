//! Batch jobs: a JSONL file of `{custom_id, body}` lines in, one output line
//! per `custom_id` out, processed over tokio time. Errors here take the
//! batch endpoints' `{"error": "<message>"}` shape.
//!
//! Like fine-tunes, a job's status is computed from the clock when it is
//! looked at; the output file is written the first time a completed job is.

use std::collections::HashSet;
use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use serde_json::{json, Map, Value};
use tokio::time::Instant;

use super::chat::ChatRequest;
use super::completions::CompletionRequest;
use super::embeddings::EmbeddingRequest;
use super::{optional_str, required_str, serve_model, Reply};
use crate::sim::errors::ApiError;
use crate::sim::models::ModelKind;
use crate::sim::records::BatchJob;
use crate::sim::state::State;
use crate::sim::text::rfc3339;

const ENDPOINTS: &[&str] = &["/v1/chat/completions", "/v1/completions", "/v1/embeddings"];

/// The longest `custom_id` Together accepts.
const MAX_CUSTOM_ID: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Validating,
    InProgress,
    Completed,
    Cancelled,
}

impl BatchJob {
    fn done_at(&self) -> Instant {
        self.created + self.validating + self.running
    }

    fn phase(&self, now: Instant) -> Phase {
        if self.cancelled.is_some() {
            Phase::Cancelled
        } else if now < self.created + self.validating {
            Phase::Validating
        } else if now < self.done_at() {
            Phase::InProgress
        } else {
            Phase::Completed
        }
    }

    fn progress(&self, now: Instant) -> f64 {
        match self.phase(now) {
            Phase::Validating => 0.0,
            Phase::Completed => 100.0,
            Phase::InProgress | Phase::Cancelled => {
                let at = self.cancelled.unwrap_or(now);
                let started = self.created + self.validating;
                if self.running.is_zero() || at < started {
                    return 0.0;
                }
                let done = (at - started).as_secs_f64() / self.running.as_secs_f64();
                (done * 100.0).clamp(0.0, 100.0)
            }
        }
    }

    fn describe(&self, state: &State, now: Instant) -> Value {
        let phase = self.phase(now);
        let status = match phase {
            Phase::Validating => "VALIDATING",
            Phase::InProgress => "IN_PROGRESS",
            Phase::Completed => "COMPLETED",
            Phase::Cancelled => "CANCELLED",
        };
        let completed_at = match phase {
            Phase::Completed => Some(rfc3339(state.wall(self.done_at()))),
            Phase::Cancelled => Some(rfc3339(state.wall(self.cancelled.unwrap_or(now)))),
            _ => None,
        };
        let mut job = json!({
            "id": self.id,
            "user_id": "sim-user",
            "input_file_id": self.input_file_id,
            "file_size_bytes": self.input.len(),
            "status": status,
            "job_deadline": rfc3339(state.wall(self.created + Duration::from_secs(24 * 3600))),
            "created_at": rfc3339(state.wall(self.created)),
            "endpoint": self.endpoint,
            "progress": self.progress(now),
        });
        // The spec types these as strings with no `null`: left out until set.
        // (`error` is never set: a failed line goes to the error file.)
        for (key, value) in [
            ("model_id", self.model_id.clone()),
            ("output_file_id", self.output_file_id.clone()),
            ("error_file_id", self.error_file_id.clone()),
            ("completed_at", completed_at),
        ] {
            if let Some(value) = value {
                job[key] = json!(value);
            }
        }
        job
    }
}

fn not_found(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "invalid_request_error",
        format!("Batch job {id} not found"),
    )
}

/// `POST /v1/batches`: 201 with `{job}`.
pub(crate) fn create(
    state: &mut State,
    map: &Map<String, Value>,
    now: Instant,
) -> Result<Reply, ApiError> {
    let input_file_id = required_str(map, "input_file_id")?.to_owned();
    let endpoint = required_str(map, "endpoint")?.to_owned();
    if !ENDPOINTS.contains(&endpoint.as_str()) {
        return Err(ApiError::invalid_field(
            "endpoint",
            format!("`endpoint` must be one of {}", ENDPOINTS.join(", ")),
        ));
    }
    optional_str(map, "completion_window")?;
    if map
        .get("priority")
        .is_some_and(|p| !(p.is_i64() || p.is_u64()))
    {
        return Err(ApiError::invalid_field(
            "priority",
            "`priority` must be an integer",
        ));
    }
    let model_id = optional_str(map, "model_id")?.map(str::to_owned);
    let input = state
        .file(&input_file_id)
        .and_then(|f| f.content.clone())
        .ok_or_else(|| {
            ApiError::invalid_field(
                "input_file_id",
                format!("File {input_file_id} does not exist or has not been uploaded"),
            )
        })?;
    let job = BatchJob {
        id: state.uuid(),
        input_file_id,
        input,
        endpoint,
        model_id,
        created: now,
        validating: state.config.batch_validating,
        running: state.config.batch_running,
        cancelled: None,
        output_file_id: None,
        error_file_id: None,
    };
    let body = json!({ "job": job.describe(state, now) });
    state.batches.push(job);
    Ok(Reply::json(StatusCode::CREATED, &body))
}

pub(crate) fn list(state: &mut State, now: Instant) -> Reply {
    settle(state, now);
    let jobs: Vec<Value> = state
        .batches
        .iter()
        .map(|j| j.describe(state, now))
        .collect();
    Reply::ok(&Value::Array(jobs))
}

pub(crate) fn get(state: &mut State, id: &str, now: Instant) -> Result<Reply, ApiError> {
    settle(state, now);
    let job = state
        .batches
        .iter()
        .find(|j| j.id == id)
        .ok_or_else(|| not_found(id))?;
    Ok(Reply::ok(&job.describe(state, now)))
}

pub(crate) fn cancel(state: &mut State, id: &str, now: Instant) -> Result<Reply, ApiError> {
    settle(state, now);
    let at = state
        .batches
        .iter()
        .position(|j| j.id == id)
        .ok_or_else(|| not_found(id))?;
    match state.batches[at].phase(now) {
        Phase::Completed | Phase::Cancelled => {
            return Err(ApiError::invalid(format!(
                "Batch job {id} has already finished and cannot be cancelled"
            )))
        }
        Phase::Validating | Phase::InProgress => state.batches[at].cancelled = Some(now),
    }
    Ok(Reply::ok(&state.batches[at].describe(state, now)))
}

/// Writes the output (and error) files of jobs that have completed.
fn settle(state: &mut State, now: Instant) {
    for at in 0..state.batches.len() {
        let job = &state.batches[at];
        if job.phase(now) != Phase::Completed || job.output_file_id.is_some() {
            continue;
        }
        let (id, input, endpoint, done) = (
            job.id.clone(),
            job.input.clone(),
            job.endpoint.clone(),
            job.done_at(),
        );
        let (output, errors) = run(state, &input, &endpoint, done);
        let wall = state.wall(done);
        let output_id = state.store_file(
            format!("{id}-output.jsonl"),
            "batch-generated",
            output,
            wall,
        );
        let error_id = (!errors.is_empty()).then(|| {
            state.store_file(format!("{id}-error.jsonl"), "batch-generated", errors, wall)
        });
        let job = &mut state.batches[at];
        job.output_file_id = Some(output_id);
        job.error_file_id = error_id;
    }
}

/// Answers every line: one output line per distinct `custom_id`, one error
/// line per line that cannot be read.
fn run(state: &mut State, input: &[u8], endpoint: &str, at: Instant) -> (Bytes, Bytes) {
    let mut output = String::new();
    let mut errors = String::new();
    let mut seen = HashSet::new();
    for (number, line) in input.split(|&b| b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let parsed: Option<Map<String, Value>> = serde_json::from_slice(line).ok();
        let custom_id = parsed
            .as_ref()
            .and_then(|m| m.get("custom_id"))
            .and_then(Value::as_str);
        let body = parsed
            .as_ref()
            .and_then(|m| m.get("body"))
            .and_then(Value::as_object);
        let problem = match (&parsed, custom_id, body) {
            (None, _, _) => Some(format!("Line {} is not a JSON object", number + 1)),
            (_, None, _) => Some(format!("Line {} has no string `custom_id`", number + 1)),
            (_, Some(id), _) if id.len() > MAX_CUSTOM_ID => Some(format!(
                "Line {}: `custom_id` is longer than {MAX_CUSTOM_ID} characters",
                number + 1
            )),
            (_, Some(id), _) if seen.contains(id) => {
                Some(format!("Line {}: duplicate `custom_id` {id}", number + 1))
            }
            (_, _, None) => Some(format!("Line {} has no object `body`", number + 1)),
            _ => None,
        };
        if let Some(message) = problem {
            let line = json!({ "custom_id": custom_id, "error": { "message": message, "code": "invalid_request" } });
            errors.push_str(&line.to_string());
            errors.push('\n');
            continue;
        }
        let (Some(custom_id), Some(body)) = (custom_id, body) else {
            continue;
        };
        seen.insert(custom_id.to_owned());
        let request_id = state.id("");
        let (status, body) = match answer(state, body, endpoint, at) {
            Ok(body) => (200, body),
            Err(error) => (error.status.as_u16(), error.body(&request_id)),
        };
        let line = json!({
            "id": request_id,
            "custom_id": custom_id,
            "response": { "status_code": status, "request_id": request_id, "body": body },
        });
        output.push_str(&line.to_string());
        output.push('\n');
    }
    (Bytes::from(output), Bytes::from(errors))
}

fn answer(
    state: &mut State,
    body: &Map<String, Value>,
    endpoint: &str,
    at: Instant,
) -> Result<Value, ApiError> {
    if endpoint == "/v1/completions" {
        let request = CompletionRequest::parse(body)?;
        serve_model(
            &state.config,
            &request.model,
            &[ModelKind::Chat, ModelKind::Language],
        )?;
        return Ok(request.body(state, at));
    }
    if endpoint == "/v1/embeddings" {
        let request = EmbeddingRequest::parse(body)?;
        serve_model(&state.config, &request.model, &[ModelKind::Embedding])?;
        return Ok(request.body(state.config.embedding_dimension));
    }
    let request = ChatRequest::parse(body)?;
    let context = serve_model(&state.config, &request.model, &[ModelKind::Chat])?.context_length;
    request.check_context(context)?;
    Ok(request.body(state, at))
}
