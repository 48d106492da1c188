//! Server-sent events: a stream of typed chunks that ends at `data: [DONE]`.

use std::collections::VecDeque;
use std::fmt;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use std::future::Future;

use futures_core::Stream;
use http_body::Body;
use serde::de::DeserializeOwned;
use tokio::time::{Instant, Sleep};

use super::error::{quote, Error};
use super::transport::ResponseBody;
use super::types::{ChatChunk, CompletionChunk};
use crate::rate_limit::TokenReservation;

/// The longest line (or event) accepted: a hostile server cannot make the
/// client buffer without bound.
const MAX_EVENT_BYTES: usize = 8 * 1024 * 1024;

/// A streamed chat completion: [`ChatChunk`]s until `data: [DONE]`.
pub type ChatStream = SseStream<ChatChunk>;

/// A streamed completion: [`CompletionChunk`]s until `data: [DONE]`.
pub type CompletionStream = SseStream<CompletionChunk>;

/// A stream of `T` decoded from the `data:` lines of a server-sent event
/// response.
///
/// It ends after `data: [DONE]`. An `error` object sent mid-stream is yielded
/// as an [`Error`] and ends the stream, as does a malformed chunk or a body
/// that breaks off before `[DONE]`.
///
/// # Example
///
/// ```no_run
/// use futures_util::StreamExt;
/// use tower_together::{ChatRequest, Message, Together};
///
/// # async fn run() -> Result<(), tower_together::Error> {
/// let client = Together::from_env()?;
/// let request = ChatRequest::new("meta-llama/Llama-3.3-70B-Instruct-Turbo", vec![Message::user("Hi")]);
/// let mut stream = client.chat_stream(request).await?;
/// while let Some(chunk) = stream.next().await {
///     print!("{}", chunk?.choices[0].delta.content);
/// }
/// # Ok(()) }
/// ```
pub struct SseStream<T> {
    body: ResponseBody,
    buffer: Vec<u8>,
    scanned: usize,
    /// The last line ended in `\r` at the end of the buffer: a `\n`
    /// starting the next frame is the same line end, not an empty line.
    skip_lf: bool,
    data: String,
    /// Where the JSON held in `data` stands, kept as lines are appended so
    /// that "is it whole?" costs nothing per line.
    held: JsonDepth,
    ready: VecDeque<Result<T, Error>>,
    finished: bool,
    secret: Option<Arc<str>>,
    idle: Option<Duration>,
    timer: Option<Pin<Box<Sleep>>>,
    /// The limiter's token reservation, settled by the first chunk that
    /// carries usage (the last one, for Together).
    settle: Option<(TokenReservation, UsedTokens<T>)>,
    _chunk: PhantomData<fn() -> T>,
}

/// Reads the tokens a chunk says the answer used, if it says.
type UsedTokens<T> = fn(&T) -> Option<u64>;

impl<T> fmt::Debug for SseStream<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SseStream")
            .field("buffered", &self.buffer.len())
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

// No field is ever pinned: the body is boxed, the rest is plain data.
impl<T> Unpin for SseStream<T> {}

impl<T: DeserializeOwned> SseStream<T> {
    pub(crate) fn new(
        body: ResponseBody,
        secret: Option<Arc<str>>,
        idle: Option<Duration>,
    ) -> Self {
        SseStream {
            idle,
            timer: idle.map(|idle| Box::pin(tokio::time::sleep(idle))),
            body,
            buffer: Vec::new(),
            scanned: 0,
            skip_lf: false,
            data: String::new(),
            held: JsonDepth::default(),
            ready: VecDeque::new(),
            finished: false,
            secret,
            settle: None,
            _chunk: PhantomData,
        }
    }

    /// Settles `reservation` with the usage `used` reads from the first
    /// chunk that has it.
    pub(crate) fn settling(
        mut self,
        reservation: Option<TokenReservation>,
        used: UsedTokens<T>,
    ) -> Self {
        self.settle = reservation.map(|reservation| (reservation, used));
        self
    }

