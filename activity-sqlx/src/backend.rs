//! What the three stores share: the [`ActivityStore`] bodies, written once over a
//! private [`Backend`] trait whose methods are the per-backend hooks.
//!
//! A store implements [`Backend`] (its connections, its dialect, how it inserts a chunk,
//! and the hooks it overrides: creating partitions before an append, dropping them,
//! reading pages its own way); its `impl ActivityStore` is
//! [`forward_activity_store!`], one line per method into the generic functions here.
//! sqlx's generic bounds are stated once, on the blanket impl of [`Db`].

use std::future::Future;
use std::ops::DerefMut;

use activity_core::{
    ActivityEvent, ActivityQuery, ChainHead, DeleteRequest, DroppedPartitions, Page,
};
use chrono::{DateTime, Utc};
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, Row, Transaction, Type};

use crate::error::to_core_from;
use crate::schema::Tables;
use crate::sql::{self, Dialect, Stmt, Val};

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

/// `rows_affected` of a database's query result (sqlx has no trait for it).
pub(crate) trait RowsAffected {
    /// Rows the statement changed.
    fn rows(&self) -> u64;
}

#[cfg(feature = "sqlite")]
impl RowsAffected for sqlx::sqlite::SqliteQueryResult {
    fn rows(&self) -> u64 {
        self.rows_affected()
    }
}

#[cfg(feature = "postgres")]
impl RowsAffected for sqlx::postgres::PgQueryResult {
    fn rows(&self) -> u64 {
        self.rows_affected()
    }
}

#[cfg(feature = "mysql")]
impl RowsAffected for sqlx::mysql::MySqlQueryResult {
    fn rows(&self) -> u64 {
        self.rows_affected()
    }
}

