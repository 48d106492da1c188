//! CPU spent while requests wait: 50 busy scopes at 10 requests a second
//! each, 10 000 requests in all (200 per scope, about 20 s of wall time per
//! limiter), on 2 worker threads. Ours (one layer, a scope per model)
//! against governor (a direct limiter per scope, `until_ready`) and tower's
//! `RateLimit` (a service per scope), in the same run.
//!
//! Reports process CPU seconds (every thread, `CLOCK_PROCESS_CPUTIME_ID`) per 10 000
//! paced requests, wall time and the achieved rate. `cargo bench -p
//! tower-together-bench --bench cpu_wait` runs it; `-- --test` (the CI smoke
//! pass) runs a short version (10 requests per scope). `CPU_WAIT_ROUND=k`
//! rotates the order of the three.

use std::future::Future;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tower::{Layer, Service, ServiceExt};
use tower_together::extensions::Model;
use tower_together::{Quota, RateLimitLayer};
use tower_together_bench::{http_noop, unit_noop};

const SCOPES: usize = 50;
const RATE: u32 = 10;

/// CPU time of the whole process (every thread), to the nanosecond:
/// `getrusage` counts in scheduler ticks, too coarse for 30 ms totals.
fn cpu_seconds() -> f64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes the struct we hand it.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut now) };
    now.tv_sec as f64 + now.tv_nsec as f64 / 1e9
}

/// A limiter's name and its run.
type Run = (&'static str, fn(usize));

struct Report {
    cpu: f64,
    wall: Duration,
    requests: usize,
}

/// Runs one task per scope, `task(scope, per_scope)`, which sends
/// `per_scope` requests one after the other.
fn run<F, Fut>(per_scope: usize, task: F) -> Report
where
    F: Fn(usize, usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let task = Arc::new(task);
    let cpu = cpu_seconds();
    let start = Instant::now();
    runtime.block_on(async {
        let tasks: Vec<_> = (0..SCOPES)
            .map(|scope| tokio::spawn(task(scope, per_scope)))
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
    });
    let wall = start.elapsed();
    let cpu = cpu_seconds() - cpu;
    drop(runtime);
    Report {
        cpu,
        wall,
        requests: SCOPES * per_scope,
    }
}

fn print(name: &str, report: &Report) {
    let per_10k = report.cpu * 10_000.0 / report.requests as f64;
    println!(
        "{name:<40} cpu {:>7.3} s per 10 000  wall {:>6.2} s  rate {:>7.1}/s",
        per_10k,
        report.wall.as_secs_f64(),
        report.requests as f64 / report.wall.as_secs_f64(),
    );
}

/// Whether to run the limiter named `name` (`CPU_WAIT_ONLY=ours|governor|tower`
/// runs one alone, e.g. under a profiler).
fn wanted(name: &str) -> bool {
    std::env::var("CPU_WAIT_ONLY").map_or(true, |only| only == name)
}

fn main() {
    let smoke = std::env::args().any(|a| a == "--test");
    let per_scope = if smoke { 10 } else { 200 };
    println!("cpu_wait: {SCOPES} scopes x {RATE}/s, burst 1, {per_scope} requests each, 2 workers");

    // The order rotates with CPU_WAIT_ROUND, so no limiter always pays for
    // the process's first run (thread pools, allocator arenas).
    let round: usize = std::env::var("CPU_WAIT_ROUND")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(0);
    let runs: [Run; 3] = [("ours", ours), ("governor", governor), ("tower", tower)];
    for i in 0..runs.len() {
        let (name, run) = runs[(i + round) % runs.len()];
        if wanted(name) {
            run(per_scope);
        }
    }
}

fn ours(per_scope: usize) {
    let layer = RateLimitLayer::new(Quota::per_second(RATE).burst(1));
    let ours = layer.layer(http_noop());
    let models: Arc<Vec<Model>> =
        Arc::new((0..SCOPES).map(|i| Model::new(format!("m{i}"))).collect());
    // Parsed once: what is measured is the wait, not URI parsing.
    let uri: http::Uri = "https://api.together.ai/v1/chat/completions"
        .parse()
        .unwrap();
    let report = run(per_scope, move |scope, n| {
        let service = ours.clone();
        let model = models[scope].clone();
        let uri = uri.clone();
        async move {
            for _ in 0..n {
                let mut request = http::Request::new(());
                *request.method_mut() = http::Method::POST;
                *request.uri_mut() = uri.clone();
                request.extensions_mut().insert(model.clone());
                service.clone().oneshot(request).await.unwrap();
            }
        }
    });
    print("tower-together RateLimit (50 scopes)", &report);
}

fn governor(per_scope: usize) {
    let quota = governor::Quota::per_second(NonZeroU32::new(RATE).unwrap())
        .allow_burst(NonZeroU32::new(1).unwrap());
    let limiters: Arc<Vec<_>> = Arc::new(
        (0..SCOPES)
            .map(|_| governor::RateLimiter::direct(quota))
            .collect(),
    );
    let report = run(per_scope, move |scope, n| {
        let limiters = limiters.clone();
        async move {
            for _ in 0..n {
                limiters[scope].until_ready().await;
            }
        }
    });
    print("governor until_ready (50 limiters)", &report);
}

fn tower(per_scope: usize) {
    let report = run(per_scope, |_scope, n| async move {
        // tower's RateLimit is not shared: one service per scope, made in
        // the runtime (it reads tokio's clock).
        let mut service =
            tower::limit::RateLimitLayer::new(1, Duration::from_millis(100)).layer(unit_noop());
        for _ in 0..n {
            service.ready().await.unwrap().call(()).await.unwrap();
        }
    });
    print("tower RateLimit (50 services)", &report);
}
