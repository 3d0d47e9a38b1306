//! The seeded incident of the investigation issue, end to end on SQLite: events go through
//! the recorder with the default alert engine, the engine raises the alerts, and the
//! timeline started from the engine's own alert holds exactly the linked events; the
//! security analyst's digest counts what was seeded.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;

use activity_core::{
    alerts::AlertEngine, review::digest, review::DigestOptions, review::ReviewRole,
    timeline::timeline, timeline::Anchor, timeline::Link, timeline::TimelineOptions, Action,
    ActivityEvent, ActivityQuery, ActivityStore, Actor, Recorder, Source,
};
use activity_sqlx::SqliteStore;
use chrono::{DateTime, Duration, TimeZone, Utc};
use uuid::Uuid;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 3, 0, 0).unwrap()
}

#[tokio::test]
async fn the_timeline_from_the_engines_alert_holds_exactly_the_incident() {
    let store = Arc::new(SqliteStore::connect("sqlite::memory:").await.unwrap());
    store.migrate().await.unwrap();
    let (recorder, guard) = Recorder::builder(store.clone())
        .after_commit(AlertEngine::with_defaults())
        .lifecycle_events(false)
        .start();
    let spray_ip: IpAddr = "175.16.199.1".parse().unwrap();
    let home: IpAddr = "81.2.69.142".parse().unwrap();
    let victim = "user07";

    // Background before the incident: the victim's usual sign-in, three days earlier.
    let usual = ActivityEvent::login_succeeded(Actor::user(victim))
        .with_time(t0() - Duration::days(3))
        .with_source(Source::ip(home).with_device_id("d_home"));
    // Password spraying: one failure for each of 20 accounts from one address in 20 s.
    let spray: Vec<ActivityEvent> = (0..20)
        .map(|i| {
            ActivityEvent::login_failed(Actor::user(format!("user{i:02}")))
                .with_reason("bad_password")
                .with_time(t0() + Duration::seconds(i))
                .with_source(Source::ip(spray_ip))
        })
        .collect();
    // Unrelated background inside the window: someone else, elsewhere.
    let frank = ActivityEvent::login_succeeded(Actor::user("frank"))
        .with_time(t0() + Duration::minutes(1))
        .with_source(Source::ip("89.160.20.112".parse().unwrap()).with_device_id("d_frank"));
    // The attacker gets into the victim from a new device, then changes the MFA.
    let breach = ActivityEvent::login_succeeded(Actor::user(victim))
        .with_time(t0() + Duration::minutes(5))
        .with_source(Source::ip(spray_ip).with_device_id("d_evil"))
        .with_session("hmac-sha256:evil");
    let mfa = ActivityEvent::mfa_updated(Actor::user(victim))
        .with_time(t0() + Duration::minutes(6))
        .with_source(Source::ip("2.125.160.216".parse().unwrap()).with_device_id("d_evil"))
        .with_session("hmac-sha256:evil");
    // Background after the window: the same address again, 30 hours later.
    let later = ActivityEvent::login_failed(Actor::user("grace"))
        .with_time(t0() + Duration::hours(30))
        .with_source(Source::ip(spray_ip));

    let mut all = vec![usual.clone()];
    all.extend(spray.clone());
    all.extend([frank.clone(), breach.clone(), mfa.clone(), later.clone()]);
    for e in &all {
        recorder.record(e.clone()).unwrap();
        // One batch per event, as live traffic would commit them.
        recorder.flush().await.unwrap();
    }
    recorder.flush().await.unwrap();

    let alerts = store
        .query(
            &ActivityQuery::new()
                .action(Action::ALERT_RAISED.as_str())
                .limit(100),
        )
        .await
        .unwrap()
        .events;
    let rule = |e: &ActivityEvent| {
        e.details.as_ref().unwrap()["rule"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let rules: BTreeSet<String> = alerts.iter().map(rule).collect();
    assert_eq!(
        rules,
        BTreeSet::from(["failed_logins_ip".to_owned(), "new_device".to_owned()]),
        "{alerts:#?}"
    );
    let spray_alert = alerts
        .iter()
        .find(|a| rule(a) == "failed_logins_ip")
        .unwrap();

    let t = timeline(
        &*store,
        None,
        Anchor::Alert(spray_alert.id),
        TimelineOptions::default(),
    )
    .await
    .unwrap();
    let got: BTreeSet<Uuid> = t.entries.iter().map(|r| r.event.id).collect();
    let mut want: BTreeSet<Uuid> = spray.iter().map(|e| e.id).collect();
    want.extend([breach.id, mfa.id, spray_alert.id]);
    assert_eq!(got, want, "exactly the incident, none of the background");
    for outside in [&usual, &frank, &later] {
        assert!(!got.contains(&outside.id));
    }
    let row = |id| t.entries.iter().find(|r| r.event.id == id).unwrap();
    assert_eq!(row(spray_alert.id).links, vec![Link::Anchor]);
    assert!(row(spray[0].id).links.contains(&Link::Evidence));
    assert!(row(breach.id).links.contains(&Link::Ip(spray_ip)));
    assert!(row(mfa.id).links.contains(&Link::Account(victim.into())));

    // The security analyst's digest of the day counts what was seeded.
    let d = digest(
        &*store,
        ReviewRole::SecurityAnalyst,
        None,
        t0() - Duration::hours(1),
        t0() + Duration::hours(23),
        t0() + Duration::days(1),
        DigestOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(d.failures_by_action.get("auth.login.failed"), Some(&20));
    assert_eq!(d.alerts_by_rule.get("failed_logins_ip"), Some(&1));
    assert_eq!(d.alerts_by_rule.get("new_device"), Some(&1));
    assert_eq!(d.top_failing_ips[0].key, spray_ip.to_string());
    assert_eq!(d.top_failing_ips[0].count, 20);
    assert_eq!(d.new_devices_and_locations.len(), 1);
    assert_eq!(
        d.new_devices_and_locations[0].target.as_deref(),
        Some(victim)
    );
    guard.shutdown().await;
}
