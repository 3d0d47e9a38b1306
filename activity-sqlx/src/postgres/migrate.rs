//! The PostgreSQL schema upgrade: one transaction under an advisory lock, then the
//! partitions of this month and the next ones.

use chrono::{Datelike, Utc};
use sqlx::{AssertSqlSafe, Row};

use super::partitions::{next_month, PARTITIONS_AHEAD};
use super::PgStore;
use crate::error::Error;
use crate::schema::{POSTGRES, SCHEMA_VERSION};

impl PgStore {
    /// Creates or upgrades the schema, then the partitions for this month and the
    /// next [`PARTITIONS_AHEAD`]. Safe on every start and from several instances at
    /// once (an advisory lock serialises them).
    ///
    /// ```no_run
    /// # async fn f() -> Result<(), activity_sqlx::Error> {
    /// let store = activity_sqlx::PgStore::connect("postgres://app@db/app").await?;
    /// store.migrate().await?; // the schema, and this month's partition and the next three
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::ForeignTable`], [`Error::SchemaTooNew`] (nothing changed); [`Error::Sqlx`].
    pub async fn migrate(&self) -> Result<(), Error> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
            .bind(format!("activity-migrate:{}", self.tables.events))
            .execute(&mut *tx)
            .await?;
        let exists = |name: String| sqlx::query("SELECT to_regclass($1) IS NOT NULL").bind(name);
        let events: bool = exists(self.tables.events.clone())
            .fetch_one(&mut *tx)
            .await?
            .get(0);
        let schema: bool = exists(self.tables.schema.clone())
            .fetch_one(&mut *tx)
            .await?
            .get(0);
        let current: i64 = if schema {
            let q = format!(
                "SELECT COALESCE(MAX(version), 0)::BIGINT FROM {}",
                self.tables.schema
            );
            sqlx::query(AssertSqlSafe(q))
                .fetch_one(&mut *tx)
                .await?
                .get(0)
        } else {
            0
        };
        self.tables.check_found(current, events)?;
        if !schema {
            let q = format!(
                "CREATE TABLE {} (version BIGINT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
                self.tables.schema
            );
            sqlx::query(AssertSqlSafe(q)).execute(&mut *tx).await?;
        }
        for version in (current + 1)..=SCHEMA_VERSION {
            let ddl = self.tables.render(POSTGRES[(version - 1) as usize]);
            sqlx::raw_sql(AssertSqlSafe(ddl)).execute(&mut *tx).await?;
            let q = format!("INSERT INTO {} (version) VALUES ($1)", self.tables.schema);
            sqlx::query(AssertSqlSafe(q))
                .bind(version)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        let now = Utc::now();
        let (mut y, mut m) = (now.year(), now.month());
        for _ in 0..=PARTITIONS_AHEAD {
            self.ensure_partition(y, m).await?;
            (y, m) = next_month(y, m);
        }
        Ok(())
    }
}
