//! Bounds on response bodies, in size and in time: a JSON answer has a
//! small limit and a download its own larger one, and a body that stops
//! sending for the idle timeout ends the call (a typed timeout for an
//! answer, the error status for an error answer), even with no total
//! timeout. A `service_fn` double whose body sends some bytes and then
//! never another, on paused time.
#![cfg(feature = "client")]

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{stream, StreamExt};
use http::{Request, Response};
use http_body::Frame;
use http_body_util::{Full, StreamBody};
use tokio::time::Instant;
use tower_together::{ChatRequest, Message, Together, TogetherBuilder};

type Req = Request<Full<Bytes>>;
type Chunk = Result<Frame<Bytes>, Infallible>;
type Body = StreamBody<stream::BoxStream<'static, Chunk>>;

const MODEL: &str = "m/x";

/// Answers `status` with `content_type`, sending `first` and then, when
/// `stall`, nothing ever again (the connection stays open).
fn server(
    status: u16,
    content_type: &'static str,
    first: Bytes,
    stall: bool,
) -> impl tower::Service<Req, Response = Response<Body>, Error = Infallible, Future = impl Send>
       + Clone
       + Send
       + Sync {
    tower::service_fn(move |_req: Req| {
        let first = stream::iter([Ok(Frame::data(first.clone()))]);
        let body: stream::BoxStream<'static, Chunk> = if stall {
            first.chain(stream::pending()).boxed()
        } else {
            first.boxed()
        };
        async move {
            Ok::<_, Infallible>(
                Response::builder()
                    .status(status)
                    .header("content-type", content_type)
                    .body(StreamBody::new(body))
                    .unwrap(),
            )
        }
    })
}

fn builder() -> TogetherBuilder {
    Together::builder()
        .api_key("sk-test")
        .base_url("http://sim.test/v1")
        .total_timeout(None)
        .max_retries(0)
}

fn chat() -> ChatRequest {
    ChatRequest::new(MODEL, vec![Message::user("hi")])
}

/// Runs `call`, failing the test if it does not end within a virtual day.
async fn bounded<T>(call: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(86_400), call)
        .await
        .expect("the call hung")
}

#[tokio::test(start_paused = true)]
async fn a_json_body_that_stalls_is_a_timeout_after_the_idle_timeout() {
    let client = builder()
        .stream_idle_timeout(Some(Duration::from_secs(30)))
        .build_with_transport(server(
            200,
            "application/json",
            Bytes::from_static(b"{\"id\":"),
            true,
        ))
        .unwrap();
    let start = Instant::now();
    let error = bounded(client.chat(chat())).await.unwrap_err();
    assert!(error.is_timeout(), "{error:?}");
    assert_eq!(start.elapsed(), Duration::from_secs(30));
}

#[tokio::test(start_paused = true)]
async fn an_error_body_that_stalls_still_gives_its_status_after_the_idle_timeout() {
    let client = builder()
        .stream_idle_timeout(Some(Duration::from_secs(30)))
        .build_with_transport(server(
            400,
            "application/json",
            Bytes::from_static(b"{\"error\":{\"message\":\"bad"),
            true,
        ))
        .unwrap();
    let start = Instant::now();
    let error = bounded(client.chat(chat())).await.unwrap_err();
    assert_eq!(error.status().map(|s| s.as_u16()), Some(400), "{error:?}");
    assert_eq!(start.elapsed(), Duration::from_secs(30));
}

#[tokio::test(start_paused = true)]
async fn a_stream_that_stalls_is_a_timeout_after_the_idle_timeout() {
    let client = builder()
        .stream_idle_timeout(Some(Duration::from_secs(30)))
        .build_with_transport(server(
            200,
            "text/event-stream",
            Bytes::from_static(b": hi\n\n"),
            true,
        ))
        .unwrap();
    let start = Instant::now();
    let mut stream = bounded(client.chat_stream(chat())).await.unwrap();
    let error = bounded(stream.next()).await.unwrap().unwrap_err();
    assert!(error.is_timeout(), "{error:?}");
    assert_eq!(start.elapsed(), Duration::from_secs(30));
}

/// 16 MiB and one byte of valid JSON.
fn big_json() -> Bytes {
    let limit = 16 * 1024 * 1024;
    let mut body = Vec::with_capacity(limit + 16);
    body.extend_from_slice(b"{\"pad\":\"");
    body.resize(limit - 1, b'a');
    body.extend_from_slice(b"\"}");
    assert_eq!(body.len(), limit + 1);
    Bytes::from(body)
}

#[tokio::test(start_paused = true)]
async fn a_json_answer_over_16_mib_is_refused_and_a_download_is_not() {
    let client = builder()
        .build_with_transport(server(200, "application/json", big_json(), false))
        .unwrap();
    let answer: Result<serde_json::Value, _> =
        bounded(client.call(http::Method::GET, "/big", None)).await;
    // Not `unwrap_err`: it would print 16 MiB of answer.
    let Err(error) = answer else {
        panic!("a 16 MiB + 1 JSON answer was read");
    };
    assert!(error.to_string().contains("16777216"), "{error}");

    // The same bytes as a file's content: a download, under its own limit.
    let bytes = bounded(client.file_content("file-1")).await.unwrap();
    assert_eq!(bytes.len(), 16 * 1024 * 1024 + 1);
}

#[tokio::test(start_paused = true)]
async fn both_limits_can_be_set() {
    let client = builder()
        .max_response_bytes(1024)
        .max_download_bytes(2048)
        .build_with_transport(server(
            200,
            "application/octet-stream",
            Bytes::from(vec![b'x'; 2049]),
            false,
        ))
        .unwrap();
    let error = bounded(client.file_content("file-1")).await.unwrap_err();
    assert!(error.to_string().contains("2048"), "{error}");
    let answer: Result<serde_json::Value, _> =
        bounded(client.call(http::Method::GET, "/big", None)).await;
    let Err(error) = answer else {
        panic!("a 2049-byte JSON answer was read");
    };
    assert!(error.to_string().contains("1024"), "{error}");
}
