//! The three layers over a plain hyper-util client, with no typed client:
//! raw JSON in, raw JSON out.
//!
//! Against the simulator (no `TOGETHER_API_KEY`), the first answer is
//! scripted to be a 429 and the second a 503: the transport prints every
//! attempt, and you see `RetryAfterLayer` and `BackoffLayer` absorb both
//! before your code gets the 200.
//!
//! ```text
//! cargo run --example custom_stack
//! cargo run --example custom_stack -- --input prompt.txt
//! TOGETHER_API_KEY=... cargo run --example custom_stack
//! ```

mod common;

use std::process::ExitCode;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde_json::{json, Value};
use tokio::time::Instant;
use tower::{ServiceBuilder, ServiceExt};
use tower_together::extensions::Model;
use tower_together::sim::{Scripted, Simulator};
use tower_together::{BackoffLayer, Quota, RateLimitLayer, RetryAfterLayer};

use common::{Backend, Failure};

const USAGE: &str = "
The three layers over a plain hyper-util client: one raw JSON chat request.

usage: custom_stack [--input FILE] [--model ID] [--key KEY]

  --input FILE  read the prompt from FILE
  --model ID    the chat model (default meta-llama/Llama-3.3-70B-Instruct-Turbo)
  --key KEY     send KEY instead of TOGETHER_API_KEY (or the simulator's key),
                to see how a refused key is reported

Without TOGETHER_API_KEY it runs against the embedded simulator, which is
told to answer 429 and then 503 first.
";

#[tokio::main]
async fn main() -> ExitCode {
    common::exit(run().await)
}

async fn run() -> Result<(), Failure> {
    let args = common::args(USAGE, &["--input", "--model", "--key"])?;
    let prompt = match &args.input {
        Some(path) => common::read_lines(path, "prompt")?.join("\n"),
        None => "Name three things a rate limiter needs to know.".to_owned(),
    };
    let model = args
        .model
        .clone()
        .unwrap_or_else(|| common::CHAT_MODEL.to_owned());

    let backend = Backend::choose(
        Simulator::builder().script([Scripted::Status(429), Scripted::Status(503)]),
    )
    .await?;
    if backend.simulator().is_some() {
        println!("the simulator will answer 429, then 503, then for real");
    }
    let outcome = send(&backend, &backend.api_key(&args), &model, &prompt).await;
    backend.shutdown().await;
    outcome
}

async fn send(backend: &Backend, key: &str, model: &str, prompt: &str) -> Result<(), Failure> {
    let started = Instant::now();
    // The transport prints each attempt, so the resends are visible.
    let transport = common::https_client()?.map_result(move |result| {
        let at = started.elapsed().as_secs_f64();
        match &result {
            Ok(response) => println!("  [{at:5.2} s] transport: {}", response.status()),
            Err(e) => println!("  [{at:5.2} s] transport: error: {e}"),
        }
        result
    });
    let client = ServiceBuilder::new()
        // 5xx and transport errors: 0.5 s, 1 s, 2 s... (jittered), 4 resends.
        .layer(BackoffLayer::new().base_delay(Duration::from_millis(500)))
        // 429: wait Retry-After plus up to 0.5 s of jitter, 4 resends.
        .layer(RetryAfterLayer::new().jitter(Duration::from_millis(500)))
        // One request a second for each model of the chat endpoint.
        .layer(RateLimitLayer::new(Quota::per_second(1)))
        .service(transport);

    let body = json!({
        "model": model,
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": 100,
    });
    let mut request = http::Request::post(format!("{}/chat/completions", backend.base_url()))
        .header("authorization", format!("Bearer {key}"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .map_err(|e| Failure::new(format!("cannot build the request: {e}"), "check the key"))?;
    // The limiter's scope: this model of this endpoint (and this key).
    request.extensions_mut().insert(Model::new(model));

    println!("> {prompt}");
    let response = client.oneshot(request).await.map_err(|e| {
        Failure::new(
            format!("cannot reach {}: {e}", backend.base_url()),
            "check your network, or TOGETHER_BASE_URL if you set it",
        )
    })?;
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .map_err(|e| Failure::new(format!("the answer broke off: {e}"), "try again"))?
        .to_bytes();
    let json: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    if !status.is_success() {
        return Err(refusal(status, &json, model, backend));
    }
    let answer = json["choices"][0]["message"]["content"]
        .as_str()
        .ok_or_else(|| Failure::new("the answer has no choices[0].message.content", "try again"))?;
    println!("{answer}");
    println!(
        "200 after {:.1} s: the 429 and the 503 were absorbed by the layers",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// A non-2xx answer, explained.
fn refusal(status: http::StatusCode, json: &Value, model: &str, backend: &Backend) -> Failure {
    let message = json["error"]["message"].as_str().unwrap_or("no message");
    match status.as_u16() {
        401 => Failure::new(
            "the API key was refused",
            "check TOGETHER_API_KEY, or the key given with --key",
        ),
        404 => Failure::new(
            format!("unknown model {model}"),
            format!("list the models with GET {}/models", backend.base_url()),
        ),
        _ => Failure::new(
            format!("the server answered {status}: {message}"),
            "try again later",
        ),
    }
}
