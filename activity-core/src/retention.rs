//! Retention: how long each tenant's events are kept, legal holds, and the purge job.
//!
//! The product's tiers are presets — Small Business 90 days, Medium Business 1 year,
//! Enterprise 7 years — and any tenant may have a custom number of days instead. A tenant
//! under legal hold is never purged. The [`Purger`] deletes expired events in bounded
//! batches (so concurrent writers wait at most one small batch), can run once or on an
//! interval, supports a dry run, records each run as an `audit.purged` event, and keeps
//! its last report for operators to see.
//!
//! On a store that partitions by time (PostgreSQL), the purger first drops the whole
//! partitions that every tenant's retention has passed (when no stored tenant is under
//! legal hold), then deletes the remaining expired rows.
//!
//! With [`Purger::require_archive`], it refuses to delete anything while some expired
//! event lies in no verified archive of the configured directory
//! ([`Error::NotArchived`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::clock::Clock;
use crate::error::{Error, Result, Rule};
use crate::event::{Action, ActivityEvent, Outcome};
use crate::query::{ActivityQuery, DeleteRequest};
use crate::recorder::Recorder;
use crate::store::ActivityStore;

/// The product's retention tiers.
///
/// ```
/// use activity_core::Tier;
/// assert_eq!(Tier::parse("small_business").unwrap().days(), 90);
/// assert_eq!(Tier::MediumBusiness.days(), 365);
/// assert_eq!(Tier::Enterprise.days(), 7 * 365 + 2, "seven years, leap days included");
/// assert!(Tier::parse("gold").is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    /// 90 days.
    SmallBusiness,
    /// 1 year.
    MediumBusiness,
    /// 7 years.
    Enterprise,
}

impl Tier {
    /// Parses `small_business`, `medium_business` or `enterprise`.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming `tier`.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "small_business" => Ok(Tier::SmallBusiness),
            "medium_business" => Ok(Tier::MediumBusiness),
            "enterprise" => Ok(Tier::Enterprise),
            _ => Err(Error::invalid(
                "tier",
                Rule::Unknown("small_business, medium_business, enterprise"),
            )),
        }
    }

    /// The tier's retention.
    pub fn days(self) -> u32 {
        match self {
            Tier::SmallBusiness => 90,
            Tier::MediumBusiness => 365,
            Tier::Enterprise => 7 * 365 + 2,
        }
    }
}

/// How long a tenant's events are kept.
///
/// ```
/// use activity_core::{Retention, Tier};
/// use chrono::Duration;
/// assert_eq!(Retention::Tier(Tier::SmallBusiness).duration(), Duration::days(90));
/// assert_eq!(Retention::Days(30).duration(), Duration::days(30));
/// assert_eq!(Retention::Days(0).duration(), Duration::days(1), "at least a day");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retention {
    /// A tier's preset.
    Tier(Tier),
    /// A custom number of days (at least 1).
    Days(u32),
}

impl Retention {
    /// The retention as a duration.
    pub fn duration(self) -> Duration {
        match self {
            Retention::Tier(t) => Duration::days(i64::from(t.days())),
            Retention::Days(d) => Duration::days(i64::from(d.max(1))),
        }
    }
}

/// Retention per tenant, with a default and legal holds.
///
/// ```
/// use activity_core::{Retention, RetentionPolicy, Tier};
/// let p = RetentionPolicy::new(Retention::Tier(Tier::SmallBusiness))
///     .tenant("acme", Retention::Tier(Tier::Enterprise))
///     .tenant("beta", Retention::Days(30))
///     .hold("gamma");
/// assert_eq!(p.retention_for(Some("beta")).unwrap().num_days(), 30);
/// assert!(p.retention_for(Some("gamma")).is_none(), "held: never purged");
/// assert_eq!(p.retention_for(None).unwrap().num_days(), 90);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionPolicy {
    default: Retention,
    tenants: BTreeMap<String, Retention>,
    holds: BTreeSet<String>,
}

impl RetentionPolicy {
    /// Every tenant keeps `default` unless set otherwise.
    pub fn new(default: Retention) -> Self {
        Self {
            default,
            tenants: BTreeMap::new(),
            holds: BTreeSet::new(),
        }
    }

    /// Sets a tenant's retention.
    pub fn tenant(mut self, tenant: impl Into<String>, r: Retention) -> Self {
        self.tenants.insert(tenant.into(), r);
        self
    }

