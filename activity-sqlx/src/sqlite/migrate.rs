//! The SQLite schema upgrade, under SQLite's write lock (`BEGIN IMMEDIATE`).

use sqlx::Sqlite;

use super::SqliteStore;
use crate::backend::{Backend, Finish};
use crate::error::Error;
use crate::migrate::{migrate_locked, Steps};
use crate::schema::{Tables, SQLITE};
use crate::sql::{Dialect, Stmt, Val};

impl SqliteStore {
    /// Creates or upgrades the schema. Safe on every start and from several processes at
    /// once (the upgrade runs under SQLite's write lock).
    ///
    /// ```
    /// use activity_sqlx::SqliteStore;
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
    /// store.migrate().await.unwrap();
    /// store.migrate().await.unwrap(); // a second run finds nothing to do
    /// # });
    /// ```
    ///
    /// # Errors
    /// [`Error::ForeignTable`] when a table of the same name exists that the SDK did not
    /// create; [`Error::SchemaTooNew`] when the database is ahead of this code; in both
    /// cases nothing is changed.
    pub async fn migrate(&self) -> Result<(), Error> {
        let mut conn = self.lease().await?;
        sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
        let result = migrate_locked(&SqliteSteps(&self.tables), &self.tables, &mut *conn).await;
        let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
        sqlx::query(end).execute(&mut *conn).await?;
        conn.finish();
        result
    }
}

/// SQLite's statements for the shared migration.
struct SqliteSteps<'a>(&'a Tables);

impl Steps for SqliteSteps<'_> {
    type Db = Sqlite;

    fn table_exists(&self, name: &str) -> Stmt {
        let mut s = Stmt::new(Dialect::Sqlite);
        s.push("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ")
            .bind(Val::Text(Some(name.to_owned())));
        s
    }

    fn current_version(&self) -> Stmt {
        let mut s = Stmt::new(Dialect::Sqlite);
        s.push("SELECT COALESCE(MAX(version), 0) FROM ")
            .push(&self.0.schema);
        s
    }

    fn create_schema_table(&self) -> Stmt {
        let mut s = Stmt::new(Dialect::Sqlite);
        s.push("CREATE TABLE ")
            .push(&self.0.schema)
            .push(" (version INTEGER NOT NULL PRIMARY KEY, applied_at TEXT NOT NULL)");
        s
    }

    fn ddl(&self, version: i64) -> String {
        self.0.render(SQLITE[(version - 1) as usize])
    }

    fn record_version(&self, version: i64) -> Stmt {
        let mut s = Stmt::new(Dialect::Sqlite);
        s.push("INSERT INTO ")
            .push(&self.0.schema)
            .push(" (version, applied_at) VALUES (")
            .bind(Val::Int(Some(version)))
            .push(", ")
            .bind(Val::Text(Some(chrono::Utc::now().to_rfc3339())))
            .push(")");
        s
    }
}
