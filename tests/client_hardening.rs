//! The typed client under hostile framing and absurd settings: a stream cut
//! into frames at arbitrary places yields the same events (property test),
//! and every duration setting at zero and at `Duration::MAX` neither panics
//! nor hangs. `PROPTEST_CASES` sets the number of cases (64 by default).

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{stream, StreamExt};
use http::{Request, Response};
use http_body::Frame;
use http_body_util::{Full, StreamBody};
use proptest::prelude::*;
use serde_json::json;
use tower::ServiceExt;
use tower_together::client::ErrorKind;
use tower_together::{ChatRequest, Message, Together, TogetherBuilder};

type Req = Request<Full<Bytes>>;
type Frames = StreamBody<stream::Iter<std::vec::IntoIter<Result<Frame<Bytes>, Infallible>>>>;

const MODEL: &str = "meta-llama/Llama-3.3-70B-Instruct-Turbo";

/// A chat stream of `pieces` chunks, as Together sends it, in one string.
fn sse(pieces: &[String]) -> String {
    let mut out = String::new();
    for (i, piece) in pieces.iter().enumerate() {
        let chunk = json!({"id": "c", "object": "chat.completion.chunk", "created": 0, "model": MODEL,
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": piece},
                         "finish_reason": if i + 1 == pieces.len() { json!("stop") } else { json!(null) }}]});
        // CRLF and LF line ends both occur in the wild.
        let end = if i % 2 == 0 { "\n\n" } else { "\r\n\r\n" };
        out.push_str(&format!("data: {chunk}{end}"));
    }
    out.push_str("data: [DONE]\n\n");
    out
}

/// Answers every request with `body`, cut into frames at `cuts`.
fn cut_server(
    body: String,
    cuts: Vec<usize>,
) -> impl tower::Service<Req, Response = Response<Frames>, Error = Infallible, Future = impl Send>
       + Clone
       + Send
       + Sync {
    tower::service_fn(move |_req: Req| {
        let bytes = Bytes::from(body.clone());
        let mut points: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
        points.push(0);
        points.push(bytes.len());
        points.sort_unstable();
        points.dedup();
        let frames: Vec<Result<Frame<Bytes>, Infallible>> = points
            .windows(2)
            .map(|w| Ok(Frame::data(bytes.slice(w[0]..w[1]))))
            .collect();
        async move {
            Ok::<_, Infallible>(
                Response::builder()
                    .header("content-type", "text/event-stream")
                    .body(StreamBody::new(stream::iter(frames)))
                    .unwrap(),
            )
        }
    })
}

async fn streamed(builder: TogetherBuilder, body: String, cuts: Vec<usize>) -> Vec<String> {
    let client = builder
        .api_key("sk-test")
        .base_url("http://sim.test/v1")
        .build_with_transport(cut_server(body, cuts))
        .unwrap();
    let request = ChatRequest::new(MODEL, vec![Message::user("hi")]);
    let mut stream = client.chat_stream(request).await.unwrap();
    let mut pieces = Vec::new();
    while let Some(chunk) = stream.next().await {
        pieces.push(chunk.unwrap().choices[0].delta.content.clone());
    }
    pieces
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(64)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn any_framing_of_a_stream_gives_the_same_events(
        pieces in prop::collection::vec("[a-zA-Z0-9 .,:é\u{1F600}\\n\"]{0,12}", 1..8),
        cuts in prop::collection::vec(0usize..4096, 0..40),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let body = sse(&pieces);
        let got = runtime.block_on(streamed(Together::builder(), body, cuts));
        prop_assert_eq!(got, pieces);
    }
}

/// Every duration setting at `Duration::MAX` is "no limit": the stream
/// comes through whole. At zero, the total timeout has passed before the
/// call starts: a typed timeout, at once, with nothing sent. Either way,
/// no panic and no hang.
#[tokio::test(start_paused = true)]
async fn every_client_duration_setting_at_zero_and_max_neither_panics_nor_hangs() {
    let body = sse(&["one".into(), "two".into()]);
    let builder = |setting| {
        Together::builder()
            .connect_timeout(setting)
            .timeout(setting)
            .stream_idle_timeout(Some(setting))
            .total_timeout(Some(setting))
            .poll_interval(setting)
    };
    let within = |call| tokio::time::timeout(Duration::from_secs(3600), call);

    let start = tokio::time::Instant::now();
    let (outcome, sends) = within(streamed_or_error(builder(Duration::MAX), body.clone()))
        .await
        .expect("Duration::MAX: hung");
    assert_eq!(outcome.map_err(|e| e.to_string()), Ok(2), "Duration::MAX");
    assert_eq!(sends, 1);
    assert_eq!(start.elapsed(), Duration::ZERO);

    let (outcome, sends) = within(streamed_or_error(builder(Duration::ZERO), body))
        .await
        .expect("Duration::ZERO: hung");
    let error = outcome.expect_err("a zero total timeout lets nothing through");
    assert!(error.is_timeout(), "Duration::ZERO: {error:?}");
    assert_eq!(error.kind(), ErrorKind::Timeout);
    assert_eq!(sends, 0, "nothing sent past the deadline");
    assert_eq!(start.elapsed(), Duration::ZERO);
}

/// Like `streamed`, returning the typed error instead of panicking, and
/// the sends the server saw.
async fn streamed_or_error(
    builder: TogetherBuilder,
    body: String,
) -> (Result<usize, tower_together::Error>, usize) {
    let sends = Arc::new(AtomicUsize::new(0));
    let counter = sends.clone();
    let server = cut_server(body, vec![7, 30]).map_request(move |req: Req| {
        counter.fetch_add(1, Ordering::SeqCst);
        req
    });
    let client = builder
        .api_key("sk-test")
        .base_url("http://sim.test/v1")
        .build_with_transport(server)
        .unwrap();
    let outcome = async {
        let request = ChatRequest::new(MODEL, vec![Message::user("hi")]);
        let mut stream = client.chat_stream(request).await?;
        let mut count = 0;
        while let Some(chunk) = stream.next().await {
            chunk?;
            count += 1;
        }
        Ok(count)
    }
    .await;
    (outcome, sends.load(Ordering::SeqCst))
}
