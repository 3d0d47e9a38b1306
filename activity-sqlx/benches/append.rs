//! Store benchmarks: `cargo bench -p activity-sqlx --bench append -- [--events N] [--query-rows N] [--pg-batch N] [--pg-only] [--pg-skip-unnest] [--pg-in-flight M] [--pg-recorders K] [--pg-v2-indexes] [--pg-rounds R]`
//!
//! 1. SQLite: N events (default 1,000,000) appended through the recorder into a fresh
//!    database file, beside a raw sqlx multi-row INSERT of the same rows into the same
//!    schema in another fresh file, in the same run (the practical limit).
//! 2. PostgreSQL (when `ACTIVITY_TEST_POSTGRES_URL` is set), each into a fresh schema in
//!    the same run: a raw sqlx multi-row INSERT of the same rows (1,000 per statement,
//!    `--pg-batch` per transaction), then the same N events through the recorder (batch
//!    `--pg-batch`, default 5,000) with the `UNNEST` insert (skipped with
//!    `--pg-skip-unnest`), then with `COPY` (the default). Then, each also with `COPY`:
//!    with `--pg-in-flight M` (M > 1), one recorder with `max_in_flight(M)`; with
//!    `--pg-recorders K` (K > 1), K recorders (K app instances, each its own writer) into
//!    the same schema at once, N/K events each, timed from the first event to the last
//!    flush; with `--pg-v2-indexes`, the single recorder again into a schema with the two
//!    indexes that schema version 3 dropped put back (the version-2 index set).
//!    `--pg-rounds R` repeats the whole PostgreSQL part R times (A/B alternating).
//! 3. Queries on SQLite with `--query-rows` stored events (default 1,000,000; the issue's
//!    target is stated at 10,000,000): a user's newest 50 events, and the count of one
//!    account's failed logins in 15 minutes; 1,000 runs each, median and p99.

use std::sync::Arc;
use std::time::{Duration, Instant};

use activity_core::{
    recorder::Overflow, ActivityEvent, ActivityQuery, ActivityStore, Outcome, Recorder,
};
use activity_sqlx::{SqliteOptions, SqliteStore};
use chrono::Duration as Span;
use sqlx::{AssertSqlSafe, QueryBuilder};

#[macro_use]
mod raw;
use raw::{event, raw_sqlite, ACCOUNTS, RAW_INSERT};

