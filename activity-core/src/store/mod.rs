//! The storage trait every backend implements.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::chain::ChainHead;
use crate::error::Result;
use crate::event::ActivityEvent;
use crate::query::{ActivityQuery, DeleteRequest, Page};
use crate::sinks::{LogPosition, LoggedEvent, SinkState};

#[cfg(feature = "testing")]
pub mod conformance;
#[cfg(feature = "testing")]
mod held;
mod memory;

pub use memory::MemoryStore;

/// What [`ActivityStore::drop_expired_partitions`] removed.
///
/// ```
/// use activity_core::{ActivityStore, store::DroppedPartitions, MemoryStore};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// // The memory store has no partitions: nothing to drop.
/// let none = MemoryStore::new().drop_expired_partitions(chrono::Utc::now()).await.unwrap();
/// assert_eq!(none, DroppedPartitions::default());
/// // What a partitioned store (PostgreSQL) reports:
/// let dropped = DroppedPartitions {
///     partitions: vec!["activity_events_2026_01".into()],
///     events: vec![(Some("acme".into()), 120), (None, 3)],
/// };
/// assert_eq!(dropped.total(), 123);
/// # });
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DroppedPartitions {
    /// The partitions dropped, by name.
    pub partitions: Vec<String>,
    /// The events that went with them, per tenant (`None`: events without a tenant).
    pub events: Vec<(Option<String>, u64)>,
}

impl DroppedPartitions {
    /// Events removed in all.
    pub fn total(&self) -> u64 {
        self.events.iter().map(|(_, n)| n).sum()
    }
}

