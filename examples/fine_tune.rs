//! Uploads a small JSONL training file, then asks for five fine-tune jobs
//! with the client's cap at three: the first three start, the other two wait
//! in the client for a running job to end, and every job runs to completion.
//!
//! With no `TOGETHER_API_KEY` it runs against the embedded simulator, whose
//! jobs take a few seconds. Fine-tunes on Together are billed, so with the
//! key set it uploads the file, creates one job and cancels it at once.
//!
//! ```text
//! cargo run --example fine_tune
//! cargo run --example fine_tune -- --input train.jsonl
//! TOGETHER_API_KEY=... cargo run --example fine_tune -- --input train.jsonl
//! ```

mod common;

use std::process::ExitCode;
use std::time::Duration;

use serde_json::json;
use tokio::time::Instant;
use tower_together::client::Upload;
use tower_together::sim::Simulator;
use tower_together::types::{FilePurpose, FineTuneRequest, FineTuneStatus};
use tower_together::Together;

use common::{Backend, Failure};

const USAGE: &str = "
Uploads a JSONL training file and creates fine-tune jobs past the cap of 3.

usage: fine_tune [--input FILE] [--model ID] [--key KEY]

  --input FILE  the training file, one JSON example a line
                (default: 20 generated chat examples)
  --model ID    the base model
                (default meta-llama/Meta-Llama-3.1-8B-Instruct-Reference)
  --key KEY     send KEY instead of TOGETHER_API_KEY (or the simulator's key),
                to see how a refused key is reported

Without TOGETHER_API_KEY it runs against the embedded simulator. With it,
one job is created on Together and cancelled at once (fine-tunes are billed).
";

const BASE_MODEL: &str = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference";
/// Jobs asked for against the simulator.
const JOBS: usize = 5;
/// Jobs running at once, in the client and in the simulator.
const CAP: usize = 3;

#[tokio::main]
async fn main() -> ExitCode {
    common::exit(run().await)
}

async fn run() -> Result<(), Failure> {
    let args = common::args(USAGE, &["--input", "--model", "--key"])?;
    let training = match &args.input {
        Some(path) => read_training_file(path)?,
        None => generated_training_file(),
    };
    let model = args.model.clone().unwrap_or_else(|| BASE_MODEL.to_owned());

    let backend = Backend::choose(
        Simulator::builder()
            .fine_tune_capacity(CAP)
            .fine_tune_durations(Duration::from_millis(500), Duration::from_secs(2)),
    )
    .await?;
    let builder = Together::builder().fine_tune_cap(CAP);
    let outcome = match backend {
        Backend::Simulator(_) => {
            let client =
                backend.client(builder.poll_interval(Duration::from_millis(200)), &args)?;
            queue_jobs(&client, &model, training).await
        }
        Backend::Together => {
            let client = backend.client(builder, &args)?;
            one_job_cancelled(&client, &model, training).await
        }
    };
    backend.shutdown().await;
    outcome
}

/// Uploads the file and creates `JOBS` jobs at once; the client's cap
/// queues the ones past `CAP`.
async fn queue_jobs(client: &Together, model: &str, training: String) -> Result<(), Failure> {
    // The simulator lists the models it fine-tunes; Together's `GET /models`
    // lists the serverless ones only, so there the create call judges.
    common::check_model(client, model).await?;
    let file = upload(client, training).await?;
    let started = Instant::now();
    let at = move || format!("[{:5.2} s]", started.elapsed().as_secs_f64());

    println!("asking for {JOBS} jobs with at most {CAP} running at once:");
    println!("jobs past the first {CAP} wait in the client until a running job ends");
    let jobs = (1..=JOBS).map(|n| {
        let client = client.clone();
        let request = FineTuneRequest::new(model, file.clone()).suffix(format!("example-{n}"));
        async move {
            println!("{} job {n}: asked for", at());
            // Waits here while CAP jobs are running.
            let job = client.create_fine_tune(request).await?;
            println!("{} job {n}: created {} ({})", at(), job.id, job.status);
            let mut status = job.status.clone();
            while !status.is_terminal() {
                tokio::time::sleep(Duration::from_millis(200)).await;
                let now = client.get_fine_tune(&job.id).await?.status;
                if now != status {
                    println!("{} job {n}: {now}", at());
                    status = now;
                }
            }
            Ok::<_, Failure>(status)
        }
    });
    let finished = futures_util::future::join_all(jobs).await;
    let mut completed = 0;
    for status in finished {
        if status? == FineTuneStatus::Completed {
            completed += 1;
        }
    }
    println!(
        "{completed} of {JOBS} jobs completed in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Against Together: one job, cancelled at once, so the example costs nothing
/// (or next to nothing) to run.
async fn one_job_cancelled(
    client: &Together,
    model: &str,
    training: String,
) -> Result<(), Failure> {
    let file = upload(client, training).await?;
    let job = client
        .create_fine_tune(FineTuneRequest::new(model, file).suffix("tower-together-example"))
        .await?;
    println!(
        "created {} ({}); cancelling it, as fine-tunes are billed",
        job.id, job.status
    );
    let cancelled = client.cancel_fine_tune(&job.id).await?;
    println!("{}: {}", cancelled.id, cancelled.status);
    Ok(())
}

/// Uploads the training file; returns its id.
async fn upload(client: &Together, training: String) -> Result<String, Failure> {
    let lines = training.lines().count();
    let file = client
        .upload_file(Upload::new("train.jsonl", FilePurpose::FineTune, training))
        .await?;
    println!(
        "uploaded {} ({lines} examples, {} bytes) as {}",
        file.filename, file.bytes, file.id
    );
    Ok(file.id)
}

/// A training file from disk: every non-blank line must be a JSON object.
fn read_training_file(path: &std::path::Path) -> Result<String, Failure> {
    let lines = common::read_lines(path, "training example")?;
    for (i, line) in lines.iter().enumerate() {
        if !serde_json::from_str::<serde_json::Value>(line).is_ok_and(|v| v.is_object()) {
            return Err(Failure::new(
                format!(
                    "example {} of {} is not a JSON object",
                    i + 1,
                    path.display()
                ),
                "write one JSON object a line, e.g. {\"messages\": [...]}",
            ));
        }
    }
    Ok(lines.join("\n") + "\n")
}

/// Twenty chat examples in Together's conversational format.
fn generated_training_file() -> String {
    (1..=20)
        .map(|n| {
            json!({"messages": [
                {"role": "user", "content": format!("What is {n} squared?")},
                {"role": "assistant", "content": format!("{n} squared is {}.", n * n)},
            ]})
            .to_string()
                + "\n"
        })
        .collect()
}
