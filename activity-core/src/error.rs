//! The crate's one error type.

use std::fmt;

/// A boxed error from a backend, kept as the `source` of an [`Error`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Shorthand for `Result<T, activity_core::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The rule a value broke, named by [`Error::Invalid`].
///
/// ```
/// use activity_core::{ActivityEvent, Error, Rule};
/// let json = r#"{"action":"auth.logout","outcome":"maybe"}"#;
/// let err = ActivityEvent::from_json(json).unwrap_err();
/// match &err {
///     Error::Invalid { field, rule } => {
///         assert_eq!(field, "outcome");
///         assert_eq!(*rule, Rule::Unknown("success, failure, unknown"));
///     }
///     other => panic!("expected Error::Invalid, got {other:?}"),
/// }
/// // The rule is the second half of the error's message.
/// assert_eq!(err.to_string(), "invalid `outcome`: is not one of success, failure, unknown");
/// assert_eq!(Rule::TooLong { max: 64 }.to_string(), "is longer than 64 bytes");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rule {
    /// A mandatory field is absent or empty.
    Missing,
    /// The value does not have the required shape; the text says which.
    Malformed(&'static str),
    /// The value is longer than the cap (in bytes).
    TooLong {
        /// The cap, in bytes.
        max: usize,
    },
    /// The value is nested deeper than the cap.
    TooDeep {
        /// The maximum nesting depth.
        max: usize,
    },
    /// The value holds a NUL character, which no backend can store faithfully.
    ContainsNul,
    /// The value is not one of the accepted values; the text lists them.
    Unknown(&'static str),
    /// The value is out of its range; the text says which.
    OutOfRange(&'static str),
    /// `details` (or a part that must be one) is not a JSON object.
    NotAnObject,
    /// The action is one the SDK reserves for its own evidence (`audit.*`, `lockout.*`,
    /// `alert.raised`): see [`chain::is_reserved`](crate::chain::is_reserved).
    Reserved,
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rule::Missing => f.write_str("is required"),
            Rule::Malformed(what) => write!(f, "is malformed: {what}"),
            Rule::TooLong { max } => write!(f, "is longer than {max} bytes"),
            Rule::TooDeep { max } => write!(f, "is nested deeper than {max} levels"),
            Rule::ContainsNul => f.write_str("contains a NUL character"),
            Rule::Unknown(accepted) => write!(f, "is not one of {accepted}"),
            Rule::OutOfRange(range) => write!(f, "is out of range ({range})"),
            Rule::NotAnObject => f.write_str("is not a JSON object"),
            Rule::Reserved => f.write_str(
                "is reserved: audit.*, lockout.* and alert.raised are recorded only by the SDK itself",
            ),
        }
    }
}

/// What kind of failure an [`Error`] is, and so whether to retry.
///
/// ```
/// use activity_core::{ActivityEvent, Error, ErrorKind};
/// // Bad input fails the same way every time: not retryable.
/// let bad = ActivityEvent::from_json("not json").unwrap_err();
/// assert_eq!(bad.kind(), ErrorKind::Invalid);
/// assert!(!bad.is_retryable());
/// // A full recorder queue or a timeout may clear: retry later.
/// assert_eq!(Error::QueueFull { capacity: 1024 }.kind(), ErrorKind::QueueFull);
/// assert!(Error::QueueFull { capacity: 1024 }.is_retryable());
/// assert!(Error::timeout("insert took 30s", None).is_retryable());
/// // A conflict with stored state does not.
/// assert!(!Error::conflict("newer schema", None).is_retryable());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Bad input: retrying the same call fails the same way.
    Invalid,
    /// The backend cannot be reached right now: retry later.
    Unavailable,
    /// The backend did not answer in time: retry later.
    Timeout,
    /// The call conflicts with stored state (for example a foreign table or a newer schema).
    Conflict,
    /// The recorder's queue is full and the event was not accepted.
    QueueFull,
    /// The recorder refuses events while its store is down (fail-closed policy).
    FailClosed,
    /// The recorder has been shut down.
    Closed,
    /// Anything else a backend reports; not retried by a caller, but the recorder treats
    /// it as an outage (the store, not the event, is at fault until shown otherwise).
    Backend,
    /// The store refused these events for their content (a constraint, a value its
    /// column cannot hold): the same events fail the same way, other events succeed.
    /// The only store error the recorder isolates and discards an event for.
    Rejected,
}

