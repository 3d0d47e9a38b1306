//! The [`ActivityStore`](activity_core::ActivityStore) methods, the same for every backend
//! but for the connection type, the dialect and a per-backend hook before appends.

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

/// Implements `ActivityStore` for `$store`, which has a `tables` field, a
/// `lease(&self) -> Result<impl DerefMut<Target = Connection> + Finish, sqlx::Error>`
/// method, a
/// `prepare_append(&self, &[ActivityEvent]) -> activity_core::Result<()>` method, a
/// `drop_partitions_hook(&self, DateTime<Utc>) -> activity_core::Result<DroppedPartitions>`
/// method, an
/// `insert_chunk(&self, &mut Transaction<'_, DB>, &[ActivityEvent]) -> Result<u64, sqlx::Error>`
/// method with its `ROWS_PER_INSERT`, and whose backend binds values with `$bind`.
macro_rules! impl_activity_store {
    ($store:ty, $db:ty, $dialect:expr, $backend:expr, $bind:path) => {
        crate::store_impl::impl_activity_store!($store, $db, $dialect, $backend, $bind, rows);
    };
    // `$fetch`: `rows` decodes the rows one by one; `own` calls the store's own
    // `fetch_page(&self, &ActivityQuery, Stmt, expected_rows: usize) -> activity_core::Result<Vec<ActivityEvent>>`
    // and `fetch_json_many` (see `query_many!`).
    ($store:ty, $db:ty, $dialect:expr, $backend:expr, $bind:path, $fetch:ident) => {
        impl $store {
            /// The batch and the heads in one transaction on `conn`.
            async fn write_sealed(
                &self,
                conn: &mut <$db as sqlx::Database>::Connection,
                events: &[activity_core::ActivityEvent],
                heads: &[activity_core::chain::ChainHead],
            ) -> Result<u64, sqlx::Error> {
                let mut tx = sqlx::Connection::begin(conn).await?;
                let mut added = 0;
                for chunk in events.chunks(Self::ROWS_PER_INSERT) {
                    added += self.insert_chunk(&mut tx, chunk).await?;
                }
                let heads = crate::sql::dedup_heads(heads);
                for chunk in heads.chunks(crate::sql::HEADS_PER_UPSERT) {
                    let s = crate::sql::upsert_heads($dialect, &self.tables.chain_heads, chunk);
                    $bind(sqlx::query(sqlx::AssertSqlSafe(s.sql)), s.binds)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(added)
            }
        }

        #[async_trait::async_trait]
        impl activity_core::ActivityStore for $store {
            async fn append(
                &self,
                events: &[activity_core::ActivityEvent],
            ) -> activity_core::Result<u64> {
                activity_core::ActivityStore::append_sealed(self, events, &[]).await
            }

            async fn query(
                &self,
                query: &activity_core::ActivityQuery,
            ) -> activity_core::Result<activity_core::Page> {
                query.validate()?;
                let s = crate::sql::select($dialect, &self.tables.events, query);
                let expected = query.page_size() + 1;
                let events = crate::store_impl::fetch_events!(
                    $fetch, self, query, s, expected, $backend, $bind
                );
                Ok(activity_core::Page::from_overfetch(
                    events,
                    query.page_size(),
                ))
            }

            async fn query_many(
                &self,
                queries: &[activity_core::ActivityQuery],
            ) -> activity_core::Result<Vec<activity_core::Page>> {
                crate::store_impl::query_many!($fetch, self, queries, $dialect)
            }

            async fn count(
                &self,
                query: &activity_core::ActivityQuery,
            ) -> activity_core::Result<u64> {
                query.validate()?;
                let s = crate::sql::count($dialect, &self.tables.events, query);
                let err = |e| crate::error::to_core_from($backend, e);
                let mut conn = self.lease().await.map_err(err)?;
                let row = $bind(sqlx::query(sqlx::AssertSqlSafe(s.sql)), s.binds)
                    .fetch_one(&mut *conn)
                    .await;
                crate::store_impl::Finish::finish(conn);
                let n: i64 = sqlx::Row::try_get(&row.map_err(err)?, 0).map_err(err)?;
                Ok(n as u64)
            }

            async fn delete(
                &self,
                request: &activity_core::query::DeleteRequest,
            ) -> activity_core::Result<u64> {
                if request.limit == 0 {
                    return Ok(0);
                }
                let s = crate::sql::delete($dialect, &self.tables.events, request);
                let err = |e| crate::error::to_core_from($backend, e);
                let mut conn = self.lease().await.map_err(err)?;
                let done = $bind(sqlx::query(sqlx::AssertSqlSafe(s.sql)), s.binds)
                    .execute(&mut *conn)
                    .await;
                crate::store_impl::Finish::finish(conn);
                Ok(done.map_err(err)?.rows_affected())
            }

            async fn append_sealed(
                &self,
                events: &[activity_core::ActivityEvent],
                heads: &[activity_core::chain::ChainHead],
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
                self.prepare_append(events).await?;
                let err = |e| crate::error::to_core_from($backend, e);
                let mut conn = self.lease().await.map_err(err)?;
                let added = self.write_sealed(&mut conn, events, heads).await;
                // Finished either way: a failed statement or commit leaves the transaction
                // rolled back (the `Transaction` guard's rollback runs before any later
                // command on the connection).
                crate::store_impl::Finish::finish(conn);
                added.map_err(err)
            }

            async fn chain_heads(
                &self,
                tenant: Option<&str>,
            ) -> activity_core::Result<Vec<activity_core::chain::ChainHead>> {
                let s = crate::sql::select_heads($dialect, &self.tables.chain_heads, tenant);
                let err = |e| crate::error::to_core_from($backend, e);
                let mut conn = self.lease().await.map_err(err)?;
                let rows = $bind(sqlx::query(sqlx::AssertSqlSafe(s.sql)), s.binds)
                    .fetch_all(&mut *conn)
                    .await;
                crate::store_impl::Finish::finish(conn);
                rows.map_err(err)?
                    .iter()
                    .map(|r| crate::sql::decode_head(r, $backend))
                    .collect()
            }

            async fn drop_expired_partitions(
                &self,
                before: chrono::DateTime<chrono::Utc>,
            ) -> activity_core::Result<activity_core::store::DroppedPartitions> {
                self.drop_partitions_hook(before).await
            }

            async fn tenants(&self) -> activity_core::Result<Vec<Option<String>>> {
                let sql_text = format!("SELECT DISTINCT tenant FROM {}", self.tables.events);
                let err = |e| crate::error::to_core_from($backend, e);
                let mut conn = self.lease().await.map_err(err)?;
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql_text))
                    .fetch_all(&mut *conn)
                    .await;
                crate::store_impl::Finish::finish(conn);
                rows.map_err(err)?
                    .iter()
                    .map(|r| {
                        sqlx::Row::try_get::<Option<String>, _>(r, 0)
                            .map_err(|e| crate::error::to_core_from($backend, e))
                    })
                    .collect()
            }
        }
    };
}

