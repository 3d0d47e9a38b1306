//! Export, verification and purge on SQLite:
//! `cargo bench -p activity-sqlx --bench export -- [--rows N]`
//!
//! For 100,000 and then N (default 1,000,000) sealed events (with their chain heads) in
//! a fresh SQLite file: a baseline of the driver alone reading every row; CSV export to
//! a sink (rows/s; and, in a separate pass, the peak heap allocated during an export,
//! counted by this binary's global allocator); chain verification (events/s); and a
//! purge of every event while a second task appends one event every 5 ms (the longest
//! single append wait during the purge).
//!
//! `--db PATH` (with `--rows N`): only N events in the file PATH, loaded if it does not
//! exist yet and kept afterwards; export and verification only (no purge), for profiling.
//! `--phase baseline|export|verify`: only that part.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use activity_core::{
    chain::verify, chain::ChainKey, chain::ChainSealer, export::export, export::ExportFormat,
    retention::Purger, retention::Retention, retention::RetentionPolicy, ActivityEvent,
    ActivityQuery, ActivityStore, Actor, ManualClock, Source,
};
use activity_sqlx::SqliteStore;
use chrono::{Duration as Span, TimeZone, Utc};

struct Counting;
static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
/// Counting is on only for the export pass that measures the peak: the two shared
/// counters, bounced between threads on every allocation, would slow the timed passes.
static COUNTING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() && COUNTING.load(Ordering::Relaxed) {
            let now = CURRENT.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        if COUNTING.load(Ordering::Relaxed) {
            CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
        }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn event(i: usize) -> ActivityEvent {
    let t0 = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap();
    ActivityEvent::login_failed(
        Actor::user(format!("u_{}", i % 100_000)).with_name(format!("=user{i}@example.com")),
    )
    .with_reason("bad_password")
    .with_time(t0 + Span::milliseconds(i as i64 * 10))
    .with_tenant("acme")
    .with_source(
        Source::ip("81.2.69.142".parse().unwrap()).with_user_agent("Mozilla/5.0 Firefox/140.0"),
    )
    .with_detail("method", "password")
}

/// `kept`: a database file to reuse (loaded only if it does not exist yet), kept
/// afterwards, and not purged: for profiling the reads without reloading every time.
async fn run(rows: usize, kept: Option<&str>) {
    let dir = std::env::temp_dir().join(format!("activity-bench-export-{}", uuid::Uuid::now_v7()));
    let (path, load) = match kept {
        Some(p) => (
            std::path::PathBuf::from(p),
            !std::path::Path::new(p).exists(),
        ),
        None => {
            std::fs::create_dir_all(&dir).unwrap();
            (dir.join("e.db"), true)
        }
    };
    let store = Arc::new(
        SqliteStore::connect(&format!("sqlite://{}", path.display()))
            .await
            .unwrap(),
    );
    store.migrate().await.unwrap();
    let key = ChainKey::keyed(b"benchmark chain key, 32 bytes..").unwrap();
    let mut sealer = ChainSealer::new("bench", key.clone());
    let mut batch = Vec::with_capacity(5000);
    for i in (0..rows).filter(|_| load) {
        batch.push(event(i));
        if batch.len() == 5000 {
            sealer.seal_all(&mut batch);
            store
                .append_sealed(&batch, &sealer.heads_of(&batch))
                .await
                .unwrap();
            batch.clear();
        }
    }
    if load {
        sealer.seal_all(&mut batch);
        store
            .append_sealed(&batch, &sealer.heads_of(&batch))
            .await
            .unwrap();
    }

    let phase = |name: &str| {
        let args: Vec<String> = std::env::args().collect();
        args.iter()
            .position(|a| a == "--phase")
            .and_then(|i| args.get(i + 1))
            .is_none_or(|p| p == name)
    };
    // Baseline, same run: the driver alone reading every row (no decoding, no CSV).
    let t = Instant::now();
    let mut raw = 0u64;
    let mut after = 0i64;
    while phase("baseline") {
        let page = sqlx::query(
            "SELECT rowid, * FROM activity_events WHERE rowid > ? ORDER BY rowid LIMIT 1000",
        )
        .bind(after)
        .fetch_all(store.pool())
        .await
        .unwrap();
        let Some(last) = page.last() else { break };
        after = sqlx::Row::get(last, 0);
        raw += page.len() as u64;
    }
    println!(
        "{rows} events: baseline, sqlx reading every row in pages of 1,000, undecoded {:.0} rows/s",
        raw as f64 / t.elapsed().as_secs_f64()
    );

    // Peak heap: an export with the allocator counting (net of what was live before).
    if phase("export") {
        CURRENT.store(0, Ordering::Relaxed);
        PEAK.store(0, Ordering::Relaxed);
        COUNTING.store(true, Ordering::Relaxed);
        export(
            &*store,
            &ActivityQuery::new(),
            ExportFormat::Csv,
            std::io::sink(),
        )
        .await
        .unwrap();
        COUNTING.store(false, Ordering::Relaxed);
        let peak = PEAK.load(Ordering::Relaxed);

        let t = Instant::now();
        let n = export(
            &*store,
            &ActivityQuery::new(),
            ExportFormat::Csv,
            std::io::sink(),
        )
        .await
        .unwrap();
        let secs = t.elapsed().as_secs_f64();
        println!(
            "{rows} events: CSV export {:.0} rows/s, peak heap during export {:.1} MiB",
            n as f64 / secs,
            peak as f64 / 1048576.0
        );
    }
    if phase("verify") {
        let t = Instant::now();
        let r = verify(&*store, None, &key).await.unwrap();
        assert!(r.is_intact());
        assert_eq!(r.anchored, 1, "checked against its chain head");
        let v2 = r.events as f64 / t.elapsed().as_secs_f64();
        println!("{rows} events: chain verification {v2:.0} events/s");
        // The same events sealed with the version 1 link encoding, in a file of their
        // own: integrity v2 is held to >= 0.8x of it, measured in this run.
        if kept.is_none() {
            let old = Arc::new(
                SqliteStore::connect(&format!("sqlite://{}", dir.join("v1.db").display()))
                    .await
                    .unwrap(),
            );
            old.migrate().await.unwrap();
            let mut sealer = ChainSealer::new("bench", key.clone()).sealing_v1();
            let mut batch = Vec::with_capacity(5000);
            for i in 0..rows {
                batch.push(event(i));
                if batch.len() == 5000 || i + 1 == rows {
                    sealer.seal_all(&mut batch);
                    old.append_sealed(&batch, &sealer.heads_of(&batch))
                        .await
                        .unwrap();
                    batch.clear();
                }
            }
            let t = Instant::now();
            let r = verify(&*old, None, &key).await.unwrap();
            assert!(r.is_intact());
            let v1 = r.events as f64 / t.elapsed().as_secs_f64();
            println!(
                "{rows} events: chain verification of the same events sealed v1 {v1:.0} events/s; v2/v1 = {:.2}",
                v2 / v1
            );
        }
    }

    if kept.is_some() {
        return;
    }
    let writer_store = store.clone();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop2 = stop.clone();
    let writer = tokio::spawn(async move {
        let mut worst = Duration::ZERO;
        let mut i = 0;
        while !stop2.load(Ordering::Relaxed) {
            let e = ActivityEvent::logout(Actor::user("w")).with_tenant("other");
            let t = Instant::now();
            writer_store.append(&[e]).await.unwrap();
            worst = worst.max(t.elapsed());
            i += 1;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        (worst, i)
    });
    let policy = RetentionPolicy::new(Retention::Days(1)).tenant("other", Retention::Days(36500));
    let purger = Purger::new(
        store.clone(),
        policy,
        Arc::new(ManualClock::new(Utc::now())),
    );
    let t = Instant::now();
    let report = purger.run_once(false).await.unwrap();
    let purge_secs = t.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let (worst, appends) = writer.await.unwrap();
    println!(
        "{rows} events: purged {} in {purge_secs:.1}s; concurrent writer: {appends} appends, longest wait {worst:?}",
        report.total
    );
    let _ = std::fs::remove_dir_all(dir);
}

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let args: Vec<String> = std::env::args().collect();
    let rows = args
        .iter()
        .position(|a| a == "--rows")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { 2_000 } else { 1_000_000 });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let kept = args
        .iter()
        .position(|a| a == "--db")
        .and_then(|i| args.get(i + 1));
    rt.block_on(async {
        if let Some(path) = kept {
            return run(rows, Some(path)).await;
        }
        run(rows.min(100_000), None).await;
        if rows > 100_000 {
            run(rows, None).await;
        }
    });
}
