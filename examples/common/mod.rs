//! Code the examples share: the tiny argument parser, the "simulator or
//! Together" choice, a counting transport, and one-line error messages.
#![allow(dead_code)] // each example uses only part of it

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::time::Instant;
use tower_together::sim::{Simulator, SimulatorBuilder};
use tower_together::{Error, Together, TogetherBuilder};

/// The chat model the examples use by default (served by Together and by
/// the simulator).
pub const CHAT_MODEL: &str = "meta-llama/Llama-3.3-70B-Instruct-Turbo";
/// The embeddings model the examples use by default.
pub const EMBEDDING_MODEL: &str = "BAAI/bge-base-en-v1.5";
/// The key the simulator accepts.
pub const SIM_KEY: &str = "sim-key";

/// What went wrong and what to do about it: printed as one line,
/// `error: <what> (<what to do>)`.
#[derive(Debug)]
pub struct Failure {
    what: String,
    todo: String,
}

impl Failure {
    pub fn new(what: impl Into<String>, todo: impl Into<String>) -> Self {
        Failure {
            what: what.into(),
            todo: todo.into(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error: {} ({})", self.what, self.todo)
    }
}

/// An error of the typed client, explained for a person at a terminal.
impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        explain(&error)
    }
}

/// Turns a client error into what is wrong and what to do.
pub fn explain(error: &Error) -> Failure {
    use tower_together::client::ErrorKind;

    if error.status().map(|s| s.as_u16()) == Some(401) {
        return Failure::new(
            "the API key was refused",
            "check TOGETHER_API_KEY, or the key given with --key",
        );
    }
    if error.is_model_not_found() {
        let model = error.model().unwrap_or("(unnamed)");
        let todo = match error.suggestions() {
            [] => "pick a model from https://api.together.ai/v1/models with --model".to_owned(),
            some => format!("did you mean {}? pass it with --model", some.join(", ")),
        };
        return Failure::new(format!("unknown model {model}"), todo);
    }
    if error.is_rate_limited() {
        return Failure::new(
            "still rate limited after every retry",
            "lower the request rate, or try again in a minute",
        );
    }
    match error.kind() {
        ErrorKind::Transport => Failure::new(
            format!("cannot reach the server: {}", error.message()),
            "check your network, or TOGETHER_BASE_URL if you set it",
        ),
        ErrorKind::Timeout => Failure::new(
            format!("the request timed out: {}", error.message()),
            "try again; the service may be busy",
        ),
        ErrorKind::Config => Failure::new(
            error.message().to_owned(),
            "set TOGETHER_API_KEY to a valid key, or unset it to use the simulator",
        ),
        _ => Failure::new(
            error.to_string(),
            "try again; if it persists, report the request id to Together",
        ),
    }
}

/// Runs an example's body and turns its outcome into an exit code.
pub fn exit(outcome: Result<(), Failure>) -> ExitCode {
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("{failure}");
            ExitCode::FAILURE
        }
    }
}

/// The command line: every example takes a subset of these flags.
#[derive(Debug, Default)]
pub struct Args {
    /// `--input FILE`
    pub input: Option<PathBuf>,
    /// `--model ID`
    pub model: Option<String>,
    /// `--docs N`
    pub docs: Option<usize>,
    /// `--key KEY`: send this key instead (to see how a refused key looks).
    pub key: Option<String>,
    /// `--long`: long documents, paced by a token budget too.
    pub long: bool,
}

/// Parses the command line, accepting only `allowed` flags (`--help` always).
/// On `--help` prints `usage` and exits.
pub fn args(usage: &str, allowed: &[&str]) -> Result<Args, Failure> {
    let mut args = Args::default();
    let mut words = std::env::args().skip(1);
    let see_help = "see --help";
    while let Some(flag) = words.next() {
        if flag == "--help" || flag == "-h" {
            println!("{}", usage.trim());
            std::process::exit(0);
        }
        if !allowed.contains(&flag.as_str()) {
            return Err(Failure::new(format!("unknown argument {flag:?}"), see_help));
        }
        if flag == "--long" {
            args.long = true;
            continue;
        }
        let value = words
            .next()
            .ok_or_else(|| Failure::new(format!("{flag} needs a value"), see_help))?;
        match flag.as_str() {
            "--input" => args.input = Some(PathBuf::from(value)),
            "--model" => args.model = Some(value),
            "--key" => args.key = Some(value),
            "--docs" => {
                let n = value.parse::<usize>().ok().filter(|&n| n > 0);
                args.docs = Some(n.ok_or_else(|| {
                    Failure::new(
                        format!("--docs wants a positive number, not {value:?}"),
                        "e.g. --docs 400",
                    )
                })?);
            }
            _ => return Err(Failure::new(format!("unknown argument {flag:?}"), see_help)),
        }
    }
    Ok(args)
}

