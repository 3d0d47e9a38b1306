//! The [`ActivityStore`](activity_core::ActivityStore) bodies every store shares, generic
//! over its [`Backend`], and the macro that forwards a store's trait methods to them.

use activity_core::sinks::{LogPosition, LoggedEvent, SinkState};
use activity_core::{chain::ChainHead, query::DeleteRequest, ActivityEvent, ActivityQuery, Page};
use sqlx::Database;

use super::{err, Backend, Db, Finish};
use crate::sql::{self, Stmt};

/// The rows of `s`, on a leased connection.
pub(crate) async fn fetch_all<B: Backend>(
    b: &B,
    s: Stmt,
) -> Result<Vec<<B::Db as Database>::Row>, sqlx::Error> {
    let mut conn = b.lease().await?;
    let rows = B::Db::fetch_all(&mut *conn, s).await;
    conn.finish();
    rows
}

/// The one row of `s`, on a leased connection.
async fn fetch_one<B: Backend>(b: &B, s: Stmt) -> Result<<B::Db as Database>::Row, sqlx::Error> {
    let mut conn = b.lease().await?;
    let row = B::Db::fetch_one(&mut *conn, s).await;
    conn.finish();
    row
}

/// Runs `s` on a leased connection; the rows it changed.
async fn execute<B: Backend>(b: &B, s: Stmt) -> Result<u64, sqlx::Error> {
    let mut conn = b.lease().await?;
    let done = B::Db::execute(&mut *conn, s).await;
    conn.finish();
    done
}

/// [`ActivityStore::query`](activity_core::ActivityStore::query): one page.
pub(crate) async fn query<B: Backend>(b: &B, q: &ActivityQuery) -> activity_core::Result<Page> {
    q.validate()?;
    let s = sql::select(B::DIALECT, &b.tables().events, q);
    let events = b.fetch_page(q, s, q.page_size() + 1).await?;
    Ok(Page::from_overfetch(events, q.page_size()))
}

/// [`ActivityStore::count`](activity_core::ActivityStore::count).
pub(crate) async fn count<B: Backend>(b: &B, q: &ActivityQuery) -> activity_core::Result<u64> {
    q.validate()?;
    let s = sql::count(B::DIALECT, &b.tables().events, q);
    let row = fetch_one(b, s).await.map_err(err::<B>)?;
    let n = B::Db::int(&row, 0).map_err(err::<B>)?;
    Ok(n as u64)
}

/// [`ActivityStore::delete`](activity_core::ActivityStore::delete).
pub(crate) async fn delete<B: Backend>(b: &B, r: &DeleteRequest) -> activity_core::Result<u64> {
    if r.limit == 0 {
        return Ok(0);
    }
    let s = sql::delete(B::DIALECT, &b.tables().events, r);
    execute(b, s).await.map_err(err::<B>)
}

/// [`ActivityStore::append_sealed`](activity_core::ActivityStore::append_sealed): the batch and its heads in one transaction.
pub(crate) async fn append_sealed<B: Backend>(
    b: &B,
    events: &[ActivityEvent],
    heads: &[ChainHead],
) -> activity_core::Result<u64> {
    append_sealed_as::<B>(b, events, heads, false).await
}

/// [`ActivityStore::append_sealed_strict`](activity_core::ActivityStore::append_sealed_strict):
/// as [`append_sealed`], but a sealed event that another writer stored first rolls the
/// transaction back ([`activity_core::Error::SealedDuplicate`]).
pub(crate) async fn append_sealed_strict<B: Backend>(
    b: &B,
    events: &[ActivityEvent],
    heads: &[ChainHead],
) -> activity_core::Result<u64> {
    append_sealed_as::<B>(b, events, heads, true).await
}