/// The error of every fallible call in `activity-core`, and of [`ActivityStore`] backends.
///
/// [`Error::kind`] and [`Error::is_retryable`] tell a caller what to do with it.
///
/// ```
/// use activity_core::{Error, ErrorKind};
/// let e = Error::unavailable("connection refused", None);
/// assert_eq!(e.kind(), ErrorKind::Unavailable);
/// assert!(e.is_retryable());
/// ```
///
/// [`ActivityStore`]: crate::ActivityStore
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A field of an event, query or cursor broke a rule.
    #[error("invalid `{field}`: {rule}")]
    Invalid {
        /// The field's path, e.g. `source.ip` or `details`.
        field: String,
        /// The rule it broke.
        rule: Rule,
    },
    /// The backend is unreachable or refused the connection; retryable.
    #[error("store unavailable: {message}")]
    Unavailable {
        /// What happened.
        message: String,
        /// The backend's own error.
        #[source]
        source: Option<BoxError>,
    },
    /// The backend timed out; retryable.
    #[error("store timed out: {message}")]
    Timeout {
        /// What timed out.
        message: String,
        /// The backend's own error.
        #[source]
        source: Option<BoxError>,
    },
    /// Stored state conflicts with the call; not retryable.
    #[error("conflict: {message}")]
    Conflict {
        /// What conflicts.
        message: String,
        /// The backend's own error.
        #[source]
        source: Option<BoxError>,
    },
    /// Any other backend failure; not retryable.
    #[error("store error: {message}")]
    Backend {
        /// What happened.
        message: String,
        /// The backend's own error.
        #[source]
        source: Option<BoxError>,
    },
    /// The store refused the events for their content (a constraint, a value too long
    /// for its column, a malformed value): retrying the same events fails the same way.
    ///
    /// Backends return this only for errors about the data; an outage (disk full, I/O
    /// error, a read-only database, a lost connection, a missing table) is
    /// [`Unavailable`](Error::Unavailable) or [`Timeout`](Error::Timeout).
    #[error("store rejected the events: {message}")]
    Rejected {
        /// What the store said.
        message: String,
        /// The backend's own error.
        #[source]
        source: Option<BoxError>,
    },
    /// The recorder's queue is full; the event was not accepted.
    #[error("recorder queue is full ({capacity} events); the event was not accepted")]
    QueueFull {
        /// The queue's capacity.
        capacity: usize,
    },
    /// A batch would take the [spool](crate::spool) over its capacity; it was not spooled
    /// (the recorder then holds it in memory and fails closed, as without a spool).
    #[error("spool is full ({bytes} of {capacity} bytes); the batch was not spooled")]
    SpoolFull {
        /// What the spool holds now, in bytes.
        bytes: u64,
        /// Its capacity, in bytes.
        capacity: u64,
    },
    /// [`ActivityStore::append_sealed_strict`](crate::ActivityStore::append_sealed_strict)
    /// found events of the batch that carry chain links already stored (another writer,
    /// an instance sealing the same fixed id at the same moment, stored them first):
    /// appending would skip them and leave holes in the chain, so nothing was committed.
    /// The recorder seals the batch again without them.
    #[error("{} sealed events of the batch are stored already (by another writer); nothing was committed", ids.len())]
    SealedDuplicate {
        /// The ids stored already.
        ids: Vec<uuid::Uuid>,
    },
    /// The recorder fails closed and its store is down; the event was not accepted.
    #[error("audit log store is down and the recorder fails closed; the event was not accepted")]
    FailClosed,
    /// The recorder has shut down; the event was not accepted.
    #[error("recorder is shut down; the event was not accepted")]
    Closed,
    /// A stage needs the recorder it is a stage of, and was not given one: it was never
    /// registered with a [`RecorderBuilder`](crate::RecorderBuilder) that started.
    #[error(
        "{stage} is not a stage of a started recorder (give it to RecorderBuilder::{register})"
    )]
    NotStarted {
        /// The stage.
        stage: &'static str,
        /// The builder call that registers it.
        register: &'static str,
    },
    /// JSON could not be parsed into an event.
    #[error("invalid JSON: {0}")]
    Json(#[source] serde_json::Error),
    /// A GeoIP database could not be read, is corrupt, or is not the kind asked for.
    #[error("GeoIP database: {message}")]
    GeoIp {
        /// What is wrong, naming the file when there is one.
        message: String,
        /// The reader's own error.
        #[source]
        source: Option<BoxError>,
    },
    /// A purge that requires an archive found expired events that no verified archive
    /// covers; nothing was deleted.
    #[error("purge refused: {events} expired events of {} before {} are in no verified archive; nothing was deleted", tenant.as_deref().unwrap_or("(no tenant)"), time_text(until))]
    NotArchived {
        /// The tenant whose events are not covered (`None`: events without a tenant).
        tenant: Option<String>,
        /// How many of its expired events are not covered.
        events: u64,
        /// The tenant's cut-off.
        until: chrono::DateTime<chrono::Utc>,
    },
    /// A [sink](crate::sinks) could not deliver a batch (its destination refused it or
    /// could not be reached); retryable: the runner tries again after a backoff.
    #[error("{sink} sink: {message}")]
    Delivery {
        /// The kind of sink (`nats`, `http`, `file`, …).
        sink: String,
        /// What happened.
        message: String,
        /// The transport's own error.
        #[source]
        source: Option<BoxError>,
    },
    /// The store does not implement this (a third-party backend written before it
    /// existed).
    #[error("this store does not support {what}")]
    Unsupported {
        /// What was asked of it.
        what: &'static str,
    },
    /// A signed checkpoint was not written: the log does not verify under the chain key,
    /// or it lost events since the previous checkpoint that no authenticated retention
    /// purge accounts for (the previous checkpoint stays the reference).
    #[error("checkpoint not written: {reason}")]
    NotCheckpointed {
        /// What was found.
        reason: String,
    },
}

