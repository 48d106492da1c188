//! The metrics of a typed call through the `metrics` facade, captured by a
//! small recorder: names, bounded labels, counts.
#![cfg(all(feature = "metrics", feature = "client"))]

mod support;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

use metrics::{
    Counter, CounterFn, Gauge, GaugeFn, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder,
    SharedString, Unit,
};
use tower::{service_fn, Layer, ServiceExt};
use tower_together::endpoint::Endpoint;
use tower_together::extensions::Model;
use tower_together::sim::{Scripted, Simulator};
use tower_together::telemetry::metrics as names;
use tower_together::telemetry::AttemptSpanLayer;
use tower_together::{
    BackoffLayer, ChatRequest, Message, Quota, RateLimitLayer, RetryAfterLayer, Together,
};

const KEY: &str = "sim-key-metrics-secret";
const MODEL: &str = "meta-llama/Llama-3.3-70B-Instruct-Turbo";

/// A counter's count, or a histogram's sample count and (second field)
/// the sum of its samples.
#[derive(Default)]
struct Cell(AtomicU64, Mutex<f64>);

impl CounterFn for Cell {
    fn increment(&self, value: u64) {
        self.0.fetch_add(value, Ordering::SeqCst);
    }

    fn absolute(&self, value: u64) {
        self.0.store(value, Ordering::SeqCst);
    }
}

impl HistogramFn for Cell {
    fn record(&self, value: f64) {
        self.0.fetch_add(1, Ordering::SeqCst);
        *self.1.lock().unwrap() += value;
    }
}

/// A gauge's value.
#[derive(Default)]
struct Level(Mutex<f64>);

impl GaugeFn for Level {
    fn increment(&self, value: f64) {
        *self.0.lock().unwrap() += value;
    }

    fn decrement(&self, value: f64) {
        *self.0.lock().unwrap() -= value;
    }

    fn set(&self, value: f64) {
        *self.0.lock().unwrap() = value;
    }
}

/// Series by "name{label=value,...}": counters and histogram sample counts
/// (and sums), then gauges.
#[derive(Default, Clone)]
struct Capture(
    Arc<Mutex<BTreeMap<String, Arc<Cell>>>>,
    Arc<Mutex<BTreeMap<String, Arc<Level>>>>,
);

fn series(key: &Key) -> String {
    let labels: Vec<String> = key
        .labels()
        .map(|l| format!("{}={}", l.key(), l.value()))
        .collect();
    format!("{}{{{}}}", key.name(), labels.join(","))
}

impl Capture {
    fn cell(&self, key: &Key) -> Arc<Cell> {
        self.0
            .lock()
            .unwrap()
            .entry(series(key))
            .or_default()
            .clone()
    }

    /// A histogram's sum of samples.
    fn sum(&self, series: &str) -> f64 {
        self.0
            .lock()
            .unwrap()
            .get(series)
            .map_or(0.0, |c| *c.1.lock().unwrap())
    }

    /// A gauge's value; `None` if it was never set.
    fn gauge(&self, series: &str) -> Option<f64> {
        let gauges = self.1.lock().unwrap();
        gauges.get(series).map(|g| *g.0.lock().unwrap())
    }

    fn get(&self, series: &str) -> u64 {
        self.0
            .lock()
            .unwrap()
            .get(series)
            .map_or(0, |c| c.0.load(Ordering::SeqCst))
    }
}

impl Recorder for Capture {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(self.cell(key))
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(
            self.1
                .lock()
                .unwrap()
                .entry(series(key))
                .or_default()
                .clone(),
        )
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::from_arc(self.cell(key))
    }
}

/// The `model` label set is global and bounded, and
/// `model_labels_are_bounded` fills it: every test's models take their
/// labels here first, so they keep them whichever test runs first.
fn label_models() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async {
            for model in [MODEL, "m", "small", "big", "gone"] {
                let service = AttemptSpanLayer::new().layer(service_fn(
                    |_req: http::Request<String>| async {
                        Ok::<_, Infallible>(http::Response::new(String::new()))
                    },
                ));
                service.oneshot(chat(KEY, model)).await.unwrap();
            }
        });
    });
}

fn run<F: std::future::Future>(capture: &Capture, future: F) -> F::Output {
    label_models();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    metrics::with_local_recorder(capture, || runtime.block_on(future))
}

