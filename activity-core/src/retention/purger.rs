//! [`Purger`]: the job that deletes expired events in bounded batches and records each run.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::RetentionPolicy;
use crate::archive::coverage::{count_of, not_archived};
use crate::chain::{ChainKey, PurgeCheckpoint, CHECKPOINT_KEY};
use crate::clock::Clock;
use crate::error::{Error, Result};
pub use crate::event::payload::TenantPurge;
use crate::event::payload::{Payload, Purged};
use crate::event::{Action, ActivityEvent, Outcome};
use crate::query::DeleteRequest;
use crate::recorder::Recorder;
use crate::store::ActivityStore;

/// What a purge run did.
///
/// ```
/// use std::sync::Arc;
/// use activity_core::{ActivityEvent, ActivityStore, Actor, ManualClock, MemoryStore, retention::Purger, retention::Retention, retention::RetentionPolicy};
/// use chrono::{Duration, TimeZone, Utc};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = Arc::new(MemoryStore::new());
/// let now = Utc.with_ymd_and_hms(2026, 11, 24, 0, 0, 0).unwrap();
/// let old = |tenant: &str| {
///     ActivityEvent::logout(Actor::user("u_1")).with_tenant(tenant).with_time(now - Duration::days(100))
/// };
/// store.append(&[old("acme"), old("beta")]).await.unwrap();
/// let policy = RetentionPolicy::new(Retention::Days(90)).hold("acme");
/// let purger = Purger::new(store.clone(), policy, Arc::new(ManualClock::new(now)));
/// let report = purger.run_once(false).await.unwrap();
/// assert_eq!((report.ran_at, report.dry_run, report.total), (now, false, 1));
/// assert_eq!(report.held, vec!["acme".to_string()], "under legal hold: kept");
/// assert!(report.partitions.is_empty(), "the memory store has no partitions");
/// # });
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PurgeReport {
    /// When it ran (by the purger's clock).
    pub ran_at: DateTime<Utc>,
    /// Whether it only counted.
    pub dry_run: bool,
    /// Per tenant (events removed by dropped partitions included).
    pub tenants: Vec<TenantPurge>,
    /// Tenants skipped for a legal hold.
    pub held: Vec<String>,
    /// Events deleted (or that would be) in all.
    pub total: u64,
    /// Partitions dropped whole (PostgreSQL), by name.
    pub partitions: Vec<String>,
    /// Events that went with the dropped partitions (part of `total`).
    pub partition_events: u64,
    /// With [`Purger::require_archive`]: the tenants whose expired events are not all in
    /// a verified archive, with how many are not (`events`). When not empty, a real run
    /// deleted nothing and failed with [`Error::NotArchived`].
    pub not_archived: Vec<TenantPurge>,
    /// Expired events kept because a registered [sink](crate::sinks) has not delivered
    /// them yet (a later run deletes them once it has).
    pub undelivered_kept: u64,
    /// With [`Purger::purge_undelivered`]: expired events deleted although a sink had
    /// not delivered them (part of `total`).
    pub undelivered_purged: u64,
}

/// Deletes expired events.
///
/// Run it once ([`run_once`](Self::run_once), e.g. from cron) or every so often on a
/// tokio task with the job runner ([`jobs::every`](crate::jobs::every)); time comes from
/// the injected [`Clock`].
///
/// ```
/// use std::sync::Arc;
/// use activity_core::{ActivityEvent, ActivityStore, Actor, ManualClock, MemoryStore, retention::Purger, retention::Retention, retention::RetentionPolicy, retention::Tier};
/// use chrono::{Duration, TimeZone, Utc};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = Arc::new(MemoryStore::new());
/// let now = Utc.with_ymd_and_hms(2026, 11, 24, 0, 0, 0).unwrap();
/// let at = |days| ActivityEvent::logout(Actor::user("u_1")).with_time(now - Duration::days(days));
/// store.append(&[at(91), at(89)]).await.unwrap();
/// let policy = RetentionPolicy::new(Retention::Tier(Tier::SmallBusiness));
/// let purger = Purger::new(store.clone(), policy, Arc::new(ManualClock::new(now))).batch(1_000);
/// assert_eq!(purger.run_once(false).await.unwrap().total, 1);
/// assert_eq!(store.len(), 1, "only the event older than 90 days went");
/// assert_eq!(purger.last_run().unwrap().ran_at, now);
/// # });
/// ```
pub struct Purger {
    store: Arc<dyn ActivityStore>,
    policy: RetentionPolicy,
    clock: Arc<dyn Clock>,
    batch: usize,
    pause: std::time::Duration,
    recorder: Option<Recorder>,
    key: Option<ChainKey>,
    archives: Option<PathBuf>,
    archive_key: Option<crate::signed::PublicKey>,
    partitions: bool,
    undelivered: bool,
    last: Mutex<Option<PurgeReport>>,
}

