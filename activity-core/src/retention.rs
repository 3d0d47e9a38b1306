//! Retention: how long each tenant's events are kept, legal holds, and the purge job.
//!
//! The product's tiers are presets — Small Business 90 days, Medium Business 1 year,
//! Enterprise 7 years — and any tenant may have a custom number of days instead. A tenant
//! under legal hold is never purged. The [`Purger`] deletes expired events in bounded
//! batches (so concurrent writers wait at most one small batch), can run once or on an
//! interval, supports a dry run, records each run as an `audit.purged` event, and keeps
//! its last report for operators to see.

use std::collections::{BTreeMap, BTreeSet};
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PurgeReport {
    /// When it ran (by the purger's clock).
    pub ran_at: DateTime<Utc>,
    /// Whether it only counted.
    pub dry_run: bool,
    /// Per tenant.
    pub tenants: Vec<TenantPurge>,
    /// Tenants skipped for a legal hold.
    pub held: Vec<String>,
    /// Events deleted (or that would be) in all.
    pub total: u64,
}

/// Deletes expired events.
pub struct Purger {
    store: Arc<dyn ActivityStore>,
    policy: RetentionPolicy,
    clock: Arc<dyn Clock>,
    batch: usize,
    pause: std::time::Duration,
    recorder: Option<Recorder>,
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
            last: Mutex::new(None),
        }
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

    /// Records each run as `audit.purged` through `recorder`.
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
        };
        let tenants = self.store.tenants().await?;
        for tenant in &tenants {
            let Some(keep) = self.policy.retention_for(tenant.as_deref()) else {
                report.held.extend(tenant.clone());
                continue;
            };
            let cutoff = now - keep;
            let events = if dry_run {
                match tenant {
                    Some(t) => {
                        self.store
                            .count(&ActivityQuery::tenant_log(t).until(cutoff))
                            .await?
                    }
                    // Events without a tenant: all before the cut-off, less the named ones.
                    None => {
                        let all = self
                            .store
                            .count(&ActivityQuery::new().until(cutoff))
                            .await?;
                        let mut named = 0;
                        for t in tenants.iter().flatten() {
                            named += self
                                .store
                                .count(&ActivityQuery::tenant_log(t).until(cutoff))
                                .await?;
                        }
                        all.saturating_sub(named)
                    }
                }
            } else {
                let mut n = 0;
                loop {
                    let d = self
                        .store
                        .delete(&DeleteRequest::new(tenant.as_deref(), cutoff, self.batch))
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
                cutoff,
                events,
            });
        }
        if let Some(r) = &self.recorder {
            let e = ActivityEvent::audit(Action::AUDIT_PURGED, Outcome::Success)
                .with_time(now)
                .with_detail("dry_run", dry_run)
                .with_detail("total", report.total)
                .with_detail(
                    "tenants",
                    serde_json::to_value(&report.tenants).unwrap_or_default(),
                )
                .with_detail(
                    "held",
                    serde_json::to_value(&report.held).unwrap_or_default(),
                );
            if let Err(err) = r.record(e) {
                tracing::error!(error = %err, "audit.purged not recorded");
            }
        }
        tracing::info!(total = report.total, dry_run, "retention purge ran");
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Some(report.clone());
        Ok(report)
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
}
