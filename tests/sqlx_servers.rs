//! PostgreSQL and MariaDB specifics on real servers: query plans, migrations, partitions,
//! faults, and the insert-only role. Skipped with a notice when no server is configured
//! (CI sets the URLs and requires the servers).

use std::sync::Arc;
use std::time::Duration;

use activity_core::{
    query::DeleteRequest, ActivityEvent, ActivityQuery, ActivityStore, Actor, Outcome, Recorder,
};
use activity_sqlx::{Error, MySqlStore, PgStore};
use chrono::{Datelike, Duration as Span, TimeZone, Utc};
use sqlx::{AssertSqlSafe, Row};

/// The hot queries, each with its index: the name we give it (MariaDB shows it) and the
/// columns (PostgreSQL names each partition's copy after them).
fn hot_queries() -> Vec<(&'static str, ActivityQuery, &'static str, &'static str)> {
    let window = Utc::now() - Span::minutes(15);
    vec![
        (
            "own activity",
            ActivityQuery::own(Some("t1"), "u_1"),
            "actor_time",
            "actor_id_time_us",
        ),
        (
            "own activity, one tenant",
            ActivityQuery::own(None, "u_1"),
            "actor_time",
            "actor_id_time_us",
        ),
        (
            "tenant log",
            ActivityQuery::tenant_log("t1"),
            "tenant_time",
            "tenant_time_us",
        ),
        (
            "failures by account",
            ActivityQuery::new()
                .actor("u_1")
                .action("auth.login.failed")
                .outcome(Outcome::Failure)
                .since(window),
            "actor_time",
            "actor_id_time_us",
        ),
        (
            "failures by ip",
            ActivityQuery::new()
                .ip("10.0.0.1".parse().unwrap())
                .action("auth.login.failed")
                .since(window),
            "ip_time",
            "ip_time_us",
        ),
        (
            "session",
            ActivityQuery::new().session("s1"),
            "session",
            "session_time_us",
        ),
        (
            "device",
            ActivityQuery::new().device_id("d1"),
            "device",
            "device_id_time_us",
        ),
    ]
}

/// The two indexes of versions 1 and 2 that version 3 dropped, to rebuild an older
/// database exactly.
const PG_V2_INDEXES: &str = "CREATE INDEX activity_events_tenant_actor_time ON activity_events (tenant, actor_id, time_us, id); \
     CREATE INDEX activity_events_chain ON activity_events (chain_writer, tenant, chain_seq) WHERE chain_writer IS NOT NULL;";
/// What schema version 4 changed on PostgreSQL, undone: `details` back to `jsonb`.
const PG_V3_DETAILS: &str =
    "ALTER TABLE activity_events ALTER COLUMN details TYPE jsonb USING details::jsonb";
/// What schema version 5 added on PostgreSQL, taken out again (the commit order and the
/// sinks' cursors): the events stored meanwhile are numbered by the migration again.
async fn undo_v5_pg(pool: &sqlx::PgPool) {
    sqlx::raw_sql(
        "DROP INDEX activity_events_log; \
         ALTER TABLE activity_events DROP COLUMN log_tx, DROP COLUMN log_seq; \
         DROP SEQUENCE activity_log_seq; DROP TABLE activity_sinks; \
         DELETE FROM activity_schema WHERE version >= 5",
    )
    .execute(pool)
    .await
    .unwrap();
}

/// [`undo_v5_pg`] on MariaDB.
async fn undo_v5_my(pool: &sqlx::MySqlPool) {
    for s in [
        "ALTER TABLE activity_events DROP INDEX activity_events_log, DROP COLUMN log_seq",
        "DROP TABLE activity_log",
        "DROP TABLE activity_sinks",
        "DELETE FROM activity_schema WHERE version >= 5",
    ] {
        sqlx::query(s).execute(pool).await.unwrap();
    }
}

/// Every stored event is in the commit order once: what a migration to version 5 must
/// leave.
async fn assert_all_in_log(store: &dyn ActivityStore) {
    use activity_core::sinks::LogPosition;
    let n = store.count(&ActivityQuery::new()).await.unwrap() as usize;
    let log = store.read_log(LogPosition::START, 10_000).await.unwrap();
    assert_eq!(log.len(), n, "every event has a place in the log");
    assert!(log.windows(2).all(|w| w[0].position < w[1].position));
}

const MY_V2_INDEXES: &str = "ALTER TABLE activity_events \
     ADD INDEX activity_events_tenant_actor_time (tenant, actor_id, time_us, id), \
     ADD INDEX activity_events_chain (chain_writer, tenant, chain_seq)";

#[tokio::test]
async fn postgres_hot_queries_use_their_indexes() {
    let Some(schema) = activity_tests::pg::schema().await else {
        return;
    };
    let store = PgStore::from_pool(schema.pool.clone());
    store.migrate().await.unwrap();
    for (name, q, _, index) in hot_queries() {
        let plan = store.explain(&q).await.unwrap().join("\n");
        assert!(plan.contains(index), "{name}: {plan}");
        assert!(!plan.contains("Seq Scan"), "{name}: {plan}");
        let plan = store.explain_count(&q).await.unwrap().join("\n");
        assert!(plan.contains("Index"), "{name} count: {plan}");
    }
    let plan = store
        .explain_delete(&DeleteRequest::new(Some("acme"), Utc::now(), 1000))
        .await
        .unwrap()
        .join("\n");
    assert!(plan.contains("tenant_time_us"), "delete: {plan}");
    schema.drop().await;
}

