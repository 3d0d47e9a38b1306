//! The crate's one error type, and how sqlx errors map onto the core's retry kinds.

use activity_core::Error as CoreError;

/// Errors of `activity-sqlx` outside the [`ActivityStore`](activity_core::ActivityStore)
/// methods (which return [`activity_core::Error`]): connecting, migrating, configuring.
///
/// ```
/// use activity_sqlx::{Error, SqliteStore};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let store = SqliteStore::connect("sqlite::memory:").await?;
/// // The application already has a table of that name.
/// sqlx::query("CREATE TABLE activity_events (id INTEGER)").execute(store.pool()).await?;
/// match store.migrate().await {
///     Err(Error::ForeignTable { table, .. }) => assert_eq!(table, "activity_events"),
///     other => panic!("expected ForeignTable, got {other:?}"),
/// }
/// # Ok::<(), Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The database said no, or could not be reached.
    #[error("database error: {0}")]
    Sqlx(#[from] sqlx::Error),
    /// The table prefix is not a plain identifier.
    #[error("invalid table prefix {0:?}: use at most 32 ASCII letters, digits and underscores, starting with a letter")]
    InvalidPrefix(String),
    /// A table with the SDK's name exists but was not created by it.
    #[error("table {table} exists but was not created by activity (no {schema_table} row); refusing to touch it — choose another prefix")]
    ForeignTable {
        /// The events table name.
        table: String,
        /// The schema-version table name.
        schema_table: String,
    },
    /// The database holds a schema newer than this code understands.
    #[error("the database schema is version {found}, newer than this code supports ({supported}); upgrade the activity crates")]
    SchemaTooNew {
        /// Version found.
        found: i64,
        /// Newest version this code knows.
        supported: i64,
    },
    /// The URL names a database this build has no feature for.
    #[error(
        "unsupported database URL {0:?}: enable the matching feature (sqlite, postgres, mysql)"
    )]
    UnsupportedUrl(String),
    /// An error from the core.
    #[error(transparent)]
    Core(#[from] CoreError),
}

impl Error {
    /// This error as the core's, classified by `backend`'s error codes.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) fn into_core(self, backend: Backend) -> CoreError {
        match self {
            Error::Sqlx(e) => to_core_from(backend, e),
            Error::Core(e) => e,
            other => CoreError::conflict(other.to_string(), Some(Box::new(other))),
        }
    }
}

/// Which server an error came from (error codes differ).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(
    not(all(feature = "sqlite", feature = "postgres", feature = "mysql")),
    allow(dead_code)
)]
pub(crate) enum Backend {
    Sqlite,
    Postgres,
    Mysql,
}

/// Maps a sqlx error of `backend` onto the core's kinds: connection trouble and
/// busy/locked databases are retryable (unavailable, timeout); constraint and type errors
/// are not.
pub(crate) fn to_core_from(backend: Backend, e: sqlx::Error) -> CoreError {
    let text = e.to_string();
    match &e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_)
        | sqlx::Error::BeginFailed => CoreError::unavailable(text, Some(Box::new(e))),
        sqlx::Error::PoolTimedOut => CoreError::timeout(text, Some(Box::new(e))),
        sqlx::Error::Database(db) => {
            let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
            if is_retryable_code(backend, &code) {
                CoreError::unavailable(text, Some(Box::new(e)))
            } else if matches!(db.kind(), sqlx::error::ErrorKind::Other) {
                CoreError::backend(text, Some(Box::new(e)))
            } else {
                CoreError::conflict(text, Some(Box::new(e)))
            }
        }
        _ => CoreError::backend(text, Some(Box::new(e))),
    }
}

/// Database error codes that mean "try again later".
fn is_retryable_code(backend: Backend, code: &str) -> bool {
    match backend {
        // Extended result codes: BUSY (5) and LOCKED (6) with their variants.
        Backend::Sqlite => code.parse::<i64>().is_ok_and(|n| matches!(n & 0xff, 5 | 6)),
        // SQLSTATE: 08 connection exception, 57P admin shutdown / crash / cannot connect
        // now, 53 insufficient resources, 40001 serialization failure, 40P01 deadlock,
        // 55P03 lock not available.
        Backend::Postgres => {
            code.starts_with("08")
                || code.starts_with("57P")
                || code.starts_with("53")
                || matches!(code, "40001" | "40P01" | "55P03")
        }
        // SQLSTATE as sqlx reports it for MySQL: 08 connection, 40001 deadlock, HY000
        // covers too much to retry; lock wait timeout is HY000 with 1205, so check both.
        Backend::Mysql => {
            code.starts_with("08")
                || matches!(
                    code,
                    "40001" | "1205" | "1213" | "2006" | "2013" | "1053" | "1927"
                )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes() {
        use Backend::*;
        assert!(is_retryable_code(Sqlite, "5"));
        assert!(is_retryable_code(Sqlite, "517")); // SQLITE_BUSY_SNAPSHOT
        assert!(is_retryable_code(Sqlite, "262")); // SQLITE_LOCKED_SHAREDCACHE
        assert!(!is_retryable_code(Sqlite, "2067")); // SQLITE_CONSTRAINT_UNIQUE
        assert!(is_retryable_code(Postgres, "57P01"));
        assert!(is_retryable_code(Postgres, "08006"));
        assert!(!is_retryable_code(Postgres, "23505"));
        assert!(is_retryable_code(Mysql, "08S01"));
        assert!(!is_retryable_code(Mysql, "23000"));
        assert!(to_core_from(Sqlite, sqlx::Error::PoolTimedOut).is_retryable());
        assert!(!to_core_from(Postgres, sqlx::Error::RowNotFound).is_retryable());
        assert!(!is_retryable_code(Postgres, "42501")); // permission denied
    }
}