    /// Puts a tenant under legal hold: nothing of it is purged.
    pub fn hold(mut self, tenant: impl Into<String>) -> Self {
        self.holds.insert(tenant.into());
        self
    }

    /// The retention of `tenant` (`None`: the events without a tenant), or `None` when
    /// it is under legal hold.
    pub fn retention_for(&self, tenant: Option<&str>) -> Option<Duration> {
        if let Some(t) = tenant {
            if self.holds.contains(t) {
                return None;
            }
            if let Some(r) = self.tenants.get(t) {
                return Some(r.duration());
            }
        }
        Some(self.default.duration())
    }
}

/// What one tenant's purge did.
///
/// ```
/// use std::sync::Arc;
/// use activity_core::{ActivityEvent, ActivityStore, Actor, ManualClock, MemoryStore, Purger, Retention, RetentionPolicy, TenantPurge};
/// use chrono::{Duration, TimeZone, Utc};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = Arc::new(MemoryStore::new());
/// let now = Utc.with_ymd_and_hms(2026, 11, 24, 0, 0, 0).unwrap();
/// let old = ActivityEvent::logout(Actor::user("u_1")).with_tenant("acme");
/// store.append(&[old.with_time(now - Duration::days(100))]).await.unwrap();
/// let policy = RetentionPolicy::new(Retention::Days(90));
/// let purger = Purger::new(store.clone(), policy, Arc::new(ManualClock::new(now)));
/// let report = purger.run_once(true).await.unwrap(); // a dry run only counts
/// let acme = TenantPurge { tenant: Some("acme".into()), cutoff: now - Duration::days(90), events: 1 };
/// assert_eq!(report.tenants, vec![acme]);
/// assert_eq!(store.len(), 1);
/// # });
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TenantPurge {
    /// The tenant (`None`: events without a tenant).
    pub tenant: Option<String>,
    /// Events older than this went.
    pub cutoff: DateTime<Utc>,
    /// How many went (or would go, in a dry run).
    pub events: u64,
}

/// What a purge run did.
///
/// ```
/// use std::sync::Arc;
/// use activity_core::{ActivityEvent, ActivityStore, Actor, ManualClock, MemoryStore, Purger, Retention, RetentionPolicy};
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
}

