//! Alert evaluation cost: `cargo bench -p activity-sqlx --bench alerts -- [--rows N]`
//!
//! Loads N events (default 1,000,000; also run with 100,000 to see growth) for 100,000
//! accounts into a fresh SQLite file, then times `AlertEngine::with_defaults().evaluate`
//! (all five built-in rules) on 2,000 new login events — failures and successes, with
//! device ids and locations — each appended first, as the recorder does. Reports the
//! median and p99 per login event, and the median per action. `--batch N` appends and
//! evaluates the 2,000 events in batches of N, as the recorder does under load (the
//! engine reads a batch's history in one store call), and reports the time per event:
//! each batch's time divided by its size. `--accounts N` spreads the events over N
//! accounts instead: `--rows 100000 --accounts 10000` gives every account the history
//! (ten events) it has at 1,000,000 events and 100,000 accounts, so that the two runs
//! differ in table size alone. `--connections N` sets the
//! SQLite pool's size. `--db PATH`: a file to reuse (loaded with N events only if it does
//! not exist yet; each run adds its 2,000) and keep; with `--load-only`, only load it (so
//! that copies of one clean file serve several runs).

use std::sync::Arc;
use std::time::{Duration, Instant};

use activity_core::{alerts::AlertEngine, ActivityEvent, ActivityStore, Actor, Geo, Source};
use activity_sqlx::SqliteStore;
use chrono::{Duration as Span, TimeZone, Utc};

/// The accounts the events are spread over, unless `--accounts` says otherwise.
const ACCOUNTS: usize = 100_000;

fn event(i: usize, accounts: usize) -> ActivityEvent {
    let t0 = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
    let account = (i * 7919) % accounts;
    let actor = Actor::user(format!("u_{account}"));
    let e = match i % 10 {
        0 | 1 => ActivityEvent::login_failed(actor).with_reason("bad_password"),
        2 => ActivityEvent::session_created(actor).with_session(format!("s{i}")),
        _ => ActivityEvent::login_succeeded(actor),
    };
    e.with_time(t0 + Span::milliseconds(i as i64 * 200))
        .with_source(
            Source::ip(
                format!("81.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255)
                    .parse()
                    .unwrap(),
            )
            .with_device_id(format!("d_{}", account % 1000))
            .with_geo(Geo {
                country: Some("GB".into()),
                city: None,
                lat: Some(51.5),
                lon: Some(-0.1),
                accuracy_km: Some(20),
            }),
        )
}

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let args: Vec<String> = std::env::args().collect();
    let rows = args
        .iter()
        .position(|a| a == "--rows")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { 5_000 } else { 1_000_000 });
    let accounts = args
        .iter()
        .position(|a| a == "--accounts")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(ACCOUNTS)
        .max(1);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let dir = std::env::temp_dir().join(format!("activity-bench-alerts-{}", uuid::Uuid::now_v7()));
        let kept = args.iter().position(|a| a == "--db").and_then(|i| args.get(i + 1));
        let (url, load) = match kept {
            Some(p) => (format!("sqlite://{p}"), !std::path::Path::new(p).exists()),
            None => {
                std::fs::create_dir_all(&dir).unwrap();
                (format!("sqlite://{}/a.db", dir.display()), true)
            }
        };
        let mut options = activity_sqlx::SqliteOptions::new(&url);
        if let Some(n) = args
            .iter()
            .position(|a| a == "--connections")
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
        {
            options = options.max_connections(n);
        }
        let store = SqliteStore::connect_with(options).await.unwrap();
        store.migrate().await.unwrap();
        let store: Arc<dyn ActivityStore> = Arc::new(store);
        let mut batch = Vec::with_capacity(5000);
        for i in (0..rows).filter(|_| load) {
            batch.push(event(i, accounts));
            if batch.len() == 5000 {
                store.append(&batch).await.unwrap();
                batch.clear();
            }
        }
        if load {
            store.append(&batch).await.unwrap();
        }
        if args.iter().any(|a| a == "--load-only") {
            return;
        }
        let engine = AlertEngine::with_defaults();
        let batch_size = args
            .iter()
            .position(|a| a == "--batch")
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(1usize)
            .max(1);
        let mut times = Vec::new();
        let mut by_action = std::collections::BTreeMap::new();
        let mut alerts = 0;
        let mut batches = 0;
        for first in (0..2000usize).step_by(batch_size) {
            let batch: Vec<ActivityEvent> =
                (first..(first + batch_size).min(2000)).map(|k| event(rows + k, accounts)).collect();
            store.append(&batch).await.unwrap();
            let t = Instant::now();
            alerts += engine.evaluate(&*store, &batch).await.unwrap().len();
            let per_event = t.elapsed() / batch.len() as u32;
            times.push(per_event);
            batches += 1;
            if batch_size == 1 {
                by_action
                    .entry(batch[0].action.to_string())
                    .or_insert_with(Vec::new)
                    .push(per_event);
            }
        }
        times.sort();
        let pct = |p: f64| times[((times.len() - 1) as f64 * p) as usize];
        let per: Duration = times.iter().sum::<Duration>() / times.len() as u32;
        println!(
            "alert evaluation with {rows} stored events, {accounts} accounts ({} per account), batches of {batch_size} ({batches} batches): per event mean {per:?}, median {:?}, p99 {:?} ({alerts} alerts)",
            rows / accounts,
            pct(0.5),
            pct(0.99)
        );
        for (action, t) in by_action.iter_mut() {
            t.sort();
            println!("  {action}: median {:?} ({} events)", t[t.len() / 2], t.len());
        }
        if kept.is_none() {
            let _ = std::fs::remove_dir_all(dir);
        }
    });
}
