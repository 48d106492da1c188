//! Each retry layer is correct alone, and any layer may sit between the two:
//! one that rebuilds the response (dropping its extensions) changes nothing
//! about which 429s are resent. The call's attempt budget still spans both
//! layers, through the request. Paused time throughout.

use std::future::{ready, Ready};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use http::{Request, Response};
use tokio::time::Instant;
use tower::{Service, ServiceBuilder, ServiceExt};
use tower_together::extensions::AttemptBudget;
use tower_together::{BackoffLayer, RetryAfterLayer};

/// Answers each send with the next status of its script (the last repeats),
/// recording when each send came.
#[derive(Clone)]
struct Scripted {
    script: Arc<Mutex<Vec<u16>>>,
    sends: Arc<Mutex<Vec<Instant>>>,
}

impl Scripted {
    fn new(script: &[u16]) -> Self {
        Scripted {
            script: Arc::new(Mutex::new(script.iter().rev().copied().collect())),
            sends: Arc::default(),
        }
    }

    fn sends(&self) -> usize {
        self.sends.lock().unwrap().len()
    }

    fn gaps(&self) -> Vec<Duration> {
        let sends = self.sends.lock().unwrap();
        sends.windows(2).map(|w| w[1] - w[0]).collect()
    }
}

impl<B> Service<Request<B>> for Scripted {
    type Response = Response<String>;
    type Error = &'static str;
    type Future = Ready<Result<Response<String>, &'static str>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<B>) -> Self::Future {
        self.sends.lock().unwrap().push(Instant::now());
        let mut script = self.script.lock().unwrap();
        let status = if script.len() > 1 {
            script.pop().unwrap()
        } else {
            script[0]
        };
        let response = Response::builder()
            .status(status)
            .header("retry-after", "2")
            .body(String::new())
            .unwrap();
        ready(Ok(response))
    }
}

/// A new response with the old one's status, headers and body, and none
/// of its extensions: what any layer that maps responses may do.
fn rebuilt(response: Response<String>) -> Response<String> {
    let (parts, body) = response.into_parts();
    let mut fresh = Response::new(body);
    *fresh.status_mut() = parts.status;
    *fresh.headers_mut() = parts.headers;
    fresh
}

fn chat() -> Request<String> {
    Request::post("https://api.together.ai/v1/chat/completions")
        .body(String::from("{}"))
        .unwrap()
}

fn backoff() -> BackoffLayer {
    BackoffLayer::new()
        .base_delay(Duration::from_millis(100))
        .jitter_fraction(0.0)
}

fn retry_after() -> RetryAfterLayer {
    RetryAfterLayer::new().jitter(Duration::ZERO)
}

#[tokio::test(start_paused = true)]
async fn a_429_is_resent_through_a_layer_that_rebuilds_the_response() {
    let server = Scripted::new(&[429, 429, 200]);
    let service = ServiceBuilder::new()
        .layer(backoff())
        .map_response(rebuilt)
        .layer(retry_after())
        .service(server.clone());
    let response = service.oneshot(chat()).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(server.sends(), 3);
    assert_eq!(
        server.gaps(),
        vec![Duration::from_secs(2); 2],
        "Retry-After: 2"
    );
}

#[tokio::test(start_paused = true)]
async fn the_429_layers_max_retries_holds_through_a_layer_between() {
    let server = Scripted::new(&[429]);
    let service = ServiceBuilder::new()
        .layer(backoff())
        .map_response(rebuilt)
        .layer(retry_after().max_retries(2))
        .service(server.clone());
    let response = service.oneshot(chat()).await.unwrap();
    assert_eq!(response.status(), 429);
    assert_eq!(server.sends(), 3, "max_retries(2): 3 sends");
}

/// The budget travels down on the request: stacked, 429s and 5xx together
/// make 5 sends, not 5 × 5, with a rebuilding layer between or not.
#[tokio::test(start_paused = true)]
async fn stacked_layers_share_one_attempt_budget_through_the_request() {
    let between = |server: &Scripted| {
        ServiceBuilder::new()
            .layer(backoff())
            .map_response(rebuilt)
            .layer(retry_after())
            .service(server.clone())
    };
    let server = Scripted::new(&[503, 429, 503, 429, 503, 429, 503, 429, 200]);
    let response = between(&server).oneshot(chat()).await.unwrap();
    assert_eq!(server.sends(), 5, "the default budget of 5 sends a call");
    assert_eq!(response.status(), 503);

    let server = Scripted::new(&[429]);
    let mut request = chat();
    request.extensions_mut().insert(AttemptBudget::new(2));
    let response = between(&server).oneshot(request).await.unwrap();
    assert_eq!(response.status(), 429);
    assert_eq!(server.sends(), 2, "a per-call budget lowers the count");
}

/// Alone, `max_retries(n)` is n + 1 sends, above the default budget too.
#[tokio::test(start_paused = true)]
async fn each_layer_alone_sends_max_retries_plus_one() {
    for n in [0, 1, 4, 9] {
        let server = Scripted::new(&[429]);
        retry_after()
            .max_retries(n)
            .layer_over(server.clone())
            .oneshot(chat())
            .await
            .unwrap();
        assert_eq!(
            server.sends(),
            n as usize + 1,
            "RetryAfter, max_retries({n})"
        );

        let server = Scripted::new(&[503]);
        backoff()
            .max_retries(n)
            .layer_over(server.clone())
            .oneshot(chat())
            .await
            .unwrap();
        assert_eq!(server.sends(), n as usize + 1, "Backoff, max_retries({n})");
    }
}

/// `Layer::layer`, named for the reading order of the tests above.
trait LayerOver<S>: tower::Layer<S> {
    fn layer_over(&self, inner: S) -> Self::Service {
        self.layer(inner)
    }
}

impl<S, L: tower::Layer<S>> LayerOver<S> for L {}
