//! The SQLite store's read path: a bulk page through the [`Reader`](super::reader::Reader)
//! and read ahead (see `readahead.rs`), other reads as JSON (see `json.rs`), several
//! queries' pages in one statement.

use activity_core::{ActivityEvent, ActivityQuery, Page};
use sqlx::{AssertSqlSafe, Row};

use super::json::{events_from_json, json_columns};
use super::readahead;
use super::SqliteStore;
use crate::backend::{bind_all, Backend, Finish};
use crate::error::to_core_from;
use crate::sql::{self, Dialect, Stmt};

/// How many queries [`SqliteStore::fetch_json_many`] puts in one statement: each is a
/// result column (SQLite allows 2,000) and binds a handful of parameters (32,766).
const QUERIES_PER_STATEMENT: usize = 64;

impl SqliteStore {
    /// The pages of `queries`, read as JSON with one statement per
    /// [`QUERIES_PER_STATEMENT`] of them (see [`fetch_json_many`](Self::fetch_json_many)).
    pub(super) async fn query_json_many(
        &self,
        queries: &[ActivityQuery],
    ) -> activity_core::Result<Vec<Page>> {
        let mut stmts = Vec::with_capacity(queries.len());
        for q in queries {
            q.validate()?;
            stmts.push((
                sql::select(Dialect::Sqlite, &self.tables.events, q),
                q.page_size() + 1,
            ));
        }
        let events = self.fetch_json_many(stmts).await?;
        Ok(events
            .into_iter()
            .zip(queries)
            .map(|(events, q)| Page::from_overfetch(events, q.page_size()))
            .collect())
    }

    /// The events of `query` (whose SELECT is `s`; `expected` rows at most): a bulk read's
    /// page may have been read already, and a full one starts the next (see
    /// `readahead.rs`).
    pub(super) async fn read_query_page(
        &self,
        query: &ActivityQuery,
        s: Stmt,
        expected: usize,
    ) -> activity_core::Result<Vec<ActivityEvent>> {
        let bulk = readahead::is_bulk(query);
        let events = match self.readahead.take(query) {
            Some(task) => match task.await {
                Ok(read) => read,
                // The task panicked or was cancelled with its runtime: read again.
                Err(_) => self.read_page(s, expected, bulk).await,
            },
            None => self.read_page(s, expected, bulk).await,
        }?;
        if let Some(next) = readahead::next_query(query, &events) {
            if tokio::runtime::Handle::try_current().is_ok() {
                let s = sql::select(Dialect::Sqlite, &self.tables.events, &next);
                let store = self.clone();
                let task = tokio::spawn(async move { store.read_page(s, expected, true).await });
                self.readahead.keep(&next, task);
            }
        }
        Ok(events)
    }

    /// The events of `s`, newest first: a `bulk` page through the [`Reader`](super::reader::Reader) when the
    /// store has one; otherwise as one JSON array built by SQLite on the store's own
    /// connections (one hand-over from the connection's thread instead of one per row,
    /// which is most of the cost of a short read through sqlx).
    async fn read_page(
        &self,
        s: Stmt,
        expected: usize,
        bulk: bool,
    ) -> activity_core::Result<Vec<ActivityEvent>> {
        if let (true, Some(reader)) = (bulk, &self.reader) {
            return reader.read(s, expected).await;
        }
        let text = self
            .fetch_text(s)
            .await
            .map_err(|e| to_core_from(Dialect::Sqlite, e))?;
        let mut events = events_from_json(&text, expected)?;
        // The aggregate's order follows the inner ORDER BY in practice; make it certain.
        events.sort_unstable_by_key(|e| std::cmp::Reverse((e.time, e.id)));
        Ok(events)
    }

