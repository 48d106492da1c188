//! Test doubles shared by the layer tests: services that record when they
//! were called and answer from a script.
#![allow(dead_code, unreachable_pub)]

use std::convert::Infallible;
use std::future::{ready, Ready};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use http::{Request, Response, StatusCode};
use tokio::time::Instant;
use tower::Service;

/// One call the double saw.
#[derive(Clone, Debug)]
pub struct Call {
    pub at: Instant,
    pub path: String,
    pub id: Option<String>,
}

/// A scripted answer: a status and its headers.
pub type Answer = (u16, Vec<(&'static str, String)>);

/// Answers each call with the next status of its script (the last one
/// repeats), with the given headers, and records every call.
#[derive(Clone, Debug)]
pub struct Recorder {
    calls: Arc<Mutex<Vec<Call>>>,
    script: Arc<Mutex<Vec<Answer>>>,
}

impl Recorder {
    /// Answers 200 forever.
    pub fn ok() -> Self {
        Self::script(vec![(200, vec![])])
    }

    pub fn script(script: Vec<Answer>) -> Self {
        assert!(!script.is_empty());
        Recorder {
            calls: Arc::default(),
            script: Arc::new(Mutex::new(script.into_iter().rev().collect())),
        }
    }

    /// The same status (and headers) on every call.
    pub fn always(status: u16, headers: Vec<(&'static str, String)>) -> Self {
        Self::script(vec![(status, headers)])
    }

    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    pub fn times(&self) -> Vec<Instant> {
        self.calls().iter().map(|c| c.at).collect()
    }

    pub fn count(&self) -> usize {
        self.calls.lock().unwrap().len()
    }
}

impl<B> Service<Request<B>> for Recorder {
    type Response = Response<String>;
    type Error = Infallible;
    type Future = Ready<Result<Response<String>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let mut calls = self.calls.lock().unwrap();
        calls.push(Call {
            at: Instant::now(),
            path: request.uri().path().to_owned(),
            id: request
                .headers()
                .get("x-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        });
        let attempt = calls.len();
        let mut script = self.script.lock().unwrap();
        let (status, headers) = if script.len() > 1 {
            script.pop().unwrap()
        } else {
            script[0].clone()
        };
        let mut response = Response::builder().status(StatusCode::from_u16(status).unwrap());
        for (name, value) in headers {
            response = response.header(name, value);
        }
        ready(Ok(response.body(format!("attempt {attempt}")).unwrap()))
    }
}

/// A chat completion request, tagged with an id the recorder logs.
pub fn chat(id: usize) -> Request<String> {
    Request::post("https://api.together.ai/v1/chat/completions")
        .header("x-id", id.to_string())
        .header("authorization", "Bearer test-key")
        .body(String::from("{}"))
        .unwrap()
}

/// The largest number of instants in any window `[t, t + width)` that starts
/// at one of them. `times` must be sorted.
pub fn max_in_window(times: &[Instant], width: std::time::Duration) -> usize {
    let mut best = 0;
    let mut end = 0;
    for start in 0..times.len() {
        while end < times.len() && times[end] < times[start] + width {
            end += 1;
        }
        best = best.max(end - start);
    }
    best
}

/// A server double that enforces `rate` requests per second with a token
/// bucket of `rate` tokens (as Together does: per second, small burst),
/// answers 429 with `retry-after` (whole seconds) when over, and 503 on
/// every `fail_every`-th admitted request.
#[derive(Clone)]
pub struct Throttled {
    state: Arc<Mutex<ThrottledState>>,
}

struct ThrottledState {
    rate: f64,
    tokens: f64,
    last: Instant,
    fail_every: usize,
    admitted: usize,
    pub too_many: usize,
    pub failed: usize,
}

impl Throttled {
    pub fn new(rate: u32, fail_every: usize) -> Self {
        Throttled {
            state: Arc::new(Mutex::new(ThrottledState {
                rate: f64::from(rate),
                tokens: f64::from(rate),
                last: Instant::now(),
                fail_every,
                admitted: 0,
                too_many: 0,
                failed: 0,
            })),
        }
    }

    /// (requests admitted, 429s sent, 503s sent)
    pub fn counts(&self) -> (usize, usize, usize) {
        let s = self.state.lock().unwrap();
        (s.admitted, s.too_many, s.failed)
    }
}

impl<B> Service<Request<B>> for Throttled {
    type Response = Response<String>;
    type Error = Infallible;
    type Future = Ready<Result<Response<String>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _request: Request<B>) -> Self::Future {
        let mut s = self.state.lock().unwrap();
        let now = Instant::now();
        let elapsed = (now - s.last).as_secs_f64();
        s.tokens = (s.tokens + elapsed * s.rate).min(s.rate);
        s.last = now;
        // A hair of tolerance for float rounding of exactly-due tokens.
        if s.tokens < 1.0 - 1e-9 {
            s.too_many += 1;
            let wait = ((1.0 - s.tokens) / s.rate).ceil().max(1.0);
            let response = Response::builder()
                .status(429)
                .header("retry-after", format!("{wait}"))
                .body(String::from(
                    r#"{"error":{"message":"rate limited","type":"rate_limit"}}"#,
                ))
                .unwrap();
            return ready(Ok(response));
        }
        s.tokens -= 1.0;
        s.admitted += 1;
        if s.fail_every > 0 && s.admitted % s.fail_every == 0 {
            s.failed += 1;
            return ready(Ok(Response::builder()
                .status(503)
                .body(String::new())
                .unwrap()));
        }
        ready(Ok(Response::new(String::from("ok"))))
    }
}

/// A server that answers 429 with `retry-after-ms: {wait_ms}` to requests
/// carrying an `x-test-429` header, and 200 to the rest.
pub fn throttles_on_header(
    wait_ms: u64,
) -> impl Service<Request<String>, Response = Response<String>, Error = Infallible, Future: Send>
       + Clone
       + Send {
    tower::service_fn(move |req: Request<String>| async move {
        let mut response = Response::new(String::new());
        if req.headers().contains_key("x-test-429") {
            *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
            response
                .headers_mut()
                .insert("retry-after-ms", http::HeaderValue::from(wait_ms));
        }
        Ok::<_, Infallible>(response)
    })
}
