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
    /// Memory admission of the lockout ledger was started for a number of instances
    /// that is 0, or that differs from the one the ledger's slots were made for.
    #[error("lockout memory admission for {configured} instances, but {}; start every instance with the same number (or empty the slots table after stopping them all)", match found { Some(n) => format!("the shared ledger has {n} slots"), None => "that must be at least 1".to_owned() })]
    Instances {
        /// The number asked for.
        configured: u64,
        /// The slots the shared ledger has, if it has a different number.
        found: Option<u64>,
    },
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
    /// Another process (or another `SqliteSpool` of this one) has the spool open: a spool
    /// has one writer, the recorder that fills it.
    #[error("the spool {path} is in use by another process (its lock file {lock} is held): stop the application before `activity spool replay`, or give each process a spool of its own")]
    SpoolInUse {
        /// The spool file.
        path: String,
        /// The lock file held.
        lock: String,
    },
    /// The spool's lock file could not be opened or locked.
    #[error("the spool lock file {lock} cannot be used")]
    SpoolLock {
        /// The lock file.
        lock: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
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
            other @ Error::Instances { .. } => CoreError::conflict(
                "lockout memory admission is configured differently",
                Some(Box::new(other)),
            ),
            other @ (Error::ForeignTable { .. } | Error::SchemaTooNew { .. }) => {
                CoreError::conflict("the schema cannot be migrated", Some(Box::new(other)))
            }
            other @ Error::SpoolInUse { .. } => {
                CoreError::conflict("the spool is in use", Some(Box::new(other)))
            }
            other @ Error::SpoolLock { .. } => {
                CoreError::unavailable("the spool lock file cannot be used", Some(Box::new(other)))
            }
        }
    }
}

/// Maps a sqlx error of `dialect`'s backend onto the core's kinds by what it means for the
/// recorder: an outage (the connection, the disk, a read-only or vanished database, a
/// timeout) is [`Unavailable`](activity_core::ErrorKind::Unavailable) or
/// [`Timeout`](activity_core::ErrorKind::Timeout) and is retried; only an error about the
/// events' content (a constraint, a value the column cannot hold) is
/// [`Rejected`](activity_core::ErrorKind::Rejected), the one kind the recorder discards an
/// event for; anything unclassified is [`Backend`](activity_core::ErrorKind::Backend),
/// which the recorder also treats as an outage.
pub(crate) fn to_core_from(dialect: Dialect, e: sqlx::Error) -> CoreError {
    let text = e.to_string();
    let class = match &e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_)
        | sqlx::Error::BeginFailed => Class::Outage,
        sqlx::Error::PoolTimedOut => Class::Timeout,
        sqlx::Error::Database(db) => {
            let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
            classify(dialect, &code, mysql_number(&**db), db.message())
        }
        _ => Class::Other,
    };
    let source: Option<activity_core::BoxError> = Some(Box::new(e));
    match class {
        Class::Outage => CoreError::unavailable(text, source),
        Class::Timeout => CoreError::timeout(text, source),
        Class::Rejected => CoreError::rejected(text, source),
        Class::Conflict => CoreError::conflict(text, source),
        Class::Other => CoreError::backend(text, source),
    }
}

/// What a database error means for whoever wrote the statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    /// The store cannot take writes right now: retry later.
    Outage,
    /// The store did not answer in time: retry later.
    Timeout,
    /// The statement's data was refused: the same data fails the same way.
    Rejected,
    /// The schema conflicts with the statement (not retried by callers; the recorder
    /// treats it as an outage).
    Conflict,
    /// Anything unclassified.
    Other,
}

/// MySQL's own error number (`1205`, `1290`, ...), which sqlx keeps beside the SQLSTATE
/// (`db.code()` is the SQLSTATE, `HY000` for most server errors).
#[cfg(feature = "mysql")]
fn mysql_number(db: &dyn sqlx::error::DatabaseError) -> Option<u16> {
    db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
        .map(|e| e.number())
}

#[cfg(not(feature = "mysql"))]
fn mysql_number(_: &dyn sqlx::error::DatabaseError) -> Option<u16> {
    None
}

