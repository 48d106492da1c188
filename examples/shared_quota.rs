//! Many processes, one quota: N worker processes send a workload with one
//! API key through one Redis, and the server never sees more than the quota.
//!
//! ```text
//! cargo run --example shared_quota --features redis -- --workers 4 --requests 200 --rps 20
//! ```
//!
//! Flags: `--redis URL` (default: a private `redis-server`, if installed),
//! `--base-url URL` (with `/v1`, as `https://api.together.xyz/v1`) and
//! `--key KEY` (default: the embedded simulator, with
//! its limit set to `--rps`; the key can also come from TOGETHER_API_KEY),
//! `--workers N` (4), `--requests M` (200, split between the workers),
//! `--rps R` (20: the quota, requests a second with a burst of R), `--model
//! ID`, and `--memory` (each worker paces alone, in memory: the comparison
//! that shows what Redis is for). The parent re-runs this program with a hidden `--worker` flag for
//! each worker, waits for them, and prints a summary ending with `requests
//! M`, `429s K` (as the server counted them, when it is the simulator) and
//! `elapsed S s`. It exits non-zero if any request failed.

mod common;

use std::net::TcpListener;
use std::process::{ExitCode, Stdio};
use std::time::Duration;

use bytes::Bytes;
use common::{exit, Failure, CHAT_MODEL, SIM_KEY};
use http::{Request, StatusCode};
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::time::Instant;
use tower::{ServiceBuilder, ServiceExt};
use tower_together::extensions::Model;
use tower_together::rate_limit::store::RedisStore;
use tower_together::rate_limit::RateLimitBuilder;
use tower_together::sim::{Limits, Simulator};
use tower_together::{Quota, RetryAfterLayer};

#[derive(Debug)]
struct Flags {
    worker: bool,
    /// Each worker its own in-process limiter: the comparison.
    memory: bool,
    redis: Option<String>,
    base_url: Option<String>,
    key: Option<String>,
    workers: u32,
    requests: usize,
    rps: u32,
    model: String,
}

fn flags() -> Result<Flags, Failure> {
    let mut flags = Flags {
        worker: false,
        memory: false,
        redis: None,
        base_url: None,
        key: std::env::var("TOGETHER_API_KEY").ok(),
        workers: 4,
        requests: 200,
        rps: 20,
        model: CHAT_MODEL.to_owned(),
    };
    let mut args = std::env::args().skip(1);
    let usage = "usage: shared_quota [--memory] [--redis URL] [--base-url URL] [--key KEY] [--workers N] [--requests M] [--rps R] [--model ID]";
    while let Some(flag) = args.next() {
        if flag == "--worker" || flag == "--memory" {
            flags.worker |= flag == "--worker";
            flags.memory |= flag == "--memory";
            continue;
        }
        let value = args
            .next()
            .ok_or_else(|| Failure::new(format!("{flag} needs a value"), usage))?;
        let number = |what: &str| -> Result<u64, Failure> {
            value
                .parse::<u64>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| Failure::new(format!("{what} must be a positive number"), usage))
        };
        match flag.as_str() {
            "--redis" => flags.redis = Some(value),
            "--base-url" => flags.base_url = Some(value),
            "--key" => flags.key = Some(value),
            "--workers" => flags.workers = number("--workers")?.min(1_000) as u32,
            "--requests" => flags.requests = number("--requests")? as usize,
            "--rps" => flags.rps = number("--rps")?.min(1_000_000) as u32,
            "--model" => flags.model = value,
            other => return Err(Failure::new(format!("unknown flag {other}"), usage)),
        }
    }
    Ok(flags)
}

#[tokio::main]
async fn main() -> ExitCode {
    let outcome = match flags() {
        Ok(flags) if flags.worker => worker(flags).await,
        Ok(flags) => parent(flags).await,
        Err(failure) => Err(failure),
    };
    exit(outcome)
}

/// One worker: its share of the workload, through its own limiter whose
/// state lives in Redis. Prints `done OK FAILED LIMITED`.
async fn worker(flags: Flags) -> Result<(), Failure> {
    let (Some(redis), Some(base_url), Some(key)) = (flags.redis, flags.base_url, flags.key) else {
        return Err(Failure::new(
            "a worker needs --redis, --base-url and a key",
            "run without --worker",
        ));
    };
    let store = RedisStore::new(&redis)
        .map_err(|e| Failure::new(format!("bad Redis URL: {e}"), "check --redis"))?
        .workers(flags.workers);
    let builder = RateLimitBuilder::new(Quota::per_second(flags.rps).burst(flags.rps));
    let limiter = match flags.memory {
        true => builder.build(),
        false => builder.store(store).build(),
    };
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let service = ServiceBuilder::new()
        .layer(RetryAfterLayer::new())
        .layer(limiter)
        .service(client);
    let body = format!(
        r#"{{"model":"{}","messages":[{{"role":"user","content":"hi"}}],"max_tokens":8}}"#,
        flags.model
    );
    let url = format!("{}/chat/completions", base_url.trim_end_matches('/'));
    let sends = (0..flags.requests).map(|_| {
        let request = Request::post(&url)
            .header("authorization", format!("Bearer {key}"))
            .header("content-type", "application/json")
            .extension(Model::new(flags.model.as_str()))
            .body(Full::new(Bytes::from(body.clone())));
        let service = service.clone();
        async move {
            let request = request.ok()?;
            let response = service.oneshot(request).await.ok()?;
            Some(response.status())
        }
    });
    let answers = futures_util::future::join_all(sends).await;
    let ok = answers
        .iter()
        .filter(|s| **s == Some(StatusCode::OK))
        .count();
    let limited = answers
        .iter()
        .filter(|s| **s == Some(StatusCode::TOO_MANY_REQUESTS))
        .count();
    // For the parent: ok, failed, answered 429 after every retry.
    println!("done {ok} {} {limited}", answers.len() - ok);
    Ok(())
}