/// Durable storage for the activity log.
///
/// Object safe: the recorder and the rest of the SDK hold an `Arc<dyn ActivityStore>`.
/// Writing a backend means implementing these five methods, and the two of the chain
/// heads (which have defaults that keep no heads, so that the deletion of a chain's newest
/// events goes unseen); then run the conformance kit
/// (`activity_core::testing::run_conformance`, feature `testing`) against it, which checks
/// every rule below.
///
/// Rules:
/// - [`append`](Self::append) writes the batch in one transaction: all of it or none. An
///   event whose `id` is already stored (or repeated within the batch) is skipped, so a
///   retried batch never duplicates anything. Every field round-trips exactly.
/// - [`query`](Self::query) returns events matching [`ActivityQuery::matches`], ordered by
///   `(time DESC, id DESC)`, starting strictly after `query.after`, at most
///   [`ActivityQuery::page_size`] of them, with `next` set only when more follow
///   ([`Page::from_overfetch`] does that).
/// - [`count`](Self::count) counts the matches, ignoring cursor and limit.
/// - [`append_sealed`](Self::append_sealed) writes the batch and replaces the chain heads
///   in one transaction; a head only moves forward (a stored head with a higher `seq` is
///   kept); [`chain_heads`](Self::chain_heads) returns them exactly as written.
/// - Errors say whether to retry: [`Error::unavailable`](crate::Error::unavailable) or
///   [`Error::timeout`](crate::Error::timeout) for connection trouble (the recorder retries
///   them), the other kinds for everything else.
///
/// ```
/// use std::sync::Arc;
/// use activity_core::{ActivityEvent, ActivityQuery, ActivityStore, Actor, MemoryStore};
/// # tokio_test_block_on(async {
/// let store: Arc<dyn ActivityStore> = Arc::new(MemoryStore::new());
/// let e = ActivityEvent::login_succeeded(Actor::user("u_1"));
/// assert_eq!(store.append(&[e.clone(), e.clone()]).await.unwrap(), 1);
/// assert_eq!(store.count(&ActivityQuery::new()).await.unwrap(), 1);
/// # });
/// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
/// # }
/// ```
#[async_trait]
pub trait ActivityStore: Send + Sync + 'static {
    /// Appends a batch atomically and idempotently; returns how many events were new.
    async fn append(&self, events: &[ActivityEvent]) -> Result<u64>;

    /// One page of events matching `query`, newest first.
    async fn query(&self, query: &ActivityQuery) -> Result<Page>;

    /// How many events match `query` (cursor and limit ignored).
    async fn count(&self, query: &ActivityQuery) -> Result<u64>;

    /// One page for each of `queries`, in their order, each exactly what
    /// [`query`](Self::query) returns for it. The alert engine reads the history of a
    /// whole committed batch with one call. The default runs the queries one by one;
    /// a backend that can answer several in one round trip overrides it (the SQLite store
    /// does: one statement). An invalid query fails the whole call.
    ///
    /// ```
    /// use activity_core::{ActivityEvent, ActivityQuery, ActivityStore, Actor, MemoryStore};
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let store = MemoryStore::new();
    /// store.append(&[ActivityEvent::login_succeeded(Actor::user("ann"))]).await?;
    /// let pages = store
    ///     .query_many(&[ActivityQuery::own(None, "ann"), ActivityQuery::own(None, "bob")])
    ///     .await?;
    /// assert_eq!((pages[0].events.len(), pages[1].events.len()), (1, 0));
    /// # Ok::<(), activity_core::Error>(()) }).unwrap();
    /// ```
    async fn query_many(&self, queries: &[ActivityQuery]) -> Result<Vec<Page>> {
        let mut pages = Vec::with_capacity(queries.len());
        for q in queries {
            pages.push(self.query(q).await?);
        }
        Ok(pages)
    }

    /// Deletes up to `request.limit` of the oldest events of `request.tenant` older than
    /// `request.before`; returns how many went. Used by retention only.
    async fn delete(&self, request: &DeleteRequest) -> Result<u64>;

    /// Every distinct tenant value stored (`None` for events without a tenant).
    async fn tenants(&self) -> Result<Vec<Option<String>>>;

    /// Appends a sealed batch as [`append`](Self::append) does and, in the same
    /// transaction, stores each chain head of `heads` (keyed by tenant and writer) unless
    /// the stored one is further along. The recorder calls it for every sealed batch.
    ///
    /// The default appends and keeps no heads: override it (and
    /// [`chain_heads`](Self::chain_heads)) so that verification sees the deletion of a
    /// chain's newest events.
    async fn append_sealed(&self, events: &[ActivityEvent], heads: &[ChainHead]) -> Result<u64> {
        let _ = heads;
        self.append(events).await
    }

    /// [`append_sealed`](Self::append_sealed), except that when an event carrying a chain
    /// link is already stored (another writer stored the same id first: two instances
    /// sealing one fixed id at the same moment), nothing is committed and the call fails
    /// with [`Error::SealedDuplicate`](crate::Error::SealedDuplicate) naming those ids:
    /// skipping it would leave a hole at its position. The recorder calls this for the
    /// batches it sealed itself, and seals again without the named events.
    ///
    /// The default is [`append_sealed`](Self::append_sealed) (such a race then leaves a
    /// hole, found by verification as a missing event).
    async fn append_sealed_strict(
        &self,
        events: &[ActivityEvent],
        heads: &[ChainHead],
    ) -> Result<u64> {
        self.append_sealed(events, heads).await
    }

    /// The stored chain heads of `tenant` (`None`: of every tenant, events without a
    /// tenant included), in no particular order. Default: none.
    async fn chain_heads(&self, tenant: Option<&str>) -> Result<Vec<ChainHead>> {
        let _ = tenant;
        Ok(Vec::new())
    }

    /// Drops whole storage partitions that hold only events older than `before`, of
    /// every tenant, where the backend partitions by time (PostgreSQL: the monthly
    /// partitions ending at or before `before`); returns what went. Faster than deleting
    /// rows, and it leaves no dead rows behind. The [`Purger`](crate::retention::Purger) calls it
    /// only with a cut-off that every stored tenant's retention allows, when no tenant is
    /// under legal hold; then it deletes the remaining expired rows with
    /// [`delete`](Self::delete). Default: drops nothing.
    async fn drop_expired_partitions(&self, before: DateTime<Utc>) -> Result<DroppedPartitions> {
        let _ = before;
        Ok(DroppedPartitions::default())
    }

    /// The committed events after `after`, in commit order, at most `limit` of them,
    /// each with its [`LogPosition`]: what [sinks](crate::sinks) read. An event that
    /// commits later never gets a position before one already returned, so a reader
    /// moving its cursor to the last position it was given misses nothing.
    ///
    /// Default: [`Error::Unsupported`](crate::Error::Unsupported) (a store that keeps no
    /// commit order cannot feed sinks).
    async fn read_log(&self, after: LogPosition, limit: usize) -> Result<Vec<LoggedEvent>> {
        let _ = (after, limit);
        Err(crate::Error::Unsupported {
            what: "reading the log in commit order (sinks)",
        })
    }

    /// How many committed events lie after `after`: a sink's lag. Default:
    /// [`Error::Unsupported`](crate::Error::Unsupported).
    async fn log_lag(&self, after: LogPosition) -> Result<u64> {
        let _ = after;
        Err(crate::Error::Unsupported {
            what: "reading the log in commit order (sinks)",
        })
    }

    /// The stored sink cursors and receipts, by name. Default: none (a store without
    /// sinks).
    async fn sink_states(&self) -> Result<Vec<SinkState>> {
        Ok(Vec::new())
    }

    /// Stores a sink's state (inserted, or replacing the one of that name). Default:
    /// [`Error::Unsupported`](crate::Error::Unsupported).
    async fn save_sink_state(&self, state: &SinkState) -> Result<()> {
        let _ = state;
        Err(crate::Error::Unsupported {
            what: "storing sink cursors",
        })
    }

    /// Removes a sink's state (it no longer holds back the purge); whether there was
    /// one. Default: [`Error::Unsupported`](crate::Error::Unsupported).
    async fn remove_sink_state(&self, name: &str) -> Result<bool> {
        let _ = name;
        Err(crate::Error::Unsupported {
            what: "storing sink cursors",
        })
    }
}

