//! The typed client against the crate's simulator over real loopback HTTP:
//! the default hyper-util transport, the default stack of layers, every
//! endpoint, and the helpers under the simulator's limits.
#![cfg(all(feature = "client", feature = "sim"))]

use std::collections::HashSet;
use std::time::Duration;

use futures_util::StreamExt;
use http::StatusCode;
use tower_together::client::{BatchOptions, ErrorKind, Upload};
use tower_together::sim::{embedding_for, FaultKind, Limits, Scripted, Simulator};
use tower_together::types::{
    CreateBatchRequest, FilePurpose, FineTuneRequest, ImageRequest, RerankRequest,
};
use tower_together::{
    BackoffLayer, ChatRequest, CompletionRequest, EmbeddingRequest, Message, Quota, RateLimitLayer,
    RetryAfterLayer, Together, TogetherBuilder,
};

const KEY: &str = "sim-key-7f3a9c1e-do-not-print";
const CHAT: &str = "meta-llama/Llama-3.3-70B-Instruct-Turbo";
const FALLBACK: &str = "Qwen/Qwen2.5-7B-Instruct-Turbo";
const EMBED: &str = "BAAI/bge-base-en-v1.5";
const IMAGE: &str = "black-forest-labs/FLUX.1-schnell";
const RERANK: &str = "Salesforce/Llama-Rank-V1";
const DEDICATED: &str = "Qwen/Qwen3-VL-235B-A22B-Instruct-FP8";

async fn sim() -> Simulator {
    Simulator::builder()
        .api_key(KEY)
        .limits(Limits::per_second(50).burst(5))
        .fine_tune_durations(Duration::from_millis(20), Duration::from_millis(100))
        .batch_durations(Duration::from_millis(20), Duration::from_millis(100))
        .seed(42)
        .start()
        .await
        .expect("the simulator starts")
}

/// The default transport and stack, tuned so tests run in real time fast:
/// the client's quota stays under the simulator's 50/s, burst 5.
fn client_for(sim: &Simulator) -> TogetherBuilder {
    Together::builder()
        .api_key(KEY)
        .base_url(sim.base_url())
        .rate_limit(RateLimitLayer::new(Quota::per_second(40).burst(4)))
        .retry_after(RetryAfterLayer::new().jitter(Duration::from_millis(50)))
        .backoff(
            BackoffLayer::new()
                .max_retries(2)
                .base_delay(Duration::from_millis(20)),
        )
        .poll_interval(Duration::from_millis(20))
}

