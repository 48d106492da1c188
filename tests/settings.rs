//! Every public setting of the retry layers (and their policies) at its
//! extremes: `Duration::ZERO` and `Duration::MAX`, 0 and `u32::MAX` retries
//! and attempts, NaN and out-of-range jitter fractions. A request through
//! each combination, on paused time, must finish (no panic, no endless
//! loop) with a send count the settings allow.

use std::future::{ready, Ready};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use http::{Request, Response};
use tower::retry::Retry;
use tower::{Layer, Service, ServiceBuilder, ServiceExt};
use tower_together::backoff::BackoffPolicy;
use tower_together::extensions::{AttemptBudget, Deadline};
use tower_together::retry_after::RetryAfterPolicy;
use tower_together::{BackoffLayer, RetryAfterLayer};

const EXTREMES: [Duration; 2] = [Duration::ZERO, Duration::MAX];
const COUNTS: [u32; 2] = [0, u32::MAX];

/// A status with one header, or `None` for a transport error.
type Answer = Option<(u16, &'static str, String)>;

/// Answers from a script, then 200.
#[derive(Clone)]
struct Script {
    answers: Arc<Mutex<Vec<Answer>>>,
    sends: Arc<AtomicUsize>,
}

impl Script {
    fn new(mut answers: Vec<Answer>) -> Self {
        answers.reverse();
        Script {
            answers: Arc::new(Mutex::new(answers)),
            sends: Arc::default(),
        }
    }

    fn sends(&self) -> usize {
        self.sends.load(Ordering::SeqCst)
    }
}

impl<B> Service<Request<B>> for Script {
    type Response = Response<String>;
    type Error = &'static str;
    type Future = Ready<Result<Response<String>, &'static str>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<B>) -> Self::Future {
        self.sends.fetch_add(1, Ordering::SeqCst);
        let answer =
            self.answers
                .lock()
                .unwrap()
                .pop()
                .unwrap_or(Some((200, "x-done", String::from("1"))));
        ready(match answer {
            None => Err("connection reset"),
            Some((status, name, value)) => Ok(Response::builder()
                .status(status)
                .header(name, value)
                .body(String::new())
                .unwrap()),
        })
    }
}

/// 429s with no hint, an absurd hint, and a huge millisecond hint.
fn too_many() -> Script {
    Script::new(vec![
        Some((429, "x-note", String::from("no hint"))),
        Some((429, "retry-after", String::from("1e300"))),
        Some((429, "retry-after-ms", "9".repeat(400))),
    ])
}

/// A 503 without a hint, a transport error, a 503 with an absurd hint.
fn failing() -> Script {
    Script::new(vec![
        Some((503, "x-note", String::from("no hint"))),
        None,
        Some((503, "retry-after", String::from("99999999999999999999"))),
    ])
}

/// The requests each combination is tried with: none, the nearest and the
/// farthest deadline, and a caller's budget at both ends.
fn requests() -> Vec<Request<String>> {
    let plain = || {
        Request::post("https://api.together.ai/v1/chat/completions")
            .body(String::from("{}"))
            .unwrap()
    };
    let mut out = vec![plain()];
    for deadline in EXTREMES {
        let mut request = plain();
        request.extensions_mut().insert(Deadline::after(deadline));
        out.push(request);
    }
    for attempts in COUNTS {
        let mut request = plain();
        request
            .extensions_mut()
            .insert(AttemptBudget::new(attempts));
        out.push(request);
    }
    out
}

fn retry_after_layers() -> Vec<RetryAfterLayer> {
    let mut layers = Vec::new();
    for retries in COUNTS {
        for jitter in EXTREMES {
            for default_wait in EXTREMES {
                for max_wait in EXTREMES {
                    let layer = RetryAfterLayer::new()
                        .max_retries(retries)
                        .jitter(jitter)
                        .default_wait(default_wait)
                        .max_wait(max_wait);
                    layers.push(layer);
                    for attempts in COUNTS {
                        layers.push(layer.max_attempts(attempts));
                    }
                }
            }
        }
    }
    layers
}

fn backoff_layers() -> Vec<BackoffLayer> {
    let mut layers = Vec::new();
    for retries in COUNTS {
        for base in EXTREMES {
            for cap in EXTREMES {
                for fraction in [f64::NAN, -1.0, 0.0, 1.0, f64::INFINITY, f64::MAX] {
                    let layer = BackoffLayer::new()
                        .max_retries(retries)
                        .base_delay(base)
                        .max_delay(cap)
                        .jitter_fraction(fraction)
                        .retry_non_idempotent(retries == 0);
                    layers.push(layer);
                    for attempts in COUNTS {
                        layers.push(layer.max_attempts(attempts));
                    }
                }
            }
        }
    }
    layers
}

