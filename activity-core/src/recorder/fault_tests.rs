//! Faults the worker must survive without losing or inventing anything: outages that
//! look like "bad data", a store that rejects everything, panicking stages, shutdown in a
//! long backoff, durable acknowledgement.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;

use super::*;
use crate::{query::DeleteRequest, Action, ActivityQuery, Actor, MemoryStore, Page};

/// What a [`FaultStore`] answers an append with while its fault is on.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Fault {
    None,
    /// "database or disk is full" as a plain backend error (what an unclassified or
    /// misclassified outage looks like to the worker).
    DiskFull,
    /// Every event refused for its content.
    RejectAll,
    /// The append panics.
    Panic,
}

struct FaultStore {
    inner: MemoryStore,
    fault: Mutex<Fault>,
    appends: AtomicUsize,
}

impl FaultStore {
    fn new(fault: Fault) -> Arc<Self> {
        Arc::new(Self {
            inner: MemoryStore::new(),
            fault: Mutex::new(fault),
            appends: AtomicUsize::new(0),
        })
    }
    fn set(&self, fault: Fault) {
        *self.fault.lock().unwrap() = fault;
    }
    async fn n(&self, action: &str) -> u64 {
        self.inner
            .count(&ActivityQuery::new().action(action))
            .await
            .unwrap()
    }
}

#[async_trait]
impl ActivityStore for FaultStore {
    async fn append(&self, events: &[ActivityEvent]) -> Result<u64> {
        self.appends.fetch_add(1, Ordering::SeqCst);
        let fault = *self.fault.lock().unwrap();
        match fault {
            Fault::None => self.inner.append(events).await,
            Fault::DiskFull => Err(Error::backend("database or disk is full", None)),
            Fault::RejectAll => Err(Error::rejected("CHECK constraint failed", None)),
            Fault::Panic => panic!("store bug"),
        }
    }
    async fn query(&self, q: &ActivityQuery) -> Result<Page> {
        self.inner.query(q).await
    }
    async fn count(&self, q: &ActivityQuery) -> Result<u64> {
        self.inner.count(q).await
    }
    async fn delete(&self, r: &DeleteRequest) -> Result<u64> {
        self.inner.delete(r).await
    }
    async fn tenants(&self) -> Result<Vec<Option<String>>> {
        self.inner.tenants().await
    }
}

fn login(i: usize) -> ActivityEvent {
    ActivityEvent::login_succeeded(Actor::user(format!("u_{i}")))
}

/// Finding A7: "disk full" used to be handled as 100 rejected events (all lost), each
/// feeding an `audit.failed` that failed the same way; `flush` and `shutdown` never
/// returned and health stayed Healthy.
#[tokio::test(start_paused = true)]
async fn disk_full_is_an_outage_not_a_hundred_bad_events() {
    let store = FaultStore::new(Fault::DiskFull);
    let notices = Arc::new(Mutex::new(Vec::new()));
    let n2 = notices.clone();
    let (rec, guard) = Recorder::builder(store.clone())
        .outage_policy(OutagePolicy::FailClosed)
        .on_outage(move |n| n2.lock().unwrap().push(format!("{n:?}")))
        .shutdown_timeout(Duration::from_secs(1))
        .start();
    for i in 0..100 {
        rec.record(login(i)).unwrap();
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        matches!(rec.health(), Health::Degraded { ref error, .. } if error.contains("disk is full")),
        "{:?}",
        rec.health()
    );
    assert!(!rec.is_accepting(), "fail-closed engaged");
    assert_eq!(rec.metrics().rejected, 0, "nothing discarded");
    assert!(notices.lock().unwrap()[0].starts_with("Failed"));
    store.set(Fault::None);
    tokio::time::timeout(Duration::from_secs(60), rec.flush())
        .await
        .expect("flush returns once the disk has room")
        .unwrap();
    assert_eq!(store.n(Action::LOGIN_SUCCEEDED.as_str()).await, 100);
    assert!(rec.is_accepting());
    assert!(rec.health().is_healthy());
    let report = guard.shutdown().await;
    assert!(report.unwritten.is_empty());
    assert_eq!(store.n("audit.failed").await, 1, "one outage, one record");
    assert_eq!(store.n("audit.recovered").await, 1);
}

