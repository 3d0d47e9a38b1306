//! Sinks: the committed log delivered to rotated JSON Lines files, only the sign-in
//! events of one tenant, with the receipt an operator reads, and the purge waiting for
//! what the sink has not delivered.
//!
//! ```sh
//! cargo run --example sinks            # writes into a temporary directory, then prints
//! ```
//!
//! The same runner drives the NATS JetStream sink (`activity_sqlx::NatsSink`, feature
//! `nats`) and the HTTP / Splunk HEC sink (`activity_tower::HttpSink`, feature
//! `webhook`): only the `Sink` changes.

use std::sync::Arc;

use activity_core::retention::{Purger, Retention, RetentionPolicy};
use activity_core::sinks::{FileSink, SinkFilter, SinkRunner};
use activity_core::{ActivityEvent, Actor, Recorder, SystemClock};
use activity_sqlx::SqliteStore;
use chrono::{Duration, Utc};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("activity-sinks-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir)?;
    let store =
        Arc::new(SqliteStore::connect(&format!("sqlite://{}/activity.db", dir.display())).await?);
    store.migrate().await?;

    // The application records as usual.
    let (recorder, guard) = Recorder::builder(store.clone())
        .lifecycle_events(false)
        .start();
    for i in 0..5 {
        let old = Utc::now() - Duration::days(120) + Duration::minutes(i);
        recorder.record(
            ActivityEvent::login_failed(Actor::user("alice"))
                .with_tenant("acme")
                .with_time(old),
        )?;
    }
    recorder.record(ActivityEvent::login_succeeded(Actor::user("alice")).with_tenant("acme"))?;
    recorder.record(ActivityEvent::logout(Actor::user("bob")).with_tenant("beta"))?;
    guard.shutdown().await;

    // A sink: acme's sign-ins, into files rotated at 1 MiB or midnight UTC.
    let files = Arc::new(FileSink::new(dir.join("siem"))?.max_bytes(1 << 20).keep(14));
    let runner = SinkRunner::new("acme-signins", store.clone(), files)?
        .filter(SinkFilter::all().action("auth.login").tenant(Some("acme")))
        .batch_size(4);
    let first = runner.deliver_once().await?;
    println!(
        "first batch: read {}, delivered {}",
        first.read, first.delivered
    );
    let r = runner.receipt().await?;
    println!(
        "receipt: {} {} lag {} delivered {}",
        r.state.name,
        r.state.status.as_str(),
        r.lag,
        r.state.delivered
    );

    // The purge keeps the expired events the sink has not delivered yet.
    let purger = Purger::new(
        store.clone(),
        RetentionPolicy::new(Retention::Days(90)),
        Arc::new(SystemClock),
    );
    let report = purger.run_once(false).await?;
    println!(
        "purge: deleted {}, kept {} the sink has not delivered",
        report.total, report.undelivered_kept
    );

    let rest = runner.deliver_available().await?;
    println!(
        "caught up: read {}, delivered {}",
        rest.read, rest.delivered
    );
    let report = purger.run_once(false).await?;
    println!(
        "purge: deleted {}, kept {}",
        report.total, report.undelivered_kept
    );
    let lines = std::fs::read_to_string(dir.join("siem").join("activity.jsonl"))?;
    println!(
        "{} events in {}",
        lines.lines().count(),
        dir.join("siem").display()
    );
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
