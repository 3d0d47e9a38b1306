//! The crate's one error type, and how sqlx errors map onto the core's retry kinds.

use activity_core::{Error as CoreError, Rule};

use crate::sql::Dialect;

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
    #[error(transparent)]
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
    /// This error as the core's, classified by `dialect`'s error codes: a bad prefix or URL
    /// is [`Invalid`](activity_core::ErrorKind::Invalid), a schema the SDK must not touch
    /// a [`Conflict`](activity_core::ErrorKind::Conflict).
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) fn into_core(self, dialect: Dialect) -> CoreError {
        match self {
            Error::Sqlx(e) => to_core_from(dialect, e),
            Error::Core(e) => e,
            Error::InvalidPrefix(_) => CoreError::invalid(
                "prefix",
                Rule::Malformed(
                    "use at most 32 ASCII letters, digits and underscores, starting with a letter",
                ),
            ),
            Error::UnsupportedUrl(_) => CoreError::invalid(
                "url",
                Rule::Unknown("the database URLs this build has a feature for"),
            ),
            other @ (Error::ForeignTable { .. } | Error::SchemaTooNew { .. }) => {
                CoreError::conflict("the schema cannot be migrated", Some(Box::new(other)))
            }
        }
    }
}

/// Maps a sqlx error of `dialect`'s backend onto the core's kinds: connection trouble and
/// busy/locked databases are retryable (unavailable, timeout); constraint and type errors
/// are not.
pub(crate) fn to_core_from(dialect: Dialect, e: sqlx::Error) -> CoreError {
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
            if is_retryable_code(dialect, &code) {
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
fn is_retryable_code(dialect: Dialect, code: &str) -> bool {
    match dialect {
        // Extended result codes: BUSY (5) and LOCKED (6) with their variants.
        Dialect::Sqlite => code.parse::<i64>().is_ok_and(|n| matches!(n & 0xff, 5 | 6)),
        // SQLSTATE: 08 connection exception, 57P admin shutdown / crash / cannot connect
        // now, 53 insufficient resources, 40001 serialization failure, 40P01 deadlock,
        // 55P03 lock not available.
        Dialect::Postgres => {
            code.starts_with("08")
                || code.starts_with("57P")
                || code.starts_with("53")
                || matches!(code, "40001" | "40P01" | "55P03")
        }
        // SQLSTATE as sqlx reports it for MySQL: 08 connection, 40001 deadlock, HY000
        // covers too much to retry; lock wait timeout is HY000 with 1205, so check both.
        Dialect::Mysql => {
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
        use Dialect::*;
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

    #[test]
    fn a_bad_prefix_or_url_is_invalid_input_not_a_conflict() {
        use activity_core::ErrorKind;
        use Dialect::*;
        let prefix = crate::Tables::new("1x; DROP TABLE t").unwrap_err();
        assert!(matches!(prefix, Error::InvalidPrefix(_)));
        let core = prefix.into_core(Postgres);
        assert_eq!(core.kind(), ErrorKind::Invalid);
        assert_eq!(core.field(), Some("prefix"));
        assert!(!core.is_retryable());
        let url = Error::UnsupportedUrl("oracle://db".into()).into_core(Mysql);
        assert_eq!(url.kind(), ErrorKind::Invalid);
        assert_eq!(url.field(), Some("url"));
        // A foreign table is still a conflict with stored state, and keeps its error.
        let foreign = Error::ForeignTable {
            table: "activity_events".into(),
            schema_table: "activity_schema".into(),
        };
        let core = foreign.into_core(Sqlite);
        assert_eq!(core.kind(), ErrorKind::Conflict);
        let source = std::error::Error::source(&core).expect("the migration error");
        assert!(source.to_string().contains("activity_events"), "{source}");
        assert!(
            !core.to_string().contains("activity_events"),
            "not printed twice: {core}"
        );
    }

    #[test]
    fn a_database_error_is_printed_once() {
        let e = Error::from(sqlx::Error::PoolTimedOut);
        assert_eq!(e.to_string(), sqlx::Error::PoolTimedOut.to_string());
        // Transparent: the source is sqlx's own, not the error itself again.
        assert!(std::error::Error::source(&e).is_none());
    }
}
