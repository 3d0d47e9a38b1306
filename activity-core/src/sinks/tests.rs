use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{Duration, TimeZone, Utc};

use super::*;
use crate::{ActivityEvent, ActivityStore, Actor, Error, ManualClock, MemoryStore};

/// A sink that keeps what it was given, and fails while told to.
#[derive(Default)]
struct Collect {
    got: Mutex<Vec<uuid::Uuid>>,
    down: Mutex<bool>,
}

#[async_trait]
impl Sink for Collect {
    fn kind(&self) -> &'static str {
        "collect"
    }
    async fn deliver(&self, events: &[ActivityEvent]) -> crate::Result<()> {
        if *self.down.lock().unwrap() {
            return Err(Error::delivery("collect", "receiver down", None));
        }
        self.got.lock().unwrap().extend(events.iter().map(|e| e.id));
        Ok(())
    }
}

fn logins(n: usize) -> Vec<ActivityEvent> {
    (0..n)
        .map(|i| ActivityEvent::login_failed(Actor::user(format!("u_{i}"))))
        .collect()
}

#[tokio::test]
async fn delivers_in_commit_order_and_a_restart_goes_on_from_the_stored_cursor() {
    let store = Arc::new(MemoryStore::new());
    let sink = Arc::new(Collect::default());
    let first = logins(5);
    store.append(&first).await.unwrap();
    let runner = SinkRunner::new("s", store.clone(), sink.clone())
        .unwrap()
        .batch_size(3);
    assert_eq!(runner.deliver_once().await.unwrap().read, 3);
    drop(runner);
    // A new process: the cursor comes from the store.
    let second = logins(2);
    store.append(&second).await.unwrap();
    let runner = SinkRunner::new("s", store.clone(), sink.clone())
        .unwrap()
        .batch_size(3);
    while runner.deliver_once().await.unwrap().read > 0 {}
    let want: Vec<_> = first.iter().chain(&second).map(|e| e.id).collect();
    assert_eq!(
        *sink.got.lock().unwrap(),
        want,
        "every event once, in commit order"
    );
    let receipt = runner.receipt().await.unwrap();
    assert_eq!(receipt.lag, 0);
    assert_eq!(receipt.state.delivered, 7);
    assert_eq!(receipt.state.last_event, Some(second[1].id));
}

#[tokio::test]
async fn a_receiver_down_keeps_the_cursor_and_counts_failures_then_nothing_is_lost() {
    let store = Arc::new(MemoryStore::new());
    let sink = Arc::new(Collect::default());
    let events = logins(4);
    store.append(&events).await.unwrap();
    let runner = SinkRunner::new("s", store.clone(), sink.clone()).unwrap();
    *sink.down.lock().unwrap() = true;
    for _ in 0..3 {
        assert!(matches!(
            runner.deliver_once().await,
            Err(Error::Delivery { .. })
        ));
    }
    let r = runner.receipt().await.unwrap();
    assert_eq!((r.state.failures, r.state.total_failures), (3, 3));
    assert_eq!(r.state.status, SinkStatus::Retrying);
    assert_eq!(r.state.position, LogPosition::START);
    assert_eq!(r.lag, 4);
    assert!(r
        .state
        .last_error
        .as_deref()
        .unwrap()
        .contains("receiver down"));
    // The stored receipt says so too.
    let stored = store.sink_states().await.unwrap();
    assert_eq!(stored[0].failures, 3);
    *sink.down.lock().unwrap() = false;
    assert_eq!(runner.deliver_once().await.unwrap().delivered, 4);
    let got = sink.got.lock().unwrap().clone();
    assert_eq!(got, events.iter().map(|e| e.id).collect::<Vec<_>>());
    let r = runner.receipt().await.unwrap();
    assert_eq!((r.state.failures, r.state.total_failures, r.lag), (0, 3, 0));
}

#[tokio::test]
async fn filters_skip_events_and_the_cursor_moves_past_them() {
    let store = Arc::new(MemoryStore::new());
    let sink = Arc::new(Collect::default());
    let acme = ActivityEvent::login_succeeded(Actor::user("a")).with_tenant("acme");
    let beta = ActivityEvent::login_succeeded(Actor::user("b")).with_tenant("beta");
    let logout = ActivityEvent::logout(Actor::user("a")).with_tenant("acme");
    store.append(&[acme.clone(), beta, logout]).await.unwrap();
    let runner = SinkRunner::new("s", store.clone(), sink.clone())
        .unwrap()
        .filter(SinkFilter::all().action("auth.login").tenant(Some("acme")));
    let d = runner.deliver_once().await.unwrap();
    assert_eq!((d.read, d.delivered), (3, 1));
    assert_eq!(*sink.got.lock().unwrap(), vec![acme.id]);
    assert_eq!(runner.receipt().await.unwrap().lag, 0);
}

