//! The typed client under hostile framing and absurd settings: a stream cut
//! into frames at arbitrary places yields the same events (property test),
//! and every duration setting at zero and at `Duration::MAX` neither panics
//! nor hangs. `PROPTEST_CASES` sets the number of cases (64 by default).

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{stream, StreamExt};
use http::{Request, Response};
use http_body::Frame;
use http_body_util::{Full, StreamBody};
use proptest::prelude::*;
use serde_json::json;
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

#[tokio::test(start_paused = true)]
async fn every_client_duration_setting_at_zero_and_max_neither_panics_nor_hangs() {
    let body = sse(&["one".into(), "two".into()]);
    for setting in [Duration::ZERO, Duration::MAX] {
        let builder = Together::builder()
            .connect_timeout(setting)
            .timeout(setting)
            .stream_idle_timeout(Some(setting))
            .total_timeout(Some(setting))
            .poll_interval(setting);
        let outcome = tokio::time::timeout(
            Duration::from_secs(3600),
            streamed_or_error(builder, body.clone()),
        )
        .await;
        assert!(outcome.is_ok(), "{setting:?}: hung");
    }
}

/// Like `streamed`, but a zero timeout may refuse the call: any `Result`,
/// as long as nothing panics.
async fn streamed_or_error(builder: TogetherBuilder, body: String) -> Result<usize, String> {
    let client = builder
        .api_key("sk-test")
        .base_url("http://sim.test/v1")
        .build_with_transport(cut_server(body, vec![7, 30]))
        .map_err(|e| e.to_string())?;
    let request = ChatRequest::new(MODEL, vec![Message::user("hi")]);
    let mut stream = client
        .chat_stream(request)
        .await
        .map_err(|e| e.to_string())?;
    let mut count = 0;
    while let Some(chunk) = stream.next().await {
        chunk.map_err(|e| e.to_string())?;
        count += 1;
    }
    Ok(count)
}
