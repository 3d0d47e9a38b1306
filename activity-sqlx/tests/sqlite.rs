//! SQLite store: plans, migrations, faults. Real SQLite files in a temporary directory.

use std::sync::Arc;
use std::time::Duration;

use activity_core::{
    query::DeleteRequest, ActivityEvent, ActivityQuery, ActivityStore, Actor, Outcome, Recorder,
};
use activity_sqlx::{Error, SqliteOptions, SqliteStore};
use chrono::Utc;
use sqlx::AssertSqlSafe;

/// The two indexes of versions 1 and 2 that version 3 dropped, to rebuild an older
/// database exactly.
const V2_INDEXES: &str = "CREATE INDEX activity_events_tenant_actor_time ON activity_events (tenant, actor_id, time_us, id); \
     CREATE INDEX activity_events_chain ON activity_events (chain_writer, tenant, chain_seq) WHERE chain_writer IS NOT NULL;";

fn temp_db(name: &str) -> (std::path::PathBuf, String) {
    let dir = std::env::temp_dir().join(format!("activity-sqlx-{}-{}", name, uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("activity.db");
    let url = format!("sqlite://{}", path.display());
    (dir, url)
}

async fn store(url: &str) -> SqliteStore {
    let s = SqliteStore::connect(url).await.unwrap();
    s.migrate().await.unwrap();
    s
}

/// A migrated store on `url` set back to an older schema by `sql` (run on its pool).
async fn set_back(url: &str, sql: &str) -> Arc<SqliteStore> {
    let s = Arc::new(store(url).await);
    sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
        .execute(s.pool())
        .await
        .unwrap();
    s
}

/// Every stored event has one place in the commit order: what the migration to version
/// 5 leaves.
async fn assert_all_in_log(s: &SqliteStore) {
    let log = s
        .read_log(activity_core::sinks::LogPosition::START, 10_000)
        .await
        .unwrap();
    assert_eq!(
        log.len() as u64,
        s.count(&ActivityQuery::new()).await.unwrap()
    );
    assert!(log.windows(2).all(|w| w[0].position < w[1].position));
}

/// Takes out what schema version 5 added (the commit order and the sinks' cursors), so
/// that the next migration numbers the events stored meanwhile.
async fn undo_v5(url: &str) {
    let pool = sqlx::SqlitePool::connect(url).await.unwrap();
    sqlx::raw_sql(
        "DROP INDEX activity_events_log; ALTER TABLE activity_events DROP COLUMN log_seq; \
         DROP TABLE activity_log; DROP TABLE activity_sinks; \
         DELETE FROM activity_schema WHERE version >= 5",
    )
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
}

/// The schema versions recorded in the database of `store`, in order.
async fn versions(store: &SqliteStore) -> Vec<i64> {
    sqlx::query_scalar("SELECT version FROM activity_schema ORDER BY version")
        .fetch_all(store.pool())
        .await
        .unwrap()
}

fn uses_index(plan: &[String], index: &str) -> bool {
    plan.iter().any(|l| l.contains(index))
}

#[tokio::test]
async fn every_hot_query_is_an_index_range_scan() {
    let s = store("sqlite::memory:").await;
    let now = Utc::now();
    let window = now - chrono::Duration::minutes(15);
    let cases: Vec<(&str, ActivityQuery, &str)> = vec![
        (
            "own activity",
            ActivityQuery::own(Some("acme"), "u_1"),
            "activity_events_actor_time",
        ),
        (
            "own activity, one tenant",
            ActivityQuery::own(None, "u_1"),
            "activity_events_actor_time",
        ),
        (
            "tenant log",
            ActivityQuery::tenant_log("acme"),
            "activity_events_tenant_time",
        ),
        ("whole log", ActivityQuery::new(), "activity_events_time"),
        (
            "failures by account in a window",
            ActivityQuery::new()
                .actor("u_1")
                .action("auth.login.failed")
                .outcome(Outcome::Failure)
                .since(window),
            "activity_events_actor_time",
        ),
        (
            "failures by ip in a window",
            ActivityQuery::new()
                .ip("81.2.69.142".parse().unwrap())
                .action("auth.login.failed")
                .since(window),
            "activity_events_ip_time",
        ),
        (
            "session",
            ActivityQuery::new().session("hmac-sha256:x"),
            "activity_events_session",
        ),
        (
            "device",
            ActivityQuery::new().device_id("d_1"),
            "activity_events_device",
        ),
        (
            "request",
            ActivityQuery::new().request_id("r_1"),
            "activity_events_request",
        ),
    ];
    for (name, q, index) in cases {
        let plan = s.explain(&q).await.unwrap();
        assert!(uses_index(&plan, index), "{name}: {plan:?}");
        assert!(
            !plan
                .iter()
                .any(|l| l.contains("SCAN activity_events") && !l.contains("USING")),
            "{name}: full scan {plan:?}"
        );
        assert!(
            !plan.iter().any(|l| l.contains("TEMP B-TREE")),
            "{name}: sorts instead of reading in order {plan:?}"
        );
        let plan = s.explain_count(&q).await.unwrap();
        assert!(
            plan.iter().any(|l| l.contains("INDEX")),
            "{name} count: {plan:?}"
        );
    }
    let plan = s
        .explain_delete(&DeleteRequest::new(Some("acme"), now, 1000))
        .await
        .unwrap();
    assert!(
        uses_index(&plan, "activity_events_tenant_time"),
        "delete: {plan:?}"
    );
}

#[tokio::test]
async fn migrate_is_idempotent_and_concurrent_safe_and_the_file_is_created() {
    let (dir, url) = temp_db("migrate");
    let a = SqliteStore::connect(&url).await.unwrap();
    let b = SqliteStore::connect(&url).await.unwrap();
    let (ra, rb) = tokio::join!(a.migrate(), b.migrate());
    ra.unwrap();
    rb.unwrap();
    a.migrate().await.unwrap();
    assert!(dir.join("activity.db").exists());
    a.append(&[ActivityEvent::logout(Actor::user("u"))])
        .await
        .unwrap();
    drop(a);
    drop(b);
    // Reopening (a second run) works and keeps the data.
    let again = store(&url).await;
    assert_eq!(again.count(&ActivityQuery::new()).await.unwrap(), 1);
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_foreign_table_or_a_newer_schema_is_refused_and_left_alone() {
    let s = SqliteStore::connect("sqlite::memory:").await.unwrap();
    sqlx::query("CREATE TABLE activity_events (x INTEGER)")
        .execute(s.pool())
        .await
        .unwrap();
    let err = s.migrate().await.unwrap_err();
    assert!(matches!(err, Error::ForeignTable { .. }), "{err}");
    let tables: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM sqlite_master WHERE name = 'activity_schema'")
            .fetch_one(s.pool())
            .await
            .unwrap();
    assert_eq!(tables, 0, "nothing created");

    let s = store("sqlite::memory:").await;
    sqlx::query("INSERT INTO activity_schema (version, applied_at) VALUES (99, 'future')")
        .execute(s.pool())
        .await
        .unwrap();
    let err = s.migrate().await.unwrap_err();
    assert!(
        matches!(err, Error::SchemaTooNew { found: 99, .. }),
        "{err}"
    );
}

#[tokio::test]
async fn prefixes_isolate_and_are_validated() {
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect("sqlite::memory:")
        .await
        .unwrap();
    let a = SqliteStore::from_pool(pool.clone()).prefix("a_").unwrap();
    let b = SqliteStore::from_pool(pool.clone()).prefix("b_").unwrap();
    a.migrate().await.unwrap();
    b.migrate().await.unwrap();
    a.append(&[ActivityEvent::logout(Actor::user("u"))])
        .await
        .unwrap();
    assert_eq!(b.count(&ActivityQuery::new()).await.unwrap(), 0);
    assert!(matches!(
        SqliteStore::from_pool(pool).prefix("x; DROP TABLE a_activity_events; --"),
        Err(Error::InvalidPrefix(_))
    ));
    let bad = SqliteStore::connect_with(SqliteOptions::new("sqlite::memory:").prefix("1x")).await;
    assert!(matches!(bad, Err(Error::InvalidPrefix(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_database_is_retryable_and_the_recorder_loses_nothing() {
    let (dir, url) = temp_db("locked");
    let s = Arc::new(
        SqliteStore::connect_with(SqliteOptions::new(&url).busy_timeout(Duration::from_millis(50)))
            .await
            .unwrap(),
    );
    s.migrate().await.unwrap();
    // Another connection takes the write lock and holds it.
    let mut holder = sqlx::SqliteConnection::connect_with(
        &url.parse::<sqlx::sqlite::SqliteConnectOptions>().unwrap(),
    )
    .await
    .unwrap();
    sqlx::query("BEGIN EXCLUSIVE")
        .execute(&mut holder)
        .await
        .unwrap();

    let err = s
        .append(&[ActivityEvent::logout(Actor::user("x"))])
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err:?}");

    let (rec, guard) = Recorder::builder(s.clone())
        .backoff(activity_core::recorder::Backoff {
            initial: Duration::from_millis(20),
            max: Duration::from_millis(100),
        })
        .start();
    let ids: Vec<_> = (0..50)
        .map(|i| {
            let e = ActivityEvent::login_failed(Actor::user(format!("u{i}")));
            let id = e.id;
            rec.record(e).unwrap();
            id
        })
        .collect();
    // Wait until the recorder has noticed the outage.
    while rec.health().is_healthy() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    sqlx::query("ROLLBACK").execute(&mut holder).await.unwrap();
    rec.flush().await.unwrap();
    let report = guard.shutdown().await;
    assert!(report.unwritten.is_empty());
    assert!(report.metrics.retried > 0);
    let stored = s
        .query(&ActivityQuery::new().ids(ids.clone()).limit(100))
        .await
        .unwrap();
    assert_eq!(stored.events.len(), 50, "every event exactly once");
    let failed = s
        .count(&ActivityQuery::new().action("audit.failed"))
        .await
        .unwrap();
    let recovered = s
        .count(&ActivityQuery::new().action("audit.recovered"))
        .await
        .unwrap();
    assert_eq!((failed, recovered), (1, 1));
    let _ = std::fs::remove_dir_all(dir);
}

use sqlx::Connection;

/// A coordinate of negative zero reaches SQLite as zero (which keeps no sign): the
/// recorder normalises it before the chain hashes the event, so the chain still verifies.
#[tokio::test]
async fn a_chain_with_negative_zero_coordinates_verifies() {
    use activity_core::{chain::verify, chain::ChainKey, Geo, Source};
    let key = ChainKey::keyed(b"an HMAC key that is not in the db").unwrap();
    let s = Arc::new(store("sqlite::memory:").await);
    let located = |(lat, lon)| {
        ActivityEvent::login_succeeded(Actor::user("u_1")).with_source(
            Source::ip("81.2.69.142".parse().unwrap()).with_geo(Geo {
                lat: Some(lat),
                lon: Some(lon),
                ..Geo::default()
            }),
        )
    };
    let coordinates = [(-0.0, -0.0), (51.5, -0.0), (-0.0, 0.0), (0.0, -0.1)];
    record_sealed_events(&s, &key, coordinates.map(located)).await;
    let r = verify(&*s, None, &key).await.unwrap();
    assert!(r.is_intact() && r.events == 4, "{r:?}");
}

#[tokio::test]
async fn the_chain_finds_tampering_done_directly_in_sql() {
    use activity_core::{chain::verify, chain::Break, chain::ChainKey};
    let key = ChainKey::keyed(b"an HMAC key that is not in the db").unwrap();
    let s = Arc::new(store("sqlite::memory:").await);
    let events = (0..20)
        .map(|i| ActivityEvent::login_failed(Actor::user(format!("u{i}"))).with_detail("n", i));
    record_sealed_events(&s, &key, events).await;
    assert!(verify(&*s, None, &key).await.unwrap().is_intact());
    // Modify one row.
    sqlx::query("UPDATE activity_events SET actor_id = 'someone_else' WHERE chain_seq = 7")
        .execute(s.pool())
        .await
        .unwrap();
    let r = verify(&*s, None, &key).await.unwrap();
    assert!(
        matches!(r.first_break, Some(Break::Modified { seq: 7, .. })),
        "{r:?}"
    );
    sqlx::query("UPDATE activity_events SET actor_id = 'u6' WHERE chain_seq = 7")
        .execute(s.pool())
        .await
        .unwrap();
    assert!(verify(&*s, None, &key).await.unwrap().is_intact());
    // Delete one row.
    sqlx::query("DELETE FROM activity_events WHERE chain_seq = 12")
        .execute(s.pool())
        .await
        .unwrap();
    let r = verify(&*s, None, &key).await.unwrap();
    assert!(
        matches!(
            r.first_break,
            Some(Break::Missing {
                after_seq: 11,
                next_seq: 13,
                ..
            })
        ),
        "{r:?}"
    );
}

/// Records `n` sealed events (user `u0`…) through a recorder with `key`, in batches of 4.
async fn record_sealed(
    s: &Arc<SqliteStore>,
    key: &activity_core::chain::ChainKey,
    n: usize,
    time: impl Fn(usize) -> chrono::DateTime<Utc>,
) {
    let events = (0..n)
        .map(|i| ActivityEvent::login_failed(Actor::user(format!("u{i}"))).with_time(time(i)));
    record_sealed_events(s, key, events).await;
}

/// Records `events` through a recorder that seals them with `key` (batches of four), and
/// waits until they are stored.
async fn record_sealed_events(
    s: &Arc<SqliteStore>,
    key: &activity_core::chain::ChainKey,
    events: impl IntoIterator<Item = ActivityEvent>,
) {
    let (rec, guard) = Recorder::builder(s.clone())
        .sealer(activity_core::chain::ChainSealer::new("test", key.clone()))
        .lifecycle_events(false)
        .batch_size(4)
        .start();
    for e in events {
        rec.record(e).unwrap();
    }
    guard.shutdown().await;
}

#[tokio::test]
async fn deleting_the_newest_events_in_sql_is_found_by_the_chain_head() {
    use activity_core::{chain::verify, chain::Break, chain::ChainKey};
    let key = ChainKey::keyed(b"an HMAC key that is not in the db").unwrap();
    let s = Arc::new(store("sqlite::memory:").await);
    record_sealed(&s, &key, 20, |_| Utc::now()).await;
    let r = verify(&*s, None, &key).await.unwrap();
    assert!(r.is_intact(), "{r:?}");
    assert_eq!((r.anchored, r.unanchored), (1, 0));
    let heads: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM activity_chain_heads")
        .fetch_one(s.pool())
        .await
        .unwrap();
    assert_eq!(heads, 1, "one head per chain, beside the events");
    // Delete the newest event: the rest still links, but ends before the head.
    sqlx::query("DELETE FROM activity_events WHERE chain_seq = 20")
        .execute(s.pool())
        .await
        .unwrap();
    let r = verify(&*s, None, &key).await.unwrap();
    assert!(
        matches!(
            r.first_break,
            Some(Break::Truncated {
                last_seq: 19,
                head_seq: 20,
                ..
            })
        ),
        "{r:?}"
    );
    // Moving the head back to hide it: the head's MAC no longer holds.
    sqlx::query(
        "UPDATE activity_chain_heads SET seq = 19, last_hash = \
         (SELECT chain_hash FROM activity_events WHERE chain_seq = 19)",
    )
    .execute(s.pool())
    .await
    .unwrap();
    let r = verify(&*s, None, &key).await.unwrap();
    assert!(
        matches!(r.first_break, Some(Break::HeadMismatch { seq: 19, .. })),
        "{r:?}"
    );
}

#[tokio::test]
async fn purge_then_verify_passes_and_the_heads_allow_it() {
    use activity_core::{
        chain::verify, chain::ChainKey, retention::Purger, retention::Retention,
        retention::RetentionPolicy, ManualClock,
    };
    let key = ChainKey::keyed(b"an HMAC key that is not in the db").unwrap();
    let s = Arc::new(store("sqlite::memory:").await);
    let now = Utc::now();
    // 12 events, ten days apart, the oldest 125 days ago: with 90 days, the 4 oldest go...
    record_sealed(&s, &key, 12, |i| {
        now - chrono::Duration::days(125 - 10 * i as i64)
    })
    .await;
    // ...and a second chain whose every event is expired.
    record_sealed(&s, &key, 3, |i| {
        now - chrono::Duration::days(200 - i as i64)
    })
    .await;
    let (rec, guard) = Recorder::builder(s.clone())
        .sealer(activity_core::chain::ChainSealer::new(
            "purger",
            key.clone(),
        ))
        .lifecycle_events(false)
        .start();
    let purger = Purger::new(
        s.clone(),
        RetentionPolicy::new(Retention::Days(90)),
        Arc::new(ManualClock::new(now)),
    )
    .recorder(rec.clone())
    .key(key.clone());
    let report = purger.run_once(false).await.unwrap();
    assert_eq!(report.total, 4 + 3);
    rec.flush().await.unwrap();
    guard.shutdown().await;
    let r = verify(&*s, None, &key).await.unwrap();
    assert!(r.is_intact(), "{r:?}");
    assert_eq!(r.purged_starts, 1, "the first chain lost its start");
    assert_eq!(
        r.purged_tails, 1,
        "the second chain went whole, as recorded"
    );
    // Without the audit.purged record, the same deletion is a truncation.
    sqlx::query("DELETE FROM activity_events WHERE action = 'audit.purged'")
        .execute(s.pool())
        .await
        .unwrap();
    let r = verify(&*s, None, &key).await.unwrap();
    assert!(!r.is_intact(), "{r:?}");
}

#[tokio::test]
async fn events_and_their_heads_are_written_in_one_transaction() {
    use activity_core::{chain::ChainKey, chain::ChainSealer};
    let s = store("sqlite::memory:").await;
    sqlx::raw_sql(
        "CREATE TRIGGER no_heads BEFORE INSERT ON activity_chain_heads \
         BEGIN SELECT RAISE(ABORT, 'heads refused'); END;",
    )
    .execute(s.pool())
    .await
    .unwrap();
    let mut sealer = ChainSealer::new("tx", ChainKey::unkeyed());
    let mut batch: Vec<_> = (0..5)
        .map(|i| ActivityEvent::logout(Actor::user(format!("u{i}"))))
        .collect();
    sealer.seal_all(&mut batch);
    let err = s
        .append_sealed(&batch, &sealer.heads_of(&batch))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("heads refused"), "{err}");
    assert_eq!(
        s.count(&ActivityQuery::new()).await.unwrap(),
        0,
        "the events went back with the heads"
    );
}

#[tokio::test]
async fn a_version_1_database_migrates_forward_and_keeps_its_chains() {
    use activity_core::{chain::verify, chain::ChainKey};
    let (dir, url) = temp_db("v1");
    let key = ChainKey::keyed(b"an HMAC key that is not in the db").unwrap();
    {
        // A version-1 database: the events table only, with chained events in it.
        let s = set_back(
            &url,
            &format!(
                "DROP TABLE activity_chain_heads; DELETE FROM activity_schema WHERE version >= 2; {V2_INDEXES}"
            ),
        )
        .await;
        let mut sealer = activity_core::chain::ChainSealer::new("v1", key.clone());
        let mut old: Vec<_> = (0..5)
            .map(|i| ActivityEvent::logout(Actor::user(format!("u{i}"))))
            .collect();
        sealer.seal_all(&mut old);
        s.append(&old).await.unwrap();
        s.pool().close().await;
    }
    undo_v5(&url).await;
    let s = Arc::new(store(&url).await);
    assert_eq!(versions(&s).await, vec![1, 2, 3, 4, 5]);
    assert_all_in_log(&s).await;
    assert_eq!(activity_sqlx::SCHEMA_VERSION, 5);
    assert_eq!(s.count(&ActivityQuery::new()).await.unwrap(), 5);
    record_sealed(&s, &key, 3, |_| Utc::now()).await;
    let r = verify(&*s, None, &key).await.unwrap();
    assert!(r.is_intact(), "{r:?}");
    assert_eq!(
        (r.anchored, r.unanchored),
        (1, 1),
        "the old chain has no head"
    );
    s.migrate().await.unwrap();
    let _ = std::fs::remove_dir_all(dir);
}

/// Coordinates of every magnitude and every mantissa come back bit for bit, whichever of
/// the two encodings a read uses for them (an integer count of 10^-7 degrees when that is
/// exact, else decimal text): random bit patterns, decimals of one to nine places as a
/// geolocation database holds them, both zeros, and the largest, smallest and
/// closest-to-whole values.
#[tokio::test]
async fn random_coordinates_read_back_exactly() {
    use activity_core::{Geo, Source};
    let (dir, url) = temp_db("coords");
    let s = store(&url).await;
    let mut seed = 0x853c_49e6_748f_ea9bu64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let t0 = Utc::now();
    let coordinate = |bits: u64, exponent: u64, top: u64| {
        // A random mantissa and sign under an exponent from 2^-12 to 2^top.
        f64::from_bits((bits & 0x800f_ffff_ffff_ffff) | ((1023 - 12 + exponent % (13 + top)) << 52))
    };
    // A decimal of one to nine places, parsed from its text.
    let decimal = |bits: u64, max: u64| {
        let places = 1 + (bits >> 40) % 9;
        let whole = (bits >> 8) % max;
        let frac = bits % 10u64.pow(places as u32);
        let sign = if bits >> 63 == 1 { "-" } else { "" };
        format!("{sign}{whole}.{frac:0width$}", width = places as usize)
            .parse::<f64>()
            .unwrap()
    };
    let edges = [
        0.0,
        -0.0,
        1e-7,
        -1e-7,
        5e-8,
        89.9999999,
        -89.9999999,
        90.0,
        -90.0,
        89.99999999999999,
        51.5142,
        -0.1,
        f64::MIN_POSITIVE,
        1e-300,
    ];
    // Normalised, as the recorder stores them (a negative zero is zero: SQLite keeps no
    // sign on a zero).
    let events: Vec<ActivityEvent> = (0..4000)
        .map(|i| {
            let (a, b, c) = (next(), next(), next());
            let (lat, lon) = match i % 4 {
                0 | 1 => (coordinate(a, c, 5), coordinate(b, c >> 8, 6)), // below 64, 128
                2 => (decimal(a, 90), decimal(b, 180)),
                _ => (
                    edges[a as usize % edges.len()],
                    edges[b as usize % edges.len()],
                ),
            };
            let mut e = ActivityEvent::login_succeeded(Actor::user("geo"))
                .with_time(t0 + chrono::Duration::microseconds(i))
                .with_source(Source::ip("81.2.69.142".parse().unwrap()).with_geo(Geo {
                    country: None,
                    city: None,
                    lat: Some(lat),
                    lon: Some(lon),
                    accuracy_km: None,
                }));
            e.normalize();
            e
        })
        .collect();
    s.append(&events).await.unwrap();
    let mut got = Vec::new();
    let mut pages = activity_core::query::Pages::new(&s, ActivityQuery::new().actor("geo"));
    while let Some(page) = pages.next().await.unwrap() {
        got.extend(page);
    }
    got.reverse();
    assert_eq!(got.len(), events.len());
    let bits = |e: &ActivityEvent| {
        let g = e.source.as_ref().unwrap().geo.as_ref().unwrap();
        (g.lat.unwrap().to_bits(), g.lon.unwrap().to_bits())
    };
    for (g, e) in got.iter().zip(&events) {
        assert_eq!(bits(g), bits(e), "{:?}", e.source);
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// Whichever way a read comes back from SQLite (one JSON array per query, or a bulk
/// page's rows read in place), coordinates are bit-exact and text of every kind exactly
/// as written.
#[tokio::test]
async fn reads_are_exact_for_awkward_floats_and_text() {
    use activity_core::{Geo, Source};
    let (dir, url) = temp_db("exact");
    let s = store(&url).await;
    let t0 = Utc::now();
    let coords = [
        (0.1 + 0.2, -179.999_999_999_999_97),
        (-90.0, 180.0),
        (5e-324, -5e-324), // (SQLite itself stores -0.0 as 0.0, on every read path)
        (89.999_999_999_999_99, 1e-300),
        (51.5142, -0.0931),
        // Whole and nearly whole numbers: exact tenths of a microdegree travel as
        // integers on the JSON path, the rest as text.
        (1.0, -1.0),
        (1.000_000_000_000_000_2, -0.999_999_999_999_999_9),
        (89.999_999_999_999_99, -180.0),
        (1.000_000_000_000_000_2, 179.999_999_999_999_97),
        (45.123_456_789_012_345, -122.419_415_500_000_01),
    ];
    let texts = [
        "plain",
        "plain",
        "plain",
        "plain",
        "plain",
        "tab\there, newline\n, cr\r, bell\u{7}, del\u{7f}",
        "quote \" backslash \\ slash / </script>",
        "\u{2028}\u{2029} ünïcödé 🦀 \u{fffd}",
        "[1,2]",
        "null",
    ];
    let events: Vec<ActivityEvent> = coords
        .iter()
        .zip(texts)
        .enumerate()
        .map(|(i, ((lat, lon), text))| {
            ActivityEvent::login_succeeded(Actor::user(text).with_name(text))
                .with_time(t0 + chrono::Duration::microseconds(i as i64))
                .with_source(
                    Source::ip("81.2.69.142".parse().unwrap())
                        .with_user_agent(text)
                        .with_geo(Geo {
                            country: Some("GB".into()),
                            city: Some(text.into()),
                            lat: Some(*lat),
                            lon: Some(*lon),
                            accuracy_km: Some(u32::MAX),
                        }),
                )
                .with_detail("text", text)
                .with_detail("n", serde_json::json!([i64::MIN, u64::MAX, 1.5e300]))
        })
        .collect();
    s.append(&events).await.unwrap();
    // Every read path: a short page (JSON built by SQLite), a bulk page (rows read in
    // place on the store's reader), and a bulk page of a store on a pool the application
    // handed over (JSON again).
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let from_pool = SqliteStore::from_pool(pool);
    let short = ActivityQuery::new().limit(100);
    let bulk = ActivityQuery::new().limit(activity_core::query::MAX_PAGE_SIZE);
    for (store, q) in [(&s, &short), (&s, &bulk), (&from_pool, &bulk)] {
        let got = store.query(q).await.unwrap().events;
        assert_eq!(got.len(), events.len());
        for (g, e) in got.iter().rev().zip(&events) {
            assert_eq!(g, e);
            let (gg, eg) = (
                g.source.as_ref().unwrap().geo.as_ref().unwrap(),
                e.source.as_ref().unwrap().geo.as_ref().unwrap(),
            );
            assert_eq!(gg.lat.unwrap().to_bits(), eg.lat.unwrap().to_bits());
            assert_eq!(gg.lon.unwrap().to_bits(), eg.lon.unwrap().to_bits());
        }
    }
    // An empty result is an empty page.
    let none = s
        .query(&ActivityQuery::new().actor("nobody"))
        .await
        .unwrap();
    assert!(none.events.is_empty() && none.next.is_none());
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_version_2_database_migrates_to_3_dropping_two_indexes_and_keeps_its_events() {
    use activity_core::{chain::verify, chain::ChainKey};
    let (dir, url) = temp_db("v2");
    let key = ChainKey::keyed(b"an HMAC key that is not in the db").unwrap();
    let indexes = |pool: sqlx::SqlitePool| async move {
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'activity_events' AND sql IS NOT NULL ORDER BY name",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        names
    };
    {
        // A version-2 database, with chained events and heads in it.
        let s = set_back(
            &url,
            &format!("DELETE FROM activity_schema WHERE version >= 3; {V2_INDEXES}"),
        )
        .await;
        assert_eq!(indexes(s.pool().clone()).await.len(), 10, "version 5's too");
        record_sealed(&s, &key, 5, |_| Utc::now()).await;
        s.pool().close().await;
    }
    undo_v5(&url).await;
    let s = Arc::new(store(&url).await);
    assert_eq!(versions(&s).await, vec![1, 2, 3, 4, 5]);
    assert_all_in_log(&s).await;
    let left = indexes(s.pool().clone()).await;
    assert_eq!(left.len(), 8, "{left:?}");
    assert!(!left
        .iter()
        .any(|n| n.ends_with("tenant_actor_time") || n.ends_with("_chain")));
    assert_eq!(s.count(&ActivityQuery::new()).await.unwrap(), 5);
    let r = verify(&*s, None, &key).await.unwrap();
    assert!(r.is_intact(), "{r:?}");
    assert_eq!(r.anchored, 1);
    let plan = s
        .explain(&ActivityQuery::own(Some("acme"), "u_1"))
        .await
        .unwrap();
    assert!(uses_index(&plan, "activity_events_actor_time"), "{plan:?}");
    s.migrate().await.unwrap();
    let _ = std::fs::remove_dir_all(dir);
}
