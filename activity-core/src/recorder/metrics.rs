//! Counters a recorder keeps, and its health.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use chrono::{DateTime, Utc};

/// A snapshot of a recorder's counters.
///
/// ```
/// use std::sync::Arc;
/// use activity_core::{ActivityEvent, Actor, MemoryStore, Recorder};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let (recorder, guard) = Recorder::builder(Arc::new(MemoryStore::new()))
///     .lifecycle_events(false)
///     .start();
/// recorder.record(ActivityEvent::logout(Actor::user("u_1"))).unwrap();
/// recorder.flush().await.unwrap();
/// let m = recorder.metrics();
/// assert_eq!((m.accepted, m.written, m.queued, m.refused), (1, 1, 0, 0));
/// assert_eq!(m.last_error, None);
/// guard.shutdown().await;
/// # });
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Metrics {
    /// Events waiting in the queue right now.
    pub queued: u64,
    /// Events accepted by `record` since start.
    pub accepted: u64,
    /// Events written to the store since start (lifecycle and alert events included).
    pub written: u64,
    /// Append attempts that failed and were retried.
    pub retried: u64,
    /// Events discarded under [`Overflow::Drop`](super::Overflow::Drop).
    pub dropped: u64,
    /// Events refused by `record` (queue full, fail-closed, shut down).
    pub refused: u64,
    /// Events the store rejected as invalid (handed to the reject callback).
    pub rejected: u64,
    /// Stage calls that panicked and were skipped after their retries (each recorded as
    /// `audit.failed`, reason `stage_panicked`).
    pub panicked: u64,
    /// The last store error, as text.
    pub last_error: Option<String>,
    /// Events written to the [spool](crate::spool) since start (while the store was down).
    pub spooled: u64,
    /// Spooled events replayed into the store since start (an earlier run's included).
    pub replayed: u64,
    /// Events in the spool now.
    pub spool_events: u64,
    /// Bytes the spool holds now.
    pub spool_bytes: u64,
}

/// Whether the recorder can currently write.
///
/// [`Degraded`](Health::Degraded) lasts from the store's first failed append until one
/// succeeds again (see [`OutageNotice`](super::OutageNotice) for watching that happen).
///
/// ```
/// use std::sync::Arc;
/// use activity_core::{recorder::Health, MemoryStore, Recorder};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let (recorder, guard) = Recorder::builder(Arc::new(MemoryStore::new())).start();
/// assert!(recorder.health().is_healthy());
/// guard.shutdown().await;
/// assert_eq!(recorder.health(), Health::Stopped);
/// # });
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Health {
    /// Writing normally.
    Healthy,
    /// The store is failing since `since`; events are held and retried.
    Degraded {
        /// When the outage began.
        since: DateTime<Utc>,
        /// The last error, as text.
        error: String,
    },
    /// The store is failing since `since` and batches go to the [spool](crate::spool):
    /// events are durable and accepted (no fail-closed), and replayed when the store
    /// answers. Also reported while an earlier run's spool is replayed at start.
    Spooling {
        /// When the outage began (`None`: replaying what an earlier run spooled).
        since: Option<DateTime<Utc>>,
        /// Events in the spool.
        events: u64,
        /// The last error, as text.
        error: String,
    },
    /// The recorder has shut down.
    Stopped,
    /// A stage of the pipeline (`enricher`, `sealer`, `store`, `after_commit`, or the
    /// `worker` itself) panicked since `since`: the batch is kept and retried, and
    /// fail-closed is engaged, as in an outage.
    Failed {
        /// The stage that panicked.
        stage: &'static str,
        /// When it first failed.
        since: DateTime<Utc>,
        /// The panic, as text.
        error: String,
    },
}

impl Health {
    /// Whether this is [`Health::Healthy`].
    pub fn is_healthy(&self) -> bool {
        matches!(self, Health::Healthy)
    }
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub accepted: AtomicU64,
    pub written: AtomicU64,
    pub retried: AtomicU64,
    pub dropped: AtomicU64,
    pub refused: AtomicU64,
    pub rejected: AtomicU64,
    pub panicked: AtomicU64,
    pub outage: AtomicBool,
    /// Batches go to the spool (the store is down, or an earlier run's spool is replayed).
    pub spooling: AtomicBool,
    pub spooled: AtomicU64,
    pub replayed: AtomicU64,
    pub spool_events: AtomicU64,
    pub spool_bytes: AtomicU64,
    pub stopped: AtomicBool,
    /// The worker task died.
    pub dead: AtomicBool,
    pub state: Mutex<State>,
}

#[derive(Debug, Default)]
pub(crate) struct State {
    pub last_error: Option<String>,
    pub outage_since: Option<DateTime<Utc>>,
    /// The stage whose panic is the current outage (`None`: the store's own failure).
    pub failed_stage: Option<&'static str>,
}

impl Counters {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    pub fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}