fn client(script: Vec<Scripted>) -> Together {
    let sim = Simulator::builder().api_key(KEY).script(script).service();
    Together::builder()
        .api_key(KEY)
        .base_url("http://sim.test/v1")
        .backoff(BackoffLayer::new().base_delay(Duration::from_millis(10)))
        .retry_after(RetryAfterLayer::new().jitter(Duration::ZERO))
        .build_with_transport(sim)
        .unwrap()
}

#[test]
fn a_call_counts_its_attempts_statuses_and_retries() {
    let capture = Capture::default();
    let result = run(&capture, async {
        client(vec![Scripted::Status(503), Scripted::Status(429)])
            .chat(ChatRequest::new(MODEL, vec![Message::user("hi")]))
            .await
    });
    assert!(result.is_ok());
    let endpoint = Endpoint::from_path("/v1/chat/completions").as_str();
    let labels = format!("endpoint={endpoint},model={MODEL}");
    assert_eq!(
        capture.get(&format!("{}{{{labels}}}", names::REQUESTS_ADMITTED)),
        3
    );
    assert_eq!(
        capture.get(&format!("{}{{{labels}}}", names::SERVER_ERRORS)),
        1
    );
    assert_eq!(
        capture.get(&format!("{}{{{labels}}}", names::RATE_LIMITED)),
        1
    );
    assert_eq!(
        capture.get(&format!("{}{{{labels}}}", names::ATTEMPT_DURATION)),
        3
    );
    assert_eq!(
        capture.get(&format!("{}{{{labels},reason=backoff}}", names::RETRIES)),
        1
    );
    assert_eq!(
        capture.get(&format!(
            "{}{{{labels},reason=retry_after}}",
            names::RETRIES
        )),
        1
    );
    for series in capture.0.lock().unwrap().keys() {
        assert!(!series.contains(KEY), "{series}");
    }
}

#[test]
fn model_labels_are_bounded() {
    let capture = Capture::default();
    run(&capture, async {
        let client = client(Vec::new());
        for i in 0..names::MAX_MODEL_LABELS + 50 {
            // Unknown models: 404s, each a distinct name.
            let _ = client
                .chat(ChatRequest::new(
                    format!("made-up/{i}"),
                    vec![Message::user("hi")],
                ))
                .await;
        }
    });
    let series = capture.0.lock().unwrap();
    let admitted: Vec<&String> = series
        .keys()
        .filter(|k| k.starts_with(names::REQUESTS_ADMITTED))
        .collect();
    assert!(
        admitted.len() <= names::MAX_MODEL_LABELS + 1,
        "{}",
        admitted.len()
    );
    assert!(admitted.iter().any(|k| k.contains("model=other")));
}

/// A limiter alone over a server that answers 429 (pause: 1.5 s) to
/// requests with an `x-test-429` header, else 200.
fn limited(
    layer: &RateLimitLayer,
) -> impl tower::Service<
    http::Request<String>,
    Response = http::Response<String>,
    Error = Infallible,
    Future: Send,
> + Clone
       + Send {
    layer.layer(support::throttles_on_header(1_500))
}

fn chat(key: &str, model: &str) -> http::Request<String> {
    let mut request = http::Request::post("https://api.together.ai/v1/chat/completions")
        .header("authorization", format!("Bearer {key}"))
        .body(String::new())
        .unwrap();
    request.extensions_mut().insert(Model::new(model));
    request
}

#[test]
fn the_limiter_records_each_wait_for_a_slot_and_nothing_for_no_wait() {
    let capture = Capture::default();
    run(&capture, async {
        // 2/s, burst 1: the first goes at once, the next two wait 0.5 s, 1 s.
        let service = limited(&RateLimitLayer::new(Quota::per_second(2).burst(1)));
        let calls: Vec<_> = (0..3)
            .map(|_| tokio::spawn(service.clone().oneshot(chat(KEY, "m"))))
            .collect();
        for call in calls {
            call.await.unwrap().unwrap();
        }
    });
    let endpoint = Endpoint::from_path("/v1/chat/completions").as_str();
    let series = format!("{}{{endpoint={endpoint},model=m}}", names::RATE_LIMIT_WAIT);
    assert_eq!(capture.get(&series), 2, "only the two that waited");
    let sum = capture.sum(&series);
    assert!((sum - 1.5).abs() < 0.01, "{sum}");
}

