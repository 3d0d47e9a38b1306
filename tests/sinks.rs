//! Sinks over the real databases: the committed log read in commit order by a cursor
//! that never skips an event committed late, and the purge waiting for a lagging sink.

use std::sync::{Arc, Mutex};

use activity_core::retention::{Purger, Retention, RetentionPolicy};
use activity_core::sinks::{LogPosition, Sink, SinkRunner};
use activity_core::{ActivityEvent, ActivityStore, Actor, ManualClock};
use activity_sqlx::{MySqlStore, PgStore};
use chrono::{Duration, Utc};
use sqlx::AssertSqlSafe;

/// A sink that keeps the ids it was given.
#[derive(Default)]
struct Collect(Mutex<Vec<uuid::Uuid>>);

#[async_trait::async_trait]
impl Sink for Collect {
    fn kind(&self) -> &'static str {
        "collect"
    }
    async fn deliver(&self, events: &[ActivityEvent]) -> activity_core::Result<()> {
        self.0.lock().unwrap().extend(events.iter().map(|e| e.id));
        Ok(())
    }
}

impl Collect {
    fn ids(&self) -> Vec<uuid::Uuid> {
        self.0.lock().unwrap().clone()
    }
}

/// A transaction that began first (its xid is lower) and commits after a later one:
/// a cursor that read the later one must still get it. PostgreSQL's sequences and
/// `bigserial` give numbers at insert time, not at commit, so a reader by number alone
/// moves past the open transaction's row and never sees it.
#[tokio::test]
async fn postgres_a_late_commit_is_not_skipped_by_the_sink_cursor() {
    let Some(schema) = activity_tests::pg::schema().await else {
        return;
    };
    let store = Arc::new(PgStore::from_pool(schema.pool.clone()));
    store.migrate().await.unwrap();
    let t = &store.tables().events;
    // Transaction A: inserts a row and stays open.
    let early = ActivityEvent::logout(Actor::user("early"));
    let mut a = schema.pool.begin().await.unwrap();
    sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO {t} (id, time_us, action, outcome) VALUES ($1, $2, 'auth.logout', 'success')"
    )))
    .bind(early.id.as_bytes().to_vec())
    .bind(early.time.timestamp_micros())
    .execute(&mut *a)
    .await
    .unwrap();
    // Transaction B: a store append, committed.
    let late = ActivityEvent::logout(Actor::user("late"));
    store.append(std::slice::from_ref(&late)).await.unwrap();
    let sink = Arc::new(Collect::default());
    let runner = SinkRunner::new("pg-late", store.clone(), sink.clone()).unwrap();
    runner.deliver_available().await.unwrap();
    assert!(
        sink.ids().is_empty(),
        "nothing is handed out while an older transaction runs"
    );
    a.commit().await.unwrap();
    // Other tests' transactions may run beside this one: wait for the log to settle.
    for _ in 0..500 {
        runner.deliver_available().await.unwrap();
        if sink.ids().len() >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(
        sink.ids(),
        vec![early.id, late.id],
        "both, in commit order of their transactions' start"
    );
    assert_eq!(runner.receipt().await.unwrap().lag, 0);
    schema.drop().await;
}

/// MariaDB: an append whose transaction is open holds the counter's row, so a second
/// append waits, and the numbers come out in commit order.
#[tokio::test]
async fn mysql_a_late_commit_is_not_skipped_by_the_sink_cursor() {
    let Some(db) = activity_tests::my::database().await else {
        return;
    };
    let store = Arc::new(MySqlStore::from_pool(db.pool.clone()));
    store.migrate().await.unwrap();
    let tables = store.tables().clone();
    // Transaction A, as the store's append writes it: a number from the counter, a row.
    let early = ActivityEvent::logout(Actor::user("early"));
    let mut a = db.pool.begin().await.unwrap();
    sqlx::query(AssertSqlSafe(format!(
        "UPDATE {} SET last_seq = LAST_INSERT_ID(last_seq + 1) WHERE id = 1",
        tables.log
    )))
    .execute(&mut *a)
    .await
    .unwrap();
    sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO {} (id, time_us, action, outcome, log_seq) VALUES (?, ?, 'auth.logout', 'success', LAST_INSERT_ID())",
        tables.events
    )))
    .bind(early.id.as_bytes().to_vec())
    .bind(early.time.timestamp_micros())
    .execute(&mut *a)
    .await
    .unwrap();
    // B appends meanwhile: it waits for A's lock.
    let late = ActivityEvent::logout(Actor::user("late"));
    let appending = tokio::spawn({
        let store = store.clone();
        let late = late.clone();
        async move { store.append(&[late]).await }
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        !appending.is_finished(),
        "the second append waits for the first to commit"
    );
    let sink = Arc::new(Collect::default());
    let runner = SinkRunner::new("my-late", store.clone(), sink.clone()).unwrap();
    runner.deliver_available().await.unwrap();
    assert!(sink.ids().is_empty());
    a.commit().await.unwrap();
    assert_eq!(appending.await.unwrap().unwrap(), 1);
    runner.deliver_available().await.unwrap();
    assert_eq!(sink.ids(), vec![early.id, late.id]);
    db.drop().await;
}