/// Reads `path` as text.
pub fn read_input(path: &Path) -> Result<String, Failure> {
    std::fs::read_to_string(path).map_err(|e| {
        Failure::new(
            format!("cannot read {}: {e}", path.display()),
            "check the path, or leave --input out to use generated data",
        )
    })
}

/// Reads `path` as one item a line, blank lines skipped; an error if none.
pub fn read_lines(path: &Path, item: &str) -> Result<Vec<String>, Failure> {
    let lines: Vec<String> = read_input(path)?
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect();
    if lines.is_empty() {
        let what = if item == "document" {
            "corpus"
        } else {
            "input"
        };
        return Err(Failure::new(
            format!("the {what} is empty: {} has no {item}s", path.display()),
            format!("give a file with one {item} a line"),
        ));
    }
    Ok(lines)
}

/// Where requests go: the embedded simulator, or Together itself.
pub enum Backend {
    /// No `TOGETHER_API_KEY`: a simulator on loopback.
    Simulator(Simulator),
    /// `TOGETHER_API_KEY` is set.
    Together,
}

impl Backend {
    /// Together when `TOGETHER_API_KEY` is set, else `simulator`, started.
    /// Prints one line saying which.
    pub async fn choose(simulator: SimulatorBuilder) -> Result<Backend, Failure> {
        let has_key = std::env::var("TOGETHER_API_KEY").is_ok_and(|k| !k.trim().is_empty());
        if has_key {
            let base = std::env::var("TOGETHER_BASE_URL")
                .unwrap_or_else(|_| tower_together::client::DEFAULT_BASE_URL.to_owned());
            println!("backend: Together at {base} (key from TOGETHER_API_KEY)");
            return Ok(Backend::Together);
        }
        let sim = simulator.start().await.map_err(|e| {
            Failure::new(
                format!("cannot start the simulator: {e}"),
                "check that loopback networking is available",
            )
        })?;
        println!(
            "backend: simulator at {} (set TOGETHER_API_KEY to use Together)",
            sim.base_url()
        );
        Ok(Backend::Simulator(sim))
    }

    /// The simulator, when that is the backend.
    pub fn simulator(&self) -> Option<&Simulator> {
        match self {
            Backend::Simulator(sim) => Some(sim),
            Backend::Together => None,
        }
    }

    /// The base URL requests go to.
    pub fn base_url(&self) -> String {
        match self {
            Backend::Simulator(sim) => sim.base_url(),
            Backend::Together => std::env::var("TOGETHER_BASE_URL")
                .unwrap_or_else(|_| tower_together::client::DEFAULT_BASE_URL.to_owned()),
        }
    }

    /// The API key to send: `--key` if given, else the simulator's or
    /// `TOGETHER_API_KEY`.
    pub fn api_key(&self, args: &Args) -> String {
        if let Some(key) = &args.key {
            return key.clone();
        }
        match self {
            Backend::Simulator(_) => SIM_KEY.to_owned(),
            Backend::Together => std::env::var("TOGETHER_API_KEY").unwrap_or_default(),
        }
    }

    /// `builder` pointed at this backend, with the right key.
    pub fn configure(&self, builder: TogetherBuilder, args: &Args) -> TogetherBuilder {
        builder
            .base_url(self.base_url())
            .api_key(self.api_key(args))
    }

    /// A client with the default transport and layers.
    pub fn client(&self, builder: TogetherBuilder, args: &Args) -> Result<Together, Failure> {
        Ok(self.configure(builder, args).build()?)
    }

    /// Stops the simulator, if there is one.
    pub async fn shutdown(self) {
        if let Backend::Simulator(sim) = self {
            sim.shutdown().await;
        }
    }
}

