//! Reads of a SQLite file on connections of their own, with rows read in place.
//!
//! Through sqlx, each row of a SQLite read is copied value by value on the connection's
//! thread and handed to the async side separately, a thread wake-up per row; the store
//! therefore used to have SQLite build one JSON array of a read's rows (see
//! `json_columns` in `json.rs`) and parse it back: a single hand-over, but per row
//! SQLite formatting 27 values as JSON text and `serde_json` parsing them again: most of
//! what a bulk read (export, verification) cost.
//!
//! A [`Reader`] runs a bulk read (a page of [`MAX_PAGE_SIZE`](activity_core::query::MAX_PAGE_SIZE)
//! events, read by export, verification and archiving) on a blocking thread, on a
//! query-only [`rusqlite`] connection to the same file (the same bundled SQLite library),
//! and builds each event straight from the row's values: one hand-over per page and no
//! text in between. Connections are reused newest first, at most the store's
//! `max_connections` at once; statements are prepared once per connection and cached.
//!
//! Short reads (a viewer's page, an alert batch's history) still go through the store's
//! own sqlx connections as JSON: those connections also write, and SQLite empties a
//! connection's page cache whenever another connection has written, so a reader
//! connection would re-read its pages after every append (measured on the alerts bench:
//! five times the `pread` calls, and no faster for 20 % fewer instructions).
//!
//! Only a store that opened a file itself reads this way: an in-memory database lives in
//! its one sqlx connection, and a pool handed over may be anything.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use activity_core::sinks::{LogPosition, LoggedEvent};
use activity_core::{ActivityEvent, Error as CoreError};
use rusqlite::types::{Value, ValueRef};
use rusqlite::{Connection, OpenFlags};

use super::lifo::Lifo;
use crate::sql::{self, RawRow, Stmt, Val, CHAIN_HASH_COLUMN, TEXT_COLUMNS};

/// How many prepared statements each connection keeps.
const STATEMENT_CACHE: usize = 64;

/// Query-only connections to one SQLite file, reused newest first.
pub(crate) struct Reader {
    path: PathBuf,
    busy_timeout: Duration,
    cache_kib: u32,
    set: Lifo<Connection>,
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("path", &self.path)
            .field("connections", &self.set)
            .finish_non_exhaustive()
    }
}

impl Reader {
    /// Reads of the file at `path`, at most `max` at once; a read waits up to
    /// `acquire_timeout` for a connection and each statement up to `busy_timeout` for a
    /// lock. Connections open when first needed, with a page cache of `cache_kib`.
    pub(crate) fn new(
        path: PathBuf,
        max: u32,
        busy_timeout: Duration,
        cache_kib: u32,
        acquire_timeout: Duration,
    ) -> Self {
        Self {
            path,
            busy_timeout,
            cache_kib,
            set: Lifo::new(max, acquire_timeout),
        }
    }

    /// The events the statement `s` (a `SELECT` of [`sql::COLUMNS`]) returns, in its
    /// order; `expected` rows at most (a capacity hint).
    ///
    /// # Errors
    /// Busy or locked database, or no connection within the acquire timeout: retryable
    /// ([`CoreError::unavailable`], [`CoreError::timeout`]); a row that does not decode:
    /// [`CoreError::backend`].
    pub(crate) async fn read(
        self: &Arc<Self>,
        s: Stmt,
        expected: usize,
    ) -> activity_core::Result<Vec<ActivityEvent>> {
        self.read_rows(s, expected, event).await
    }

    /// The logged events the statement `s` (a `SELECT` of [`sql::COLUMNS`] then the
    /// position's `tx` and `seq`, see `sql::read_log`) returns, in its order.
    ///
    /// # Errors
    /// As [`read`](Self::read); a negative position is an error.
    pub(crate) async fn read_log(
        self: &Arc<Self>,
        s: Stmt,
        expected: usize,
    ) -> activity_core::Result<Vec<LoggedEvent>> {
        self.read_rows(s, expected, logged).await
    }

