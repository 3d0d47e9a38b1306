//! [`Failure`]: what the command prints when it fails, its exit status, and the error it
//! came from.

use std::path::Path;

/// The error a [`Failure`] came from.
type Source = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A failure of the command: a message, an exit status (2 for a usage error, 1 for
/// anything else) and, when an error caused it, that error.
///
/// ```
/// use activity_sqlx::cli::{args::Cli, run, Failure};
/// use clap::Parser;
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// // A usage error, here a configuration file that does not exist, has exit status 2.
/// let missing = std::env::temp_dir().join(format!("activity-{}.toml", uuid::Uuid::now_v7()));
/// let config = missing.to_str().unwrap();
/// let cli = Cli::try_parse_from(["activity", "--config", config, "migrate"]).unwrap();
/// let failure = run(cli).await.unwrap_err(); // refused before any database is opened
/// assert_eq!(failure.code, 2);
/// assert!(failure.message.starts_with("cannot read"), "{}", failure.message);
/// // An error converts into a failure with status 1, and stays at hand.
/// let failure = Failure::from(std::io::Error::other("disk full"));
/// assert_eq!((failure.message.as_str(), failure.code), ("disk full", 1));
/// let io = failure.source().and_then(|e| e.downcast_ref::<std::io::Error>());
/// assert_eq!(io.map(|e| e.kind()), Some(std::io::ErrorKind::Other));
/// # });
/// ```
#[derive(Debug)]
pub struct Failure {
    /// What to print (one line).
    pub message: String,
    /// The exit status.
    pub code: u8,
    source: Option<Source>,
}

impl Failure {
    /// A usage error (exit status 2): a bad argument or configuration.
    ///
    /// ```
    /// let f = activity_sqlx::cli::Failure::usage("--since: expected a time");
    /// assert_eq!((f.code, f.source().is_none()), (2, true));
    /// ```
    pub fn usage(message: impl Into<String>) -> Self {
        Failure {
            message: message.into(),
            code: 2,
            source: None,
        }
    }

    /// A failure with exit status 1 and no error behind it.
    ///
    /// ```
    /// let f = activity_sqlx::cli::Failure::failed("3 events could not be written");
    /// assert_eq!(f.code, 1);
    /// ```
    pub fn failed(message: impl Into<String>) -> Self {
        Failure {
            message: message.into(),
            code: 1,
            source: None,
        }
    }

    /// A file that could not be opened, read or written (exit status 1), named in the
    /// message.
    ///
    /// ```
    /// let e = std::io::Error::from(std::io::ErrorKind::NotFound);
    /// let f = activity_sqlx::cli::Failure::file(std::path::Path::new("out.csv"), e);
    /// assert!(f.message.starts_with("out.csv: "), "{}", f.message);
    /// assert_eq!(f.code, 1);
    /// ```
    pub fn file(path: &Path, e: std::io::Error) -> Self {
        Failure {
            message: format!("{}: {e}", path.display()),
            code: 1,
            source: Some(Box::new(e)),
        }
    }

    /// The error the failure came from, if one did (to inspect or downcast; the message
    /// already says what it says).
    ///
    /// ```
    /// use activity_sqlx::cli::Failure;
    /// let failure = Failure::from(activity_core::Error::timeout("no connection free", None));
    /// let core = failure.source().and_then(|e| e.downcast_ref::<activity_core::Error>());
    /// assert!(core.is_some_and(|e| e.is_retryable()));
    /// ```
    pub fn source(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        self.source.as_deref()
    }

    /// Status 1, the message `e`'s, `e` kept.
    fn of<E: std::error::Error + Send + Sync + 'static>(e: E) -> Self {
        Failure {
            message: e.to_string(),
            code: 1,
            source: Some(Box::new(e)),
        }
    }
}

impl From<activity_core::Error> for Failure {
    /// Status 1: the store, the recorder or a library call failed.
    fn from(e: activity_core::Error) -> Self {
        Self::of(e)
    }
}

impl From<crate::Error> for Failure {
    /// Status 1: connecting to or migrating the database failed.
    fn from(e: crate::Error) -> Self {
        Self::of(e)
    }
}

impl From<std::io::Error> for Failure {
    /// Status 1: reading the input or writing the output failed.
    fn from(e: std::io::Error) -> Self {
        Self::of(e)
    }
}

impl From<serde_json::Error> for Failure {
    /// Status 1: an output could not be written as JSON.
    fn from(e: serde_json::Error) -> Self {
        Self::of(e)
    }
}