/// Deletes expired events.
///
/// Run it once ([`run_once`](Self::run_once), e.g. from cron) or every so often on a
/// tokio task ([`spawn`](Self::spawn)); time comes from the injected [`Clock`].
///
/// ```
/// use std::sync::Arc;
/// use activity_core::{ActivityEvent, ActivityStore, Actor, ManualClock, MemoryStore, Purger, Retention, RetentionPolicy, Tier};
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
    archives: Option<PathBuf>,
    partitions: bool,
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
            archives: None,
            partitions: true,
            last: Mutex::new(None),
        }
    }

    /// Requires an archive of what is deleted: before deleting anything, every expired
    /// event must lie in the window of an archive in `dir` (the directory itself or its
    /// immediate subdirectories, each with a `manifest.json`) that verifies against its
    /// manifest ([`verify_archive`](crate::verify_archive)), is of the event's tenant or
    /// of all tenants, and holds at least as many events as the store still has in its
    /// window (so nothing was added to the window after it was archived). Otherwise the
    /// run deletes nothing, records an `audit.purged` failure and returns
    /// [`Error::NotArchived`]; a dry run lists the shortfall in
    /// [`PurgeReport::not_archived`].
    ///
    /// ```
    /// use std::sync::Arc;
    /// use activity_core::{ActivityEvent, ActivityStore, Actor, Error, ManualClock, MemoryStore, Purger, Retention, RetentionPolicy};
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

    /// Whether to drop whole expired partitions where the store has them (default true;
    /// see [`ActivityStore::drop_expired_partitions`]).
    pub fn drop_partitions(mut self, on: bool) -> Self {
        self.partitions = on;
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

    /// Records each run as `audit.purged` through `recorder`. Give it a recorder that
    /// seals with the chain key: [`verify`](crate::verify) trusts the cut-offs of intact,
    /// chained `audit.purged` events only, and without one it cannot tell a chain whose
    /// newest events a purge removed from one whose newest events were deleted
    /// ([`Break::Truncated`](crate::Break::Truncated)).
    pub fn recorder(mut self, recorder: Recorder) -> Self {
        self.recorder = Some(recorder);
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
        };
        let tenants = self.store.tenants().await?;
        let mut plan: Vec<(Option<String>, DateTime<Utc>)> = Vec::new();
        for tenant in &tenants {
            match self.policy.retention_for(tenant.as_deref()) {
                Some(keep) => plan.push((tenant.clone(), now - keep)),
                None => report.held.extend(tenant.clone()),
            }
        }
        if let Some(dir) = &self.archives {
            report.not_archived = not_archived(&*self.store, dir, &plan, &tenants).await?;
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
        // Whole partitions first, where every tenant's retention has passed them.
        let mut dropped: HashMap<Option<String>, u64> = HashMap::new();
        if !dry_run && self.partitions && report.held.is_empty() {
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
                loop {
                    let d = self
                        .store
                        .delete(&DeleteRequest::new(tenant.as_deref(), *cutoff, self.batch))
                        .await?;
                    n += d;
                    if d < self.batch as u64 {
                        break;
                    }
                    tokio::time::sleep(self.pause).await;
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
        self.record(&report, Outcome::Success);
        tracing::info!(
            total = report.total,
            partitions = report.partitions.len(),
            dry_run,
            "retention purge ran"
        );
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Some(report.clone());
        Ok(report)
    }

    /// Records the run as `audit.purged`, when a recorder is set.
    fn record(&self, report: &PurgeReport, outcome: Outcome) {
        let Some(r) = &self.recorder else { return };
        fn json<T: Serialize>(v: &T) -> serde_json::Value {
            serde_json::to_value(v).unwrap_or_default()
        }
        let mut e = ActivityEvent::audit(Action::AUDIT_PURGED, outcome)
            .with_time(report.ran_at)
            .with_detail("dry_run", report.dry_run)
            .with_detail("total", report.total)
            .with_detail("tenants", json(&report.tenants))
            .with_detail("held", json(&report.held));
        if !report.partitions.is_empty() {
            e = e
                .with_detail("partitions", json(&report.partitions))
                .with_detail("partition_events", report.partition_events);
        }
        if !report.not_archived.is_empty() {
            e = e.with_detail("not_archived", json(&report.not_archived));
            if outcome == Outcome::Failure {
                e = e.with_reason("not_archived");
            }
        }
        if let Err(err) = r.record(e) {
            tracing::error!(error = %err, "audit.purged not recorded");
        }
    }

    /// Runs [`run_once`](Self::run_once) every `interval` on a tokio task.
    pub fn spawn(self: Arc<Self>, interval: std::time::Duration) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            loop {
                tick.tick().await;
                if let Err(e) = self.run_once(false).await {
                    tracing::error!(error = %e, "retention purge failed; retrying at the next tick");
                }
            }
        })
    }
}

/// How many events of `tenant` (`None`: those without a tenant) lie in `[since, until)`.
async fn count_of(
    store: &dyn ActivityStore,
    tenant: Option<&str>,
    since: Option<DateTime<Utc>>,
    until: DateTime<Utc>,
    tenants: &[Option<String>],
) -> Result<u64> {
    let window = |mut q: ActivityQuery| {
        if let Some(s) = since {
            q = q.since(s);
        }
        q.until(until)
    };
    match tenant {
        Some(t) => store.count(&window(ActivityQuery::tenant_log(t))).await,
        // Events without a tenant: all in the window, less the named tenants' ones.
        None => {
            let all = store.count(&window(ActivityQuery::new())).await?;
            let mut named = 0;
            for t in tenants.iter().flatten() {
                named += store.count(&window(ActivityQuery::tenant_log(t))).await?;
            }
            Ok(all.saturating_sub(named))
        }
    }
}

/// The archives in `dir` (itself and its immediate subdirectories) that can cover events
/// expiring before `before`: their window starts before it, the store still has events
/// in it (an archive of events already purged covers nothing), no more than the archive
/// holds (else events were added after it was made), and their files verify against the
/// manifest. Only those are read and hashed: a directory of years of archives costs one
/// manifest read and one indexed count each, not a full read of every file on every
/// purge.
async fn usable_archives(
    store: &dyn ActivityStore,
    dir: &Path,
    before: DateTime<Utc>,
) -> Result<Vec<crate::archive::Manifest>> {
    usable_archives_checked(store, dir, before, verifies).await
}

