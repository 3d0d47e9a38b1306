//! The migration skeleton SQLite and MySQL share: find what exists, refuse a foreign or
//! newer schema, then apply each missing version and record it. The backend supplies
//! its statements ([`Steps`]) and its lock (SQLite's write lock, MySQL's named lock);
//! PostgreSQL's migration runs in one transaction with its partitions after it and keeps
//! its own body.

use sqlx::Database;

use crate::backend::Db;
use crate::error::Error;
use crate::schema::{Tables, SCHEMA_VERSION};
use crate::sql::Stmt;

/// What differs between backends in [`migrate_locked`].
pub(crate) trait Steps {
    /// The database.
    type Db: Db;
    /// The count (0 or 1) of tables named `name`.
    fn table_exists(&self, name: &str) -> Stmt;
    /// The highest version recorded in the schema table, as an integer.
    fn current_version(&self) -> Stmt;
    /// The `CREATE TABLE` of the schema-version table.
    fn create_schema_table(&self) -> Stmt;
    /// The DDL of `version` (1-based), rendered for the tables.
    fn ddl(&self, version: i64) -> String;
    /// The insert that records `version` as applied.
    fn record_version(&self, version: i64) -> Stmt;
}

/// Creates or upgrades the schema of `tables` on `conn`, which holds the backend's
/// migration lock.
///
/// # Errors
/// [`Error::ForeignTable`] when a table of the same name exists that the SDK did not
/// create; [`Error::SchemaTooNew`] when the database is ahead of this code; in both cases
/// nothing is changed. [`Error::Sqlx`] otherwise.
pub(crate) async fn migrate_locked<S: Steps>(
    steps: &S,
    tables: &Tables,
    conn: &mut <S::Db as Database>::Connection,
) -> Result<(), Error> {
    let row = S::Db::fetch_one(conn, steps.table_exists(&tables.events)).await?;
    let events = S::Db::int(&row, 0)?;
    let row = S::Db::fetch_one(conn, steps.table_exists(&tables.schema)).await?;
    let schema = S::Db::int(&row, 0)?;
    let current = if schema == 1 {
        let row = S::Db::fetch_one(conn, steps.current_version()).await?;
        S::Db::int(&row, 0)?
    } else {
        0
    };
    tables.check_found(current, events == 1)?;
    if schema == 0 {
        S::Db::execute(conn, steps.create_schema_table()).await?;
    }
    for version in (current + 1)..=SCHEMA_VERSION {
        S::Db::execute_raw(conn, steps.ddl(version)).await?;
        S::Db::execute(conn, steps.record_version(version)).await?;
    }
    Ok(())
}