/// A private `redis-server` on a free loopback port, killed on drop.
struct PrivateRedis {
    // Held only to be killed on drop.
    _server: Child,
}

impl PrivateRedis {
    async fn start() -> Result<(PrivateRedis, String), Failure> {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| Failure::new(format!("no free port: {e}"), "pass --redis URL"))?
            .port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|_| {
                Failure::new(
                    "redis-server is not installed",
                    "apt-get install -y redis-server, or pass --redis URL",
                )
            })?;
        let url = format!("redis://127.0.0.1:{port}/");
        let client = redis::Client::open(url.as_str())
            .map_err(|e| Failure::new(e.to_string(), "pass --redis URL"))?;
        for _ in 0..200 {
            if let Ok(mut connection) = client.get_multiplexed_async_connection().await {
                let pong: redis::RedisResult<String> =
                    redis::cmd("PING").query_async(&mut connection).await;
                if pong.is_ok() {
                    return Ok((PrivateRedis { _server: child }, url));
                }
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        Err(Failure::new(
            "redis-server did not start",
            "pass --redis URL",
        ))
    }
}

async fn parent(flags: Flags) -> Result<(), Failure> {
    let (_private, redis) = match flags.redis.clone() {
        Some(url) => (None, url),
        None => {
            let (private, url) = PrivateRedis::start().await?;
            (Some(private), url)
        }
    };
    let simulator = match &flags.base_url {
        Some(_) => None,
        None => Some(
            Simulator::builder()
                .limits(Limits::per_second(flags.rps).burst(flags.rps))
                .start()
                .await
                .map_err(|e| {
                    Failure::new(
                        format!("the simulator did not start: {e}"),
                        "pass --base-url",
                    )
                })?,
        ),
    };
    let base_url = match (&flags.base_url, &simulator) {
        (Some(url), _) => url.clone(),
        (None, Some(sim)) => sim.base_url(),
        (None, None) => unreachable!("a simulator is started when no --base-url is given"),
    };
    let key = match (&flags.key, &simulator) {
        (_, Some(_)) => SIM_KEY.to_owned(),
        (Some(key), None) => key.clone(),
        (None, None) => {
            return Err(Failure::new(
                "no API key",
                "pass --key or set TOGETHER_API_KEY",
            ))
        }
    };
    let program = std::env::current_exe().map_err(|e| {
        Failure::new(
            format!("cannot re-run myself: {e}"),
            "run the example binary directly",
        )
    })?;
    let start = Instant::now();
    let mut children = Vec::new();
    for n in 0..flags.workers as usize {
        let workers = flags.workers as usize;
        let share = flags.requests / workers + usize::from(n < flags.requests % workers);
        let child = Command::new(&program)
            .arg("--worker")
            .args(flags.memory.then_some("--memory"))
            .args([
                "--redis",
                &redis,
                "--base-url",
                &base_url,
                "--model",
                &flags.model,
            ])
            .args(["--workers", &flags.workers.to_string()])
            .args([
                "--requests",
                &share.to_string(),
                "--rps",
                &flags.rps.to_string(),
            ])
            // The key goes by the environment, not the command line, which
            // other users of the machine can read.
            .env("TOGETHER_API_KEY", &key)
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                Failure::new(
                    format!("cannot start a worker: {e}"),
                    "check the machine's process limit",
                )
            })?;
        children.push(child);
    }
    let (mut ok, mut failed, mut seen_429) = (0, 0, 0);
    for (n, mut child) in children.into_iter().enumerate() {
        let mut line = String::new();
        if let Some(stdout) = child.stdout.take() {
            let _ = BufReader::new(stdout).read_line(&mut line).await;
        }
        let status = child
            .wait()
            .await
            .map_err(|e| Failure::new(e.to_string(), "try again"))?;
        let numbers: Vec<usize> = line
            .split_whitespace()
            .filter_map(|w| w.parse().ok())
            .collect();
        match (status.success(), numbers.as_slice()) {
            (true, [o, f, l]) => {
                println!("worker {n}: {o} ok, {f} failed, {l} answered 429 after every retry");
                ok += o;
                failed += f;
                seen_429 += l;
            }
            _ => {
                println!("worker {n}: exited with {status}");
                failed += flags.requests / flags.workers as usize;
            }
        }
    }
    let elapsed = start.elapsed();
    let server_429s = simulator.as_ref().map(|sim| sim.stats().rate_limited());
    println!("ok {ok}");
    println!("failed {failed}");
    println!("requests {}", flags.requests);
    if let Some(sim) = &simulator {
        let window =
            sim.stats()
                .max_admitted_in_window(SIM_KEY, &flags.model, Duration::from_secs(1));
        println!("max admitted in 1 s {window}");
    }
    match server_429s {
        Some(count) => println!("429s {count}"),
        // Another server: only the 429s that survived the retries are known.
        None => println!("429s {seen_429}"),
    }
    println!("elapsed {:.2} s", elapsed.as_secs_f64());
    if let Some(sim) = simulator {
        sim.shutdown().await;
    }
    if failed > 0 || ok != flags.requests {
        return Err(Failure::new(
            format!("{failed} requests failed"),
            "see the workers' lines above",
        ));
    }
    Ok(())
}
