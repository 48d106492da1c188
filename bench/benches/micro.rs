//! Cost per request: ours against tower's `RateLimit`, `Buffer(RateLimit)`
//! and governor, measured in the same run.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use futures_util::FutureExt;
use tower::{Layer, Service, ServiceBuilder, ServiceExt};
use tower_together::extensions::Model;
use tower_together::{BackoffLayer, RetryAfterLayer};
use tower_together_bench::*;

fn runtime(workers: usize) -> tokio::runtime::Runtime {
    if workers == 0 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_all()
            .build()
            .unwrap()
    }
}

/// Polls a future that is ready at once (every limiter here never binds).
fn now<F: std::future::Future>(future: F) -> F::Output {
    future
        .now_or_never()
        .expect("a non-binding limiter answered at once")
}

fn scoped_request() -> Req {
    let mut request = http::Request::post("https://api.together.ai/v1/chat/completions")
        .header(
            "authorization",
            "Bearer bench-key-0123456789abcdef0123456789abcdef",
        )
        .body(())
        .unwrap();
    request
        .extensions_mut()
        .insert(Model::new("meta-llama/Llama-3.3-70B-Instruct-Turbo"));
    request
}

fn uncontended(c: &mut Criterion) {
    let rt = runtime(0);
    let _guard = rt.enter();
    let mut group = c.benchmark_group("uncontended");

    let mut bare = http_noop();
    group.bench_function("bare service ready+call", |b| {
        b.iter(|| now(now(bare.ready()).unwrap().call(http::Request::new(()))))
    });

    let mut ours = our_layer(Profile::Huge).layer(http_noop());
    group.bench_function("tower-together RateLimit ready+call", |b| {
        b.iter(|| now(now(ours.ready()).unwrap().call(http::Request::new(()))))
    });

    let mut tower_rl = tower_layer(Profile::Huge).layer(unit_noop());
    group.bench_function("tower RateLimit ready+call (unshared)", |b| {
        b.iter(|| now(now(tower_rl.ready()).unwrap().call(())))
    });

    let gov = governor(Profile::Huge);
    group.bench_function("governor until_ready", |b| {
        b.iter(|| now(gov.until_ready()))
    });

    let leaky_bucket = {
        let _guard = rt.enter();
        leaky(Profile::Huge)
    };
    group.bench_function("leaky-bucket acquire_one", |b| {
        b.iter(|| now(leaky_bucket.acquire_one()))
    });

    // A request as the typed client sends it: scope looked up from key,
    // endpoint and model on every request. Building and dropping it (header
    // and extension allocations) happen outside the timed section: the inner
    // service hands it back and criterion drops outputs after timing.
    let mut bare = http_give_back();
    group.bench_function("bare service, scoped request", |b| {
        b.iter_batched(
            scoped_request,
            |request| now(now(bare.ready()).unwrap().call(request)),
            BatchSize::SmallInput,
        )
    });
    let mut ours = our_layer(Profile::Huge).layer(http_give_back());
    group.bench_function("tower-together RateLimit, scoped request", |b| {
        b.iter_batched(
            scoped_request,
            |request| now(now(ours.ready()).unwrap().call(request)),
            BatchSize::SmallInput,
        )
    });

    // The three layers stacked, nothing throttling, against the bare service.
    let mut stack = ServiceBuilder::new()
        .layer(BackoffLayer::new())
        .layer(RetryAfterLayer::new())
        .layer(our_layer(Profile::Huge))
        .service(http_give_back());
    group.bench_function("three layers stacked, scoped request", |b| {
        b.iter_batched(
            scoped_request,
            |request| now(now(stack.ready()).unwrap().call(request)),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

const WORKERS: usize = 2;
const TASKS_PER_WORKER: usize = 64;

/// `iters` acquires spread over 2 × 64 tasks, each yielding every 64
/// acquires (the anchor harness's shape), timed until every task is joined.
/// `task(n)` is one task doing `n` acquires.
fn contended_run<F, Fut>(rt: &tokio::runtime::Runtime, iters: u64, task: F) -> Duration
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let tasks = WORKERS * TASKS_PER_WORKER;
    let per_task = (iters as usize).div_ceil(tasks).max(1);
    let futures: Vec<_> = (0..tasks).map(|_| task(per_task)).collect();
    rt.block_on(async {
        let start = Instant::now();
        let joins: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
        for join in joins {
            join.await.unwrap();
        }
        start.elapsed()
    })
}

/// Yield every 64 acquires, so all tasks interleave.
async fn pace(i: usize) {
    if i % 64 == 63 {
        tokio::task::yield_now().await;
    }
}

fn contended(c: &mut Criterion) {
    let rt = runtime(WORKERS);
    let mut group = c.benchmark_group("contended 2x64 tasks");
    group.measurement_time(Duration::from_secs(4));

    let service = {
        let _guard = rt.enter();
        our_layer(Profile::Huge).layer(http_noop())
    };
    group.bench_function("tower-together RateLimit", |b| {
        b.iter_custom(|iters| {
            contended_run(&rt, iters, |n| {
                let mut service = service.clone();
                async move {
                    for i in 0..n {
                        let ready = service.ready().await.unwrap();
                        black_box(ready.call(http::Request::new(())).await.unwrap());
                        pace(i).await;
                    }
                }
            })
        })
    });

    let gov = Arc::new(governor(Profile::Huge));
    group.bench_function("governor until_ready", |b| {
        b.iter_custom(|iters| {
            contended_run(&rt, iters, |n| {
                let gov = gov.clone();
                async move {
                    for i in 0..n {
                        gov.until_ready().await;
                        pace(i).await;
                    }
                }
            })
        })
    });

    let leaky_bucket = {
        let _guard = rt.enter();
        Arc::new(leaky(Profile::Huge))
    };
    group.bench_function("leaky-bucket acquire_one", |b| {
        b.iter_custom(|iters| {
            contended_run(&rt, iters, |n| {
                let leaky_bucket = leaky_bucket.clone();
                async move {
                    for i in 0..n {
                        leaky_bucket.acquire_one().await;
                        pace(i).await;
                    }
                }
            })
        })
    });

    let buffer = {
        let _guard = rt.enter();
        tower::buffer::Buffer::new(tower_layer(Profile::Huge).layer(unit_noop()), 1024)
    };
    group.bench_function("tower Buffer(RateLimit)", |b| {
        b.iter_custom(|iters| {
            contended_run(&rt, iters, |n| {
                let mut buffer = buffer.clone();
                async move {
                    for i in 0..n {
                        buffer.ready().await.unwrap().call(()).await.unwrap();
                        pace(i).await;
                    }
                }
            })
        })
    });
    group.finish();
}

criterion_group!(benches, uncontended, contended);
criterion_main!(benches);
