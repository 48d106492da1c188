//! Heap allocations per request in the steady state, counted by a counting
//! global allocator: through the rate limiter alone, and through the 5xx
//! and 429 retry layers stacked on it (the typed client's order).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::convert::Infallible;
use std::future::Future;

use http::{Request, Response};
use tower::{service_fn, Layer, Service, ServiceBuilder, ServiceExt};
use tower_together::extensions::{ApiKeyFingerprint, AttemptBudget, Model};
use tower_together::{BackoffLayer, Quota, RateLimitLayer, RetryAfterLayer};

/// Counts allocations made on the thread that asks, so other threads (the
/// test harness) do not blur the figure.
struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

/// A request as the typed client sends it: path, model, key fingerprint.
fn request() -> Request<()> {
    let mut request = Request::post("https://api.together.ai/v1/chat/completions")
        .body(())
        .unwrap();
    request.extensions_mut().insert(Model::new("m/x"));
    request
        .extensions_mut()
        .insert(ApiKeyFingerprint::of_api_key("key"));
    request
}

fn ok() -> impl Service<
    Request<()>,
    Response = Response<()>,
    Error = Infallible,
    Future = impl Future<Output = Result<Response<()>, Infallible>> + Send,
> + Clone {
    service_fn(|_: Request<()>| async { Ok::<_, Infallible>(Response::new(())) })
}

/// Allocations made by the calls through `service`, one for each request
/// of `requests` (built outside the count), with `between` run before each
/// call (outside the count too).
async fn allocations_over<S>(
    service: &S,
    requests: impl IntoIterator<Item = Request<()>>,
    mut between: impl FnMut(),
) -> u64
where
    S: Service<Request<()>, Response = Response<()>> + Clone,
    S::Error: std::fmt::Debug,
{
    let mut counted = 0;
    for request in requests {
        between();
        let mut service = service.clone();
        let before = allocations();
        let response = service.ready().await.unwrap().call(request).await.unwrap();
        counted += allocations() - before;
        drop(response);
    }
    counted
}

/// Allocations per request over `n` requests after a warm-up.
async fn per_request<S>(service: S, n: u64) -> f64
where
    S: Service<Request<()>, Response = Response<()>> + Clone,
    S::Error: std::fmt::Debug,
{
    for _ in 0..100 {
        service.clone().oneshot(request()).await.unwrap();
    }
    let counted = allocations_over(&service, (0..n).map(|_| request()), || {}).await;
    counted as f64 / n as f64
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn the_limiter_allocates_nothing_per_request() {
    let limiter = RateLimitLayer::new(Quota::per_second(1_000_000).burst(1_000_000));
    let service = limiter.layer(ok());
    let per = per_request(service, 1_000).await;
    eprintln!("limiter: {per} allocations per request");
    assert_eq!(per, 0.0);
}

/// Requests taking turns over 50 models, so 50 scopes busy in one layer
/// (a proxy's working set): each thread's scope cache holds them all,
/// whatever their hashes, so no request allocates.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn fifty_busy_scopes_allocate_nothing_per_request() {
    let limiter = RateLimitLayer::new(Quota::per_second(1_000_000).burst(1_000_000));
    let service = limiter.layer(ok());
    let models: Vec<Model> = (0..50).map(|i| Model::new(format!("m/{i}"))).collect();
    let for_model = |model: &Model| {
        let mut request = request();
        request.extensions_mut().insert(model.clone());
        request
    };
    for model in &models {
        service.clone().oneshot(for_model(model)).await.unwrap();
    }
    let turns = (0..20).flat_map(|round| models.iter().skip(round % 7).map(for_model));
    let counted = allocations_over(&service, turns, || {}).await;
    assert_eq!(counted, 0, "allocations over about 1 000 requests");
}

/// Another limiter in the process (another client, another test on
/// another thread) dropped between two requests: this limiter's requests
/// still allocate nothing. CI once counted 0.001 allocations per request
/// here, when a parallel test's limiter was dropped mid-run and every
/// thread's scope cache was emptied, not only of the dead.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn another_limiter_dropped_costs_this_ones_requests_nothing() {
    let limiter = RateLimitLayer::new(Quota::per_second(1_000_000).burst(1_000_000));
    let service = limiter.layer(ok());
    per_request(service.clone(), 10).await;
    // On a thread of its own, as a parallel test's.
    let drop_another = || {
        std::thread::spawn(|| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .unwrap();
            let other = RateLimitLayer::new(Quota::per_second(10)).layer(ok());
            runtime.block_on(other.oneshot(request())).unwrap();
        })
        .join()
        .unwrap();
    };
    let counted = allocations_over(&service, (0..10).map(|_| request()), drop_another).await;
    assert_eq!(counted, 0, "allocations over 10 requests");
}

