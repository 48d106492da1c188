#![cfg(feature = "client")]
//! Answers written from the spec's schemas (`tests/fixtures/spec/<kind>/`):
//! required fields only, all fields, nulls where the spec allows them, an
//! unknown extra field, an unknown enum value. Each decodes into the
//! client's type, keeps what it does not type, and serializes back to
//! something that decodes the same.

#[path = "spec_support/mod.rs"]
mod spec;

use std::fs;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use tower_together::types::{
    BatchJob, BatchStatus, ChatChunk, ChatResponse, CompletionChunk, CompletionResponse,
    CreateBatchResponse, EmbeddingResponse, FileObject, FilePurpose, FineTune, FineTuneStatus,
    FinishReason, ImageResponse, ModelInfo, ModelType, RerankResponse, Role,
};

fn fixture(kind: &str, name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/spec")
        .join(kind)
        .join(format!("{name}.json"));
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every fixture of `kind` decodes as `T` and round-trips; the `required`
/// one has (only) what `required` lists, checked against the spec's list.
fn decode_all<T>(kind: &str, required: &[&str]) -> Vec<(String, T)>
where
    T: DeserializeOwned + Serialize + PartialEq + std::fmt::Debug,
{
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/spec")
        .join(kind);
    let mut out = Vec::new();
    let mut names: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| {
            e.unwrap()
                .file_name()
                .to_string_lossy()
                .trim_end_matches(".json")
                .to_owned()
        })
        .collect();
    names.sort();
    assert!(
        names.iter().any(|n| n == "required"),
        "{kind} has a required-only fixture"
    );
    for name in names {
        let text = fixture(kind, &name);
        let value: Value = serde_json::from_str(&text).unwrap();
        if name == "required" {
            let missing = spec::missing(&value, required);
            assert!(missing.is_empty(), "{kind}/required lacks {missing:?}");
        }
        let decoded: T = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{kind}/{name}.json does not decode: {e}"));
        let again: T = serde_json::from_value(serde_json::to_value(&decoded).unwrap())
            .unwrap_or_else(|e| panic!("{kind}/{name}.json does not round-trip: {e}"));
        assert_eq!(again, decoded, "{kind}/{name}.json round-trip");
        out.push((name, decoded));
    }
    out
}

fn get<T>(all: &[(String, T)], name: &str) -> T
where
    T: Clone,
{
    all.iter()
        .find(|(n, _)| n == name)
        .map(|(_, t)| t.clone())
        .unwrap_or_else(|| panic!("no fixture {name}"))
}

#[test]
fn chat_answers() {
    let all = decode_all::<ChatResponse>("chat", spec::CHAT_COMPLETION);
    let full = get(&all, "full");
    let choice = &full.choices[0];
    assert_eq!(choice.message.content, "Hi!");
    assert_eq!(choice.message.tool_calls[0].index, Some(0));
    assert_eq!(choice.message.tool_calls[0].id, "call_1");
    assert_eq!(choice.message.reasoning.as_deref(), Some("think"));
    assert_eq!(choice.logprobs.as_ref().unwrap().tokens, ["Hi", "!"]);
    assert_eq!(choice.seed, Some(42));
    assert_eq!(full.prompt[0].text, "<s>hi");
    assert_eq!(full.warnings[0].message, "truncated");
    assert_eq!(full.usage.as_ref().unwrap().total_tokens, 8);

    let nulls = get(&all, "nulls");
    assert_eq!(nulls.choices[0].message.content, "");
    assert!(nulls.usage.is_none());
    assert!(nulls.choices[0].logprobs.is_none());

    let extra = get(&all, "extra");
    assert_eq!(extra.extra["surprise"]["new"], true);
    assert_eq!(
        extra.choices[0].message.reasoning_content.as_deref(),
        Some("also")
    );

    let unknown = get(&all, "enum");
    assert_eq!(
        unknown.choices[0].finish_reason,
        Some(FinishReason::Other("content_filter".into()))
    );

    // The spec makes `message` optional: it reads as an empty assistant message.
    let no_message = get(&all, "no_message");
    assert_eq!(no_message.choices[0].message.role, Role::Assistant);
    assert_eq!(no_message.choices[0].message.content, "");
    assert!(get(&all, "required").choices.is_empty());
}