#[tokio::test]
async fn mariadb_hot_queries_use_their_indexes() {
    let Some(db) = activity_tests::my::database().await else {
        return;
    };
    let store = MySqlStore::from_pool(db.pool.clone());
    store.migrate().await.unwrap();
    // Some rows so that the optimiser has statistics to choose by.
    let events: Vec<_> = (0..300)
        .map(|i| {
            ActivityEvent::login_failed(Actor::user(format!("u_{i}")))
                .with_tenant(format!("t{}", i % 30))
                .with_ip(format!("10.0.{}.{}", i / 200, i % 200).parse().unwrap())
                .with_session(format!("s{i}"))
                .with_source(activity_core::Source::default().with_device_id(format!("d{i}")))
        })
        .collect();
    store.append(&events).await.unwrap();
    sqlx::query("ANALYZE TABLE activity_events")
        .execute(store.pool())
        .await
        .unwrap();
    for (name, q, index, _) in hot_queries() {
        let keys = store.explain(&q).await.unwrap();
        assert!(
            keys.iter()
                .all(|k| k.strip_prefix("key=").is_some_and(|k| k.contains(index))),
            "{name}: {keys:?}"
        );
        let keys = store.explain_count(&q).await.unwrap();
        assert!(
            keys.iter().all(|k| k.starts_with("key=")),
            "{name} count: {keys:?}"
        );
    }
    let keys = store
        .explain_delete(&DeleteRequest::new(Some("t1"), Utc::now(), 1000))
        .await
        .unwrap();
    assert!(
        keys.iter()
            .all(|k| k.strip_prefix("key=").is_some_and(|k| k.contains("tenant"))),
        "delete: {keys:?}"
    );
    db.drop().await;
}

#[tokio::test]
async fn postgres_migrate_refuses_foreign_tables_and_newer_schemas() {
    let Some(schema) = activity_tests::pg::schema().await else {
        return;
    };
    sqlx::query("CREATE TABLE f_activity_events (x INT)")
        .execute(&schema.pool)
        .await
        .unwrap();
    let err = PgStore::from_pool(schema.pool.clone())
        .prefix("f_")
        .unwrap()
        .migrate()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ForeignTable { .. }), "{err}");
    let created: bool = sqlx::query("SELECT to_regclass('f_activity_schema') IS NOT NULL")
        .fetch_one(&schema.pool)
        .await
        .unwrap()
        .get(0);
    assert!(!created);

    let store = PgStore::from_pool(schema.pool.clone())
        .prefix("n_")
        .unwrap();
    store.migrate().await.unwrap();
    store.migrate().await.unwrap();
    sqlx::query("INSERT INTO n_activity_schema (version) VALUES (42)")
        .execute(&schema.pool)
        .await
        .unwrap();
    let err = store.migrate().await.unwrap_err();
    assert!(
        matches!(err, Error::SchemaTooNew { found: 42, .. }),
        "{err}"
    );
    schema.drop().await;
}

#[tokio::test]
async fn postgres_concurrent_migrations_and_appends_from_many_instances() {
    let Some(schema) = activity_tests::pg::schema().await else {
        return;
    };
    let stores: Vec<Arc<PgStore>> = (0..4)
        .map(|_| Arc::new(PgStore::from_pool(schema.pool.clone())))
        .collect();
    let migrations = futures_join(stores.iter().map(|s| {
        let s = s.clone();
        async move { s.migrate().await }
    }))
    .await;
    assert!(migrations.iter().all(Result::is_ok), "{migrations:?}");
    let appends = futures_join(stores.iter().enumerate().map(|(i, s)| {
        let s = s.clone();
        async move {
            let batch: Vec<_> = (0..200)
                .map(|k| ActivityEvent::logout(Actor::user(format!("i{i}_{k}"))))
                .collect();
            s.append(&batch).await
        }
    }))
    .await;
    assert!(appends.iter().all(|r| matches!(r, Ok(200))), "{appends:?}");
    assert_eq!(stores[0].count(&ActivityQuery::new()).await.unwrap(), 800);
    schema.drop().await;
}

async fn futures_join<F: std::future::Future + Send + 'static>(
    futs: impl Iterator<Item = F>,
) -> Vec<F::Output>
where
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futs.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

#[tokio::test]
async fn postgres_partitions_by_month_and_drops_whole_expired_months() {
    let Some(schema) = activity_tests::pg::schema().await else {
        return;
    };
    let store = PgStore::from_pool(schema.pool.clone());
    store.migrate().await.unwrap();
    let at = |y, m, d| Utc.with_ymd_and_hms(y, m, d, 12, 0, 0).unwrap();
    let events = vec![
        ActivityEvent::logout(Actor::user("a")).with_time(at(2024, 1, 10)),
        ActivityEvent::logout(Actor::user("b")).with_time(at(2024, 1, 20)),
        ActivityEvent::logout(Actor::user("c")).with_time(at(2024, 2, 10)),
        ActivityEvent::logout(Actor::user("d")).with_time(at(2024, 2, 20)),
        ActivityEvent::logout(Actor::user("e")).with_time(at(2024, 3, 5)),
    ];
    store.append(&events).await.unwrap();
    let parts: i64 = sqlx::query(
        "SELECT COUNT(*) FROM pg_inherits WHERE inhparent = to_regclass('activity_events')",
    )
    .fetch_one(&schema.pool)
    .await
    .unwrap()
    .get(0);
    // default + this month and 3 ahead + Jan..Apr 2024 (the month after each new one).
    assert!(parts >= 1 + 4 + 4, "{parts}");
    let in_jan: i64 = sqlx::query("SELECT COUNT(*) FROM activity_events_p202401")
        .fetch_one(&schema.pool)
        .await
        .unwrap()
        .get(0);
    assert_eq!(in_jan, 2);
    // A cut-off inside February drops January only; February's early row goes by DELETE.
    let cutoff = at(2024, 2, 15);
    assert_eq!(store.drop_partitions_before(cutoff).await.unwrap(), 2);
    assert_eq!(store.count(&ActivityQuery::new()).await.unwrap(), 3);
    assert_eq!(
        store
            .delete(&DeleteRequest::new(None, cutoff, 100))
            .await
            .unwrap(),
        1
    );
    let left: Vec<String> = store
        .query(&ActivityQuery::new())
        .await
        .unwrap()
        .events
        .iter()
        .map(|e| e.actor_id().unwrap().to_string())
        .collect();
    assert_eq!(left, vec!["e", "d"]);
    // A month far ahead: its rows are stored (partition created on first sight).
    let future = Utc::now() + Span::days(800);
    store
        .append(&[ActivityEvent::logout(Actor::user("f")).with_time(future)])
        .await
        .unwrap();
    let name = format!("activity_events_p{:04}{:02}", future.year(), future.month());
    let exists: bool = sqlx::query(AssertSqlSafe(format!(
        "SELECT to_regclass('{name}') IS NOT NULL"
    )))
    .fetch_one(&schema.pool)
    .await
    .unwrap()
    .get(0);
    assert!(exists);
    schema.drop().await;
}