#[tokio::test(start_paused = true)]
async fn shutdown_in_a_disk_full_outage_returns_and_hands_everything_back() {
    let store = FaultStore::new(Fault::DiskFull);
    let (rec, guard) = Recorder::builder(store.clone())
        .shutdown_timeout(Duration::from_secs(1))
        .start();
    for i in 0..100 {
        rec.record(login(i)).unwrap();
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let report = tokio::time::timeout(Duration::from_secs(30), guard.shutdown())
        .await
        .expect("shutdown honours its timeout");
    let logins = report
        .unwritten
        .iter()
        .filter(|e| e.action == Action::LOGIN_SUCCEEDED)
        .count();
    assert_eq!(logins, 100, "every login handed back");
    assert_eq!(report.metrics.rejected, 0);
}

/// A store that rejects every event (content): each is isolated once and its
/// `audit.failed` is not, in turn, reported as failing.
#[tokio::test]
async fn a_store_rejecting_everything_does_not_feed_itself() {
    let store = FaultStore::new(Fault::RejectAll);
    let (rec, guard) = Recorder::builder(store.clone())
        .lifecycle_events(false)
        .linger(Duration::from_millis(20))
        .start();
    for i in 0..10 {
        rec.record(login(i)).unwrap();
    }
    tokio::time::timeout(Duration::from_secs(10), rec.flush())
        .await
        .expect("flush returns")
        .unwrap();
    let m = rec.metrics();
    // 10 logins and the 10 audit.failed that reported them; nothing more.
    assert_eq!(m.rejected, 20, "{m:?}");
    let report = tokio::time::timeout(Duration::from_secs(10), guard.shutdown())
        .await
        .expect("shutdown returns");
    assert_eq!(report.metrics.rejected, 20);
}

/// Every wait honours the shutdown timeout: a long backoff sleep ends on shutdown.
#[tokio::test]
async fn shutdown_cuts_a_long_backoff_short() {
    let store = FaultStore::new(Fault::DiskFull);
    let (rec, guard) = Recorder::builder(store.clone())
        .backoff(Backoff {
            initial: Duration::from_secs(60),
            max: Duration::from_secs(60),
        })
        .shutdown_timeout(Duration::from_millis(200))
        .start();
    rec.record(login(0)).unwrap();
    while store.appends.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let started = std::time::Instant::now();
    let report = tokio::time::timeout(Duration::from_secs(5), guard.shutdown())
        .await
        .expect("not 60 s");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(report
        .unwritten
        .iter()
        .any(|e| e.action == Action::LOGIN_SUCCEEDED));
}

struct Boom {
    /// Panics this many times in total (usize::MAX: always).
    times: AtomicUsize,
}

#[async_trait]
impl AfterCommit for Boom {
    async fn after_commit(
        &self,
        _store: &dyn ActivityStore,
        committed: &[ActivityEvent],
    ) -> Vec<ActivityEvent> {
        if committed.iter().any(|e| e.action.as_str() == "x.boom")
            && self
                .times
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
        {
            panic!("alert engine bug");
        }
        Vec::new()
    }
}

/// Finding A13: a panicking after-commit stage killed the worker; health stayed Healthy,
/// the 1000 events behind it were lost and the report said nothing was unwritten.
#[tokio::test(start_paused = true)]
async fn a_panicking_after_commit_stage_loses_nothing_and_says_so() {
    let store = FaultStore::new(Fault::None);
    let (rec, guard) = Recorder::builder(store.clone())
        .outage_policy(OutagePolicy::FailClosed)
        .after_commit(Boom {
            times: AtomicUsize::new(usize::MAX),
        })
        .batch_size(64)
        .start();
    rec.record(ActivityEvent::custom("x.boom").unwrap())
        .unwrap();
    // Let the first batch (audit.started, x.boom) commit and its stage panic.
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(
        matches!(
            rec.health(),
            Health::Failed {
                stage: "after_commit",
                ..
            }
        ),
        "{:?}",
        rec.health()
    );
    assert!(!rec.is_accepting(), "fail-closed while the stage fails");
    tokio::time::timeout(Duration::from_secs(60), async {
        while !rec.is_accepting() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("skipped after its retries");
    for i in 0..1000 {
        rec.record(login(i)).unwrap();
    }
    rec.flush().await.unwrap();
    assert!(rec.health().is_healthy());
    let report = guard.shutdown().await;
    assert!(report.unwritten.is_empty());
    assert!(report.worker_panicked.is_none());
    assert_eq!(report.metrics.panicked, 1);
    assert_eq!(store.n(Action::LOGIN_SUCCEEDED.as_str()).await, 1000);
    assert_eq!(store.n("x.boom").await, 1);
    let failed = store
        .inner
        .query(&ActivityQuery::new().action("audit.failed"))
        .await
        .unwrap();
    assert!(failed
        .events
        .iter()
        .any(|e| e.reason.as_deref() == Some("stage_panicked")
            && e.details.as_ref().unwrap()["stage"] == "after_commit"));
}

/// A stage that panics once recovers on its retry: no skip, no lost follow-ups.
#[tokio::test(start_paused = true)]
async fn a_stage_that_panics_once_recovers_on_retry() {
    let store = FaultStore::new(Fault::None);
    let (rec, guard) = Recorder::builder(store.clone())
        .after_commit(Boom {
            times: AtomicUsize::new(1),
        })
        .start();
    rec.record(ActivityEvent::custom("x.boom").unwrap())
        .unwrap();
    rec.flush().await.unwrap();
    assert!(rec.health().is_healthy());
    let report = guard.shutdown().await;
    assert_eq!(report.metrics.panicked, 0);
    assert_eq!(store.n("audit.recovered").await, 1);
}

#[tokio::test(start_paused = true)]
async fn a_panicking_enricher_keeps_the_batch_then_skips_only_its_call() {
    let store = FaultStore::new(Fault::None);
    let (rec, guard) = Recorder::builder(store.clone())
        .lifecycle_events(false)
        .enricher(|e: &mut ActivityEvent| {
            if e.actor_id() == Some("u_3") {
                panic!("geo lookup bug");
            }
            e.details
                .get_or_insert_with(Default::default)
                .insert("enriched".into(), true.into());
        })
        .start();
    for i in 0..10 {
        rec.record(login(i)).unwrap();
    }
    rec.flush().await.unwrap();
    let report = guard.shutdown().await;
    assert_eq!(report.metrics.panicked, 1);
    assert_eq!(store.n(Action::LOGIN_SUCCEEDED.as_str()).await, 10);
    let page = store
        .inner
        .query(&ActivityQuery::new().action(Action::LOGIN_SUCCEEDED.as_str()))
        .await
        .unwrap();
    let enriched = page
        .events
        .iter()
        .filter(|e| {
            e.details
                .as_ref()
                .is_some_and(|d| d.contains_key("enriched"))
        })
        .count();
    assert_eq!(enriched, 9, "only the panicking call skipped");
}

#[tokio::test(start_paused = true)]
async fn a_panicking_store_is_an_outage_of_the_store_stage() {
    let store = FaultStore::new(Fault::Panic);
    let (rec, guard) = Recorder::builder(store.clone())
        .outage_policy(OutagePolicy::FailClosed)
        .start();
    rec.record(login(0)).unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        matches!(rec.health(), Health::Degraded { ref error, .. } if error.contains("panicked")),
        "{:?}",
        rec.health()
    );
    assert!(!rec.is_accepting());
    store.set(Fault::None);
    rec.flush().await.unwrap();
    let report = guard.shutdown().await;
    assert!(report.unwritten.is_empty());
    assert_eq!(store.n(Action::LOGIN_SUCCEEDED.as_str()).await, 1);
}

#[tokio::test]
async fn record_durable_returns_once_stored_and_not_before() {
    let store = FaultStore::new(Fault::DiskFull);
    let (rec, guard) = Recorder::builder(store.clone())
        .lifecycle_events(false)
        .backoff(Backoff {
            initial: Duration::from_millis(5),
            max: Duration::from_millis(20),
        })
        .start();
    let e = login(1);
    let id = e.id;
    let waited = tokio::time::timeout(Duration::from_millis(200), rec.record_durable(e)).await;
    assert!(waited.is_err(), "not durable while the store is down");
    store.set(Fault::None);
    // Many concurrent callers share batches (group commit).
    let calls: Vec<_> = (0..200)
        .map(|i| {
            let rec = rec.clone();
            tokio::spawn(async move { rec.record_durable(login(i)).await })
        })
        .collect();
    for c in calls {
        c.await.unwrap().unwrap();
    }
    assert_eq!(store.n(Action::LOGIN_SUCCEEDED.as_str()).await, 201);
    assert!(store
        .inner
        .query(&ActivityQuery::new().limit(1000))
        .await
        .unwrap()
        .events
        .iter()
        .any(|e| e.id == id));
    assert!(
        store.appends.load(Ordering::SeqCst) < 150,
        "grouped: {} appends",
        store.appends.load(Ordering::SeqCst)
    );
    store.set(Fault::RejectAll);
    let refused = rec.record_durable(login(999)).await;
    assert!(
        matches!(refused, Err(Error::Rejected { .. })),
        "{refused:?}"
    );
    guard.shutdown().await;
}

#[tokio::test]
async fn record_durable_hears_closed_when_shutdown_gives_up() {
    let store = FaultStore::new(Fault::DiskFull);
    let (rec, guard) = Recorder::builder(store.clone())
        .shutdown_timeout(Duration::from_millis(100))
        .start();
    let waiting = tokio::spawn({
        let rec = rec.clone();
        async move { rec.record_durable(login(0)).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let report = guard.shutdown().await;
    assert!(!report.unwritten.is_empty());
    let answer = waiting.await.unwrap();
    assert!(matches!(answer, Err(Error::Closed)), "{answer:?}");
}
