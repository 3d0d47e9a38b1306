//! The recorder: the non-blocking handle that apps and the tower layer call, and its
//! background writer.
//!
//! `record(event)` validates the event and puts it on a bounded queue: no I/O, no
//! awaiting, no lock held across anything slow. A worker task takes events off the queue
//! in batches (up to `batch_size`, waiting at most `linger` for a batch to fill), runs the
//! [pipeline](crate::recorder) and writes each batch with one [`ActivityStore::append`].
//!
//! Nothing is lost by default: when the store fails with a retryable error the batch is
//! kept and retried with backoff, in order, and written exactly once when the store
//! recovers (appends are idempotent). Meanwhile the queue fills and `record` returns
//! [`Error::QueueFull`] to the caller (or waits, or drops with a counter, as configured).
//! The log records its own life: `audit.started`, `audit.stopped`, `audit.failed` when the
//! store starts failing, `audit.recovered` with the outage's length and the number of
//! events held back.

mod append;
mod builder;
mod config;
mod metrics;
#[cfg(feature = "metrics")]
mod publish;
mod spooling;
mod stage;
mod worker;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

pub use builder::RecorderBuilder;
pub use config::{Backoff, OutageNotice, OutagePolicy, Overflow};
pub use metrics::{Health, Metrics};
pub use stage::{AfterCommit, Enricher, Sealer};

use crate::clock::{Clock, SystemClock};
use crate::error::{Error, Result};
use crate::event::ActivityEvent;
use crate::lockout::LockoutCheck;
use crate::store::ActivityStore;
use config::Config;
use metrics::Counters;

// Events travel unboxed: boxing would cost an allocation per `record` on the request path.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Msg {
    Event(ActivityEvent),
    /// An event whose caller waits until it is durable.
    Durable(ActivityEvent, oneshot::Sender<Result<()>>),
    Flush(oneshot::Sender<()>),
    Shutdown,
}

struct Shared {
    tx: mpsc::Sender<Msg>,
    counters: Counters,
    config: Config,
    clock: Arc<dyn Clock>,
    /// The lockout registered with [`RecorderBuilder::lockout`], for the HTTP layer.
    lockout: Option<Arc<dyn LockoutCheck>>,
    /// Wakes the worker from a backoff sleep on shutdown.
    wake: Arc<tokio::sync::Notify>,
}

/// The handle that records events. Cheap to clone; every clone feeds the same worker.
///
/// ```
/// use std::sync::Arc;
/// use activity_core::{ActivityEvent, ActivityQuery, ActivityStore, Actor, MemoryStore, Recorder};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let store = Arc::new(MemoryStore::new());
/// let (recorder, guard) = Recorder::builder(store.clone()).start();
///
/// recorder.record(ActivityEvent::login_succeeded(Actor::user("u_1"))).unwrap();
///
/// let report = guard.shutdown().await;
/// assert!(report.unwritten.is_empty());
/// // audit.started, the login, audit.stopped
/// assert_eq!(store.count(&ActivityQuery::new()).await.unwrap(), 3);
/// # });
/// ```
#[derive(Clone)]
pub struct Recorder {
    shared: Arc<Shared>,
}

/// A [`Recorder`] that does not keep it alive: for a stage the recorder holds (the
/// lockout policy), which would otherwise keep the recorder, and through it the store and
/// its connections, alive in a cycle after shutdown.
#[derive(Clone)]
pub(crate) struct WeakRecorder(std::sync::Weak<Shared>);

impl WeakRecorder {
    /// The recorder, while anything else still holds it.
    pub(crate) fn upgrade(&self) -> Option<Recorder> {
        self.0.upgrade().map(|shared| Recorder { shared })
    }
}

impl Recorder {
    /// A handle that does not keep this recorder alive.
    pub(crate) fn downgrade(&self) -> WeakRecorder {
        WeakRecorder(Arc::downgrade(&self.shared))
    }
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("writer", &self.shared.config.writer)
            .field("metrics", &self.metrics())
            .finish()
    }
}