#[tokio::test]
async fn postgres_insert_only_role_cannot_rewrite_history() {
    let Some(schema) = activity_tests::pg::schema().await else {
        return;
    };
    let owner = PgStore::from_pool(schema.pool.clone());
    owner.migrate().await.unwrap();
    let app_role = activity_tests::unique("activity_app_");
    let purge_role = activity_tests::unique("activity_purge_");
    let s = &schema.name;
    for sql in [
        format!("CREATE ROLE {app_role} LOGIN"),
        format!("CREATE ROLE {purge_role} LOGIN"),
        format!("GRANT USAGE ON SCHEMA {s} TO {app_role}, {purge_role}"),
        format!("GRANT SELECT, INSERT ON activity_events, activity_schema TO {app_role}"),
        format!("GRANT SELECT, INSERT, UPDATE ON activity_chain_heads TO {app_role}"),
        format!("GRANT USAGE ON SEQUENCE activity_log_seq TO {app_role}"),
        format!("GRANT SELECT, INSERT, UPDATE ON activity_sinks TO {app_role}"),
        format!("GRANT SELECT, DELETE ON activity_events TO {purge_role}"),
        format!("GRANT SELECT ON activity_sinks TO {purge_role}"),
    ] {
        sqlx::query(AssertSqlSafe(sql))
            .execute(&schema.pool)
            .await
            .unwrap();
    }
    let url_for = |role: &str| {
        let base = schema.url.replacen("postgres@", &format!("{role}@"), 1);
        format!("{base}?options=-c%20search_path%3D{s}")
    };
    let app = PgStore::connect(&url_for(&app_role)).await.unwrap();
    let old =
        ActivityEvent::login_failed(Actor::user("victim")).with_time(Utc::now() - Span::days(400));
    let now = ActivityEvent::login_failed(Actor::user("victim"));
    assert_eq!(
        app.append(&[old.clone(), now.clone()]).await.unwrap(),
        2,
        "the app appends"
    );
    assert_eq!(
        app.count(&ActivityQuery::own(None, "victim"))
            .await
            .unwrap(),
        2,
        "and reads"
    );
    let denied = app
        .delete(&DeleteRequest::new(None, Utc::now(), 100))
        .await
        .unwrap_err();
    assert!(denied.to_string().contains("permission denied"), "{denied}");
    // The README's grants are enough for sealed batches and their chain heads.
    let mut sealer =
        activity_core::chain::ChainSealer::new("app", activity_core::chain::ChainKey::unkeyed());
    let mut sealed = vec![
        ActivityEvent::logout(Actor::user("victim")),
        ActivityEvent::logout(Actor::user("victim")),
    ];
    sealer.seal_all(&mut sealed);
    assert_eq!(
        app.append_sealed(&sealed[..1], &sealer.heads_of(&sealed[..1]))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        app.append_sealed(&sealed[1..], &sealer.heads_of(&sealed[1..]))
            .await
            .unwrap(),
        1,
        "and moves the head on"
    );
    assert_eq!(app.chain_heads(None).await.unwrap()[0].seq, 2);
    let update = sqlx::query("UPDATE activity_events SET reason = 'forged'")
        .execute(app.pool())
        .await
        .unwrap_err();
    assert!(update.to_string().contains("permission denied"), "{update}");
    let purge = PgStore::connect(&url_for(&purge_role)).await.unwrap();
    assert_eq!(
        purge
            .delete(&DeleteRequest::new(None, Utc::now() - Span::days(90), 100))
            .await
            .unwrap(),
        1
    );
    app.pool().close().await;
    purge.pool().close().await;
    schema.drop().await;
    let admin = sqlx::PgPool::connect(&std::env::var("ACTIVITY_TEST_POSTGRES_URL").unwrap())
        .await
        .unwrap();
    for r in [&app_role, &purge_role] {
        sqlx::query(AssertSqlSafe(format!("DROP ROLE {r}")))
            .execute(&admin)
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_connections_killed_mid_run_lose_nothing() {
    let Some(schema) = activity_tests::pg::schema().await else {
        return;
    };
    // A pool of its own, named, so that only its connections are killed.
    let app_name = activity_tests::unique("fault_");
    let opts = <sqlx::postgres::PgConnectOptions as std::str::FromStr>::from_str(&schema.url)
        .unwrap()
        .options([("search_path", schema.name.as_str())])
        .application_name(&app_name);
    // No ping before each acquire: a killed pooled connection must fail the next append
    // (and be retried) instead of being replaced silently, so that the fault is felt
    // however fast the writer was.
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(4)
        .test_before_acquire(false)
        .connect_with(opts)
        .await
        .unwrap();
    let store = Arc::new(PgStore::from_pool(pool));
    store.migrate().await.unwrap();
    let (rec, guard) = Recorder::builder(store.clone())
        .backoff(activity_core::recorder::Backoff {
            initial: Duration::from_millis(10),
            max: Duration::from_millis(100),
        })
        .batch_size(50)
        .start();
    let admin = sqlx::PgPool::connect(&schema.url).await.unwrap();
    let mut ids = Vec::new();
    for round in 0..5 {
        for i in 0..200 {
            let e = ActivityEvent::login_failed(Actor::user(format!("r{round}_{i}")));
            ids.push(e.id);
            rec.record(e).unwrap();
        }
        // The server drops every connection of the test's pool.
        sqlx::query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
        )
        .bind(&app_name)
        .execute(&admin)
        .await
        .unwrap();
    }
    rec.flush().await.unwrap();
    let report = guard.shutdown().await;
    assert!(report.unwritten.is_empty());
    assert!(report.metrics.retried > 0, "the kills were felt");
    for chunk in ids.chunks(100) {
        let n = store
            .count(&ActivityQuery::new().ids(chunk.iter().copied()))
            .await
            .unwrap();
        assert_eq!(n, chunk.len() as u64, "every event stored exactly once");
    }
    admin.close().await;
    schema.drop().await;
}

#[tokio::test]
async fn postgres_chain_finds_tampering_done_directly_in_sql() {
    use activity_core::{chain::verify, chain::Break, chain::ChainKey, chain::ChainSealer};
    let Some(schema) = activity_tests::pg::schema().await else {
        return;
    };
    let store = Arc::new(PgStore::from_pool(schema.pool.clone()));
    store.migrate().await.unwrap();
    let key = ChainKey::keyed(b"a key kept outside the database").unwrap();
    let (rec, guard) = Recorder::builder(store.clone())
        .sealer(ChainSealer::new("pg", key.clone()))
        .lifecycle_events(false)
        .start();
    for i in 0..20 {
        rec.record(ActivityEvent::login_failed(Actor::user(format!("u{i}"))).with_detail("n", i))
            .unwrap();
    }
    guard.shutdown().await;
    assert!(verify(&*store, None, &key).await.unwrap().is_intact());
    sqlx::query("UPDATE activity_events SET reason = 'forged' WHERE chain_seq = 5")
        .execute(&schema.pool)
        .await
        .unwrap();
    let r = verify(&*store, None, &key).await.unwrap();
    assert!(
        matches!(r.first_break, Some(Break::Modified { seq: 5, .. })),
        "{r:?}"
    );
    sqlx::query("UPDATE activity_events SET reason = NULL WHERE chain_seq = 5")
        .execute(&schema.pool)
        .await
        .unwrap();
    sqlx::query("DELETE FROM activity_events WHERE chain_seq = 9")
        .execute(&schema.pool)
        .await
        .unwrap();
    let r = verify(&*store, None, &key).await.unwrap();
    assert!(
        matches!(
            r.first_break,
            Some(Break::Missing {
                after_seq: 8,
                next_seq: 10,
                ..
            })
        ),
        "{r:?}"
    );
    schema.drop().await;
}

#[tokio::test]
async fn postgres_chain_head_finds_the_newest_events_deleted_in_sql() {
    use activity_core::{chain::verify, chain::Break, chain::ChainKey, chain::ChainSealer};
    let Some(schema) = activity_tests::pg::schema().await else {
        return;
    };
    let store = Arc::new(PgStore::from_pool(schema.pool.clone()));
    store.migrate().await.unwrap();
    let key = ChainKey::keyed(b"a key kept outside the database").unwrap();
    let (rec, guard) = Recorder::builder(store.clone())
        .sealer(ChainSealer::new("pg", key.clone()))
        .lifecycle_events(false)
        .batch_size(6)
        .start();
    for i in 0..20 {
        rec.record(ActivityEvent::login_failed(Actor::user(format!("u{i}"))).with_tenant("acme"))
            .unwrap();
    }
    guard.shutdown().await;
    let r = verify(&*store, Some("acme"), &key).await.unwrap();
    assert!(r.is_intact(), "{r:?}");
    assert_eq!((r.anchored, r.unanchored), (1, 0));
    sqlx::query("DELETE FROM activity_events WHERE chain_seq >= 19")
        .execute(&schema.pool)
        .await
        .unwrap();
    let r = verify(&*store, Some("acme"), &key).await.unwrap();
    assert!(
        matches!(
            r.first_break,
            Some(Break::Truncated {
                last_seq: 18,
                head_seq: 20,
                ..
            })
        ),
        "{r:?}"
    );
    // Rolling the head back to match, without the key, is found too.
    sqlx::query(
        "UPDATE activity_chain_heads SET seq = 18, last_hash = \
         (SELECT chain_hash FROM activity_events WHERE chain_seq = 18)",
    )
    .execute(&schema.pool)
    .await
    .unwrap();
    let r = verify(&*store, Some("acme"), &key).await.unwrap();
    assert!(
        matches!(r.first_break, Some(Break::HeadMismatch { seq: 18, .. })),
        "{r:?}"
    );
    schema.drop().await;
}

#[tokio::test]
async fn postgres_version_1_database_migrates_forward_and_heads_share_the_transaction() {
    use activity_core::{chain::verify, chain::ChainKey, chain::ChainSealer};
    let Some(schema) = activity_tests::pg::schema().await else {
        return;
    };
    let store = Arc::new(PgStore::from_pool(schema.pool.clone()));
    store.migrate().await.unwrap();
    // Back to exactly a version-1 database, with chained events in it.
    sqlx::raw_sql(AssertSqlSafe(format!(
        "DROP TABLE activity_chain_heads; DELETE FROM activity_schema WHERE version >= 2; {PG_V2_INDEXES}; {PG_V3_DETAILS}"
    )))
    .execute(&schema.pool)
        .await
        .unwrap();
    let key = ChainKey::keyed(b"a key kept outside the database").unwrap();
    let mut sealer = ChainSealer::new("v1", key.clone());
    let mut old: Vec<_> = (0..5)
        .map(|i| ActivityEvent::logout(Actor::user(format!("u{i}"))))
        .collect();
    sealer.seal_all(&mut old);
    store.append(&old).await.unwrap();
    undo_v5_pg(&schema.pool).await;
    let fresh = Arc::new(PgStore::from_pool(schema.pool.clone()));
    fresh.migrate().await.unwrap();
    assert_all_in_log(&*fresh).await;
    assert_eq!(versions(&schema.pool).await, vec![1, 2, 3, 4, 5]);
    let r = verify(&*fresh, None, &key).await.unwrap();
    assert!(r.is_intact(), "{r:?}");
    assert_eq!(r.unanchored, 1, "the version-1 chain has no head");
    // A failing heads write takes the batch's events back with it.
    sqlx::raw_sql(
        "CREATE FUNCTION refuse_heads() RETURNS trigger LANGUAGE plpgsql AS \
         $$ BEGIN RAISE EXCEPTION 'heads refused'; END $$; \
         CREATE TRIGGER refuse_heads BEFORE INSERT ON activity_chain_heads \
         FOR EACH ROW EXECUTE FUNCTION refuse_heads();",
    )
    .execute(&schema.pool)
    .await
    .unwrap();
    let mut batch: Vec<_> = (0..5)
        .map(|i| ActivityEvent::logout(Actor::user(format!("n{i}"))))
        .collect();
    sealer.seal_all(&mut batch);
    let err = fresh
        .append_sealed(&batch, &sealer.heads_of(&batch))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("heads refused"), "{err}");
    assert_eq!(fresh.count(&ActivityQuery::new()).await.unwrap(), 5);
    schema.drop().await;
}

