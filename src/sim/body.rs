//! The simulator's response body: whole, streamed in chunks, or cut off.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::time::Sleep;

/// The body of every simulator response.
///
/// Its chunks are all ready at once, unless the simulator was given a
/// [`stream_interval`](super::SimulatorBuilder::stream_interval); what makes
/// it a stream is that SSE answers come in one chunk per event, with no
/// `content-length`. A
/// [`Disconnect`](super::FaultKind::Disconnect) fault ends it with a
/// [`ConnectionClosed`] error after part of the answer, which a hyper server
/// turns into a connection closed mid-response.
#[derive(Debug, Default)]
pub struct SimBody {
    chunks: VecDeque<Bytes>,
    sized: bool,
    cut: bool,
    yielded: bool,
    /// The wait before each chunk after the first (streamed answers only).
    interval: Option<Duration>,
    /// The wait in progress; boxed as `Sleep` is not `Unpin`, made only
    /// when an interval is set.
    pause: Option<Pin<Box<Sleep>>>,
    sent_first: bool,
}

impl SimBody {
    /// A whole body, sent with a `content-length`.
    pub(crate) fn full(bytes: impl Into<Bytes>) -> Self {
        SimBody {
            chunks: VecDeque::from([bytes.into()]),
            sized: true,
            ..SimBody::default()
        }
    }

    /// A body sent chunk by chunk, without a `content-length`.
    pub(crate) fn chunked(chunks: Vec<Bytes>) -> Self {
        SimBody {
            chunks: chunks.into(),
            ..SimBody::default()
        }
    }

    /// Waits `interval` (on tokio time) before each chunk after the first.
    pub(crate) fn paced(mut self, interval: Option<Duration>) -> Self {
        self.interval = interval.filter(|i| !i.is_zero());
        self
    }

    /// A body that breaks off after part of `bytes`.
    pub(crate) fn cut_off(chunks: Vec<Bytes>) -> Self {
        SimBody {
            chunks: chunks.into(),
            cut: true,
            ..SimBody::default()
        }
    }
}

impl Body for SimBody {
    type Data = Bytes;
    type Error = ConnectionClosed;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, ConnectionClosed>>> {
        if let (Some(interval), true, false) =
            (self.interval, self.sent_first, self.chunks.is_empty())
        {
            let pause = self
                .pause
                .get_or_insert_with(|| Box::pin(tokio::time::sleep(interval)));
            ready!(pause.as_mut().poll(cx));
            self.pause = None;
        }
        if let Some(chunk) = self.chunks.pop_front() {
            self.sent_first = true;
            return Poll::Ready(Some(Ok(Frame::data(chunk))));
        }
        if self.cut {
            // Yield once first, so a server writes out what was sent before
            // it drops the connection, instead of dropping it all unsent.
            if !self.yielded {
                self.yielded = true;
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            self.cut = false;
            return Poll::Ready(Some(Err(ConnectionClosed(()))));
        }
        Poll::Ready(None)
    }

    fn is_end_stream(&self) -> bool {
        self.chunks.is_empty() && !self.cut
    }

    fn size_hint(&self) -> SizeHint {
        let len: u64 = self.chunks.iter().map(|c| c.len() as u64).sum();
        if self.sized {
            SizeHint::with_exact(len)
        } else {
            let mut hint = SizeHint::new();
            hint.set_lower(len);
            hint
        }
    }
}

/// The error a [`SimBody`] yields when a disconnect fault cuts it off.
#[derive(Debug)]
pub struct ConnectionClosed(());

impl fmt::Display for ConnectionClosed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad("connection closed mid-response (simulated)")
    }
}

impl std::error::Error for ConnectionClosed {}
