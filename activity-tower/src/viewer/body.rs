//! The response body of the viewer endpoints, and whole responses made of one.

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Response, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};

/// The error type of a streamed response body.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The response body of the viewer endpoints (whole, or streamed for CSV export).
pub type ViewerBody = UnsyncBoxBody<Bytes, BoxError>;

/// A whole response: `status`, `content_type` and `body`.
pub(crate) fn full(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<ViewerBody> {
    let mut r = Response::new(
        Full::new(body.into())
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}
