//! The administrator's overview and Unlock through a real axum server on a loopback
//! socket, backed by SQLite, with an injected clock: the figures over 24 hours and 7
//! days, tenant isolation, the sentences and marks of a listing, and every refusal of a
//! forged or unauthorised unlock.

mod common;
use common::Reply;

use std::net::SocketAddr;
use std::sync::Arc;

use activity_core::event::payload::{LockoutReleased, Payload};
use activity_core::lockout::{LockoutConfig, LockoutPolicy};
use activity_core::{
    Action, ActivityEvent, ActivityQuery, ActivityStore, Actor, ManualClock, Recorder,
    RecorderGuard,
};
use activity_sqlx::SqliteStore;
use activity_tower::{ActivityLayer, ActivityViews};
use axum::middleware::{self};
use axum::Router;
use chrono::{DateTime, Duration, TimeZone, Utc};

struct App {
    addr: SocketAddr,
    store: Arc<SqliteStore>,
    recorder: Recorder,
    guard: RecorderGuard,
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 3, 12, 0, 0).unwrap()
}

fn at(e: ActivityEvent, tenant: &str, ago: Duration, ip: &str) -> ActivityEvent {
    e.with_tenant(tenant)
        .with_ip(ip.parse().unwrap())
        .with_time(t0() - ago)
}

/// acme: 3 sign-ins and 4 failures today, 2 failures 3 days ago, 1 failure 9 days ago;
/// globex: 50 failures today (never in acme's figures).
fn seed() -> Vec<ActivityEvent> {
    let bob = || Actor::user("bob");
    let mut out = Vec::new();
    for h in [1, 2, 20] {
        out.push(at(
            ActivityEvent::login_succeeded(bob()),
            "acme",
            Duration::hours(h),
            "81.2.69.142",
        ));
    }
    for m in [10, 20, 30, 40] {
        out.push(at(
            ActivityEvent::login_failed(bob()).with_reason("bad_password"),
            "acme",
            Duration::minutes(m),
            "175.16.199.1",
        ));
    }
    for d in [3, 3, 9] {
        out.push(at(
            ActivityEvent::login_failed(Actor::user("carol")),
            "acme",
            Duration::days(d),
            "175.16.199.2",
        ));
    }
    for _ in 0..50 {
        out.push(at(
            ActivityEvent::login_failed(Actor::user("mallory")),
            "globex",
            Duration::minutes(5),
            "10.9.9.9",
        ));
    }
    out
}

async fn start(clock: ManualClock) -> App {
    let store = Arc::new(SqliteStore::connect("sqlite::memory:").await.unwrap());
    store.migrate().await.unwrap();
    store.append(&seed()).await.unwrap();
    let policy =
        Arc::new(LockoutPolicy::new(store.clone(), LockoutConfig::default()).clock(clock.clone()));
    let (recorder, guard) = Recorder::builder(store.clone())
        .clock(clock.clone())
        .lockout(policy.clone())
        .start();
    let views = ActivityViews::new(store.clone(), recorder.clone())
        .lockout(policy)
        .clock(clock)
        .not_you_url("/account/security")
        .unwrap();
    let app = Router::new()
        .merge(views.router())
        .layer(ActivityLayer::new(recorder.clone()))
        .layer(middleware::from_fn(common::auth));
    App {
        addr: common::serve(app).await,
        store,
        recorder,
        guard,
    }
}

