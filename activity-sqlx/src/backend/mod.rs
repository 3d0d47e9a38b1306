//! What the three stores share: the [`ActivityStore`] bodies, written once over a
//! private [`Backend`] trait whose methods are the per-backend hooks.
//!
//! A store implements [`Backend`] (its connections, its dialect, how it inserts a chunk,
//! and the hooks it overrides: creating partitions before an append, dropping them,
//! reading pages its own way); its `impl ActivityStore` is
//! [`forward_activity_store!`], one line per method into the generic functions of
//! `store.rs`. sqlx's generic bounds are stated once, on the blanket impl of [`Db`]
//! (`db.rs`).
//!
//! [`ActivityStore`]: activity_core::ActivityStore

mod db;
mod policies;
mod store;

use std::future::Future;
use std::ops::DerefMut;

use activity_core::sinks::LoggedEvent;
use activity_core::{store::DroppedPartitions, ActivityEvent, ActivityQuery, Page};
use chrono::{DateTime, Utc};
use sqlx::{Database, Transaction};

pub(crate) use db::{bind_all, Db};
pub(crate) use policies::PolicyTables;
pub(crate) use store::{
    append_sealed, append_sealed_strict, chain_heads, count, delete, fetch_all,
    forward_activity_store, log_lag, logged_from_row, query, read_log, remove_sink_state,
    save_sink_state, sink_states, tenants,
};

use crate::error::to_core_from;
use crate::schema::Tables;
use crate::sql::{self, Dialect, Stmt};

/// A connection lent for one store operation: [`finish`](Self::finish) says the operation
/// ran to its end (successfully or with an error the database reported), so the
/// connection may serve the next one.
pub(crate) trait Finish {
    /// Done with the connection.
    fn finish(self);
}

impl<DB: sqlx::Database> Finish for sqlx::pool::PoolConnection<DB> {
    /// sqlx's pool takes it back (and checks it) when dropped.
    fn finish(self) {}
}

/// One store's backend: its connections and dialect, and the hooks where it differs.
/// The defaults are what a backend without partitions or a read path of its own does.
pub(crate) trait Backend: Send + Sync + Sized {
    /// The sqlx database.
    type Db: Db;
    /// A connection lent for one operation.
    type Conn: DerefMut<Target = <Self::Db as Database>::Connection> + Finish + Send;
    /// How the backend writes SQL, and whose error codes it reports.
    const DIALECT: Dialect;
    /// Events per [`insert_chunk`](Self::insert_chunk).
    const ROWS_PER_INSERT: usize = sql::ROWS_PER_INSERT;

    /// The table names.
    fn tables(&self) -> &Tables;

    /// A connection for one store operation.
    fn lease(&self) -> impl Future<Output = Result<Self::Conn, sqlx::Error>> + Send;

    /// Writes a chunk of at most [`ROWS_PER_INSERT`](Self::ROWS_PER_INSERT) events inside
    /// the append's transaction, skipping ids already stored; the rows added. Default: one
    /// multi-row `INSERT … VALUES`.
    /// `first_seq` is the commit-order number of the chunk's first event (from
    /// [`reserve_log`](Self::reserve_log)).
    fn insert_chunk(
        &self,
        tx: &mut Transaction<'_, Self::Db>,
        chunk: &[ActivityEvent],
        first_seq: Option<i64>,
    ) -> impl Future<Output = Result<u64, sqlx::Error>> + Send {
        let s = sql::insert(Self::DIALECT, &self.tables().events, chunk, first_seq);
        Self::Db::execute(&mut **tx, s)
    }

    /// Takes `n` commit-order numbers inside the append's transaction, the first of them
    /// returned. Default (SQLite, MySQL): from the counter row, which stays locked until
    /// the transaction ends, so that numbers are given out in commit order.
    fn reserve_log(
        &self,
        tx: &mut Transaction<'_, Self::Db>,
        n: usize,
    ) -> impl Future<Output = Result<Option<i64>, sqlx::Error>> + Send {
        async move {
            let s = sql::reserve(Self::DIALECT, &self.tables().log, n);
            let last = if Self::DIALECT == Dialect::Mysql {
                Self::Db::execute(&mut **tx, s).await?;
                let row = Self::Db::fetch_one(&mut **tx, sql::last_insert_id()).await?;
                Self::Db::int(&row, 0)?
            } else {
                let row = Self::Db::fetch_one(&mut **tx, s).await?;
                Self::Db::int(&row, 0)?
            };
            Ok(Some(last - n as i64 + 1))
        }
    }

    /// Runs before an append's transaction (PostgreSQL creates the months' partitions).
    /// Default: nothing.
    fn prepare_append(
        &self,
        events: &[ActivityEvent],
    ) -> impl Future<Output = activity_core::Result<()>> + Send {
        let _ = events;
        async { Ok(()) }
    }

    /// Runs after an append's transaction committed; an error makes the append an error
    /// (SQLite: the commit went into a file deleted meanwhile). Default: nothing.
    fn after_append(&self) -> activity_core::Result<()> {
        Ok(())
    }

    /// [`ActivityStore::drop_expired_partitions`](activity_core::ActivityStore::drop_expired_partitions). Default: no partitions, expired rows
    /// are deleted.
    fn drop_partitions(
        &self,
        before: DateTime<Utc>,
    ) -> impl Future<Output = activity_core::Result<DroppedPartitions>> + Send {
        let _ = before;
        async { Ok(DroppedPartitions::default()) }
    }

    /// The events of `query`, whose SELECT is `s` (at most `expected` rows). Default:
    /// the rows decoded one by one.
    fn fetch_page(
        &self,
        query: &ActivityQuery,
        s: Stmt,
        expected: usize,
    ) -> impl Future<Output = activity_core::Result<Vec<ActivityEvent>>> + Send {
        let _ = (query, expected);
        async move {
            let rows = fetch_all(self, s).await.map_err(err::<Self>)?;
            rows.iter()
                .map(|r| Self::Db::event(r, Self::DIALECT))
                .collect()
        }
    }

    /// The logged events of `s` (a `sql::read_log`, at most `expected` rows). Default:
    /// the rows decoded one by one.
    fn fetch_log(
        &self,
        s: Stmt,
        expected: usize,
    ) -> impl Future<Output = activity_core::Result<Vec<LoggedEvent>>> + Send {
        let _ = expected;
        async move {
            let rows = fetch_all(self, s).await.map_err(err::<Self>)?;
            rows.iter().map(store::logged_from_row::<Self>).collect()
        }
    }

    /// [`ActivityStore::query_many`](activity_core::ActivityStore::query_many). Default: one query after another.
    fn query_many(
        &self,
        queries: &[ActivityQuery],
    ) -> impl Future<Output = activity_core::Result<Vec<Page>>> + Send {
        async move {
            let mut pages = Vec::with_capacity(queries.len());
            for q in queries {
                pages.push(query(self, q).await?);
            }
            Ok(pages)
        }
    }
}

/// A sqlx error of `B`'s backend as the core's.
pub(crate) fn err<B: Backend>(e: sqlx::Error) -> activity_core::Error {
    to_core_from(B::DIALECT, e)
}
