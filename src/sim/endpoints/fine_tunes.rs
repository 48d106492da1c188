//! Fine-tuning jobs: pending, then running, then completed, on tokio time,
//! with a cap on jobs in flight.
//!
//! A job's phase is computed from the clock whenever it is looked at, so no
//! task runs in the background and paused time moves jobs along.

use http::StatusCode;
use serde_json::{json, Map, Value};
use tokio::time::Instant;

use super::{optional_str, optional_u64, required_str, Reply};
use crate::sim::errors::ApiError;
use crate::sim::models::ModelKind;
use crate::sim::records::FineTuneJob;
use crate::sim::state::State;
use crate::sim::text::rfc3339;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Pending,
    Running,
    Completed,
    Cancelled,
}

impl FineTuneJob {
    fn started(&self) -> Instant {
        self.created + self.pending
    }

    fn finished(&self) -> Instant {
        self.created + self.pending + self.running
    }

    fn phase(&self, now: Instant) -> Phase {
        if self.cancelled.is_some() {
            Phase::Cancelled
        } else if now < self.started() {
            Phase::Pending
        } else if now < self.finished() {
            Phase::Running
        } else {
            Phase::Completed
        }
    }

    fn in_flight(&self, now: Instant) -> bool {
        matches!(self.phase(now), Phase::Pending | Phase::Running)
    }

    /// When the job last changed phase.
    fn updated(&self, now: Instant) -> Instant {
        match self.phase(now) {
            Phase::Pending => self.created,
            Phase::Running => self.started(),
            Phase::Completed => self.finished(),
            Phase::Cancelled => self.cancelled.unwrap_or(self.created),
        }
    }

    fn output_name(&self) -> String {
        let base = self.model.rsplit('/').next().unwrap_or(&self.model);
        let suffix = self.suffix.as_deref().unwrap_or("ft");
        format!(
            "sim-user/{base}-{suffix}-{}",
            &self.id[3..11.min(self.id.len())]
        )
    }

    fn describe(&self, state: &State, now: Instant) -> Value {
        let phase = self.phase(now);
        let status = match phase {
            Phase::Pending => "pending",
            Phase::Running => "running",
            Phase::Completed => "completed",
            Phase::Cancelled => "cancelled",
        };
        // `user_id` is required by Together's Python SDK on a retrieved job
        // (its `FinetuneResponse`), optional in the spec: sent everywhere,
        // as on batches, so a strict client parses list, retrieve and cancel.
        let mut job = json!({
            "id": self.id,
            "status": status,
            "user_id": "sim-user",
            "model": self.model,
            "model_output_name": self.output_name(),
            "training_file": self.training_file,
            "n_epochs": self.n_epochs,
            "n_checkpoints": 1,
            "n_evals": 0,
            "batch_size": self.batch_size,
            "learning_rate": self.learning_rate,
            "training_type": self.training_type,
            "training_method": self.training_method,
            "created_at": rfc3339(state.wall(self.created)),
            "updated_at": rfc3339(state.wall(self.updated(now))),
        });
        // Optional strings are left out when unset: the spec has no `null`
        // for them.
        if let Some(file) = &self.validation_file {
            job["validation_file"] = json!(file);
        }
        if let Some(suffix) = &self.suffix {
            job["suffix"] = json!(suffix);
        }
        job
    }

    fn events(&self, state: &State, now: Instant) -> Vec<Value> {
        // Every field the spec requires of an event, with the zero value
        // where the simulator has nothing to report (no checkpoints, no W&B).
        let event = |at: Instant, kind: &str, message: &str| {
            json!({
                "object": "fine-tune-event",
                "created_at": rfc3339(state.wall(at)),
                "level": "info",
                "message": message,
                "type": kind,
                "param_count": 0,
                "token_count": 0,
                "total_steps": self.n_epochs,
                "wandb_url": "",
                "step": 0,
                "checkpoint_path": "",
                "model_path": "",
                "training_offset": 0,
                "hash": "",
            })
        };
        let mut events = vec![event(
            self.created,
            "job_pending",
            "Fine tune request created",
        )];
        let end = self.cancelled.unwrap_or(now);
        if self.started() <= end.min(now) {
            events.push(event(self.started(), "job_start", "Job started"));
        }
        if self.finished() <= end.min(now) {
            events.push(event(
                self.finished(),
                "job_complete",
                "Job finished: training completed",
            ));
        }
        if let Some(at) = self.cancelled {
            events.push(event(at, "job_stopped", "Job was cancelled by the user"));
        }
        events
    }
}