    /// Splits the buffer into lines (ended by `\n`, `\r\n` or `\r`, as
    /// the SSE format allows) and handles each complete one. The buffer is
    /// compacted once per call, and bytes already searched for a line end
    /// are not searched again, so many small lines in one frame or one long
    /// line over many frames stay linear.
    fn drain_lines(&mut self) {
        let buffer = std::mem::take(&mut self.buffer);
        let mut start = 0;
        if self.skip_lf && !buffer.is_empty() {
            self.skip_lf = false;
            if buffer[0] == b'\n' {
                start = 1;
            }
        }
        let mut search_from = self.scanned.max(start);
        while !self.finished {
            let Some(offset) = buffer[search_from..]
                .iter()
                .position(|&b| b == b'\n' || b == b'\r')
            else {
                break;
            };
            let end = search_from + offset;
            self.handle_line(&buffer[start..end]);
            start = end + 1;
            if buffer[end] == b'\r' {
                match buffer.get(start) {
                    Some(b'\n') => start += 1,
                    Some(_) => {}
                    // The `\n` of a `\r\n` may come in the next frame.
                    None => self.skip_lf = true,
                }
            }
            search_from = start;
        }
        if self.finished {
            return;
        }
        self.buffer = buffer;
        self.buffer.drain(..start);
        self.scanned = self.buffer.len();
        if self.buffer.len() > MAX_EVENT_BYTES {
            self.fail(Error::stream("an event line is longer than the limit"));
        }
    }

    fn handle_line(&mut self, line: &[u8]) {
        if line.is_empty() {
            self.dispatch();
            return;
        }
        if line[0] == b':' {
            return; // a comment, e.g. a keep-alive
        }
        let Some(rest) = line.strip_prefix(b"data:") else {
            return; // `event:`, `id:`, `retry:`: nothing to do for these APIs
        };
        let rest = rest.strip_prefix(b" ").unwrap_or(rest);
        let Ok(text) = std::str::from_utf8(rest) else {
            self.fail(Error::stream(format!(
                "an event is not UTF-8: \"{}\"",
                quote(rest)
            )));
            return;
        };
        // Lenient with servers that omit the blank line between events: a
        // complete event already held is sent before a new one starts.
        // Whether it is whole was worked out as its lines came in: parsing
        // it again here, on every line, made a long multi-line event cost
        // the square of its length.
        if !self.data.is_empty() && self.held.is_whole() {
            self.dispatch();
        }
        if !self.data.is_empty() {
            self.data.push('\n');
        }
        self.data.push_str(text);
        self.held.feed(text.as_bytes());
        if self.data.len() > MAX_EVENT_BYTES {
            self.fail(Error::stream("an event is longer than the limit"));
        }
    }

    fn dispatch(&mut self) {
        self.held = JsonDepth::default();
        let data = std::mem::take(&mut self.data);
        let data = data.trim();
        if data.is_empty() || self.finished {
            return;
        }
        if data == "[DONE]" {
            self.finished = true;
            return;
        }
        let value: serde_json::Value = match serde_json::from_str(data) {
            Ok(value) => value,
            Err(e) => {
                return self.fail(Error::stream(format!(
                    "a malformed chunk ({e}): \"{}\"",
                    quote(data.as_bytes())
                )))
            }
        };
        if value.get("error").is_some_and(|e| !e.is_null()) {
            return self.fail(Error::from_error_json(&value, self.secret.as_deref()));
        }
        match super::endpoints::json_value::<T>(value) {
            Ok(chunk) => self.ready.push_back(Ok(chunk)),
            Err(e) => self.fail(Error::stream(format!(
                "a chunk of an unexpected shape ({e}): \"{}\"",
                quote(data.as_bytes())
            ))),
        }
    }