async fn send(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
    let mut req = format!("{method} {path} HTTP/1.0\r\nHost: app.test\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    common::raw(addr, req.as_bytes()).await
}

const ALICE: &[(&str, &str)] = &[
    ("x-user", "alice"),
    ("x-role", "admin"),
    ("x-tenant", "acme"),
];
const BOB: &[(&str, &str)] = &[("x-user", "bob"), ("x-tenant", "acme")];

/// The CSRF token of the page `who` is served.
async fn token(addr: SocketAddr, who: &[(&str, &str)]) -> String {
    let page = send(addr, "GET", "/activity-log/", who).await;
    assert_eq!(page.status, 200);
    let start = page.body.find("name=\"csrf-token\" content=\"").unwrap() + 27;
    let end = start + page.body[start..].find('"').unwrap();
    page.body[start..end].to_owned()
}

#[tokio::test]
async fn the_overview_counts_the_tenants_events_in_the_clocks_windows() {
    let clock = ManualClock::new(t0());
    let app = start(clock.clone()).await;
    let r = send(app.addr, "GET", "/activity-log/api/overview", ALICE).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let o = r.json();
    assert_eq!(o["day"]["sign_ins"]["total"], 3);
    assert_eq!(
        o["day"]["failures"]["total"], 4,
        "globex's 50 are not acme's"
    );
    assert_eq!(o["week"]["failures"]["total"], 6, "9 days ago is outside");
    let hourly = o["day"]["failures"]["buckets"].as_array().unwrap();
    assert_eq!(hourly.len(), 24);
    assert_eq!(hourly[23], 4, "all four in the last hour");
    let daily = o["week"]["failures"]["buckets"].as_array().unwrap();
    assert_eq!(daily.len(), 7);
    assert_eq!(daily[6], 4);
    assert_eq!(daily[3], 2, "three days ago");
    assert_eq!(o["top_accounts"][0]["key"], "bob");
    assert_eq!(o["top_accounts"][0]["failures"], 4);
    assert_eq!(o["top_ips"][0]["key"], "175.16.199.1");
    assert_eq!(o["partial"], false);

    // A day later on the same clock, today's events have moved to yesterday.
    clock.advance(Duration::days(1));
    let o = send(app.addr, "GET", "/activity-log/api/overview", ALICE)
        .await
        .json();
    assert_eq!(o["day"]["failures"]["total"], 0);
    assert_eq!(o["week"]["failures"]["total"], 6);
    assert_eq!(o["week"]["failures"]["buckets"][5], 4);

    // Users and unknown parameters are refused; the read is audited.
    let r = send(app.addr, "GET", "/activity-log/api/overview", BOB).await;
    assert_eq!(r.status, 403, "{}", r.body);
    let r = send(
        app.addr,
        "GET",
        "/activity-log/api/overview?tenant=globex",
        ALICE,
    )
    .await;
    assert_eq!(r.status, 400);
    app.recorder.flush().await.unwrap();
    let viewed = app
        .store
        .query(&ActivityQuery::new().action(Action::AUDIT_VIEWED.as_str()))
        .await
        .unwrap()
        .events;
    assert_eq!(
        viewed
            .iter()
            .filter(|e| e.details.as_ref().unwrap()["scope"] == "overview")
            .count(),
        2
    );
    app.guard.shutdown().await;
}

#[tokio::test]
async fn a_listing_reads_as_sentences_beside_the_raw_events() {
    let app = start(ManualClock::new(t0())).await;
    let r = send(app.addr, "GET", "/activity-log/api/events?limit=5", BOB).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let j = r.json();
    let events = j["events"].as_array().unwrap();
    let display = j["display"].as_array().unwrap();
    assert_eq!(events.len(), display.len());
    assert_eq!(events[0]["action"], "auth.login.failed");
    assert_eq!(display[0]["sentence"], "Wrong password entered");
    assert_eq!(display[0]["this_session"], false);
    let admin = send(
        app.addr,
        "GET",
        "/activity-log/api/events?scope=tenant&action=auth.login.failed&limit=1",
        ALICE,
    )
    .await
    .json();
    assert_eq!(admin["display"][0]["sentence"], "Wrong password entered");
    // The page names the app's "Not you?" page.
    let page = send(app.addr, "GET", "/activity-log/", BOB).await;
    assert!(page.body.contains("data-not-you=\"/account/security\""));
    app.guard.shutdown().await;
}

#[tokio::test]
async fn unlock_needs_an_administrator_the_pages_token_and_a_lock() {
    let clock = ManualClock::new(t0());
    let app = start(clock.clone()).await;
    // Ten failures in a minute lock dave (through the recorder: the policy is a stage).
    for i in 0..10 {
        app.recorder
            .record(
                ActivityEvent::login_failed(Actor::user("dave"))
                    .with_tenant("acme")
                    .with_time(t0() - Duration::seconds(60 - i)),
            )
            .unwrap();
    }
    app.recorder.flush().await.unwrap();
    app.recorder.flush().await.unwrap();
    let o = send(app.addr, "GET", "/activity-log/api/overview", ALICE)
        .await
        .json();
    assert_eq!(o["locked"][0]["account"], "dave", "{o}");
    let path = "/activity-log/api/unlock?account=dave";
    let alice_token = token(app.addr, ALICE).await;
    let bob_token = token(app.addr, BOB).await;
    fn with(t: &str) -> Vec<(&str, &str)> {
        [ALICE, &[("x-csrf-token", t)]].concat()
    }

    // Refused: no token; a made-up one; bob's token for alice; a cross-site origin or
    // fetch with alice's own token; a user with his own token; GET; a token past its time.
    for (who, why) in [
        (ALICE.to_vec(), "no token"),
        (with("v1.99999999999.00"), "made-up token"),
        (with(&bob_token), "another viewer's token"),
        (
            [with(&alice_token), vec![("origin", "http://evil.test")]].concat(),
            "cross-site origin",
        ),
        (
            [with(&alice_token), vec![("sec-fetch-site", "cross-site")]].concat(),
            "cross-site fetch",
        ),
        (
            [BOB, &[("x-csrf-token", bob_token.as_str())]].concat(),
            "not an administrator",
        ),
    ] {
        let r = send(app.addr, "POST", path, &who).await;
        assert_eq!(r.status, 403, "{why}: {}", r.body);
    }
    let r = send(app.addr, "GET", path, &with(&alice_token)).await;
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow").as_deref(), Some("POST"));
    let later = {
        clock.advance(Duration::hours(13));
        let r = send(app.addr, "POST", path, &with(&alice_token)).await;
        clock.set(t0());
        r
    };
    assert_eq!(later.status, 403, "an expired token: {}", later.body);
    app.recorder.flush().await.unwrap();
    let released = |store: Arc<SqliteStore>| async move {
        store
            .query(&ActivityQuery::new().action(Action::LOCKOUT_RELEASED.as_str()))
            .await
            .unwrap()
            .events
    };
    assert!(released(app.store.clone()).await.is_empty());

    // With the token: released, by alice. An account not locked is a 400.
    let r = send(app.addr, "POST", path, &with(&alice_token)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    app.recorder.flush().await.unwrap();
    let rel = released(app.store.clone()).await;
    assert_eq!(rel.len(), 1);
    assert_eq!(rel[0].actor_id(), Some("dave"));
    assert_eq!(rel[0].tenant.as_deref(), Some("acme"));
    assert_eq!(rel[0].reason.as_deref(), Some("admin_unlock"));
    assert_eq!(
        LockoutReleased::read(&rel[0]).unwrap().by.as_deref(),
        Some("alice")
    );
    let again = send(app.addr, "POST", path, &with(&alice_token)).await;
    assert_eq!(again.status, 400, "{}", again.body);
    let carol = send(
        app.addr,
        "POST",
        "/activity-log/api/unlock?account=carol",
        &with(&alice_token),
    )
    .await;
    assert_eq!(carol.status, 400);
    app.guard.shutdown().await;
}

#[tokio::test]
async fn without_a_policy_there_is_no_unlock() {
    let store = Arc::new(SqliteStore::connect("sqlite::memory:").await.unwrap());
    store.migrate().await.unwrap();
    let (recorder, guard) = Recorder::builder(store.clone()).start();
    let views = ActivityViews::new(store, recorder.clone());
    let app = Router::new()
        .merge(views.router())
        .layer(middleware::from_fn(common::auth));
    let addr = common::serve(app).await;
    let r = send(addr, "POST", "/activity-log/api/unlock?account=dave", ALICE).await;
    assert_eq!(r.status, 404, "{}", r.body);
    guard.shutdown().await;
}
