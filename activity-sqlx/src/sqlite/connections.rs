//! The SQLite store's own connections: a last-in, first-out set that hands a connection
//! back the moment an operation finishes.
//!
//! sqlx's pool does two things on every release that a SQLite file does not need and that
//! cost a short query most of its time: it spawns a task to take the connection back, and
//! that task pings the connection — a round trip to the connection's own thread — before
//! it is idle again. Each is a thread wake-up, and on a small virtual machine a wake-up
//! costs tens of microseconds. The pool also hands connections out in turn, so a read
//! rarely lands on the connection that wrote last and SQLite, which empties a
//! connection's page cache whenever another connection has written, re-reads its pages.
//!
//! Here an operation takes the most recently returned connection (whose page cache is the
//! warmest: after its own commit SQLite keeps it), runs, and puts it back at once. A
//! connection whose operation did not finish — its future was dropped part-way, perhaps
//! inside a transaction — is closed instead of reused (SQLite rolls back what it left
//! open). Connections open lazily, up to the store's `max_connections`.

use std::sync::Arc;
use std::time::Duration;

use sqlx::pool::PoolConnection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{ConnectOptions, Sqlite, SqlitePool};
use tokio::sync::OwnedSemaphorePermit;

use super::lifo::Lifo;
use crate::backend::Finish;

/// Up to `max` connections to one SQLite file, reused newest first.
pub(crate) struct Connections {
    options: SqliteConnectOptions,
    set: Lifo<SqliteConnection>,
}

impl std::fmt::Debug for Connections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connections")
            .field("set", &self.set)
            .finish_non_exhaustive()
    }
}

impl Connections {
    /// Connections opened with `options`, at most `max` at once; waiting longer than
    /// `acquire_timeout` for one is [`sqlx::Error::PoolTimedOut`].
    pub(crate) fn new(options: SqliteConnectOptions, max: u32, acquire_timeout: Duration) -> Self {
        Self {
            options,
            set: Lifo::new(max, acquire_timeout),
        }
    }

    /// Connections open and not in use.
    #[cfg(test)]
    pub(crate) fn idle_count(&self) -> usize {
        self.set.idle_count()
    }

    /// The most recently returned connection, or a new one while fewer than `max` are
    /// open.
    async fn acquire(self: &Arc<Self>) -> Result<Lease, sqlx::Error> {
        let permit = self.set.permit().await.ok_or(sqlx::Error::PoolTimedOut)?;
        let conn = match self.set.take() {
            Some(c) => c,
            None => self.options.connect().await?,
        };
        Ok(Lease {
            conn: Some(Held::Own {
                conn,
                home: Arc::clone(self),
                _permit: permit,
            }),
            finished: false,
        })
    }
}

/// Where a store's connections come from.
#[derive(Debug, Clone)]
pub(crate) enum Source {
    /// The store's own (a file opened by the store).
    Own(Arc<Connections>),
    /// sqlx's pool: an in-memory database (whose one connection is the database) or a
    /// pool the application handed over.
    Pool(SqlitePool),
}

impl Source {
    /// A connection for one operation; call [`Finish::finish`] when it is done.
    pub(crate) async fn acquire(&self) -> Result<Lease, sqlx::Error> {
        match self {
            Source::Own(c) => c.acquire().await,
            Source::Pool(p) => Ok(Lease {
                conn: Some(Held::Pooled(p.acquire().await?)),
                finished: false,
            }),
        }
    }
}

enum Held {
    Own {
        conn: SqliteConnection,
        home: Arc<Connections>,
        _permit: OwnedSemaphorePermit,
    },
    Pooled(PoolConnection<Sqlite>),
}

/// A connection lent for one operation. [`finish`](Self::finish) returns it for reuse;
/// dropped without it, an own connection is closed (the operation may have stopped
/// part-way), a pooled one goes back to sqlx's pool, which checks it.
pub(crate) struct Lease {
    conn: Option<Held>,
    finished: bool,
}

impl Finish for Lease {
    /// The operation is over (successfully or with an error SQLite reported): the
    /// connection is fit for the next one.
    fn finish(mut self) {
        self.finished = true;
    }
}