async fn append_sealed_as<B: Backend>(
    b: &B,
    events: &[ActivityEvent],
    heads: &[ChainHead],
    strict: bool,
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
    b.prepare_append(events).await?;
    let mut conn = b.lease().await.map_err(err::<B>)?;
    let added = write_sealed(b, &mut *conn, events, heads, strict).await;
    // Finished either way: a failed statement or commit leaves the transaction rolled
    // back (the `Transaction` guard's rollback runs before any later command on the
    // connection).
    conn.finish();
    let added = added.map_err(err::<B>)?;
    b.after_append()?;
    added.map_err(|ids| activity_core::Error::SealedDuplicate { ids })
}

/// The batch and the heads in one transaction on `conn`. With `strict`, when the store
/// skipped sealed events (stored first by another writer), nothing is committed and their
/// ids come back instead.
async fn write_sealed<B: Backend>(
    b: &B,
    conn: &mut <B::Db as Database>::Connection,
    events: &[ActivityEvent],
    heads: &[ChainHead],
    strict: bool,
) -> Result<Result<u64, Vec<uuid::Uuid>>, sqlx::Error> {
    let mut tx = sqlx::Connection::begin(conn).await?;
    let mut added = 0;
    let mut next = if events.is_empty() {
        None
    } else {
        b.reserve_log(&mut tx, events.len()).await?
    };
    for chunk in events.chunks(B::ROWS_PER_INSERT) {
        added += b.insert_chunk(&mut tx, chunk, next).await?;
        next = next.map(|n| n + chunk.len() as i64);
    }
    // Fewer rows than events: some were stored already. Only then, and only if one of
    // them carries a link, does the check cost a read (by primary key).
    if strict && (added as usize) < events.len() && events.iter().any(|e| e.chain.is_some()) {
        let skipped = skipped_sealed(b, &mut tx, events).await?;
        if !skipped.is_empty() {
            // Dropped uncommitted: rolled back.
            return Ok(Err(skipped));
        }
    }
    let heads = sql::dedup_heads(heads);
    for chunk in heads.chunks(sql::HEADS_PER_UPSERT) {
        let s = sql::upsert_heads(B::DIALECT, &b.tables().chain_heads, chunk);
        B::Db::execute(&mut *tx, s).await?;
    }
    tx.commit().await?;
    Ok(Ok(added))
}

/// The sealed events of `events` whose stored row is not theirs (another writer's copy:
/// another writer, or another link): the ones the insert skipped.
async fn skipped_sealed<B: Backend>(
    b: &B,
    conn: &mut <B::Db as Database>::Connection,
    events: &[ActivityEvent],
) -> Result<Vec<uuid::Uuid>, sqlx::Error> {
    let sealed: Vec<&ActivityEvent> = events.iter().filter(|e| e.chain.is_some()).collect();
    let mut stored_links = std::collections::HashSet::new();
    for chunk in sealed.chunks(500) {
        let mut s = Stmt::new(B::DIALECT);
        s.push("SELECT chain_writer, chain_hash FROM ")
            .push(&b.tables().events)
            .push(" WHERE id IN (");
        for (i, e) in chunk.iter().enumerate() {
            if i > 0 {
                s.push(", ");
            }
            s.bind(sql::Val::Bytes(e.id.as_bytes().to_vec()));
        }
        s.push(")");
        for row in B::Db::fetch_all(&mut *conn, s).await? {
            if let (Some(writer), Some(hash)) = (B::Db::text(&row, 0)?, B::Db::text(&row, 1)?) {
                stored_links.insert((writer, hash));
            }
        }
    }
    Ok(sealed
        .into_iter()
        .filter(|e| {
            e.chain
                .as_ref()
                .is_some_and(|l| !stored_links.contains(&(l.writer.clone(), l.hash.clone())))
        })
        .map(|e| e.id)
        .collect())
}

/// [`ActivityStore::chain_heads`](activity_core::ActivityStore::chain_heads).
pub(crate) async fn chain_heads<B: Backend>(
    b: &B,
    tenant: Option<&str>,
) -> activity_core::Result<Vec<ChainHead>> {
    let s = sql::select_heads(B::DIALECT, &b.tables().chain_heads, tenant);
    let rows = fetch_all(b, s).await.map_err(err::<B>)?;
    rows.iter().map(|r| B::Db::head(r, B::DIALECT)).collect()
}

