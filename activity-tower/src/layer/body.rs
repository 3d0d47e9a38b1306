//! Reading the start of a request body to find the actor, while the handler still gets
//! the identical body.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use pin_project_lite::pin_project;

pin_project! {
    /// A body that yields the bytes already read from `inner` first, then the rest of
    /// `inner`, so the handler receives exactly what the client sent.
    pub struct PrefixedBody<B> {
        prefix: Option<Bytes>,
        #[pin]
        inner: B,
        inner_done: bool,
    }
}

impl<B> PrefixedBody<B> {
    pub(crate) fn new(prefix: Bytes, inner: B, inner_done: bool) -> Self {
        Self {
            prefix: (!prefix.is_empty()).then_some(prefix),
            inner,
            inner_done,
        }
    }
}

impl<B> Body for PrefixedBody<B>
where
    B: Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.project();
        if let Some(prefix) = this.prefix.take() {
            return Poll::Ready(Some(Ok(Frame::data(prefix))));
        }
        if *this.inner_done {
            return Poll::Ready(None);
        }
        this.inner.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.prefix.is_none() && (self.inner_done || self.inner.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        let extra = self.prefix.as_ref().map_or(0, |p| p.len() as u64);
        if self.inner_done {
            return SizeHint::with_exact(extra);
        }
        let h = self.inner.size_hint();
        let mut out = SizeHint::new();
        out.set_lower(h.lower() + extra);
        if let Some(u) = h.upper() {
            out.set_upper(u + extra);
        }
        out
    }
}

/// Reads frames from `body` until `limit` bytes are held or it ends. Returns the bytes
/// read (possibly more than `limit`: whole frames are kept), whether the body ended, and
/// the body to continue from. Trailers seen before the end are lost only if the body
/// ends within the prefix, which HTTP/1 request bodies with trailers never do here.
pub(crate) async fn read_prefix<B>(mut body: B, limit: usize) -> Result<(Bytes, bool, B), B::Error>
where
    B: Body<Data = Bytes> + Unpin,
{
    let mut buf = BytesMut::new();
    while buf.len() < limit {
        match body.frame().await {
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    buf.extend_from_slice(&data);
                }
            }
            Some(Err(e)) => return Err(e),
            None => return Ok((buf.freeze(), true, body)),
        }
    }
    Ok((buf.freeze(), false, body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, StreamBody};

    #[tokio::test]
    async fn the_handler_gets_every_byte() {
        let chunks: Vec<Result<Frame<Bytes>, std::convert::Infallible>> = (0..10u8)
            .map(|i| Ok(Frame::data(Bytes::from(vec![i; 100]))))
            .collect();
        let body = StreamBody::new(futures_util::stream::iter(chunks));
        let (prefix, done, rest) = read_prefix(body, 250).await.unwrap();
        assert_eq!(prefix.len(), 300);
        assert!(!done);
        let all = PrefixedBody::new(prefix, rest, done)
            .collect()
            .await
            .unwrap()
            .to_bytes();
        let expected: Vec<u8> = (0..10u8).flat_map(|i| vec![i; 100]).collect();
        assert_eq!(&all[..], &expected[..]);
    }
}
