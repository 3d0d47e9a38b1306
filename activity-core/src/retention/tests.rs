use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};

use super::*;
use crate::archive::coverage::*;

use crate::error::{Error, Result};
use crate::event::{ActivityEvent, Outcome};
use crate::query::{ActivityQuery, DeleteRequest};
use crate::recorder::Recorder;
use crate::store::ActivityStore;
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
        crate::export::ExportFormat::JsonLines,
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
    let usable = usable_archives_checked(&*store, &root, now() - Duration::days(30), move |d| {
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
    ) -> Result<crate::store::DroppedPartitions> {
        self.1.lock().unwrap().push(before);
        let mut d = crate::store::DroppedPartitions {
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
    let purger =
        Purger::new(store.clone(), free, Arc::new(ManualClock::new(now()))).recorder(rec.clone());
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
