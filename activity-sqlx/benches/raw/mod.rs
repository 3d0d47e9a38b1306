//! The raw baseline the store benches measure against, shared by the benches of
//! activity-sqlx (`mod raw;`) and activity-tower's HTTP bench (`#[path]`): realistic
//! login events, and sqlx's own multi-row INSERT of them into the store's schema.

use std::time::Instant;

use activity_core::{ActivityEvent, Actor, Source};
use activity_sqlx::SqliteStore;
use chrono::{Duration as Span, TimeZone, Utc};
use sqlx::{QueryBuilder, Sqlite};

/// Accounts the events of [`event`] spread over.
pub const ACCOUNTS: usize = 100_000;

/// The `i`th of a run of realistic logins: one in ten failed, over [`ACCOUNTS`]
/// accounts and 50 tenants, 30 ms apart, every source field filled.
pub fn event(i: usize) -> ActivityEvent {
    let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let account = (i * 7919) % ACCOUNTS;
    let failed = i.is_multiple_of(10);
    let actor = Actor::user(format!("u_{account}")).with_name(format!("user{account}@example.com"));
    let e = if failed {
        ActivityEvent::login_failed(actor).with_reason("bad_password")
    } else {
        ActivityEvent::login_succeeded(actor)
    };
    e.with_time(t0 + Span::milliseconds(i as i64 * 30))
        .with_tenant(format!("t{}", account % 50))
        .with_source(
            Source::ip(
                format!("10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255)
                    .parse()
                    .unwrap(),
            )
            .with_user_agent("Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0")
            .with_device_id(format!("d_{account}")),
        )
        .with_request_id(format!("req_{i}"))
}

/// The baseline's columns: what a login event fills.
pub const RAW_INSERT: &str = "INSERT INTO activity_events (id, time_us, tenant, action, outcome, reason, actor_id, actor_name, actor_type, ip, user_agent, device_id, request_id) ";

/// Pushes `chunk`'s rows into the baseline's `QueryBuilder` (same binds on every
/// backend; a macro because the builder's database type differs).
macro_rules! push_rows {
    ($qb:ident, $chunk:ident) => {
        $qb.push_values($chunk, |mut b, e| {
            let a = e.actor.as_ref().unwrap();
            let s = e.source.as_ref().unwrap();
            b.push_bind(e.id.as_bytes().to_vec())
                .push_bind(e.time.timestamp_micros())
                .push_bind(e.tenant.clone())
                .push_bind(e.action.to_string())
                .push_bind(e.outcome.as_str())
                .push_bind(e.reason.clone())
                .push_bind(a.id.clone())
                .push_bind(a.name.clone())
                .push_bind(a.kind.clone())
                .push_bind(s.ip.map(|ip| ip.to_string()))
                .push_bind(s.user_agent.clone())
                .push_bind(s.device_id.clone())
                .push_bind(e.request_id.clone());
        })
    };
}

/// The practical limit: rows pushed with sqlx's own QueryBuilder, 1,000 per statement,
/// 1,000 per transaction, into the store's schema (created by `migrate`).
pub async fn raw_sqlite(url: &str, events: &[ActivityEvent]) -> f64 {
    let store = SqliteStore::connect(url).await.unwrap();
    store.migrate().await.unwrap();
    let pool = store.pool().clone();
    let start = Instant::now();
    for chunk in events.chunks(1000) {
        let mut tx = pool.begin().await.unwrap();
        let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(RAW_INSERT);
        push_rows!(qb, chunk);
        qb.build().execute(&mut *tx).await.unwrap();
        tx.commit().await.unwrap();
    }
    events.len() as f64 / start.elapsed().as_secs_f64()
}