/// What `batch_size: "max"` (and no batch size) comes to.
const MAX_BATCH_SIZE: u64 = 32;

/// The LoRA rank and scale when a request names none.
const DEFAULT_LORA_R: u64 = 8;
const DEFAULT_LORA_ALPHA: u64 = 16;

/// A request's `training_type`, completed with defaults: LoRA unless `Full`.
fn training_type(value: Option<&Value>) -> Result<Value, ApiError> {
    let wrong = |why: &str| ApiError::invalid_field("training_type", why.to_owned());
    let given = match value {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(map)) => map.clone(),
        Some(_) => return Err(wrong("`training_type` must be an object")),
    };
    match given.get("type").and_then(Value::as_str).unwrap_or("Lora") {
        "Full" => Ok(json!({ "type": "Full" })),
        "Lora" => {
            let int = |key: &str, default: u64| match given.get(key) {
                None | Some(Value::Null) => Ok(default),
                Some(v) => v
                    .as_u64()
                    .ok_or_else(|| wrong(&format!("`training_type.{key}` must be an integer"))),
            };
            let dropout = match given.get("lora_dropout") {
                None | Some(Value::Null) => 0.0,
                Some(v) => v
                    .as_f64()
                    .ok_or_else(|| wrong("`training_type.lora_dropout` must be a number"))?,
            };
            let modules = match given.get("lora_trainable_modules") {
                None | Some(Value::Null) => "all-linear",
                Some(v) => v.as_str().ok_or_else(|| {
                    wrong("`training_type.lora_trainable_modules` must be a string")
                })?,
            };
            Ok(json!({
                "type": "Lora",
                "lora_r": int("lora_r", DEFAULT_LORA_R)?,
                "lora_alpha": int("lora_alpha", DEFAULT_LORA_ALPHA)?,
                "lora_dropout": dropout,
                "lora_trainable_modules": modules,
            }))
        }
        _ => Err(wrong("`training_type.type` must be \"Full\" or \"Lora\"")),
    }
}

/// A request's `training_method`, completed with defaults: SFT, with the
/// request's top-level `train_on_inputs` (default `auto`).
fn training_method(map: &Map<String, Value>) -> Result<Value, ApiError> {
    let wrong = |why: &str| ApiError::invalid_field("training_method", why.to_owned());
    let train_on_inputs = |value: Option<&Value>| match value {
        None | Some(Value::Null) => Ok(json!("auto")),
        Some(v @ Value::Bool(_)) => Ok(v.clone()),
        Some(Value::String(s)) if s == "auto" => Ok(json!("auto")),
        Some(_) => Err(ApiError::invalid_field(
            "train_on_inputs",
            "`train_on_inputs` must be a boolean or \"auto\"",
        )),
    };
    let top_level = train_on_inputs(map.get("train_on_inputs"))?;
    let given = match map.get("training_method") {
        None | Some(Value::Null) => {
            return Ok(json!({ "method": "sft", "train_on_inputs": top_level }))
        }
        Some(Value::Object(given)) => given,
        Some(_) => return Err(wrong("`training_method` must be an object")),
    };
    match given.get("method").and_then(Value::as_str) {
        Some("sft") => {
            let inputs = match given.get("train_on_inputs") {
                None | Some(Value::Null) => top_level,
                value => train_on_inputs(value)?,
            };
            Ok(json!({ "method": "sft", "train_on_inputs": inputs }))
        }
        Some("dpo") => {
            let mut method = given.clone();
            for key in ["dpo_beta", "rpo_alpha", "simpo_gamma"] {
                if method.get(key).is_some_and(|v| !v.is_number()) {
                    return Err(wrong(&format!("`training_method.{key}` must be a number")));
                }
            }
            method.retain(|key, _| {
                matches!(
                    key.as_str(),
                    "method"
                        | "dpo_beta"
                        | "rpo_alpha"
                        | "dpo_normalize_logratios_by_length"
                        | "dpo_reference_free"
                        | "simpo_gamma"
                )
            });
            Ok(Value::Object(method))
        }
        _ => Err(wrong("`training_method.method` must be \"sft\" or \"dpo\"")),
    }
}

