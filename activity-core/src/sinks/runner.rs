//! Moves the committed log into a sink, one batch at a time, with the cursor stored in
//! the database.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Mutex, Notify};

use super::{Sink, SinkFilter, SinkReceipt, SinkState, SinkStatus};
use crate::clock::{Clock, SystemClock};
use crate::error::{Error, Result, Rule};
use crate::store::ActivityStore;

/// The longest sink name (it is the cursor's key).
pub const MAX_SINK_NAME: usize = 64;

/// How long a runner waits after failures: `first`, doubled after each failure in a row,
/// at most `max`.
///
/// ```
/// use std::time::Duration;
/// use activity_core::sinks::Backoff;
/// let b = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
/// assert_eq!(b.after(1), Duration::from_millis(100));
/// assert_eq!(b.after(3), Duration::from_millis(400));
/// assert_eq!(b.after(40), Duration::from_secs(1));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    first: Duration,
    max: Duration,
}

impl Backoff {
    /// `first`, doubling up to `max`.
    pub fn new(first: Duration, max: Duration) -> Self {
        Self {
            first,
            max: max.max(first),
        }
    }

    /// The wait after `failures` failures in a row.
    pub fn after(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(30);
        self.first.saturating_mul(1u32 << doublings).min(self.max)
    }
}

impl Default for Backoff {
    /// 500 ms, up to one minute.
    fn default() -> Self {
        Self::new(Duration::from_millis(500), Duration::from_secs(60))
    }
}

/// What one [`SinkRunner::deliver_once`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Delivered {
    /// Events read from the log (the cursor moved past them).
    pub read: usize,
    /// Of those, the ones the filter let through and the sink took.
    pub delivered: usize,
}

/// Reads the committed log after a sink's cursor and delivers it, in order, at least
/// once: the cursor (a [`SinkState`] row in the store) moves only after the sink
/// accepted the batch, so a failure or a restart delivers the batch again, never skips
/// it.
///
/// Run one runner per sink name: two processes running the same name deliver the same
/// events twice (harmless, since receivers deduplicate by id, but wasteful).
///
/// ```
/// use std::sync::Arc;
/// use activity_core::{ActivityEvent, ActivityStore, Actor, MemoryStore};
/// use activity_core::sinks::{FileSink, SinkFilter, SinkRunner};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let store = Arc::new(MemoryStore::new());
/// store.append(&[ActivityEvent::login_failed(Actor::user("u_1"))]).await.unwrap();
/// let dir = std::env::temp_dir().join(format!("activity-doc-{}", uuid::Uuid::now_v7()));
/// let sink = Arc::new(FileSink::new(&dir).unwrap());
/// let runner = SinkRunner::new("archive-files", store.clone(), sink).unwrap()
///     .filter(SinkFilter::all().action("auth."));
/// assert_eq!(runner.deliver_once().await.unwrap().delivered, 1);
/// assert_eq!(runner.receipt().await.unwrap().lag, 0);
/// # std::fs::remove_dir_all(dir).unwrap();
/// # });
/// ```
pub struct SinkRunner {
    name: String,
    store: Arc<dyn ActivityStore>,
    sink: Arc<dyn Sink>,
    filter: SinkFilter,
    batch_size: usize,
    backoff: Backoff,
    poll: Duration,
    clock: Arc<dyn Clock>,
    /// The state as this runner last saved it (`None`: not loaded yet).
    state: Mutex<Option<SinkState>>,
    wake: Arc<Notify>,
}

impl std::fmt::Debug for SinkRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SinkRunner")
            .field("name", &self.name)
            .field("kind", &self.sink.kind())
            .field("filter", &self.filter)
            .field("batch_size", &self.batch_size)
            .finish_non_exhaustive()
    }
}

impl SinkRunner {
    /// A runner delivering `store`'s log to `sink` under the cursor `name`.
    ///
    /// # Errors
    /// [`Error::Invalid`] unless `name` is 1 to 64 ASCII letters, digits, `-`, `_`, `.`.
    pub fn new(
        name: impl Into<String>,
        store: Arc<dyn ActivityStore>,
        sink: Arc<dyn Sink>,
    ) -> Result<Self> {
        let name = name.into();
        check_name(&name)?;
        Ok(Self {
            name,
            store,
            sink,
            filter: SinkFilter::all(),
            batch_size: 500,
            backoff: Backoff::default(),
            poll: Duration::from_millis(200),
            clock: Arc::new(SystemClock),
            state: Mutex::new(None),
            wake: Arc::new(Notify::new()),
        })
    }

    /// Only the events `filter` takes (default: all).
    pub fn filter(mut self, filter: SinkFilter) -> Self {
        self.filter = filter;
        self
    }

