//! Store errors classified by what they mean, caused for real: a read-only SQLite file, a
//! database locked by another connection, a deleted SQLite file, a read-only PostgreSQL
//! transaction, a statement timeout, a revoked permission, MariaDB lock-wait timeouts and
//! read-only transactions. An outage must come back as an outage (retried, Degraded,
//! fail-closed), never as "this event is invalid" (which discards the event).

use std::sync::Arc;
use std::time::Duration;

use activity_core::recorder::{Health, OutagePolicy};
use activity_core::{Action, ActivityEvent, ActivityQuery, ActivityStore, Actor, Recorder};
use activity_sqlx::{MySqlStore, PgStore, SqliteStore};
use sqlx::{AssertSqlSafe, Connection};

fn temp_db(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(activity_tests::unique("activity_outage_"));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn login(i: usize) -> ActivityEvent {
    ActivityEvent::login_succeeded(Actor::user(format!("u_{i}")))
}

#[tokio::test]
async fn sqlite_read_only_file_is_an_outage() {
    let path = temp_db("ro.db");
    let rw = SqliteStore::connect(&format!("sqlite://{}?mode=rwc", path.display()))
        .await
        .unwrap();
    rw.migrate().await.unwrap();
    rw.pool().close().await;
    let ro = SqliteStore::connect(&format!("sqlite://{}?mode=ro", path.display()))
        .await
        .unwrap();
    let err = ro.append(&[login(1)]).await.unwrap_err();
    assert!(
        err.is_outage() && !err.is_rejection(),
        "{err} ({:?})",
        err.kind()
    );
}

/// The file deleted under a running app: a new connection opens an empty database and
/// "no such table" is a vanished schema (an outage), not a rejected event.
#[tokio::test]
async fn sqlite_deleted_file_is_an_outage() {
    let path = temp_db("gone.db");
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let first = SqliteStore::connect(&url).await.unwrap();
    first.migrate().await.unwrap();
    first.pool().close().await;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let reopened = SqliteStore::connect(&url).await.unwrap();
    let err = reopened.append(&[login(1)]).await.unwrap_err();
    assert!(
        err.is_outage() && !err.is_rejection(),
        "{err} ({:?})",
        err.kind()
    );
}

/// Issue 19: the file deleted (or replaced) under a running store. Its open connections
/// went on writing into the deleted file, so appends "succeeded" and the events were
/// gone with it. Now the store notices that its path no longer names the file it opened
/// and reports an outage (retried, fail-closed), for a deleted and for a replaced file.
#[tokio::test]
async fn sqlite_file_deleted_or_replaced_under_open_connections_is_an_outage() {
    for replace in [false, true] {
        let path = temp_db("swapped.db");
        let url = format!("sqlite://{}?mode=rwc", path.display());
        let store = SqliteStore::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        store.append(&[login(0)]).await.unwrap();
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
        if replace {
            // Another database moved into its place (a restore, a deploy's fresh file).
            let other = path.with_file_name("other.db");
            let fresh = SqliteStore::connect(&format!("sqlite://{}?mode=rwc", other.display()))
                .await
                .unwrap();
            fresh.migrate().await.unwrap();
            fresh.pool().close().await;
            std::fs::rename(&other, &path).unwrap();
        }
        let err = store
            .append(&[login(1)])
            .await
            .expect_err("an append into a file that is gone or replaced is not stored");
        assert!(
            err.is_outage() && !err.is_rejection(),
            "{err} ({:?})",
            err.kind()
        );
        assert!(
            err.to_string().contains("swapped.db"),
            "names the file: {err}"
        );
    }
}

/// The database held locked by another process for 2 s: the recorder degrades, fails
/// closed, and writes every event once the lock is released.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_locked_for_two_seconds_loses_nothing() {
    let path = temp_db("locked.db");
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let store = SqliteStore::connect_with(
        activity_sqlx::SqliteOptions::new(url.clone()).busy_timeout(Duration::from_millis(100)),
    )
    .await
    .unwrap();
    store.migrate().await.unwrap();
    let store = Arc::new(store);
    let (rec, guard) = Recorder::builder(store.clone())
        .outage_policy(OutagePolicy::FailClosed)
        .start();
    rec.flush().await.unwrap();
    let mut holder = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query("BEGIN EXCLUSIVE")
        .execute(&mut holder)
        .await
        .unwrap();
    for i in 0..50 {
        rec.record(login(i)).unwrap();
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        matches!(rec.health(), Health::Degraded { .. }),
        "{:?}",
        rec.health()
    );
    assert!(!rec.is_accepting());
    tokio::time::sleep(Duration::from_millis(500)).await;
    sqlx::query("COMMIT").execute(&mut holder).await.unwrap();
    tokio::time::timeout(Duration::from_secs(30), rec.flush())
        .await
        .expect("written after the lock is released")
        .unwrap();
    let report = guard.shutdown().await;
    assert!(report.unwritten.is_empty());
    assert_eq!(report.metrics.rejected, 0);
    let n = store
        .count(&ActivityQuery::new().action(Action::LOGIN_SUCCEEDED.as_str()))
        .await
        .unwrap();
    assert_eq!(n, 50);
}

