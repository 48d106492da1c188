//! Embeds a corpus of a few thousand documents through the full stack, with a
//! live progress bar, then sums up what the layers did.
//!
//! With no `TOGETHER_API_KEY` it starts the embedded simulator with a
//! realistic profile (embeddings limited to 5 requests a second per model,
//! burst 5, and 1 % of answers a 503 "overloaded") and paces the client to
//! the same 5 requests a second. The limiter avoids 429s, the layers absorb
//! any that still come and every 503: your code sees none.
//!
//! ```text
//! cargo run --release --example embed_corpus                 # simulator, 3000 generated docs
//! cargo run --release --example embed_corpus -- --docs 400   # fewer docs
//! TOGETHER_API_KEY=... cargo run --release --example embed_corpus -- --input corpus.txt
//! TOGETHER_API_KEY=... cargo run --release --example embed_corpus -- --model BAAI/bge-large-en-v1.5
//! ```
//!
//! With a key the client uses the crate's preset for embeddings (270 a
//! minute, 10 % under the 300 of the usual table); `--input` takes one
//! document a line.

mod common;

use std::collections::VecDeque;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{stream, StreamExt};
use indicatif::{ProgressBar, ProgressStyle};
use tokio::time::Instant;
use tower_together::client::estimate_tokens;
use tower_together::endpoint::Endpoint;
use tower_together::sim::{Fault, Limits, Simulator};
use tower_together::{Quota, Together};

use common::{Backend, Counters, Failure};

const USAGE: &str = "
Embeds a corpus through the rate limiter and the retry layers, with progress.

