//! The review schedule: the scheduler that produces each role's digest when its period
//! closes, and the sink it hands them to.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{digest, Digest, DigestOptions, ReviewRole};
use crate::{ActivityStore, Clock, Result};

/// Receives digests from the [`ReviewScheduler`] (the host app mails or posts them).
///
/// A closure `Fn(Digest)` is a sink; a type of your own implements the trait:
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use activity_core::reexports::async_trait;
/// use activity_core::review::{Digest, DigestSink, ReviewRole, ReviewScheduler};
/// use activity_core::{ManualClock, MemoryStore};
/// use chrono::{TimeZone, Utc};
///
/// struct Outbox(Arc<Mutex<Vec<String>>>);
///
/// #[async_trait]
/// impl DigestSink for Outbox {
///     async fn deliver(&self, digest: Digest) {
///         self.0.lock().unwrap().push(format!("{} digest: {} events", digest.role, digest.total_events));
///     }
/// }
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let sent = Arc::new(Mutex::new(Vec::new()));
/// let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 24, 6, 0, 0).unwrap());
/// let scheduler = ReviewScheduler::new(Arc::new(MemoryStore::new()), Outbox(sent.clone()), Arc::new(clock), None)
///     .roles(&[ReviewRole::SecurityAnalyst]);
/// scheduler.run_due().await.unwrap();
/// assert_eq!(*sent.lock().unwrap(), ["security_analyst digest: 0 events"]);
/// # });
/// ```
#[async_trait]
pub trait DigestSink: Send + Sync + 'static {
    /// Handles one digest.
    async fn deliver(&self, digest: Digest);
}

#[async_trait]
impl<F> DigestSink for F
where
    F: Fn(Digest) + Send + Sync + 'static,
{
    async fn deliver(&self, digest: Digest) {
        self(digest)
    }
}

/// Produces each role's digest when its period closes, and hands it to a sink.
///
/// Periods are aligned to the Unix epoch in whole cadences (days; 7-day weeks; 30-day
/// months). [`run_due`](Self::run_due) produces every digest whose period has closed
/// since the last call; the job runner ([`jobs::every`](crate::jobs::every)) calls it on
/// an interval.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use activity_core::review::{Digest, ReviewRole, ReviewScheduler};
/// use activity_core::{ActivityEvent, ActivityStore, Actor, ManualClock, MemoryStore};
/// use chrono::{Duration, TimeZone, Utc};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = Arc::new(MemoryStore::new());
/// let day = Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap();
/// store.append(&[ActivityEvent::login_failed(Actor::user("bob")).with_time(day)]).await.unwrap();
/// let clock = Arc::new(ManualClock::new(day + Duration::hours(25)));
/// let got = Arc::new(Mutex::new(Vec::new()));
/// let inbox = got.clone();
/// let scheduler = ReviewScheduler::new(store, move |d: Digest| inbox.lock().unwrap().push(d), clock.clone(), None)
///     .roles(&[ReviewRole::SecurityAnalyst]);
/// assert_eq!(scheduler.run_due().await.unwrap(), 1, "yesterday's digest");
/// assert_eq!(scheduler.run_due().await.unwrap(), 0, "not twice");
/// clock.advance(Duration::days(1));
/// assert_eq!(scheduler.run_due().await.unwrap(), 1, "the next day's");
/// assert_eq!(got.lock().unwrap()[0].top_failing_accounts[0].key, "bob");
/// # });
/// ```
pub struct ReviewScheduler {
    store: Arc<dyn ActivityStore>,
    sink: Arc<dyn DigestSink>,
    clock: Arc<dyn Clock>,
    tenant: Option<String>,
    roles: Vec<ReviewRole>,
    options: DigestOptions,
    /// The end of the last period delivered per role; locked for a whole run, so that
    /// runs never overlap.
    done: tokio::sync::Mutex<BTreeMap<ReviewRole, DateTime<Utc>>>,
}

impl fmt::Debug for ReviewScheduler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReviewScheduler")
            .field("tenant", &self.tenant)
            .field("roles", &self.roles)
            .field("done", &self.done.try_lock().map(|d| d.clone()).ok())
            .finish_non_exhaustive()
    }
}

fn period_end(role: ReviewRole, now: DateTime<Utc>) -> DateTime<Utc> {
    let cadence = role.cadence().num_seconds();
    let secs = now.timestamp().div_euclid(cadence) * cadence;
    DateTime::from_timestamp(secs, 0).unwrap_or(now)
}

