//! The metrics of a typed call through the `metrics` facade, captured by a
//! small recorder: names, bounded labels, counts.
#![cfg(all(feature = "metrics", feature = "client"))]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use metrics::{
    Counter, CounterFn, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder,
    SharedString, Unit,
};
use tower_together::endpoint::Endpoint;
use tower_together::sim::{Scripted, Simulator};
use tower_together::telemetry::metrics as names;
use tower_together::{BackoffLayer, ChatRequest, Message, RetryAfterLayer, Together};

const KEY: &str = "sim-key-metrics-secret";
const MODEL: &str = "meta-llama/Llama-3.3-70B-Instruct-Turbo";

#[derive(Default)]
struct Cell(AtomicU64);

impl CounterFn for Cell {
    fn increment(&self, value: u64) {
        self.0.fetch_add(value, Ordering::SeqCst);
    }

    fn absolute(&self, value: u64) {
        self.0.store(value, Ordering::SeqCst);
    }
}

impl HistogramFn for Cell {
    fn record(&self, _value: f64) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Series by "name{label=value,...}", counters and histogram sample counts.
#[derive(Default, Clone)]
struct Capture(Arc<Mutex<BTreeMap<String, Arc<Cell>>>>);

impl Capture {
    fn cell(&self, key: &Key) -> Arc<Cell> {
        let labels: Vec<String> = key
            .labels()
            .map(|l| format!("{}={}", l.key(), l.value()))
            .collect();
        let name = format!("{}{{{}}}", key.name(), labels.join(","));
        self.0.lock().unwrap().entry(name).or_default().clone()
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

    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::from_arc(self.cell(key))
    }
}

fn run<F: std::future::Future>(capture: &Capture, future: F) -> F::Output {
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
