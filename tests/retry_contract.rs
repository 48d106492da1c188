//! The retry contract of the two retry layers together, on paused time:
//! one attempt budget per call (5 sends by default, whatever mix of 429s,
//! 5xx and transport errors), the statuses Together's SDKs retry (408, 409,
//! 429, 5xx) less 501/505 and job-creating 409s, and `x-should-retry` obeyed
//! both ways.

use std::future::{ready, Ready};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use http::{Request, Response};
use tokio::time::Instant;
use tower::{Layer, Service, ServiceBuilder, ServiceExt};
use tower_together::extensions::{AttemptBudget, Idempotency};
use tower_together::{BackoffLayer, Quota, RateLimitLayer, RetryAfterLayer};

/// One scripted outcome of a send.
#[derive(Clone, Debug)]
enum Outcome {
    Status(u16, Vec<(&'static str, &'static str)>),
    Transport,
}
use Outcome::{Status, Transport};

fn status(code: u16) -> Outcome {
    Status(code, vec![])
}

/// Answers each send with the next outcome of its script (the last one
/// repeats) and counts the sends.
#[derive(Clone)]
struct Scripted {
    script: Arc<Mutex<Vec<Outcome>>>,
    sends: Arc<Mutex<Vec<Instant>>>,
    /// The call's budget as each send found it: sends counted so far.
    budgets: Arc<Mutex<Vec<Option<u32>>>>,
}

impl Scripted {
    fn new(script: Vec<Outcome>) -> Self {
        assert!(!script.is_empty());
        Scripted {
            script: Arc::new(Mutex::new(script.into_iter().rev().collect())),
            sends: Arc::default(),
            budgets: Arc::default(),
        }
    }

    fn budgets(&self) -> Vec<Option<u32>> {
        self.budgets.lock().unwrap().clone()
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

    fn call(&mut self, request: Request<B>) -> Self::Future {
        self.sends.lock().unwrap().push(Instant::now());
        let budget = request.extensions().get::<AttemptBudget>();
        self.budgets
            .lock()
            .unwrap()
            .push(budget.map(AttemptBudget::sent));
        let mut script = self.script.lock().unwrap();
        let outcome = if script.len() > 1 {
            script.pop().unwrap()
        } else {
            script[0].clone()
        };
        ready(match outcome {
            Transport => Err("connection reset"),
            Status(code, headers) => {
                let mut response = Response::builder().status(code);
                for (name, value) in headers {
                    response = response.header(name, value);
                }
                Ok(response.body(String::new()).unwrap())
            }
        })
    }
}

fn chat() -> Request<String> {
    Request::post("https://api.together.ai/v1/chat/completions")
        .header("authorization", "Bearer test-key")
        .body(String::from("{}"))
        .unwrap()
}

fn post(path: &str) -> Request<String> {
    Request::post(format!("https://api.together.ai/v1{path}"))
        .body(String::from("{}"))
        .unwrap()
}

/// The default stack: BackoffLayer > RetryAfterLayer over `server`.
async fn through_stack(server: &Scripted, request: Request<String>) -> Result<u16, &'static str> {
    let service = ServiceBuilder::new()
        .layer(BackoffLayer::new())
        .layer(RetryAfterLayer::new())
        .service(server.clone());
    service.oneshot(request).await.map(|r| r.status().as_u16())
}