    fn fail(&mut self, error: Error) {
        self.ready.push_back(Err(error));
        self.finished = true;
        self.buffer.clear();
        self.scanned = 0;
        self.data.clear();
        self.held = JsonDepth::default();
    }

    fn end_of_body(&mut self) {
        if !self.buffer.is_empty() {
            let line = std::mem::take(&mut self.buffer);
            self.handle_line(&line);
        }
        self.dispatch();
        if !self.finished {
            self.fail(Error::stream("the stream ended before `data: [DONE]`"));
        }
    }
}

/// Where a JSON text fed to it in pieces stands: how deep in brackets,
/// whether inside a string. Enough to tell, byte by byte, that an object
/// or array (a chunk, or `[DONE]`) has closed; whether it is valid JSON is
/// for the parse at dispatch to say.
#[derive(Clone, Copy, Debug, Default)]
struct JsonDepth {
    depth: u32,
    in_string: bool,
    escaped: bool,
    /// The outermost bracket has closed at least once.
    closed: bool,
}

impl JsonDepth {
    fn feed(&mut self, text: &[u8]) {
        for &byte in text {
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                } else if byte == b'\\' {
                    self.escaped = true;
                } else if byte == b'"' {
                    self.in_string = false;
                }
                continue;
            }
            match byte {
                b'"' => self.in_string = true,
                b'{' | b'[' => self.depth = self.depth.saturating_add(1),
                b'}' | b']' => {
                    self.depth = self.depth.saturating_sub(1);
                    self.closed |= self.depth == 0;
                }
                _ => {}
            }
        }
    }

    /// The text held is one whole object or array (or `[DONE]`).
    fn is_whole(&self) -> bool {
        self.closed && self.depth == 0 && !self.in_string
    }
}

