//! A request body handed to reqwest: `Sync`, as `reqwest::Body::wrap` asks.

use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Buf;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use sync_wrapper::SyncWrapper;

pin_project! {
    /// Any `Send` body, made `Sync` by being reachable only through `&mut`
    /// (`SyncWrapper`), so bodies such as `UnsyncBoxBody` can be sent too.
    ///
    /// The wrapper hides the body from `&self`, so its size hint and end
    /// are read once here and kept up to date from the frames that pass:
    /// hyper reads the hint for the `content-length` before it polls.
    pub(super) struct SyncBody<B> {
        #[pin]
        inner: SyncWrapper<B>,
        hint: SizeHint,
        ended: bool,
    }
}

impl<B: Body> SyncBody<B> {
    pub(super) fn new(body: B) -> Self {
        SyncBody {
            hint: body.size_hint(),
            ended: body.is_end_stream(),
            inner: SyncWrapper::new(body),
        }
    }
}

impl<B: Body> Body for SyncBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let this = self.project();
        let frame = ready!(this.inner.get_pin_mut().poll_frame(cx));
        match &frame {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    *this.hint = less(*this.hint, data.remaining() as u64);
                }
            }
            Some(Err(_)) => {}
            None => *this.ended = true,
        }
        Poll::Ready(frame)
    }

    fn size_hint(&self) -> SizeHint {
        self.hint
    }

    fn is_end_stream(&self) -> bool {
        self.ended
    }
}

/// `hint` after `sent` more bytes. Saturating: a body that sends more than
/// it said leaves a hint of 0, never a panic (`SizeHint`'s setters assert
/// lower <= upper, which holds here as both shrink by the same amount).
fn less(hint: SizeHint, sent: u64) -> SizeHint {
    let mut left = SizeHint::new();
    if let Some(upper) = hint.upper() {
        left.set_upper(upper.saturating_sub(sent));
    }
    left.set_lower(hint.lower().saturating_sub(sent));
    left
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use http_body_util::{BodyExt, Full, StreamBody};

    use super::*;

    #[tokio::test]
    async fn keeps_the_size_and_the_bytes() {
        let body = SyncBody::new(Full::new(Bytes::from_static(b"hello")));
        assert_eq!(body.size_hint().exact(), Some(5));
        assert!(!body.is_end_stream());
        let bytes = body.collect().await.unwrap().to_bytes();
        assert_eq!(bytes, "hello");
    }

    #[tokio::test]
    async fn the_hint_shrinks_as_frames_pass_and_the_end_is_seen() {
        let frames = futures_util::stream::iter([
            Ok::<_, std::convert::Infallible>(Frame::data(Bytes::from_static(b"ab"))),
            Ok(Frame::data(Bytes::from_static(b"cde"))),
        ]);
        let mut body = SyncBody::new(StreamBody::new(frames));
        body.hint = SizeHint::with_exact(4); // a body that says less than it sends
        let first = body.frame().await.unwrap().unwrap();
        assert_eq!(first.into_data().unwrap(), "ab");
        assert_eq!(body.size_hint().exact(), Some(2));
        body.frame().await.unwrap().unwrap();
        assert_eq!(body.size_hint().exact(), Some(0));
        assert!(body.frame().await.is_none());
        assert!(body.is_end_stream());
    }
}
