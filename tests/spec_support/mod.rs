//! The fields the spec (`together-openapi.yaml`) requires of each answer,
//! listed by hand per schema, and a checker over JSON values.
//!
//! A path is `key.key`, with `[]` for "every element of this array" (a
//! leading `[]` is the root array). A path ending in `?` may be `null` (the
//! spec marks it nullable); any other must be present and not `null`.
#![allow(dead_code, unreachable_pub)]

use serde_json::Value;

const USAGE: &[&str] = &[
    "usage.prompt_tokens",
    "usage.completion_tokens",
    "usage.total_tokens",
];

/// `ChatCompletionResponse` (and `ChatCompletionMessage` in its choices).
pub const CHAT_COMPLETION: &[&str] = &[
    "id",
    "object",
    "created",
    "model",
    "prompt",
    "choices",
    "choices[].message.role",
    "choices[].message.content?",
];

/// `ChatCompletionChunk`.
pub const CHAT_CHUNK: &[&str] = &[
    "id",
    "object",
    "created",
    "model",
    "choices",
    "choices[].index",
    "choices[].delta",
    "choices[].delta.role",
    "choices[].finish_reason?",
];

/// `CompletionResponse`.
pub const COMPLETION: &[&str] = &[
    "id", "object", "created", "model", "prompt", "choices", "usage?",
];

/// `CompletionChunk` (and `CompletionToken`, `CompletionChoice`).
pub const COMPLETION_CHUNK: &[&str] = &[
    "id",
    "token",
    "token.id",
    "token.text",
    "token.logprob",
    "token.special",
    "choices",
    "choices[].index",
    "usage?",
    "finish_reason?",
];

/// `EmbeddingsResponse`.
pub const EMBEDDINGS: &[&str] = &[
    "object",
    "model",
    "data",
    "data[].index",
    "data[].object",
    "data[].embedding",
];

/// `RerankResponse`.
pub const RERANK: &[&str] = &[
    "object",
    "model",
    "results",
    "results[].index",
    "results[].relevance_score",
    "results[].document",
];

/// `ModelInfoList`.
pub const MODELS: &[&str] = &["[].id", "[].object", "[].created", "[].type"];

/// `ImageResponse` (either data variant).
pub const IMAGES: &[&str] = &[
    "id",
    "model",
    "object",
    "data",
    "data[].index",
    "data[].type",
];

/// `FileResponse`.
pub const FILE: &[&str] = &[
    "id",
    "object",
    "created_at",
    "filename",
    "bytes",
    "purpose",
    "FileType",
    "Processed",
];

/// `FinetuneResponseTruncated` (create, cancel, list items).
pub const FINE_TUNE_TRUNCATED: &[&str] = &["id", "status", "created_at", "updated_at"];

/// `LoRATrainingType` and `TrainingMethodSFT`, as the simulator trains.
pub const TRAINING: &[&str] = &[
    "training_type.type",
    "training_type.lora_r",
    "training_type.lora_alpha",
    "training_method.method",
    "training_method.train_on_inputs",
];

/// `FinetuneListEvents` of `FineTuneEvent`.
pub const FINE_TUNE_EVENTS: &[&str] = &[
    "data",
    "data[].object",
    "data[].created_at",
    "data[].message",
    "data[].type",
    "data[].param_count",
    "data[].token_count",
    "data[].total_steps",
    "data[].wandb_url",
    "data[].step",
    "data[].checkpoint_path",
    "data[].model_path",
    "data[].training_offset",
    "data[].hash",
];

/// `FinetuneListCheckpoints`.
pub const CHECKPOINTS: &[&str] = &[
    "data",
    "data[].step",
    "data[].path",
    "data[].created_at",
    "data[].checkpoint_type",
];

/// `FineTuneModelLimits`.
pub const MODEL_LIMITS: &[&str] = &[
    "model_name",
    "max_num_epochs",
    "max_num_evals",
    "max_learning_rate",
    "min_learning_rate",
    "supports_vision",
    "supports_tools",
    "supports_reasoning",
    "merge_output_lora",
    "full_training.max_batch_size",
    "full_training.max_batch_size_dpo",
    "full_training.min_batch_size",
    "lora_training.max_batch_size",
    "lora_training.max_batch_size_dpo",
    "lora_training.min_batch_size",
    "lora_training.max_rank",
    "lora_training.target_modules",
];

/// `VideoJob`.
pub const VIDEO_JOB: &[&str] = &["id", "model", "status", "size", "seconds", "created_at"];

/// `AudioTranscriptionVerboseJsonResponse` (and its segments).
pub const TRANSCRIPTION_VERBOSE: &[&str] = &[
    "task",
    "language",
    "duration",
    "text",
    "segments",
    "segments[].id",
    "segments[].start",
    "segments[].end",
    "segments[].text",
];

/// `ErrorData`.
pub const ERROR: &[&str] = &["error.message", "error.type", "error.param?", "error.code?"];

/// The usage block of answers that carry one.
pub fn usage() -> &'static [&'static str] {
    USAGE
}

/// The paths of `required` that `value` lacks (or has as a forbidden `null`).
pub fn missing(value: &Value, required: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for path in required {
        let (path, nullable) = match path.strip_suffix('?') {
            Some(path) => (path, true),
            None => (*path, false),
        };
        let steps: Vec<&str> = path.split('.').collect();
        check(value, &steps, nullable, path, &mut out);
    }
    out
}

fn check(value: &Value, steps: &[&str], nullable: bool, path: &str, out: &mut Vec<String>) {
    let Some((step, rest)) = steps.split_first() else {
        if value.is_null() && !nullable {
            out.push(format!("{path} is null"));
        }
        return;
    };
    let (key, each) = match step.strip_suffix("[]") {
        Some(key) => (key, true),
        None => (*step, false),
    };
    let value = if key.is_empty() {
        Some(value)
    } else {
        value.get(key)
    };
    let Some(value) = value else {
        out.push(format!("{path}: no `{key}`"));
        return;
    };
    if !each {
        return check(value, rest, nullable, path, out);
    }
    match value.as_array() {
        Some(items) => {
            for item in items {
                check(item, rest, nullable, path, out);
            }
        }
        None => out.push(format!("{path}: `{key}` is not an array")),
    }
}

/// Every `null` in `value`, by path: for objects whose spec has no nullable
/// fields.
pub fn nulls(value: &Value, at: &str, out: &mut Vec<String>) {
    match value {
        Value::Null => out.push(at.to_owned()),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                nulls(item, &format!("{at}[{i}]"), out);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                nulls(item, &format!("{at}.{key}"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn the_checker_finds_what_is_missing() {
    let value = serde_json::json!({
        "id": "x", "choices": [{"message": {"role": "assistant", "content": null}}, {"message": {}}],
        "usage": null
    });
    assert_eq!(
        missing(
            &value,
            &[
                "id",
                "choices[].message.content?",
                "usage?",
                "model",
                "usage"
            ]
        ),
        vec![
            "choices[].message.content: no `content`".to_owned(),
            "model: no `model`".to_owned(),
            "usage is null".to_owned(),
        ]
    );
}