#[tokio::test]
async fn every_endpoint_round_trips_over_loopback_http() {
    let sim = sim().await;
    let client = client_for(&sim).build().unwrap();

    let models = client.models().await.unwrap();
    assert!(models.iter().any(|m| m.id == CHAT));

    let chat = client
        .chat(ChatRequest::new(CHAT, vec![Message::user("Hello simulator")]).max_tokens(20))
        .await
        .unwrap();
    assert_eq!(chat.choices[0].message.content, "Echo: Hello simulator");
    assert_eq!(chat.model, CHAT);

    let completion = client
        .completion(CompletionRequest::new(CHAT, "Once upon").max_tokens(20))
        .await
        .unwrap();
    assert!(completion.choices[0].text.contains("Once upon"));

    let embeddings = client
        .embeddings(EmbeddingRequest::many(EMBED, &["a", "b"]))
        .await
        .unwrap();
    assert_eq!(embeddings.data.len(), 2);
    assert_eq!(embeddings.data[1].embedding, embedding_for("b", 8));

    let images = client
        .images(ImageRequest::new(IMAGE, "a lighthouse").n(1))
        .await
        .unwrap();
    assert_eq!(images.data.len(), 1);
    assert!(images.data[0].b64_json.is_some() || images.data[0].url.is_some());

    let ranked = client
        .rerank(RerankRequest::new(RERANK, "rust", &["python", "rust crates", "go"]).top_n(2))
        .await
        .unwrap();
    assert_eq!(ranked.results.len(), 2);

    // Files: the 302 signed-URL flow, then list, get, content, delete.
    let training = b"{\"text\": \"one\"}\n{\"text\": \"two\"}\n";
    let file = client
        .upload_file(Upload::new(
            "train.jsonl",
            FilePurpose::FineTune,
            &training[..],
        ))
        .await
        .unwrap();
    assert!(file.id.starts_with("file-"), "{file:?}");
    assert_eq!(file.bytes, training.len() as u64);
    assert!(client
        .list_files()
        .await
        .unwrap()
        .iter()
        .any(|f| f.id == file.id));
    assert_eq!(
        client.get_file(&file.id).await.unwrap().filename,
        "train.jsonl"
    );
    assert_eq!(
        &client.file_content(&file.id).await.unwrap()[..],
        &training[..]
    );

    // Fine-tunes: create, list, get, events, cancel.
    let job = client
        .create_fine_tune(FineTuneRequest::new(CHAT, &file.id).n_epochs(1))
        .await
        .unwrap();
    assert!(client
        .list_fine_tunes()
        .await
        .unwrap()
        .iter()
        .any(|j| j.id == job.id));
    let got = client.get_fine_tune(&job.id).await.unwrap();
    assert_eq!(got.id, job.id);
    // The owner, typed (Together's Python SDK requires it).
    assert_eq!(got.user_id.as_deref(), Some("sim-user"));
    let _events = client.fine_tune_events(&job.id).await.unwrap();
    let cancelled = client.cancel_fine_tune(&job.id).await;
    // A job may already have completed in real time; cancelling it then is a 400.
    if let Err(e) = &cancelled {
        assert_eq!(e.status(), Some(StatusCode::BAD_REQUEST), "{e}");
    }

    // Batches by hand: create, get, list, cancel.
    let line = format!(
        "{}\n",
        serde_json::json!({"custom_id": "one", "body": ChatRequest::new(CHAT, vec![Message::user("hi")])})
    );
    let input = client
        .upload_file(Upload::new(
            "batch.jsonl",
            FilePurpose::BatchApi,
            line.into_bytes(),
        ))
        .await
        .unwrap();
    let created = client
        .create_batch(CreateBatchRequest::new("/v1/chat/completions", &input.id))
        .await
        .unwrap();
    assert_eq!(
        client.get_batch(&created.job.id).await.unwrap().id,
        created.job.id
    );
    assert!(client
        .list_batches()
        .await
        .unwrap()
        .iter()
        .any(|b| b.id == created.job.id));
    let _ = client.cancel_batch(&created.job.id).await;

    assert!(client.delete_file(&file.id).await.unwrap().deleted);
    assert_eq!(sim.stats().rate_limited(), 0);
    sim.shutdown().await;
}

