//! Cost per request: ours against tower's `RateLimit`, `Buffer(RateLimit)`
//! and governor, measured in the same run.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use futures_util::FutureExt;
use tower::{Layer, Service, ServiceBuilder, ServiceExt};
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

    // Like for like (issue 19): tower's limiter over the same HTTP service
    // and request as ours, so each limiter's cost is read as what it adds
    // over "bare service ready+call".
    let mut tower_http = tower_layer(Profile::Huge).layer(http_noop());
    group.bench_function(
        "tower RateLimit over the same HTTP service ready+call",
        |b| {
            b.iter(|| {
                now(now(tower_http.ready())
                    .unwrap()
                    .call(http::Request::new(())))
            })
        },
    );

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
    let mut tower_scoped = tower_layer(Profile::Huge).layer(http_give_back());
    group.bench_function(
        "tower RateLimit over the same HTTP service, scoped request",
        |b| {
            b.iter_batched(
                scoped_request,
                |request| now(now(tower_scoped.ready()).unwrap().call(request)),
                BatchSize::SmallInput,
            )
        },
    );
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

/// `iters` scoped requests through `service`, in chunks: the requests of a
/// chunk are built before its timed section and the answers dropped after
/// it (as `iter_batched` does), and `between` runs untimed after each
/// chunk.
fn chunked<S>(service: &mut S, iters: u64, between: &dyn Fn()) -> Duration
where
    S: Service<Req, Response = http::Response<Req>>,
    S::Error: std::fmt::Debug,
{
    const CHUNK: u64 = 4096;
    let mut timed = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let n = left.min(CHUNK);
        let requests: Vec<Req> = (0..n).map(|_| scoped_request()).collect();
        let mut answers = Vec::with_capacity(requests.len());
        let start = Instant::now();
        for request in requests {
            answers.push(now(now(service.ready()).unwrap().call(request)));
        }
        timed += start.elapsed();
        black_box(&answers);
        drop(answers);
        between();
        left -= n;
    }
    timed
}

/// The cost of metrics per request (issue 10: within 1.2 ×). Two stacks:
/// the three layers, and the three with the attempt span just above the
/// limiter, as the typed client stacks it (it records a counter and a
/// histogram per attempt; the three layers record only on a wait or a
/// resend). "no recorder" runs in every build; with this package's
/// `metrics` feature (the main crate's feature on) each stack also runs
/// with a real recorder (Prometheus's, no HTTP listener, its histograms
/// drained between chunks as its upkeep task would), in the same run:
/// `cargo bench -p tower-together-bench --bench micro --features metrics
/// -- "metrics overhead"` (and `METRICS_PAIRED=<rounds>` for the paired
/// figure, see `paired`). Without the feature, "no recorder" is the cost
/// with the metrics compiled out.
fn metrics_overhead(c: &mut Criterion) {
    use tower_together::telemetry::AttemptSpanLayer;

    let rt = runtime(0);
    let _guard = rt.enter();
    #[cfg(feature = "metrics")]
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    #[cfg(feature = "metrics")]
    let handle = recorder.handle();
    #[cfg(feature = "metrics")]
    let upkeep = || handle.run_upkeep();
    let nothing = || {};
    let mut group = c.benchmark_group("metrics overhead");

    let mut three = ServiceBuilder::new()
        .layer(BackoffLayer::new())
        .layer(RetryAfterLayer::new())
        .layer(our_layer(Profile::Huge))
        .service(http_give_back());
    group.bench_function("three layers, no recorder", |b| {
        b.iter_custom(|iters| chunked(&mut three, iters, &nothing))
    });
    #[cfg(feature = "metrics")]
    group.bench_function("three layers, prometheus recorder", |b| {
        b.iter_custom(|iters| {
            metrics::with_local_recorder(&recorder, || chunked(&mut three, iters, &upkeep))
        })
    });

    let mut spanned = ServiceBuilder::new()
        .layer(BackoffLayer::new())
        .layer(RetryAfterLayer::new())
        .layer(AttemptSpanLayer::new())
        .layer(our_layer(Profile::Huge))
        .service(http_give_back());
    group.bench_function("three layers + attempt span, no recorder", |b| {
        b.iter_custom(|iters| chunked(&mut spanned, iters, &nothing))
    });
    #[cfg(feature = "metrics")]
    group.bench_function("three layers + attempt span, prometheus recorder", |b| {
        b.iter_custom(|iters| {
            metrics::with_local_recorder(&recorder, || chunked(&mut spanned, iters, &upkeep))
        })
    });
    group.finish();

    #[cfg(feature = "metrics")]
    if let Some(rounds) = std::env::var("METRICS_PAIRED")
        .ok()
        .and_then(|r| r.parse().ok())
    {
        paired(&mut three, "three layers", rounds, &recorder, &upkeep);
        paired(
            &mut spanned,
            "three layers + attempt span",
            rounds,
            &recorder,
            &upkeep,
        );
    }
}

/// On a shared machine the load drifts between criterion's cases (tens of
/// seconds apart) by more than the effect measured here. So, with
/// `METRICS_PAIRED=<rounds>` set: `rounds` pairs of 4096-request chunks,
/// one without the recorder and one with it, back to back (which goes
/// first alternates), and the median and quartiles of the per-pair
/// ratios.
#[cfg(feature = "metrics")]
fn paired<S>(
    service: &mut S,
    name: &str,
    rounds: usize,
    recorder: &metrics_exporter_prometheus::PrometheusRecorder,
    upkeep: &dyn Fn(),
) where
    S: Service<Req, Response = http::Response<Req>>,
    S::Error: std::fmt::Debug,
{
    const CHUNK: u64 = 4096;
    let none = |service: &mut S| chunked(service, CHUNK, &|| {});
    let with = |service: &mut S| {
        metrics::with_local_recorder(recorder, || chunked(service, CHUNK, upkeep))
    };
    let (mut ratios, mut without_ns, mut with_ns) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        let (a, b) = if round % 2 == 0 {
            let a = none(service);
            (a, with(service))
        } else {
            let b = with(service);
            (none(service), b)
        };
        without_ns.push(a.as_nanos() as f64 / CHUNK as f64);
        with_ns.push(b.as_nanos() as f64 / CHUNK as f64);
        ratios.push(b.as_secs_f64() / a.as_secs_f64());
    }
    let quartiles = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
        (at(0.25), at(0.5), at(0.75))
    };
    let (r1, r2, r3) = quartiles(&mut ratios);
    let (_, a, _) = quartiles(&mut without_ns);
    let (_, b, _) = quartiles(&mut with_ns);
    println!(
        "paired {name}: {rounds} rounds; median ns/request {a:.0} without, {b:.0} with \
         the recorder; ratio median {r2:.3} (quartiles {r1:.3}-{r3:.3})"
    );
}

criterion_group!(benches, uncontended, contended, metrics_overhead);
criterion_main!(benches);
