//! Recorder settings.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::error::Error;
use crate::event::ActivityEvent;

/// What [`Recorder::record`](super::Recorder::record) does when the queue is full.
///
/// The default, [`Reject`](Overflow::Reject), hands the caller an error so that nothing
/// is lost without someone knowing.
///
/// ```
/// use std::sync::Arc;
/// use activity_core::{ActivityEvent, ActivityQuery, ActivityStore, Actor, MemoryStore, recorder::Overflow, Recorder};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let store = Arc::new(MemoryStore::new());
/// let (recorder, guard) = Recorder::builder(store.clone())
///     .capacity(1)
///     .overflow(Overflow::Drop)
///     .lifecycle_events(false)
///     .start();
/// // The worker has not run yet: the first event fills the queue, the second is dropped.
/// recorder.record(ActivityEvent::logout(Actor::user("u_1"))).unwrap();
/// recorder.record(ActivityEvent::logout(Actor::user("u_2"))).unwrap();
/// assert_eq!(recorder.metrics().dropped, 1);
/// guard.shutdown().await;
/// let failed = store.query(&ActivityQuery::new().action("audit.failed")).await.unwrap();
/// assert_eq!(failed.events[0].reason.as_deref(), Some("queue_overflow"));
/// # });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Overflow {
    /// Return [`Error::QueueFull`]; the caller decides (the default).
    #[default]
    Reject,
    /// [`record_async`](super::Recorder::record_async) waits up to this long for room,
    /// then returns [`Error::QueueFull`]; the synchronous `record` behaves as `Reject`.
    Wait(Duration),
    /// Accept and discard the event, counting it in [`Metrics::dropped`](super::Metrics::dropped);
    /// the worker then records an `audit.failed` event (reason `queue_overflow`) with the count.
    Drop,
}

/// What the recorder does while its store is failing.
///
/// ```
/// use std::sync::Arc;
/// use activity_core::{ActivityEvent, Actor, Error, recorder::OutageNotice, recorder::OutagePolicy, Recorder};
/// # use activity_core::{reexports::async_trait, ActivityQuery, ActivityStore, query::DeleteRequest, Page, Result};
/// # struct Down;
/// # #[async_trait]
/// # impl ActivityStore for Down {
/// #     async fn append(&self, _: &[ActivityEvent]) -> Result<u64> { Err(Error::unavailable("connection refused", None)) }
/// #     async fn query(&self, _: &ActivityQuery) -> Result<Page> { Ok(Page::default()) }
/// #     async fn count(&self, _: &ActivityQuery) -> Result<u64> { Ok(0) }
/// #     async fn delete(&self, _: &DeleteRequest) -> Result<u64> { Ok(0) }
/// #     async fn tenants(&self) -> Result<Vec<Option<String>>> { Ok(Vec::new()) }
/// # }
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let store = Arc::new(Down); // its database is unreachable
/// let (tx, mut notices) = tokio::sync::mpsc::unbounded_channel();
/// let (recorder, guard) = Recorder::builder(store)
///     .outage_policy(OutagePolicy::FailClosed)
///     .on_outage(move |n: &OutageNotice| {
///         let _ = tx.send(n.clone());
///     })
///     .shutdown_timeout(std::time::Duration::ZERO)
///     .start();
/// assert!(recorder.is_accepting());
/// notices.recv().await.unwrap(); // the first append (of `audit.started`) failed
/// assert!(!recorder.is_accepting());
/// let refused = recorder.record(ActivityEvent::login_succeeded(Actor::user("u_1")));
/// assert!(matches!(refused, Err(Error::FailClosed)));
/// let report = guard.shutdown().await; // shutdown_timeout 0: stops at the next failed retry
/// assert!(!report.unwritten.is_empty(), "handed back, not lost");
/// # });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutagePolicy {
    /// Keep accepting events into the queue and retry the store (the default). When the
    /// queue fills up, the [`Overflow`] policy applies.
    #[default]
    KeepAccepting,
    /// Refuse new events with [`Error::FailClosed`] while the store is failing, and report
    /// it through [`Recorder::health`](super::Recorder::health), so that the tower layer
    /// can refuse authentication requests that could not be audited. Events already
    /// queued are still retried and written.
    FailClosed,
}

/// How failed appends are retried: exponential backoff from `initial` to `max`.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use activity_core::{recorder::Backoff, MemoryStore, Recorder};
/// let backoff = Backoff { initial: Duration::from_millis(100), max: Duration::from_secs(1) };
/// assert_eq!(backoff.delay(1), Duration::from_millis(100));
/// assert_eq!(backoff.delay(3), Duration::from_millis(400), "doubling");
/// assert_eq!(backoff.delay(10), Duration::from_secs(1), "capped");
/// assert_eq!(Backoff::default().delay(1), Duration::from_millis(50));
/// let builder = Recorder::builder(Arc::new(MemoryStore::new())).backoff(backoff);
/// # drop(builder);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// First wait.
    pub initial: Duration,
    /// Longest wait.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(50),
            max: Duration::from_secs(10),
        }
    }
}