/// Every sequence of `len` outcomes drawn from `choices`.
fn sequences(choices: &[Outcome], len: u32) -> Vec<Vec<Outcome>> {
    let n = choices.len();
    (0..n.pow(len))
        .map(|mut index| {
            (0..len)
                .map(|_| {
                    let pick = choices[index % n].clone();
                    index /= n;
                    pick
                })
                .collect()
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn no_mix_of_429_503_and_transport_errors_makes_more_than_five_sends() {
    let choices = [status(429), status(503), Transport];
    // Every order of the first six outcomes; the sixth repeats for ever.
    for script in sequences(&choices, 6) {
        let server = Scripted::new(script.clone());
        let _ = through_stack(&server, chat()).await;
        assert_eq!(server.sends(), 5, "{script:?}");
    }
    // A mix that ends in success stops there, within the budget.
    let server = Scripted::new(vec![status(429), Transport, status(503), status(200)]);
    assert_eq!(through_stack(&server, chat()).await, Ok(200));
    assert_eq!(server.sends(), 4);
}

#[tokio::test(start_paused = true)]
async fn the_budget_holds_in_the_documented_order_with_the_limiter_below() {
    for script in sequences(&[status(429), status(502), Transport], 4) {
        let server = Scripted::new(script.clone());
        let service = ServiceBuilder::new()
            .layer(BackoffLayer::new())
            .layer(RetryAfterLayer::new())
            .layer(RateLimitLayer::new(Quota::per_second(100)))
            .service(server.clone());
        let _ = service.oneshot(chat()).await;
        assert_eq!(server.sends(), 5, "{script:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_callers_budget_lowers_the_sends_and_never_raises_them() {
    let mut request = chat();
    request.extensions_mut().insert(AttemptBudget::new(2));
    let server = Scripted::new(vec![status(429), status(503)]);
    assert_eq!(through_stack(&server, request).await, Ok(503));
    assert_eq!(server.sends(), 2);

    // A budget of 1 (or 0, read as 1): one send, no retry.
    for size in [0, 1] {
        let mut request = chat();
        request.extensions_mut().insert(AttemptBudget::new(size));
        let server = Scripted::new(vec![Transport]);
        assert!(through_stack(&server, request).await.is_err());
        assert_eq!(server.sends(), 1);
    }

    // A bigger budget than the layers' max_retries: max_retries still caps.
    let mut request = chat();
    request.extensions_mut().insert(AttemptBudget::new(1000));
    let server = Scripted::new(vec![status(503)]);
    let service = BackoffLayer::new().max_retries(2).layer(server.clone());
    assert_eq!(service.oneshot(request).await.unwrap().status(), 503);
    assert_eq!(server.sends(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_layer_alone_sends_at_most_max_retries_plus_one() {
    for retries in [0, 1, 4, 6, 9] {
        let server = Scripted::new(vec![status(429)]);
        let service = RetryAfterLayer::new()
            .max_retries(retries)
            .jitter(Duration::ZERO)
            .layer(server.clone());
        assert_eq!(service.oneshot(chat()).await.unwrap().status(), 429);
        assert_eq!(server.sends() as u32, retries + 1, "RetryAfterLayer");

        let server = Scripted::new(vec![Transport]);
        let service = BackoffLayer::new()
            .max_retries(retries)
            .layer(server.clone());
        assert!(service.oneshot(chat()).await.is_err());
        assert_eq!(server.sends() as u32, retries + 1, "BackoffLayer");
    }
    // An explicit max_attempts on the one layer lowers it.
    let server = Scripted::new(vec![status(503)]);
    let service = BackoffLayer::new()
        .max_retries(9)
        .max_attempts(3)
        .layer(server.clone());
    service.oneshot(chat()).await.unwrap();
    assert_eq!(server.sends(), 3);
}

#[tokio::test(start_paused = true)]
async fn the_outer_layers_setting_sizes_the_shared_budget() {
    // Retries off for 5xx do not turn off 429 retries below.
    let server = Scripted::new(vec![status(429), status(429), status(200)]);
    let service = ServiceBuilder::new()
        .layer(BackoffLayer::new().max_retries(0))
        .layer(RetryAfterLayer::new())
        .service(server.clone());
    assert_eq!(service.oneshot(chat()).await.unwrap().status(), 200);
    assert_eq!(server.sends(), 3);

    // max_attempts on the outer layer bounds both.
    let server = Scripted::new(vec![status(429), status(503), status(429)]);
    let service = ServiceBuilder::new()
        .layer(BackoffLayer::new().max_attempts(3))
        .layer(RetryAfterLayer::new())
        .service(server.clone());
    assert_eq!(service.oneshot(chat()).await.unwrap().status(), 429);
    assert_eq!(server.sends(), 3);
}

#[tokio::test(start_paused = true)]
async fn request_timeouts_and_conflicts_are_retried_with_backoff() {
    for code in [408, 409] {
        let server = Scripted::new(vec![status(code), status(code), status(200)]);
        assert_eq!(through_stack(&server, chat()).await, Ok(200), "{code}");
        assert_eq!(server.sends(), 3);
        // Exponential, shortened by at most 25 % jitter.
        let gaps = server.gaps();
        assert!(gaps[0] <= Duration::from_secs(1) && gaps[0] >= Duration::from_millis(750));
        assert!(gaps[1] <= Duration::from_secs(2) && gaps[1] >= Duration::from_millis(1500));
    }
    // Spent retries give the last 409 back.
    let server = Scripted::new(vec![status(409)]);
    assert_eq!(through_stack(&server, chat()).await, Ok(409));
    assert_eq!(server.sends(), 5);
}

#[tokio::test(start_paused = true)]
async fn a_conflict_on_a_job_creating_post_is_not_retried() {
    for path in ["/fine-tunes", "/batches", "/files/upload"] {
        let server = Scripted::new(vec![status(409), status(200)]);
        assert_eq!(through_stack(&server, post(path)).await, Ok(409), "{path}");
        assert_eq!(server.sends(), 1, "{path}");

        // Not even when the caller marks it safe to repeat: there a 409
        // means too many jobs, which a resend in a second cannot fix.
        let mut request = post(path);
        request.extensions_mut().insert(Idempotency::Idempotent);
        let server = Scripted::new(vec![status(409), status(200)]);
        assert_eq!(through_stack(&server, request).await, Ok(409), "{path}");
        assert_eq!(server.sends(), 1, "{path}");
    }
    // Cancelling a job and reading one are not creating one.
    for request in [
        post("/fine-tunes/ft-1/cancel"),
        Request::get("https://api.together.ai/v1/batches/b-1")
            .body(String::new())
            .unwrap(),
    ] {
        let server = Scripted::new(vec![status(409), status(200)]);
        assert_eq!(through_stack(&server, request).await, Ok(200));
        assert_eq!(server.sends(), 2);
    }
}

#[tokio::test(start_paused = true)]
async fn server_errors_are_retried_except_501_and_505() {
    for code in [500, 502, 503, 504, 520, 524, 529] {
        let server = Scripted::new(vec![status(code), status(200)]);
        assert_eq!(through_stack(&server, chat()).await, Ok(200), "{code}");
        assert_eq!(server.sends(), 2, "{code}");
    }
    for code in [501, 505] {
        let server = Scripted::new(vec![status(code), status(200)]);
        assert_eq!(through_stack(&server, chat()).await, Ok(code), "{code}");
        assert_eq!(server.sends(), 1, "{code}");
    }
    // Other 4xx are final.
    for code in [400, 401, 402, 403, 404, 422] {
        let server = Scripted::new(vec![status(code), status(200)]);
        assert_eq!(through_stack(&server, chat()).await, Ok(code), "{code}");
        assert_eq!(server.sends(), 1, "{code}");
    }
}

#[tokio::test(start_paused = true)]
async fn x_should_retry_true_makes_any_error_status_retryable() {
    for code in [400, 404, 422, 501, 505] {
        let server = Scripted::new(vec![
            Status(code, vec![("x-should-retry", "true")]),
            status(200),
        ]);
        assert_eq!(through_stack(&server, chat()).await, Ok(200), "{code}");
        assert_eq!(server.sends(), 2, "{code}");
    }
    // On a success it means nothing.
    let server = Scripted::new(vec![
        Status(200, vec![("x-should-retry", "true")]),
        status(500),
    ]);
    assert_eq!(through_stack(&server, chat()).await, Ok(200));
    assert_eq!(server.sends(), 1);
}

#[tokio::test(start_paused = true)]
async fn x_should_retry_false_stops_every_retry() {
    for code in [408, 409, 429, 500, 502, 503, 504] {
        let server = Scripted::new(vec![
            Status(
                code,
                vec![("x-should-retry", "false"), ("retry-after", "1")],
            ),
            status(200),
        ]);
        assert_eq!(through_stack(&server, chat()).await, Ok(code), "{code}");
        assert_eq!(server.sends(), 1, "{code}");
    }
}

#[tokio::test(start_paused = true)]
async fn the_budget_is_per_call_not_per_service() {
    // Five calls through one service, each spending its whole budget.
    let server = Scripted::new(vec![status(503)]);
    let service = ServiceBuilder::new()
        .layer(BackoffLayer::new())
        .layer(RetryAfterLayer::new())
        .service(server.clone());
    for call in 1..=5 {
        service.clone().oneshot(chat()).await.unwrap();
        assert_eq!(server.sends(), 5 * call);
    }
}

/// The default stack with the 429 layer's jitter off and `max_retries`.
fn stack_with_429_retries(
    server: &Scripted,
    retries: u32,
) -> impl Service<Request<String>, Response = Response<String>, Error = &'static str> {
    ServiceBuilder::new()
        .layer(BackoffLayer::new())
        .layer(
            RetryAfterLayer::new()
                .max_retries(retries)
                .jitter(Duration::ZERO),
        )
        .service(server.clone())
}

/// A chat call through [`stack_with_429_retries`] against `script`.
async fn chat_through(script: Vec<Outcome>, retries: u32) -> (Response<String>, Scripted) {
    let server = Scripted::new(script);
    let response = stack_with_429_retries(&server, retries)
        .oneshot(chat())
        .await
        .unwrap();
    (response, server)
}

/// Below a backoff layer, the 429 layer resends its 429s itself, from its
/// own copy: the wire sees its wait, its count (started afresh after a 5xx
/// resend, which it meets as a new call), and the answer given back
/// carries nothing added on the way.
#[tokio::test(start_paused = true)]
async fn stacked_429s_are_resent_as_the_429_layer_alone_would() {
    // Its wait.
    let script = vec![Status(429, vec![("retry-after", "3")]), status(200)];
    let (response, server) = chat_through(script, 4).await;
    assert_eq!(response.status(), 200);
    assert_eq!(server.gaps(), vec![Duration::from_secs(3)]);

    // (script, the 429 layer's max_retries, final status, sends)
    let cases = [
        // Its count: one resend, so the second 429 in a row is given back.
        (vec![status(429), status(429), status(200)], 1, 429, 2),
        // Counted afresh after the backoff layer's own resend.
        (
            vec![status(429), status(503), status(429), status(200)],
            1,
            200,
            4,
        ),
        // A wait over `max_wait` is given back at once.
        (vec![Status(429, vec![("retry-after", "120")])], 4, 429, 1),
    ];
    for (script, retries, final_status, sends) in cases {
        let (response, server) = chat_through(script.clone(), retries).await;
        assert_eq!(response.status(), final_status, "{script:?}");
        assert_eq!(server.sends(), sends, "{script:?}");
        assert!(
            response.extensions().is_empty(),
            "a layer tagged the answer"
        );
    }
}

/// A job-creating POST is not repeated by the backoff layer, which so keeps
/// no copy of it; the 429 layer keeps its own and still resends a 429 (the
/// server did not act on it).
#[tokio::test(start_paused = true)]
async fn a_429_on_a_request_the_backoff_layer_will_not_repeat_is_still_resent() {
    let server = Scripted::new(vec![status(429), status(200)]);
    let response = stack_with_429_retries(&server, 4)
        .oneshot(post("/fine-tunes"))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(server.sends(), 2);
}

/// The outer layer makes the call's budget before the first send, and
/// every send by either layer carries the count so far.
#[tokio::test(start_paused = true)]
async fn the_budget_is_made_before_the_first_send_and_counts_every_send() {
    let script = vec![
        status(503),
        Status(429, vec![("retry-after", "1")]),
        Transport,
        status(200),
    ];
    let (response, server) = chat_through(script, 4).await;
    assert_eq!(response.status(), 200);
    assert_eq!(server.budgets(), vec![Some(1), Some(2), Some(3), Some(4)]);

    // A request the backoff layer will not repeat: the same, for the 429
    // layer that resends it.
    let server = Scripted::new(vec![status(429), status(200)]);
    stack_with_429_retries(&server, 4)
        .oneshot(post("/fine-tunes"))
        .await
        .unwrap();
    assert_eq!(server.budgets(), vec![Some(1), Some(2)]);
}

/// Two backoff layers stacked each resend on their own, and the call's one
/// budget bounds them both: the inner one's delays, 5 sends in all (not
/// 5 × 5); a 429 from further below is still resent by the 429 layer.
#[tokio::test(start_paused = true)]
async fn nested_backoff_layers_share_the_calls_budget() {
    let nested = |server: &Scripted| {
        ServiceBuilder::new()
            .layer(
                BackoffLayer::new()
                    .base_delay(Duration::from_secs(1))
                    .jitter_fraction(0.0),
            )
            .layer(
                BackoffLayer::new()
                    .base_delay(Duration::from_millis(10))
                    .jitter_fraction(0.0),
            )
            .layer(RetryAfterLayer::new().jitter(Duration::ZERO))
            .service(server.clone())
    };
    let server = Scripted::new(vec![status(503)]);
    let response = nested(&server).oneshot(chat()).await.unwrap();
    assert_eq!(response.status(), 503);
    let millis = |s: &[u64]| {
        s.iter()
            .map(|&s| Duration::from_millis(s))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        server.gaps(),
        millis(&[10, 20, 40, 80]),
        "the inner layer's delays, then the budget is spent"
    );

    let server = Scripted::new(vec![Status(429, vec![("retry-after", "3")]), status(200)]);
    let response = nested(&server).oneshot(chat()).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(server.gaps(), millis(&[3000]));
    assert!(
        response.extensions().is_empty(),
        "a layer tagged the answer"
    );
}
