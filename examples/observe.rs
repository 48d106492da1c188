//! See the stack survive an outage: a steady workload against the embedded
//! simulator, one model down for a minute in the middle, then the metrics
//! in Prometheus's text format (the limiter's gauges published every 15 s,
//! as an exporter's scrape would) and what the breaker and the budget did.
//!
//! Runs on tokio's paused clock, so the four virtual minutes take about a
//! second. `cargo run --example observe [-- --calls-per-second N]`.

use std::time::Duration;

use metrics_exporter_prometheus::PrometheusBuilder;
use tower_together::circuit_breaker::CircuitBreakerLayer;
use tower_together::sim::{Fault, Limits, OutageKind, Simulator};
use tower_together::{ChatRequest, Message, Quota, RateLimitLayer, RetryBudget, Together};

const MODEL: &str = "meta-llama/Llama-3.3-70B-Instruct-Turbo";
const KEY: &str = "sim-key";

fn main() {
    if let Err(error) = run() {
        eprintln!("error: {error}");
        std::process::exit(1);
    }
}

fn calls_per_second() -> Result<u32, String> {
    let mut args = std::env::args().skip(1);
    let mut rate = 2;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--calls-per-second" => {
                let value = args.next().ok_or("--calls-per-second needs a value")?;
                rate = value
                    .parse::<u32>()
                    .ok()
                    .filter(|n| (1..=10).contains(n))
                    .ok_or_else(|| format!("--calls-per-second must be 1 to 10, not {value:?}"))?;
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(rate)
}

fn run() -> Result<(), String> {
    let rate = calls_per_second()?;
    let prometheus = PrometheusBuilder::new()
        .install_recorder()
        .map_err(|e| format!("cannot install the metrics recorder: {e}"))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async move {
        let minute = Duration::from_secs(60);
        let sim = Simulator::builder()
            .api_key(KEY)
            .limits(Limits::per_second(10))
            .outage(Fault::outage(MODEL, minute, minute, OutageKind::Overloaded))
            .service();
        let limiter = RateLimitLayer::new(Quota::per_second(10));
        // The limiter's gauges (live rate, waiters, pause) are set from a
        // snapshot, not by requests: publish them on the scrape interval.
        let publisher = tokio::spawn({
            let limiter = limiter.clone();
            async move {
                let mut every = tokio::time::interval(Duration::from_secs(15));
                loop {
                    every.tick().await;
                    limiter.publish_metrics();
                }
            }
        });
        let breaker = CircuitBreakerLayer::new();
        let budget = RetryBudget::new();
        let client = Together::builder()
            .api_key(KEY)
            .base_url("http://sim.test/v1")
            .rate_limit(limiter.clone())
            .circuit_breaker(breaker.clone())
            .retry_budget(budget.clone())
            .build_with_transport(sim.clone())
            .map_err(|e| e.to_string())?;

        let start = tokio::time::Instant::now();
        let calls = rate * 180;
        let every = Duration::from_secs(1) / rate;
        let mut tasks = Vec::new();
        for i in 0..calls {
            tokio::time::sleep_until(start + every * i).await;
            let client = client.clone();
            tasks.push(tokio::spawn(async move {
                let request = ChatRequest::new(MODEL, vec![Message::user("hi")]).max_tokens(8);
                client.chat(request).await.is_ok()
            }));
        }
        let mut succeeded = 0;
        for task in tasks {
            if task.await.map_err(|e| e.to_string())? {
                succeeded += 1;
            }
        }
        let stats = sim.stats();
        let sent_during = stats
            .requests()
            .iter()
            .filter(|r| r.arrival >= start + minute && r.arrival < start + 2 * minute)
            .count();

        publisher.abort();
        limiter.publish_metrics();
        println!("{}", prometheus.render());
        println!("# summary");
        println!(
            "# {calls} calls at {rate}/s over {:?} (virtual); {succeeded} succeeded",
            start.elapsed()
        );
        println!(
            "# during the 60 s outage: {sent_during} requests sent (a client without retries: {})",
            rate * 60
        );
        println!(
            "# circuit breaker: opened {} time(s); retry budget: {} resend(s) refused",
            breaker.times_opened(),
            budget.exhausted()
        );
        Ok(())
    })
}