fn temp_url(name: &str) -> (std::path::PathBuf, String) {
    let dir = std::env::temp_dir().join(format!("activity-bench-{name}-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}", dir.join("bench.db").display());
    (dir, url)
}

async fn through_recorder(
    store: Arc<dyn ActivityStore>,
    events: Vec<ActivityEvent>,
    batch: usize,
) -> f64 {
    through_recorders(store, events, batch, 1, 1).await
}

/// `recorders` recorders (as many app instances, each its own writer) appending
/// `events` between them into `store` at once, each with `max_in_flight(in_flight)`;
/// events per second from the first record to the last flush.
async fn through_recorders(
    store: Arc<dyn ActivityStore>,
    events: Vec<ActivityEvent>,
    batch: usize,
    recorders: usize,
    in_flight: usize,
) -> f64 {
    let n = events.len();
    let per = n.div_ceil(recorders.max(1));
    let mut shares: Vec<Vec<ActivityEvent>> = Vec::new();
    let mut events = events;
    while !events.is_empty() {
        let rest = events.split_off(per.min(events.len()));
        shares.push(std::mem::replace(&mut events, rest));
    }
    let start = Instant::now();
    let tasks: Vec<_> = shares
        .into_iter()
        .map(|share| {
            let store = store.clone();
            tokio::spawn(async move {
                let count = share.len();
                let (rec, guard) = Recorder::builder(store)
                    .batch_size(batch)
                    .max_in_flight(in_flight)
                    .capacity(100_000)
                    .overflow(Overflow::Wait(Duration::from_secs(60)))
                    .lifecycle_events(false)
                    .start();
                for e in share {
                    rec.record_async(e).await.unwrap();
                }
                rec.flush().await.unwrap();
                let done = start.elapsed();
                let report = guard.shutdown().await;
                assert_eq!(report.metrics.written as usize, count);
                done
            })
        })
        .collect();
    let mut last = Duration::ZERO;
    for t in tasks {
        last = last.max(t.await.unwrap());
    }
    n as f64 / last.as_secs_f64()
}

/// A migrated `PgStore` in a fresh schema, the admin pool, and the schema's name.
async fn pg_store(url: &str) -> (activity_sqlx::PgStore, sqlx::PgPool, String) {
    pg_store_with(url, false).await
}

/// As [`pg_store`]; with `v2_indexes`, the two indexes schema version 3 dropped are put
/// back, for comparing the version-2 index set in the same run.
async fn pg_store_with(
    url: &str,
    v2_indexes: bool,
) -> (activity_sqlx::PgStore, sqlx::PgPool, String) {
    let schema = format!("activity_bench_{}", uuid::Uuid::now_v7().simple());
    let admin = sqlx::PgPool::connect(url).await.unwrap();
    sqlx::query(AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&admin)
        .await
        .unwrap();
    let opts = <sqlx::postgres::PgConnectOptions as std::str::FromStr>::from_str(url)
        .unwrap()
        .options([("search_path", schema.as_str())]);
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(4)
        .connect_with(opts)
        .await
        .unwrap();
    let store = activity_sqlx::PgStore::from_pool(pool);
    store.migrate().await.unwrap();
    if v2_indexes {
        sqlx::raw_sql(
            "CREATE INDEX activity_events_tenant_actor_time ON activity_events (tenant, actor_id, time_us, id); \
             CREATE INDEX activity_events_chain ON activity_events (chain_writer, tenant, chain_seq) WHERE chain_writer IS NOT NULL;",
        )
        .execute(store.pool())
        .await
        .unwrap();
    }
    (store, admin, schema)
}

async fn drop_schema(admin: &sqlx::PgPool, schema: &str) {
    sqlx::query(AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
        .execute(admin)
        .await
        .unwrap();
}

/// PostgreSQL's practical limit by the measure: sqlx's QueryBuilder multi-row
/// INSERT of the same rows into the same (partitioned, indexed) table, 1,000 rows per
/// statement, `per_tx` rows per transaction like the recorder's batches.
async fn raw_postgres(pool: &sqlx::PgPool, events: &[ActivityEvent], per_tx: usize) -> f64 {
    let start = Instant::now();
    for batch in events.chunks(per_tx) {
        let mut tx = pool.begin().await.unwrap();
        for chunk in batch.chunks(1000) {
            let mut qb: QueryBuilder<sqlx::Postgres> = QueryBuilder::new(RAW_INSERT);
            push_rows!(qb, chunk);
            qb.build().execute(&mut *tx).await.unwrap();
        }
        tx.commit().await.unwrap();
    }
    events.len() as f64 / start.elapsed().as_secs_f64()
}

/// The PostgreSQL part, each variant into a fresh schema of its own.
async fn postgres(pg_url: &str, events: &[ActivityEvent], round: usize) {
    let n = events.len();
    let batch = arg("--pg-batch", 5000);
    let flag = |name: &str| std::env::args().any(|a| a == name);
    let load = || {
        std::fs::read_to_string("/proc/loadavg")
            .ok()
            .and_then(|l| l.split_whitespace().next().map(str::to_owned))
            .unwrap_or_default()
    };
    let raw = {
        let (store, admin, schema) = pg_store(pg_url).await;
        let rate = raw_postgres(store.pool(), events, batch).await;
        drop_schema(&admin, &schema).await;
        rate
    };
    println!("[round {round}] PostgreSQL, {n} events: raw multi-row INSERT (1,000 rows per statement, {batch} per transaction) {raw:.0} rows/s (load {})", load());
    // (label, COPY, recorders, in flight, version-2 indexes)
    let mut variants: Vec<(String, bool, usize, usize, bool)> = Vec::new();
    if !flag("--pg-skip-unnest") {
        variants.push(("UNNEST".into(), false, 1, 1, false));
    }
    variants.push(("COPY".into(), true, 1, 1, false));
    let in_flight = arg("--pg-in-flight", 1);
    if in_flight > 1 {
        variants.push((
            format!("COPY, max_in_flight {in_flight}"),
            true,
            1,
            in_flight,
            false,
        ));
    }
    let recorders = arg("--pg-recorders", 1);
    if recorders > 1 {
        variants.push((
            format!("COPY, {recorders} recorders at once"),
            true,
            recorders,
            1,
            false,
        ));
    }
    if flag("--pg-v2-indexes") {
        variants.push(("COPY, version-2 indexes".into(), true, 1, 1, true));
    }
    for (label, copy, recorders, in_flight, v2) in variants {
        let (store, admin, schema) = pg_store_with(pg_url, v2).await;
        // Kept open until measured: the server's processes for it must not exit first.
        let pool = store.pool().clone();
        let cpu = Cpu::now();
        let wal = wal_lsn(&admin).await;
        let rate = through_recorders(
            Arc::new(store.copy(copy)),
            events.to_vec(),
            batch,
            recorders,
            in_flight,
        )
        .await;
        let wal = wal_lsn(&admin).await - wal;
        let (server, bench) = Cpu::now().since(&cpu);
        pool.close().await;
        println!(
            "[round {round}] PostgreSQL, {n} events through the recorder (batch {batch}, {label}): {rate:.0} events/s ({:.2}x raw) (load {}); CPU per event: server {:.1} µs, bench {:.1} µs; WAL {:.0} bytes per event",
            rate / raw,
            load(),
            server * 1e6 / n as f64,
            bench * 1e6 / n as f64,
            wal as f64 / n as f64,
        );
        drop_schema(&admin, &schema).await;
    }
}

/// CPU time used so far (user + system, seconds) by the PostgreSQL server's processes
/// (every process of the `postgres` user: backends, WAL writer, checkpointer) and by this
/// benchmark, from `/proc` (Linux; zeros elsewhere). CPU time, unlike wall time, says
/// what a variant costs even on a machine that other jobs share.
struct Cpu {
    server: f64,
    bench: f64,
}

impl Cpu {
    fn now() -> Self {
        // Clock ticks per second: 100 on Linux's usual configuration (`getconf CLK_TCK`).
        const TICKS: f64 = 100.0;
        let ticks = |stat: &str| -> f64 {
            // Fields after the parenthesised command: utime and stime are the 12th and 13th.
            stat.rsplit_once(')')
                .map(|(_, rest)| {
                    let f: Vec<&str> = rest.split_whitespace().collect();
                    f.get(11).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0)
                        + f.get(12).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0)
                })
                .unwrap_or(0.0)
                / TICKS
        };
        let postgres_uid = std::fs::read_to_string("/etc/passwd")
            .ok()
            .and_then(|p| {
                p.lines()
                    .find(|l| l.starts_with("postgres:"))
                    .and_then(|l| l.split(':').nth(2).map(str::to_owned))
            })
            .unwrap_or_default();
        let mut server = 0.0;
        if let Ok(dir) = std::fs::read_dir("/proc") {
            for entry in dir.flatten() {
                let path = entry.path();
                let Ok(status) = std::fs::read_to_string(path.join("status")) else {
                    continue;
                };
                let uid = status
                    .lines()
                    .find(|l| l.starts_with("Uid:"))
                    .and_then(|l| l.split_whitespace().nth(1));
                if uid == Some(postgres_uid.as_str()) {
                    if let Ok(stat) = std::fs::read_to_string(path.join("stat")) {
                        server += ticks(&stat);
                    }
                }
            }
        }
        let bench = std::fs::read_to_string("/proc/self/stat")
            .map(|s| ticks(&s))
            .unwrap_or(0.0);
        Self { server, bench }
    }

    /// (server, bench) seconds since `before`.
    fn since(&self, before: &Cpu) -> (f64, f64) {
        (self.server - before.server, self.bench - before.bench)
    }
}

