#![cfg(all(feature = "client", feature = "sim"))]
//! Audio, videos, fine-tune checkpoints and delete, and the generic call,
//! through the client's stack against the in-process simulator (paused
//! time), with the simulator's answers checked against the spec.

#[path = "spec_support/mod.rs"]
mod spec;

use std::time::Duration;

use http::Method;
use serde_json::{json, Value};
use tower_together::client::{ErrorKind, Upload};
use tower_together::sim::Simulator;
use tower_together::types::{
    FilePurpose, FineTuneRequest, SpeechRequest, TranscriptionRequest, VideoRequest, VideoStatus,
};
use tower_together::{Quota, RateLimitLayer, Together};

fn client() -> Together {
    let service = Simulator::builder()
        .api_key("sim-key")
        .fine_tune_durations(Duration::from_secs(1), Duration::from_secs(2))
        .service();
    Together::builder()
        .api_key("sim-key")
        .base_url("http://sim.test/v1")
        .rate_limit(RateLimitLayer::new(Quota::per_second(1_000)))
        .build_with_transport(service)
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn speech_then_transcription_round_trips() {
    let client = client();
    let audio = client
        .speech(SpeechRequest::new(
            "cartesia/sonic",
            "the quick brown fox",
            "narrator",
        ))
        .await
        .unwrap();
    assert_eq!(&audio[..4], b"RIFF");
    assert_eq!(&audio[8..12], b"WAVE");

    let text = client
        .transcribe(TranscriptionRequest::bytes("speech.wav", audio.clone()).language("en"))
        .await
        .unwrap();
    assert_eq!(text.text, "the quick brown fox");
    assert_eq!(text.task, None, "plain json is {{text}} only");

    let verbose = client
        .translate(TranscriptionRequest::bytes("speech.wav", audio).response_format("verbose_json"))
        .await
        .unwrap();
    assert_eq!(verbose.task.as_deref(), Some("translate"));
    assert_eq!(verbose.duration, Some(4.0));
    let as_json = serde_json::to_value(&verbose).unwrap();
    let missing = spec::missing(&as_json, spec::TRANSCRIPTION_VERBOSE);
    assert!(missing.is_empty(), "{missing:?}");

    let by_url = client
        .transcribe(TranscriptionRequest::url("https://example.com/a.mp3"))
        .await
        .unwrap();
    assert_eq!(by_url.text, "[audio at https://example.com/a.mp3]");

    let raw = client
        .speech(SpeechRequest::new("hexgrad/Kokoro-82M", "hi", "af").response_format("raw"))
        .await
        .unwrap();
    assert_eq!(&raw[..], b"hi");
    let unknown = client
        .speech(SpeechRequest::new("no/such-voice-model", "hi", "af"))
        .await
        .unwrap_err();
    assert!(unknown.is_model_not_found(), "{unknown}");
    let bad = client
        .transcribe(TranscriptionRequest::bytes("a.wav", &b"x"[..]).temperature(3.0))
        .await
        .unwrap_err();
    assert_eq!(bad.status(), Some(http::StatusCode::BAD_REQUEST));
}

#[tokio::test(start_paused = true)]
async fn a_video_renders_then_completes() {
    let client = client();
    let job = client
        .create_video(
            VideoRequest::new("google/veo-3.0")
                .prompt("A cat surfing")
                .size(640, 360),
        )
        .await
        .unwrap();
    assert_eq!(job.status, VideoStatus::InProgress);
    assert_eq!(job.size, "640x360");
    let missing = spec::missing(&serde_json::to_value(&job).unwrap(), spec::VIDEO_JOB);
    assert!(missing.is_empty(), "{missing:?}");
    assert!(job.outputs.is_none());
    tokio::time::sleep(Duration::from_secs(6)).await;
    let done = client.get_video(&job.id).await.unwrap();
    assert!(done.status.is_terminal());
    assert_eq!(done.status, VideoStatus::Completed);
    let url = done.outputs.unwrap().video_url;
    assert!(url.ends_with(&job.id), "{url}");
    assert!(done.completed_at.unwrap() >= done.created_at.unwrap());
    let missing_prompt = client
        .create_video(VideoRequest::new("google/veo-3.0").prompt(""))
        .await
        .unwrap_err();
    assert_eq!(missing_prompt.status(), Some(http::StatusCode::BAD_REQUEST));
}

#[tokio::test(start_paused = true)]
async fn fine_tune_checkpoints_delete_and_the_generic_call() {
    let client = client();
    let file = client
        .upload_file(Upload::new(
            "train.jsonl",
            FilePurpose::FineTune,
            &b"{\"text\": \"a b\"}\n"[..],
        ))
        .await
        .unwrap();
    let job = client
        .create_fine_tune(
            FineTuneRequest::new("meta-llama/Meta-Llama-3.1-8B-Instruct-Reference", &file.id)
                .lora(8, 16),
        )
        .await
        .unwrap();
    assert!(client
        .fine_tune_checkpoints(&job.id)
        .await
        .unwrap()
        .is_empty());
    tokio::time::sleep(Duration::from_secs(5)).await;
    let checkpoints = client.fine_tune_checkpoints(&job.id).await.unwrap();
    assert_eq!(checkpoints.len(), 1);
    assert_eq!(checkpoints[0].checkpoint_type, "Final");
    let done = client.get_fine_tune(&job.id).await.unwrap();
    assert_eq!(
        done.output_name.as_deref(),
        Some(checkpoints[0].path.as_str())
    );
    assert_eq!(done.training_type.as_ref().unwrap()["lora_alpha"], 16);

    // The generic call: any path, JSON out, or bytes.
    let limits: Value = client
        .call(
            Method::GET,
            "/fine-tunes/models/limits?model_name=meta-llama%2FMeta-Llama-3.1-8B-Instruct-Reference",
            None,
        )
        .await
        .unwrap();
    assert_eq!(limits["max_num_epochs"], 20);
    let estimate: Value = client
        .call(
            Method::POST,
            "/fine-tunes/estimate-price",
            Some(json!({"training_file": file.id, "n_epochs": 2})),
        )
        .await
        .unwrap();
    // Three whitespace-separated tokens in the file, two epochs.
    assert_eq!(estimate["estimated_train_token_count"], 6.0);
    let bytes = client
        .call_bytes(Method::GET, &format!("/files/{}/content", file.id), None)
        .await
        .unwrap();
    assert_eq!(&bytes[..], b"{\"text\": \"a b\"}\n");
    for bad in ["files", "/../models", "/files/a b", "/models?x=<y>"] {
        let error = client
            .call::<Value>(Method::GET, bad, None)
            .await
            .unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidRequest, "{bad}");
    }

    let deleted = client.delete_fine_tune(&job.id).await.unwrap();
    assert!(!deleted.message.is_empty());
    let gone = client.get_fine_tune(&job.id).await.unwrap_err();
    assert_eq!(gone.status(), Some(http::StatusCode::NOT_FOUND));
}
