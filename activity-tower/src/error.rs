//! The crate's one error type: a builder setting that was refused, or why a viewer
//! request was refused or failed.

use http::StatusCode;

/// What went wrong: a setting refused by one of the builders ([`Error::Config`]), or
/// serving the activity-log endpoints (every other variant). Each variant maps to one
/// HTTP status ([`Error::status`]) and a stable machine-readable code ([`Error::code`]).
///
/// A source error is kept as the [`source`](std::error::Error::source), never repeated
/// in the message, so error-chain printers show it once.
///
/// ```
/// use activity_tower::{Error, TrustedProxies};
/// let e = Error::BadParam { param: "since".into(), message: "not an RFC 3339 time".into() };
/// assert_eq!(e.status(), http::StatusCode::BAD_REQUEST);
/// assert_eq!(e.code(), "bad_param");
///
/// let e = TrustedProxies::cidrs(["10.0.0.0/33"]).unwrap_err();
/// assert!(matches!(e, Error::Config { setting: "trusted_proxies", .. }));
/// assert_eq!(e.code(), "config");
/// assert!(std::error::Error::source(&e).is_some()); // the parser's own error
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
    /// A request body longer than the endpoint reads (`limit` bytes).
    #[error("request body over {limit} bytes")]
    BodyTooLarge {
        /// The most the endpoint reads.
        limit: usize,
    },
    /// The request body could not be read (the connection's error is the source).
    #[error("request body unreadable")]
    Body(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Reading the store failed, or the read could not be audited (the store's or the
    /// recorder's error is the source).
    #[error("activity log unavailable")]
    Core(#[from] activity_core::Error),
    /// A builder refused a setting: (feature `setup`) the setup's `start` (settings
    /// `chain_key`, `cookie_key`, `routes`, `store`, `geoip`),
    /// [`ActivityLayer::session_cookie`](crate::ActivityLayer::session_cookie),
    /// [`ActivityLayer::device_cookie_key`](crate::ActivityLayer::device_cookie_key),
    /// [`TrustedProxies::cidrs`](crate::TrustedProxies::cidrs),
    /// [`ActivityViews::base_path`](crate::ActivityViews::base_path) or (feature
    /// `webhook`) `WebhookBuilder::start` or `HttpSinkBuilder::build`.
    #[error("invalid setting `{setting}`: {reason}")]
    Config {
        /// The setting: `session_cookie`, `device_cookie_key`, `trusted_proxies`, `base_path`,
        /// `access_everywhere`, `access_geo`, `access_roles`, `webhook.url`,
        /// `webhook.secret`, `webhook.timeout`, `webhook`, `http_sink.url`,
        /// `http_sink.secret`, `http_sink.timeout`, `http_sink.header`,
        /// `http_sink.hec_token`, or one of the setup's.
        setting: &'static str,
        /// What is wrong with it.
        reason: String,
        /// The error beneath, when there is one.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// (feature `setup`) The store could not be opened or migrated at start (the store's
    /// error is the source).
    #[cfg(feature = "setup")]
    #[error("the activity store could not be opened")]
    Store(#[source] activity_sqlx::Error),
    /// (feature `setup`) The server could not accept connections.
    #[cfg(feature = "setup")]
    #[error("the server failed")]
    Io(#[source] std::io::Error),
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
            Error::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Error::Body(_) => StatusCode::BAD_REQUEST,
            Error::Core(e) if e.kind() == activity_core::ErrorKind::Invalid => {
                StatusCode::BAD_REQUEST
            }
            Error::Core(e) if e.kind() == activity_core::ErrorKind::Conflict => {
                StatusCode::CONFLICT
            }
            Error::Core(_) => StatusCode::SERVICE_UNAVAILABLE,
            Error::Config { .. } => StatusCode::INTERNAL_SERVER_ERROR,
            #[cfg(feature = "setup")]
            Error::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
            #[cfg(feature = "setup")]
            Error::Io(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A stable code for programs: `unauthenticated`, `forbidden`, `tier`, `bad_param`,
    /// `not_found`, `method`, `too_large`, `body`, `invalid`, `conflict`, `unavailable`
    /// or `config` (and, feature `setup`,
    /// `store` or `io`).
    pub fn code(&self) -> &'static str {
        match self {
            Error::Unauthenticated => "unauthenticated",
            Error::Forbidden(_) => "forbidden",
            Error::TierForbidsApi => "tier",
            Error::BadParam { .. } => "bad_param",
            Error::NotFound => "not_found",
            Error::MethodNotAllowed => "method",
            Error::BodyTooLarge { .. } => "too_large",
            Error::Body(_) => "body",
            Error::Core(e) if e.kind() == activity_core::ErrorKind::Invalid => "invalid",
            Error::Core(e) if e.kind() == activity_core::ErrorKind::Conflict => "conflict",
            Error::Core(_) => "unavailable",
            Error::Config { .. } => "config",
            #[cfg(feature = "setup")]
            Error::Store(_) => "store",
            #[cfg(feature = "setup")]
            Error::Io(_) => "io",
        }
    }

    /// A refused setting, without a source yet.
    pub(crate) fn config(setting: &'static str, reason: impl Into<String>) -> Self {
        Error::Config {
            setting,
            reason: reason.into(),
            source: None,
        }
    }

    /// The same error with `source` beneath it (only [`Error::Config`] takes one).
    pub(crate) fn with_source(
        self,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        match self {
            Error::Config {
                setting, reason, ..
            } => Error::Config {
                setting,
                reason,
                source: Some(Box::new(source)),
            },
            other => other,
        }
    }

    pub(crate) fn param(param: &str, message: impl Into<String>) -> Self {
        Error::BadParam {
            param: param.chars().take(64).collect(),
            message: message.into(),
        }
    }
}