/// [`ActivityStore::tenants`](activity_core::ActivityStore::tenants).
pub(crate) async fn tenants<B: Backend>(b: &B) -> activity_core::Result<Vec<Option<String>>> {
    let mut s = Stmt::new(B::DIALECT);
    s.push("SELECT DISTINCT tenant FROM ")
        .push(&b.tables().events);
    let rows = fetch_all(b, s).await.map_err(err::<B>)?;
    rows.iter()
        .map(|r| B::Db::text(r, 0).map_err(err::<B>))
        .collect()
}

/// [`ActivityStore::read_log`](activity_core::ActivityStore::read_log).
pub(crate) async fn read_log<B: Backend>(
    b: &B,
    after: LogPosition,
    limit: usize,
) -> activity_core::Result<Vec<LoggedEvent>> {
    let limit = limit.clamp(1, 10_000);
    let s = sql::read_log(B::DIALECT, &b.tables().events, after, limit);
    b.fetch_log(s, limit).await
}

/// A row of `sql::read_log` as the logged event: [`sql::COLUMNS`], then `tx` and `seq`.
pub(crate) fn logged_from_row<B: Backend>(
    r: &<B::Db as Database>::Row,
) -> activity_core::Result<LoggedEvent> {
    let n = sql::COLUMNS.len();
    let tx = B::Db::int(r, n).map_err(err::<B>)?;
    let seq = B::Db::int(r, n + 1).map_err(err::<B>)?;
    let (Ok(tx), Ok(seq)) = (u64::try_from(tx), u64::try_from(seq)) else {
        return Err(activity_core::Error::invalid(
            "log_seq",
            activity_core::Rule::OutOfRange("a negative log position"),
        ));
    };
    Ok(LoggedEvent {
        position: LogPosition::new(tx, seq),
        event: B::Db::event(r, B::DIALECT)?,
    })
}

/// [`ActivityStore::log_lag`](activity_core::ActivityStore::log_lag).
pub(crate) async fn log_lag<B: Backend>(b: &B, after: LogPosition) -> activity_core::Result<u64> {
    let row = fetch_one(b, sql::lag(B::DIALECT, &b.tables().events, after))
        .await
        .map_err(err::<B>)?;
    Ok(B::Db::int(&row, 0).map_err(err::<B>)?.max(0) as u64)
}

/// [`ActivityStore::sink_states`](activity_core::ActivityStore::sink_states): a row
/// that is not a sink's state is an error naming it, never a guess.
pub(crate) async fn sink_states<B: Backend>(b: &B) -> activity_core::Result<Vec<SinkState>> {
    let rows = fetch_all(b, sql::select_sinks(B::DIALECT, &b.tables().sinks))
        .await
        .map_err(err::<B>)?;
    rows.iter()
        .map(|r| {
            let name = B::Db::text(r, 0).map_err(err::<B>)?.unwrap_or_default();
            let text = B::Db::text(r, 1).map_err(err::<B>)?.unwrap_or_default();
            let state: SinkState = serde_json::from_str(&text).map_err(|e| {
                activity_core::Error::invalid(
                    format!("sinks.{}", name.chars().take(64).collect::<String>()),
                    activity_core::Rule::Malformed(if e.is_syntax() || e.is_eof() {
                        "not JSON"
                    } else {
                        "not a sink state"
                    }),
                )
            })?;
            if state.name != name {
                return Err(activity_core::Error::invalid(
                    "sinks.name",
                    activity_core::Rule::Malformed("a state stored under another sink's name"),
                ));
            }
            Ok(state)
        })
        .collect()
}