/// Sends and final status must fit the script: at most its length + 1
/// sends, and the final 200 only after the whole script.
fn check(script: &Script, outcome: Result<Response<String>, &'static str>, what: &str) {
    let sends = script.sends();
    assert!((1..=4).contains(&sends), "{what}: {sends} sends");
    if let Ok(response) = &outcome {
        assert_eq!(
            response.status() == 200,
            sends == 4,
            "{what}: {sends} sends"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn retry_after_layer_at_every_extreme() {
    for layer in retry_after_layers() {
        for request in requests() {
            let what = format!("{layer:?} {:?}", request.extensions());
            let script = too_many();
            let outcome = layer.layer(script.clone()).oneshot(request).await;
            check(&script, outcome, &what);
        }
    }
}

#[tokio::test(start_paused = true)]
async fn backoff_layer_at_every_extreme() {
    for layer in backoff_layers() {
        for request in requests() {
            let what = format!("{layer:?} {:?}", request.extensions());
            let script = failing();
            let outcome = layer.layer(script.clone()).oneshot(request).await;
            check(&script, outcome, &what);
        }
    }
}

#[tokio::test(start_paused = true)]
async fn both_layers_stacked_at_their_extremes() {
    let backoffs = backoff_layers();
    let retry_afters = retry_after_layers();
    // Every pairing would be thousands of runs; a stride pairs each backoff
    // setting with a varied retry-after setting.
    for (i, backoff) in backoffs.iter().enumerate() {
        let retry_after = retry_afters[(i * 7) % retry_afters.len()];
        let script = Script::new(vec![
            Some((429, "x-note", String::from("no hint"))),
            Some((503, "retry-after", String::from("1e300"))),
            None,
        ]);
        let service = ServiceBuilder::new()
            .layer(*backoff)
            .layer(retry_after)
            .service(script.clone());
        let outcome = service.oneshot(requests().remove(0)).await;
        check(
            &script,
            outcome,
            &format!("{backoff:?} over {retry_after:?}"),
        );
    }
}

#[tokio::test(start_paused = true)]
async fn policies_alone_at_their_extremes() {
    for duration in EXTREMES {
        for retries in COUNTS {
            let policy = RetryAfterPolicy::new()
                .max_retries(retries)
                .jitter(duration)
                .default_wait(duration)
                .max_wait(duration);
            let script = too_many();
            let outcome = Retry::new(policy, script.clone())
                .oneshot(requests().remove(0))
                .await;
            check(&script, outcome, &format!("{policy:?}"));

            let policy = BackoffPolicy::new()
                .max_retries(retries)
                .base_delay(duration)
                .max_delay(duration)
                .jitter_fraction(f64::NAN)
                .retry_non_idempotent(true);
            let script = failing();
            let outcome = Retry::new(policy, script.clone())
                .oneshot(requests().remove(0))
                .await;
            check(&script, outcome, &format!("{policy:?}"));
        }
    }
}

#[tokio::test(start_paused = true)]
async fn zero_retries_send_once_and_zero_waits_do_not_sleep() {
    let script = too_many();
    let service = RetryAfterLayer::new().max_retries(0).layer(script.clone());
    assert_eq!(
        service
            .oneshot(requests().remove(0))
            .await
            .unwrap()
            .status(),
        429
    );
    assert_eq!(script.sends(), 1);

    // Zero waits: the whole script in zero (virtual) time. (Huge hints are
    // over max_wait 0, so only hint-less 429s are used.)
    let script = Script::new(vec![Some((429, "x-note", String::new())); 3]);
    let service = RetryAfterLayer::new()
        .default_wait(Duration::ZERO)
        .jitter(Duration::ZERO)
        .max_wait(Duration::ZERO)
        .layer(script.clone());
    let start = tokio::time::Instant::now();
    assert_eq!(
        service
            .oneshot(requests().remove(0))
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert_eq!(script.sends(), 4);

    let script = failing();
    let service = BackoffLayer::new()
        .base_delay(Duration::ZERO)
        .max_delay(Duration::ZERO)
        .layer(script.clone());
    let start = tokio::time::Instant::now();
    assert_eq!(
        service
            .oneshot(requests().remove(0))
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert_eq!(script.sends(), 4);
}