#[tokio::test]
async fn postgres_purge_drops_whole_expired_partitions_unless_a_tenant_is_held() {
    use activity_core::{
        chain::verify, chain::ChainKey, chain::ChainSealer, retention::Purger,
        retention::Retention, retention::RetentionPolicy, ManualClock,
    };
    let Some(schema) = activity_tests::pg::schema().await else {
        return;
    };
    let store = Arc::new(PgStore::from_pool(schema.pool.clone()));
    store.migrate().await.unwrap();
    let key = ChainKey::keyed(b"a key kept outside the database").unwrap();
    let (rec, guard) = Recorder::builder(store.clone())
        .sealer(ChainSealer::new("pg", key.clone()))
        .lifecycle_events(false)
        .start();
    let at = |y, m, d| Utc.with_ymd_and_hms(y, m, d, 12, 0, 0).unwrap();
    let now = at(2024, 6, 15);
    for tenant in ["a", "b"] {
        for t in [
            at(2024, 1, 10),
            at(2024, 2, 20),
            at(2024, 3, 5),
            at(2024, 6, 1),
        ] {
            rec.record(
                ActivityEvent::logout(Actor::user("u"))
                    .with_tenant(tenant)
                    .with_time(t),
            )
            .unwrap();
        }
    }
    rec.flush().await.unwrap();
    let exists = |name: &'static str| {
        let pool = schema.pool.clone();
        async move {
            sqlx::query_scalar::<_, bool>(AssertSqlSafe(format!(
                "SELECT to_regclass('{name}') IS NOT NULL"
            )))
            .fetch_one(&pool)
            .await
            .unwrap()
        }
    };
    assert!(exists("activity_events_p202401").await);
    // 90 days before 2024-06-15 is 2024-03-17: January and February are wholly expired.
    let policy = RetentionPolicy::new(Retention::Days(90));
    let held = Purger::new(
        store.clone(),
        policy.clone().hold("b"),
        Arc::new(ManualClock::new(now)),
    )
    .recorder(rec.clone())
    .key(key.clone());
    let r = held.run_once(false).await.unwrap();
    assert!(
        r.partitions.is_empty(),
        "a legal hold keeps every partition"
    );
    assert_eq!(r.total, 3, "a's expired rows, deleted one by one");
    assert!(exists("activity_events_p202401").await);
    let purger = Purger::new(store.clone(), policy, Arc::new(ManualClock::new(now)))
        .recorder(rec.clone())
        .key(key.clone());
    let r = purger.run_once(false).await.unwrap();
    assert_eq!(
        r.partitions,
        vec![
            "activity_events_p202401".to_string(),
            "activity_events_p202402".to_string()
        ]
    );
    assert_eq!(r.partition_events, 2, "b's January and February rows");
    assert_eq!(r.total, 3, "and b's March row by DELETE");
    assert!(!exists("activity_events_p202401").await);
    assert!(!exists("activity_events_p202402").await);
    assert!(
        exists("activity_events_p202403").await,
        "March is not over at the cut-off"
    );
    assert_eq!(
        store
            .count(&ActivityQuery::new().action("auth.logout"))
            .await
            .unwrap(),
        2
    );
    rec.flush().await.unwrap();
    let purged = store
        .query(&ActivityQuery::new().action("audit.purged"))
        .await
        .unwrap()
        .events;
    assert!(purged.iter().any(|e| {
        let d = e.details.as_ref().unwrap();
        d["partitions"][0] == "activity_events_p202401" && d["partition_events"] == 2
    }));
    guard.shutdown().await;
    // Purge then verify: what is left still verifies.
    let v = verify(&*store, None, &key).await.unwrap();
    assert!(v.is_intact(), "{v:?}");
    assert_eq!(v.purged_starts, 2, "both tenants' chains lost their start");
    schema.drop().await;
}

