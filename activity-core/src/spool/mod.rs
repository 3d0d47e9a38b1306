//! The local durable spool: where the recorder puts batches while its store is
//! unreachable, so that an event acknowledged as durable survives a crash of the process
//! during the outage.
//!
//! A [`Spool`] is an append-only list of batches on local disk. While the store fails
//! with an outage, the recorder's worker writes each batch to the spool (synced before the
//! waiters of [`Recorder::record_durable`](crate::Recorder::record_durable) hear that it is
//! durable) instead of holding it in memory, and keeps taking new events; every new batch
//! goes behind the spooled ones, so the log keeps its order. When the store answers
//! again, and on the next start, the worker replays the spool oldest batch first: ids are
//! idempotent, so a batch that committed just before a crash is skipped, and chains
//! continue (a batch spooled after it was sealed keeps its links; one spooled before
//! sealing is sealed when it is replayed).
//!
//! A spool is bounded: when it is full the recorder fails closed exactly as it does
//! without one (the batch stays in memory, [`Health`](crate::recorder::Health) is
//! `Degraded`, authentication routes answer 503).
//!
//! `activity_sqlx::SqliteSpool` is the durable spool (one SQLite file, WAL,
//! `synchronous=FULL`). A store that is itself a local file (SQLite) needs no spool: an
//! outage of it is an outage of the disk the spool would be on.

mod memory;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

pub use memory::MemorySpool;

use crate::error::Result;
use crate::event::ActivityEvent;

/// One spooled batch.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SpoolEntry {
    /// The entry's position in the spool (increasing, never reused).
    pub id: u64,
    /// Whether the events carry their chain links already (spooled after sealing): they
    /// are then appended as they are, never sealed again.
    pub sealed: bool,
    /// The events, in the order they are to be appended.
    pub events: Vec<ActivityEvent>,
}

impl SpoolEntry {
    /// An entry, as a [`Spool`] implementation reads it back.
    ///
    /// ```
    /// use activity_core::spool::SpoolEntry;
    /// let e = SpoolEntry::new(7, true, Vec::new());
    /// assert_eq!((e.id, e.sealed), (7, true));
    /// ```
    pub fn new(id: u64, sealed: bool, events: Vec<ActivityEvent>) -> Self {
        Self { id, sealed, events }
    }
}

/// What a spool holds.
///
/// ```
/// use activity_core::spool::SpoolStatus;
/// let empty = SpoolStatus::default();
/// assert!(empty.is_empty());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SpoolStatus {
    /// Batches waiting to be replayed.
    pub batches: u64,
    /// Events in them.
    pub events: u64,
    /// Bytes they take (the encoded events).
    pub bytes: u64,
    /// The most the spool takes, in bytes; a batch that would go over is refused.
    pub capacity_bytes: u64,
    /// The time of the oldest spooled event.
    pub oldest: Option<DateTime<Utc>>,
    /// Entries that could not be read back (a corrupt or edited row): kept aside, never
    /// replayed, named by `activity spool status`.
    pub unreadable: u64,
}

impl SpoolStatus {
    /// Whether nothing waits to be replayed.
    pub fn is_empty(&self) -> bool {
        self.batches == 0
    }
}

/// A durable, bounded, append-only list of batches (see the [module](self)).
///
/// Implementations must make [`push`](Self::push) durable before it returns (synced to
/// stable storage) and keep entries in push order. The recorder's worker is the only
/// writer while it runs.
///
/// ```
/// use activity_core::spool::{MemorySpool, Spool};
/// use activity_core::{ActivityEvent, Actor};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let spool = MemorySpool::new(1 << 20);
/// let id = spool.push(false, &[ActivityEvent::logout(Actor::user("u_1"))]).await?;
/// let front = spool.front().await?.expect("one entry");
/// assert_eq!((front.id, front.sealed, front.events.len()), (id, false, 1));
/// spool.remove(id).await?;
/// assert!(spool.status().await?.is_empty());
/// # Ok::<(), activity_core::Error>(()) }).unwrap();
/// ```
#[async_trait]
pub trait Spool: Send + Sync + 'static {
    /// Appends a batch, durably; returns its entry id.
    ///
    /// # Errors
    /// [`Error::SpoolFull`](crate::Error::SpoolFull) when the batch would take the spool
    /// over its capacity; [`Error::Unavailable`](crate::Error::Unavailable) when it cannot
    /// be written (the disk is full, an I/O error).
    async fn push(&self, sealed: bool, events: &[ActivityEvent]) -> Result<u64>;

    /// The oldest entry that can be read, if any.
    ///
    /// # Errors
    /// When the spool cannot be read.
    async fn front(&self) -> Result<Option<SpoolEntry>>;

    /// The oldest entries that can be read, in push order, holding at most `max_events`
    /// events together, but always the oldest entry when there is one (even a larger
    /// one). The recorder replays them as one append, so that an outage spooled as many
    /// small batches is not replayed one round-trip per batch.
    ///
    /// The default reads [`front`](Self::front) alone; implementations that can read
    /// several entries at once should.
    ///
    /// # Errors
    /// When the spool cannot be read.
    async fn front_many(&self, max_events: usize) -> Result<Vec<SpoolEntry>> {
        let _ = max_events;
        Ok(self.front().await?.into_iter().collect())
    }

    /// Removes entry `id` (replayed).
    ///
    /// # Errors
    /// When the spool cannot be written.
    async fn remove(&self, id: u64) -> Result<()>;

    /// Removes entries `ids` (replayed together). The default removes them one by one;
    /// implementations should remove them in one durable write.
    ///
    /// # Errors
    /// When the spool cannot be written (entries removed before the error stay removed;
    /// the recorder appends the rest again, which its store skips by id).
    async fn remove_many(&self, ids: &[u64]) -> Result<()> {
        for id in ids {
            self.remove(*id).await?;
        }
        Ok(())
    }

    /// What the spool holds.
    ///
    /// # Errors
    /// When the spool cannot be read.
    async fn status(&self) -> Result<SpoolStatus>;
}

#[cfg(test)]
mod tests;
