//! The spans and wait events of a typed call, captured by a small
//! subscriber: OpenTelemetry field names, one span per call and per
//! attempt, a reason on every wait, and never the API key.
#![cfg(feature = "client")]

mod support;

use std::collections::HashMap;
use std::convert::Infallible;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tower_together::circuit_breaker::{CircuitBreakerLayer, OnOpen};
use tower_together::endpoint::Endpoint;
use tower_together::sim::{Scripted, Simulator};
use tower_together::{BackoffLayer, ChatRequest, Message, Together};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

const KEY: &str = "sim-key-telemetry-secret";
const MODEL: &str = "meta-llama/Llama-3.3-70B-Instruct-Turbo";

type Fields = HashMap<String, String>;

#[derive(Clone, Default)]
struct Capture {
    spans: Arc<Mutex<Vec<(String, Fields)>>>,
    events: Arc<Mutex<Vec<Fields>>>,
    next: Arc<AtomicU64>,
}

struct Visitor<'a>(&'a mut Fields);

impl Visit for Visitor<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, attributes: &Attributes<'_>) -> Id {
        let mut fields = Fields::new();
        attributes.record(&mut Visitor(&mut fields));
        let mut spans = self.spans.lock().unwrap();
        spans.push((attributes.metadata().name().to_owned(), fields));
        self.next.store(spans.len() as u64, Ordering::SeqCst);
        Id::from_u64(spans.len() as u64)
    }

    fn record(&self, span: &Id, values: &Record<'_>) {
        let mut spans = self.spans.lock().unwrap();
        let index = span.into_u64() as usize - 1;
        values.record(&mut Visitor(&mut spans[index].1));
    }

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut fields = Fields::new();
        event.record(&mut Visitor(&mut fields));
        self.events.lock().unwrap().push(fields);
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

fn captured<F: std::future::Future>(future: F) -> (F::Output, Capture) {
    let capture = Capture::default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    let output = tracing::subscriber::with_default(capture.clone(), || runtime.block_on(future));
    (output, capture)
}

fn client(script: Vec<Scripted>, breaker: CircuitBreakerLayer) -> Together {
    let sim = Simulator::builder().api_key(KEY).script(script).service();
    Together::builder()
        .api_key(KEY)
        .base_url("http://sim.test/v1")
        .backoff(
            BackoffLayer::new()
                .base_delay(Duration::from_millis(100))
                .jitter_fraction(0.0),
        )
        .circuit_breaker(breaker)
        .build_with_transport(sim)
        .unwrap()
}

fn named<'a>(capture: &'a [(String, Fields)], name: &str) -> Vec<&'a Fields> {
    capture
        .iter()
        .filter(|(n, _)| n == name)
        .map(|(_, f)| f)
        .collect()
}

#[test]
fn a_call_and_each_attempt_have_a_span_with_otel_fields() {
    let (result, capture) = captured(async {
        let client = client(vec![Scripted::Status(503)], CircuitBreakerLayer::new());
        client
            .chat(ChatRequest::new(MODEL, vec![Message::user("hello")]))
            .await
    });
    assert!(result.is_ok());
    let spans = capture.spans.lock().unwrap();
    let calls = named(&spans, "together.call");
    assert_eq!(calls.len(), 1);
    let call = calls[0];
    assert_eq!(call["http.request.method"], "POST");
    assert_eq!(call["server.address"], "sim.test");
    assert_eq!(call["url.path"], "/v1/chat/completions");
    assert_eq!(call["together.model"], MODEL);
    assert_eq!(
        call["together.endpoint"],
        Endpoint::from_path("/v1/chat/completions").as_str()
    );
    assert_eq!(call["http.response.status_code"], "200");
    assert!(!call.contains_key("error.type"));

    let attempts = named(&spans, "together.attempt");
    assert_eq!(attempts.len(), 2, "{attempts:?}");
    assert_eq!(attempts[0]["http.request.resend_count"], "0");
    assert_eq!(attempts[0]["http.response.status_code"], "503");
    assert_eq!(attempts[0]["error.type"], "503");
    assert_eq!(attempts[1]["http.request.resend_count"], "1");
    assert_eq!(attempts[1]["http.response.status_code"], "200");
    assert_eq!(attempts[1]["together.model"], MODEL);

    let events = capture.events.lock().unwrap();
    let backoff = events
        .iter()
        .find(|e| e.get("reason").map(String::as_str) == Some("backoff"))
        .expect("a backoff wait event");
    assert_eq!(backoff["wait_ms"], "100");

    for (_, fields) in spans.iter() {
        for value in fields.values() {
            assert!(!value.contains(KEY), "{value}");
            assert!(!value.contains("hello"), "no body in a field: {value}");
        }
    }
}