impl ReviewScheduler {
    /// A scheduler for every role, over `tenant` (`None`: all).
    pub fn new(
        store: Arc<dyn ActivityStore>,
        sink: impl DigestSink,
        clock: Arc<dyn Clock>,
        tenant: Option<String>,
    ) -> Self {
        Self {
            store,
            sink: Arc::new(sink),
            clock,
            tenant,
            roles: ReviewRole::ALL.to_vec(),
            options: DigestOptions::default(),
            done: tokio::sync::Mutex::new(BTreeMap::new()),
        }
    }

    /// Only these roles.
    pub fn roles(mut self, roles: &[ReviewRole]) -> Self {
        self.roles = roles.to_vec();
        self
    }

    /// Digest settings.
    pub fn options(mut self, options: DigestOptions) -> Self {
        self.options = options;
        self
    }

    /// Produces and delivers the digest of every period that closed since the last
    /// call (on the first call: the last closed period of each role). Returns how many.
    ///
    /// # Errors
    /// The store's errors; nothing is marked done for a role whose digest failed.
    pub async fn run_due(&self) -> Result<usize> {
        let mut done = self.done.lock().await;
        let now = self.clock.now();
        let mut delivered = 0;
        for role in self.roles.clone() {
            let end = period_end(role, now);
            if done.get(&role).is_some_and(|d| *d >= end) {
                continue;
            }
            let d = digest(
                &*self.store,
                role,
                self.tenant.as_deref(),
                end - role.cadence(),
                end,
                now,
                self.options,
            )
            .await?;
            self.sink.deliver(d).await;
            done.insert(role, end);
            delivered += 1;
        }
        Ok(delivered)
    }
}

/// The digests due per run: `jobs::every(interval).spawn(scheduler)`.
#[async_trait]
impl crate::jobs::Job for ReviewScheduler {
    fn name(&self) -> &str {
        "review scheduler"
    }

    async fn run(&self) -> Result<()> {
        self.run_due().await.map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::review::fixtures::{day, seeded};
    use crate::{ManualClock, MemoryStore};
    use chrono::Duration;
    use std::sync::Mutex;

    #[tokio::test]
    async fn scheduler_delivers_each_closed_period_once() {
        let store = Arc::new(MemoryStore::new());
        store.append(&seeded()).await.unwrap();
        let clock = Arc::new(ManualClock::new(
            day() + Duration::days(1) + Duration::hours(1),
        ));
        let got = Arc::new(Mutex::new(Vec::new()));
        let g2 = got.clone();
        let s = ReviewScheduler::new(
            store,
            move |d: Digest| g2.lock().unwrap().push((d.role, d.since, d.total_events)),
            clock.clone(),
            None,
        )
        .roles(&[ReviewRole::SecurityAnalyst]);
        assert_eq!(s.run_due().await.unwrap(), 1);
        assert_eq!(s.run_due().await.unwrap(), 0, "same period, not again");
        clock.advance(Duration::days(1));
        assert_eq!(s.run_due().await.unwrap(), 1);
        let got = got.lock().unwrap();
        assert_eq!(got[0], (ReviewRole::SecurityAnalyst, day(), 19));
        assert_eq!(got[1].1, day() + Duration::days(1));
    }

    #[tokio::test]
    async fn the_job_runner_runs_the_scheduler_and_keeps_its_status() {
        let store = Arc::new(MemoryStore::new());
        store.append(&seeded()).await.unwrap();
        let clock = Arc::new(ManualClock::new(
            day() + Duration::days(1) + Duration::hours(1),
        ));
        let got = Arc::new(Mutex::new(Vec::new()));
        let g2 = got.clone();
        let s = ReviewScheduler::new(
            store,
            move |d: Digest| g2.lock().unwrap().push(d.role),
            clock.clone(),
            None,
        )
        .roles(&[ReviewRole::SecurityAnalyst]);
        let guard = crate::jobs::every(std::time::Duration::from_secs(3600)).spawn(Arc::new(s));
        guard.run_now().await;
        guard.run_now().await;
        assert_eq!(guard.runs(), 3, "the first tick, then two on demand");
        assert!(guard.last_run().unwrap().succeeded());
        assert_eq!(
            *got.lock().unwrap(),
            vec![ReviewRole::SecurityAnalyst],
            "once per period"
        );
        guard.stop().await;
    }
}
