//! The circuit breaker per (key, model), alone and above the retry layers,
//! on paused time.

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::{Request, Response};
use tokio::time::Instant;
use tower::{service_fn, Layer, Service, ServiceBuilder, ServiceExt};
use tower_together::circuit_breaker::{CircuitBreakerLayer, CircuitOpen, OnOpen};
use tower_together::extensions::{Deadline, Model};
use tower_together::{BackoffLayer, RetryAfterLayer};

/// A model that answers `down_status` while `down` is set, 200 otherwise;
/// records when each request arrived.
#[derive(Clone)]
struct Model1 {
    down: Arc<AtomicBool>,
    down_status: u16,
    sends: Arc<Mutex<Vec<Instant>>>,
}

impl Model1 {
    fn new(down_status: u16) -> Self {
        Model1 {
            down: Arc::new(AtomicBool::new(true)),
            down_status,
            sends: Arc::default(),
        }
    }

    fn sent(&self) -> usize {
        self.sends.lock().unwrap().len()
    }

    fn service(
        &self,
    ) -> impl Service<
        Request<String>,
        Response = Response<String>,
        Error = Infallible,
        Future = impl Send,
    > + Clone
           + Send
           + 'static {
        let this = self.clone();
        service_fn(move |_req: Request<String>| {
            this.sends.lock().unwrap().push(Instant::now());
            let status = if this.down.load(Ordering::SeqCst) {
                this.down_status
            } else {
                200
            };
            async move {
                Ok::<_, Infallible>(
                    Response::builder()
                        .status(status)
                        .body(String::new())
                        .unwrap(),
                )
            }
        })
    }
}

/// A breaker that opens after 5 failures (the default is 10).
fn breaker() -> CircuitBreakerLayer {
    CircuitBreakerLayer::new().failure_threshold(5)
}

/// Opens the circuit of `m` with five failing calls that do not wait.
async fn open_it<S>(service: &S)
where
    S: Service<Request<String>, Response = Response<String>> + Clone,
    S::Error: std::fmt::Debug,
{
    for _ in 0..5 {
        let mut call = request("m");
        call.extensions_mut().insert(OnOpen::FailFast);
        let response = service.clone().oneshot(call).await.unwrap();
        assert_eq!(response.status(), 503);
    }
}

fn request(model: &str) -> Request<String> {
    let mut request = Request::post("https://api.together.ai/v1/chat/completions")
        .header("authorization", "Bearer sk-secret")
        .body(String::new())
        .unwrap();
    request.extensions_mut().insert(Model::new(model));
    request
}

#[tokio::test(start_paused = true)]
async fn opens_after_a_run_of_failures_and_fails_fast_without_sending() {
    let model = Model1::new(503);
    let layer = breaker().on_open(OnOpen::FailFast);
    let service = layer.layer(model.service());
    for _ in 0..5 {
        let response = service.clone().oneshot(request("m")).await.unwrap();
        assert_eq!(response.status(), 503);
    }
    let start = Instant::now();
    for _ in 0..100 {
        let error = service.clone().oneshot(request("m")).await.unwrap_err();
        let open = error.downcast_ref::<CircuitOpen>().expect("a CircuitOpen");
        assert_eq!(open.model(), Some("m"));
    }
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert_eq!(model.sent(), 5, "nothing sent while open");
    // Another model of the same key has a circuit of its own.
    let other = service.clone().oneshot(request("other")).await.unwrap();
    assert_eq!(other.status(), 503);
    assert_eq!(layer.times_opened(), 1);
}

#[tokio::test(start_paused = true)]
async fn rate_limits_and_client_errors_never_open_it() {
    for status in [429, 400, 404, 422, 500] {
        let model = Model1::new(status);
        let service = breaker().on_open(OnOpen::FailFast).layer(model.service());
        for _ in 0..50 {
            let response = service.clone().oneshot(request("m")).await.unwrap();
            assert_eq!(response.status(), status);
        }
        assert_eq!(model.sent(), 50, "{status}");
    }
    for status in [502, 503, 504, 524, 529] {
        let model = Model1::new(status);
        let service = breaker().on_open(OnOpen::FailFast).layer(model.service());
        for _ in 0..50 {
            let _ = service.clone().oneshot(request("m")).await;
        }
        assert_eq!(model.sent(), 5, "{status}");
    }
}

#[tokio::test(start_paused = true)]
async fn probes_are_single_spaced_and_a_success_closes_and_releases_waiters() {
    let model = Model1::new(503);
    let layer = breaker();
    let service = layer.layer(model.service());
    open_it(&service).await;
    let opened = Instant::now();
    // Fifty calls arrive while it is open: they wait, sending nothing.
    let mut waiting = Vec::new();
    for _ in 0..50 {
        let service = service.clone();
        waiting.push(tokio::spawn(
            async move { service.oneshot(request("m")).await },
        ));
    }
    tokio::time::sleep(Duration::from_secs(30)).await;
    let probes = model.sent() - 5;
    // Probes at 1 s, then every 2 s: about 15 in 30 s; one at a time.
    assert!((14..=16).contains(&probes), "{probes} probes");
    let times = model.sends.lock().unwrap().clone();
    for pair in times[5..].windows(2) {
        assert!(pair[1] - pair[0] >= Duration::from_secs(1), "{pair:?}");
    }
    assert!(times[5] - opened >= Duration::from_secs(1));

    model.down.store(false, Ordering::SeqCst);
    let recovered = Instant::now();
    for call in waiting {
        let response = call.await.unwrap().unwrap();
        assert_eq!(response.status(), 200);
    }
    assert!(
        recovered.elapsed() <= Duration::from_secs(2),
        "{:?}",
        recovered.elapsed()
    );
    assert_eq!(
        model.sent(),
        5 + probes + 1 + 49,
        "the probe, then the 49 others"
    );
}

