//! A fixed loop of uncontended requests through one limiter, for
//! instruction counts: `valgrind --tool=callgrind
//! target/release/examples/profile_acquire CASE N`. Run it with two values
//! of N: the difference of the totals over the difference of N is the
//! instructions per request, start-up excluded.
//!
//! CASE: `bare`, `ours`, `tower`, `governor`, `scoped-bare`, `scoped-ours`,
//! `stack` (the micro bench's cases of the same names); `fifty-bare` and
//! `fifty-ours`: scoped requests taking turns over 50 models, so 50 scopes
//! in one layer (as in the `cpu_wait` bench), through the bare service and
//! through the limiter.

use futures_util::FutureExt;
use tower::{Layer, Service, ServiceBuilder, ServiceExt};
use tower_together::{BackoffLayer, RetryAfterLayer};
use tower_together_bench::*;

/// `n` requests from `make` through `service`, each ready at once.
fn drive<S>(mut service: S, n: u64, make: impl Fn() -> Req)
where
    S: Service<Req, Response = http::Response<()>>,
    S::Error: std::fmt::Debug,
{
    for _ in 0..n {
        let request = make();
        let ready = service.ready().now_or_never().unwrap().unwrap();
        let response = ready.call(request).now_or_never().unwrap();
        std::hint::black_box(response.unwrap());
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let case = args.next().unwrap_or_else(|| "ours".to_owned());
    let n: u64 = args.next().map_or(100_000, |n| n.parse().expect("N"));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _guard = rt.enter();
    let plain = || http::Request::new(());
    match case.as_str() {
        "bare" => drive(http_noop(), n, plain),
        "ours" => drive(our_layer(Profile::Huge).layer(http_noop()), n, plain),
        "tower" => {
            let mut service = tower_layer(Profile::Huge).layer(unit_noop());
            for _ in 0..n {
                let ready = service.ready().now_or_never().unwrap().unwrap();
                let response = ready.call(()).now_or_never().unwrap();
                std::hint::black_box(&response);
                response.unwrap();
            }
        }
        "governor" => {
            let limiter = governor(Profile::Huge);
            for _ in 0..n {
                limiter.until_ready().now_or_never().unwrap();
            }
        }
        "scoped-bare" => drive(http_noop(), n, scoped_request),
        "scoped-ours" => drive(
            our_layer(Profile::Huge).layer(http_noop()),
            n,
            scoped_request,
        ),
        "fifty-bare" | "fifty-ours" => {
            let models: Vec<_> = (0..50)
                .map(|i| tower_together::extensions::Model::new(format!("model-{i}")))
                .collect();
            let next = std::cell::Cell::new(0);
            let make = || {
                let mut request = scoped_request();
                let i = next.get();
                next.set((i + 1) % models.len());
                request.extensions_mut().insert(models[i].clone());
                request
            };
            if case == "fifty-bare" {
                drive(http_noop(), n, make)
            } else {
                drive(our_layer(Profile::Huge).layer(http_noop()), n, make)
            }
        }
        "stack" => {
            let service = ServiceBuilder::new()
                .layer(BackoffLayer::new())
                .layer(RetryAfterLayer::new())
                .layer(our_layer(Profile::Huge))
                .service(http_noop());
            drive(service, n, scoped_request)
        }
        other => panic!("unknown case {other}"),
    }
}
