//! The query plans PostgreSQL chooses for the store's statements.

use activity_core::{query::DeleteRequest, ActivityQuery};
use sqlx::{AssertSqlSafe, Row};

use super::PgStore;
use crate::backend::bind_all;
use crate::error::Error;
use crate::sql::{self, Dialect, Stmt};

impl PgStore {
    /// The plan PostgreSQL chooses for `query` (EXPLAIN lines).
    ///
    /// ```no_run
    /// use activity_core::ActivityQuery;
    /// # async fn f() -> Result<(), activity_sqlx::Error> {
    /// let store = activity_sqlx::PgStore::connect("postgres://app@db/app").await?;
    /// let plan = store.explain(&ActivityQuery::own(None, "u_1")).await?.join("\n");
    /// assert!(plan.contains("Index"), "{plan}");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// The database's errors.
    pub async fn explain(&self, query: &ActivityQuery) -> Result<Vec<String>, Error> {
        self.explain_stmt(sql::select(Dialect::Postgres, &self.tables.events, query))
            .await
    }

    /// The plan of the count of `query`.
    ///
    /// ```no_run
    /// use activity_core::ActivityQuery;
    /// # async fn f() -> Result<(), activity_sqlx::Error> {
    /// let store = activity_sqlx::PgStore::connect("postgres://app@db/app").await?;
    /// let plan = store.explain_count(&ActivityQuery::new().tenant("acme")).await?.join("\n");
    /// assert!(plan.contains("Index"), "{plan}");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// The database's errors.
    pub async fn explain_count(&self, query: &ActivityQuery) -> Result<Vec<String>, Error> {
        self.explain_stmt(sql::count(Dialect::Postgres, &self.tables.events, query))
            .await
    }

    /// The plan of the retention delete's selection.
    ///
    /// ```no_run
    /// use activity_core::query::DeleteRequest;
    /// # async fn f() -> Result<(), activity_sqlx::Error> {
    /// let store = activity_sqlx::PgStore::connect("postgres://app@db/app").await?;
    /// let request = DeleteRequest::new(Some("acme"), chrono::Utc::now(), 1000);
    /// let plan = store.explain_delete(&request).await?.join("\n");
    /// assert!(plan.contains("tenant_time"), "{plan}");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// The database's errors.
    pub async fn explain_delete(&self, request: &DeleteRequest) -> Result<Vec<String>, Error> {
        self.explain_stmt(sql::doomed_ids(
            Dialect::Postgres,
            &self.tables.events,
            request,
        ))
        .await
    }

    async fn explain_stmt(&self, s: Stmt) -> Result<Vec<String>, Error> {
        let mut tx = self.pool.begin().await?;
        // Tiny test tables would otherwise be read sequentially whatever the indexes.
        sqlx::query("SET LOCAL enable_seqscan = off")
            .execute(&mut *tx)
            .await?;
        let rows = bind_all::<sqlx::Postgres>(
            sqlx::query(AssertSqlSafe(format!("EXPLAIN {}", s.sql))),
            s.binds,
        )
        .fetch_all(&mut *tx)
        .await?;
        tx.rollback().await?;
        Ok(rows.iter().map(|r| r.get::<String, _>(0)).collect())
    }
}
