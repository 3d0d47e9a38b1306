//! [`SqliteSpool`]: the recorder's local durable spool in one SQLite file.

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use activity_core::spool::{Spool, SpoolEntry, SpoolStatus};
use activity_core::{ActivityEvent, Error as CoreError, Result as CoreResult};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::Row;

use crate::error::{to_core_from, Error};
use crate::sql::Dialect;

/// The default capacity of a spool: 256 MiB of encoded events (about half a million
/// logins).
pub const DEFAULT_SPOOL_CAPACITY: u64 = 256 << 20;

/// A [`Spool`] in one SQLite file on local disk: WAL journal with `synchronous=FULL`, so
/// that a pushed batch survives a crash of the process or the machine once `push`
/// returns; entries kept in push order; bounded in bytes.
///
/// Use it beside a store that is not local (PostgreSQL, MySQL): the recorder spools there
/// while the store is unreachable. A SQLite store needs no spool: its outage is the disk's.
/// Keep the file on a disk of its own machine, one file per running process (the worker
/// is its only writer); `activity spool status|replay --spool FILE` reads and empties it
/// by hand.
///
/// An entry that cannot be read back (an edited or corrupt row) is never replayed and
/// never deleted: it is set aside and counted as `unreadable` in the status.
///
/// ```
/// use activity_core::spool::Spool;
/// use activity_core::{ActivityEvent, Actor};
/// use activity_sqlx::SqliteSpool;
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let dir = std::env::temp_dir().join(format!("spool-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("spool.db");
/// let spool = SqliteSpool::open(&path, 1 << 20).await?;
/// spool.push(false, &[ActivityEvent::logout(Actor::user("u_1"))]).await?;
/// drop(spool);
/// let reopened = SqliteSpool::open(&path, 1 << 20).await?;
/// assert_eq!(reopened.status().await?.events, 1, "still there after reopening");
/// # std::fs::remove_dir_all(&dir).ok();
/// # Ok::<(), Box<dyn std::error::Error>>(()) }).unwrap();
/// ```
#[derive(Debug)]
pub struct SqliteSpool {
    pool: SqlitePool,
    capacity: u64,
    totals: Mutex<Totals>,
    /// `<file>.lock`, locked exclusively while this spool is open (`None` for
    /// [`SqliteSpool::status_of`], which only reads).
    _lock: Option<std::fs::File>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Totals {
    batches: u64,
    events: u64,
    bytes: u64,
}

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS activity_spool (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sealed INTEGER NOT NULL,
    events INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    oldest TEXT,
    unreadable INTEGER NOT NULL DEFAULT 0,
    body BLOB NOT NULL
)";

/// For the status's oldest event and unreadable count without a scan of the spool (the
/// worker reads the status after every push and replay).
const INDEX: &str =
    "CREATE INDEX IF NOT EXISTS activity_spool_unreadable_oldest ON activity_spool (unreadable, oldest)";

impl SqliteSpool {
    /// Opens (creating it if missing) the spool at `path`, holding at most
    /// `capacity_bytes` of encoded events. The spool has one writer: it takes an
    /// exclusive lock on `<path>.lock` (an OS file lock, released when the spool is
    /// dropped or the process dies), so a second process (`activity spool replay` beside
    /// the running application, or two instances given the same file) is refused instead
    /// of replaying and removing batches the other is replaying too.
    ///
    /// ```
    /// use activity_sqlx::{Error, SqliteSpool};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let dir = std::env::temp_dir().join(format!("spool-lock-doc-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// let path = dir.join("spool.db");
    /// let first = SqliteSpool::open(&path, 1 << 20).await.unwrap();
    /// assert!(matches!(SqliteSpool::open(&path, 1 << 20).await, Err(Error::SpoolInUse { .. })));
    /// assert_eq!(SqliteSpool::status_of(&path).await.unwrap().events, 0, "reading needs no lock");
    /// drop(first);
    /// assert!(SqliteSpool::open(&path, 1 << 20).await.is_ok());
    /// # std::fs::remove_dir_all(&dir).ok();
    /// # });
    /// ```
    ///
    /// # Errors
    /// [`Error::SpoolInUse`] when another spool holds the lock; [`Error::SpoolLock`] when
    /// the lock file cannot be made; [`Error::Sqlx`] when the file cannot be opened or is
    /// not a spool.
    pub async fn open(path: impl AsRef<Path>, capacity_bytes: u64) -> Result<Self, Error> {
        let lock = lock(path.as_ref())?;
        let mut spool = Self::open_unlocked(path.as_ref(), capacity_bytes, true).await?;
        spool._lock = Some(lock);
        Ok(spool)
    }

    /// What the spool at `path` holds, read without taking the writer's lock (so while the
    /// application runs). A missing file is an error, never an empty spool made on the
    /// spot.
    ///
    /// # Errors
    /// [`Error::Sqlx`] when the file is missing, cannot be read or is not a spool.
    pub async fn status_of(path: impl AsRef<Path>) -> Result<SpoolStatus, Error> {
        let spool = Self::open_unlocked(path.as_ref(), DEFAULT_SPOOL_CAPACITY, false).await?;
        let status = spool.status().await?;
        spool.close().await;
        Ok(status)
    }

    async fn open_unlocked(path: &Path, capacity_bytes: u64, create: bool) -> Result<Self, Error> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(create)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(5));
        // One connection: the worker is the only writer, and a push must not wait on
        // another connection's transaction.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await?;
        sqlx::query(SCHEMA).execute(&pool).await?;
        sqlx::query(INDEX).execute(&pool).await?;
        let spool = Self {
            pool,
            capacity: capacity_bytes,
            totals: Mutex::new(Totals::default()),
            _lock: None,
        };
        let totals = spool.count().await?;
        *spool.totals() = totals;
        Ok(spool)
    }

    fn totals(&self) -> std::sync::MutexGuard<'_, Totals> {
        self.totals.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn count(&self) -> Result<Totals, Error> {
        let row = sqlx::query(
            "SELECT COUNT(*), COALESCE(SUM(events), 0), COALESCE(SUM(bytes), 0) \
             FROM activity_spool WHERE unreadable = 0",
        )
        .fetch_one(&self.pool)
        .await?;
        let n = |i: usize| -> Result<u64, Error> {
            let v: i64 = row.try_get(i)?;
            Ok(u64::try_from(v).unwrap_or(0))
        };
        Ok(Totals {
            batches: n(0)?,
            events: n(1)?,
            bytes: n(2)?,
        })
    }

    /// Sets entry `id` aside as unreadable (never replayed, never deleted).
    async fn set_aside(&self, id: i64, bytes: u64, events: u64) -> CoreResult<()> {
        sqlx::query("UPDATE activity_spool SET unreadable = 1 WHERE id = ?")
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(core)?;
        let mut t = self.totals();
        t.batches = t.batches.saturating_sub(1);
        t.events = t.events.saturating_sub(events);
        t.bytes = t.bytes.saturating_sub(bytes);
        Ok(())
    }

    /// Closes the file (waits for the connection to finish).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Takes the exclusive lock of the spool at `path`: `<path>.lock`, created if missing.
fn lock(path: &Path) -> Result<std::fs::File, Error> {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    let lock_path = std::path::PathBuf::from(name);
    let shown = || lock_path.display().to_string();
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|source| Error::SpoolLock {
            lock: shown(),
            source,
        })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(Error::SpoolInUse {
            path: path.display().to_string(),
            lock: shown(),
        }),
        Err(std::fs::TryLockError::Error(source)) => Err(Error::SpoolLock {
            lock: shown(),
            source,
        }),
    }
}