/// Classifies a database error from its code: SQLite's extended result code, the
/// SQLSTATE of PostgreSQL, or MySQL's error number (with its SQLSTATE as a fallback).
pub(crate) fn classify(dialect: Dialect, code: &str, number: Option<u16>, message: &str) -> Class {
    match dialect {
        Dialect::Sqlite => {
            let Ok(n) = code.parse::<i64>() else {
                return Class::Other;
            };
            match n & 0xff {
                // BUSY, LOCKED: another connection holds the database.
                5 | 6 => Class::Timeout,
                // NOMEM, READONLY, IOERR, CORRUPT, FULL, CANTOPEN, PROTOCOL, SCHEMA,
                // NOTADB: the file, the disk or the schema under it went wrong.
                7 | 8 | 10 | 11 | 13 | 14 | 15 | 17 | 26 => Class::Outage,
                // TOOBIG, CONSTRAINT, MISMATCH, RANGE: this data.
                18 | 19 | 20 | 25 => Class::Rejected,
                // SQLITE_ERROR: the table or column is gone (a deleted or replaced file,
                // a dropped table) is an outage, not a bad event.
                1 if message.contains("no such table")
                    || message.contains("no such column")
                    || message.contains("has no column") =>
                {
                    Class::Outage
                }
                _ => Class::Other,
            }
        }
        Dialect::Postgres => {
            let class = code.get(..2).unwrap_or("");
            match code {
                // statement_timeout / canceled, lock_timeout.
                "57014" | "55P03" => Class::Timeout,
                // Serialization failure, deadlock; read-only transaction (a replica after
                // a failover); permission revoked; the table, schema or database gone.
                "40001" | "40P01" | "25006" | "42501" | "42P01" | "3F000" | "3D000" => {
                    Class::Outage
                }
                _ => match class {
                    // Connection exception, operator intervention (57P01 admin shutdown, ...),
                    // insufficient resources (disk full 53100), system error (I/O 58030),
                    // invalid authorization, internal error.
                    "08" | "57" | "53" | "58" | "28" | "XX" => Class::Outage,
                    // Data exception, integrity constraint violation.
                    "22" | "23" => Class::Rejected,
                    "42" => Class::Conflict,
                    _ => Class::Other,
                },
            }
        }
        Dialect::Mysql => match number {
            // Lock wait timeout, max_execution_time exceeded.
            Some(1205 | 3024) => Class::Timeout,
            // Deadlock; server gone / lost / shutting down / connection killed / too many
            // connections / aborted; read-only (--read-only, a read-only transaction,
            // super_read_only); disk full, table full, out of memory; access denied;
            // the table or database gone.
            Some(
                1213
                | 2002
                | 2003
                | 2006
                | 2013
                | 1053
                | 1927
                | 1040
                | 1152
                | 1158..=1161
                | 4031
                | 1290
                | 1792
                | 1836
                | 1021
                | 1114
                | 1037
                | 1041
                | 1142
                | 1044
                | 1045
                | 1227
                | 1146
                | 1049
                | 1030
                | 1180
                | 1181,
            ) => Class::Outage,
            // Duplicate key, data too long, out of range, incorrect value, NULL into NOT
            // NULL, foreign key, invalid JSON, check constraint.
            Some(
                1062 | 1406 | 1264 | 1265 | 1366 | 1292 | 1048 | 1451 | 1452 | 3140 | 3819 | 4025,
            ) => Class::Rejected,
            _ => {
                if code.starts_with("08") || code == "40001" {
                    Class::Outage
                } else if code.starts_with("22") || code.starts_with("23") {
                    Class::Rejected
                } else {
                    Class::Other
                }
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_classified_by_meaning() {
        use Class::*;
        use Dialect::*;
        let c = |d, code: &str| classify(d, code, None, "");
        // SQLite: busy/locked wait; disk full, I/O, read-only, can't open are outages.
        assert_eq!(c(Sqlite, "5"), Timeout);
        assert_eq!(c(Sqlite, "517"), Timeout); // SQLITE_BUSY_SNAPSHOT
        assert_eq!(c(Sqlite, "262"), Timeout); // SQLITE_LOCKED_SHAREDCACHE
        assert_eq!(c(Sqlite, "13"), Outage); // SQLITE_FULL
        assert_eq!(c(Sqlite, "10"), Outage); // SQLITE_IOERR
        assert_eq!(c(Sqlite, "778"), Outage); // SQLITE_IOERR_WRITE
        assert_eq!(c(Sqlite, "8"), Outage); // SQLITE_READONLY
        assert_eq!(c(Sqlite, "1032"), Outage); // SQLITE_READONLY_DBMOVED
        assert_eq!(c(Sqlite, "14"), Outage); // SQLITE_CANTOPEN
        assert_eq!(c(Sqlite, "2067"), Rejected); // SQLITE_CONSTRAINT_UNIQUE
        assert_eq!(c(Sqlite, "275"), Rejected); // SQLITE_CONSTRAINT_CHECK
        assert_eq!(c(Sqlite, "18"), Rejected); // SQLITE_TOOBIG
        assert_eq!(
            classify(Sqlite, "1", None, "no such table: activity_events"),
            Outage,
            "a deleted file opens empty: the schema is gone, the event is fine"
        );
        assert_eq!(
            classify(Sqlite, "1", None, "near \"x\": syntax error"),
            Other
        );
        // PostgreSQL SQLSTATEs.
        for outage in [
            "08006", "57P01", "53100", "58030", "25006", "42501", "42P01", "40001",
        ] {
            assert_eq!(c(Postgres, outage), Outage, "{outage}");
        }
        assert_eq!(c(Postgres, "57014"), Timeout, "statement_timeout");
        assert_eq!(c(Postgres, "55P03"), Timeout, "lock_timeout");
        assert_eq!(c(Postgres, "23505"), Rejected);
        assert_eq!(c(Postgres, "22001"), Rejected, "value too long");
        assert_eq!(c(Postgres, "42703"), Conflict, "undefined column");
        // MySQL: the error number decides, not the SQLSTATE (HY000 for most).
        let m = |n: u16, state: &str| classify(Mysql, state, Some(n), "");
        assert_eq!(m(1205, "HY000"), Timeout, "lock wait timeout");
        assert_eq!(m(1213, "40001"), Outage, "deadlock");
        assert_eq!(m(1290, "HY000"), Outage, "--read-only");
        assert_eq!(m(1792, "25006"), Outage, "read-only transaction");
        assert_eq!(m(1927, "70100"), Outage, "connection killed");
        assert_eq!(m(1021, "HY000"), Outage, "disk full");
        assert_eq!(m(1146, "42S02"), Outage, "table gone");
        assert_eq!(m(1406, "22001"), Rejected, "data too long");
        assert_eq!(m(1062, "23000"), Rejected, "duplicate key");
        assert_eq!(m(1064, "42000"), Other, "syntax");
        assert_eq!(classify(Mysql, "08S01", None, ""), Outage);
        // sqlx's own errors.
        assert!(to_core_from(Sqlite, sqlx::Error::PoolTimedOut).is_retryable());
        assert!(to_core_from(Postgres, sqlx::Error::PoolClosed).is_outage());
        assert!(!to_core_from(Postgres, sqlx::Error::RowNotFound).is_retryable());
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
