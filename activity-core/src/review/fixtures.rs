//! Fixtures the review tests share: a day of seeded activity.

use chrono::{DateTime, Duration, TimeZone, Utc};

use crate::{Action, ActivityEvent, Actor, Outcome, Source, Target};

pub(crate) fn day() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap()
}

pub(crate) fn seeded() -> Vec<ActivityEvent> {
    let at = |h: i64| day() + Duration::hours(h);
    let spray: std::net::IpAddr = "175.16.199.1".parse().unwrap();
    let mut v = Vec::new();
    for (i, a) in ["alice", "bob", "carol"].iter().enumerate() {
        for k in 0..(3 - i as i64) {
            v.push(
                ActivityEvent::login_failed(Actor::user(*a))
                    .with_ip(spray)
                    .with_time(at(1) + Duration::minutes(k)),
            );
        }
    }
    v.push(
        ActivityEvent::login_failed(Actor::user("bob"))
            .with_ip("81.2.69.142".parse().unwrap())
            .with_time(at(2)),
    );
    v.push(
        ActivityEvent::lockout_triggered(Actor::user("alice"), "too_many_failures")
            .with_time(at(2)),
    );
    v.push(ActivityEvent::alert_raised("failed_logins", "high", &[]).with_time(at(3)));
    v.push(ActivityEvent::alert_raised("new_device", "medium", &[]).with_time(at(3)));
    v.push(ActivityEvent::admin_config_changed(Actor::user("root")).with_time(at(4)));
    v.push(
        ActivityEvent::admin_role_changed(Actor::user("root"), Target::user("bob"))
            .with_time(at(4)),
    );
    v.push(
        ActivityEvent::admin_user_unlocked(Actor::user("root"), Target::user("alice"))
            .with_time(at(5)),
    );
    v.push(ActivityEvent::audit_exported(Actor::user("root")).with_time(at(6)));
    v.push(ActivityEvent::audit(Action::AUDIT_FAILED, Outcome::Failure).with_time(at(7)));
    v.push(ActivityEvent::audit(Action::AUDIT_RECOVERED, Outcome::Success).with_time(at(8)));
    v.push(ActivityEvent::audit(Action::AUDIT_VERIFIED, Outcome::Success).with_time(at(9)));
    v.push(ActivityEvent::audit(Action::AUDIT_PURGED, Outcome::Success).with_time(at(9)));
    v.push(
        ActivityEvent::login_succeeded(Actor::user("dave"))
            .with_source(Source::ip(spray))
            .with_time(at(22)),
    );
    v
}
