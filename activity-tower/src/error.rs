//! The crate's error type: why a viewer request was refused or failed.

use http::StatusCode;

/// What went wrong serving the activity-log endpoints. Each variant maps to one HTTP
/// status ([`Error::status`]) and a stable machine-readable code ([`Error::code`]).
///
/// ```
/// use activity_tower::Error;
/// let e = Error::BadParam { param: "since".into(), message: "not an RFC 3339 time".into() };
/// assert_eq!(e.status(), http::StatusCode::BAD_REQUEST);
/// assert_eq!(e.code(), "bad_param");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The host app named no viewer for this request (not signed in).
    #[error("sign in to see the activity log")]
    Unauthenticated,
    /// The viewer may not do this (another user's events, the tenant log as a user…).
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    /// API access to the log is not part of the tenant's tier.
    #[error("API access to the audit log is not included in this tenant's plan (export is)")]
    TierForbidsApi,
    /// A query parameter is malformed, unknown or repeated.
    #[error("bad parameter `{param}`: {message}")]
    BadParam {
        /// The parameter.
        param: String,
        /// What is wrong with it.
        message: String,
    },
    /// No such endpoint.
    #[error("not found")]
    NotFound,
    /// The endpoint only answers GET and HEAD.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// Reading the store failed, or the read could not be audited.
    #[error("activity log unavailable: {0}")]
    Core(#[from] activity_core::Error),
}

impl Error {
    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            Error::Unauthenticated => StatusCode::UNAUTHORIZED,
            Error::Forbidden(_) | Error::TierForbidsApi => StatusCode::FORBIDDEN,
            Error::BadParam { .. } => StatusCode::BAD_REQUEST,
            Error::NotFound => StatusCode::NOT_FOUND,
            Error::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Error::Core(e) if e.kind() == activity_core::ErrorKind::Invalid => {
                StatusCode::BAD_REQUEST
            }
            Error::Core(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// A stable code for programs: `unauthenticated`, `forbidden`, `tier`, `bad_param`,
    /// `not_found`, `method`, `invalid` or `unavailable`.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Unauthenticated => "unauthenticated",
            Error::Forbidden(_) => "forbidden",
            Error::TierForbidsApi => "tier",
            Error::BadParam { .. } => "bad_param",
            Error::NotFound => "not_found",
            Error::MethodNotAllowed => "method",
            Error::Core(e) if e.kind() == activity_core::ErrorKind::Invalid => "invalid",
            Error::Core(_) => "unavailable",
        }
    }

    pub(crate) fn param(param: &str, message: impl Into<String>) -> Self {
        Error::BadParam {
            param: param.chars().take(64).collect(),
            message: message.into(),
        }
    }
}
