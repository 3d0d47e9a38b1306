//! Helpers the alert engine's tests share: failed and successful logins at fixed times,
//! and a repeatable random source.

use chrono::{DateTime, TimeZone, Utc};

use super::{Alert, AlertEngine};
use crate::{ActivityEvent, ActivityStore, Actor, MemoryStore, Source};

pub(crate) fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 9, 0, 0).unwrap()
}

pub(crate) fn fail(account: &str, at: DateTime<Utc>, ip: &str) -> ActivityEvent {
    ActivityEvent::login_failed(Actor::user(account))
        .with_time(at)
        .with_source(Source::ip(ip.parse().unwrap()))
}

pub(crate) async fn alerts_for(events: &[ActivityEvent], engine: &AlertEngine) -> Vec<Alert> {
    let store = MemoryStore::new();
    store.append(events).await.unwrap();
    engine.evaluate(&store, events).await.unwrap()
}

pub(crate) fn login_at(account: &str, at: DateTime<Utc>) -> ActivityEvent {
    ActivityEvent::login_succeeded(Actor::user(account))
        .with_time(at)
        .with_source(Source::ip("81.2.69.142".parse().unwrap()).with_device_id("d1"))
}

/// A repeatable pseudo-random source (xorshift): each call, a number below `n`.
pub(crate) fn below(mut seed: u64) -> impl FnMut(u64) -> u64 {
    move |n| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    }
}