impl<T: DeserializeOwned> Stream for SseStream<T> {
    type Item = Result<T, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if let Some(item) = this.ready.pop_front() {
                if let (Ok(chunk), Some((reservation, used))) = (&item, &this.settle) {
                    if let Some(tokens) = used(chunk) {
                        reservation.settle(tokens);
                        this.settle = None;
                    }
                }
                return Poll::Ready(Some(item));
            }
            if this.finished {
                return Poll::Ready(None);
            }
            match Pin::new(&mut this.body).poll_frame(cx) {
                Poll::Pending => {
                    if let Some(timer) = &mut this.timer {
                        if timer.as_mut().poll(cx).is_ready() {
                            let idle = this.idle.unwrap_or_default();
                            this.fail(Error::timeout(format!(
                                "the stream sent nothing for {idle:?}"
                            )));
                            continue;
                        }
                    }
                    return Poll::Pending;
                }
                Poll::Ready(None) => this.end_of_body(),
                Poll::Ready(Some(Err(e))) => this.fail(Error::transport(e)),
                Poll::Ready(Some(Ok(frame))) => {
                    if let (Some(timer), Some(idle)) = (&mut this.timer, this.idle) {
                        // `later` saturates: an idle limit of Duration::MAX cannot panic.
                        timer
                            .as_mut()
                            .reset(crate::time::later(Instant::now(), idle));
                    }
                    if let Ok(data) = frame.into_data() {
                        this.buffer.extend_from_slice(&data);
                        this.drain_lines();
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use futures_util::StreamExt;
    use http_body_util::{BodyExt, StreamBody};

    fn body_of(parts: &[&'static str]) -> ResponseBody {
        let frames = parts
            .iter()
            .map(|p| {
                Ok::<_, crate::BoxError>(http_body::Frame::data(Bytes::from_static(p.as_bytes())))
            })
            .collect::<Vec<_>>();
        StreamBody::new(futures_util::stream::iter(frames)).boxed_unsync()
    }

    async fn collect(parts: &[&'static str]) -> Vec<Result<ChatChunk, Error>> {
        SseStream::<ChatChunk>::new(body_of(parts), Some(Arc::from("sk-key")), None)
            .collect()
            .await
    }

    const ONE: &str =
        "data: {\"id\":\"a\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}}]}\n\n";

    #[tokio::test]
    async fn ends_at_done_even_split_across_frames() {
        let items = collect(&[
            ": keep-alive\n\n",
            "data: {\"id\":\"a\",\"choices\":[{\"index\":0,",
            "\"delta\":{\"content\":\"Hel\"}}]}\r\n\r\n",
            ONE,
            "data: [DONE]\n\n",
            "data: {\"id\":\"after-done\"}\n\n",
        ])
        .await;
        assert_eq!(items.len(), 2);
        assert!(items
            .iter()
            .all(|i| i.as_ref().unwrap().choices[0].delta.content == "Hel"));
    }

    #[tokio::test]
    async fn mid_stream_error_is_yielded_and_ends() {
        let items = collect(&[
            ONE,
            "data: {\"error\":{\"message\":\"overloaded for sk-key\",\"type\":\"server_error\"}}\n\n",
            ONE,
        ])
        .await;
        assert_eq!(items.len(), 2);
        let error = items[1].as_ref().unwrap_err();
        assert_eq!(error.kind(), crate::client::ErrorKind::Stream);
        assert_eq!(error.error_type(), Some("server_error"));
        assert!(!error.to_string().contains("sk-key"));
    }

    #[tokio::test]
    async fn truncated_and_malformed_streams_are_errors() {
        let truncated = collect(&[ONE, "data: {\"id\":"]).await;
        assert!(truncated[0].is_ok());
        assert!(truncated.last().unwrap().is_err());

        let malformed = collect(&["data: not json\n\n", ONE]).await;
        assert_eq!(malformed.len(), 1);
        assert!(malformed[0].is_err());

        let no_done = collect(&[ONE]).await;
        assert_eq!(no_done.len(), 2);
        assert!(no_done[1]
            .as_ref()
            .unwrap_err()
            .to_string()
            .contains("[DONE]"));
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_stream_times_out() {
        let first =
            Ok::<_, crate::BoxError>(http_body::Frame::data(Bytes::from_static(ONE.as_bytes())));
        let silent = futures_util::stream::iter([first]).chain(futures_util::stream::pending());
        let mut stream = SseStream::<ChatChunk>::new(
            StreamBody::new(silent).boxed_unsync(),
            None,
            Some(std::time::Duration::from_secs(5)),
        );
        assert!(stream.next().await.unwrap().is_ok());
        let start = Instant::now();
        let error = stream.next().await.unwrap().unwrap_err();
        assert!(error.is_timeout());
        assert_eq!(start.elapsed(), std::time::Duration::from_secs(5));
        assert!(stream.next().await.is_none());
    }

    #[tokio::test]
    async fn many_lines_in_one_frame_and_one_line_over_many_frames() {
        let many: &'static str = Box::leak(ONE.repeat(2_000).into_boxed_str());
        let items = collect(&[many, "data: [DONE]\n\n"]).await;
        assert_eq!(items.len(), 2_000);
        assert!(items.iter().all(Result::is_ok));

        let pieces: Vec<&'static str> = ONE
            .as_bytes()
            .chunks(3)
            .map(|c| &*Box::leak(std::str::from_utf8(c).unwrap().to_owned().into_boxed_str()))
            .chain(["data: [DONE]\n\n"])
            .collect();
        let items = collect(&pieces).await;
        assert_eq!(items.len(), 1);
        assert!(items[0].is_ok());
    }

    #[tokio::test]
    async fn events_without_blank_lines_still_split() {
        let items = collect(&["data: {\"id\":\"1\"}\ndata: {\"id\":\"2\"}\ndata: [DONE]\n"]).await;
        let ids: Vec<_> = items.into_iter().map(|i| i.unwrap().id).collect();
        assert_eq!(ids, ["1", "2"]);
    }
}
