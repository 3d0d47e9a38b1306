//! A burst of failed logins through the whole pipeline into SQLite:
//! `cargo bench -p activity-sqlx --bench failures -- [--rate N] [--seconds S]`
//!
//! The recorder as an application runs it (chain sealer, the default alert rules, the
//! lockout policy) on a fresh SQLite file. A driver records `--rate` failed logins per
//! second (default 1,000) for `--seconds` (default 60; 5 when run without `--bench`,
//! as `cargo test` does), spread over 2,000 accounts and 500 addresses, so that accounts
//! lock, alerts fire and the lockout and alert rules read history for every batch. The
//! queue depth is sampled every 100 ms. Reports the events recorded and refused, the
//! deepest and the last queue, how long the queue took to drain after the burst, and
//! the alerts and lockouts stored. The target (issue 19): no event refused, and the
//! queue bounded (it does not grow with the length of the burst).

use std::sync::Arc;
use std::time::{Duration, Instant};

use activity_core::chain::{ChainKey, ChainSealer};
use activity_core::lockout::{LockoutConfig, LockoutPolicy};
use activity_core::{
    alerts::AlertEngine, ActivityEvent, ActivityQuery, ActivityStore, Actor, Recorder, Source,
};
use activity_sqlx::SqliteStore;

fn arg(args: &[String], name: &str) -> Option<u64> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let full = args.iter().any(|a| a == "--bench");
    let rate = arg(&args, "--rate").unwrap_or(1000);
    let seconds = arg(&args, "--seconds").unwrap_or(if full { 60 } else { 5 });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run(rate, seconds));
}

async fn run(rate: u64, seconds: u64) {
    let dir = std::env::temp_dir().join(format!("activity-bench-failures-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}/log.db?mode=rwc", dir.display());
    let store = Arc::new(SqliteStore::connect(&url).await.unwrap());
    store.migrate().await.unwrap();
    let key = ChainKey::keyed(b"bench key, at least sixteen bytes").unwrap();
    let lockout = Arc::new(LockoutPolicy::new(store.clone(), LockoutConfig::default()));
    let (recorder, guard) = Recorder::builder(store.clone())
        .sealer(ChainSealer::new("bench", key))
        .after_commit(AlertEngine::with_defaults())
        .lockout(lockout)
        .start();

    let total = rate * seconds;
    let tick = Duration::from_millis(10);
    let per_tick = (rate / 100).max(1);
    let started = Instant::now();
    let (mut recorded, mut refused, mut deepest, mut sent) = (0u64, 0u64, 0u64, 0u64);
    let mut next_sample = Instant::now();
    let mut interval = tokio::time::interval(tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    while sent < total {
        interval.tick().await;
        for _ in 0..per_tick.min(total - sent) {
            let i = sent;
            sent += 1;
            let account = (i * 7919) % 2000;
            let ip = format!("198.51.{}.{}", (i % 500) / 250, (i % 500) % 250 + 1);
            let e = ActivityEvent::login_failed(Actor::user(format!("u_{account}")))
                .with_reason("bad_password")
                .with_source(Source::ip(ip.parse().unwrap()));
            match recorder.record(e) {
                Ok(()) => recorded += 1,
                Err(_) => refused += 1,
            }
        }
        if Instant::now() >= next_sample {
            next_sample += Duration::from_millis(100);
            deepest = deepest.max(recorder.metrics().queued);
        }
    }
    let burst = started.elapsed();
    let last = recorder.metrics().queued;
    let drain = Instant::now();
    recorder.flush().await.unwrap();
    let drained = drain.elapsed();
    let report = guard.shutdown().await;
    let count = |action: &'static str| {
        let store = store.clone();
        async move {
            store
                .count(&ActivityQuery::new().action(action))
                .await
                .unwrap()
        }
    };
    let stored = count("auth.login.failed").await;
    let alerts = count("alert.raised").await;
    let locks = count("lockout.triggered").await;
    println!(
        "failures: {recorded} recorded in {:.1} s ({:.0}/s offered), {refused} refused; \
         queue deepest {deepest}, at the end {last}; drained {:.0} ms after the burst; \
         stored {stored}, alerts {alerts}, lockouts {locks}; unwritten {}",
        burst.as_secs_f64(),
        sent as f64 / burst.as_secs_f64(),
        drained.as_secs_f64() * 1000.0,
        report.unwritten.len()
    );
    assert_eq!(stored, recorded, "every recorded failure stored");
    let _ = std::fs::remove_dir_all(&dir);
}