impl Backoff {
    /// The wait before retry number `attempt` (from 1).
    pub fn delay(&self, attempt: u32) -> Duration {
        let factor = 1u32
            .checked_shl(attempt.saturating_sub(1).min(20))
            .unwrap_or(u32::MAX);
        self.initial.saturating_mul(factor).min(self.max)
    }
}

/// A change in the store's health, passed to the outage callback.
///
/// ```
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use std::sync::Arc;
/// use activity_core::{ActivityEvent, Actor, MemoryStore, recorder::OutageNotice, Recorder};
/// # use activity_core::{reexports::async_trait, ActivityQuery, ActivityStore, query::DeleteRequest, Error, Page, Result};
/// # #[derive(Default)]
/// # struct Flaky { down: AtomicBool, inner: MemoryStore }
/// # #[async_trait]
/// # impl ActivityStore for Flaky {
/// #     async fn append(&self, e: &[ActivityEvent]) -> Result<u64> {
/// #         if self.down.load(Ordering::SeqCst) {
/// #             return Err(Error::unavailable("connection refused", None));
/// #         }
/// #         self.inner.append(e).await
/// #     }
/// #     async fn query(&self, q: &ActivityQuery) -> Result<Page> { self.inner.query(q).await }
/// #     async fn count(&self, q: &ActivityQuery) -> Result<u64> { self.inner.count(q).await }
/// #     async fn delete(&self, r: &DeleteRequest) -> Result<u64> { self.inner.delete(r).await }
/// #     async fn tenants(&self) -> Result<Vec<Option<String>>> { self.inner.tenants().await }
/// # }
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let store = Arc::new(Flaky::default()); // a store whose database can go away
/// store.down.store(true, Ordering::SeqCst);
/// let (tx, mut notices) = tokio::sync::mpsc::unbounded_channel();
/// let (recorder, guard) = Recorder::builder(store.clone())
///     .on_outage(move |n: &OutageNotice| {
///         let _ = tx.send(n.clone());
///     })
///     .start();
/// recorder.record(ActivityEvent::login_succeeded(Actor::user("u_1"))).unwrap();
/// let failed = notices.recv().await.unwrap();
/// assert!(matches!(failed, OutageNotice::Failed { ref error, .. } if error.contains("connection refused")));
/// store.down.store(false, Ordering::SeqCst); // the database is back
/// recorder.flush().await.unwrap(); // the held events are written, in order
/// let recovered = notices.recv().await.unwrap();
/// assert!(matches!(recovered, OutageNotice::Recovered { held_back, .. } if held_back >= 1));
/// guard.shutdown().await;
/// # });
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum OutageNotice {
    /// Appends started failing.
    Failed {
        /// When the first failure happened.
        since: DateTime<Utc>,
        /// The error, as text.
        error: String,
    },
    /// Appends work again.
    Recovered {
        /// When the outage began.
        since: DateTime<Utc>,
        /// How long it lasted.
        duration: chrono::Duration,
        /// How many events were held back and then written.
        held_back: u64,
    },
}

pub(crate) type OutageCallback = Arc<dyn Fn(&OutageNotice) + Send + Sync>;
pub(crate) type RejectCallback = Arc<dyn Fn(&ActivityEvent, &Error) + Send + Sync>;

/// Settings of a [`Recorder`](super::Recorder); set through its builder.
#[derive(Clone)]
pub(crate) struct Config {
    pub capacity: usize,
    pub batch_size: usize,
    pub max_in_flight: usize,
    pub linger: Duration,
    pub overflow: Overflow,
    pub outage: OutagePolicy,
    pub backoff: Backoff,
    pub shutdown_timeout: Duration,
    pub writer: String,
    pub on_outage: Option<OutageCallback>,
    pub on_reject: Option<RejectCallback>,
    pub lifecycle_events: bool,
    /// How long a spool replay waits for the store before trying again later.
    pub spool_timeout: Duration,
    /// How long one append may take before it counts as an outage.
    pub append_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            capacity: 65_536,
            batch_size: 512,
            max_in_flight: 1,
            linger: Duration::from_millis(2),
            overflow: Overflow::Reject,
            outage: OutagePolicy::KeepAccepting,
            backoff: Backoff::default(),
            shutdown_timeout: Duration::from_secs(30),
            writer: uuid::Uuid::now_v7().to_string(),
            on_outage: None,
            on_reject: None,
            lifecycle_events: true,
            spool_timeout: Duration::from_secs(2),
            append_timeout: Duration::from_secs(2),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let b = Backoff {
            initial: Duration::from_millis(10),
            max: Duration::from_millis(100),
        };
        assert_eq!(b.delay(1), Duration::from_millis(10));
        assert_eq!(b.delay(2), Duration::from_millis(20));
        assert_eq!(b.delay(4), Duration::from_millis(80));
        assert_eq!(b.delay(5), Duration::from_millis(100));
        assert_eq!(b.delay(u32::MAX), Duration::from_millis(100));
    }
}