/// The server's WAL position, in bytes.
async fn wal_lsn(admin: &sqlx::PgPool) -> i64 {
    sqlx::query_scalar("SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint")
        .fetch_one(admin)
        .await
        .unwrap()
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p) as usize]
}

async fn queries(rows: usize) {
    let (dir, url) = temp_url("query");
    let store = SqliteStore::connect_with(SqliteOptions::new(&url))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let load = Instant::now();
    let mut batch = Vec::with_capacity(5000);
    for i in 0..rows {
        batch.push(event(i));
        if batch.len() == 5000 {
            store.append(&batch).await.unwrap();
            batch.clear();
        }
    }
    store.append(&batch).await.unwrap();
    println!(
        "loaded {rows} events in {:.1}s",
        load.elapsed().as_secs_f64()
    );
    sqlx::query(AssertSqlSafe("ANALYZE".to_string()))
        .execute(store.pool())
        .await
        .unwrap();
    let last = event(rows - 1).time;
    let mut newest = Vec::new();
    let mut failures = Vec::new();
    for k in 0..1000usize {
        let account = (k * 104_729) % ACCOUNTS;
        let q = ActivityQuery::own(Some(&format!("t{}", account % 50)), &format!("u_{account}"))
            .limit(50);
        let t = Instant::now();
        let page = store.query(&q).await.unwrap();
        newest.push(t.elapsed());
        assert!(page.events.len() <= 50);
        let q = ActivityQuery::new()
            .actor(format!("u_{account}"))
            .action("auth.login.failed")
            .outcome(Outcome::Failure)
            .since(last - Span::minutes(15));
        let t = Instant::now();
        store.count(&q).await.unwrap();
        failures.push(t.elapsed());
    }
    newest.sort();
    failures.sort();
    println!(
        "SQLite, {rows} events: user's newest 50: median {:?}, p99 {:?}; one account's failed logins in 15 min (count): median {:?}, p99 {:?}",
        pct(&newest, 0.5),
        pct(&newest, 0.99),
        pct(&failures, 0.5),
        pct(&failures, 0.99)
    );
    let _ = std::fs::remove_dir_all(dir);
}

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    // `cargo test --benches` runs this without `--bench`: keep that quick.
    let quick = !std::env::args().any(|a| a == "--bench");
    let n = arg("--events", if quick { 2_000 } else { 1_000_000 });
    let query_rows = arg("--query-rows", if quick { 2_000 } else { 1_000_000 });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let events: Vec<ActivityEvent> = (0..n).map(event).collect();
        let pg_only = std::env::args().any(|a| a == "--pg-only");
        if !pg_only {
        let (d1, raw_url) = temp_url("raw");
        let raw = raw_sqlite(&raw_url, &events).await;
        let (d2, url) = temp_url("recorder");
        let store = SqliteStore::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        let rec = through_recorder(Arc::new(store), events.clone(), 1000).await;
        println!(
            "SQLite, {n} events: raw multi-row INSERT {raw:.0} rows/s; through the recorder {rec:.0} events/s ({:.2}x raw)",
            rec / raw
        );
        let _ = std::fs::remove_dir_all(d1);
        let _ = std::fs::remove_dir_all(d2);
        }
        if let Ok(pg_url) = std::env::var("ACTIVITY_TEST_POSTGRES_URL") {
            for round in 1..=arg("--pg-rounds", 1) {
                postgres(&pg_url, &events, round).await;
            }
        }
        if !pg_only {
            queries(query_rows).await;
        }
    });
}