#[async_trait]
impl<S: ActivityStore + ?Sized> ActivityStore for Arc<S> {
    async fn append(&self, events: &[ActivityEvent]) -> Result<u64> {
        (**self).append(events).await
    }
    async fn query(&self, query: &ActivityQuery) -> Result<Page> {
        (**self).query(query).await
    }
    async fn count(&self, query: &ActivityQuery) -> Result<u64> {
        (**self).count(query).await
    }
    async fn query_many(&self, queries: &[ActivityQuery]) -> Result<Vec<Page>> {
        (**self).query_many(queries).await
    }
    async fn delete(&self, request: &DeleteRequest) -> Result<u64> {
        (**self).delete(request).await
    }
    async fn tenants(&self) -> Result<Vec<Option<String>>> {
        (**self).tenants().await
    }
    async fn append_sealed(&self, events: &[ActivityEvent], heads: &[ChainHead]) -> Result<u64> {
        (**self).append_sealed(events, heads).await
    }
    async fn append_sealed_strict(
        &self,
        events: &[ActivityEvent],
        heads: &[ChainHead],
    ) -> Result<u64> {
        (**self).append_sealed_strict(events, heads).await
    }
    async fn chain_heads(&self, tenant: Option<&str>) -> Result<Vec<ChainHead>> {
        (**self).chain_heads(tenant).await
    }
    async fn drop_expired_partitions(&self, before: DateTime<Utc>) -> Result<DroppedPartitions> {
        (**self).drop_expired_partitions(before).await
    }
    async fn read_log(&self, after: LogPosition, limit: usize) -> Result<Vec<LoggedEvent>> {
        (**self).read_log(after, limit).await
    }
    async fn log_lag(&self, after: LogPosition) -> Result<u64> {
        (**self).log_lag(after).await
    }
    async fn sink_states(&self) -> Result<Vec<SinkState>> {
        (**self).sink_states().await
    }
    async fn save_sink_state(&self, state: &SinkState) -> Result<()> {
        (**self).save_sink_state(state).await
    }
    async fn remove_sink_state(&self, name: &str) -> Result<bool> {
        (**self).remove_sink_state(name).await
    }
}