#[tokio::test]
async fn streams_end_at_done_and_a_mid_stream_error_surfaces() {
    let sim = sim().await;
    let client = client_for(&sim).build().unwrap();

    let mut stream = client
        .chat_stream(ChatRequest::new(
            CHAT,
            vec![Message::user("stream me please")],
        ))
        .await
        .unwrap();
    let mut text = String::new();
    let mut last_usage = None;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        if let Some(choice) = chunk.choices.first() {
            text.push_str(&choice.delta.content);
        }
        if chunk.usage.is_some() {
            last_usage = chunk.usage;
        }
    }
    assert_eq!(text.trim(), "Echo: stream me please");
    assert!(last_usage.is_some());

    let pieces: Vec<_> = client
        .completion_stream(CompletionRequest::new(CHAT, "count to three"))
        .await
        .unwrap()
        .collect()
        .await;
    assert!(pieces.iter().all(Result::is_ok));
    let text: String = pieces
        .iter()
        .filter_map(|p| p.as_ref().unwrap().choices.first().map(|c| c.text.clone()))
        .collect();
    assert!(text.contains("count to three"), "{text}");

    sim.script([Scripted::Fault(FaultKind::StreamError)]);
    let items: Vec<_> = client
        .chat_stream(ChatRequest::new(
            CHAT,
            vec![Message::user("this one breaks")],
        ))
        .await
        .unwrap()
        .collect()
        .await;
    let error = items
        .last()
        .unwrap()
        .as_ref()
        .expect_err("the stream ends with an error");
    assert_eq!(error.kind(), ErrorKind::Stream);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_429_then_success() {
    let sim = sim().await;
    let client = client_for(&sim).build().unwrap();
    sim.script([Scripted::Status(429)]);
    let response = client
        .chat(ChatRequest::new(CHAT, vec![Message::user("after a 429")]))
        .await
        .unwrap();
    assert_eq!(response.choices[0].message.content, "Echo: after a 429");
    let statuses: Vec<_> = sim
        .stats()
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/chat/completions"))
        .map(|r| r.status.map(|s| s.as_u16()))
        .collect();
    assert_eq!(statuses, [Some(429), Some(200)]);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_503_after_retries_falls_back_to_the_next_model() {
    let sim = sim().await;
    let client = client_for(&sim).fallback(CHAT, [FALLBACK]).build().unwrap();
    // One attempt and two backoff retries, all overloaded.
    sim.script([
        Scripted::Status(503),
        Scripted::Status(503),
        Scripted::Status(503),
    ]);
    let response = client
        .chat(ChatRequest::new(CHAT, vec![Message::user("anyone free?")]))
        .await
        .unwrap();
    assert_eq!(response.model, FALLBACK);
    assert_eq!(response.choices[0].message.content, "Echo: anyone free?");
    let models: Vec<_> = sim
        .stats()
        .requests()
        .iter()
        .filter_map(|r| r.model.as_deref().map(str::to_owned))
        .collect();
    assert_eq!(models, [CHAT, CHAT, CHAT, FALLBACK]);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_400_is_never_retried_and_names_close_models() {
    let sim = sim().await;
    let client = client_for(&sim).build().unwrap();
    let error = client
        .chat(ChatRequest::new(DEDICATED, vec![Message::user("hi")]))
        .await
        .unwrap_err();
    assert_eq!(error.status(), Some(StatusCode::BAD_REQUEST));
    assert_eq!(error.code(), Some("model_not_available"));
    assert!(error.is_model_not_found());
    let chat_calls = sim
        .stats()
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/chat/completions"))
        .count();
    assert_eq!(chat_calls, 1, "a 400 is sent once");

    let typo = client
        .chat(ChatRequest::new(
            "meta-llama/Llama-3.3-70B-Instruct-Trubo",
            vec![Message::user("hi")],
        ))
        .await
        .unwrap_err();
    assert_eq!(typo.status(), Some(StatusCode::NOT_FOUND));
    assert!(typo.is_model_not_found());
    assert_eq!(
        typo.suggestions().first().map(String::as_str),
        Some(CHAT),
        "{typo}"
    );
    assert!(typo.suggestions().len() <= 3);
    sim.shutdown().await;
}

#[tokio::test]
async fn embed_all_of_1000_texts_keeps_order_under_the_limit() {
    let sim = sim().await;
    let client = client_for(&sim).build().unwrap();
    let texts: Vec<String> = (0..1_000).map(|i| format!("document number {i}")).collect();
    let vectors = client.embed_all(EMBED, &texts).await.unwrap();
    assert_eq!(vectors.len(), 1_000);
    for (text, vector) in texts.iter().zip(&vectors) {
        assert_eq!(vector, &embedding_for(text, 8));
    }
    let stats = sim.stats();
    assert_eq!(
        stats.rate_limited(),
        0,
        "the simulator's limit was never exceeded"
    );
    let requests = stats
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/embeddings"))
        .count();
    assert_eq!(requests, 50, "20 inputs a request");
    sim.shutdown().await;
}

#[tokio::test]
async fn the_fine_tune_cap_holds_with_ten_concurrent_creates() {
    let sim = sim().await;
    let client = client_for(&sim).build().unwrap();
    let file = client
        .upload_file(Upload::new(
            "t.jsonl",
            FilePurpose::FineTune,
            &b"{\"text\":\"x\"}\n"[..],
        ))
        .await
        .unwrap();
    let creates = (0..10).map(|i| {
        let client = client.clone();
        let file = file.id.clone();
        tokio::spawn(async move {
            client
                .create_fine_tune(FineTuneRequest::new(CHAT, file).suffix(format!("job-{i}")))
                .await
        })
    });
    let jobs = futures_util::future::join_all(creates).await;
    let ids: HashSet<String> = jobs.into_iter().map(|j| j.unwrap().unwrap().id).collect();
    assert_eq!(ids.len(), 10, "ten distinct jobs");
    let conflicts = sim
        .stats()
        .requests()
        .iter()
        .filter(|r| r.status == Some(StatusCode::CONFLICT))
        .count();
    assert_eq!(
        conflicts, 0,
        "never more than 3 jobs at once, so never a 409"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn a_server_409_makes_creates_wait_never_duplicate() {
    let sim = sim().await;
    // The client allows 6, the simulator 3: the 409s make it wait.
    let client = client_for(&sim).fine_tune_cap(6).build().unwrap();
    let file = client
        .upload_file(Upload::new(
            "t.jsonl",
            FilePurpose::FineTune,
            &b"{\"text\":\"x\"}\n"[..],
        ))
        .await
        .unwrap();
    let creates = (0..6).map(|_| {
        let client = client.clone();
        let file = file.id.clone();
        tokio::spawn(async move {
            client
                .create_fine_tune(FineTuneRequest::new(CHAT, file))
                .await
        })
    });
    let jobs = futures_util::future::join_all(creates).await;
    let ids: HashSet<String> = jobs.into_iter().map(|j| j.unwrap().unwrap().id).collect();
    assert_eq!(ids.len(), 6);
    let stats = sim.stats();
    let created = stats
        .requests()
        .iter()
        .filter(|r| {
            r.method == http::Method::POST
                && r.path.ends_with("/fine-tunes")
                && r.status == Some(StatusCode::OK)
        })
        .count();
    assert_eq!(created, 6, "no duplicate creates");
    assert!(stats
        .requests()
        .iter()
        .any(|r| r.status == Some(StatusCode::CONFLICT)));
    sim.shutdown().await;
}

#[tokio::test]
async fn a_batch_of_200_requests_comes_back_complete() {
    let sim = sim().await;
    let client = client_for(&sim).build().unwrap();
    let requests: Vec<(String, ChatRequest)> = (0..200)
        .map(|i| {
            (
                format!("row-{i}"),
                ChatRequest::new(CHAT, vec![Message::user(format!("question {i}"))]),
            )
        })
        .collect();
    let polls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = polls.clone();
    let results = client
        .run_batch(
            requests,
            BatchOptions::new().on_progress(move |_job| {
                seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }),
        )
        .await
        .unwrap();
    assert!(results.job.status.is_completed());
    assert_eq!(results.outcomes.len(), 200);
    assert_eq!(results.failures().count(), 0);
    for (i, outcome) in results.outcomes.iter().enumerate() {
        assert_eq!(outcome.custom_id, format!("row-{i}"));
        let answer = &outcome.result.as_ref().unwrap().choices[0].message.content;
        assert_eq!(answer, &format!("Echo: question {i}"));
    }
    assert!(polls.load(std::sync::atomic::Ordering::SeqCst) >= 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn the_key_is_absent_from_debug_and_error_strings() {
    let sim = sim().await;
    let wrong = "sk-wrong-5b1e77d0-also-secret";
    let client = client_for(&sim).api_key(wrong).build().unwrap();
    let builder = client_for(&sim);
    let error = client.models().await.unwrap_err();
    assert_eq!(error.status(), Some(StatusCode::UNAUTHORIZED));
    let good = client_for(&sim).build().unwrap();
    let texts = [
        format!("{client:?} {client:#?}"),
        format!("{good:?}"),
        format!("{builder:?}"),
        format!("{error} {error:?}"),
    ];
    for text in texts {
        assert!(
            !text.contains(wrong) && !text.contains(KEY),
            "a key leaked: {text}"
        );
    }
    sim.shutdown().await;
}