impl Recorder {
    /// The lockout check registered with [`RecorderBuilder::lockout`], if any: the HTTP
    /// layer asks it before a login is attempted.
    pub fn lockout_check(&self) -> Option<Arc<dyn LockoutCheck>> {
        self.shared.lockout.clone()
    }

    /// A builder writing into `store`.
    pub fn builder(store: Arc<dyn ActivityStore>) -> RecorderBuilder {
        RecorderBuilder {
            store,
            config: Config::default(),
            clock: Arc::new(SystemClock),
            enrichers: Vec::new(),
            sealer: None,
            after_commit: Vec::new(),
            lockout: None,
            spool: None,
        }
    }

    /// Queues `event` for writing. Never awaits and never blocks.
    ///
    /// # Errors
    /// - [`Error::Invalid`] when the event breaks a rule of the schema;
    /// - [`Error::QueueFull`] when the queue is full (under [`Overflow::Reject`] or `Wait`);
    /// - [`Error::FailClosed`] while the store is down under [`OutagePolicy::FailClosed`];
    /// - [`Error::Closed`] after shutdown;
    /// - [`Error::Invalid`] with [`Rule::Reserved`](crate::Rule::Reserved) for an action
    ///   the SDK reserves for its own evidence ([`chain::check_recordable`](crate::chain::check_recordable)).
    pub fn record(&self, event: ActivityEvent) -> Result<()> {
        crate::chain::check_recordable(&event).or_else(|e| self.refuse(e))?;
        self.record_reserved(event)
    }

    /// [`record`](Self::record) for the SDK's own components, which write the reserved
    /// actions (`audit.*`, `lockout.*`, `alert.raised`). Not for application events: what
    /// goes through here is still never retention evidence unless the
    /// [`Purger`](crate::retention::Purger) authenticated it.
    ///
    /// # Errors
    /// As [`record`](Self::record), but for the reserved rule.
    pub fn record_reserved(&self, mut event: ActivityEvent) -> Result<()> {
        self.admit(&mut event)?;
        match self.shared.tx.try_send(Msg::Event(event)) {
            Ok(()) => {
                Counters::add(&self.shared.counters.accepted, 1);
                Ok(())
            }
            Err(mpsc::error::TrySendError::Full(_)) => self.full(),
            Err(mpsc::error::TrySendError::Closed(_)) => self.refuse(Error::Closed),
        }
    }

    /// Like [`record`](Self::record), but under [`Overflow::Wait`] waits for room in the
    /// queue for up to the configured time.
    ///
    /// # Errors
    /// As [`record`](Self::record).
    pub async fn record_async(&self, mut event: ActivityEvent) -> Result<()> {
        crate::chain::check_recordable(&event).or_else(|e| self.refuse(e))?;
        let Overflow::Wait(timeout) = self.shared.config.overflow else {
            return self.record(event);
        };
        self.admit(&mut event)?;
        let msg = match self.shared.tx.try_send(Msg::Event(event)) {
            Ok(()) => {
                Counters::add(&self.shared.counters.accepted, 1);
                return Ok(());
            }
            Err(mpsc::error::TrySendError::Closed(_)) => return self.refuse(Error::Closed),
            Err(mpsc::error::TrySendError::Full(msg)) => msg,
        };
        match tokio::time::timeout(timeout, self.shared.tx.send(msg)).await {
            Ok(Ok(())) => {
                Counters::add(&self.shared.counters.accepted, 1);
                Ok(())
            }
            Ok(Err(_)) => self.refuse(Error::Closed),
            Err(_) => self.refuse(Error::QueueFull {
                capacity: self.shared.config.capacity,
            }),
        }
    }

    fn admit(&self, event: &mut ActivityEvent) -> Result<()> {
        let counters = &self.shared.counters;
        if counters.stopped.load(Ordering::Acquire) {
            return self.refuse(Error::Closed);
        }
        if self.shared.config.outage == OutagePolicy::FailClosed
            && counters.outage.load(Ordering::Acquire)
        {
            return self.refuse(Error::FailClosed);
        }
        event.normalize();
        event.validate()
    }