    async fn read_rows<T: Send + 'static>(
        self: &Arc<Self>,
        s: Stmt,
        expected: usize,
        map: fn(&rusqlite::Row<'_>) -> activity_core::Result<T>,
    ) -> activity_core::Result<Vec<T>> {
        let permit =
            self.set.permit().await.ok_or_else(|| {
                CoreError::timeout("no SQLite read connection free in time", None)
            })?;
        let me = Arc::clone(self);
        let task = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let conn = match me.set.take() {
                Some(c) => c,
                None => me.open().map_err(to_core)?,
            };
            let out = select(&conn, s, expected, map);
            // A connection that failed is dropped (closed), not reused.
            if out.is_ok() {
                me.set.put(conn);
            }
            out
        });
        task.await
            .map_err(|e| CoreError::backend(format!("SQLite read task failed: {e}"), None))?
    }

    fn open(&self) -> rusqlite::Result<Connection> {
        // Opened read-write (never creating the file) but made query-only: a read-only
        // connection cannot always open a WAL database (it needs the `-shm` file another
        // connection created), and query-only refuses every write all the same.
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
                | OpenFlags::SQLITE_OPEN_URI,
        )?;
        conn.pragma_update(None, "query_only", true)?;
        conn.busy_timeout(self.busy_timeout)?;
        conn.pragma_update(None, "cache_size", format!("-{}", self.cache_kib))?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        Ok(conn)
    }
}

