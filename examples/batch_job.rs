//! A batch inference job: 50 chat requests uploaded as JSONL, the job
//! polled with a progress bar, the results matched back by `custom_id`.
//!
//! With no `TOGETHER_API_KEY` the embedded simulator runs the job in a few
//! seconds; Together takes minutes to hours (batches are cheaper, not
//! faster).
//!
//! ```text
//! cargo run --example batch_job
//! cargo run --example batch_job -- --input prompts.txt     # one prompt a line
//! TOGETHER_API_KEY=... cargo run --example batch_job
//! ```

mod common;

use std::process::ExitCode;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use tower_together::client::BatchOptions;
use tower_together::sim::Simulator;
use tower_together::{ChatRequest, Message, Together};

use common::{Backend, Failure};

const USAGE: &str = "
Runs chat requests as one batch job and matches the results by custom_id.

usage: batch_job [--input FILE] [--model ID] [--key KEY]

  --input FILE  the prompts, one a line (default: 50 generated prompts)
  --model ID    the chat model (default meta-llama/Llama-3.3-70B-Instruct-Turbo)
  --key KEY     send KEY instead of TOGETHER_API_KEY (or the simulator's key),
                to see how a refused key is reported

Without TOGETHER_API_KEY it runs against the embedded simulator.
";

#[tokio::main]
async fn main() -> ExitCode {
    common::exit(run().await)
}

async fn run() -> Result<(), Failure> {
    let args = common::args(USAGE, &["--input", "--model", "--key"])?;
    let prompts = match &args.input {
        Some(path) => common::read_lines(path, "prompt")?,
        None => (1..=50)
            .map(|i| format!("Write a haiku about the number {i}."))
            .collect(),
    };
    let model = args
        .model
        .clone()
        .unwrap_or_else(|| common::CHAT_MODEL.to_owned());

    let backend = Backend::choose(
        Simulator::builder().batch_durations(Duration::from_secs(1), Duration::from_secs(4)),
    )
    .await?;
    // Poll the simulator often; Together's jobs take minutes, so poll it less.
    let poll = match backend {
        Backend::Simulator(_) => Duration::from_millis(250),
        Backend::Together => Duration::from_secs(10),
    };
    let client = backend.client(Together::builder(), &args)?;
    let outcome = batch(&client, &model, &prompts, poll).await;
    backend.shutdown().await;
    outcome
}

async fn batch(
    client: &Together,
    model: &str,
    prompts: &[String],
    poll: Duration,
) -> Result<(), Failure> {
    common::check_model(client, model).await?;
    let requests: Vec<(String, ChatRequest)> = prompts
        .iter()
        .enumerate()
        .map(|(i, prompt)| {
            let request = ChatRequest::new(model, vec![Message::user(prompt)]).max_tokens(60);
            (format!("request-{:03}", i + 1), request)
        })
        .collect();
    println!("batch of {} chat requests to {model}", requests.len());

    let bar = ProgressBar::new(100).with_style(
        ProgressStyle::with_template("{bar:30.cyan/blue} {pos:>3} %  {msg}  elapsed {elapsed}")
            .expect("the template is valid"),
    );
    bar.set_message("uploading");
    let shown = bar.clone();
    let options = BatchOptions::new()
        .poll_interval(poll)
        .on_progress(move |job| {
            shown.set_position(job.progress.unwrap_or(0.0).clamp(0.0, 100.0) as u64);
            shown.set_message(format!("{} {}", job.id, job.status));
        });
    let results = client.run_batch(requests, options).await;
    bar.finish();
    let results = results?;

    println!(
        "job {} {}: {} of {} succeeded",
        results.job.id,
        results.job.status,
        results.succeeded(),
        results.outcomes.len()
    );
    for custom_id in ["request-001", "request-002", "request-050"] {
        match results.get(custom_id) {
            Some(Ok(response)) => {
                let answer = response
                    .choices
                    .first()
                    .map_or("(no answer)", |c| c.message.content.as_str());
                println!("  {custom_id}: {answer}");
            }
            Some(Err(error)) => println!("  {custom_id}: failed: {error}"),
            None => {}
        }
    }
    let failures: Vec<_> = results.failures().collect();
    for (custom_id, error) in &failures {
        println!("  {custom_id}: failed: {error}");
    }
    if failures.is_empty() {
        println!("  no failures");
    }
    if !results.unmatched_lines.is_empty() {
        println!(
            "  {} output lines matched no custom_id",
            results.unmatched_lines.len()
        );
    }
    if results.succeeded() == 0 {
        return Err(Failure::new(
            "every request of the batch failed",
            "see the failures above",
        ));
    }
    Ok(())
}