    /// Events read per batch (default 500; at least 1).
    pub fn batch_size(mut self, n: usize) -> Self {
        self.batch_size = n.max(1);
        self
    }

    /// The wait after failures (default 500 ms doubling to a minute).
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// How often a caught-up runner looks for new events (default 200 ms; a
    /// [`SinkGuard::wake`] looks at once).
    pub fn poll(mut self, every: Duration) -> Self {
        self.poll = every;
        self
    }

    /// The clock of the receipts' times (default: the system's).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The cursor's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Reads the next batch after the cursor, delivers what the filter takes, and moves
    /// the cursor past the batch. Reading nothing means the sink is caught up.
    ///
    /// # Errors
    /// The store's error (reading the log or saving the cursor), or the sink's
    /// ([`Error::Delivery`]); after a sink's error the receipt counts the failure and the
    /// cursor stays.
    pub async fn deliver_once(&self) -> Result<Delivered> {
        self.run(false).await
    }

    /// The events of `logged` the filter takes.
    fn taken(&self, logged: Vec<super::LoggedEvent>) -> Vec<crate::event::ActivityEvent> {
        logged
            .into_iter()
            .map(|l| l.event)
            .filter(|e| self.filter.matches(e))
            .collect()
    }

    /// Gives `events` (read up to `end`) to the sink and updates `state` with the
    /// outcome (not saved).
    async fn deliver(
        &self,
        state: &mut SinkState,
        events: &[crate::event::ActivityEvent],
        end: super::LogPosition,
    ) -> Result<()> {
        let now = self.clock.now();
        if let Some(newest) = events.last() {
            state.last_attempt = Some(now);
            if let Err(e) = self.sink.deliver(events).await {
                state.failures = state.failures.saturating_add(1);
                state.total_failures += 1;
                state.last_error = Some(e.to_string().chars().take(500).collect());
                state.status = SinkStatus::Retrying;
                return Err(e);
            }
            state.last_event = Some(newest.id);
            state.last_event_time = Some(newest.time);
            state.last_delivery = Some(now);
            state.delivered += events.len() as u64;
        }
        state.position = end;
        state.failures = 0;
        state.status = SinkStatus::Delivering;
        Ok(())
    }

    /// Delivers batch after batch until the log has nothing more (or a failure), as a
    /// pipeline: the next batch is read, and the previous cursor saved, while the sink
    /// delivers the current one. The cursor is saved only after its batch was delivered,
    /// and the saves happen in order, so a crash at any point delivers again, never
    /// skips. What [`spawn`](Self::spawn) runs.
    ///
    /// # Errors
    /// As [`deliver_once`](Self::deliver_once); what was delivered before the failure
    /// stays delivered (and its cursor saved).
    pub async fn deliver_available(&self) -> Result<Delivered> {
        self.run(true).await
    }

    /// One batch, or (`all`) every batch there is, on the state this runner holds.
    async fn run(&self, all: bool) -> Result<Delivered> {
        let mut slot = self.state.lock().await;
        let mut state = match slot.take() {
            Some(s) => s,
            None => self.load().await?,
        };
        let result = self.pipeline(&mut state, all).await;
        *slot = Some(state);
        result
    }

    /// Delivers the next batch and, with `all`, the ones after it (each read while the
    /// one before is delivered); a failure is on the receipt (saved) and returned.
    async fn pipeline(&self, state: &mut SinkState, all: bool) -> Result<Delivered> {
        let mut total = Delivered::default();
        let mut logged = self.store.read_log(state.position, self.batch_size).await?;
        let mut saving: Option<tokio::task::JoinHandle<Result<()>>> = None;
        let result = loop {
            let Some(last) = logged.last() else {
                break Ok(());
            };
            let end = last.position;
            let ahead = all.then(|| {
                let store = self.store.clone();
                let n = self.batch_size;
                tokio::spawn(async move { store.read_log(end, n).await })
            });
            let read = logged.len();
            let events = self.taken(std::mem::take(&mut logged));
            let delivered = self.deliver(state, &events, end).await;
            if let Some(previous) = saving.take() {
                if let Err(e) = joined(previous.await) {
                    ahead.inspect(|t| t.abort());
                    break Err(e);
                }
            }
            if let Err(e) = delivered {
                ahead.inspect(|t| t.abort());
                break Err(e);
            }
            total.read += read;
            total.delivered += events.len();
            let store = self.store.clone();
            let snapshot = state.clone();
            saving = Some(tokio::spawn(async move {
                store.save_sink_state(&snapshot).await
            }));
            let Some(ahead) = ahead else {
                break Ok(());
            };
            match joined(ahead.await) {
                Ok(next) => logged = next,
                Err(e) => break Err(e),
            }
        };
        if let Some(previous) = saving.take() {
            joined(previous.await)?;
        }
        match result {
            Ok(()) if total.read == 0 && state.status != SinkStatus::Delivering => {
                state.status = SinkStatus::Delivering;
                self.store.save_sink_state(state).await?;
                Ok(total)
            }
            Ok(()) => Ok(total),
            Err(e) => {
                // The failure on the receipt (best effort; the error is reported).
                let _ = self.store.save_sink_state(state).await;
                Err(e)
            }
        }
    }

