use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use uuid::Uuid;

use super::*;
use crate::{query::DeleteRequest, Action, ActivityQuery, Actor, MemoryStore, Page, Rule};

/// A MemoryStore that can be made to fail, block, or reject, and that logs append order.
#[derive(Default)]
struct TestStore {
    inner: MemoryStore,
    fail_next: AtomicUsize,
    down: AtomicBool,
    reject_actor: Mutex<Option<String>>,
    gate: tokio::sync::RwLock<()>,
    order: Mutex<Vec<Uuid>>,
    appends: AtomicUsize,
}

#[async_trait]
impl ActivityStore for TestStore {
    async fn append(&self, events: &[ActivityEvent]) -> Result<u64> {
        let _open = self.gate.read().await;
        self.appends.fetch_add(1, Ordering::SeqCst);
        if self.down.load(Ordering::SeqCst) {
            return Err(Error::unavailable("server went away", None));
        }
        if self
            .fail_next
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(Error::timeout("slow", None));
        }
        if let Some(bad) = self.reject_actor.lock().unwrap().as_deref() {
            if events.iter().any(|e| e.actor_id() == Some(bad)) {
                return Err(Error::rejected("constraint violated", None));
            }
        }
        let n = self.inner.append(events).await?;
        let mut order = self.order.lock().unwrap();
        for e in events {
            if !order.contains(&e.id) {
                order.push(e.id);
            }
        }
        Ok(n)
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

fn actions_in_order(store: &TestStore) -> Vec<(Uuid, Action)> {
    let order = store.order.lock().unwrap().clone();
    let all = store.inner.len();
    assert_eq!(order.len(), all);
    let rt_events: Vec<ActivityEvent> = futures_lite(store);
    order
        .into_iter()
        .map(|id| {
            let e = rt_events.iter().find(|e| e.id == id).unwrap();
            (id, e.action.clone())
        })
        .collect()
}

fn futures_lite(store: &TestStore) -> Vec<ActivityEvent> {
    // The memory store answers without awaiting anything; poll once on a fresh runtime thread.
    std::thread::scope(|s| {
        s.spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap()
                .block_on(async {
                    let mut out = Vec::new();
                    let mut q = ActivityQuery::new().limit(1000);
                    loop {
                        let p = store.inner.query(&q).await.unwrap();
                        out.extend(p.events);
                        match p.next {
                            Some(c) => q.after = Some(c),
                            None => break out,
                        }
                    }
                })
        })
        .join()
        .unwrap()
    })
}

#[tokio::test]
async fn writes_events_between_started_and_stopped() {
    let store = Arc::new(TestStore::default());
    let (rec, guard) = Recorder::builder(store.clone()).start();
    let ids: Vec<Uuid> = (0..10)
        .map(|i| {
            let e = login(i);
            let id = e.id;
            rec.record(e).unwrap();
            id
        })
        .collect();
    let report = guard.shutdown().await;
    assert!(report.unwritten.is_empty());
    let order = actions_in_order(&store);
    assert_eq!(order.len(), 12);
    assert_eq!(order[0].1, Action::AUDIT_STARTED);
    assert_eq!(order[11].1, Action::AUDIT_STOPPED);
    assert_eq!(order[1..11].iter().map(|p| p.0).collect::<Vec<_>>(), ids);
    assert_eq!(report.metrics.written, 12);
    assert_eq!(report.metrics.accepted, 10);
    assert!(matches!(rec.record(login(99)), Err(Error::Closed)));
    assert_eq!(rec.health(), Health::Stopped);
}

