//! [`RecorderBuilder`]: the recorder's settings and stages, and `start`.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::config::{Backoff, Config, OutageNotice, OutagePolicy, Overflow};
use super::metrics::Counters;
use super::{worker, AfterCommit, Enricher, Recorder, RecorderGuard, Sealer, Shared};
use crate::clock::Clock;
use crate::error::Error;
use crate::event::ActivityEvent;
use crate::lockout::LockoutCheck;
use crate::spool::Spool;
use crate::store::ActivityStore;

/// Builds and starts a [`Recorder`].
///
/// ```
/// use std::sync::Arc;
/// use activity_core::{ActivityQuery, ActivityStore, ManualClock, MemoryStore, Recorder};
/// use chrono::{TimeZone, Utc};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let store = Arc::new(MemoryStore::new());
/// let now = Utc.with_ymd_and_hms(2026, 11, 24, 6, 0, 0).unwrap();
/// let (recorder, guard) = Recorder::builder(store.clone())
///     .capacity(10_000)
///     .batch_size(256)
///     .writer_id("web-1")
///     .clock(ManualClock::new(now))
///     .start();
/// assert_eq!(recorder.writer_id(), "web-1");
/// recorder.flush().await.unwrap();
/// let started = store.query(&ActivityQuery::new().action("audit.started")).await.unwrap();
/// assert_eq!(started.events[0].time, now, "stamped by the injected clock");
/// guard.shutdown().await;
/// # });
/// ```
#[must_use = "call .start() to get a recorder"]
pub struct RecorderBuilder {
    pub(super) store: Arc<dyn ActivityStore>,
    pub(super) config: Config,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) enrichers: Vec<Arc<dyn Enricher>>,
    pub(super) sealer: Option<Box<dyn Sealer>>,
    pub(super) after_commit: Vec<Arc<dyn AfterCommit>>,
    pub(super) lockout: Option<Arc<dyn LockoutCheck>>,
    pub(super) spool: Option<Arc<dyn Spool>>,
}