#[tokio::test]
async fn names_are_checked() {
    let store = Arc::new(MemoryStore::new());
    let sink = Arc::new(Collect::default());
    for bad in ["", "a b", "x'; DROP", &"n".repeat(65)] {
        assert!(
            SinkRunner::new(bad, store.clone(), sink.clone()).is_err(),
            "{bad}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_spawned_runner_retries_with_backoff_and_stops_as_stopped() {
    let store = Arc::new(MemoryStore::new());
    let sink = Arc::new(Collect::default());
    *sink.down.lock().unwrap() = true;
    store.append(&logins(2)).await.unwrap();
    let guard = SinkRunner::new("s", store.clone(), sink.clone())
        .unwrap()
        .backoff(Backoff::new(
            std::time::Duration::from_secs(1),
            std::time::Duration::from_secs(8),
        ))
        .spawn();
    // Paused time advances only when every task waits: the retries happen at 0, 1, 3, 7 s.
    tokio::time::sleep(std::time::Duration::from_millis(7_500)).await;
    assert_eq!(guard.receipt().await.unwrap().state.failures, 4);
    *sink.down.lock().unwrap() = false;
    tokio::time::sleep(std::time::Duration::from_secs(9)).await;
    assert_eq!(sink.got.lock().unwrap().len(), 2);
    guard.stop().await;
    assert_eq!(
        store.sink_states().await.unwrap()[0].status,
        SinkStatus::Stopped
    );
}

#[tokio::test]
async fn the_file_sink_rotates_by_size_and_by_day_and_keeps_the_newest() {
    let dir = std::env::temp_dir().join(format!("activity-sink-{}", uuid::Uuid::now_v7()));
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 12, 1, 23, 0, 0).unwrap());
    let sink = FileSink::new(&dir)
        .unwrap()
        .max_bytes(600)
        .keep(2)
        .clock(clock.clone());
    let events = logins(12);
    for e in &events[..6] {
        sink.deliver(std::slice::from_ref(e)).await.unwrap();
    }
    let rotated = sink.rotated().unwrap();
    assert!(!rotated.is_empty(), "600 bytes hold a few events, not six");
    // The next day: a new file whatever its size.
    let day_dir = dir.join("daily");
    let daily = FileSink::new(&day_dir).unwrap().clock(clock.clone());
    daily.deliver(&events[6..7]).await.unwrap();
    daily.deliver(&events[7..8]).await.unwrap();
    assert!(daily.rotated().unwrap().is_empty(), "one day, one file");
    clock.advance(Duration::hours(2));
    daily.deliver(&events[8..9]).await.unwrap();
    let by_day = daily.rotated().unwrap();
    assert_eq!(by_day.len(), 1, "rotated at midnight UTC");
    assert!(by_day[0]
        .to_str()
        .unwrap()
        .contains("activity-20261202T0100"));
    assert_eq!(
        std::fs::read_to_string(&by_day[0]).unwrap().lines().count(),
        2
    );
    for e in &events[7..] {
        sink.deliver(std::slice::from_ref(e)).await.unwrap();
    }
    assert_eq!(sink.rotated().unwrap().len(), 2, "only the newest two kept");
    // Every line is an event; the current file ends with the last one delivered.
    let current = std::fs::read_to_string(dir.join("activity.jsonl")).unwrap();
    let last = current.lines().last().unwrap();
    assert_eq!(ActivityEvent::from_json(last).unwrap().id, events[11].id);
    for f in sink.rotated().unwrap() {
        for line in std::fs::read_to_string(f).unwrap().lines() {
            ActivityEvent::from_json(line).unwrap();
        }
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn the_purge_keeps_what_a_sink_has_not_delivered() {
    use crate::retention::{Purger, Retention, RetentionPolicy};
    let store = Arc::new(MemoryStore::new());
    let now = Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap();
    let old: Vec<_> = logins(4)
        .into_iter()
        .map(|e| e.with_time(now - Duration::days(100)))
        .collect();
    store.append(&old).await.unwrap();
    let sink = Arc::new(Collect::default());
    let runner = SinkRunner::new("s", store.clone(), sink.clone())
        .unwrap()
        .batch_size(3);
    runner.deliver_once().await.unwrap(); // 3 of 4 delivered
    let purger = Purger::new(
        store.clone(),
        RetentionPolicy::new(Retention::Days(90)),
        Arc::new(ManualClock::new(now)),
    );
    let report = purger.run_once(false).await.unwrap();
    assert_eq!((report.total, report.undelivered_kept), (3, 1));
    assert_eq!(store.len(), 1);
    runner.deliver_once().await.unwrap();
    assert_eq!(purger.run_once(false).await.unwrap().total, 1);
    assert_eq!(
        sink.got.lock().unwrap().len(),
        4,
        "every expired event reached the sink"
    );
}

/// A sink that fails on its `n`th call, once.
struct FailOnce {
    calls: Mutex<usize>,
    fail_at: usize,
    got: Mutex<Vec<uuid::Uuid>>,
}

#[async_trait]
impl Sink for FailOnce {
    fn kind(&self) -> &'static str {
        "fail-once"
    }
    async fn deliver(&self, events: &[ActivityEvent]) -> crate::Result<()> {
        let n = {
            let mut c = self.calls.lock().unwrap();
            *c += 1;
            *c
        };
        if n == self.fail_at {
            return Err(Error::delivery("fail-once", "refused", None));
        }
        self.got.lock().unwrap().extend(events.iter().map(|e| e.id));
        Ok(())
    }
}

#[tokio::test]
async fn the_pipeline_saves_the_cursor_only_past_delivered_batches() {
    let store = Arc::new(MemoryStore::new());
    let events = logins(10);
    store.append(&events).await.unwrap();
    let sink = Arc::new(FailOnce {
        calls: Mutex::new(0),
        fail_at: 3,
        got: Mutex::new(Vec::new()),
    });
    let runner = SinkRunner::new("p", store.clone(), sink.clone())
        .unwrap()
        .batch_size(3);
    assert!(
        runner.deliver_available().await.is_err(),
        "the third batch fails"
    );
    let stored = store.sink_states().await.unwrap().remove(0);
    let want: Vec<_> = events.iter().map(|e| e.id).collect();
    assert_eq!(
        stored.last_event,
        Some(want[5]),
        "saved after the second batch"
    );
    assert_eq!((stored.failures, stored.delivered), (1, 6));
    assert_eq!(store.log_lag(stored.position).await.unwrap(), 4);
    // A new process (the cursor from the store) finishes, in order, nothing twice.
    let again = SinkRunner::new("p", store.clone(), sink.clone())
        .unwrap()
        .batch_size(3);
    assert_eq!(again.deliver_available().await.unwrap().delivered, 4);
    assert_eq!(*sink.got.lock().unwrap(), want);
    assert_eq!(again.receipt().await.unwrap().lag, 0);
}

/// A sink that waits until told to go on.
struct Gate {
    entered: tokio::sync::Notify,
    go: tokio::sync::Notify,
}

#[async_trait]
impl Sink for Gate {
    fn kind(&self) -> &'static str {
        "gate"
    }
    async fn deliver(&self, _: &[ActivityEvent]) -> crate::Result<()> {
        self.entered.notify_one();
        self.go.notified().await;
        Ok(())
    }
}

#[tokio::test]
async fn a_receipt_does_not_wait_for_a_delivery_in_flight() {
    let store = Arc::new(MemoryStore::new());
    store.append(&logins(6)).await.unwrap();
    let gate = Arc::new(Gate {
        entered: tokio::sync::Notify::new(),
        go: tokio::sync::Notify::new(),
    });
    let runner = Arc::new(
        SinkRunner::new("g", store.clone(), gate.clone())
            .unwrap()
            .batch_size(3),
    );
    let running = tokio::spawn({
        let r = runner.clone();
        async move { r.deliver_available().await }
    });
    gate.entered.notified().await;
    let r = tokio::time::timeout(std::time::Duration::from_secs(5), runner.receipt())
        .await
        .expect("the receipt answers while the sink delivers")
        .unwrap();
    assert_eq!(r.lag, 6, "nothing delivered yet");
    gate.go.notify_one();
    gate.entered.notified().await;
    gate.go.notify_one();
    assert_eq!(running.await.unwrap().unwrap().delivered, 6);
    assert_eq!(runner.receipt().await.unwrap().lag, 0);
}