/// A hyper-util client over rustls, speaking `https://` (for Together) and
/// plain `http://` (for the simulator), as the crate's default transport does.
pub type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Builds the plain hyper-util client.
pub fn https_client() -> Result<HttpsClient, Failure> {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(Duration::from_secs(5)));
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
        .map_err(|e| Failure::new(format!("cannot set up TLS: {e}"), "report this as a bug"))?
        .https_or_http()
        .enable_all_versions()
        .wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new()).build(https))
}

/// What the transport saw: every attempt, including the ones the layers
/// resent, and the answers the layers absorbed.
#[derive(Debug, Default)]
pub struct Counters {
    pub attempts: AtomicU64,
    pub too_many_requests: AtomicU64,
    pub server_errors: AtomicU64,
    pub transport_errors: AtomicU64,
    /// When the first and the last answer came.
    span: std::sync::Mutex<Option<(Instant, Instant)>>,
}

impl Counters {
    fn record(&self, status: Option<http::StatusCode>) {
        self.attempts.fetch_add(1, Ordering::Relaxed);
        match status {
            Some(status) if status == 429 => {
                self.too_many_requests.fetch_add(1, Ordering::Relaxed);
            }
            Some(status) if status.is_server_error() => {
                self.server_errors.fetch_add(1, Ordering::Relaxed);
            }
            Some(_) => {}
            None => {
                self.transport_errors.fetch_add(1, Ordering::Relaxed);
            }
        }
        let now = Instant::now();
        let mut span = self.span.lock().unwrap_or_else(|e| e.into_inner());
        *span = Some(span.map_or((now, now), |(first, _)| (first, now)));
    }

    /// Requests a second between the first answer and the last: the pace
    /// the server saw (a run of n requests spans n - 1 intervals).
    pub fn rate(&self) -> Option<f64> {
        let span = *self.span.lock().unwrap_or_else(|e| e.into_inner());
        let (first, last) = span?;
        let seconds = (last - first).as_secs_f64();
        (seconds > 0.0).then(|| (self.attempts() - 1) as f64 / seconds)
    }

    pub fn attempts(&self) -> u64 {
        self.attempts.load(Ordering::Relaxed)
    }
    pub fn too_many_requests(&self) -> u64 {
        self.too_many_requests.load(Ordering::Relaxed)
    }
    pub fn server_errors(&self) -> u64 {
        self.server_errors.load(Ordering::Relaxed)
    }
    pub fn transport_errors(&self) -> u64 {
        self.transport_errors.load(Ordering::Relaxed)
    }
    /// Attempts that were resends: every 429, 5xx and transport error that
    /// the layers absorbed was followed by one.
    pub fn retries(&self) -> u64 {
        self.too_many_requests() + self.server_errors() + self.transport_errors()
    }
}

/// A typed client whose transport counts what it sees, below the layers.
pub fn counting_client(
    backend: &Backend,
    builder: TogetherBuilder,
    args: &Args,
) -> Result<(Together, Arc<Counters>), Failure> {
    use tower::ServiceExt;

    let counters = Arc::new(Counters::default());
    let seen = counters.clone();
    let transport = https_client()?.map_result(
        move |result: Result<http::Response<_>, hyper_util::client::legacy::Error>| {
            seen.record(result.as_ref().ok().map(|response| response.status()));
            result
        },
    );
    let client = backend
        .configure(builder, args)
        .build_with_transport(transport)?;
    Ok((client, counters))
}

/// Checks that `model` is in the catalogue (`GET /models`) before a long job
/// starts, so a typo fails in a second, not after an upload and a queue.
pub async fn check_model(client: &Together, model: &str) -> Result<(), Failure> {
    let ids: Vec<String> = client.models().await?.into_iter().map(|m| m.id).collect();
    if ids.iter().any(|id| id == model) {
        return Ok(());
    }
    let short = |id: &str| id.rsplit('/').next().unwrap_or(id).to_ascii_lowercase();
    let wanted = short(model);
    let mut scored: Vec<(usize, &String)> = ids
        .iter()
        .map(|id| (edit_distance(&wanted, &short(id)), id))
        .collect();
    scored.sort();
    let closest: Vec<&str> = scored.iter().take(3).map(|(_, id)| id.as_str()).collect();
    Err(Failure::new(
        format!("unknown model {model}"),
        format!("did you mean {}? pass it with --model", closest.join(", ")),
    ))
}

/// Levenshtein distance, by characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != cb));
            diagonal = above;
        }
    }
    row[b.len()]
}