fn not_found(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "invalid_request_error",
        format!("Fine-tune job {id} not found"),
    )
    .code("not_found")
}

/// `POST /v1/fine-tunes`.
pub(crate) fn create(
    state: &mut State,
    map: &Map<String, Value>,
    now: Instant,
) -> Result<Reply, ApiError> {
    let model = required_str(map, "model")?.to_owned();
    let training_file = required_str(map, "training_file")?.to_owned();
    // Together's Python SDK sends `""` for "none": read as absent.
    let validation_file = optional_str(map, "validation_file")?
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    let suffix = optional_str(map, "suffix")?
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    let n_epochs = optional_u64(map, "n_epochs")?.unwrap_or(1);
    super::check_numbers(
        map,
        &[
            "learning_rate",
            "warmup_ratio",
            "max_grad_norm",
            "weight_decay",
        ],
    )?;
    let learning_rate = map
        .get("learning_rate")
        .and_then(Value::as_f64)
        .unwrap_or(0.00001);
    let batch_size = match map.get("batch_size") {
        None | Some(Value::Null) => MAX_BATCH_SIZE,
        Some(Value::String(s)) if s == "max" => MAX_BATCH_SIZE,
        Some(v) => match v.as_u64() {
            Some(n) if n >= 1 => n,
            _ => {
                return Err(ApiError::invalid_field(
                    "batch_size",
                    "`batch_size` must be a positive integer or \"max\"",
                ))
            }
        },
    };
    let training_type = training_type(map.get("training_type"))?;
    let training_method = training_method(map)?;
    match state.config.model(&model) {
        None => return Err(ApiError::model_not_found(&model)),
        Some(m) if !matches!(m.kind, ModelKind::Chat | ModelKind::Language) => {
            return Err(ApiError::invalid_field(
                "model",
                format!("Model {model} cannot be fine-tuned"),
            ))
        }
        Some(_) => {}
    }
    for (field, id) in [
        ("training_file", Some(&training_file)),
        ("validation_file", validation_file.as_ref()),
    ] {
        let Some(id) = id else { continue };
        if state.file(id).and_then(|f| f.content.as_ref()).is_none() {
            return Err(ApiError::invalid_field(
                field,
                format!("File {id} does not exist or has not been uploaded"),
            ));
        }
    }
    let capacity = state.config.fine_tune_capacity;
    let in_flight = state.fine_tunes.iter().filter(|j| j.in_flight(now)).count();
    if in_flight >= capacity {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "invalid_request_error",
            format!("You have reached the maximum of {capacity} concurrent fine-tuning jobs. Wait for a job to finish or cancel one."),
        )
        .code("too_many_jobs"));
    }
    let job = FineTuneJob {
        id: format!("ft-{}", state.uuid()),
        model,
        training_file,
        validation_file,
        suffix,
        n_epochs,
        learning_rate,
        batch_size,
        training_type,
        training_method,
        created: now,
        pending: state.config.fine_tune_pending,
        running: state.config.fine_tune_running,
        cancelled: None,
    };
    let body = job.describe(state, now);
    state.fine_tunes.push(job);
    Ok(Reply::ok(&body))
}

pub(crate) fn list(state: &State, now: Instant) -> Reply {
    let data: Vec<Value> = state
        .fine_tunes
        .iter()
        .map(|j| j.describe(state, now))
        .collect();
    Reply::ok(&json!({ "data": data }))
}