/// The target is zero, and it is missed (BENCHMARKS.md): a layer that may
/// resend must keep a copy of the request before its first send (the
/// inner service consumes it), and an `http::Request` with extensions (the
/// model, the key's fingerprint, the call's attempt budget) clones its
/// extension map with one allocation per value. Each retry layer keeps its
/// own copy, so that each is correct alone and any layer may sit between
/// them, and the outer one gives the call its budget (an `Arc` and its
/// slot) before the first send: one budget and two copies per call. This
/// test pins that: any new allocation in either layer, or a third copy,
/// fails it.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn the_retry_layers_allocate_a_budget_and_one_request_copy_each() {
    let limiter = RateLimitLayer::new(Quota::per_second(1_000_000).burst(1_000_000));
    let service = ServiceBuilder::new()
        .layer(BackoffLayer::new())
        .layer(RetryAfterLayer::new())
        .layer(limiter)
        .service(ok());
    let per = per_request(service, 1_000).await;

    let mut original = request();
    let before = allocations();
    original
        .extensions_mut()
        .insert(AttemptBudget::new(AttemptBudget::DEFAULT_MAX_ATTEMPTS));
    let budget = allocations() - before;
    let before = allocations();
    let clone = original.clone();
    let one_clone = allocations() - before;
    drop((clone, original));

    eprintln!(
        "stack: {per} allocations per request (a budget: {budget}, a request copy: {one_clone})"
    );
    // Exactly: the stray allocation once allowed for here was the scope
    // cache emptied by a parallel test's limiter drop (fixed; see above).
    assert_eq!(per, (budget + 2 * one_clone) as f64);
}

/// A job-creating POST is not safe to repeat: the backoff layer keeps no
/// copy, and the 429 layer below (which resends 429s, safe for any request)
/// keeps one and draws from the budget the call gets before its first send:
/// the budget and one copy.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_request_the_backoff_layer_will_not_repeat_gets_its_budget_up_front() {
    let service = ServiceBuilder::new()
        .layer(BackoffLayer::new())
        .layer(RetryAfterLayer::new())
        .service(ok());
    let job = || {
        let mut request = request();
        *request.uri_mut() = "https://api.together.ai/v1/batches".parse().unwrap();
        request
    };
    for _ in 0..10 {
        service.clone().oneshot(job()).await.unwrap();
    }
    let counted = allocations_over(&service, (0..100).map(|_| job()), || {}).await;

    let mut budgeted = job();
    let before = allocations();
    budgeted
        .extensions_mut()
        .insert(AttemptBudget::new(AttemptBudget::DEFAULT_MAX_ATTEMPTS));
    let budget = allocations() - before;
    let before = allocations();
    drop(budgeted.clone());
    let one_clone = allocations() - before;
    eprintln!("job: {} allocations per request", counted as f64 / 100.0);
    assert_eq!(counted as f64 / 100.0, (one_clone + budget) as f64);
}

fn echo(_: Request<()>) -> std::future::Ready<Result<Response<()>, Infallible>> {
    std::future::ready(Ok(Response::new(())))
}

/// A waiting request's task holds its future, and tokio sizes a task in
/// steps of 128 bytes: at 296 bytes the memory bench's waiter cost 167 B
/// above a bare task holding the same request, at 272 bytes 39 B (see
/// BENCHMARKS.md, memory per waiting request). This holds the future at the
/// size that figure was measured at, so a field added to it is a decision.
#[test]
fn a_waiting_requests_future_stays_within_the_measured_task_size() {
    let limiter = RateLimitLayer::new(Quota::per_second(1));
    let service = limiter.layer(service_fn(
        echo as fn(Request<()>) -> std::future::Ready<Result<Response<()>, Infallible>>,
    ));
    let waiting = service.oneshot(Request::new(()));
    let size = std::mem::size_of_val(&waiting);
    assert!(size <= 272, "a waiting request's future is {size} bytes");
}