#[tokio::test(start_paused = true)]
async fn a_call_whose_deadline_falls_inside_the_outage_fails_having_sent_nothing() {
    let model = Model1::new(503);
    let service = breaker()
        .cooldown(Duration::from_secs(10))
        .max_cooldown(Duration::from_secs(10))
        .layer(model.service());
    open_it(&service).await;
    let mut late = request("m");
    late.extensions_mut()
        .insert(Deadline::after(Duration::from_secs(3)));
    let start = Instant::now();
    let error = service.clone().oneshot(late).await.unwrap_err();
    assert!(error.is::<CircuitOpen>());
    assert_eq!(
        start.elapsed(),
        Duration::ZERO,
        "no probe before the deadline: said at once"
    );
    assert_eq!(model.sent(), 5);
}

#[tokio::test(start_paused = true)]
async fn a_dropped_probe_does_not_wedge_the_circuit() {
    let hang = Arc::new(AtomicBool::new(false));
    let sends = Arc::new(AtomicU32::new(0));
    let (h, s) = (hang.clone(), sends.clone());
    let inner = service_fn(move |_req: Request<String>| {
        s.fetch_add(1, Ordering::SeqCst);
        let hang = h.load(Ordering::SeqCst);
        async move {
            if hang {
                std::future::pending::<()>().await;
            }
            Ok::<_, Infallible>(Response::builder().status(503).body(String::new()).unwrap())
        }
    });
    let service = breaker().on_open(OnOpen::FailFast).layer(inner);
    for _ in 0..5 {
        let _ = service.clone().oneshot(request("m")).await.unwrap();
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    hang.store(true, Ordering::SeqCst);
    // The probe hangs; its caller gives up.
    let probe = tokio::time::timeout(
        Duration::from_millis(100),
        service.clone().oneshot(request("m")),
    )
    .await;
    assert!(probe.is_err());
    hang.store(false, Ordering::SeqCst);
    // The next call probes at once instead of waiting for the lost one.
    let next = service.clone().oneshot(request("m")).await.unwrap();
    assert_eq!(next.status(), 503);
    assert_eq!(sends.load(Ordering::SeqCst), 7);
}

#[tokio::test(start_paused = true)]
async fn a_flood_of_model_names_does_not_grow_the_map() {
    let model = Model1::new(200);
    let layer = breaker().max_circuits(16);
    let service = layer.layer(model.service());
    for i in 0..10_000 {
        let response = service
            .clone()
            .oneshot(request(&format!("made-up-{i}")))
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert!(layer.circuits() <= 16);
    }
}

#[tokio::test(start_paused = true)]
async fn above_the_retry_layers_it_stops_resends_and_waits_out_the_outage() {
    let model = Model1::new(503);
    let layer = breaker();
    let service = ServiceBuilder::new()
        .layer(layer.clone())
        .layer(BackoffLayer::new())
        .layer(RetryAfterLayer::new())
        .service(model.service());
    // Two calls a second for 70 s; the model is down for the first 60 s.
    let start = Instant::now();
    let mut calls = Vec::new();
    for _ in 0..140 {
        let service = service.clone();
        calls.push(tokio::spawn(
            async move { service.oneshot(request("m")).await },
        ));
        tokio::time::sleep(Duration::from_millis(500)).await;
        if start.elapsed() >= Duration::from_secs(60) {
            model.down.store(false, Ordering::SeqCst);
        }
    }
    let during: usize = model
        .sends
        .lock()
        .unwrap()
        .iter()
        .filter(|at| **at - start < Duration::from_secs(60))
        .count();
    for call in calls {
        assert_eq!(call.await.unwrap().unwrap().status(), 200);
    }
    eprintln!("outage (light load, layers): {during} sends in 60 s; no-retry client: 120");
    // A client with no retries would have sent 120 in those 60 s.
    assert!(during <= 132, "{during} sends during the outage");
    assert!(during < 60, "{during}: opening plus one probe every 2 s");
}

#[tokio::test(start_paused = true)]
async fn by_default_one_call_spending_its_attempts_does_not_open_it() {
    let model = Model1::new(503);
    let layer = CircuitBreakerLayer::new();
    let service = ServiceBuilder::new()
        .layer(layer.clone())
        .layer(BackoffLayer::new())
        .layer(RetryAfterLayer::new())
        .service(model.service());
    let response = service.clone().oneshot(request("m")).await.unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(model.sent(), 5);
    assert_eq!(layer.times_opened(), 0);
    // A second call's failures complete the run of 10.
    let mut second = request("m");
    second.extensions_mut().insert(OnOpen::FailFast);
    let response = service.clone().oneshot(second).await.unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(layer.times_opened(), 1);
    let mut third = request("m");
    third.extensions_mut().insert(OnOpen::FailFast);
    let refused = service.oneshot(third).await.unwrap_err();
    assert!(refused.is::<CircuitOpen>());
    assert_eq!(model.sent(), 10, "nothing sent once open");
}