/// The purge on PostgreSQL keeps what a lagging sink has not delivered (partitions are
/// not dropped while sinks are registered), and deletes it once delivered.
#[tokio::test]
async fn postgres_the_purge_waits_for_a_lagging_sink() {
    let Some(schema) = activity_tests::pg::schema().await else {
        return;
    };
    let store = Arc::new(PgStore::from_pool(schema.pool.clone()));
    store.migrate().await.unwrap();
    let now = Utc::now();
    let old: Vec<ActivityEvent> = (0..10)
        .map(|i| {
            ActivityEvent::logout(Actor::user(format!("u{i}")))
                .with_time(now - Duration::days(400) + Duration::seconds(i))
        })
        .collect();
    store.append(&old).await.unwrap();
    let sink = Arc::new(Collect::default());
    let runner = SinkRunner::new("slow", store.clone(), sink.clone())
        .unwrap()
        .batch_size(4);
    // Settle (other tests' transactions), then deliver 4 of 10.
    for _ in 0..500 {
        if store.log_lag(LogPosition::START).await.unwrap() == 10
            && store.read_log(LogPosition::START, 10).await.unwrap().len() == 10
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(runner.deliver_once().await.unwrap().read, 4);
    let purger = |all| {
        Purger::new(
            store.clone(),
            RetentionPolicy::new(Retention::Days(365)),
            Arc::new(ManualClock::new(now)),
        )
        .purge_undelivered(all)
    };
    let report = purger(false).run_once(false).await.unwrap();
    assert_eq!(
        (report.total, report.undelivered_kept),
        (4, 6),
        "{report:?}"
    );
    assert!(
        report.partitions.is_empty(),
        "no partition dropped under a lagging sink"
    );
    assert_eq!(store.log_lag(LogPosition::START).await.unwrap(), 6);
    runner.deliver_available().await.unwrap();
    assert_eq!(sink.ids(), old.iter().map(|e| e.id).collect::<Vec<_>>());
    let report = purger(false).run_once(false).await.unwrap();
    assert_eq!((report.total, report.undelivered_kept), (6, 0));
    // Told to: what a sink has not delivered goes too, and is counted.
    store.append(&old[..3]).await.unwrap();
    let report = purger(true).run_once(false).await.unwrap();
    assert_eq!(
        (report.total, report.undelivered_purged),
        (3, 3),
        "{report:?}"
    );
    schema.drop().await;
}

/// A sink's row that is not a sink's state (written by hand, or by an attacker who
/// wants the purge to stop waiting) is an error naming it: the purge then deletes
/// nothing, and `sink_states` never guesses.
#[tokio::test]
async fn postgres_a_forged_sink_row_fails_closed() {
    let Some(schema) = activity_tests::pg::schema().await else {
        return;
    };
    let store = Arc::new(PgStore::from_pool(schema.pool.clone()));
    store.migrate().await.unwrap();
    let now = Utc::now();
    store
        .append(&[ActivityEvent::logout(Actor::user("u")).with_time(now - Duration::days(400))])
        .await
        .unwrap();
    for (name, state) in [
        ("siem", "{not json".to_owned()),
        (
            "other",
            serde_json::to_string(&activity_core::sinks::SinkState::new("siem", "x")).unwrap(),
        ),
    ] {
        sqlx::query("DELETE FROM activity_sinks")
            .execute(&schema.pool)
            .await
            .unwrap();
        sqlx::query("INSERT INTO activity_sinks (name, state) VALUES ($1, $2)")
            .bind(name)
            .bind(state)
            .execute(&schema.pool)
            .await
            .unwrap();
        let err = store.sink_states().await.unwrap_err();
        assert!(
            matches!(err, activity_core::Error::Invalid { .. }),
            "{err:?}"
        );
        let purged = Purger::new(
            store.clone(),
            RetentionPolicy::new(Retention::Days(365)),
            Arc::new(ManualClock::new(now)),
        )
        .run_once(false)
        .await;
        assert!(
            purged.is_err(),
            "the purge refuses instead of ignoring the sinks"
        );
        assert_eq!(
            store
                .count(&activity_core::ActivityQuery::new())
                .await
                .unwrap(),
            1,
            "nothing deleted"
        );
    }
    schema.drop().await;
}