#[tokio::test]
async fn mariadb_version_1_database_migrates_forward_and_finds_the_newest_events_deleted() {
    use activity_core::{chain::verify, chain::Break, chain::ChainKey, chain::ChainSealer};
    let Some(db) = activity_tests::my::database().await else {
        return;
    };
    let store = Arc::new(MySqlStore::from_pool(db.pool.clone()));
    store.migrate().await.unwrap();
    // Back to exactly a version-1 database, with chained events in it.
    for s in [
        "DROP TABLE activity_chain_heads",
        "DELETE FROM activity_schema WHERE version >= 2",
        MY_V2_INDEXES,
    ] {
        sqlx::query(s).execute(&db.pool).await.unwrap();
    }
    let key = ChainKey::keyed(b"a key kept outside the database").unwrap();
    let mut old = ChainSealer::new("v1", key.clone());
    let mut events: Vec<_> = (0..3)
        .map(|i| ActivityEvent::logout(Actor::user(format!("o{i}"))))
        .collect();
    old.seal_all(&mut events);
    store.append(&events).await.unwrap();
    undo_v5_my(&db.pool).await;
    let fresh = Arc::new(MySqlStore::from_pool(db.pool.clone()));
    fresh.migrate().await.unwrap();
    assert_all_in_log(&*fresh).await;
    let (rec, guard) = Recorder::builder(fresh.clone())
        .sealer(ChainSealer::new("my", key.clone()))
        .lifecycle_events(false)
        .batch_size(4)
        .start();
    for i in 0..10 {
        rec.record(ActivityEvent::login_failed(Actor::user(format!("u{i}"))).with_tenant("t"))
            .unwrap();
    }
    guard.shutdown().await;
    let r = verify(&*fresh, None, &key).await.unwrap();
    assert!(r.is_intact(), "{r:?}");
    assert_eq!((r.anchored, r.unanchored), (1, 1));
    sqlx::query("DELETE FROM activity_events WHERE tenant = 't' AND chain_seq = 10")
        .execute(&db.pool)
        .await
        .unwrap();
    let r = verify(&*fresh, Some("t"), &key).await.unwrap();
    assert!(
        matches!(
            r.first_break,
            Some(Break::Truncated {
                last_seq: 9,
                head_seq: 10,
                ..
            })
        ),
        "{r:?}"
    );
    db.drop().await;
}