pub(crate) use impl_activity_store;

/// The body of `ActivityStore::query_many`: one query at a time (as the trait's default) for backends
/// that decode rows, one statement for those that read JSON (the store's
/// `fetch_json_many(&self, Vec<(Stmt, usize)>) -> activity_core::Result<Vec<Vec<ActivityEvent>>>`).
macro_rules! query_many {
    (rows, $self:ident, $queries:ident, $dialect:expr) => {{
        let mut pages = Vec::with_capacity($queries.len());
        for q in $queries {
            pages.push(activity_core::ActivityStore::query($self, q).await?);
        }
        Ok(pages)
    }};
    (own, $self:ident, $queries:ident, $dialect:expr) => {{
        let mut stmts = Vec::with_capacity($queries.len());
        for q in $queries {
            q.validate()?;
            stmts.push((
                crate::sql::select($dialect, &$self.tables.events, q),
                q.page_size() + 1,
            ));
        }
        let events = $self.fetch_json_many(stmts).await?;
        Ok(events
            .into_iter()
            .zip($queries)
            .map(|(events, q)| activity_core::Page::from_overfetch(events, q.page_size()))
            .collect())
    }};
}

pub(crate) use query_many;

/// The events a SELECT statement returns, by the backend's chosen way.
macro_rules! fetch_events {
    (rows, $self:ident, $query:ident, $s:ident, $expected:ident, $backend:expr, $bind:path) => {{
        let err = |e| crate::error::to_core_from($backend, e);
        let mut conn = $self.lease().await.map_err(err)?;
        let rows = $bind(sqlx::query(sqlx::AssertSqlSafe($s.sql)), $s.binds)
            .fetch_all(&mut *conn)
            .await;
        crate::store_impl::Finish::finish(conn);
        let _ = ($query, $expected);
        rows.map_err(err)?
            .iter()
            .map(|r| crate::sql::decode_row(r, $backend))
            .collect::<activity_core::Result<Vec<_>>>()?
    }};
    (own, $self:ident, $query:ident, $s:ident, $expected:ident, $backend:expr, $bind:path) => {{
        $self.fetch_page($query, $s, $expected).await?
    }};
}

pub(crate) use fetch_events;

/// The multi-row `INSERT … VALUES` of a chunk, for backends without array parameters.
#[cfg_attr(not(any(feature = "sqlite", feature = "mysql")), allow(unused_macros))]
macro_rules! values_insert {
    ($dialect:expr, $db:ty, $bind:path) => {
        const ROWS_PER_INSERT: usize = crate::sql::ROWS_PER_INSERT;

        async fn insert_chunk(
            &self,
            tx: &mut sqlx::Transaction<'_, $db>,
            chunk: &[activity_core::ActivityEvent],
        ) -> Result<u64, sqlx::Error> {
            let s = crate::sql::insert($dialect, &self.tables.events, chunk);
            let done = $bind(sqlx::query(sqlx::AssertSqlSafe(s.sql)), s.binds)
                .execute(&mut **tx)
                .await?;
            Ok(done.rows_affected())
        }
    };
}

#[cfg_attr(not(any(feature = "sqlite", feature = "mysql")), allow(unused_imports))]
pub(crate) use values_insert;