fn core(e: sqlx::Error) -> CoreError {
    to_core_from(Dialect::Sqlite, e)
}

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

#[async_trait::async_trait]
impl Spool for SqliteSpool {
    async fn push(&self, sealed: bool, events: &[ActivityEvent]) -> CoreResult<u64> {
        let body = serde_json::to_vec(events).map_err(CoreError::Json)?;
        let size = body.len() as u64;
        {
            let t = self.totals();
            if t.bytes + size > self.capacity {
                return Err(CoreError::SpoolFull {
                    bytes: t.bytes,
                    capacity: self.capacity,
                });
            }
        }
        let oldest = events.iter().map(|e| e.time).min().map(|t| t.to_rfc3339());
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO activity_spool (sealed, events, bytes, oldest, body) \
             VALUES (?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(sealed)
        .bind(events.len() as i64)
        .bind(size as i64)
        .bind(oldest)
        .bind(body)
        .fetch_one(&self.pool)
        .await
        .map_err(core)?;
        let mut t = self.totals();
        t.batches += 1;
        t.events += events.len() as u64;
        t.bytes += size;
        Ok(to_u64(id))
    }

    async fn front(&self) -> CoreResult<Option<SpoolEntry>> {
        loop {
            let row = sqlx::query(
                "SELECT id, sealed, events, bytes, body FROM activity_spool \
                 WHERE unreadable = 0 ORDER BY id LIMIT 1",
            )
            .fetch_optional(&self.pool)
            .await
            .map_err(core)?;
            let Some(row) = row else { return Ok(None) };
            let (id, sealed, count, bytes, body) = columns(&row).map_err(core)?;
            match decode(&body) {
                Ok(events) => return Ok(Some(SpoolEntry::new(to_u64(id), sealed, events))),
                Err(err) => {
                    tracing::error!(id, error = %err, "activity spool entry cannot be read back; set aside, not replayed");
                    self.set_aside(id, to_u64(bytes), to_u64(count)).await?;
                }
            }
        }
    }

    async fn front_many(&self, max_events: usize) -> CoreResult<Vec<SpoolEntry>> {
        'read: loop {
            // Which entries, by their counts alone; then the bodies of those.
            let counts: Vec<(i64, i64)> = sqlx::query_as(
                "SELECT id, events FROM activity_spool WHERE unreadable = 0 ORDER BY id LIMIT ?",
            )
            .bind(i64::try_from(max_events.max(1)).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await
            .map_err(core)?;
            let mut taken = 0u64;
            let mut last = None;
            for (id, events) in counts {
                let events = to_u64(events);
                if last.is_some() && taken + events > max_events as u64 {
                    break;
                }
                taken += events;
                last = Some(id);
            }
            let Some(last) = last else {
                return Ok(Vec::new());
            };
            let rows = sqlx::query(
                "SELECT id, sealed, events, bytes, body FROM activity_spool \
                 WHERE unreadable = 0 AND id <= ? ORDER BY id",
            )
            .bind(last)
            .fetch_all(&self.pool)
            .await
            .map_err(core)?;
            let mut run = Vec::with_capacity(rows.len());
            for row in rows {
                let (id, sealed, count, bytes, body) = columns(&row).map_err(core)?;
                match decode(&body) {
                    Ok(events) => run.push(SpoolEntry::new(to_u64(id), sealed, events)),
                    Err(err) => {
                        tracing::error!(id, error = %err, "activity spool entry cannot be read back; set aside, not replayed");
                        self.set_aside(id, to_u64(bytes), to_u64(count)).await?;
                        continue 'read;
                    }
                }
            }
            return Ok(run);
        }
    }

    async fn remove(&self, id: u64) -> CoreResult<()> {
        self.remove_many(&[id]).await
    }

    async fn remove_many(&self, ids: &[u64]) -> CoreResult<()> {
        let mut removed = Totals::default();
        // One transaction: one sync for the whole replayed run.
        let mut tx = self.pool.begin().await.map_err(core)?;
        for &id in ids {
            let id = i64::try_from(id).map_err(|_| {
                CoreError::invalid("id", activity_core::Rule::OutOfRange("spool entry id"))
            })?;
            let row = sqlx::query(
                "DELETE FROM activity_spool WHERE id = ? AND unreadable = 0 RETURNING events, bytes",
            )
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(core)?;
            if let Some(row) = row {
                let events: i64 = row.try_get(0).map_err(core)?;
                let bytes: i64 = row.try_get(1).map_err(core)?;
                removed.batches += 1;
                removed.events += to_u64(events);
                removed.bytes += to_u64(bytes);
            }
        }
        tx.commit().await.map_err(core)?;
        let mut t = self.totals();
        t.batches = t.batches.saturating_sub(removed.batches);
        t.events = t.events.saturating_sub(removed.events);
        t.bytes = t.bytes.saturating_sub(removed.bytes);
        Ok(())
    }

    async fn status(&self) -> CoreResult<SpoolStatus> {
        let t = *self.totals();
        let mut status = SpoolStatus::default();
        status.batches = t.batches;
        status.events = t.events;
        status.bytes = t.bytes;
        status.capacity_bytes = self.capacity;
        if t.batches > 0 {
            let oldest: Option<String> =
                sqlx::query_scalar("SELECT MIN(oldest) FROM activity_spool WHERE unreadable = 0")
                    .fetch_one(&self.pool)
                    .await
                    .map_err(core)?;
            status.oldest = oldest
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(&t).ok())
                .map(|t| t.with_timezone(&chrono::Utc));
        }
        let unreadable: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM activity_spool WHERE unreadable = 1")
                .fetch_one(&self.pool)
                .await
                .map_err(core)?;
        status.unreadable = to_u64(unreadable);
        Ok(status)
    }
}

/// An entry's row: id, sealed, event count, bytes, body.
fn columns(row: &sqlx::sqlite::SqliteRow) -> Result<(i64, bool, i64, i64, Vec<u8>), sqlx::Error> {
    Ok((
        row.try_get(0)?,
        row.try_get(1)?,
        row.try_get(2)?,
        row.try_get(3)?,
        row.try_get(4)?,
    ))
}

/// The events of a spooled body, each checked as the recorder checks a new one.
fn decode(body: &[u8]) -> CoreResult<Vec<ActivityEvent>> {
    let events: Vec<ActivityEvent> = serde_json::from_slice(body).map_err(CoreError::Json)?;
    for e in &events {
        e.validate()?;
    }
    Ok(events)
}

#[cfg(test)]
mod tests;