pub(crate) fn get(state: &State, id: &str, now: Instant) -> Result<Reply, ApiError> {
    let job = state
        .fine_tunes
        .iter()
        .find(|j| j.id == id)
        .ok_or_else(|| not_found(id))?;
    let mut body = job.describe(state, now);
    body["events"] = Value::Array(job.events(state, now));
    Ok(Reply::ok(&body))
}

pub(crate) fn cancel(state: &mut State, id: &str, now: Instant) -> Result<Reply, ApiError> {
    let at = state
        .fine_tunes
        .iter()
        .position(|j| j.id == id)
        .ok_or_else(|| not_found(id))?;
    if !state.fine_tunes[at].in_flight(now) {
        return Err(ApiError::invalid(format!(
            "Fine-tune job {id} has already finished and cannot be cancelled"
        )));
    }
    state.fine_tunes[at].cancelled = Some(now);
    Ok(Reply::ok(&state.fine_tunes[at].describe(state, now)))
}

pub(crate) fn events(state: &State, id: &str, now: Instant) -> Result<Reply, ApiError> {
    let job = state
        .fine_tunes
        .iter()
        .find(|j| j.id == id)
        .ok_or_else(|| not_found(id))?;
    Ok(Reply::ok(&json!({ "data": job.events(state, now) })))
}

/// `GET /v1/fine-tunes/{id}/checkpoints`: one final checkpoint once the job
/// has completed, none before.
pub(crate) fn checkpoints(state: &State, id: &str, now: Instant) -> Result<Reply, ApiError> {
    let job = state
        .fine_tunes
        .iter()
        .find(|j| j.id == id)
        .ok_or_else(|| not_found(id))?;
    let data = if job.phase(now) == Phase::Completed {
        vec![json!({
            "step": job.n_epochs,
            "created_at": rfc3339(state.wall(job.finished())),
            "path": job.output_name(),
            "checkpoint_type": "Final",
        })]
    } else {
        Vec::new()
    };
    Ok(Reply::ok(&json!({ "data": data })))
}

/// `DELETE /v1/fine-tunes/{id}`: a job still in flight must be cancelled
/// first (the simulator's rule; the spec does not say).
pub(crate) fn delete(state: &mut State, id: &str, now: Instant) -> Result<Reply, ApiError> {
    let at = state
        .fine_tunes
        .iter()
        .position(|j| j.id == id)
        .ok_or_else(|| not_found(id))?;
    if state.fine_tunes[at].in_flight(now) {
        return Err(ApiError::invalid(format!(
            "Fine-tune job {id} is still running; cancel it before deleting it"
        )));
    }
    state.fine_tunes.remove(at);
    Ok(Reply::ok(
        &json!({ "message": format!("Fine-tune job {id} deleted") }),
    ))
}

/// `GET /v2/projects/{project}/models`: the project's custom models, which
/// on the simulator are the outputs of completed fine-tunes. The spec does
/// not describe this endpoint; the shape (a cursor page of camelCase model
/// resources) is the one Together's Python SDK reads.
pub(crate) fn project_models(state: &State, project: &str, now: Instant) -> Reply {
    let data: Vec<Value> = state
        .fine_tunes
        .iter()
        .filter(|job| job.phase(now) == Phase::Completed)
        .map(|job| {
            let adapter = job.training_type["type"] == "Lora";
            json!({
                "id": format!("model-{}", &job.id[3..]),
                "name": format!("{project}/{}", job.output_name().rsplit('/').next().unwrap_or_default()),
                "organizationId": "org-sim",
                "projectId": project,
                "visibility": "VISIBILITY_PRIVATE",
                "weights": {
                    "type": if adapter { "WEIGHTS_TYPE_ADAPTER" } else { "WEIGHTS_TYPE_DEFAULT" },
                },
                "baseModelId": job.model,
            })
        })
        .collect();
    Reply::ok(&json!({ "data": data }))
}
