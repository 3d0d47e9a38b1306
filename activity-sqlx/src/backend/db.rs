//! What the shared bodies need of a sqlx database ([`Db`]), with sqlx's generic bounds
//! stated once, on its blanket impl; and the one `bind_all`.

use std::future::Future;

use activity_core::{chain::ChainHead, ActivityEvent};
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, Row, Type};

use crate::sql::{self, Dialect, Stmt, Val};

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
