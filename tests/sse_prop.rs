//! The client's SSE parser against a simple reference parser of the whole
//! body, on random framings: random frame boundaries, `\n`, `\r\n` and
//! `\r` line ends, events whose JSON is split over several `data:` lines,
//! comments, and `[DONE]`. `PROPTEST_CASES` sets the number of cases (64
//! by default).
#![cfg(feature = "client")]

use std::convert::Infallible;

use bytes::Bytes;
use futures_util::{stream, StreamExt};
use http::{Request, Response};
use http_body::Frame;
use http_body_util::{Full, StreamBody};
use proptest::prelude::*;
use serde_json::{json, Value};
use tower_together::{ChatRequest, Message, Together};

type Req = Request<Full<Bytes>>;
type Frames = StreamBody<stream::Iter<std::vec::IntoIter<Result<Frame<Bytes>, Infallible>>>>;

const MODEL: &str = "m/x";

/// One chunk as Together sends it, with `content`.
fn chunk(content: &str) -> String {
    json!({"id": "c", "object": "chat.completion.chunk", "created": 0, "model": MODEL,
        "choices": [{"index": 0, "delta": {"role": "assistant", "content": content}}]})
    .to_string()
}

/// The JSON text cut after some of its commas (outside strings: the
/// contents have none), each piece a `data:` line of one event.
fn split_at_commas(text: &str, cuts: &[bool]) -> Vec<String> {
    let mut lines = vec![String::new()];
    let mut cut = cuts.iter().cycle();
    for c in text.chars() {
        lines.last_mut().unwrap().push(c);
        if c == ',' && *cut.next().unwrap_or(&false) {
            lines.push(String::new());
        }
    }
    lines
}

/// A body of `events` (their contents), each split over `data:` lines,
/// with comments, one of three line ends per line, and `[DONE]`.
fn body(events: &[String], cuts: &[bool], ends: &[u8], comments: &[bool]) -> String {
    let mut end = ends.iter().cycle().map(|e| match e % 3 {
        0 => "\n",
        1 => "\r\n",
        _ => "\r",
    });
    let mut comment = comments.iter().cycle();
    let mut out = String::new();
    let mut line = |out: &mut String, text: &str| {
        let mut this_end = end.next().unwrap();
        // `\r` then a blank line ended by `\n` is one `\r\n`, not two
        // line ends: as on the wire, so not generated.
        if text.is_empty() && out.ends_with('\r') && this_end == "\n" {
            this_end = "\r";
        }
        out.push_str(text);
        out.push_str(this_end);
    };
    for content in events {
        if *comment.next().unwrap() {
            line(&mut out, ": keep-alive");
        }
        for piece in split_at_commas(&chunk(content), cuts) {
            line(&mut out, &format!("data: {piece}"));
        }
        line(&mut out, "");
    }
    line(&mut out, "data: [DONE]");
    line(&mut out, "");
    out
}

/// The reference: the whole body split into lines on `\r\n`, `\r` or
/// `\n`; each blank line ends an event, whose `data:` lines joined by
/// `\n` are its JSON; comments skipped; `[DONE]` ends it all.
fn reference(body: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut rest = body;
    while let Some(at) = rest.find(['\r', '\n']) {
        lines.push(&rest[..at]);
        let skip = if rest[at..].starts_with("\r\n") { 2 } else { 1 };
        rest = &rest[at + skip..];
    }
    let mut contents = Vec::new();
    let mut data: Vec<&str> = Vec::new();
    for line in lines {
        if line.is_empty() {
            let event = data.join("\n");
            data.clear();
            if event.is_empty() {
                continue;
            }
            if event == "[DONE]" {
                break;
            }
            let value: Value = serde_json::from_str(&event).unwrap();
            let content = &value["choices"][0]["delta"]["content"];
            contents.push(content.as_str().unwrap().to_owned());
        } else if let Some(text) = line.strip_prefix("data:") {
            data.push(text.strip_prefix(' ').unwrap_or(text));
        }
    }
    contents
}

/// What the client's stream yields for `body` cut into frames at `cuts`.
fn parsed(body: String, cuts: Vec<usize>) -> Vec<String> {
    let server = tower::service_fn(move |_req: Req| {
        let bytes = Bytes::from(body.clone());
        let mut points: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
        points.extend([0, bytes.len()]);
        points.sort_unstable();
        points.dedup();
        let frames: Vec<Result<Frame<Bytes>, Infallible>> = points
            .windows(2)
            .map(|w| Ok(Frame::data(bytes.slice(w[0]..w[1]))))
            .collect();
        async move {
            let body: Frames = StreamBody::new(stream::iter(frames));
            Ok::<_, Infallible>(
                Response::builder()
                    .header("content-type", "text/event-stream")
                    .body(body)
                    .unwrap(),
            )
        }
    });
    let client = Together::builder()
        .api_key("sk-test")
        .base_url("http://sim.test/v1")
        .build_with_transport(server)
        .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    runtime.block_on(async {
        let request = ChatRequest::new(MODEL, vec![Message::user("hi")]);
        let mut stream = client.chat_stream(request).await.unwrap();
        let mut contents = Vec::new();
        while let Some(chunk) = stream.next().await {
            contents.push(chunk.unwrap().choices[0].delta.content.clone());
        }
        contents
    })
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
    fn any_framing_parses_as_the_reference_does(
        events in prop::collection::vec("[a-zA-Z0-9 .é\u{1F600}\"\\\\{}\\[\\]]{0,12}", 0..6),
        cuts in prop::collection::vec(any::<bool>(), 1..8),
        ends in prop::collection::vec(any::<u8>(), 1..8),
        comments in prop::collection::vec(any::<bool>(), 1..4),
        frames in prop::collection::vec(0usize..4096, 0..40),
    ) {
        let body = body(&events, &cuts, &ends, &comments);
        let expected = reference(&body);
        prop_assert_eq!(&expected, &events, "the reference itself");
        prop_assert_eq!(parsed(body, frames), expected);
    }
}