    fn full(&self) -> Result<()> {
        match self.shared.config.overflow {
            Overflow::Drop => {
                Counters::add(&self.shared.counters.dropped, 1);
                tracing::warn!("activity recorder queue full: event dropped (Overflow::Drop)");
                Ok(())
            }
            Overflow::Reject | Overflow::Wait(_) => self.refuse(Error::QueueFull {
                capacity: self.shared.config.capacity,
            }),
        }
    }

    fn refuse(&self, error: Error) -> Result<()> {
        Counters::add(&self.shared.counters.refused, 1);
        Err(error)
    }

    /// Queues `event` and waits until it is durable: committed to the store, in the same
    /// transaction as the events queued with it (group commit: concurrent callers share
    /// one batch, so the wait is about one batch's write, not one transaction each).
    ///
    /// While the store is down this waits for it to recover (the event is kept and
    /// retried); wrap the call in a timeout (as the tower layer's
    /// [`Ack::Durable`](https://docs.rs/activity-tower) does) to answer the client in time.
    /// When the timeout fires the event is still queued and is written when it can be:
    /// what the caller does not have is the promise that it already is.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use activity_core::{ActivityEvent, ActivityQuery, ActivityStore, Actor, MemoryStore, Recorder};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let store = Arc::new(MemoryStore::new());
    /// let (recorder, guard) = Recorder::builder(store.clone()).lifecycle_events(false).start();
    /// let login = ActivityEvent::login_succeeded(Actor::user("u_1"));
    /// recorder.record_durable(login).await.unwrap();
    /// // Stored before `record_durable` returned: no flush needed.
    /// assert_eq!(store.count(&ActivityQuery::new()).await.unwrap(), 1);
    /// guard.shutdown().await;
    /// # });
    /// ```
    ///
    /// # Errors
    /// As [`record`](Self::record) (a full queue is always [`Error::QueueFull`], even under
    /// [`Overflow::Drop`]: a dropped event is never durable); [`Error::Rejected`] when the
    /// store refused this event for its content; [`Error::Closed`] when the recorder shut
    /// down before the event was stored (it is then in the shutdown report's `unwritten`).
    pub async fn record_durable(&self, event: ActivityEvent) -> Result<()> {
        crate::chain::check_recordable(&event).or_else(|e| self.refuse(e))?;
        self.record_reserved_durable(event).await
    }

    /// [`record_durable`](Self::record_durable) for the SDK's own components, which write
    /// the reserved actions (as [`record_reserved`](Self::record_reserved)).
    ///
    /// # Errors
    /// As [`record_durable`](Self::record_durable), but for the reserved rule.
    pub async fn record_reserved_durable(&self, mut event: ActivityEvent) -> Result<()> {
        self.admit(&mut event)?;
        let (tx, rx) = oneshot::channel();
        match self.shared.tx.try_send(Msg::Durable(event, tx)) {
            Ok(()) => Counters::add(&self.shared.counters.accepted, 1),
            Err(mpsc::error::TrySendError::Full(_)) => {
                return self.refuse(Error::QueueFull {
                    capacity: self.shared.config.capacity,
                })
            }
            Err(mpsc::error::TrySendError::Closed(_)) => return self.refuse(Error::Closed),
        }
        rx.await.map_err(|_| Error::Closed)?
    }