usage: embed_corpus [--docs N] [--long] [--input FILE] [--model ID] [--key KEY]

  --docs N      generate N documents (default 3000, or 400 with --long);
                ignored with --input
  --long        long documents (400 tokens each): the token limit binds, and
                the client paces tokens as well as requests
  --input FILE  embed FILE instead, one document a line
  --model ID    the embeddings model (default BAAI/bge-base-en-v1.5)
  --key KEY     send KEY instead of TOGETHER_API_KEY (or the simulator's key),
                to see how a refused key is reported

Without TOGETHER_API_KEY it runs against the embedded simulator.
";

/// The simulator's limit for embeddings, and the client's matching quota.
const SIM_REQUESTS_PER_SECOND: u32 = 5;
/// The simulator's token limit (and the client's) with `--long`: 20 long
/// documents a request are 8 000 tokens, so it binds at 1.25 requests/s.
const SIM_TOKENS_PER_SECOND: u32 = 10_000;
/// Words in a long document.
const LONG_WORDS: usize = 400;
/// Documents handed to one `embed_all` call: two requests of 20, so the bar
/// moves a few times a second.
const CHUNK: usize = 40;
/// `embed_all` calls in flight at once (each runs its requests concurrently;
/// the rate limiter paces them all).
const CHUNKS_IN_FLIGHT: usize = 4;

#[tokio::main]
async fn main() -> ExitCode {
    common::exit(run().await)
}

async fn run() -> Result<(), Failure> {
    let args = common::args(USAGE, &["--docs", "--long", "--input", "--model", "--key"])?;
    let documents = match &args.input {
        Some(path) => common::read_lines(path, "document")?,
        None if args.long => generate_long(args.docs.unwrap_or(400)),
        None => generate(args.docs.unwrap_or(3000)),
    };
    let model = args
        .model
        .clone()
        .unwrap_or_else(|| common::EMBEDDING_MODEL.to_owned());

    let mut limits = Limits::per_second(SIM_REQUESTS_PER_SECOND);
    if args.long {
        limits = limits.tokens_per_second(SIM_TOKENS_PER_SECOND);
    }
    let backend = Backend::choose(
        Simulator::builder()
            .limits(limits)
            .fault(Fault::overloaded(0.01))
            .embedding_dimension(768)
            .seed(5),
    )
    .await?;
    let (builder, limit) = match backend {
        Backend::Simulator(_) => {
            // The simulator's rate, with a burst of one: requests go out
            // evenly spaced, so the jitter of the network cannot bunch them
            // up at the server, whose burst of 5 then absorbs it.
            let mut quota = Quota::per_second(SIM_REQUESTS_PER_SECOND).burst(1);
            let mut limit = quota.per_second_rate();
            if args.long {
                // Requests and tokens: long documents make the tokens bind.
                quota = quota.tokens_per_second(SIM_TOKENS_PER_SECOND);
                let tokens_per_request = f64::from(estimate_tokens(&documents[0])) * 20.0;
                limit = limit.min(f64::from(SIM_TOKENS_PER_SECOND) / tokens_per_request);
            }
            (
                Together::builder().endpoint_quota(Endpoint::Embeddings, quota),
                limit,
            )
        }
        Backend::Together => (
            Together::builder(),
            Quota::per_minute(270).per_second_rate(),
        ),
    };
    let (client, counters) = common::counting_client(&backend, builder, &args)?;

    let outcome = embed(&client, &counters, &model, &documents, limit).await;
    backend.shutdown().await;
    outcome
}

async fn embed(
    client: &Together,
    counters: &Arc<Counters>,
    model: &str,
    documents: &[String],
    limit: f64,
) -> Result<(), Failure> {
    let requests = documents.len().div_ceil(20);
    println!(
        "embedding {} documents with {model}: {requests} requests of up to 20, paced at {limit:.1} requests/s",
        documents.len()
    );

    let bar = ProgressBar::new(documents.len() as u64).with_style(
        ProgressStyle::with_template(
            "{bar:30.cyan/blue} {pos:>5}/{len} docs  {msg}  elapsed {elapsed}  ETA {eta}",
        )
        .expect("the template is valid")
        .progress_chars("█▉▊▋▌▍▎▏ "),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    let ticker = tokio::spawn(show_counters(bar.clone(), counters.clone()));

    let started = Instant::now();
    let mut chunks = stream::iter(documents.chunks(CHUNK))
        .map(|chunk| async move { (chunk.len(), client.embed_all(model, chunk).await) })
        .buffer_unordered(CHUNKS_IN_FLIGHT);
    let mut vectors = 0;
    let mut dimension = 0;
    while let Some((docs, result)) = chunks.next().await {
        let embedded = match result {
            Ok(embedded) => embedded,
            Err(error) => {
                ticker.abort();
                bar.abandon();
                // Every batch of a chunk fails the same way (a refused key,
                // an unknown model); the first says why.
                return Err(match error.failed_batches().first() {
                    Some(batch) => common::explain(&batch.error),
                    None => Failure::new(error.to_string(), "try again"),
                });
            }
        };
        vectors += embedded.len();
        dimension = embedded.first().map_or(dimension, Vec::len);
        bar.inc(docs as u64);
    }
    ticker.abort();
    bar.finish();
    let elapsed = started.elapsed();

    let attempts = counters.attempts();
    println!();
    println!(
        "documents       {} ({vectors} vectors of {dimension} dimensions)",
        documents.len()
    );
    println!("requests        {requests} ({attempts} sent, resends included)");
    println!("elapsed         {:.1} s", elapsed.as_secs_f64());
    if let Some(achieved) = counters.rate() {
        println!(
            "achieved rate   {achieved:.2} requests/s (limit {limit:.1}: {:.0} %)",
            100.0 * achieved / limit
        );
    }
    println!(
        "absorbed        {} 429s, {} 5xx, {} transport errors",
        counters.too_many_requests(),
        counters.server_errors(),
        counters.transport_errors()
    );
    println!("retries         {}", counters.retries());
    println!("429s seen by this code: 0");
    Ok(())
}

/// Keeps the bar's message up to date: the request rate over the last
/// three seconds, the 429s absorbed and the retries so far.
async fn show_counters(bar: ProgressBar, counters: Arc<Counters>) {
    const WINDOW: Duration = Duration::from_secs(3);
    let mut samples = VecDeque::from([(Instant::now(), 0)]);
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        tick.tick().await;
        let now = Instant::now();
        samples.push_back((now, counters.attempts()));
        while samples.len() > 2 && now - samples[1].0 >= WINDOW {
            samples.pop_front();
        }
        let (then, before) = samples[0];
        let seconds = (now - then).as_secs_f64().max(0.25);
        bar.set_message(format!(
            "{:4.1} req/s  429s absorbed {}  retries {}",
            (counters.attempts() - before) as f64 / seconds,
            counters.too_many_requests(),
            counters.retries(),
        ));
    }
}

/// `n` made-up documents of 20 to 60 words, the same every run.
/// `n` documents of `LONG_WORDS` short words: words of up to 8 letters
/// count as one token for the client's estimate and for the simulator alike.
fn generate_long(n: usize) -> Vec<String> {
    const WORDS: &[&str] = &[
        "rate", "limit", "tower", "layer", "retry", "token", "model", "vector", "search", "index",
        "query", "answer", "burst", "quota", "scope", "server", "client", "stream", "batch",
        "corpus", "river", "harbour", "lantern", "orchard", "violin",
    ];
    let mut rng = fastrand::Rng::with_seed(2025);
    (0..n)
        .map(|_| {
            let words: Vec<&str> = (0..LONG_WORDS)
                .map(|_| WORDS[rng.usize(..WORDS.len())])
                .collect();
            words.join(" ")
        })
        .collect()
}

fn generate(n: usize) -> Vec<String> {
    const WORDS: &[&str] = &[
        "rate",
        "limit",
        "tower",
        "layer",
        "service",
        "request",
        "retry",
        "backoff",
        "token",
        "model",
        "embedding",
        "vector",
        "search",
        "index",
        "query",
        "answer",
        "latency",
        "throughput",
        "burst",
        "quota",
        "scope",
        "server",
        "client",
        "stream",
        "batch",
        "job",
        "corpus",
        "document",
        "river",
        "mountain",
        "harbour",
        "lantern",
        "orchard",
        "violin",
    ];
    let mut rng = fastrand::Rng::with_seed(2024);
    (0..n)
        .map(|i| {
            let len = rng.usize(20..=60);
            let words: Vec<&str> = (0..len).map(|_| WORDS[rng.usize(..WORDS.len())]).collect();
            format!("Document {i}: {}.", words.join(" "))
        })
        .collect()
}