#[test]
fn a_refused_call_says_circuit_open_and_why() {
    let (results, capture) = captured(async {
        let breaker = CircuitBreakerLayer::new()
            .failure_threshold(1)
            .on_open(OnOpen::FailFast);
        let client = client(vec![Scripted::Status(503)], breaker);
        let first = client
            .chat(ChatRequest::new(MODEL, vec![Message::user("a")]))
            .await;
        let second = client
            .chat(ChatRequest::new(MODEL, vec![Message::user("b")]))
            .await;
        (first, second)
    });
    let (first, second) = results;
    assert_eq!(first.unwrap_err().status().map(|s| s.as_u16()), Some(503));
    assert!(second.unwrap_err().is_circuit_open());
    let spans = capture.spans.lock().unwrap();
    let calls = named(&spans, "together.call");
    assert_eq!(calls[1]["error.type"], "circuit_open");
    let events = capture.events.lock().unwrap();
    assert!(events
        .iter()
        .any(|e| e.get("reason").map(String::as_str) == Some("circuit_open")));
}

/// A limiter alone over a server that answers 429 (pause: 3 s) to requests
/// with an `x-test-429` header, else 200.
fn limited(
    quota: tower_together::Quota,
) -> impl tower::Service<
    http::Request<String>,
    Response = http::Response<String>,
    Error = Infallible,
    Future: Send,
> + Clone
       + Send {
    use tower::Layer;
    tower_together::RateLimitLayer::new(quota).layer(support::throttles_on_header(3_000))
}

fn limiter_request() -> http::Request<String> {
    http::Request::post("https://api.together.ai/v1/chat/completions")
        .header("authorization", format!("Bearer {KEY}"))
        .body(String::new())
        .unwrap()
}

/// The limiter's wait events (`reason` `paced` or `paused`), in order.
fn limiter_waits(capture: &Capture) -> Vec<(String, u64)> {
    capture
        .events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| {
            matches!(
                e.get("reason").map(String::as_str),
                Some("paced" | "paused")
            )
        })
        .map(|e| (e["reason"].clone(), e["wait_ms"].parse().unwrap()))
        .collect()
}

#[test]
fn a_request_that_waited_for_its_slot_says_paced_and_how_long() {
    use tower::ServiceExt;
    let ((), capture) = captured(async {
        // 2/s, burst 1: the first goes at once, the next two wait 0.5 s, 1 s.
        let service = limited(tower_together::Quota::per_second(2).burst(1));
        let calls: Vec<_> = (0..3)
            .map(|_| tokio::spawn(service.clone().oneshot(limiter_request())))
            .collect();
        for call in calls {
            assert_eq!(call.await.unwrap().unwrap().status(), 200);
        }
    });
    assert_eq!(
        limiter_waits(&capture),
        [("paced".to_owned(), 500), ("paced".to_owned(), 1000)],
        "one event per request that waited, none for the one that did not"
    );
    for event in capture.events.lock().unwrap().iter() {
        for value in event.values() {
            assert!(!value.contains(KEY), "{value}");
        }
    }
}

#[test]
fn a_request_held_by_the_pause_after_a_429_says_paused() {
    use tower::ServiceExt;
    let ((), capture) = captured(async {
        let service = limited(tower_together::Quota::per_second(100));
        let mut throttled = limiter_request();
        throttled
            .headers_mut()
            .insert("x-test-429", "1".parse().unwrap());
        let answer = service.clone().oneshot(throttled).await.unwrap();
        assert_eq!(answer.status(), 429);
        let answer = service.clone().oneshot(limiter_request()).await.unwrap();
        assert_eq!(answer.status(), 200);
    });
    let waits = limiter_waits(&capture);
    assert_eq!(waits.len(), 1, "{waits:?}");
    assert_eq!(waits[0].0, "paused");
    // The 3 s pause, to the timer's millisecond.
    assert!((3000..=3001).contains(&waits[0].1), "{waits:?}");
}