    /// Waits until every event recorded before this call is written.
    ///
    /// While the store is down this waits for it to recover; wrap it in a timeout if that
    /// matters.
    ///
    /// # Errors
    /// [`Error::Closed`] when the recorder has shut down.
    pub async fn flush(&self) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        self.shared
            .tx
            .send(Msg::Flush(tx))
            .await
            .map_err(|_| Error::Closed)?;
        rx.await.map_err(|_| Error::Closed)
    }

    /// A snapshot of the counters.
    pub fn metrics(&self) -> Metrics {
        let c = &self.shared.counters;
        let tx = &self.shared.tx;
        Metrics {
            queued: (tx.max_capacity() - tx.capacity()) as u64,
            accepted: Counters::get(&c.accepted),
            written: Counters::get(&c.written),
            retried: Counters::get(&c.retried),
            dropped: Counters::get(&c.dropped),
            refused: Counters::get(&c.refused),
            rejected: Counters::get(&c.rejected),
            panicked: Counters::get(&c.panicked),
            last_error: c.state().last_error.clone(),
            spooled: Counters::get(&c.spooled),
            replayed: Counters::get(&c.replayed),
            spool_events: Counters::get(&c.spool_events),
            spool_bytes: Counters::get(&c.spool_bytes),
        }
    }

    /// Whether the store is writable, failing, or the recorder has stopped.
    pub fn health(&self) -> Health {
        let c = &self.shared.counters;
        if c.stopped.load(Ordering::Acquire) && !c.dead.load(Ordering::Acquire) {
            return Health::Stopped;
        }
        if c.outage.load(Ordering::Acquire) {
            let state = c.state();
            if let Some(stage) = state.failed_stage {
                return Health::Failed {
                    stage,
                    since: state
                        .outage_since
                        .unwrap_or_else(|| self.shared.clock.now()),
                    error: state.last_error.clone().unwrap_or_default(),
                };
            }
            return Health::Degraded {
                since: state
                    .outage_since
                    .unwrap_or_else(|| self.shared.clock.now()),
                error: state.last_error.clone().unwrap_or_default(),
            };
        }
        if c.spooling.load(Ordering::Acquire) {
            let state = c.state();
            return Health::Spooling {
                since: state.outage_since,
                events: Counters::get(&c.spool_events),
                error: state.last_error.clone().unwrap_or_default(),
            };
        }
        Health::Healthy
    }

    /// Whether `record` currently accepts events: false after shutdown, and while the
    /// store is down under [`OutagePolicy::FailClosed`]. The tower layer asks this before
    /// letting an authentication request through.
    pub fn is_accepting(&self) -> bool {
        let c = &self.shared.counters;
        let closed = self.shared.config.outage == OutagePolicy::FailClosed
            && c.outage.load(Ordering::Acquire);
        !(c.stopped.load(Ordering::Acquire) || c.dead.load(Ordering::Acquire) || closed)
    }

    /// This recorder's writer id.
    pub fn writer_id(&self) -> &str {
        &self.shared.config.writer
    }

    /// The recorder's clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.shared.clock
    }
}

/// What [`RecorderGuard::shutdown`] did.
///
/// ```
/// use std::sync::Arc;
/// use activity_core::{ActivityEvent, Actor, MemoryStore, Recorder};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let (recorder, guard) = Recorder::builder(Arc::new(MemoryStore::new())).start();
/// recorder.record(ActivityEvent::logout(Actor::user("u_1"))).unwrap();
/// let report = guard.shutdown().await;
/// assert!(report.unwritten.is_empty(), "a clean shutdown");
/// assert_eq!(report.metrics.accepted, 1);
/// assert_eq!(report.metrics.written, 3, "audit.started, the logout, audit.stopped");
/// # });
/// ```
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// The final counters.
    pub metrics: Metrics,
    /// Events that could not be written before the shutdown timeout because the store
    /// kept failing. Empty on a clean shutdown; otherwise save them somewhere (they are
    /// valid schema v1 events, e.g. for `activity ingest`).
    pub unwritten: Vec<ActivityEvent>,
    /// Set when the worker itself died of a panic outside the stages it guards: then
    /// the events it held are gone from memory and `unwritten` cannot list them; this
    /// says so instead of reporting a clean shutdown.
    pub worker_panicked: Option<String>,
    /// Events left in the [spool](crate::spool) because the store was still down: they
    /// are durable and replayed on the next start with the same spool (or by
    /// `activity spool replay`).
    pub spooled: u64,
}

