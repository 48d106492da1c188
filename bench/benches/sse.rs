//! The client's SSE parser, through the public streaming API: one 1 MiB
//! event (on one `data:` line, and split over many short `data:` lines)
//! against 1 MiB of small events. A linear parser reads all three at about
//! the same cost per byte; the old one re-parsed the event held so far on
//! every `data:` line, so the many-lines case cost the square of its length.
//!
//! The body is served by a `service_fn` in 16 KiB frames (what hyper hands
//! over from a socket read), so the timing is the client's own: building the
//! request, the SSE lines, the JSON of each chunk, the typed `ChatChunk`.

use std::convert::Infallible;
use std::hint::black_box;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use futures_util::{stream, StreamExt};
use http_body::Frame;
use http_body_util::{Full, StreamBody};
use tower_together::{ChatRequest, Message, Together};

const MIB: usize = 1024 * 1024;
const FRAME: usize = 16 * 1024;

/// The front of a chunk as Together sends it, up to its `content`.
const HEAD: &str = r#"{"id":"c","object":"chat.completion.chunk","created":0,"model":"m/x","choices":[{"index":0,"delta":{"role":"assistant","content":""#;

/// Small events, each a chunk with a few words of content, to 1 MiB.
fn small_events() -> String {
    let mut body = String::with_capacity(MIB + 256);
    let mut n = 0;
    while body.len() < MIB {
        body.push_str("data: ");
        body.push_str(HEAD);
        body.push_str(&format!("word {n} "));
        body.push_str("\"}}]}\n\n");
        n += 1;
    }
    body.push_str("data: [DONE]\n\n");
    body
}

/// One event whose content is 1 MiB of text, on one `data:` line.
fn one_line_event() -> String {
    let mut body = String::from("data: ");
    body.push_str(HEAD);
    body.push_str(&"a".repeat(MIB));
    body.push_str("\"}}]}\n\ndata: [DONE]\n\n");
    body
}

/// One 1 MiB event as a server that pretty-prints its JSON sends it: the
/// chunk carries 1 MiB of per-token log probabilities, one per `data:` line
/// (about 45 bytes each, some 23 000 lines in one event).
fn many_lines_event() -> String {
    let mut lines = vec![
        format!("{HEAD}x\"}},"),
        "\"logprobs\":{\"content\":[".to_owned(),
    ];
    let mut size = 0;
    let mut n = 0;
    while size < MIB {
        let comma = if n > 0 { "," } else { "" };
        lines.push(format!(
            "{comma}{{\"token\":\"t{n}\",\"logprob\":-0.{n:05}}}"
        ));
        size += lines.last().map_or(0, String::len) + "data: \n".len();
        n += 1;
    }
    lines.push("]}}]}".to_owned());
    let mut body: String = lines.iter().map(|line| format!("data: {line}\n")).collect();
    body.push_str("\ndata: [DONE]\n\n");
    body
}

/// A client whose every answer is `body`, in frames of [`FRAME`] bytes.
fn client_serving(body: String) -> Together {
    let body = Bytes::from(body);
    let server = tower::service_fn(move |_request: http::Request<Full<Bytes>>| {
        let frames: Vec<Result<Frame<Bytes>, Infallible>> = (0..body.len())
            .step_by(FRAME)
            .map(|at| Ok(Frame::data(body.slice(at..(at + FRAME).min(body.len())))))
            .collect();
        async move {
            Ok::<_, Infallible>(
                http::Response::builder()
                    .header("content-type", "text/event-stream")
                    .body(StreamBody::new(stream::iter(frames)))
                    .unwrap(),
            )
        }
    });
    Together::builder()
        .api_key("sk-bench")
        .base_url("http://bench.test/v1")
        .build_with_service(server)
        .unwrap()
}

/// Reads the whole stream: the number of chunks and the bytes of content.
async fn read_all(client: &Together) -> (usize, usize) {
    let request = ChatRequest::new("m/x", vec![Message::user("hi")]);
    let mut stream = client.chat_stream(request).await.unwrap();
    let (mut chunks, mut content) = (0, 0);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        chunks += 1;
        content += chunk.choices[0].delta.content.len();
        black_box(&chunk);
    }
    (chunks, content)
}

fn sse(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("sse");
    let cases = [
        ("1 MiB of small events", small_events()),
        ("one 1 MiB event, one data line", one_line_event()),
        ("one 1 MiB event, 45-byte data lines", many_lines_event()),
    ];
    for (name, body) in cases {
        group.throughput(Throughput::Bytes(body.len() as u64));
        let events = body.matches("\n\n").count() - 1;
        let client = client_serving(body);
        // What is measured is what the name says: every event read whole.
        let (chunks, content) = rt.block_on(read_all(&client));
        assert_eq!(chunks, events, "{name}");
        if name.contains("one data line") {
            assert_eq!(content, MIB, "{name}");
        }
        group.bench_function(name, |b| b.iter(|| rt.block_on(read_all(&client))));
    }
    group.finish();
}

criterion_group!(benches, sse);
criterion_main!(benches);