impl std::ops::Deref for Lease {
    type Target = SqliteConnection;
    fn deref(&self) -> &SqliteConnection {
        match self.conn.as_ref().expect("held until dropped") {
            Held::Own { conn, .. } => conn,
            Held::Pooled(c) => c,
        }
    }
}

impl std::ops::DerefMut for Lease {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        match self.conn.as_mut().expect("held until dropped") {
            Held::Own { conn, .. } => conn,
            Held::Pooled(c) => c,
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(Held::Own {
            conn,
            home,
            _permit,
        }) = self.conn.take()
        {
            if self.finished {
                // Back before the permit: a waiter woken by the permit finds it.
                home.set.put(conn);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::Connection;

    /// A fresh database file in its own directory, removed when dropped.
    struct Dir(std::path::PathBuf);

    impl Dir {
        fn new() -> Self {
            let d = std::env::temp_dir().join(format!("activity-conns-{}", uuid::Uuid::now_v7()));
            std::fs::create_dir_all(&d).unwrap();
            Self(d)
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    async fn exec(conn: &mut SqliteConnection, sql: &'static str) {
        sqlx::query(sql).execute(conn).await.unwrap();
    }

    /// Up to `max` connections to a file in `dir`, and a source over them.
    fn connections(dir: &Dir, max: u32, timeout: Duration) -> (Arc<Connections>, Source) {
        let options = SqliteConnectOptions::new()
            .filename(dir.0.join("c.db"))
            .create_if_missing(true)
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal);
        let set = Arc::new(Connections::new(options, max, timeout));
        (Arc::clone(&set), Source::Own(set))
    }

    #[tokio::test]
    async fn a_finished_connection_is_reused_newest_first() {
        let dir = Dir::new();
        let (set, source) = connections(&dir, 3, Duration::from_secs(5));
        let mut a = source.acquire().await.unwrap();
        let mut b = source.acquire().await.unwrap();
        exec(&mut a, "CREATE TABLE t (x)").await;
        // Connection-local state tells the connections apart.
        exec(&mut b, "CREATE TEMP TABLE mark_b (x)").await;
        a.finish();
        b.finish();
        assert_eq!(set.idle_count(), 2);
        // b went back last, so it comes out first.
        let mut c = source.acquire().await.unwrap();
        let marked: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM temp.sqlite_master WHERE name = 'mark_b'")
                .fetch_one(&mut *c)
                .await
                .unwrap();
        assert_eq!(marked, 1);
        c.finish();
    }

    #[tokio::test]
    async fn an_unfinished_connection_is_closed_not_reused() {
        let dir = Dir::new();
        let (set, source) = connections(&dir, 1, Duration::from_secs(5));
        let mut a = source.acquire().await.unwrap();
        exec(&mut a, "CREATE TABLE t (x)").await;
        a.finish();
        // Dropped inside a transaction, as a cancelled append would be.
        let mut b = source.acquire().await.unwrap();
        exec(&mut b, "BEGIN IMMEDIATE").await;
        exec(&mut b, "INSERT INTO t VALUES (1)").await;
        drop(b);
        assert_eq!(set.idle_count(), 0, "not returned");
        // The next operation gets a fresh connection: not inside that transaction, the
        // write lock free, the half-done insert rolled back.
        let mut c = source.acquire().await.unwrap();
        let mut tx = c.begin().await.unwrap();
        exec(&mut tx, "INSERT INTO t VALUES (2)").await;
        tx.commit().await.unwrap();
        let rows: Vec<i64> = sqlx::query_scalar("SELECT x FROM t")
            .fetch_all(&mut *c)
            .await
            .unwrap();
        assert_eq!(rows, vec![2]);
        c.finish();
    }

    // Paused time: the runtime jumps the clock to the deadline once every task waits.
    #[tokio::test(start_paused = true)]
    async fn waiting_longer_than_the_timeout_is_a_pool_timeout() {
        let dir = Dir::new();
        let (_, source) = connections(&dir, 1, Duration::from_millis(50));
        let held = source.acquire().await.unwrap();
        let err = source.acquire().await.err().expect("no connection free");
        assert!(matches!(err, sqlx::Error::PoolTimedOut), "{err}");
        held.finish();
        source.acquire().await.unwrap().finish();
    }
}