/// Keeps the worker alive; shut it down with [`shutdown`](Self::shutdown) to write
/// everything queued and record `audit.stopped`.
///
/// Dropping the guard without calling `shutdown` still asks the worker to drain: on a
/// multi-threaded runtime the drop waits for it (up to the shutdown timeout), as
/// tracing-appender's `WorkerGuard` does; on a current-thread runtime it cannot wait, so
/// it logs a warning and the worker drains only as long as the runtime keeps running.
///
/// ```
/// use std::sync::Arc;
/// use activity_core::{ActivityEvent, ActivityQuery, ActivityStore, Actor, Error, MemoryStore, Recorder};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let store = Arc::new(MemoryStore::new());
/// let (recorder, guard) = Recorder::builder(store.clone()).start();
/// guard.recorder().record(ActivityEvent::logout(Actor::user("u_1"))).unwrap();
/// guard.shutdown().await; // before the process exits
/// assert_eq!(store.count(&ActivityQuery::new().action("audit.stopped")).await.unwrap(), 1);
/// let late = recorder.record(ActivityEvent::logout(Actor::user("u_2")));
/// assert!(matches!(late, Err(Error::Closed)));
/// # });
/// ```
#[must_use = "dropping the guard shuts the recorder down; keep it until the app exits"]
pub struct RecorderGuard {
    recorder: Recorder,
    handle: Option<JoinHandle<Vec<ActivityEvent>>>,
}

impl std::fmt::Debug for RecorderGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecorderGuard").finish_non_exhaustive()
    }
}

impl RecorderGuard {
    /// A handle to the recorder this guard keeps.
    pub fn recorder(&self) -> &Recorder {
        &self.recorder
    }

    /// Stops accepting events, writes everything queued, records `audit.stopped`, and
    /// reports what happened.
    pub async fn shutdown(mut self) -> ShutdownReport {
        let mut worker_panicked = None;
        let unwritten = match self.handle.take() {
            Some(handle) => {
                self.signal();
                match handle.await {
                    Ok(unwritten) => unwritten,
                    Err(e) => {
                        let text = if e.is_panic() {
                            worker::panic_text(&*e.into_panic())
                        } else {
                            e.to_string()
                        };
                        tracing::error!(error = %text, "activity recorder's worker died; events it held are lost");
                        worker_panicked = Some(text);
                        Vec::new()
                    }
                }
            }
            None => Vec::new(),
        };
        let metrics = self.recorder.metrics();
        ShutdownReport {
            spooled: metrics.spool_events,
            metrics,
            unwritten,
            worker_panicked,
        }
    }

    fn signal(&self) {
        let shared = &self.recorder.shared;
        shared.counters.stopped.store(true, Ordering::Release);
        // The worker also notices a stop without the message (the queue may be full);
        // the message just wakes it up.
        let _ = shared.tx.try_send(Msg::Shutdown);
        shared.wake.notify_one();
    }
}

impl Drop for RecorderGuard {
    fn drop(&mut self) {
        let Some(handle) = self.handle.take() else {
            return;
        };
        self.signal();
        match tokio::runtime::Handle::try_current() {
            Ok(rt) if rt.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                let timeout = self.recorder.shared.config.shutdown_timeout + Duration::from_secs(1);
                let unwritten = tokio::task::block_in_place(|| {
                    rt.block_on(async { tokio::time::timeout(timeout, handle).await })
                });
                if let Ok(Ok(unwritten)) = unwritten {
                    if !unwritten.is_empty() {
                        tracing::error!(
                            count = unwritten.len(),
                            "activity recorder dropped without shutdown(): events could not be written"
                        );
                    }
                }
            }
            _ => tracing::warn!(
                "activity RecorderGuard dropped without shutdown().await; queued events are written only while the runtime keeps running"
            ),
        }
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod fault_tests;

#[cfg(test)]
mod spool_tests;
