//! The limiter bugs a review found (issue 19), each pinned by the test that
//! failed before its fix. In memory, on paused time; the Redis ones are in
//! `tests/redis_store.rs`.

mod support;

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::{Request, Response};
use support::{chat, Recorder};
use tokio::time::Instant;
use tower::{Layer, Service, ServiceExt};
use tower_together::extensions::ApiKeyFingerprint;
use tower_together::{Quota, RateLimitLayer};

/// Bug 2: a stated limit of 0.001 requests a second (garbled, or a hostile
/// proxy) paced the scope at one request per 1 000 s. It is floored at a
/// 64th of the quota (as the 429 cut is), and forgotten after a minute
/// without being stated again.
#[tokio::test(start_paused = true)]
async fn a_tiny_stated_limit_is_floored_and_expires() {
    let tiny = vec![("x-ratelimit-limit", "0.001".to_owned())];
    let recorder = Recorder::script(vec![(200, tiny), (200, vec![])]);
    let service = RateLimitLayer::new(Quota::per_second(10).burst(1)).layer(recorder.clone());
    let start = Instant::now();
    service.clone().oneshot(chat(0)).await.unwrap();
    // The floor: 10/s ÷ 64 is one request per 6.4 s (not per 1 000 s).
    service.clone().oneshot(chat(1)).await.unwrap();
    assert_eq!(start.elapsed(), Duration::from_millis(6_400));
    // The second answer stated nothing: a minute after the first one, the
    // scope is back at its quota.
    tokio::time::sleep_until(start + Duration::from_secs(61)).await;
    let again = Instant::now();
    for i in 2..5 {
        service.clone().oneshot(chat(i)).await.unwrap();
    }
    assert_eq!(again.elapsed(), Duration::from_millis(200), "10/s again");
}

/// A service that is ready only while `ready` is set. It wakes nobody when
/// it opens (the request it held is dropped by then), so paused time can
/// move on while it is shut.
#[derive(Clone)]
struct Gate {
    ready: Arc<AtomicBool>,
    inner: Recorder,
}

impl<B> Service<Request<B>> for Gate {
    type Response = Response<String>;
    type Error = Infallible;
    type Future = <Recorder as Service<Request<B>>>::Future;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        if self.ready.load(Ordering::SeqCst) {
            Poll::Ready(Ok(()))
        } else {
            Poll::Pending
        }
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        self.inner.call(request)
    }
}

/// Bug 6: a request granted its slot, then dropped while the service below
/// was not ready, kept the slot charged: the next request waited for a
/// slot nobody used. It is given back.
#[tokio::test(start_paused = true)]
async fn a_request_dropped_between_its_grant_and_its_send_gives_its_slot_back() {
    let ready = Arc::new(AtomicBool::new(false));
    let recorder = Recorder::ok();
    let gate = Gate {
        ready: ready.clone(),
        inner: recorder.clone(),
    };
    let service = RateLimitLayer::new(Quota::per_second(1).burst(1)).layer(gate);
    let start = Instant::now();
    // Granted at once (full bucket), then stuck on the gate, then dropped.
    let stuck = tokio::time::timeout(Duration::from_millis(10), service.clone().oneshot(chat(0)));
    assert!(stuck.await.is_err(), "the gate holds it");
    assert_eq!(recorder.count(), 0, "never sent");
    ready.store(true, Ordering::SeqCst);
    service.clone().oneshot(chat(1)).await.unwrap();
    assert_eq!(
        start.elapsed(),
        Duration::from_millis(10),
        "the unused slot was given back, so no wait for the next one"
    );
}

/// Bug 7: `Bearer` and `bearer` (and stray spaces) name one API key, so one
/// scope; and the fingerprint the typed client sets is the same identity.
#[tokio::test(start_paused = true)]
async fn one_api_key_is_one_scope_however_its_header_is_spelled() {
    let recorder = Recorder::ok();
    let service = RateLimitLayer::new(Quota::per_second(1).burst(1)).layer(recorder.clone());
    let start = Instant::now();
    let spelled = |id: usize, authorization: &str| {
        let mut request = chat(id);
        request
            .headers_mut()
            .insert("authorization", authorization.parse().unwrap());
        request
    };
    service
        .clone()
        .oneshot(spelled(0, "Bearer k-1"))
        .await
        .unwrap();
    service
        .clone()
        .oneshot(spelled(1, "bearer k-1"))
        .await
        .unwrap();
    service
        .clone()
        .oneshot(spelled(2, "BEARER   k-1 "))
        .await
        .unwrap();
    let mut tagged = spelled(3, "Bearer k-1");
    tagged
        .extensions_mut()
        .insert(ApiKeyFingerprint::of_api_key("k-1"));
    service.clone().oneshot(tagged).await.unwrap();
    assert_eq!(start.elapsed(), Duration::from_secs(3), "one budget of 1/s");
    // Another key is another scope: it goes at once.
    let other = Instant::now();
    service
        .clone()
        .oneshot(spelled(4, "Bearer k-2"))
        .await
        .unwrap();
    assert_eq!(other.elapsed(), Duration::ZERO);
    assert_eq!(
        ApiKeyFingerprint::of_authorization(&"bearer  k-1".parse().unwrap()),
        ApiKeyFingerprint::of_api_key("k-1")
    );
}