#[tokio::test]
async fn invalid_events_are_refused_at_record() {
    let store = Arc::new(TestStore::default());
    let (rec, guard) = Recorder::builder(store.clone()).start();
    let err = rec.record(login(1).with_reason("x\0y")).unwrap_err();
    assert!(matches!(
        err,
        Error::Invalid {
            rule: Rule::ContainsNul,
            ..
        }
    ));
    guard.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn failing_store_then_recovery_writes_everything_once_in_order() {
    let store = Arc::new(TestStore::default());
    store.fail_next.store(4, Ordering::SeqCst);
    let notices = Arc::new(Mutex::new(Vec::new()));
    let n2 = notices.clone();
    let (rec, guard) = Recorder::builder(store.clone())
        .batch_size(3)
        .on_outage(move |n| n2.lock().unwrap().push(format!("{n:?}")))
        .start();
    let ids: Vec<Uuid> = (0..20)
        .map(|i| {
            let e = login(i);
            let id = e.id;
            rec.record(e).unwrap();
            id
        })
        .collect();
    rec.flush().await.unwrap();
    let report = guard.shutdown().await;
    assert!(report.unwritten.is_empty());
    assert_eq!(report.metrics.retried, 4);
    let order = actions_in_order(&store);
    let user_ids: Vec<Uuid> = order
        .iter()
        .filter(|(_, a)| *a == Action::LOGIN_SUCCEEDED)
        .map(|(id, _)| *id)
        .collect();
    assert_eq!(user_ids, ids, "every event exactly once, in order");
    let failed = order
        .iter()
        .position(|(_, a)| *a == Action::AUDIT_FAILED)
        .unwrap();
    let recovered = order
        .iter()
        .position(|(_, a)| *a == Action::AUDIT_RECOVERED)
        .unwrap();
    assert!(failed < recovered);
    let notices = notices.lock().unwrap();
    assert_eq!(notices.len(), 2);
    assert!(notices[0].starts_with("Failed"));
    assert!(notices[1].starts_with("Recovered"));
    let rec_event = futures_lite(&store)
        .into_iter()
        .find(|e| e.action == Action::AUDIT_RECOVERED)
        .unwrap();
    let details = rec_event.details.unwrap();
    assert!(details["held_back"].as_u64().unwrap() >= 1);
    assert!(details.contains_key("outage_ms"));
}

#[tokio::test]
async fn full_queue_rejects_and_loses_nothing_accepted() {
    let store = Arc::new(TestStore::default());
    let gate = store.gate.write().await; // the store blocks every append
    let (rec, guard) = Recorder::builder(store.clone())
        .capacity(8)
        .batch_size(4)
        .lifecycle_events(false)
        .start();
    let mut accepted = Vec::new();
    let mut refused = 0;
    for i in 0..50 {
        let e = login(i);
        let id = e.id;
        match rec.record(e) {
            Ok(()) => accepted.push(id),
            Err(Error::QueueFull { capacity }) => {
                assert_eq!(capacity, 8);
                refused += 1;
            }
            Err(other) => panic!("{other:?}"),
        }
        tokio::task::yield_now().await;
    }
    assert!(refused > 0, "the queue filled up");
    assert_eq!(rec.metrics().refused, refused);
    drop(gate);
    let report = guard.shutdown().await;
    assert!(report.unwritten.is_empty());
    let order = store.order.lock().unwrap().clone();
    assert_eq!(order, accepted, "every accepted event written, in order");
}

#[tokio::test]
async fn shutdown_drains_a_full_queue() {
    let store = Arc::new(TestStore::default());
    let gate = store.gate.write().await;
    let (rec, guard) = Recorder::builder(store.clone())
        .capacity(100)
        .batch_size(7)
        .lifecycle_events(false)
        .start();
    tokio::task::yield_now().await;
    let mut n = 0;
    while rec.record(login(n)).is_ok() {
        n += 1;
    }
    assert!(n >= 100);
    let shutdown = tokio::spawn(guard.shutdown());
    tokio::task::yield_now().await;
    drop(gate);
    let report = shutdown.await.unwrap();
    assert!(report.unwritten.is_empty());
    assert_eq!(store.inner.len(), n);
}

#[tokio::test]
async fn overflow_drop_counts_and_logs_the_drop() {
    let store = Arc::new(TestStore::default());
    let gate = store.gate.write().await;
    let (rec, guard) = Recorder::builder(store.clone())
        .capacity(4)
        .overflow(Overflow::Drop)
        .lifecycle_events(false)
        .start();
    tokio::task::yield_now().await;
    for i in 0..20 {
        rec.record(login(i)).unwrap();
    }
    let dropped = rec.metrics().dropped;
    assert!(dropped >= 14, "dropped {dropped}");
    drop(gate);
    guard.shutdown().await;
    let events = futures_lite(&store);
    let note = events
        .iter()
        .find(|e| e.action == Action::AUDIT_FAILED && e.reason.as_deref() == Some("queue_overflow"))
        .expect("an audit.failed event reports the drops");
    assert_eq!(
        note.details.as_ref().unwrap()["dropped"].as_u64(),
        Some(dropped)
    );
}

#[tokio::test]
async fn overflow_wait_waits_for_room_then_times_out() {
    let store = Arc::new(TestStore::default());
    let gate = store.gate.write().await;
    let (rec, guard) = Recorder::builder(store.clone())
        .capacity(2)
        .overflow(Overflow::Wait(Duration::from_millis(50)))
        .lifecycle_events(false)
        .start();
    tokio::task::yield_now().await;
    let mut ok = 0;
    loop {
        match rec.record_async(login(ok)).await {
            Ok(()) => ok += 1,
            Err(Error::QueueFull { .. }) => break,
            Err(e) => panic!("{e:?}"),
        }
    }
    // Room frees up while a caller waits: it gets in.
    let rec2 = rec.clone();
    let waiter = tokio::spawn(async move { rec2.record_async(login(1000)).await });
    tokio::task::yield_now().await;
    drop(gate);
    waiter.await.unwrap().unwrap();
    let report = guard.shutdown().await;
    assert_eq!(report.metrics.written as usize, ok + 1);
}

#[tokio::test(start_paused = true)]
async fn fail_closed_refuses_while_down_and_reopens_after() {
    let store = Arc::new(TestStore::default());
    store.down.store(true, Ordering::SeqCst);
    let (rec, guard) = Recorder::builder(store.clone())
        .outage_policy(OutagePolicy::FailClosed)
        .lifecycle_events(false)
        .start();
    rec.record(login(0)).unwrap();
    // Let the worker hit the failure.
    while rec.health().is_healthy() {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert!(matches!(rec.health(), Health::Degraded { .. }));
    assert!(!rec.is_accepting());
    assert!(matches!(rec.record(login(1)), Err(Error::FailClosed)));
    store.down.store(false, Ordering::SeqCst);
    rec.flush().await.unwrap();
    assert!(rec.is_accepting());
    rec.record(login(2)).unwrap();
    let report = guard.shutdown().await;
    assert_eq!(report.metrics.refused, 1);
    let actions: Vec<Action> = futures_lite(&store).into_iter().map(|e| e.action).collect();
    assert_eq!(
        actions
            .iter()
            .filter(|a| **a == Action::LOGIN_SUCCEEDED)
            .count(),
        2
    );
    assert!(actions.contains(&Action::AUDIT_FAILED));
    assert!(actions.contains(&Action::AUDIT_RECOVERED));
}

#[tokio::test]
async fn a_rejected_event_is_isolated_reported_and_the_rest_written() {
    let store = Arc::new(TestStore::default());
    *store.reject_actor.lock().unwrap() = Some("poison".into());
    let rejected = Arc::new(Mutex::new(Vec::new()));
    let r2 = rejected.clone();
    let (rec, guard) = Recorder::builder(store.clone())
        .lifecycle_events(false)
        .linger(Duration::from_millis(50))
        .on_reject(move |e, _| r2.lock().unwrap().push(e.id))
        .start();
    let poison = ActivityEvent::login_failed(Actor::user("poison"));
    let poison_id = poison.id;
    for i in 0..5 {
        rec.record(login(i)).unwrap();
    }
    rec.record(poison).unwrap();
    for i in 5..10 {
        rec.record(login(i)).unwrap();
    }
    let report = guard.shutdown().await;
    assert_eq!(report.metrics.rejected, 1);
    assert_eq!(*rejected.lock().unwrap(), vec![poison_id]);
    let events = futures_lite(&store);
    assert_eq!(
        events
            .iter()
            .filter(|e| e.action == Action::LOGIN_SUCCEEDED)
            .count(),
        10
    );
    let note = events
        .iter()
        .find(|e| e.reason.as_deref() == Some("event_rejected"))
        .unwrap();
    assert_eq!(
        note.details.as_ref().unwrap()["event_id"],
        poison_id.to_string()
    );
}

#[tokio::test(start_paused = true)]
async fn shutdown_gives_back_what_a_dead_store_would_not_take() {
    let store = Arc::new(TestStore::default());
    store.down.store(true, Ordering::SeqCst);
    let (rec, guard) = Recorder::builder(store.clone())
        .shutdown_timeout(Duration::from_secs(2))
        .start();
    let ids: Vec<Uuid> = (0..5)
        .map(|i| {
            let e = login(i);
            let id = e.id;
            rec.record(e).unwrap();
            id
        })
        .collect();
    let report = guard.shutdown().await;
    let back: Vec<Uuid> = report.unwritten.iter().map(|e| e.id).collect();
    for id in ids {
        assert!(back.contains(&id));
    }
    assert!(report
        .unwritten
        .iter()
        .any(|e| e.action == Action::AUDIT_STARTED));
    assert_eq!(store.inner.len(), 0);
}

struct FollowUp;

#[async_trait]
impl crate::recorder::AfterCommit for FollowUp {
    async fn after_commit(
        &self,
        _store: &dyn ActivityStore,
        committed: &[ActivityEvent],
    ) -> Vec<ActivityEvent> {
        committed
            .iter()
            .filter(|e| e.action == Action::LOGIN_FAILED)
            .map(|e| ActivityEvent::alert_raised("test_rule", "low", &[e.id]))
            .collect()
    }
}

#[tokio::test]
async fn flush_waits_for_follow_up_events_and_enrichers_run() {
    let store = Arc::new(TestStore::default());
    let (rec, guard) = Recorder::builder(store.clone())
        .lifecycle_events(false)
        .enricher(|e: &mut ActivityEvent| {
            e.details
                .get_or_insert_with(Default::default)
                .insert("enriched".into(), true.into());
        })
        .after_commit(FollowUp)
        .start();
    let failed = ActivityEvent::login_failed(Actor::user("u"));
    let failed_id = failed.id;
    rec.record(failed).unwrap();
    rec.flush().await.unwrap();
    let events = futures_lite(&store);
    assert_eq!(events.len(), 2);
    let alert = events
        .iter()
        .find(|e| e.action == Action::ALERT_RAISED)
        .unwrap();
    assert_eq!(
        alert.details.as_ref().unwrap()["evidence"][0],
        failed_id.to_string()
    );
    assert!(events
        .iter()
        .all(|e| e.details.as_ref().unwrap()["enriched"] == true));
    guard.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_guard_on_a_multi_thread_runtime_drains() {
    let store = Arc::new(TestStore::default());
    let (rec, guard) = Recorder::builder(store.clone()).start();
    for i in 0..100 {
        rec.record(login(i)).unwrap();
    }
    drop(guard);
    assert_eq!(store.inner.len(), 102);
}

/// A MemoryStore keeping chain heads, for `max_in_flight`: it logs the tenants of each
/// append, can hold the first `meet` appends until that many are in flight at once (so a
/// test proves they overlap), fail the next appends, or reject an actor's events.
#[derive(Default)]
struct PartsStore {
    inner: MemoryStore,
    calls: Mutex<Vec<Vec<Option<String>>>>,
    meet: AtomicUsize,
    met: tokio::sync::Notify,
    arrived: AtomicUsize,
    fail_next: AtomicUsize,
    reject_actor: Mutex<Option<String>>,
}

#[async_trait]
impl ActivityStore for PartsStore {
    async fn append(&self, events: &[ActivityEvent]) -> Result<u64> {
        self.append_sealed(events, &[]).await
    }
    async fn append_sealed(
        &self,
        events: &[ActivityEvent],
        heads: &[crate::chain::ChainHead],
    ) -> Result<u64> {
        let meet = self.meet.load(Ordering::SeqCst);
        let arrived = self.arrived.fetch_add(1, Ordering::SeqCst) + 1;
        if arrived <= meet {
            let waiting = self.met.notified();
            if arrived == meet {
                self.met.notify_waiters();
            } else {
                waiting.await;
            }
        }
        self.calls
            .lock()
            .unwrap()
            .push(events.iter().map(|e| e.tenant.clone()).collect());
        if self
            .fail_next
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(Error::timeout("slow", None));
        }
        if let Some(bad) = self.reject_actor.lock().unwrap().as_deref() {
            if events.iter().any(|e| e.actor_id() == Some(bad)) {
                return Err(Error::rejected("constraint violated", None));
            }
        }
        self.inner.append_sealed(events, heads).await
    }
    async fn chain_heads(&self, tenant: Option<&str>) -> Result<Vec<crate::chain::ChainHead>> {
        self.inner.chain_heads(tenant).await
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

/// Logs the ids of every committed batch it is shown.
#[derive(Default)]
struct SeenCommitted(Mutex<Vec<Vec<Uuid>>>);

#[async_trait]
impl crate::recorder::AfterCommit for SeenCommitted {
    async fn after_commit(
        &self,
        _store: &dyn ActivityStore,
        committed: &[ActivityEvent],
    ) -> Vec<ActivityEvent> {
        self.0
            .lock()
            .unwrap()
            .push(committed.iter().map(|e| e.id).collect());
        Vec::new()
    }
}

const TENANTS: [&str; 4] = ["acme", "globex", "initech", "umbrella"];

/// 40 logins, the four tenants interleaved; their ids in recording order.
fn record_tenants(rec: &Recorder, who: impl Fn(usize) -> String) -> Vec<Uuid> {
    (0..40)
        .map(|i| {
            let e = ActivityEvent::login_succeeded(Actor::user(who(i)))
                .with_tenant(TENANTS[i % TENANTS.len()]);
            let id = e.id;
            rec.record(e).unwrap();
            id
        })
        .collect()
}

fn parts_recorder(
    store: &Arc<PartsStore>,
    key: &crate::chain::ChainKey,
    seen: &Arc<SeenCommitted>,
) -> (Recorder, RecorderGuard) {
    Recorder::builder(store.clone())
        .lifecycle_events(false)
        .batch_size(100)
        .max_in_flight(2)
        .sealer(crate::chain::ChainSealer::new("w", key.clone()))
        .after_commit(seen.clone())
        .start()
}

#[tokio::test]
async fn max_in_flight_appends_a_batch_by_tenant_at_once_and_its_chains_verify() {
    let store = Arc::new(PartsStore::default());
    // The first batch's two parts must both be in flight before either goes on.
    store.meet.store(2, Ordering::SeqCst);
    let key = crate::chain::ChainKey::keyed(b"a key for the tests").unwrap();
    let seen = Arc::new(SeenCommitted::default());
    let (rec, guard) = parts_recorder(&store, &key, &seen);
    let first = record_tenants(&rec, |i| format!("u_{i}"));
    tokio::time::timeout(Duration::from_secs(30), rec.flush())
        .await
        .expect("the two parts were in flight at once")
        .unwrap();
    let calls = store.calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 2, "one batch, two parts: {calls:?}");
    for tenant in TENANTS {
        let holding = calls
            .iter()
            .filter(|c| c.contains(&Some(tenant.to_owned())))
            .count();
        assert_eq!(holding, 1, "{tenant}'s chain lies in one part");
    }
    // The after-commit stages saw the whole batch once, in its order.
    assert_eq!(*seen.0.lock().unwrap(), vec![first.clone()]);
    // More batches: every chain's head moves forward with its events.
    let second = record_tenants(&rec, |i| format!("v_{i}"));
    rec.flush().await.unwrap();
    let report = guard.shutdown().await;
    assert_eq!(report.metrics.written, 80);
    assert_eq!(seen.0.lock().unwrap()[1], second);
    let r = crate::chain::verify(&*store, None, &key).await.unwrap();
    assert!(r.is_intact(), "{r:?}");
    assert_eq!((r.events, r.chains, r.anchored), (80, 4, 4));
    for tenant in TENANTS {
        let heads = store.chain_heads(Some(tenant)).await.unwrap();
        assert_eq!(heads.len(), 1);
        assert_eq!(heads[0].seq, 20, "{tenant}");
    }
}

#[tokio::test]
async fn max_in_flight_keeps_a_one_tenant_batch_whole() {
    let store = Arc::new(PartsStore::default());
    let (rec, guard) = Recorder::builder(store.clone())
        .lifecycle_events(false)
        .max_in_flight(4)
        .start();
    for i in 0..30 {
        rec.record(login(i).with_tenant("acme")).unwrap();
    }
    rec.flush().await.unwrap();
    assert_eq!(store.calls.lock().unwrap().len(), 1);
    guard.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn max_in_flight_retries_a_failed_part_and_loses_or_doubles_nothing() {
    let store = Arc::new(PartsStore::default());
    store.fail_next.store(1, Ordering::SeqCst);
    let key = crate::chain::ChainKey::keyed(b"a key for the tests").unwrap();
    let seen = Arc::new(SeenCommitted::default());
    let (rec, guard) = parts_recorder(&store, &key, &seen);
    let ids = record_tenants(&rec, |i| format!("u_{i}"));
    rec.flush().await.unwrap();
    let report = guard.shutdown().await;
    assert_eq!(
        report.metrics.written,
        40 + 2,
        "the logins, audit.failed and audit.recovered"
    );
    // One part failed and was retried alone: three appends of logins in all (then one of
    // the outage's own two events).
    let calls = store.calls.lock().unwrap().clone();
    assert_eq!(
        calls
            .iter()
            .filter(|c| c.iter().any(Option::is_some))
            .count(),
        3
    );
    assert_eq!(calls.len(), 4, "{calls:?}");
    let logins = ActivityQuery::new().action("auth.login.succeeded");
    assert_eq!(store.count(&logins).await.unwrap(), 40);
    // Every login was shown to the after-commit stages exactly once.
    let mut shown: Vec<Uuid> = seen.0.lock().unwrap().concat();
    shown.retain(|id| ids.contains(id));
    shown.sort();
    let mut want = ids.clone();
    want.sort();
    assert_eq!(shown, want);
    let r = crate::chain::verify(&*store, None, &key).await.unwrap();
    assert!(r.is_intact(), "{r:?}");
}

#[tokio::test]
async fn max_in_flight_isolates_a_rejected_event_within_its_part() {
    let store = Arc::new(PartsStore::default());
    *store.reject_actor.lock().unwrap() = Some("poison".into());
    let key = crate::chain::ChainKey::keyed(b"a key for the tests").unwrap();
    let seen = Arc::new(SeenCommitted::default());
    let (rec, guard) = parts_recorder(&store, &key, &seen);
    record_tenants(&rec, |i| {
        if i == 13 {
            "poison".into()
        } else {
            format!("u_{i}")
        }
    });
    rec.flush().await.unwrap();
    let report = guard.shutdown().await;
    assert_eq!(report.metrics.rejected, 1);
    let logins = ActivityQuery::new().action("auth.login.succeeded");
    assert_eq!(store.count(&logins).await.unwrap(), 39);
}
