//! A POST that may create a billed resource is sent once after a 5xx or a
//! transport error, unless marked idempotent: through the backoff layer
//! alone (raw HTTP), and through the typed client, which tags the requests
//! it knows. Paused time throughout.

use std::convert::Infallible;
use std::future::{ready, Ready};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::{Method, Request, Response};
use tower::{Layer, Service, ServiceExt};
use tower_together::extensions::Idempotency;
use tower_together::BackoffLayer;

/// Answers every send with `status` (or a transport error for 0), counting
/// the sends.
#[derive(Clone)]
struct Failing {
    status: u16,
    sends: Arc<AtomicUsize>,
}

impl Failing {
    fn new(status: u16) -> Self {
        Failing {
            status,
            sends: Arc::default(),
        }
    }

    fn sends(&self) -> usize {
        self.sends.load(Ordering::SeqCst)
    }
}

impl<B> Service<Request<B>> for Failing {
    type Response = Response<String>;
    type Error = &'static str;
    type Future = Ready<Result<Response<String>, &'static str>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<B>) -> Self::Future {
        self.sends.fetch_add(1, Ordering::SeqCst);
        if self.status == 0 {
            return ready(Err("connection reset"));
        }
        let response = Response::builder()
            .status(self.status)
            .body(String::new())
            .unwrap();
        ready(Ok(response))
    }
}

fn layer() -> BackoffLayer {
    BackoffLayer::new()
        .max_retries(3)
        .base_delay(Duration::from_millis(10))
        .jitter_fraction(0.0)
}

async fn sends_of(
    method: Method,
    path: &str,
    idempotency: Option<Idempotency>,
    status: u16,
) -> usize {
    let server = Failing::new(status);
    let service = layer().layer(server.clone());
    let mut request = Request::builder()
        .method(method)
        .uri(format!("https://api.together.ai/v1{path}"))
        .body(String::from("{}"))
        .unwrap();
    if let Some(idempotency) = idempotency {
        request.extensions_mut().insert(idempotency);
    }
    let _ = service.oneshot(request).await;
    server.sends()
}

#[tokio::test(start_paused = true)]
async fn a_post_to_a_path_not_known_safe_is_sent_once_after_a_5xx_or_transport_error() {
    for path in [
        "/videos",
        "/endpoints",
        "/evaluation",
        "/deployments",
        "/fine-tunes",
        "/batches",
        "/files/upload",
        "/something/new",
    ] {
        for status in [503, 500, 0] {
            assert_eq!(
                sends_of(Method::POST, path, None, status).await,
                1,
                "POST {path}, {status}"
            );
        }
    }
    assert_eq!(
        sends_of(Method::PATCH, "/endpoints/e-1", None, 503).await,
        1
    );
}

#[tokio::test(start_paused = true)]
async fn known_inference_posts_cancels_and_reads_are_resent() {
    for path in [
        "/chat/completions",
        "/completions",
        "/embeddings",
        "/images/generations",
        "/rerank",
        "/fine-tunes/ft-1/cancel",
    ] {
        assert_eq!(
            sends_of(Method::POST, path, None, 503).await,
            4,
            "POST {path}"
        );
    }
    for path in ["/videos/v-1", "/endpoints", "/deployments/d-1"] {
        assert_eq!(
            sends_of(Method::GET, path, None, 503).await,
            4,
            "GET {path}"
        );
    }
    assert_eq!(sends_of(Method::DELETE, "/endpoints/e-1", None, 0).await, 4);
}

#[tokio::test(start_paused = true)]
async fn the_idempotency_extension_decides_either_way() {
    let marked = Some(Idempotency::Idempotent);
    assert_eq!(sends_of(Method::POST, "/videos", marked, 503).await, 4);
    assert_eq!(sends_of(Method::POST, "/endpoints", marked, 0).await, 4);
    let unmarked = Some(Idempotency::NonIdempotent);
    assert_eq!(
        sends_of(Method::POST, "/chat/completions", unmarked, 503).await,
        1
    );
}

#[cfg(feature = "client")]
mod typed {
    use super::*;
    use bytes::Bytes;
    use http_body_util::Full;
    use serde_json::json;
    use tower_together::types::{SpeechRequest, VideoRequest};
    use tower_together::{ChatRequest, Message, Quota, RateLimitLayer, Together};

    type Req = Request<Full<Bytes>>;

    /// A typed client over a transport answering 503 to everything.
    fn client(sends: Arc<AtomicUsize>) -> Together {
        let transport = tower::service_fn(move |_req: Req| {
            sends.fetch_add(1, Ordering::SeqCst);
            async move {
                let response = Response::builder()
                    .status(503)
                    .header("content-type", "application/json")
                    .body(Full::new(Bytes::from_static(
                        br#"{"error":{"message":"busy","type":"server_error"}}"#,
                    )))
                    .unwrap();
                Ok::<_, Infallible>(response)
            }
        });
        Together::builder()
            .api_key("sk-test")
            .base_url("http://sim.test/v1")
            .rate_limit(RateLimitLayer::new(Quota::per_second(1_000)))
            .backoff(layer())
            .circuit_breaker(None)
            .build_with_transport(transport)
            .unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn the_typed_client_sends_a_video_job_and_an_unknown_post_once() {
        let sends = Arc::new(AtomicUsize::new(0));
        let client = client(sends.clone());
        client
            .create_video(VideoRequest::new("m/v"))
            .await
            .unwrap_err();
        assert_eq!(sends.swap(0, Ordering::SeqCst), 1, "POST /videos");
        let answer: Result<serde_json::Value, _> = client
            .call(Method::POST, "/endpoints", Some(json!({"model": "m/x"})))
            .await;
        answer.unwrap_err();
        assert_eq!(sends.swap(0, Ordering::SeqCst), 1, "POST /endpoints");
    }

    #[tokio::test(start_paused = true)]
    async fn the_typed_client_resends_what_it_knows_is_safe() {
        let sends = Arc::new(AtomicUsize::new(0));
        let client = client(sends.clone());
        client
            .chat(ChatRequest::new("m/x", vec![Message::user("hi")]))
            .await
            .unwrap_err();
        assert_eq!(sends.swap(0, Ordering::SeqCst), 4, "chat");
        client
            .speech(SpeechRequest::new("m/tts", "hi", "alloy"))
            .await
            .unwrap_err();
        assert_eq!(sends.swap(0, Ordering::SeqCst), 4, "audio speech");
        let answer: Result<serde_json::Value, _> = client
            .call_idempotent(Method::POST, "/endpoints/e-1/usage", None)
            .await;
        answer.unwrap_err();
        assert_eq!(
            sends.swap(0, Ordering::SeqCst),
            4,
            "a call marked idempotent"
        );
    }
}