#[test]
fn chat_chunks() {
    let all = decode_all::<ChatChunk>("chat_chunk", spec::CHAT_CHUNK);
    let full = get(&all, "full");
    let delta = &full.choices[0].delta;
    assert_eq!(delta.tool_calls[0].index, Some(1));
    assert_eq!(delta.token_id, Some(13));
    assert_eq!(full.system_fingerprint.as_deref(), Some("fp"));
    assert_eq!(full.choices[0].seed, Some(7));
    let nulls = get(&all, "nulls");
    assert_eq!(nulls.choices[0].finish_reason, None);
    assert_eq!(nulls.choices[0].delta.content, "");
    let unknown = get(&all, "enum");
    assert_eq!(
        unknown.choices[0].delta.role,
        Some(Role::Other("developer".into()))
    );
    assert_eq!(get(&all, "extra").choices[0].delta.extra["new_field"], "x");
    let usage_only = get(&all, "usage_only");
    assert!(usage_only.choices.is_empty());
    assert_eq!(usage_only.usage.unwrap().completion_tokens, 3);
}

#[test]
fn completions_and_their_chunks() {
    let all = decode_all::<CompletionResponse>("completion", spec::COMPLETION);
    let full = get(&all, "full");
    assert_eq!(full.choices[0].text, " upon");
    assert_eq!(full.choices[0].seed, Some(3));
    assert_eq!(full.prompt[0].text, "Once");
    assert_eq!(get(&all, "extra").extra["surprise"], serde_json::json!([1]));
    assert_eq!(
        get(&all, "enum").choices[0].finish_reason,
        Some(FinishReason::Other("abort".into()))
    );

    let all = decode_all::<CompletionChunk>("completion_chunk", spec::COMPLETION_CHUNK);
    let full = get(&all, "full");
    // Where the spec puts it, and where OpenAI-style readers look.
    assert_eq!(full.finish_reason, Some(FinishReason::Eos));
    assert_eq!(full.choices[0].finish_reason, Some(FinishReason::Eos));
    assert_eq!(full.token.as_ref().unwrap().text, " up");
    assert_eq!(full.seed, Some(9));
    let required = get(&all, "required");
    assert_eq!(required.finish_reason, None);
    assert_eq!(required.choices[0].finish_reason, None);
    assert_eq!(
        get(&all, "enum").choices[0].finish_reason,
        Some(FinishReason::Other("budget".into()))
    );
}

#[test]
fn embeddings_rerank_models_images() {
    let all = decode_all::<EmbeddingResponse>("embeddings", spec::EMBEDDINGS);
    assert_eq!(get(&all, "full").data[0].embedding, [0.1, -0.2]);
    assert_eq!(get(&all, "extra").extra["surprise"], true);

    let all = decode_all::<RerankResponse>("rerank", spec::RERANK);
    assert_eq!(get(&all, "full").results[0].index, 1);
    assert!(get(&all, "nulls").usage.is_none());

    let all = decode_all::<Vec<ModelInfo>>("models", spec::MODELS);
    assert_eq!(get(&all, "full")[0].context_length, Some(8192));
    assert_eq!(
        get(&all, "enum")[0].kind,
        Some(ModelType::Other("audio".into()))
    );
    assert_eq!(get(&all, "extra")[0].extra["surprise"], 1);

    let all = decode_all::<ImageResponse>("images", spec::IMAGES);
    let full = get(&all, "full");
    assert_eq!(full.data[1].url.as_deref(), Some("https://x/i.png"));
    assert_eq!(full.data[0].b64_json.as_deref(), Some("aGk="));
}