impl RecorderBuilder {
    /// Queue capacity in events (default 65,536).
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.config.capacity = capacity.max(1);
        self
    }

    /// Largest batch written with one append (default 512).
    pub fn batch_size(mut self, batch_size: usize) -> Self {
        self.config.batch_size = batch_size.max(1);
        self
    }

    /// How many appends of one batch may be in flight at once (default 1: the whole batch
    /// in one [`ActivityStore::append_sealed`], one transaction).
    ///
    /// With `n > 1` the worker splits each batch by tenant into up to `n` parts and
    /// appends them concurrently, each in its own transaction (on its own connection of a
    /// pooled store): a server that maintains the indexes of one transaction on one core
    /// can then use several. Every integrity chain (one per tenant and writer) lies in one
    /// part, which carries that chain's head, so each chain's events and head still
    /// commit together and in order; batches still follow one another, so
    /// [`Recorder::flush`] still means everything recorded before it is stored, and the
    /// after-commit stages (alerts) still see the whole batch, in its order, once it is
    /// stored. A part that fails goes through the usual path (retries with backoff,
    /// isolation of a rejected event) while the parts that committed stay committed; a
    /// batch whose events all belong to one tenant is not split. While the store is
    /// failing, batches are not split. Give the store's pool at least `n` connections.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use activity_core::{ActivityEvent, ActivityQuery, ActivityStore, Actor, MemoryStore, Recorder};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let store = Arc::new(MemoryStore::new());
    /// let (recorder, guard) = Recorder::builder(store.clone())
    ///     .lifecycle_events(false)
    ///     .max_in_flight(2)
    ///     .start();
    /// for tenant in ["acme", "globex"] {
    ///     recorder
    ///         .record(ActivityEvent::login_succeeded(Actor::user("u_1")).with_tenant(tenant))
    ///         .unwrap();
    /// }
    /// recorder.flush().await.unwrap();
    /// assert_eq!(store.count(&ActivityQuery::new()).await.unwrap(), 2);
    /// guard.shutdown().await;
    /// # });
    /// ```
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.config.max_in_flight = n.max(1);
        self
    }

    /// How long the worker waits for a batch to fill once it has one event (default 2 ms).
    pub fn linger(mut self, linger: Duration) -> Self {
        self.config.linger = linger;
        self
    }

    /// What `record` does when the queue is full (default [`Overflow::Reject`]).
    pub fn overflow(mut self, overflow: Overflow) -> Self {
        self.config.overflow = overflow;
        self
    }

    /// What `record` does while the store is failing (default [`OutagePolicy::KeepAccepting`]).
    pub fn outage_policy(mut self, policy: OutagePolicy) -> Self {
        self.config.outage = policy;
        self
    }

    /// Retry backoff for a failing store.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.config.backoff = backoff;
        self
    }

    /// Spools batches to `spool` while the store is down (see [`crate::spool`]): events
    /// stay durable through an outage and a crash during it, `record_durable` answers as
    /// soon as a batch is spooled, fail-closed engages only when the spool refuses a batch
    /// (full, or failing), and the spool is replayed in order when the store answers and
    /// on the next start. Give every run the same spool (a file path that persists).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use activity_core::spool::MemorySpool;
    /// use activity_core::{MemoryStore, Recorder};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let (recorder, guard) = Recorder::builder(Arc::new(MemoryStore::new()))
    ///     .spool(Arc::new(MemorySpool::new(64 << 20)))
    ///     .start();
    /// assert!(recorder.health().is_healthy());
    /// assert_eq!(guard.shutdown().await.spooled, 0);
    /// # });
    /// ```
    pub fn spool(mut self, spool: Arc<dyn Spool>) -> Self {
        self.spool = Some(spool);
        self
    }

    /// How long one replay of the spool waits for the store before it tries again after
    /// the backoff (default 2 s), so that new batches keep being spooled meanwhile.
    pub fn spool_timeout(mut self, timeout: Duration) -> Self {
        self.config.spool_timeout = timeout;
        self
    }

    /// How long one append may take before the store counts as unreachable (default
    /// 2 s): the batch is then spooled, or retried after the backoff, as for a refused
    /// connection. Without it a store that stops answering (packets dropped rather than
    /// refused) holds the writer, and every [`record_durable`](Recorder::record_durable)
    /// waiter, until the connection pool's own timeout. Keep it above the slowest append
    /// a healthy store makes (one batch of [`batch_size`](Self::batch_size) events).
    ///
    /// ```
    /// # use std::{sync::Arc, time::Duration};
    /// # use activity_core::{MemoryStore, Recorder};
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let (recorder, guard) = Recorder::builder(Arc::new(MemoryStore::new()))
    ///     .append_timeout(Duration::from_millis(500))
    ///     .start();
    /// # guard.shutdown().await;
    /// # });
    /// ```
    pub fn append_timeout(mut self, timeout: Duration) -> Self {
        self.config.append_timeout = timeout;
        self
    }

    /// How long `shutdown` keeps retrying a failing store before it gives up and returns
    /// the unwritten events in its report (default 30 s).
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.config.shutdown_timeout = timeout;
        self
    }

    /// This recorder's writer id, which names its integrity chain (default: a new UUID).
    pub fn writer_id(mut self, writer: impl Into<String>) -> Self {
        self.config.writer = writer.into();
        self
    }

    /// The clock that stamps lifecycle events and outage times.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Called when the store starts failing and when it recovers; hook an alert to it.
    pub fn on_outage(mut self, f: impl Fn(&OutageNotice) + Send + Sync + 'static) -> Self {
        self.config.on_outage = Some(Arc::new(f));
        self
    }

    /// Called for each event the store rejects as invalid (a non-retryable error that
    /// the worker isolated to that event). The event is not stored; it is counted in
    /// [`Metrics::rejected`](super::Metrics::rejected) and an `audit.failed` event records the rejection.
    pub fn on_reject(mut self, f: impl Fn(&ActivityEvent, &Error) + Send + Sync + 'static) -> Self {
        self.config.on_reject = Some(Arc::new(f));
        self
    }

    /// Whether to record `audit.started` and `audit.stopped` (default true).
    pub fn lifecycle_events(mut self, on: bool) -> Self {
        self.config.lifecycle_events = on;
        self
    }

    /// Adds an enrichment stage (e.g. geo lookup), run in the worker before sealing.
    pub fn enricher(mut self, enricher: impl Enricher) -> Self {
        self.enrichers.push(Arc::new(enricher));
        self
    }

    /// Sets the sealing stage (the integrity chain).
    pub fn sealer(mut self, sealer: impl Sealer) -> Self {
        self.sealer = Some(Box::new(sealer));
        self
    }

    /// Adds an after-commit stage (e.g. the alert engine).
    pub fn after_commit(mut self, hook: impl AfterCommit) -> Self {
        self.after_commit.push(Arc::new(hook));
        self
    }

    /// Adds the lockout policy ([`LockoutPolicy`](crate::lockout::LockoutPolicy), or any
    /// type that is both a stage and a check): the after-commit stage that locks accounts after repeated
    /// failures, told the recorder when it starts (to record expiries and unlocks), and the
    /// check that [`Recorder::lockout_check`] hands to the HTTP layer — one call instead of
    /// registering it in three places.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use activity_core::{ActivityEvent, Actor, lockout::LockKey, lockout::LockoutConfig, lockout::LockoutPolicy, MemoryStore, Recorder};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let store = Arc::new(MemoryStore::new());
    /// let policy = Arc::new(LockoutPolicy::new(store.clone(), LockoutConfig::default()));
    /// let (recorder, guard) = Recorder::builder(store).lockout(policy).start();
    /// for _ in 0..10 {
    ///     recorder.record(ActivityEvent::login_failed(Actor::user("bob"))).unwrap();
    /// }
    /// recorder.flush().await.unwrap();
    /// let check = recorder.lockout_check().expect("registered");
    /// let bob = LockKey::account(None, "bob");
    /// assert!(check.check(&bob).await.unwrap().is_locked());
    /// guard.shutdown().await;
    /// # });
    /// ```
    pub fn lockout<P: AfterCommit + LockoutCheck>(mut self, policy: Arc<P>) -> Self {
        self.lockout = Some(policy.clone());
        self.after_commit.push(policy);
        self
    }

    /// Starts the worker on the current tokio runtime.
    ///
    /// Returns the handle and a guard; call [`RecorderGuard::shutdown`] before exiting so
    /// that everything queued is written.
    ///
    /// # Panics
    /// Outside a tokio runtime (as `tokio::spawn` does).
    pub fn start(self) -> (Recorder, RecorderGuard) {
        let (tx, rx) = mpsc::channel(self.config.capacity);
        let shared = Arc::new(Shared {
            tx,
            counters: Counters::default(),
            config: self.config,
            clock: self.clock,
            lockout: self.lockout,
            wake: Arc::new(tokio::sync::Notify::new()),
        });
        let recorder = Recorder {
            shared: shared.clone(),
        };
        // Before the first batch, so that no stage sees a commit before its recorder.
        for stage in &self.after_commit {
            stage.on_start(&recorder);
        }
        let worker = worker::Worker {
            rx,
            store: self.store,
            shared: shared.clone(),
            enrichers: self.enrichers,
            sealer: self.sealer,
            after_commit: self.after_commit,
            spool: self.spool,
        };
        let handle = tokio::spawn(worker.run());
        let guard = RecorderGuard {
            recorder: recorder.clone(),
            handle: Some(handle),
        };
        (recorder, guard)
    }
}
