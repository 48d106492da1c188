#![cfg(all(feature = "client", feature = "sim"))]
//! `run_batch` over the in-process simulator with paused time: chat,
//! completions and embeddings; requests split over several jobs, at most
//! `batch_cap` in flight, merged back by `custom_id` in input order.

use std::time::Duration;

use tower_together::client::BatchOptions;
use tower_together::sim::{embedding_for, Simulator};
use tower_together::types::BatchJob;
use tower_together::{
    ChatRequest, CompletionRequest, EmbeddingRequest, Message, Quota, RateLimitLayer, Together,
};

const CHAT: &str = "meta-llama/Llama-3.3-70B-Instruct-Turbo";
const EMBED: &str = "BAAI/bge-base-en-v1.5";

fn client() -> Together {
    let service = Simulator::builder()
        .api_key("sim-key")
        .batch_durations(Duration::from_secs(1), Duration::from_secs(2))
        .embedding_dimension(8)
        .service();
    Together::builder()
        .api_key("sim-key")
        .base_url("http://sim.test/v1")
        .rate_limit(RateLimitLayer::new(Quota::per_second(1_000)))
        .poll_interval(Duration::from_millis(500))
        .build_with_transport(service)
        .unwrap()
}

fn field<'a>(job: &'a BatchJob, name: &str) -> &'a str {
    match name {
        "created_at" => job.created_at.as_ref().and_then(|v| v.as_str()).unwrap(),
        _ => job.completed_at.as_ref().and_then(|v| v.as_str()).unwrap(),
    }
}

#[tokio::test(start_paused = true)]
async fn chat_requests_split_over_jobs_one_at_a_time_come_back_in_order() {
    let client = client();
    let requests: Vec<(String, ChatRequest)> = (0..25)
        .map(|i| {
            (
                format!("row-{i}"),
                ChatRequest::new(CHAT, vec![Message::user(format!("question {i}"))]),
            )
        })
        .collect();
    let results = client
        .run_batch(
            requests,
            BatchOptions::new().requests_per_batch(10).batch_cap(1),
        )
        .await
        .unwrap();
    assert_eq!(results.jobs.len(), 3, "25 requests, 10 a job");
    assert_eq!(results.outcomes.len(), 25);
    for (i, outcome) in results.outcomes.iter().enumerate() {
        assert_eq!(outcome.custom_id, format!("row-{i}"));
        let answer = &outcome.result.as_ref().unwrap().choices[0].message.content;
        assert_eq!(answer, &format!("Echo: question {i}"));
    }
    // One in flight: each job starts after the one before it has ended.
    for pair in results.jobs.windows(2) {
        assert!(
            field(&pair[1], "created_at") >= field(&pair[0], "completed_at"),
            "{:?}",
            results.jobs
        );
    }
    let sizes: Vec<u64> = results
        .jobs
        .iter()
        .map(|j| j.file_size_bytes.unwrap())
        .collect();
    assert!(sizes[2] < sizes[0], "the last job has the 5 left over");
}

#[tokio::test(start_paused = true)]
async fn jobs_under_the_cap_run_at_once() {
    let client = client();
    let requests: Vec<(String, ChatRequest)> = (0..30)
        .map(|i| {
            (
                format!("r{i}"),
                ChatRequest::new(CHAT, vec![Message::user(format!("q{i}"))]),
            )
        })
        .collect();
    let results = client
        .run_batch(
            requests,
            BatchOptions::new().requests_per_batch(10).batch_cap(3),
        )
        .await
        .unwrap();
    assert_eq!(results.jobs.len(), 3);
    assert_eq!(results.succeeded(), 30);
    let first_done = field(&results.jobs[0], "completed_at");
    for job in &results.jobs {
        assert!(field(job, "created_at") < first_done, "all three overlap");
    }
}

#[tokio::test(start_paused = true)]
async fn completions_and_embeddings_batches() {
    let client = client();
    let completions: Vec<(String, CompletionRequest)> = (0..4)
        .map(|i| {
            (
                format!("c{i}"),
                CompletionRequest::new(CHAT, format!("Once {i}")),
            )
        })
        .collect();
    let results = client
        .run_batch(completions, BatchOptions::new())
        .await
        .unwrap();
    assert_eq!(results.jobs.len(), 1);
    assert_eq!(results.jobs[0].endpoint.as_deref(), Some("/v1/completions"));
    for (i, outcome) in results.outcomes.iter().enumerate() {
        assert_eq!(
            outcome.result.as_ref().unwrap().choices[0].text,
            format!("Echo: Once {i}")
        );
    }

    let texts = ["alpha", "beta", "gamma"];
    let embeddings: Vec<(String, EmbeddingRequest)> = texts
        .iter()
        .map(|t| (format!("e-{t}"), EmbeddingRequest::new(EMBED, *t)))
        .collect();
    let results = client
        .run_batch(embeddings, BatchOptions::new().requests_per_batch(2))
        .await
        .unwrap();
    assert_eq!(results.jobs.len(), 2);
    for (outcome, text) in results.outcomes.iter().zip(texts) {
        let vector = &outcome.result.as_ref().unwrap().data[0].embedding;
        assert_eq!(vector, &embedding_for(text, 8));
    }
}

#[tokio::test(start_paused = true)]
async fn failed_lines_of_one_job_leave_the_other_jobs_answers() {
    let client = client();
    // The second job's model does not exist: the job completes, every line
    // an error; the first job's answers are kept.
    let mut requests: Vec<(String, ChatRequest)> = (0..4)
        .map(|i| {
            (
                format!("ok-{i}"),
                ChatRequest::new(CHAT, vec![Message::user("hi")]),
            )
        })
        .collect();
    requests.extend((0..4).map(|i| {
        (
            format!("bad-{i}"),
            ChatRequest::new("no/such-model", vec![Message::user("hi")]),
        )
    }));
    let results = client
        .run_batch(requests, BatchOptions::new().requests_per_batch(4))
        .await
        .unwrap();
    assert_eq!(results.succeeded(), 4);
    for outcome in &results.outcomes[4..] {
        let error = outcome.result.as_ref().unwrap_err();
        assert_eq!(error.status, Some(404), "{error}");
    }
}