/// [`usable_archives`], with `check` saying whether an archive's files verify.
async fn usable_archives_checked(
    store: &dyn ActivityStore,
    dir: &Path,
    before: DateTime<Utc>,
    check: impl Fn(&Path) -> bool + Send + 'static,
) -> Result<Vec<crate::archive::Manifest>> {
    let dir = dir.to_path_buf();
    let found = off_thread(move || manifests(&dir)).await?;
    let mut candidates = Vec::new();
    for (d, m) in found {
        if m.since >= before {
            continue;
        }
        let rows: u64 = m.files.iter().map(|f| f.rows).sum();
        let mut q = match &m.tenant {
            Some(t) => ActivityQuery::tenant_log(t),
            None => ActivityQuery::new(),
        };
        q = q.since(m.since).until(m.until);
        let stored = store.count(&q).await?;
        if stored == 0 {
            continue;
        }
        if stored > rows {
            tracing::warn!(dir = %d.display(), stored, rows, "events were added to an archived window after it was archived; not counted as an archive");
            continue;
        }
        candidates.push((d, m));
    }
    off_thread(move || {
        candidates
            .into_iter()
            .filter(|(d, _)| check(d))
            .map(|(_, m)| m)
            .collect()
    })
    .await
}

/// Runs `f` (reading files: blocking work) off the async workers.
async fn off_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::backend("archive check did not finish", Some(Box::new(e))))
}

/// The manifests in `dir` and its immediate subdirectories (those that do not parse are
/// skipped with a warning).
fn manifests(dir: &Path) -> Vec<(PathBuf, crate::archive::Manifest)> {
    let mut dirs = vec![dir.to_path_buf()];
    if let Ok(entries) = std::fs::read_dir(dir) {
        let mut subs: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect();
        subs.sort();
        dirs.extend(subs);
    }
    let mut out = Vec::new();
    for d in dirs {
        if !d.join("manifest.json").is_file() {
            continue;
        }
        match crate::archive::read_manifest(&d) {
            Ok(m) => out.push((d, m)),
            Err(e) => {
                tracing::warn!(dir = %d.display(), error = %e, "unreadable archive; not counted as an archive");
            }
        }
    }
    out
}

/// Whether the archive in `dir` verifies against its manifest (a warning when not).
fn verifies(dir: &Path) -> bool {
    match crate::archive::verify_archive(dir) {
        Ok((_, problems)) if problems.is_empty() => true,
        Ok((_, problems)) => {
            tracing::warn!(dir = %dir.display(), ?problems, "archive does not verify; not counted as an archive");
            false
        }
        Err(e) => {
            tracing::warn!(dir = %dir.display(), error = %e, "unreadable archive; not counted as an archive");
            false
        }
    }
}

