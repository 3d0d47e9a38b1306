//! One runner for the SDK's periodic jobs: the retention [`Purger`](crate::retention::Purger),
//! the [`ArchiveScheduler`](crate::archive::ArchiveScheduler) and the
//! [`ReviewScheduler`](crate::review::ReviewScheduler) each implement [`Job`] (one run), and
//! [`every`] runs any of them on an interval on a tokio task, with the time of each run
//! taken from an injected [`Clock`], its last status kept, and a guard that stops it.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use activity_core::jobs::{self, Job};
//! use activity_core::reexports::async_trait;
//!
//! struct Tick;
//! #[async_trait]
//! impl Job for Tick {
//!     fn name(&self) -> &str { "tick" }
//!     async fn run(&self) -> activity_core::Result<()> { Ok(()) }
//! }
//! # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
//! let guard = jobs::every(Duration::from_secs(3600)).spawn(Arc::new(Tick));
//! guard.run_now().await; // the first run starts at once; this waits for the next one
//! assert!(guard.last_run().unwrap().error.is_none());
//! guard.stop().await;
//! # });
//! ```

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::clock::{Clock, SystemClock};
use crate::error::Result;

/// One run of a periodic job.
///
/// Implemented by the SDK's jobs; an application can bring its own and run it with
/// [`every`].
#[async_trait]
pub trait Job: Send + Sync + 'static {
    /// The job's name, for logs and status.
    fn name(&self) -> &str;

    /// Runs the job once. An error is logged and kept as the last run's status; the
    /// runner tries again at the next tick.
    async fn run(&self) -> Result<()>;
}

#[async_trait]
impl<J: Job + ?Sized> Job for Arc<J> {
    fn name(&self) -> &str {
        (**self).name()
    }

    async fn run(&self) -> Result<()> {
        (**self).run().await
    }
}

/// What the last run of a job did.
///
/// ```
/// use activity_core::jobs::JobRun;
/// use chrono::Utc;
/// let run = JobRun { started: Utc::now(), finished: Utc::now(), error: None };
/// assert!(run.succeeded());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRun {
    /// When it started (the runner's clock).
    pub started: DateTime<Utc>,
    /// When it ended (the runner's clock).
    pub finished: DateTime<Utc>,
    /// Its error's text, if it failed.
    pub error: Option<String>,
}

impl JobRun {
    /// Whether the run ended without an error.
    pub fn succeeded(&self) -> bool {
        self.error.is_none()
    }
}

/// Settings of a periodic run: made by [`every`].
///
/// ```
/// use std::time::Duration;
/// let settings = activity_core::jobs::every(Duration::from_secs(60));
/// assert_eq!(settings.interval(), Duration::from_secs(60));
/// ```
#[must_use = "call .spawn(job) to run a job"]
pub struct Every {
    interval: Duration,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Every {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Every")
            .field("interval", &self.interval)
            .finish_non_exhaustive()
    }
}

/// Runs a job every `interval` (at least one millisecond), the first run at once.
pub fn every(interval: Duration) -> Every {
    Every {
        interval: interval.max(Duration::from_millis(1)),
        clock: Arc::new(SystemClock),
    }
}

impl Every {
    /// The time between the starts of two runs.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Uses `clock` for the times of [`JobRun`] (default: the system clock).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Starts running `job` on the current tokio runtime.
    ///
    /// # Panics
    /// Outside a tokio runtime (as `tokio::spawn` does).
    pub fn spawn(self, job: Arc<dyn Job>) -> JobGuard {
        let status = Arc::new(Mutex::new(Status::default()));
        let (tx, rx) = mpsc::channel(8);
        let task = tokio::spawn(run(
            job.clone(),
            self.interval,
            self.clock,
            status.clone(),
            rx,
        ));
        JobGuard {
            name: job.name().to_owned(),
            status,
            tx,
            task: Some(task),
        }
    }
}

#[derive(Default)]
struct Status {
    last: Option<JobRun>,
    runs: u64,
}

enum Command {
    /// Run now and say when done.
    RunNow(oneshot::Sender<()>),
    /// Stop after the run in progress.
    Stop,
}

