//! The response future: unboxed for requests no rule matches (the common path), boxed
//! for the few that do (they await body reads and the lockout check before the inner
//! service runs).

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use http::{HeaderValue, Response};
use pin_project_lite::pin_project;

use super::headers::X_REQUEST_ID;

pub(crate) type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

pin_project! {
    /// Response future of [`ActivityService`](super::ActivityService).
    pub struct ResponseFuture<F, B, E> {
        #[pin]
        kind: Kind<F, B, E>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F, B, E> {
        Passthrough {
            #[pin]
            inner: F,
            request_id: Option<HeaderValue>,
        },
        Rule {
            fut: BoxFuture<Result<Response<B>, E>>,
        },
    }
}

impl<F, B, E> ResponseFuture<F, B, E> {
    pub(crate) fn passthrough(inner: F, request_id: Option<HeaderValue>) -> Self {
        Self {
            kind: Kind::Passthrough { inner, request_id },
        }
    }

    pub(crate) fn rule(fut: BoxFuture<Result<Response<B>, E>>) -> Self {
        Self {
            kind: Kind::Rule { fut },
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F, B, E>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Passthrough { inner, request_id } => {
                let mut res = ready!(inner.poll(cx))?;
                if let Some(id) = request_id.take() {
                    res.headers_mut().entry(X_REQUEST_ID).or_insert(id);
                }
                Poll::Ready(Ok(res))
            }
            KindProj::Rule { fut } => fut.as_mut().poll(cx),
        }
    }
}