impl Error {
    /// An [`Error::Invalid`] for `field` breaking `rule`.
    pub fn invalid(field: impl Into<String>, rule: Rule) -> Self {
        Error::Invalid {
            field: field.into(),
            rule,
        }
    }

    /// An [`Error::Unavailable`] with an optional source.
    pub fn unavailable(message: impl Into<String>, source: Option<BoxError>) -> Self {
        Error::Unavailable {
            message: message.into(),
            source,
        }
    }

    /// An [`Error::Timeout`] with an optional source.
    pub fn timeout(message: impl Into<String>, source: Option<BoxError>) -> Self {
        Error::Timeout {
            message: message.into(),
            source,
        }
    }

    /// An [`Error::Conflict`] with an optional source.
    pub fn conflict(message: impl Into<String>, source: Option<BoxError>) -> Self {
        Error::Conflict {
            message: message.into(),
            source,
        }
    }

    /// An [`Error::Backend`] with an optional source.
    pub fn backend(message: impl Into<String>, source: Option<BoxError>) -> Self {
        Error::Backend {
            message: message.into(),
            source,
        }
    }

    /// An [`Error::Rejected`] with an optional source.
    ///
    /// ```
    /// use activity_core::{Error, ErrorKind};
    /// let e = Error::rejected("value too long for type character varying(64)", None);
    /// assert_eq!(e.kind(), ErrorKind::Rejected);
    /// assert!(e.is_rejection() && !e.is_retryable() && !e.is_outage());
    /// ```
    pub fn rejected(message: impl Into<String>, source: Option<BoxError>) -> Self {
        Error::Rejected {
            message: message.into(),
            source,
        }
    }

    /// An [`Error::Delivery`] of a `sink` with an optional source.
    ///
    /// ```
    /// use activity_core::{Error, ErrorKind};
    /// let e = Error::delivery("http", "503 Service Unavailable", None);
    /// assert_eq!(e.kind(), ErrorKind::Unavailable);
    /// assert_eq!(e.to_string(), "http sink: 503 Service Unavailable");
    /// ```
    pub fn delivery(
        sink: impl Into<String>,
        message: impl Into<String>,
        source: Option<BoxError>,
    ) -> Self {
        Error::Delivery {
            sink: sink.into(),
            message: message.into(),
            source,
        }
    }

    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Invalid { .. } | Error::Json(_) | Error::GeoIp { .. } => ErrorKind::Invalid,
            Error::Unavailable { .. } | Error::Delivery { .. } => ErrorKind::Unavailable,
            Error::Timeout { .. } => ErrorKind::Timeout,
            Error::Conflict { .. }
            | Error::NotArchived { .. }
            | Error::NotCheckpointed { .. }
            | Error::SealedDuplicate { .. } => ErrorKind::Conflict,
            Error::Backend { .. } | Error::Unsupported { .. } => ErrorKind::Backend,
            Error::Rejected { .. } => ErrorKind::Rejected,
            Error::QueueFull { .. } | Error::SpoolFull { .. } => ErrorKind::QueueFull,
            Error::FailClosed => ErrorKind::FailClosed,
            Error::Closed | Error::NotStarted { .. } => ErrorKind::Closed,
        }
    }

    /// Whether the same call may succeed later (unavailable, timeout, a full queue, fail-closed).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self.kind(),
            ErrorKind::Unavailable
                | ErrorKind::Timeout
                | ErrorKind::QueueFull
                | ErrorKind::FailClosed
        )
    }

    /// Whether a store failed because of the events' content ([`ErrorKind::Rejected`] or
    /// [`ErrorKind::Invalid`]): the recorder isolates such an event and discards it alone.
    pub fn is_rejection(&self) -> bool {
        matches!(self.kind(), ErrorKind::Rejected | ErrorKind::Invalid)
    }

    /// Whether a store error means the store (not the events) is failing: everything but
    /// a [rejection](Self::is_rejection). The recorder keeps the events, retries with
    /// backoff, reports [`Degraded`](crate::recorder::Health::Degraded) and engages
    /// fail-closed on an outage.
    ///
    /// ```
    /// use activity_core::Error;
    /// assert!(Error::unavailable("database or disk is full", None).is_outage());
    /// assert!(Error::backend("something unclassified", None).is_outage());
    /// assert!(!Error::rejected("CHECK constraint failed", None).is_outage());
    /// ```
    pub fn is_outage(&self) -> bool {
        !self.is_rejection()
    }

    /// The field an [`Error::Invalid`] names, if it is one.
    pub fn field(&self) -> Option<&str> {
        match self {
            Error::Invalid { field, .. } => Some(field),
            _ => None,
        }
    }
}

/// `t` as RFC 3339 in UTC with milliseconds, or microseconds when it has them (the event's
/// own time format).
fn time_text(t: &chrono::DateTime<chrono::Utc>) -> String {
    let format = if t.timestamp_subsec_micros().is_multiple_of(1000) {
        chrono::SecondsFormat::Millis
    } else {
        chrono::SecondsFormat::Micros
    };
    t.to_rfc3339_opts(format, true)
}
