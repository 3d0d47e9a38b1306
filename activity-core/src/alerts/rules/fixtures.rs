//! Helpers the rules' tests share: a login with a device, address and location, and a
//! rule run over events one at a time.

use chrono::{DateTime, TimeZone, Utc};

use crate::alerts::{Alert, AlertRule};
use crate::{ActivityEvent, ActivityStore, Actor, Geo, MemoryStore, Source};

pub(crate) fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 8, 0, 0).unwrap()
}

pub(crate) fn login(
    at: DateTime<Utc>,
    device: Option<&str>,
    ip: &str,
    geo: Option<Geo>,
) -> ActivityEvent {
    let mut s = Source::ip(ip.parse().unwrap()).with_user_agent("Mozilla/5.0 Firefox/140.0");
    if let Some(d) = device {
        s = s.with_device_id(d);
    }
    s.geo = geo;
    ActivityEvent::login_succeeded(Actor::user("alice"))
        .with_time(at)
        .with_source(s)
}

pub(crate) async fn run(rule: &dyn AlertRule, events: &[ActivityEvent]) -> Vec<Alert> {
    let store = MemoryStore::new();
    store.append(events).await.unwrap();
    let mut out = Vec::new();
    for e in events {
        out.extend(rule.evaluate(&store, e).await.unwrap());
    }
    out
}