    /// The JSON array of the rows of `s`.
    async fn fetch_text(&self, s: Stmt) -> Result<String, sqlx::Error> {
        let sql = format!(
            "SELECT json_group_array({}) FROM ({})",
            json_columns(),
            s.sql
        );
        let mut conn = self.lease().await?;
        let row = bind_all::<sqlx::Sqlite>(sqlx::query(AssertSqlSafe(sql)), s.binds)
            .fetch_one(&mut *conn)
            .await;
        conn.finish();
        row?.try_get(0)
    }

    /// The events of several SELECTs (each with its expected row count), read with one
    /// statement per [`QUERIES_PER_STATEMENT`]: one result row whose columns are the
    /// queries' JSON arrays, so a batch's history costs one hand-over from the
    /// connection's thread instead of one per query.
    async fn fetch_json_many(
        &self,
        stmts: Vec<(Stmt, usize)>,
    ) -> activity_core::Result<Vec<Vec<ActivityEvent>>> {
        let err = |e| to_core_from(Dialect::Sqlite, e);
        let mut out = Vec::with_capacity(stmts.len());
        let mut stmts = stmts.into_iter().peekable();
        while stmts.peek().is_some() {
            let chunk: Vec<(Stmt, usize)> = stmts.by_ref().take(QUERIES_PER_STATEMENT).collect();
            let mut sql = String::from("SELECT ");
            let mut binds = Vec::new();
            for (i, (s, _)) in chunk.iter().enumerate() {
                if i > 0 {
                    sql.push_str(", ");
                }
                sql.push_str("(SELECT json_group_array(");
                sql.push_str(json_columns());
                sql.push_str(") FROM (");
                sql.push_str(&s.sql);
                sql.push_str("))");
            }
            let expected: Vec<usize> = chunk
                .into_iter()
                .map(|(s, n)| {
                    binds.extend(s.binds);
                    n
                })
                .collect();
            let mut conn = self.lease().await.map_err(err)?;
            let row = bind_all::<sqlx::Sqlite>(sqlx::query(AssertSqlSafe(sql)), binds)
                .fetch_one(&mut *conn)
                .await;
            conn.finish();
            let row = row.map_err(err)?;
            for (i, n) in expected.into_iter().enumerate() {
                let text: String = row.try_get(i).map_err(err)?;
                let mut events = events_from_json(&text, n)?;
                events.sort_unstable_by_key(|e| std::cmp::Reverse((e.time, e.id)));
                out.push(events);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use activity_core::ActivityEvent;

    /// A bulk read's next page is read ahead, served to the query that asks for it, and
    /// what every page holds is exactly what reading it cold gives.
    #[tokio::test]
    async fn bulk_pages_are_read_ahead_and_served_exactly() {
        use activity_core::{query::MAX_PAGE_SIZE, ActivityStore, Actor};
        let dir = std::env::temp_dir().join(format!("activity-ra-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}/r.db", dir.display());
        let store = SqliteStore::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        let t0 = chrono::Utc::now();
        let events: Vec<ActivityEvent> = (0..(2 * MAX_PAGE_SIZE + 7))
            .map(|i| {
                // Pairs of equal times, so that cursors fall between ties too.
                ActivityEvent::logout(Actor::user(format!("u{i}")))
                    .with_time(t0 + chrono::Duration::microseconds(i as i64 / 2))
            })
            .collect();
        store.append(&events).await.unwrap();
        let cold = SqliteStore::connect(&url).await.unwrap();
        let mut q = ActivityQuery::new().limit(MAX_PAGE_SIZE);
        let mut pages = 0;
        let mut seen = 0;
        loop {
            let page = store.query(&q).await.unwrap();
            assert_eq!(page, cold.query(&q).await.unwrap(), "page {pages}");
            pages += 1;
            seen += page.events.len();
            let Some(cursor) = page.next else {
                assert!(
                    !store.readahead.holds_any(),
                    "nothing follows the last page"
                );
                break;
            };
            q.after = Some(cursor);
            assert!(
                store.readahead.holds(&q),
                "page {pages}: the next is being read"
            );
        }
        assert_eq!((pages, seen), (3, events.len()));
        let _ = std::fs::remove_dir_all(dir);
    }
}
