use super::*;
use activity_core::{Actor, Error as CoreError};

struct Dir(std::path::PathBuf);

impl Dir {
    fn new(name: &str) -> Self {
        let p = std::env::temp_dir().join(format!(
            "activity-spool-{name}-{}-{}",
            std::process::id(),
            uuid::Uuid::now_v7().simple()
        ));
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }
    fn file(&self) -> std::path::PathBuf {
        self.0.join("spool.db")
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn logins(n: usize) -> Vec<ActivityEvent> {
    (0..n)
        .map(|i| ActivityEvent::login_succeeded(Actor::user(format!("u_{i}"))))
        .collect()
}

#[tokio::test]
async fn batches_survive_reopening_in_push_order_with_their_totals() {
    let dir = Dir::new("order");
    let a = logins(3);
    let b = logins(2);
    {
        let spool = SqliteSpool::open(dir.file(), 1 << 20).await.unwrap();
        spool.push(false, &a).await.unwrap();
        spool.push(true, &b).await.unwrap();
        spool.close().await;
    }
    let spool = SqliteSpool::open(dir.file(), 1 << 20).await.unwrap();
    let status = spool.status().await.unwrap();
    assert_eq!((status.batches, status.events), (2, 5));
    assert!(status.bytes > 0);
    assert_eq!(
        status.oldest.map(|t| t.timestamp_micros()),
        a.iter().chain(&b).map(|e| e.time.timestamp_micros()).min()
    );
    let first = spool.front().await.unwrap().unwrap();
    assert!(!first.sealed);
    assert_eq!(first.events, a, "read back exactly");
    spool.remove(first.id).await.unwrap();
    let second = spool.front().await.unwrap().unwrap();
    assert!(second.sealed);
    assert_eq!(second.events, b);
    spool.remove(second.id).await.unwrap();
    assert!(spool.front().await.unwrap().is_none());
    let status = spool.status().await.unwrap();
    assert!(status.is_empty());
    assert_eq!(status.bytes, 0);
}

#[tokio::test]
async fn the_capacity_holds_across_reopening() {
    let dir = Dir::new("capacity");
    let one = logins(1);
    let size = serde_json::to_vec(&one).unwrap().len() as u64;
    {
        let spool = SqliteSpool::open(dir.file(), size * 2).await.unwrap();
        spool.push(false, &one).await.unwrap();
        spool.push(false, &one).await.unwrap();
        spool.close().await;
    }
    let spool = SqliteSpool::open(dir.file(), size * 2).await.unwrap();
    let full = spool.push(false, &one).await;
    assert!(matches!(full, Err(CoreError::SpoolFull { .. })), "{full:?}");
    assert_eq!(
        spool.status().await.unwrap().batches,
        2,
        "nothing half-written"
    );
}

/// A row edited on disk (garbage, or valid JSON that is not a valid event) is never
/// replayed and never deleted: it is set aside, counted, and the next entry comes up.
#[tokio::test]
async fn an_unreadable_row_is_set_aside_not_replayed_or_lost() {
    let dir = Dir::new("hostile");
    let spool = SqliteSpool::open(dir.file(), 1 << 20).await.unwrap();
    spool.push(false, &logins(1)).await.unwrap();
    spool.push(false, &logins(1)).await.unwrap();
    let good = logins(2);
    spool.push(false, &good).await.unwrap();
    sqlx::query("UPDATE activity_spool SET body = CAST('{not json' AS BLOB) WHERE id = 1")
        .execute(&spool.pool)
        .await
        .unwrap();
    let mut forged = serde_json::to_value(logins(1)).unwrap();
    forged[0]["action"] = serde_json::json!("auth.login\u{0}.succeeded");
    sqlx::query("UPDATE activity_spool SET body = ? WHERE id = 2")
        .bind(serde_json::to_vec(&forged).unwrap())
        .execute(&spool.pool)
        .await
        .unwrap();
    let front = spool.front().await.unwrap().expect("the readable entry");
    assert_eq!(front.events, good);
    let status = spool.status().await.unwrap();
    assert_eq!((status.batches, status.unreadable), (1, 2));
    spool.remove(front.id).await.unwrap();
    assert!(spool.front().await.unwrap().is_none());
    let kept: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM activity_spool")
        .fetch_one(&spool.pool)
        .await
        .unwrap();
    assert_eq!(
        kept, 2,
        "the unreadable rows are kept for a person to look at"
    );
}

/// The replay reads the oldest entries together up to a number of events (always the
/// oldest one, even when it alone is larger), sets an unreadable one aside on the way,
/// and removes a run in one write.
#[tokio::test]
async fn the_front_run_is_bounded_by_events_and_removed_at_once() {
    let dir = Dir::new("run");
    let spool = SqliteSpool::open(dir.file(), 1 << 20).await.unwrap();
    let sizes = [2, 3, 1, 4, 1];
    let batches: Vec<Vec<ActivityEvent>> = sizes.iter().map(|n| logins(*n)).collect();
    for b in &batches {
        spool.push(true, b).await.unwrap();
    }
    let run = spool.front_many(5).await.unwrap();
    assert_eq!(run.iter().map(|e| e.id).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(run[1].events, batches[1]);
    assert!(run.iter().all(|e| e.sealed));
    assert_eq!(
        spool.front_many(1).await.unwrap().len(),
        1,
        "the oldest, over the bound"
    );
    // Entry 3 is corrupt: set aside, and the run goes on past it.
    sqlx::query("UPDATE activity_spool SET body = CAST('[' AS BLOB) WHERE id = 3")
        .execute(&spool.pool)
        .await
        .unwrap();
    let run = spool.front_many(100).await.unwrap();
    assert_eq!(run.iter().map(|e| e.id).collect::<Vec<_>>(), [1, 2, 4, 5]);
    spool.remove_many(&[1, 2, 4]).await.unwrap();
    let status = spool.status().await.unwrap();
    assert_eq!(
        (status.batches, status.events, status.unreadable),
        (1, 1, 1)
    );
    assert_eq!(spool.front().await.unwrap().unwrap().id, 5);
    drop(spool);
    let reopened = SqliteSpool::open(dir.file(), 1 << 20).await.unwrap();
    assert_eq!(
        reopened.status().await.unwrap().events,
        1,
        "removed durably"
    );
}

/// Reading the status of a spool that does not exist is an error and creates nothing (a
/// typo'd path must not read as an empty spool).
#[tokio::test]
async fn the_status_of_a_missing_spool_is_an_error_and_creates_nothing() {
    let dir = Dir::new("missing");
    assert!(SqliteSpool::status_of(dir.file()).await.is_err());
    assert!(!dir.file().exists());
}