impl std::fmt::Debug for Purger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Purger")
            .field("policy", &self.policy)
            .field("batch", &self.batch)
            .finish_non_exhaustive()
    }
}

impl Purger {
    /// A purger for `store` under `policy`, judging time by `clock`.
    pub fn new(
        store: Arc<dyn ActivityStore>,
        policy: RetentionPolicy,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            store,
            policy,
            clock,
            batch: 500,
            pause: std::time::Duration::from_millis(10),
            recorder: None,
            key: None,
            archives: None,
            archive_key: None,
            partitions: true,
            undelivered: false,
            last: Mutex::new(None),
        }
    }

    /// Requires an archive of what is deleted: before deleting anything, every expired
    /// event must lie in the window of an archive in `dir` (the directory itself or its
    /// immediate subdirectories, each with a `manifest.json`) that verifies against its
    /// manifest ([`verify_archive`](crate::archive::verify_archive)), is of the event's tenant or
    /// of all tenants, and holds at least as many events as the store still has in its
    /// window (so nothing was added to the window after it was archived). Otherwise the
    /// run deletes nothing, records an `audit.purged` failure and returns
    /// [`Error::NotArchived`]; a dry run lists the shortfall in
    /// [`PurgeReport::not_archived`].
    ///
    /// ```
    /// use std::sync::Arc;
    /// use activity_core::{ActivityEvent, ActivityStore, Actor, Error, ManualClock, MemoryStore, retention::Purger, retention::Retention, retention::RetentionPolicy};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let store = Arc::new(MemoryStore::new());
    /// let now = chrono::Utc::now();
    /// store.append(&[ActivityEvent::logout(Actor::user("u")).with_time(now - chrono::Duration::days(100))]).await.unwrap();
    /// let purger = Purger::new(store.clone(), RetentionPolicy::new(Retention::Days(90)), Arc::new(ManualClock::new(now)))
    ///     .require_archive(std::env::temp_dir().join("no-archives-here"));
    /// assert!(matches!(purger.run_once(false).await, Err(Error::NotArchived { events: 1, .. })));
    /// assert_eq!(store.len(), 1, "nothing deleted");
    /// assert_eq!(purger.last_run().unwrap().not_archived.len(), 1);
    /// # });
    /// ```
    pub fn require_archive(mut self, dir: impl Into<PathBuf>) -> Self {
        self.archives = Some(dir.into());
        self
    }

    /// With [`require_archive`](Self::require_archive): only archives whose manifest is
    /// signed by `key` count ([`verify_archive_signed`](crate::archive::verify_archive_signed)),
    /// so that an archive whose events and manifest were both rewritten (checksums and
    /// row counts recomputed) never lets the purge delete the originals.
    pub fn require_signed_archives(mut self, key: crate::signed::PublicKey) -> Self {
        self.archive_key = Some(key);
        self
    }

    /// Whether to drop whole expired partitions where the store has them (default true;
    /// see [`ActivityStore::drop_expired_partitions`]).
    pub fn drop_partitions(mut self, on: bool) -> Self {
        self.partitions = on;
        self
    }

    /// Deletes expired events that a registered [sink](crate::sinks) has not delivered
    /// yet (default: kept until it has, counted in
    /// [`PurgeReport::undelivered_kept`]); they are counted in
    /// [`PurgeReport::undelivered_purged`] and on the `audit.purged` event. A sink is
    /// registered while its [`SinkState`](crate::sinks::SinkState) is stored (`activity
    /// sinks remove` takes one out).
    ///
    /// While sinks are registered, the purge deletes rows and drops no partitions, so
    /// that it can tell which events they hold back. A dry run counts every expired
    /// event, delivered or not.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use activity_core::{ActivityEvent, ActivityStore, Actor, ManualClock, MemoryStore};
    /// use activity_core::{retention::Purger, retention::Retention, retention::RetentionPolicy, sinks::SinkState};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let store = Arc::new(MemoryStore::new());
    /// let now = chrono::Utc::now();
    /// store.append(&[ActivityEvent::logout(Actor::user("u")).with_time(now - chrono::Duration::days(100))]).await.unwrap();
    /// store.save_sink_state(&SinkState::new("siem", "http")).await.unwrap(); // delivered nothing yet
    /// let purger = |all| Purger::new(store.clone(), RetentionPolicy::new(Retention::Days(90)), Arc::new(ManualClock::new(now)))
    ///     .purge_undelivered(all);
    /// let kept = purger(false).run_once(false).await.unwrap();
    /// assert_eq!((kept.total, kept.undelivered_kept, store.len()), (0, 1, 1));
    /// let forced = purger(true).run_once(false).await.unwrap();
    /// assert_eq!((forced.total, forced.undelivered_purged, store.len()), (1, 1, 0));
    /// # });
    /// ```
    pub fn purge_undelivered(mut self, on: bool) -> Self {
        self.undelivered = on;
        self
    }

    /// Events deleted per statement (default 500): each batch is one short transaction.
    pub fn batch(mut self, n: usize) -> Self {
        self.batch = n.max(1);
        self
    }

    /// The pause between batches (default 10 ms), in which waiting writers get the
    /// database (SQLite's busy handler sleeps in steps of up to 100 ms, so a purge that
    /// retakes the lock at once would keep them waiting).
    pub fn pause(mut self, pause: std::time::Duration) -> Self {
        self.pause = pause;
        self
    }

    /// Records each run as `audit.purged` through `recorder`, with the run's
    /// [`PurgeCheckpoint`] when a [`key`](Self::key) is set: the positions of every chain
    /// this run and the earlier ones removed, which [`verify`](crate::chain::verify)
    /// needs to tell a purge from a deletion.
    pub fn recorder(mut self, recorder: Recorder) -> Self {
        self.recorder = Some(recorder);
        self
    }

    /// Authenticates each run's [`PurgeCheckpoint`] with `key`, the chain key the events
    /// were sealed with: [`verify`](crate::chain::verify) accepts missing positions only
    /// where such a checkpoint names them. Without it, a purge of sealed events reads as
    /// deletion ([`Break::Missing`](crate::chain::Break::Missing) or
    /// [`Break::Truncated`](crate::chain::Break::Truncated)).
    pub fn key(mut self, key: ChainKey) -> Self {
        self.key = Some(key);
        self
    }

    /// The last run's report, if any.
    pub fn last_run(&self) -> Option<PurgeReport> {
        self.last.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Purges once (or counts, when `dry_run`).
    ///
    /// # Errors
    /// The store's errors; what was deleted before the error stays deleted and the run is
    /// not reported.
    pub async fn run_once(&self, dry_run: bool) -> Result<PurgeReport> {
        let now = self.clock.now();
        let mut report = PurgeReport {
            ran_at: now,
            dry_run,
            tenants: Vec::new(),
            held: Vec::new(),
            total: 0,
            partitions: Vec::new(),
            partition_events: 0,
            not_archived: Vec::new(),
            undelivered_kept: 0,
            undelivered_purged: 0,
        };
        // The position every registered sink delivered up to (the least advanced one's).
        let delivered = self
            .store
            .sink_states()
            .await?
            .iter()
            .map(|s| s.position)
            .min();
        let tenants = self.store.tenants().await?;
        let mut plan: Vec<(Option<String>, DateTime<Utc>)> = Vec::new();
        for tenant in &tenants {
            match self.policy.retention_for(tenant.as_deref()) {
                Some(keep) => plan.push((tenant.clone(), now - keep)),
                None => report.held.extend(tenant.clone()),
            }
        }
        if let Some(dir) = &self.archives {
            report.not_archived = not_archived(
                &*self.store,
                dir,
                &plan,
                &tenants,
                self.archive_key.as_ref(),
            )
            .await?;
            if !report.not_archived.is_empty() && !dry_run {
                let first = report.not_archived[0].clone();
                self.record(&report, Outcome::Failure);
                tracing::error!(
                    tenants = report.not_archived.len(),
                    "retention purge refused: expired events are not archived"
                );
                *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Some(report);
                return Err(Error::NotArchived {
                    tenant: first.tenant,
                    events: first.events,
                    until: first.cutoff,
                });
            }
        }
        // The links about to go, for the checkpoint (read before anything is deleted).
        let removed = match (&self.key, &self.recorder, dry_run) {
            (Some(_), Some(_), false) => self.expiring_links(&plan).await?,
            _ => BTreeMap::new(),
        };
        // Whole partitions first, where every tenant's retention has passed them.
        let mut dropped: HashMap<Option<String>, u64> = HashMap::new();
        if !dry_run && self.partitions && report.held.is_empty() && delivered.is_none() {
            if let Some(global) = plan.iter().map(|(_, c)| *c).min() {
                let d = self.store.drop_expired_partitions(global).await?;
                report.partition_events = d.total();
                report.partitions = d.partitions;
                for (t, n) in d.events {
                    *dropped.entry(t).or_default() += n;
                }
            }
        }
        for (tenant, cutoff) in &plan {
            let events = if dry_run {
                count_of(&*self.store, tenant.as_deref(), None, *cutoff, &tenants).await?
            } else {
                let mut n = dropped.remove(tenant).unwrap_or(0);
                let request = DeleteRequest::new(tenant.as_deref(), *cutoff, self.batch);
                match delivered {
                    None => n += self.delete_all(&request).await?,
                    Some(p) => {
                        n += self.delete_all(&request.clone().delivered_up_to(p)).await?;
                        let left =
                            count_of(&*self.store, tenant.as_deref(), None, *cutoff, &tenants)
                                .await?;
                        if self.undelivered && left > 0 {
                            let d = self.delete_all(&request).await?;
                            report.undelivered_purged += d;
                            n += d;
                        } else {
                            report.undelivered_kept += left;
                        }
                    }
                }
                n
            };
            report.total += events;
            report.tenants.push(TenantPurge {
                tenant: tenant.clone(),
                cutoff: *cutoff,
                events,
            });
        }
        // Rows of tenants a partition held that were not listed (none, in practice).
        for (_, n) in dropped {
            report.total += n;
        }
        let checkpoint = match (&self.key, &self.recorder, dry_run) {
            (Some(key), Some(_), false) => {
                let mut ranges = crate::chain::checkpoint_ranges(&*self.store, key).await?;
                ranges.extend(crate::chain::ranges_of(removed));
                Some((key, ranges))
            }
            _ => None,
        };
        self.record_with(&report, Outcome::Success, checkpoint);
        tracing::info!(
            total = report.total,
            partitions = report.partitions.len(),
            dry_run,
            "retention purge ran"
        );
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Some(report.clone());
        Ok(report)
    }

    /// Deletes what `request` covers, a batch at a time; how many went.
    async fn delete_all(&self, request: &DeleteRequest) -> Result<u64> {
        let mut n = 0;
        loop {
            let d = self.store.delete(request).await?;
            n += d;
            if d < self.batch as u64 {
                return Ok(n);
            }
            tokio::time::sleep(self.pause).await;
        }
    }

    /// The chain links of the events `plan` expires, per chain.
    async fn expiring_links(
        &self,
        plan: &[(Option<String>, DateTime<Utc>)],
    ) -> Result<crate::chain::RemovedLinks> {
        let mut out = crate::chain::RemovedLinks::new();
        let Some(latest) = plan.iter().map(|p| p.1).max() else {
            return Ok(out);
        };
        let cut: HashMap<&Option<String>, DateTime<Utc>> =
            plan.iter().map(|(t, c)| (t, *c)).collect();
        let q = crate::query::ActivityQuery::new().until(latest);
        let mut pages = crate::query::Pages::new(&*self.store, q);
        while let Some(events) = pages.next().await? {
            for e in &events {
                let Some(link) = &e.chain else { continue };
                if cut.get(&e.tenant).is_some_and(|c| e.time < *c) {
                    out.entry((e.tenant.clone(), link.writer.clone()))
                        .or_default()
                        .push((link.seq, link.hash.clone()));
                }
            }
        }
        Ok(out)
    }

    /// Records the run as `audit.purged`, when a recorder is set.
    fn record(&self, report: &PurgeReport, outcome: Outcome) {
        self.record_with(report, outcome, None);
    }

    /// [`record`](Self::record), with the checkpoint of `ranges` MACed under the key.
    fn record_with(
        &self,
        report: &PurgeReport,
        outcome: Outcome,
        checkpoint: Option<(&ChainKey, Vec<crate::chain::PurgedRange>)>,
    ) {
        let Some(r) = &self.recorder else { return };
        let purged = Purged {
            dry_run: report.dry_run,
            total: report.total,
            tenants: report.tenants.clone(),
            held: report.held.clone(),
            partitions: report.partitions.clone(),
            partition_events: (!report.partitions.is_empty()).then_some(report.partition_events),
            not_archived: report.not_archived.clone(),
            undelivered_kept: report.undelivered_kept,
            undelivered_purged: report.undelivered_purged,
        };
        let mut e = purged
            .write(ActivityEvent::audit(Action::AUDIT_PURGED, outcome).with_time(report.ran_at));
        if !report.not_archived.is_empty() && outcome == Outcome::Failure {
            e = e.with_reason("not_archived");
        }
        // The time as stored (microseconds), which the MAC covers.
        e.normalize();
        if let Some((key, ranges)) = checkpoint {
            let cp = PurgeCheckpoint::new(key, e.id, e.time, ranges);
            if let Ok(v) = serde_json::to_value(&cp) {
                e = e.with_detail(CHECKPOINT_KEY, v);
            }
        }
        if let Err(err) = r.record_reserved(e) {
            tracing::error!(error = %err, "audit.purged not recorded");
        }
    }
}

/// A purge (not a dry run) per run: `jobs::every(interval).spawn(purger)`.
#[async_trait::async_trait]
impl crate::jobs::Job for Purger {
    fn name(&self) -> &str {
        "retention purge"
    }

    async fn run(&self) -> Result<()> {
        self.run_once(false).await.map(drop)
    }
}
