//! Pacing accuracy in real time: 1 000/s, burst 1, 64 tasks hammering for
//! 3 s on 2 worker threads; ours against governor and tower Buffer(RateLimit).
//!
//! Reports utilization (grants / 3 000), the largest count in any sliding
//! 1 s window, and the per-task coefficient of variation (fairness).

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tower::{Layer, Service, ServiceExt};
use tower_together_bench::*;

const RATE: u64 = 1000;
const TASKS: usize = 64;

fn secs() -> u64 {
    std::env::var("ACCURACY_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3)
}

struct Report {
    total: usize,
    utilization: f64,
    max_1s: usize,
    cv: f64,
}

/// Runs `TASKS` tasks, each looping `acquire(task)` until the end, and
/// records every grant's time.
fn run<F, Fut>(rt: &tokio::runtime::Runtime, acquire: F) -> Report
where
    F: Fn() -> Box<dyn FnMut() -> Fut + Send> + Send,
    Fut: Future<Output = ()> + Send + 'static,
{
    let duration = Duration::from_secs(secs());
    let grants = Arc::new(Mutex::new(Vec::new()));
    let counts: Vec<u64> = rt.block_on(async {
        let start = Instant::now();
        let end = tokio::time::Instant::now() + duration;
        let tasks: Vec<_> = (0..TASKS)
            .map(|_| {
                let mut next = acquire();
                let grants = grants.clone();
                tokio::spawn(async move {
                    let mut mine = Vec::new();
                    while let Ok(()) = tokio::time::timeout_at(end, next()).await {
                        mine.push(start.elapsed().as_micros() as u64);
                    }
                    let count = mine.len() as u64;
                    grants.lock().unwrap().extend(mine);
                    count
                })
            })
            .collect();
        let mut counts = Vec::new();
        for task in tasks {
            counts.push(task.await.unwrap());
        }
        counts
    });
    let mut grants = grants.lock().unwrap().clone();
    grants.sort_unstable();
    let total = grants.len();
    Report {
        total,
        utilization: total as f64 / (RATE * secs()) as f64,
        max_1s: max_in_window(&grants, 1_000_000),
        cv: mean_cv(&counts).1,
    }
}

fn main() {
    // `cargo bench` passes `--bench`; a smoke pass (`-- --test`) keeps it short.
    if std::env::args().any(|a| a == "--test") {
        std::env::set_var("ACCURACY_SECS", "1");
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    println!(
        "accuracy: {RATE}/s, burst 1, {TASKS} tasks, {} s, 2 workers",
        secs()
    );
    println!(
        "{:<34} {:>6} {:>6} {:>10} {:>6}",
        "limiter", "total", "util", "max 1 s", "CV"
    );
    let print = |name: &str, r: Report| {
        println!(
            "{name:<34} {:>6} {:>6.3} {:>10} {:>6.3}",
            r.total, r.utilization, r.max_1s, r.cv
        )
    };

    let service = {
        let _guard = rt.enter();
        our_layer(Profile::Smooth).layer(http_noop())
    };
    print(
        "tower-together RateLimit",
        run(&rt, || {
            let service = service.clone();
            Box::new(move || {
                let call = service.clone().oneshot(http::Request::new(()));
                async move {
                    call.await.unwrap();
                }
            })
        }),
    );

    let gov = Arc::new(governor(Profile::Smooth));
    print(
        "governor until_ready",
        run(&rt, || {
            let gov = gov.clone();
            Box::new(move || {
                let gov = gov.clone();
                async move { gov.until_ready().await }
            })
        }),
    );

    let leaky_bucket = {
        let _guard = rt.enter();
        Arc::new(leaky(Profile::Smooth))
    };
    print(
        "leaky-bucket (1 per 1 ms)",
        run(&rt, || {
            let leaky_bucket = leaky_bucket.clone();
            Box::new(move || {
                let leaky_bucket = leaky_bucket.clone();
                async move { leaky_bucket.acquire_one().await }
            })
        }),
    );

    let buffer = {
        let _guard = rt.enter();
        tower::buffer::Buffer::new(tower_layer(Profile::Smooth).layer(unit_noop()), 1024)
    };
    print(
        "tower Buffer(RateLimit(1 per 1 ms))",
        run(&rt, || {
            let buffer = buffer.clone();
            Box::new(move || {
                let mut buffer = buffer.clone();
                async move {
                    buffer.ready().await.unwrap().call(()).await.unwrap();
                }
            })
        }),
    );
}
