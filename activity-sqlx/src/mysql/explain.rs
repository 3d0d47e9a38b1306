//! The query plans MySQL chooses for the store's statements.

use activity_core::{query::DeleteRequest, ActivityQuery};
use sqlx::{AssertSqlSafe, Row};

use super::MySqlStore;
use crate::backend::bind_all;
use crate::error::Error;
use crate::sql::{self, Dialect, Stmt};

impl MySqlStore {
    /// The plan MySQL chooses for `query`: one line per table access, `key=<index>` for
    /// the index it reads or `full scan` for none.
    ///
    /// ```no_run
    /// use activity_core::ActivityQuery;
    /// # async fn f() -> Result<(), activity_sqlx::Error> {
    /// let store = activity_sqlx::MySqlStore::connect("mysql://app@db/app").await?;
    /// let plan = store.explain(&ActivityQuery::own(None, "u_1")).await?;
    /// assert!(plan.iter().all(|l| l.starts_with("key=")), "{plan:?}");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// The database's errors.
    pub async fn explain(&self, query: &ActivityQuery) -> Result<Vec<String>, Error> {
        self.explain_stmt(sql::select(Dialect::Mysql, &self.tables.events, query))
            .await
    }

    /// The plan of the count of `query`, as [`explain`](Self::explain) writes it.
    ///
    /// ```no_run
    /// use activity_core::ActivityQuery;
    /// # async fn f() -> Result<(), activity_sqlx::Error> {
    /// let store = activity_sqlx::MySqlStore::connect("mysql://app@db/app").await?;
    /// let plan = store.explain_count(&ActivityQuery::new().tenant("acme")).await?;
    /// assert!(plan.iter().all(|l| l.starts_with("key=")), "{plan:?}");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// The database's errors.
    pub async fn explain_count(&self, query: &ActivityQuery) -> Result<Vec<String>, Error> {
        self.explain_stmt(sql::count(Dialect::Mysql, &self.tables.events, query))
            .await
    }

    /// The plan of the retention delete's selection, as [`explain`](Self::explain) writes
    /// it.
    ///
    /// ```no_run
    /// use activity_core::query::DeleteRequest;
    /// # async fn f() -> Result<(), activity_sqlx::Error> {
    /// let store = activity_sqlx::MySqlStore::connect("mysql://app@db/app").await?;
    /// let request = DeleteRequest::new(Some("acme"), chrono::Utc::now(), 1000);
    /// let plan = store.explain_delete(&request).await?;
    /// assert!(plan.iter().all(|l| l.contains("tenant")), "{plan:?}");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// The database's errors.
    pub async fn explain_delete(&self, request: &DeleteRequest) -> Result<Vec<String>, Error> {
        self.explain_stmt(sql::doomed_ids(
            Dialect::Mysql,
            &self.tables.events,
            request,
        ))
        .await
    }

    async fn explain_stmt(&self, s: Stmt) -> Result<Vec<String>, Error> {
        let rows = bind_all::<sqlx::MySql>(
            sqlx::query(AssertSqlSafe(format!("EXPLAIN {}", s.sql))),
            s.binds,
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(
                |r| match r.try_get::<Option<String>, _>("key").ok().flatten() {
                    Some(key) => format!("key={key}"),
                    None => "full scan".to_owned(),
                },
            )
            .collect())
    }
}
