//! One chat call and one streamed chat call with the typed client.
//!
//! With no `TOGETHER_API_KEY` it runs against the embedded simulator (which
//! answers "Echo: " and your prompt); with the key set, against Together.
//!
//! ```text
//! cargo run --example quickstart
//! cargo run --example quickstart -- --input prompt.txt
//! TOGETHER_API_KEY=... cargo run --example quickstart -- --model Qwen/Qwen2.5-7B-Instruct-Turbo
//! ```

mod common;

use std::io::Write;
use std::process::ExitCode;

use futures_util::StreamExt;
use tower_together::sim::Simulator;
use tower_together::{ChatRequest, Message, Together};

use common::{Backend, Failure};

const USAGE: &str = "
One chat call, then the same prompt streamed token by token.

usage: quickstart [--input FILE] [--model ID] [--key KEY]

  --input FILE  read the prompt from FILE
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
    let prompt = match &args.input {
        Some(path) => common::read_lines(path, "prompt")?.join("\n"),
        None => "In one sentence, why should a client pace its requests?".to_owned(),
    };
    let model = args.model.as_deref().unwrap_or(common::CHAT_MODEL);

    let backend = Backend::choose(Simulator::builder()).await?;
    let client = backend.client(Together::builder(), &args)?;
    let outcome = chat(&client, model, &prompt).await;
    backend.shutdown().await;
    outcome
}

async fn chat(client: &Together, model: &str, prompt: &str) -> Result<(), Failure> {
    let request = || ChatRequest::new(model, vec![Message::user(prompt)]).max_tokens(200);

    println!("> {prompt}");
    let response = client.chat(request()).await?;
    let answer = response
        .choices
        .first()
        .map(|choice| choice.message.content.as_str())
        .unwrap_or("(no answer)");
    println!("{answer}");
    if let Some(usage) = &response.usage {
        println!(
            "({} prompt tokens, {} completion tokens)",
            usage.prompt_tokens, usage.completion_tokens
        );
    }

    println!();
    println!("> {prompt}  (streamed)");
    let mut stream = client.chat_stream(request()).await?;
    let mut stdout = std::io::stdout();
    while let Some(chunk) = stream.next().await {
        for choice in chunk?.choices {
            print!("{}", choice.delta.content);
            // Show each token as it arrives, not at the end of the line.
            let _ = stdout.flush();
        }
    }
    println!();
    Ok(())
}