/// `COPY` writes new batches; a chunk meeting stored ids (a retry, a partial overlap, the
/// same event twice) falls back to the insert that skips them, inside the same
/// transaction; both paths store exactly the same values.
#[tokio::test]
async fn postgres_copy_skips_stored_ids_and_stores_exact_values() {
    let Some(schema) = activity_tests::pg::schema().await else {
        return;
    };
    let copy = PgStore::from_pool(schema.pool.clone())
        .prefix("c_")
        .unwrap();
    let unnest = PgStore::from_pool(schema.pool.clone())
        .prefix("u_")
        .unwrap()
        .copy(false);
    copy.migrate().await.unwrap();
    unnest.migrate().await.unwrap();
    let t0 = Utc::now();
    let mut events: Vec<ActivityEvent> = (0..12)
        .map(|i| {
            activity_core::testing::full_event()
                .with_id(uuid::Uuid::now_v7())
                .with_time(t0 + Span::microseconds(i))
        })
        .collect();
    // Values COPY's text format would have to escape; binary needs none.
    events[0] = events[0]
        .clone()
        .with_detail(
            "tricky",
            "tab\t nl\n cr\r backslash\\ \\N quote\" \u{2028} 🦀",
        )
        .with_reason("\\N");
    for store in [&copy, &unnest] {
        assert_eq!(store.append(&events[..8]).await.unwrap(), 8);
        // A retried batch: nothing new.
        assert_eq!(store.append(&events[..8]).await.unwrap(), 0);
        // Partly stored, with one event twice: only the new ones count.
        let mut mixed = events[4..].to_vec();
        mixed.push(events[10].clone());
        assert_eq!(store.append(&mixed).await.unwrap(), 4);
        let stored = store
            .query(&ActivityQuery::new().limit(100))
            .await
            .unwrap()
            .events;
        assert_eq!(stored.len(), 12);
        let mut want = events.clone();
        want.reverse();
        assert_eq!(stored, want, "every field comes back as written");
    }
    // Through the recorder, across months (partitions made on the way) and a big batch.
    let (rec, guard) = Recorder::builder(Arc::new(
        PgStore::from_pool(schema.pool.clone())
            .prefix("c_")
            .unwrap(),
    ))
    .batch_size(6000)
    .lifecycle_events(false)
    .start();
    let start = Utc.with_ymd_and_hms(2027, 1, 31, 23, 0, 0).unwrap();
    for i in 0..12_000 {
        rec.record(
            ActivityEvent::login_succeeded(Actor::user(format!("u{i}")))
                .with_time(start + Span::seconds(i)),
        )
        .unwrap();
    }
    rec.flush().await.unwrap();
    let report = guard.shutdown().await;
    assert!(report.unwritten.is_empty());
    assert_eq!(
        copy.count(&ActivityQuery::new().since(start))
            .await
            .unwrap(),
        12_000
    );
    schema.drop().await;
}