/// [`ActivityStore::save_sink_state`](activity_core::ActivityStore::save_sink_state).
pub(crate) async fn save_sink_state<B: Backend>(
    b: &B,
    state: &SinkState,
) -> activity_core::Result<()> {
    let name = &state.name;
    activity_core::sinks::check_name(name)?;
    let text = serde_json::to_string(state).map_err(activity_core::Error::Json)?;
    let s = sql::upsert_sink(B::DIALECT, &b.tables().sinks, name, text);
    execute(b, s).await.map_err(err::<B>)?;
    Ok(())
}

/// [`ActivityStore::remove_sink_state`](activity_core::ActivityStore::remove_sink_state).
pub(crate) async fn remove_sink_state<B: Backend>(
    b: &B,
    name: &str,
) -> activity_core::Result<bool> {
    let s = sql::delete_sink(B::DIALECT, &b.tables().sinks, name);
    Ok(execute(b, s).await.map_err(err::<B>)? > 0)
}

/// `impl ActivityStore for $store` by forwarding every method to this module's generic
/// functions (the store implements [`Backend`]).
macro_rules! forward_activity_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl activity_core::ActivityStore for $store {
            async fn append(
                &self,
                events: &[activity_core::ActivityEvent],
            ) -> activity_core::Result<u64> {
                crate::backend::append_sealed(self, events, &[]).await
            }

            async fn query(
                &self,
                query: &activity_core::ActivityQuery,
            ) -> activity_core::Result<activity_core::Page> {
                crate::backend::query(self, query).await
            }

            async fn query_many(
                &self,
                queries: &[activity_core::ActivityQuery],
            ) -> activity_core::Result<Vec<activity_core::Page>> {
                crate::backend::Backend::query_many(self, queries).await
            }

            async fn count(
                &self,
                query: &activity_core::ActivityQuery,
            ) -> activity_core::Result<u64> {
                crate::backend::count(self, query).await
            }

            async fn delete(
                &self,
                request: &activity_core::query::DeleteRequest,
            ) -> activity_core::Result<u64> {
                crate::backend::delete(self, request).await
            }

            async fn append_sealed(
                &self,
                events: &[activity_core::ActivityEvent],
                heads: &[activity_core::chain::ChainHead],
            ) -> activity_core::Result<u64> {
                crate::backend::append_sealed(self, events, heads).await
            }

            async fn append_sealed_strict(
                &self,
                events: &[activity_core::ActivityEvent],
                heads: &[activity_core::chain::ChainHead],
            ) -> activity_core::Result<u64> {
                crate::backend::append_sealed_strict(self, events, heads).await
            }

            async fn chain_heads(
                &self,
                tenant: Option<&str>,
            ) -> activity_core::Result<Vec<activity_core::chain::ChainHead>> {
                crate::backend::chain_heads(self, tenant).await
            }

            async fn drop_expired_partitions(
                &self,
                before: chrono::DateTime<chrono::Utc>,
            ) -> activity_core::Result<activity_core::store::DroppedPartitions> {
                crate::backend::Backend::drop_partitions(self, before).await
            }

            async fn tenants(&self) -> activity_core::Result<Vec<Option<String>>> {
                crate::backend::tenants(self).await
            }

            async fn read_log(
                &self,
                after: activity_core::sinks::LogPosition,
                limit: usize,
            ) -> activity_core::Result<Vec<activity_core::sinks::LoggedEvent>> {
                crate::backend::read_log(self, after, limit).await
            }

            async fn log_lag(
                &self,
                after: activity_core::sinks::LogPosition,
            ) -> activity_core::Result<u64> {
                crate::backend::log_lag(self, after).await
            }

            async fn sink_states(
                &self,
            ) -> activity_core::Result<Vec<activity_core::sinks::SinkState>> {
                crate::backend::sink_states(self).await
            }

            async fn save_sink_state(
                &self,
                state: &activity_core::sinks::SinkState,
            ) -> activity_core::Result<()> {
                crate::backend::save_sink_state(self, state).await
            }

            async fn remove_sink_state(&self, name: &str) -> activity_core::Result<bool> {
                crate::backend::remove_sink_state(self, name).await
            }
        }
    };
}

pub(crate) use forward_activity_store;