/// The tenants of `plan` whose expired events are not all inside a usable archive.
async fn not_archived(
    store: &dyn ActivityStore,
    dir: &Path,
    plan: &[(Option<String>, DateTime<Utc>)],
    tenants: &[Option<String>],
) -> Result<Vec<TenantPurge>> {
    let Some(before) = plan.iter().map(|(_, cutoff)| *cutoff).max() else {
        return Ok(Vec::new());
    };
    let archives = usable_archives(store, dir, before).await?;
    let mut out = Vec::new();
    for (tenant, cutoff) in plan {
        let total = count_of(store, tenant.as_deref(), None, *cutoff, tenants).await?;
        if total == 0 {
            continue;
        }
        let mut windows: Vec<(DateTime<Utc>, DateTime<Utc>)> = archives
            .iter()
            .filter(|m| m.tenant.is_none() || m.tenant == *tenant)
            .map(|m| (m.since, m.until.min(*cutoff)))
            .filter(|(a, b)| a < b)
            .collect();
        windows.sort();
        let mut merged: Vec<(DateTime<Utc>, DateTime<Utc>)> = Vec::new();
        for (a, b) in windows {
            match merged.last_mut() {
                Some(last) if a <= last.1 => last.1 = last.1.max(b),
                _ => merged.push((a, b)),
            }
        }
        let mut covered = 0;
        for (a, b) in merged {
            covered += count_of(store, tenant.as_deref(), Some(a), b, tenants).await?;
        }
        if covered < total {
            out.push(TenantPurge {
                tenant: tenant.clone(),
                cutoff: *cutoff,
                events: total - covered,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Actor, ManualClock, MemoryStore};
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 24, 0, 0, 0).unwrap()
    }

    async fn seeded() -> Arc<MemoryStore> {
        let store = Arc::new(MemoryStore::new());
        let mut v = Vec::new();
        for (tenant, ages) in [
            (Some("acme"), vec![10, 100, 400, 3000]),
            (Some("beta"), vec![10, 29, 31, 100]),
            (Some("held"), vec![10, 5000]),
            (None, vec![10, 89, 91, 200]),
        ] {
            for days in ages {
                let mut e =
                    ActivityEvent::logout(Actor::user("u")).with_time(now() - Duration::days(days));
                if let Some(t) = tenant {
                    e = e.with_tenant(t);
                }
                v.push(e);
            }
        }
        store.append(&v).await.unwrap();
        store
    }

    fn policy() -> RetentionPolicy {
        RetentionPolicy::new(Retention::Tier(Tier::SmallBusiness))
            .tenant("acme", Retention::Tier(Tier::MediumBusiness))
            .tenant("beta", Retention::Days(30))
            .hold("held")
    }

    #[tokio::test]
    async fn purge_follows_tiers_custom_days_and_holds() {
        let store = seeded().await;
        let (rec, guard) = Recorder::builder(store.clone())
            .lifecycle_events(false)
            .start();
        let purger = Purger::new(store.clone(), policy(), Arc::new(ManualClock::new(now())))
            .batch(1)
            .recorder(rec.clone());
        let dry = purger.run_once(true).await.unwrap();
        assert_eq!(dry.total, 6);
        assert_eq!(store.len(), 14, "a dry run deletes nothing");
        let report = purger.run_once(false).await.unwrap();
        assert_eq!(report.total, 6);
        assert_eq!(report.held, vec!["held".to_string()]);
        let by: BTreeMap<Option<String>, u64> = report
            .tenants
            .iter()
            .map(|t| (t.tenant.clone(), t.events))
            .collect();
        assert_eq!(by[&Some("acme".into())], 2, "older than a year");
        assert_eq!(by[&Some("beta".into())], 2, "older than 30 days");
        assert_eq!(by[&None], 2, "older than 90 days");
        assert_eq!(
            store
                .count(&ActivityQuery::tenant_log("held"))
                .await
                .unwrap(),
            2,
            "held"
        );
        assert_eq!(purger.last_run(), Some(report));
        rec.flush().await.unwrap();
        let purged = store
            .query(&ActivityQuery::new().action("audit.purged"))
            .await
            .unwrap()
            .events;
        assert_eq!(purged.len(), 2);
        assert!(purged
            .iter()
            .any(|e| e.details.as_ref().unwrap()["total"] == 6));
        guard.shutdown().await;
    }

    #[test]
    fn tiers() {
        assert_eq!(Tier::parse("enterprise").unwrap().days(), 2557);
        assert!(Tier::parse("gold").is_err());
    }

    fn temp_dir(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("activity-{name}-{}", uuid::Uuid::now_v7()))
    }

    async fn archive_window(
        store: &MemoryStore,
        dir: &Path,
        tenant: Option<&str>,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) {
        crate::archive::archive(
            store,
            dir,
            tenant,
            since,
            until,
            crate::ExportFormat::JsonLines,
            now(),
        )
        .await
        .unwrap();
    }

    #[tokio::test]
    async fn purge_requiring_an_archive_refuses_without_one_and_deletes_with_one() {
        let store = seeded().await;
        let root = temp_dir("purge-archives");
        let (rec, guard) = Recorder::builder(store.clone())
            .lifecycle_events(false)
            .start();
        let purger = Purger::new(store.clone(), policy(), Arc::new(ManualClock::new(now())))
            .require_archive(&root)
            .recorder(rec.clone());
        // No archive at all: refused, nothing deleted, reported.
        let err = purger.run_once(false).await.unwrap_err();
        assert!(matches!(err, Error::NotArchived { .. }), "{err}");
        assert!(err.to_string().contains("nothing was deleted"), "{err}");
        assert_eq!(store.len(), 14);
        let last = purger.last_run().unwrap();
        assert_eq!(last.total, 0);
        let short: u64 = last.not_archived.iter().map(|t| t.events).sum();
        assert_eq!(short, 6, "every expired event is missing from the archives");
        rec.flush().await.unwrap();
        let refused = store
            .query(&ActivityQuery::new().action("audit.purged"))
            .await
            .unwrap()
            .events;
        assert_eq!(refused.len(), 1);
        assert_eq!(refused[0].outcome, Outcome::Failure);
        assert_eq!(refused[0].reason.as_deref(), Some("not_archived"));
        // A dry run says the same and succeeds.
        let dry = purger.run_once(true).await.unwrap();
        assert_eq!(dry.not_archived, last.not_archived);
        // An archive of all tenants covering only part of the expired events: still refused.
        let old = now() - Duration::days(6000);
        archive_window(
            &store,
            &root.join("a1"),
            None,
            old,
            now() - Duration::days(365),
        )
        .await;
        let err = purger.run_once(false).await.unwrap_err();
        assert!(matches!(err, Error::NotArchived { .. }));
        let short: u64 = purger
            .last_run()
            .unwrap()
            .not_archived
            .iter()
            .map(|t| t.events)
            .sum();
        assert_eq!(
            short, 4,
            "beta's two and the untenanted two, newer than a year"
        );
        rec.flush().await.unwrap();
        let all = store
            .query(&ActivityQuery::new().limit(1000))
            .await
            .unwrap()
            .events;
        assert_eq!(
            all.iter()
                .filter(|e| e.action != crate::Action::AUDIT_PURGED)
                .count(),
            14,
            "nothing deleted (beside the purger's own records)"
        );
        // The rest archived (beta on its own, the untenanted ones with all): purged.
        archive_window(
            &store,
            &root.join("a2"),
            Some("beta"),
            now() - Duration::days(365),
            now() - Duration::days(29),
        )
        .await;
        archive_window(
            &store,
            &root.join("a3"),
            None,
            now() - Duration::days(365),
            now() - Duration::days(90),
        )
        .await;
        let report = purger.run_once(false).await.unwrap();
        assert_eq!(report.total, 6);
        assert!(report.not_archived.is_empty());
        guard.shutdown().await;
        let _ = std::fs::remove_dir_all(root);
    }

    /// Only archives that can cover something are read and hashed: not one whose
    /// window's events are gone already, nor one whose window starts after the cut-off.
    #[tokio::test]
    async fn only_archives_that_can_cover_expired_events_are_verified() {
        let store = seeded().await;
        let root = temp_dir("purge-which-archives");
        let year_ago = now() - Duration::days(365);
        // Nothing of the store is older than five years: an archive of that time covers
        // nothing; one of the last year covers expiring events; one of next week, none.
        archive_window(
            &store,
            &root.join("old"),
            None,
            year_ago - Duration::days(2000),
            year_ago - Duration::days(1900),
        )
        .await;
        archive_window(
            &store,
            &root.join("year"),
            None,
            year_ago,
            now() - Duration::days(29),
        )
        .await;
        archive_window(
            &store,
            &root.join("future"),
            None,
            now() + Duration::days(1),
            now() + Duration::days(8),
        )
        .await;
        let checked = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = checked.clone();
        let usable =
            usable_archives_checked(&*store, &root, now() - Duration::days(30), move |d| {
                log.lock()
                    .unwrap()
                    .push(d.file_name().unwrap().to_string_lossy().into_owned());
                verifies(d)
            })
            .await
            .unwrap();
        assert_eq!(
            *checked.lock().unwrap(),
            vec!["year".to_owned()],
            "verified once"
        );
        assert_eq!(usable.len(), 1);
        assert_eq!(usable[0].since, year_ago);
        let _ = std::fs::remove_dir_all(root);
    }

    #[tokio::test]
    async fn an_altered_or_outgrown_archive_does_not_count() {
        let store = seeded().await;
        let root = temp_dir("purge-bad-archives");
        let purger = Purger::new(store.clone(), policy(), Arc::new(ManualClock::new(now())))
            .require_archive(&root);
        let old = now() - Duration::days(6000);
        archive_window(&store, &root, None, old, now()).await;
        // Intact: covers everything.
        assert!(purger.run_once(true).await.unwrap().not_archived.is_empty());
        // An event added to the archived window afterwards: the archive lacks it.
        store
            .append(&[ActivityEvent::logout(Actor::user("late"))
                .with_tenant("acme")
                .with_time(now() - Duration::days(1000))])
            .await
            .unwrap();
        assert!(!purger.run_once(true).await.unwrap().not_archived.is_empty());
        // An altered archive file.
        let root2 = temp_dir("purge-bad-archives2");
        archive_window(&store, &root2, None, old, now()).await;
        let purger = Purger::new(store.clone(), policy(), Arc::new(ManualClock::new(now())))
            .require_archive(&root2);
        assert!(purger.run_once(true).await.unwrap().not_archived.is_empty());
        let f = root2.join("events.jsonl");
        let text = std::fs::read_to_string(&f)
            .unwrap()
            .replacen("logout", "logput", 1);
        std::fs::write(&f, text).unwrap();
        assert!(matches!(
            purger.run_once(false).await,
            Err(Error::NotArchived { .. })
        ));
        assert_eq!(store.len(), 15);
        let _ = std::fs::remove_dir_all(root);
        let _ = std::fs::remove_dir_all(root2);
    }

    /// A store that "partitions" by dropping everything before the cut-off at once.
    struct Partitioned(Arc<MemoryStore>, Mutex<Vec<DateTime<Utc>>>);

    #[async_trait::async_trait]
    impl ActivityStore for Partitioned {
        async fn append(&self, events: &[ActivityEvent]) -> Result<u64> {
            self.0.append(events).await
        }
        async fn query(&self, q: &ActivityQuery) -> Result<crate::Page> {
            self.0.query(q).await
        }
        async fn count(&self, q: &ActivityQuery) -> Result<u64> {
            self.0.count(q).await
        }
        async fn delete(&self, r: &DeleteRequest) -> Result<u64> {
            self.0.delete(r).await
        }
        async fn tenants(&self) -> Result<Vec<Option<String>>> {
            self.0.tenants().await
        }
        async fn drop_expired_partitions(
            &self,
            before: DateTime<Utc>,
        ) -> Result<crate::DroppedPartitions> {
            self.1.lock().unwrap().push(before);
            let mut d = crate::DroppedPartitions {
                partitions: vec!["p_old".into()],
                events: Vec::new(),
            };
            for t in self.0.tenants().await? {
                let n = self
                    .0
                    .delete(&DeleteRequest::new(t.as_deref(), before, usize::MAX))
                    .await?;
                d.events.push((t, n));
            }
            Ok(d)
        }
    }

    #[tokio::test]
    async fn partitions_go_whole_only_below_every_cutoff_and_never_under_a_hold() {
        let inner = seeded().await;
        let store = Arc::new(Partitioned(inner.clone(), Mutex::new(Vec::new())));
        let (rec, guard) = Recorder::builder(inner.clone())
            .lifecycle_events(false)
            .start();
        // A legal hold: no partition is dropped, rows are deleted.
        let held = Purger::new(store.clone(), policy(), Arc::new(ManualClock::new(now())))
            .recorder(rec.clone());
        let r = held.run_once(false).await.unwrap();
        assert_eq!(r.total, 6);
        assert!(r.partitions.is_empty());
        assert!(store.1.lock().unwrap().is_empty());
        // Without holds: partitions below the longest retention (a year) go first.
        let inner = seeded().await;
        let store = Arc::new(Partitioned(inner.clone(), Mutex::new(Vec::new())));
        let free = RetentionPolicy::new(Retention::Tier(Tier::SmallBusiness))
            .tenant("acme", Retention::Tier(Tier::MediumBusiness))
            .tenant("beta", Retention::Days(30));
        guard.shutdown().await;
        let (rec, guard) = Recorder::builder(inner.clone())
            .lifecycle_events(false)
            .start();
        let purger = Purger::new(store.clone(), free, Arc::new(ManualClock::new(now())))
            .recorder(rec.clone());
        let r = purger.run_once(false).await.unwrap();
        assert_eq!(
            store.1.lock().unwrap().clone(),
            vec![now() - Duration::days(365)],
            "the cut-off every tenant's retention allows"
        );
        assert_eq!(r.partitions, vec!["p_old".to_string()]);
        // acme 400, 3000; beta 31, 100; held 5000 (no hold now: 90 days); none 91, 200.
        assert_eq!(r.total, 7);
        assert_eq!(
            r.partition_events, 3,
            "everything older than a year went whole"
        );
        assert_eq!(inner.len(), 14 - 7);
        rec.flush().await.unwrap();
        let ev = inner
            .query(&ActivityQuery::new().action("audit.purged"))
            .await
            .unwrap()
            .events;
        assert!(ev
            .iter()
            .any(|e| e.details.as_ref().unwrap()["partitions"][0] == "p_old"));
        guard.shutdown().await;
    }
}