/// Issue 23, item 4: PostgreSQL stored `details` as `jsonb`, which keeps values, not
/// text: `1e16` came back as the integer `10000000000000000` and `-0.0` as `0.0`, so an
/// event read back was not the event written (and a version-1 link over it failed as
/// "modified"). Schema version 4 stores them as `json`, the text as written: through
/// COPY, through the UNNEST insert and after a version-3 database migrates, they read
/// back byte for byte.
#[tokio::test]
async fn postgres_details_read_back_byte_for_byte() {
    let Some(schema) = activity_tests::pg::schema().await else {
        return;
    };
    let details: serde_json::Value = serde_json::from_str(
        r#"{"n":1e16,"d":-0.0,"f":2.5,"tiny":5e-324,"huge":1.5e300,"big":123456789012345678,"neg":-9223372036854775808,"nested":{"z":[1.0,0.1,"\u2028 \\ \""]}}"#,
    )
    .unwrap();
    let written = |i: i64| {
        let mut e = ActivityEvent::logout(Actor::user("u_1"))
            .with_id(uuid::Uuid::now_v7())
            .with_time(Utc::now() + Span::microseconds(i));
        e.details = details.as_object().cloned();
        e
    };
    let copy = PgStore::from_pool(schema.pool.clone())
        .prefix("c_")
        .unwrap();
    let unnest = PgStore::from_pool(schema.pool.clone())
        .prefix("u_")
        .unwrap()
        .copy(false);
    for store in [&copy, &unnest] {
        store.migrate().await.unwrap();
        let events: Vec<ActivityEvent> = (0..3).map(written).collect();
        store.append(&events).await.unwrap();
        let mut stored = store
            .query(&ActivityQuery::new().limit(10))
            .await
            .unwrap()
            .events;
        stored.reverse();
        for (s, w) in stored.iter().zip(&events) {
            assert_eq!(
                serde_json::to_string(&s.details).unwrap(),
                serde_json::to_string(&w.details).unwrap(),
                "details byte for byte"
            );
            assert_eq!(s, w, "the event as written");
        }
    }
    let column_type: String = sqlx::query_scalar(
        "SELECT data_type::text FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'c_activity_events' AND column_name = 'details'",
    )
    .fetch_one(&schema.pool)
    .await
    .unwrap();
    assert_eq!(column_type, "json");
    schema.drop().await;
}

/// The schema versions recorded in the database of `pool`, in order.
async fn versions<DB: sqlx::Database>(pool: &sqlx::Pool<DB>) -> Vec<i64>
where
    i64: sqlx::Type<DB> + for<'r> sqlx::Decode<'r, DB>,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    DB::Arguments: sqlx::IntoArguments<DB>,
    usize: sqlx::ColumnIndex<DB::Row>,
{
    sqlx::query_scalar("SELECT version FROM activity_schema ORDER BY version")
        .fetch_all(pool)
        .await
        .unwrap()
}

/// Sealed logins of two tenants through a recorder.
async fn record_two_tenants(store: Arc<dyn ActivityStore>, key: &activity_core::chain::ChainKey) {
    let (rec, guard) = Recorder::builder(store)
        .sealer(activity_core::chain::ChainSealer::new("v2", key.clone()))
        .lifecycle_events(false)
        .batch_size(4)
        .start();
    for i in 0..10 {
        rec.record(
            ActivityEvent::login_failed(Actor::user(format!("u_{i}")))
                .with_tenant(format!("t{}", i % 2)),
        )
        .unwrap();
    }
    guard.shutdown().await;
}

#[tokio::test]
async fn postgres_version_2_database_migrates_to_3_dropping_two_indexes() {
    use activity_core::{chain::verify, chain::ChainKey};
    let Some(schema) = activity_tests::pg::schema().await else {
        return;
    };
    let store = Arc::new(PgStore::from_pool(schema.pool.clone()));
    store.migrate().await.unwrap();
    // Back to exactly a version-2 database, with chained events and heads in it.
    sqlx::raw_sql(AssertSqlSafe(format!(
        "DELETE FROM activity_schema WHERE version >= 3; {PG_V2_INDEXES}; {PG_V3_DETAILS}"
    )))
    .execute(&schema.pool)
    .await
    .unwrap();
    let key = ChainKey::keyed(b"a key kept outside the database").unwrap();
    record_two_tenants(store.clone(), &key).await;
    // Every partition's copy of an index counts; the parent's alone say what the schema is.
    let indexes = || async {
        sqlx::query_scalar::<_, String>(
            "SELECT indexname::text FROM pg_indexes WHERE schemaname = current_schema() \
             AND tablename LIKE 'activity_events%' ORDER BY 1",
        )
        .fetch_all(&schema.pool)
        .await
        .unwrap()
    };
    let before = indexes().await;
    assert!(before.iter().any(|n| n.contains("tenant_actor_id_time_us")));
    undo_v5_pg(&schema.pool).await;
    let fresh = Arc::new(PgStore::from_pool(schema.pool.clone()));
    fresh.migrate().await.unwrap();
    assert_all_in_log(&*fresh).await;
    assert_eq!(versions(&schema.pool).await, vec![1, 2, 3, 4, 5]);
    let details_type: String = sqlx::query_scalar(
        "SELECT data_type::text FROM information_schema.columns WHERE table_schema = current_schema() \
         AND table_name = 'activity_events' AND column_name = 'details'",
    )
    .fetch_one(&schema.pool)
    .await
    .unwrap();
    assert_eq!(details_type, "json", "version 4: the text as written");
    let after = indexes().await;
    assert!(
        !after.iter().any(|n| n.contains("tenant_actor")
            || n.contains("chain_writer")
            || n.ends_with("_chain")),
        "{after:?}"
    );
    let parent: Vec<&String> = after
        .iter()
        .filter(|n| !n.contains("_p2") && !n.contains("_default"))
        .collect();
    assert_eq!(parent.len(), 9, "the primary key and 8 indexes: {parent:?}");
    assert_eq!(fresh.count(&ActivityQuery::new()).await.unwrap(), 10);
    let r = verify(&*fresh, None, &key).await.unwrap();
    assert!(r.is_intact(), "{r:?}");
    assert_eq!(r.anchored, 2);
    let plan = fresh
        .explain(&ActivityQuery::own(Some("t1"), "u_1"))
        .await
        .unwrap()
        .join("\n");
    assert!(plan.contains("actor_id_time_us"), "{plan}");
    schema.drop().await;
}