/// The rows of `s`, read on `conn`, each made by `map`.
fn select<T>(
    conn: &Connection,
    s: Stmt,
    expected: usize,
    map: fn(&rusqlite::Row<'_>) -> activity_core::Result<T>,
) -> activity_core::Result<Vec<T>> {
    let mut stmt = conn.prepare_cached(&s.sql).map_err(to_core)?;
    let params = s.binds.into_iter().map(|v| match v {
        Val::Int(x) => x.map_or(Value::Null, Value::Integer),
        Val::Real(x) => x.map_or(Value::Null, Value::Real),
        Val::Text(x) => x.map_or(Value::Null, Value::Text),
        Val::Bytes(x) => Value::Blob(x),
    });
    let mut rows = stmt
        .query(rusqlite::params_from_iter(params))
        .map_err(to_core)?;
    let mut events = Vec::with_capacity(expected.min(activity_core::query::MAX_PAGE_SIZE + 1));
    while let Some(row) = rows.next().map_err(to_core)? {
        events.push(map(row)?);
    }
    Ok(events)
}

/// The logged event of one row of [`sql::COLUMNS`], `tx`, `seq`.
fn logged(row: &rusqlite::Row<'_>) -> activity_core::Result<LoggedEvent> {
    let n = sql::COLUMNS.len();
    let part = |col| {
        integer(row, col)?
            .and_then(|v| u64::try_from(v).ok())
            .ok_or_else(|| bad("log_seq"))
    };
    Ok(LoggedEvent {
        position: LogPosition::new(part(n)?, part(n + 1)?),
        event: event(row)?,
    })
}

/// The event of one row of [`sql::COLUMNS`].
fn event(row: &rusqlite::Row<'_>) -> activity_core::Result<ActivityEvent> {
    let mut raw = RawRow {
        id: match value(row, 0)? {
            ValueRef::Blob(b) => b.to_vec(),
            _ => return Err(bad("id")),
        },
        time_us: integer(row, 1)?.ok_or_else(|| bad("time"))?,
        lat: real(row, 17)?,
        lon: real(row, 18)?,
        accuracy_km: integer(row, 19)?,
        chain_seq: integer(row, 24)?,
        ..RawRow::default()
    };
    for (slot, col) in TEXT_COLUMNS.iter().enumerate() {
        raw.texts[slot] = text(row, *col)?;
    }
    let hash = text(row, CHAIN_HASH_COLUMN)?;
    sql::event_from_row(raw, hash)
}

fn value<'r>(row: &'r rusqlite::Row<'_>, col: usize) -> activity_core::Result<ValueRef<'r>> {
    row.get_ref(col).map_err(to_core)
}

fn text(row: &rusqlite::Row<'_>, col: usize) -> activity_core::Result<Option<String>> {
    match value(row, col)? {
        ValueRef::Null => Ok(None),
        ValueRef::Text(t) => std::str::from_utf8(t)
            .map(|s| Some(s.to_owned()))
            .map_err(|_| bad(sql::COLUMNS[col])),
        _ => Err(bad(sql::COLUMNS[col])),
    }
}

fn integer(row: &rusqlite::Row<'_>, col: usize) -> activity_core::Result<Option<i64>> {
    match value(row, col)? {
        ValueRef::Null => Ok(None),
        ValueRef::Integer(i) => Ok(Some(i)),
        _ => Err(bad(sql::COLUMNS[col])),
    }
}

fn real(row: &rusqlite::Row<'_>, col: usize) -> activity_core::Result<Option<f64>> {
    match value(row, col)? {
        ValueRef::Null => Ok(None),
        ValueRef::Real(x) => Ok(Some(x)),
        // SQLite may keep a whole-number REAL as an integer.
        ValueRef::Integer(i) => Ok(Some(i as f64)),
        _ => Err(bad(sql::COLUMNS[col])),
    }
}

fn bad(what: &str) -> CoreError {
    CoreError::backend(format!("stored row has an invalid {what}"), None)
}

/// A rusqlite error as the core's kinds: busy or locked is retryable, as through sqlx.
fn to_core(e: rusqlite::Error) -> CoreError {
    let text = e.to_string();
    let retryable = matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    );
    if retryable {
        CoreError::unavailable(text, Some(Box::new(e)))
    } else {
        CoreError::backend(text, Some(Box::new(e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use activity_core::{query::MAX_PAGE_SIZE, ActivityQuery, ActivityStore, Actor};

    #[test]
    fn busy_and_locked_are_retryable_and_nothing_else_is() {
        let failure = |code| {
            rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), Some("x".into()))
        };
        assert!(to_core(failure(rusqlite::ffi::SQLITE_BUSY)).is_retryable());
        assert!(to_core(failure(rusqlite::ffi::SQLITE_LOCKED)).is_retryable());
        assert!(!to_core(failure(rusqlite::ffi::SQLITE_CORRUPT)).is_retryable());
        assert!(!to_core(rusqlite::Error::InvalidQuery).is_retryable());
    }

    /// A row that is not what the store writes (changed behind its back) makes a bulk read
    /// fail with a typed, non-retryable error, never a panic, whichever column is wrong.
    #[tokio::test]
    async fn a_malformed_row_in_a_bulk_read_is_an_error() {
        let dir = std::env::temp_dir().join(format!("activity-reader-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}/r.db", dir.display());
        let store = crate::SqliteStore::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        store
            .append(&[ActivityEvent::logout(Actor::user("u_1"))])
            .await
            .unwrap();
        let bulk = ActivityQuery::new().limit(MAX_PAGE_SIZE);
        assert_eq!(store.query(&bulk).await.unwrap().events.len(), 1);
        for (column, value) in [
            ("id", "'not a blob'"),
            ("time_us", "'noon'"),
            ("geo_lat", "'north'"),
            ("actor_id", "x'ff'"),
            ("action", "'Not An Action'"),
        ] {
            let mut conn = store.pool().acquire().await.unwrap();
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE activity_events SET {column} = {value}"
            )))
            .execute(&mut *conn)
            .await
            .unwrap();
            let e = store.query(&bulk).await.unwrap_err();
            assert!(!e.is_retryable(), "{column}: {e}");
            drop(conn);
            // A fresh, well-formed row for the next column.
            sqlx::query("DELETE FROM activity_events")
                .execute(store.pool())
                .await
                .unwrap();
            store
                .append(&[ActivityEvent::logout(Actor::user("u_1"))])
                .await
                .unwrap();
        }
        let _ = std::fs::remove_dir_all(dir);
    }
}