async fn run(
    job: Arc<dyn Job>,
    interval: Duration,
    clock: Arc<dyn Clock>,
    status: Arc<Mutex<Status>>,
    mut rx: mpsc::Receiver<Command>,
) {
    // The first run at once (not on the interval's first tick, which the timer may
    // deliver after a command that arrived meanwhile), then one per interval.
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut first = true;
    loop {
        let done = if std::mem::take(&mut first) {
            None
        } else {
            tokio::select! {
                biased;
                _ = tick.tick() => None,
                cmd = rx.recv() => match cmd {
                    Some(Command::RunNow(done)) => Some(done),
                    Some(Command::Stop) | None => return,
                },
            }
        };
        let started = clock.now();
        let result = job.run().await;
        if let Err(e) = &result {
            tracing::error!(job = job.name(), error = %e, "job failed; retrying at the next tick");
        }
        let finished = clock.now();
        {
            let mut s = status.lock().unwrap_or_else(|p| p.into_inner());
            s.runs += 1;
            s.last = Some(JobRun {
                started,
                finished,
                error: result.err().map(|e| e.to_string()),
            });
        }
        if let Some(done) = done {
            let _ = done.send(());
        }
    }
}

/// A running job: its status, a way to run it now, and [`stop`](Self::stop). Dropping the
/// guard stops the job after the run in progress, like [`stop`](Self::stop) without waiting.
#[must_use = "dropping the guard stops the job"]
pub struct JobGuard {
    name: String,
    status: Arc<Mutex<Status>>,
    tx: mpsc::Sender<Command>,
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for JobGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobGuard")
            .field("name", &self.name)
            .field("runs", &self.runs())
            .finish_non_exhaustive()
    }
}

impl JobGuard {
    /// The job's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The last finished run, if any.
    pub fn last_run(&self) -> Option<JobRun> {
        self.lock().last.clone()
    }

    /// How many runs have finished.
    pub fn runs(&self) -> u64 {
        self.lock().runs
    }

    /// Runs the job now (after the run in progress, if any) and waits for that run to end.
    /// Does nothing once the job has stopped.
    pub async fn run_now(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Command::RunNow(done)).await.is_ok() {
            let _ = wait.await;
        }
    }

    /// Stops the job after the run in progress and waits for it.
    pub async fn stop(mut self) {
        let _ = self.tx.send(Command::Stop).await;
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Status> {
        self.status.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for JobGuard {
    fn drop(&mut self) {
        // The task ends at its next wake-up: the channel closes with the guard.
        let _ = self.tx.try_send(Command::Stop);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::error::Error;
    use std::sync::atomic::{AtomicU64, Ordering};

    struct Counting {
        runs: AtomicU64,
        fail_on: u64,
    }

    #[async_trait]
    impl Job for Counting {
        fn name(&self) -> &str {
            "counting"
        }
        async fn run(&self) -> Result<()> {
            let n = self.runs.fetch_add(1, Ordering::SeqCst) + 1;
            if n == self.fail_on {
                return Err(Error::unavailable("store down", None));
            }
            Ok(())
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_job_runs_at_once_then_every_interval_and_keeps_its_last_status() {
        let t0 = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 12, 1, 0, 0, 0).unwrap();
        let clock = ManualClock::new(t0);
        let job = Arc::new(Counting {
            runs: AtomicU64::new(0),
            fail_on: 2,
        });
        let guard = every(Duration::from_secs(60))
            .clock(clock.clone())
            .spawn(job.clone());
        // Paused time: the runtime jumps to the next tick when every task is idle.
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(guard.runs(), 1, "the first run starts at once");
        assert!(guard.last_run().unwrap().succeeded());
        assert_eq!(guard.last_run().unwrap().started, t0);

        clock.advance(chrono::Duration::minutes(1));
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert_eq!(guard.runs(), 2);
        let failed = guard.last_run().unwrap();
        assert_eq!(
            failed.error.as_deref(),
            Some("store unavailable: store down")
        );
        assert_eq!(failed.started, t0 + chrono::Duration::minutes(1));

        guard.run_now().await;
        assert_eq!(guard.runs(), 3, "run_now waits for its run");
        assert!(
            guard.last_run().unwrap().succeeded(),
            "a failure is retried"
        );
        guard.stop().await;
        assert_eq!(job.runs.load(Ordering::SeqCst), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn a_stopped_or_dropped_job_runs_no_more() {
        let job = Arc::new(Counting {
            runs: AtomicU64::new(0),
            fail_on: 0,
        });
        let guard = every(Duration::from_secs(60)).spawn(job.clone());
        guard.run_now().await;
        drop(guard);
        tokio::time::sleep(Duration::from_secs(3600)).await;
        let runs = job.runs.load(Ordering::SeqCst);
        assert!(
            runs <= 2,
            "at most the run in progress when dropped: {runs}"
        );
    }
}