#[test]
fn publish_metrics_sets_each_scopes_rates_waiters_and_pause() {
    let capture = Capture::default();
    let layer = RateLimitLayer::builder(Quota::per_second(2).burst(1))
        .model_quota("big", Quota::per_second(10).tokens_per_second(1000))
        .build();
    let big_rate = run(&capture, async {
        let service = limited(&layer);
        // Two keys, three calls each for "small" at 2/s, burst 1: one of
        // each goes, two of each wait.
        let mut calls = Vec::new();
        for key in ["sk-metrics-a", "sk-metrics-b"] {
            for _ in 0..3 {
                calls.push(tokio::spawn(service.clone().oneshot(chat(key, "small"))));
            }
        }
        let mut throttled = chat("sk-metrics-a", "big");
        throttled
            .headers_mut()
            .insert("x-test-429", "1".parse().unwrap());
        let answer = service.clone().oneshot(throttled).await.unwrap();
        assert_eq!(answer.status(), 429);
        tokio::time::sleep(Duration::from_millis(100)).await;
        layer.publish_metrics();
        let big_rate = layer
            .snapshot()
            .scopes()
            .iter()
            .find(|s| s.model() == Some("big"))
            .unwrap()
            .requests_per_second();
        for call in calls {
            call.await.unwrap().unwrap();
        }
        big_rate
    });
    let endpoint = Endpoint::from_path("/v1/chat/completions").as_str();
    let small = format!("{{endpoint={endpoint},model=small}}");
    let big = format!("{{endpoint={endpoint},model=big}}");
    let gauge = |name: &str, labels: &str| capture.gauge(&format!("{name}{labels}"));
    // Summed over the two keys.
    assert_eq!(
        gauge(names::RATE_LIMIT_REQUESTS_PER_SECOND, &small),
        Some(4.0)
    );
    assert_eq!(gauge(names::RATE_LIMIT_WAITING, &small), Some(4.0));
    assert_eq!(gauge(names::RATE_LIMIT_PAUSE, &small), Some(0.0));
    assert_eq!(gauge(names::RATE_LIMIT_TOKENS_PER_SECOND, &small), None);
    // Paused for 1.5 s, 0.1 s ago; its rates cut by the 429.
    let pause = gauge(names::RATE_LIMIT_PAUSE, &big).unwrap();
    assert!((pause - 1.4).abs() < 1e-6, "{pause}");
    assert_eq!(gauge(names::RATE_LIMIT_WAITING, &big), Some(0.0));
    assert_eq!(
        gauge(names::RATE_LIMIT_REQUESTS_PER_SECOND, &big),
        Some(big_rate)
    );
    assert!(big_rate < 10.0, "{big_rate}");
    let tokens = gauge(names::RATE_LIMIT_TOKENS_PER_SECOND, &big).unwrap();
    assert!(tokens > 0.0 && tokens <= 1000.0, "{tokens}");
    for series in capture.1.lock().unwrap().keys() {
        assert!(!series.contains("sk-metrics"), "{series}");
    }
}

#[test]
fn publish_metrics_zeroes_the_gauges_of_a_scope_swept_away() {
    let capture = Capture::default();
    let layer = RateLimitLayer::builder(Quota::per_second(2).burst(1))
        .idle_timeout(Duration::from_secs(1))
        .build();
    let endpoint = Endpoint::from_path("/v1/chat/completions").as_str();
    let series = |name: &str| format!("{name}{{endpoint={endpoint},model=gone}}");
    run(&capture, async {
        let service = limited(&layer);
        let calls: Vec<_> = (0..3)
            .map(|_| tokio::spawn(service.clone().oneshot(chat("sk-metrics-a", "gone"))))
            .collect();
        tokio::time::sleep(Duration::from_millis(10)).await;
        layer.publish_metrics();
        assert_eq!(capture.gauge(&series(names::RATE_LIMIT_WAITING)), Some(2.0));
        for call in calls {
            call.await.unwrap().unwrap();
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
        layer.evict_idle();
        assert_eq!(layer.scope_count(), 0, "swept away");
        layer.publish_metrics();
    });
    assert_eq!(capture.gauge(&series(names::RATE_LIMIT_WAITING)), Some(0.0));
    assert_eq!(
        capture.gauge(&series(names::RATE_LIMIT_REQUESTS_PER_SECOND)),
        Some(0.0)
    );
    assert_eq!(capture.gauge(&series(names::RATE_LIMIT_PAUSE)), Some(0.0));
}
