//! The MySQL / MariaDB schema upgrade, under a named lock (`GET_LOCK`).

use sqlx::mysql::MySql;
use sqlx::Row;

use super::MySqlStore;
use crate::error::Error;
use crate::migrate::{migrate_locked, Steps};
use crate::schema::{Tables, MYSQL};
use crate::sql::{Dialect, Stmt, Val};

impl MySqlStore {
    /// Creates or upgrades the schema; safe on every start and from several instances at
    /// once (a named lock serialises them).
    ///
    /// ```no_run
    /// # async fn f() -> Result<(), activity_sqlx::Error> {
    /// let store = activity_sqlx::MySqlStore::connect("mysql://app@db/app").await?;
    /// store.migrate().await?;
    /// store.migrate().await?; // a second run finds nothing to do
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::ForeignTable`], [`Error::SchemaTooNew`] (nothing changed); [`Error::Sqlx`].
    pub async fn migrate(&self) -> Result<(), Error> {
        let mut conn = self.pool.acquire().await?;
        let lock = format!("activity-migrate:{}", self.tables.events);
        let got: Option<i64> = sqlx::query("SELECT GET_LOCK(?, 60)")
            .bind(&lock)
            .fetch_one(&mut *conn)
            .await?
            .get(0);
        if got != Some(1) {
            return Err(Error::Core(activity_core::Error::timeout(
                "could not take the migration lock within 60 s",
                None,
            )));
        }
        let result = self.migrate_under_lock(&mut conn).await;
        sqlx::query("SELECT RELEASE_LOCK(?)")
            .bind(&lock)
            .execute(&mut *conn)
            .await?;
        result
    }

    /// The shared migration with the server's collation, under the lock.
    async fn migrate_under_lock(&self, conn: &mut sqlx::MySqlConnection) -> Result<(), Error> {
        let version: String = sqlx::query("SELECT VERSION()")
            .fetch_one(&mut *conn)
            .await?
            .get(0);
        let collate = if version.contains("MariaDB") {
            "utf8mb4_nopad_bin"
        } else {
            "utf8mb4_0900_bin"
        };
        let steps = MySqlSteps {
            tables: &self.tables,
            collate,
        };
        migrate_locked(&steps, &self.tables, conn).await
    }
}

/// MySQL's statements for the shared migration.
struct MySqlSteps<'a> {
    tables: &'a Tables,
    /// The binary no-pad collation of the server: MariaDB's or MySQL 8's.
    collate: &'static str,
}

impl Steps for MySqlSteps<'_> {
    type Db = MySql;

    fn table_exists(&self, name: &str) -> Stmt {
        let mut s = Stmt::new(Dialect::Mysql);
        s.push(
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ",
        )
        .bind(Val::Text(Some(name.to_owned())));
        s
    }

    fn current_version(&self) -> Stmt {
        let mut s = Stmt::new(Dialect::Mysql);
        s.push("SELECT CAST(COALESCE(MAX(version), 0) AS SIGNED) FROM ")
            .push(&self.tables.schema);
        s
    }

    fn create_schema_table(&self) -> Stmt {
        let mut s = Stmt::new(Dialect::Mysql);
        s.push("CREATE TABLE ").push(&self.tables.schema).push(
            " (version BIGINT NOT NULL PRIMARY KEY, applied_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP) ENGINE=InnoDB",
        );
        s
    }

    /// MySQL commits DDL implicitly, so each version is recorded right after it runs.
    fn ddl(&self, version: i64) -> String {
        self.tables
            .render(MYSQL[(version - 1) as usize])
            .replace("{collate}", self.collate)
    }

    fn record_version(&self, version: i64) -> Stmt {
        let mut s = Stmt::new(Dialect::Mysql);
        s.push("INSERT INTO ")
            .push(&self.tables.schema)
            .push(" (version) VALUES (")
            .bind(Val::Int(Some(version)))
            .push(")");
        s
    }
}
