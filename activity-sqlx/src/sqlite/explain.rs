//! The query plans SQLite chooses for the store's statements; tests use them to check
//! that every hot query is served by an index.

use activity_core::{query::DeleteRequest, ActivityQuery};
use sqlx::{AssertSqlSafe, Row};

use super::SqliteStore;
use crate::backend::{bind_all, Backend, Finish};
use crate::error::Error;
use crate::sql::{self, Dialect, Stmt};

impl SqliteStore {
    /// The query plan SQLite chooses for `query` (one line per plan step); tests use it
    /// to check that every hot query is served by an index.
    ///
    /// ```
    /// use activity_core::ActivityQuery;
    /// use activity_sqlx::SqliteStore;
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
    /// store.migrate().await.unwrap();
    /// let plan = store.explain(&ActivityQuery::own(None, "u_1")).await.unwrap().join("\n");
    /// assert!(plan.contains("activity_events_actor_time"), "{plan}");
    /// # });
    /// ```
    ///
    /// # Errors
    /// The database's errors.
    pub async fn explain(&self, query: &ActivityQuery) -> Result<Vec<String>, Error> {
        self.explain_stmt(sql::select(Dialect::Sqlite, &self.tables.events, query))
            .await
    }

    /// The plan of the count of `query`.
    ///
    /// ```
    /// use activity_core::ActivityQuery;
    /// use activity_sqlx::SqliteStore;
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
    /// store.migrate().await.unwrap();
    /// let plan = store.explain_count(&ActivityQuery::new().tenant("acme")).await.unwrap();
    /// assert!(plan.join("\n").contains("tenant_time"), "{plan:?}");
    /// # });
    /// ```
    ///
    /// # Errors
    /// The database's errors.
    pub async fn explain_count(&self, query: &ActivityQuery) -> Result<Vec<String>, Error> {
        self.explain_stmt(sql::count(Dialect::Sqlite, &self.tables.events, query))
            .await
    }

    /// The plan of the retention delete's selection.
    ///
    /// ```
    /// use activity_core::query::DeleteRequest;
    /// use activity_sqlx::SqliteStore;
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
    /// store.migrate().await.unwrap();
    /// let request = DeleteRequest::new(Some("acme"), chrono::Utc::now(), 1000);
    /// let plan = store.explain_delete(&request).await.unwrap();
    /// assert!(plan.join("\n").contains("tenant_time"), "{plan:?}");
    /// # });
    /// ```
    ///
    /// # Errors
    /// The database's errors.
    pub async fn explain_delete(&self, request: &DeleteRequest) -> Result<Vec<String>, Error> {
        self.explain_stmt(sql::doomed_ids(
            Dialect::Sqlite,
            &self.tables.events,
            request,
        ))
        .await
    }

    async fn explain_stmt(&self, s: Stmt) -> Result<Vec<String>, Error> {
        let sql = format!("EXPLAIN QUERY PLAN {}", s.sql);
        let mut conn = self.lease().await?;
        let rows = bind_all::<sqlx::Sqlite>(sqlx::query(AssertSqlSafe(sql)), s.binds)
            .fetch_all(&mut *conn)
            .await;
        conn.finish();
        let rows = rows?;
        Ok(rows.iter().map(|r| r.get::<String, _>("detail")).collect())
    }
}