/// What the shared bodies do with a sqlx database: run a [`Stmt`] with its binds, run raw
/// DDL, decode the columns they read. Implemented once, for every database sqlx gives
/// the bounds below.
pub(crate) trait Db: Database {
    /// Runs `s`; the rows it changed.
    fn execute(
        conn: &mut Self::Connection,
        s: Stmt,
    ) -> impl Future<Output = Result<u64, sqlx::Error>> + Send;
    /// The rows of `s`.
    fn fetch_all(
        conn: &mut Self::Connection,
        s: Stmt,
    ) -> impl Future<Output = Result<Vec<Self::Row>, sqlx::Error>> + Send;
    /// The one row of `s`.
    fn fetch_one(
        conn: &mut Self::Connection,
        s: Stmt,
    ) -> impl Future<Output = Result<Self::Row, sqlx::Error>> + Send;
    /// Runs SQL text of several statements without binds (a migration).
    #[cfg_attr(not(any(feature = "sqlite", feature = "mysql")), allow(dead_code))]
    fn execute_raw(
        conn: &mut Self::Connection,
        sql: String,
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send;
    /// Column `i` of `row` as an integer.
    fn int(row: &Self::Row, i: usize) -> Result<i64, sqlx::Error>;
    /// Column `i` of `row` as optional text.
    fn text(row: &Self::Row, i: usize) -> Result<Option<String>, sqlx::Error>;
    /// `row` (of [`sql::COLUMNS`]) as the event.
    fn event(row: &Self::Row, dialect: Dialect) -> activity_core::Result<ActivityEvent>;
    /// `row` (of [`sql::select_heads`]) as the head.
    fn head(row: &Self::Row, dialect: Dialect) -> activity_core::Result<ChainHead>;
}

/// Binds `binds` to `q` in order: the one `bind_all` of every backend.
pub(crate) fn bind_all<DB>(
    mut q: sqlx::query::Query<'_, DB, DB::Arguments>,
    binds: Vec<Val>,
) -> sqlx::query::Query<'_, DB, DB::Arguments>
where
    DB: Database,
    for<'q> Option<i64>: Encode<'q, DB> + Type<DB>,
    for<'q> Option<f64>: Encode<'q, DB> + Type<DB>,
    for<'q> Option<String>: Encode<'q, DB> + Type<DB>,
    for<'q> Vec<u8>: Encode<'q, DB> + Type<DB>,
{
    for v in binds {
        q = match v {
            Val::Int(x) => q.bind(x),
            Val::Real(x) => q.bind(x),
            Val::Text(x) => q.bind(x),
            Val::Bytes(x) => q.bind(x),
        };
    }
    q
}

/// The query of `s`, its binds bound.
pub(crate) fn bound<DB>(s: Stmt) -> sqlx::query::Query<'static, DB, DB::Arguments>
where
    DB: Database,
    for<'q> Option<i64>: Encode<'q, DB> + Type<DB>,
    for<'q> Option<f64>: Encode<'q, DB> + Type<DB>,
    for<'q> Option<String>: Encode<'q, DB> + Type<DB>,
    for<'q> Vec<u8>: Encode<'q, DB> + Type<DB>,
{
    bind_all(sqlx::query(sqlx::AssertSqlSafe(s.sql)), s.binds)
}

impl<DB> Db for DB
where
    DB: Database,
    DB::QueryResult: RowsAffected,
    DB::Arguments: sqlx::IntoArguments<DB> + Send,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> Option<i64>: Encode<'q, DB> + Type<DB>,
    for<'q> Option<f64>: Encode<'q, DB> + Type<DB>,
    for<'q> Option<String>: Encode<'q, DB> + Type<DB>,
    for<'q> Vec<u8>: Encode<'q, DB> + Type<DB>,
    usize: ColumnIndex<DB::Row>,
    for<'r> Vec<u8>: Decode<'r, DB> + Type<DB>,
    for<'r> i64: Decode<'r, DB> + Type<DB>,
    for<'r> String: Decode<'r, DB> + Type<DB>,
    for<'r> Option<i64>: Decode<'r, DB> + Type<DB>,
    for<'r> Option<f64>: Decode<'r, DB> + Type<DB>,
    for<'r> Option<String>: Decode<'r, DB> + Type<DB>,
{
    async fn execute(conn: &mut DB::Connection, s: Stmt) -> Result<u64, sqlx::Error> {
        Ok(bound::<DB>(s).execute(conn).await?.rows())
    }

    async fn fetch_all(conn: &mut DB::Connection, s: Stmt) -> Result<Vec<DB::Row>, sqlx::Error> {
        bound::<DB>(s).fetch_all(conn).await
    }

    async fn fetch_one(conn: &mut DB::Connection, s: Stmt) -> Result<DB::Row, sqlx::Error> {
        bound::<DB>(s).fetch_one(conn).await
    }

    async fn execute_raw(conn: &mut DB::Connection, sql: String) -> Result<(), sqlx::Error> {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(conn)
            .await?;
        Ok(())
    }

    fn int(row: &DB::Row, i: usize) -> Result<i64, sqlx::Error> {
        row.try_get(i)
    }

    fn text(row: &DB::Row, i: usize) -> Result<Option<String>, sqlx::Error> {
        row.try_get(i)
    }

    fn event(row: &DB::Row, dialect: Dialect) -> activity_core::Result<ActivityEvent> {
        sql::decode_row(row, dialect)
    }

    fn head(row: &DB::Row, dialect: Dialect) -> activity_core::Result<ChainHead> {
        sql::decode_head(row, dialect)
    }
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
    fn insert_chunk(
        &self,
        tx: &mut Transaction<'_, Self::Db>,
        chunk: &[ActivityEvent],
    ) -> impl Future<Output = Result<u64, sqlx::Error>> + Send {
        let s = sql::insert(Self::DIALECT, &self.tables().events, chunk);
        Self::Db::execute(&mut **tx, s)
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

    /// [`ActivityStore::drop_expired_partitions`]. Default: no partitions, expired rows
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

    /// [`ActivityStore::query_many`]. Default: one query after another.
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

/// The rows of `s`, on a leased connection.
pub(crate) async fn fetch_all<B: Backend>(
    b: &B,
    s: Stmt,
) -> Result<Vec<<B::Db as Database>::Row>, sqlx::Error> {
    let mut conn = b.lease().await?;
    let rows = B::Db::fetch_all(&mut *conn, s).await;
    conn.finish();
    rows
}

/// The one row of `s`, on a leased connection.
async fn fetch_one<B: Backend>(b: &B, s: Stmt) -> Result<<B::Db as Database>::Row, sqlx::Error> {
    let mut conn = b.lease().await?;
    let row = B::Db::fetch_one(&mut *conn, s).await;
    conn.finish();
    row
}

/// Runs `s` on a leased connection; the rows it changed.
async fn execute<B: Backend>(b: &B, s: Stmt) -> Result<u64, sqlx::Error> {
    let mut conn = b.lease().await?;
    let done = B::Db::execute(&mut *conn, s).await;
    conn.finish();
    done
}

/// [`ActivityStore::query`]: one page.
pub(crate) async fn query<B: Backend>(b: &B, q: &ActivityQuery) -> activity_core::Result<Page> {
    q.validate()?;
    let s = sql::select(B::DIALECT, &b.tables().events, q);
    let events = b.fetch_page(q, s, q.page_size() + 1).await?;
    Ok(Page::from_overfetch(events, q.page_size()))
}

/// [`ActivityStore::count`].
pub(crate) async fn count<B: Backend>(b: &B, q: &ActivityQuery) -> activity_core::Result<u64> {
    q.validate()?;
    let s = sql::count(B::DIALECT, &b.tables().events, q);
    let row = fetch_one(b, s).await.map_err(err::<B>)?;
    let n = B::Db::int(&row, 0).map_err(err::<B>)?;
    Ok(n as u64)
}

/// [`ActivityStore::delete`].
pub(crate) async fn delete<B: Backend>(b: &B, r: &DeleteRequest) -> activity_core::Result<u64> {
    if r.limit == 0 {
        return Ok(0);
    }
    let s = sql::delete(B::DIALECT, &b.tables().events, r);
    execute(b, s).await.map_err(err::<B>)
}

/// [`ActivityStore::append_sealed`]: the batch and its heads in one transaction.
pub(crate) async fn append_sealed<B: Backend>(
    b: &B,
    events: &[ActivityEvent],
    heads: &[ChainHead],
) -> activity_core::Result<u64> {
    for e in events {
        e.validate()?;
    }
    for h in heads {
        h.validate()?;
    }
    if events.is_empty() && heads.is_empty() {
        return Ok(0);
    }
    b.prepare_append(events).await?;
    let mut conn = b.lease().await.map_err(err::<B>)?;
    let added = write_sealed(b, &mut *conn, events, heads).await;
    // Finished either way: a failed statement or commit leaves the transaction rolled
    // back (the `Transaction` guard's rollback runs before any later command on the
    // connection).
    conn.finish();
    added.map_err(err::<B>)
}

/// The batch and the heads in one transaction on `conn`.
async fn write_sealed<B: Backend>(
    b: &B,
    conn: &mut <B::Db as Database>::Connection,
    events: &[ActivityEvent],
    heads: &[ChainHead],
) -> Result<u64, sqlx::Error> {
    let mut tx = sqlx::Connection::begin(conn).await?;
    let mut added = 0;
    for chunk in events.chunks(B::ROWS_PER_INSERT) {
        added += b.insert_chunk(&mut tx, chunk).await?;
    }
    let heads = sql::dedup_heads(heads);
    for chunk in heads.chunks(sql::HEADS_PER_UPSERT) {
        let s = sql::upsert_heads(B::DIALECT, &b.tables().chain_heads, chunk);
        B::Db::execute(&mut *tx, s).await?;
    }
    tx.commit().await?;
    Ok(added)
}

/// [`ActivityStore::chain_heads`].
pub(crate) async fn chain_heads<B: Backend>(
    b: &B,
    tenant: Option<&str>,
) -> activity_core::Result<Vec<ChainHead>> {
    let s = sql::select_heads(B::DIALECT, &b.tables().chain_heads, tenant);
    let rows = fetch_all(b, s).await.map_err(err::<B>)?;
    rows.iter().map(|r| B::Db::head(r, B::DIALECT)).collect()
}

/// [`ActivityStore::tenants`].
pub(crate) async fn tenants<B: Backend>(b: &B) -> activity_core::Result<Vec<Option<String>>> {
    let mut s = Stmt::new(B::DIALECT);
    s.push("SELECT DISTINCT tenant FROM ")
        .push(&b.tables().events);
    let rows = fetch_all(b, s).await.map_err(err::<B>)?;
    rows.iter()
        .map(|r| B::Db::text(r, 0).map_err(err::<B>))
        .collect()
}

/// `impl ActivityStore for $store` by forwarding every method to this module's generic
/// functions (the store implements [`Backend`]).
macro_rules! forward_activity_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl activity_core::ActivityStore for $store {
            async fn append(
                &self,
                events: &[activity_core::ActivityEvent],
            ) -> activity_core::Result<u64> {
                crate::backend::append_sealed(self, events, &[]).await
            }

            async fn query(
                &self,
                query: &activity_core::ActivityQuery,
            ) -> activity_core::Result<activity_core::Page> {
                crate::backend::query(self, query).await
            }

            async fn query_many(
                &self,
                queries: &[activity_core::ActivityQuery],
            ) -> activity_core::Result<Vec<activity_core::Page>> {
                crate::backend::Backend::query_many(self, queries).await
            }

            async fn count(
                &self,
                query: &activity_core::ActivityQuery,
            ) -> activity_core::Result<u64> {
                crate::backend::count(self, query).await
            }

            async fn delete(
                &self,
                request: &activity_core::DeleteRequest,
            ) -> activity_core::Result<u64> {
                crate::backend::delete(self, request).await
            }

            async fn append_sealed(
                &self,
                events: &[activity_core::ActivityEvent],
                heads: &[activity_core::ChainHead],
            ) -> activity_core::Result<u64> {
                crate::backend::append_sealed(self, events, heads).await
            }

            async fn chain_heads(
                &self,
                tenant: Option<&str>,
            ) -> activity_core::Result<Vec<activity_core::ChainHead>> {
                crate::backend::chain_heads(self, tenant).await
            }

            async fn drop_expired_partitions(
                &self,
                before: chrono::DateTime<chrono::Utc>,
            ) -> activity_core::Result<activity_core::DroppedPartitions> {
                crate::backend::Backend::drop_partitions(self, before).await
            }

            async fn tenants(&self) -> activity_core::Result<Vec<Option<String>>> {
                crate::backend::tenants(self).await
            }
        }
    };
}

pub(crate) use forward_activity_store;