    async fn load(&self) -> Result<SinkState> {
        let found = self
            .store
            .sink_states()
            .await?
            .into_iter()
            .find(|s| s.name == self.name);
        Ok(found.unwrap_or_else(|| SinkState::new(&self.name, self.sink.kind())))
    }

    /// The sink's receipt: its stored state and lag.
    ///
    /// # Errors
    /// The store's.
    ///
    /// While a delivery runs (a long backlog is one [`deliver_available`] call), this is
    /// the state as last saved, at most a batch behind: it never waits for the backlog.
    ///
    /// [`deliver_available`]: Self::deliver_available
    pub async fn receipt(&self) -> Result<SinkReceipt> {
        let held = match self.state.try_lock() {
            Ok(slot) => slot.clone(),
            Err(_) => None,
        };
        let state = match held {
            Some(s) => s,
            None => self.load().await?,
        };
        let lag = self.store.log_lag(state.position).await?;
        Ok(SinkReceipt { state, lag })
    }

    /// Runs the sink in the background until [`SinkGuard::stop`]: batches back to back
    /// while there is a backlog, a look every [`poll`](Self::poll) once caught up, the
    /// [`backoff`](Self::backoff) after a failure.
    pub fn spawn(self) -> SinkGuard {
        let (stop_tx, mut stop_rx) = watch::channel(false);
        let wake = self.wake.clone();
        let runner = Arc::new(self);
        let task_runner = runner.clone();
        let task = tokio::spawn(async move {
            let r = task_runner;
            loop {
                let wait = match r.deliver_available().await {
                    Ok(_) => r.poll,
                    Err(e) => {
                        let failures = r
                            .state
                            .lock()
                            .await
                            .as_ref()
                            .map_or(1, |s| s.failures.max(1));
                        tracing::warn!(sink = %r.name, error = %e, "sink delivery failed; retrying");
                        r.backoff.after(failures)
                    }
                };
                if *stop_rx.borrow() {
                    break;
                }
                if !wait.is_zero() {
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = r.wake.notified() => {}
                        _ = stop_rx.changed() => break,
                    }
                }
            }
            let mut slot = r.state.lock().await;
            if let Some(state) = slot.as_mut() {
                state.status = SinkStatus::Stopped;
                let _ = r.store.save_sink_state(state).await;
            }
        });
        SinkGuard {
            runner,
            stop: stop_tx,
            task: Some(task),
            wake,
        }
    }
}

/// A running sink ([`SinkRunner::spawn`]).
#[derive(Debug)]
pub struct SinkGuard {
    runner: Arc<SinkRunner>,
    stop: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
    wake: Arc<Notify>,
}

impl SinkGuard {
    /// Looks for new events now (for example after a commit) instead of at the next
    /// poll.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// The sink's receipt.
    ///
    /// # Errors
    /// The store's.
    pub async fn receipt(&self) -> Result<SinkReceipt> {
        self.runner.receipt().await
    }

    /// Stops after the batch in flight, and marks the receipt stopped.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for SinkGuard {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// A task's result, a panic in it as an error.
fn joined<T>(r: std::result::Result<Result<T>, tokio::task::JoinError>) -> Result<T> {
    r.map_err(|e| Error::backend(format!("sink task failed: {e}"), None))?
}

/// Checks a sink name (a cursor's key): 1 to [`MAX_SINK_NAME`] of `[A-Za-z0-9._-]`.
/// Every store checks it before saving a [`SinkState`].
///
/// ```
/// use activity_core::sinks::check_name;
/// assert!(check_name("siem.splunk-1").is_ok());
/// assert!(check_name("").is_err() && check_name("a b").is_err() && check_name("x'; --").is_err());
/// ```
///
/// # Errors
/// [`Error::Invalid`] for anything else.
pub fn check_name(name: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > MAX_SINK_NAME
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err(Error::invalid(
            "sink.name",
            Rule::Malformed("1 to 64 ASCII letters, digits, `-`, `_` or `.`"),
        ));
    }
    Ok(())
}