#[test]
fn files() {
    let all = decode_all::<FileObject>("file", spec::FILE);
    let full = get(&all, "full");
    assert_eq!(full.file_type.as_deref(), Some("jsonl"));
    assert_eq!(full.processed, Some(true));
    // Other spellings beside the spec's keys do not collide with them.
    let extra = get(&all, "extra");
    assert_eq!(extra.file_type.as_deref(), Some("jsonl"));
    assert_eq!(extra.line_count, Some(2));
    assert_eq!(extra.extra["type"], "jsonl");
    let unknown = get(&all, "enum");
    assert_eq!(
        unknown.purpose,
        Some(FilePurpose::Other("rl-dataset".into()))
    );
    assert_eq!(unknown.file_type.as_deref(), Some("arrow"));
}

#[test]
fn fine_tunes() {
    let all = decode_all::<FineTune>("fine_tune", &["id", "status"]);
    let full = get(&all, "full");
    assert_eq!(full.output_name.as_deref(), Some("me/base-ft"));
    assert_eq!(full.status, FineTuneStatus::Completed);
    assert_eq!(full.training_type.as_ref().unwrap()["lora_r"], 8);
    assert_eq!(full.batch_size, Some(serde_json::json!("max")));
    assert_eq!(full.events[0].extra["hash"], "");
    assert_eq!(get(&all, "extra").extra["owner_address"], "me@x");
    let user_error = get(&all, "enum");
    assert_eq!(
        user_error.status,
        FineTuneStatus::Other("user_error".into())
    );
    assert!(user_error.status.is_terminal());
    assert!(!get(&all, "required").status.is_terminal());
}

#[test]
fn batches() {
    let all = decode_all::<BatchJob>("batch", &[]);
    let full = get(&all, "full");
    assert_eq!(full.status, BatchStatus::Completed);
    assert_eq!(full.output_file_id.as_deref(), Some("file-2"));
    assert_eq!(full.file_size_bytes, Some(100));
    assert_eq!(
        get(&all, "enum").status,
        BatchStatus::Other("PAUSED".into())
    );
    assert_eq!(get(&all, "extra").extra["surprise"], 1);
    let all = decode_all::<CreateBatchResponse>("batch_created", &["job"]);
    assert_eq!(get(&all, "full").warning.as_deref(), Some("w"));
}

#[test]
fn transcriptions_videos_checkpoints_and_events() {
    use tower_together::types::{
        FineTuneCheckpointList, FineTuneEventList, Transcription, VideoJob, VideoStatus,
    };

    let all = decode_all::<Transcription>("transcription", &["text"]);
    let full = get(&all, "full");
    assert_eq!(full.duration, Some(2.5));
    assert_eq!(full.words.len(), 2);
    assert_eq!(
        full.extra["speaker_segments"][0]["speaker_id"],
        "SPEAKER_00"
    );
    assert_eq!(get(&all, "extra").task.as_deref(), Some("summarize"));

    let all = decode_all::<VideoJob>("video", spec::VIDEO_JOB);
    let full = get(&all, "full");
    assert_eq!(full.status, VideoStatus::Completed);
    assert_eq!(full.outputs.as_ref().unwrap().video_url, "https://x/v.mp4");
    assert_eq!(full.completed_at, Some(1_700_000_100.5));
    let failed = get(&all, "failed");
    assert!(failed.status.is_terminal());
    assert_eq!(failed.error.as_ref().unwrap()["message"], "refused");
    let queued = get(&all, "enum");
    assert_eq!(queued.status, VideoStatus::Other("queued".into()));
    assert!(!queued.status.is_terminal());

    let all = decode_all::<FineTuneCheckpointList>("checkpoints", &["data"]);
    let full = get(&all, "full");
    assert_eq!(full.data[0].step, 10);
    assert_eq!(full.data[0].extra["surprise"], true);

    let all = decode_all::<FineTuneEventList>("fine_tune_events", spec::FINE_TUNE_EVENTS);
    assert_eq!(get(&all, "full").data[0].extra["checkpoint_path"], "p");
    assert_eq!(get(&all, "nulls").data[0].level, None);
    assert_eq!(
        get(&all, "enum").data[0].kind.as_deref(),
        Some("quantum_leap")
    );
}