#[tokio::test]
async fn mariadb_version_2_database_migrates_to_3_dropping_two_indexes() {
    use activity_core::{chain::verify, chain::ChainKey};
    let Some(db) = activity_tests::my::database().await else {
        return;
    };
    let store = Arc::new(MySqlStore::from_pool(db.pool.clone()));
    store.migrate().await.unwrap();
    for s in [
        "DELETE FROM activity_schema WHERE version >= 3",
        MY_V2_INDEXES,
    ] {
        sqlx::query(s).execute(&db.pool).await.unwrap();
    }
    let key = ChainKey::keyed(b"a key kept outside the database").unwrap();
    record_two_tenants(store.clone(), &key).await;
    let indexes = || async {
        sqlx::query_scalar::<_, String>(
            "SELECT DISTINCT CAST(index_name AS CHAR) FROM information_schema.statistics \
             WHERE table_schema = DATABASE() AND table_name = 'activity_events' ORDER BY 1",
        )
        .fetch_all(&db.pool)
        .await
        .unwrap()
    };
    assert_eq!(
        indexes().await.len(),
        11,
        "the primary key and 10 indexes (version 5's too)"
    );
    undo_v5_my(&db.pool).await;
    let fresh = Arc::new(MySqlStore::from_pool(db.pool.clone()));
    fresh.migrate().await.unwrap();
    assert_all_in_log(&*fresh).await;
    assert_eq!(versions(&db.pool).await, vec![1, 2, 3, 4, 5]);
    let after = indexes().await;
    assert_eq!(after.len(), 9, "{after:?}");
    assert!(!after
        .iter()
        .any(|n| n.ends_with("tenant_actor_time") || n.ends_with("_chain")));
    assert_eq!(fresh.count(&ActivityQuery::new()).await.unwrap(), 10);
    let r = verify(&*fresh, None, &key).await.unwrap();
    assert!(r.is_intact(), "{r:?}");
    assert_eq!(r.anchored, 2);
    db.drop().await;
}

/// Issue 23, item 4, on PostgreSQL: two instances record the same fixed-id event (the
/// lock-expiry release both noticed) at the same moment. Both look it up, find it new,
/// and seal it into their own chains; the instance that commits second had its copy
/// skipped by `ON CONFLICT DO NOTHING`, a hole in its chain (`activity verify`: broken,
/// on an honest log). Now its transaction is refused and the batch sealed again without
/// the event: both chains intact, the event stored once.
#[tokio::test]
async fn postgres_two_instances_sealing_one_fixed_id_at_once_leave_no_hole() {
    use activity_core::chain::{verify, ChainKey, ChainSealer};
    let Some(schema) = activity_tests::pg::schema().await else {
        return;
    };
    let store = Arc::new(PgStore::from_pool(schema.pool.clone()));
    store.migrate().await.unwrap();
    // Instance A's store holds its first append: A has sealed, B commits first.
    let held = Arc::new(activity_core::testing::HeldStore::new(PgStore::from_pool(
        schema.pool.clone(),
    )));
    let key = ChainKey::keyed(b"a key kept outside the database").unwrap();
    let (a, guard_a) = Recorder::builder(held.clone())
        .sealer(ChainSealer::new("instance-a", key.clone()))
        .lifecycle_events(false)
        .start();
    let (b, guard_b) = Recorder::builder(store.clone())
        .sealer(ChainSealer::new("instance-b", key.clone()))
        .lifecycle_events(false)
        .start();
    let fixed = ActivityEvent::logout(Actor::user("fixed"));
    a.record(fixed.clone()).unwrap();
    a.record(ActivityEvent::logout(Actor::user("after-a")))
        .unwrap();
    held.entered().await;
    b.record(fixed.clone()).unwrap();
    b.flush().await.unwrap();
    held.release();
    a.flush().await.unwrap();
    a.record(ActivityEvent::logout(Actor::user("later-a")))
        .unwrap();
    guard_a.shutdown().await;
    guard_b.shutdown().await;
    assert_eq!(store.count(&ActivityQuery::new()).await.unwrap(), 3);
    let report = verify(&*store, None, &key).await.unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.chains, 2);
    schema.drop().await;
}