#[tokio::test]
async fn postgres_read_only_timeout_and_permission_are_outages() {
    let Some(schema) = activity_tests::pg::schema().await else {
        return;
    };
    let store = PgStore::from_pool(schema.pool.clone());
    store.migrate().await.unwrap();
    let opts = |extra: &[(&str, &str)]| {
        let mut o: Vec<(&str, &str)> = vec![("search_path", schema.name.as_str())];
        o.extend_from_slice(extra);
        let o: Vec<(String, String)> = o
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        use std::str::FromStr;
        sqlx::postgres::PgConnectOptions::from_str(&schema.url)
            .unwrap()
            .options(o)
    };
    // 25006: a read-only transaction (a replica after a failover).
    let ro = sqlx::PgPool::connect_with(opts(&[("default_transaction_read_only", "on")]))
        .await
        .unwrap();
    let err = PgStore::from_pool(ro)
        .append(&[login(1)])
        .await
        .unwrap_err();
    assert!(err.is_outage() && err.is_retryable(), "{err}");
    // 57014: statement_timeout while another session holds the table.
    let mut holder = sqlx::PgConnection::connect_with(&opts(&[])).await.unwrap();
    sqlx::query("BEGIN").execute(&mut holder).await.unwrap();
    sqlx::query("LOCK TABLE activity_events IN ACCESS EXCLUSIVE MODE")
        .execute(&mut holder)
        .await
        .unwrap();
    let slow = sqlx::PgPool::connect_with(opts(&[("statement_timeout", "200")]))
        .await
        .unwrap();
    let err = PgStore::from_pool(slow)
        .append(&[login(2)])
        .await
        .unwrap_err();
    assert!(err.is_outage() && err.is_retryable(), "{err}");
    sqlx::query("ROLLBACK").execute(&mut holder).await.unwrap();
    // 42501: the role lost its privileges.
    let role = activity_tests::unique("activity_noperm_");
    let q = |s: String| sqlx::query(AssertSqlSafe(s));
    q(format!("CREATE ROLE {role} LOGIN"))
        .execute(&mut holder)
        .await
        .unwrap();
    q(format!("GRANT USAGE ON SCHEMA {} TO {role}", schema.name))
        .execute(&mut holder)
        .await
        .unwrap();
    let denied = sqlx::PgPool::connect_with(opts(&[]).username(&role)).await;
    if let Ok(denied) = denied {
        let err = PgStore::from_pool(denied.clone())
            .append(&[login(3)])
            .await
            .unwrap_err();
        assert!(err.is_outage() && err.is_retryable(), "{err}");
        denied.close().await;
    }
    q(format!("DROP OWNED BY {role}"))
        .execute(&mut holder)
        .await
        .unwrap();
    q(format!("DROP ROLE {role}"))
        .execute(&mut holder)
        .await
        .unwrap();
    schema.drop().await;
}

/// Finding A7b: MariaDB's lock-wait timeout (1205, SQLSTATE HY000) and a read-only
/// transaction (1792) were compared as SQLSTATEs and never matched: treated as rejected.
#[tokio::test]
async fn mysql_lock_wait_timeout_and_read_only_are_outages() {
    let Some(db) = activity_tests::my::database().await else {
        return;
    };
    let store = MySqlStore::from_pool(db.pool.clone());
    store.migrate().await.unwrap();
    let url = {
        let root = db.url.rsplit_once('/').map_or(db.url.as_str(), |(r, _)| r);
        format!("{root}/{}", db.name)
    };
    let mut holder = sqlx::MySqlConnection::connect(&url).await.unwrap();
    sqlx::query("LOCK TABLES activity_events WRITE")
        .execute(&mut holder)
        .await
        .unwrap();
    let impatient = sqlx::mysql::MySqlPoolOptions::new()
        .after_connect(|c, _| {
            Box::pin(async move {
                sqlx::query("SET SESSION lock_wait_timeout = 1, innodb_lock_wait_timeout = 1")
                    .execute(c)
                    .await?;
                Ok(())
            })
        })
        .connect(&url)
        .await
        .unwrap();
    let err = MySqlStore::from_pool(impatient)
        .append(&[login(1)])
        .await
        .unwrap_err();
    assert!(err.is_outage() && err.is_retryable(), "{err}");
    sqlx::query("UNLOCK TABLES")
        .execute(&mut holder)
        .await
        .unwrap();
    let read_only = sqlx::mysql::MySqlPoolOptions::new()
        .after_connect(|c, _| {
            Box::pin(async move {
                sqlx::query("SET SESSION TRANSACTION READ ONLY")
                    .execute(c)
                    .await?;
                Ok(())
            })
        })
        .connect(&url)
        .await
        .unwrap();
    let err = MySqlStore::from_pool(read_only)
        .append(&[login(2)])
        .await
        .unwrap_err();
    assert!(err.is_outage() && err.is_retryable(), "{err}");
    drop(holder);
    db.drop().await;
}
