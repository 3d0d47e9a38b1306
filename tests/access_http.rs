//! Access policies enforced by the layer over a real socket: each rule allowing and
//! denying, IPv6, a deny winning over an allow, report-only, break-glass, roles, sign-in
//! hours across midnight and daylight-saving time (injected clock), countries from a real
//! GeoIP database, a network restriction on an admin area, and two instances where a
//! change made through one is enforced by the other at its next refresh.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use activity_core::access::{
    AccessControl, AccessPolicy, AccessRule, CountryRule, Day, HoursRule, NetworkRule, Window,
};
use activity_core::enrich::MaxMindResolver;
use activity_core::{
    jobs, ActivityEvent, ActivityQuery, ActivityStore, Actor, ManualClock, Recorder, RecorderGuard,
};
use activity_sqlx::SqliteStore;
use activity_tests::raw::{send, Answer};
use activity_tower::{ActivityLayer, RouteKind, RouteRule, TrustedProxies};
use axum::http::{HeaderName, StatusCode};
use axum::routing::{get, post};
use axum::Router;
use chrono::{TimeZone, Utc};

struct App {
    addr: std::net::SocketAddr,
    store: Arc<dyn ActivityStore>,
    recorder: Recorder,
    guard: RecorderGuard,
    control: Arc<AccessControl>,
    clock: ManualClock,
    reached: Arc<AtomicUsize>,
}

/// A GeoIP2 City database file: 81.2.69.0/24 is GB, 175.16.199.0/24 is CN.
fn geo_db(dir: &std::path::Path) -> MaxMindResolver {
    let mut w = mmdb_writer::Writer::builder("GeoIP2-City")
        .description(&[("en", "access test")])
        .build();
    for (net, cc) in [("81.2.69.0/24", "GB"), ("175.16.199.0/24", "CN")] {
        w.insert(
            net.parse::<ipnet::IpNet>().unwrap(),
            &serde_json::json!({"country": {"iso_code": cc}}),
        )
        .unwrap();
    }
    let path = dir.join("GeoLite2-City.mmdb");
    std::fs::write(&path, w.to_bytes().unwrap()).unwrap();
    MaxMindResolver::open(&path).unwrap()
}

impl App {
    /// The app on the SQLite file `db` (a second instance opens the same file).
    async fn start(db: &std::path::Path) -> App {
        let url = format!("sqlite://{}", db.display());
        let store = SqliteStore::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        let policies = store.access_policies().await.unwrap();
        let store: Arc<dyn ActivityStore> = Arc::new(store);
        let (recorder, guard) = Recorder::builder(store.clone()).start();
        // Thursday 3 December 2026, 12:00 UTC.
        let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 12, 3, 12, 0, 0).unwrap());
        let control = Arc::new(
            AccessControl::load(policies)
                .await
                .unwrap()
                .recorder(recorder.clone())
                .clock(clock.clone()),
        );
        let geo = Arc::new(geo_db(db.parent().unwrap()));
        let layer = |l: ActivityLayer| {
            l.trusted_proxies(TrustedProxies::cidrs(["127.0.0.0/8"]).unwrap())
                .tenant_header(HeaderName::from_static("x-tenant"))
                .identifier_field("email")
                .access(control.clone())
                .access_geo(geo.clone())
                .unwrap()
                .access_roles(|_, account| {
                    if account.starts_with("contractor") {
                        vec!["contractor".to_owned()]
                    } else {
                        Vec::new()
                    }
                })
                .unwrap()
        };
        let reached = Arc::new(AtomicUsize::new(0));
        let (r1, r2) = (reached.clone(), reached.clone());
        let admin = Router::new()
            .route(
                "/admin/panel",
                get(move || {
                    r2.fetch_add(1, Ordering::SeqCst);
                    async { "panel" }
                }),
            )
            .layer(
                layer(ActivityLayer::new(recorder.clone()))
                    .access_everywhere()
                    .unwrap(),
            );
        let app = Router::new()
            .route(
                "/login",
                post(move || {
                    r1.fetch_add(1, Ordering::SeqCst);
                    async { StatusCode::OK }
                }),
            )
            .route("/public", get(|| async { "public" }))
            .layer(layer(
                ActivityLayer::new(recorder.clone())
                    .rule(RouteRule::post("/login", RouteKind::Login)),
            ))
            .merge(admin);
        let addr = activity_tests::serve(app).await;
        App {
            addr,
            store,
            recorder,
            guard,
            control,
            clock,
            reached,
        }
    }

    async fn login(&self, from: &str, email: &str) -> Answer {
        let body = format!("email={email}&password=x");
        let a = send(
            self.addr,
            "POST",
            "/login",
            &[
                ("content-type", "application/x-www-form-urlencoded"),
                ("x-forwarded-for", from),
                ("x-tenant", "acme"),
            ],
            &body,
        )
        .await;
        self.recorder.flush().await.unwrap();
        a
    }

    async fn set(&self, rules: Vec<AccessRule>) {
        self.control
            .set(
                Some("acme"),
                Some(AccessPolicy::new(rules).unwrap()),
                Actor::user("admin_1"),
            )
            .await
            .unwrap();
    }

    async fn events(&self, action: &str) -> Vec<ActivityEvent> {
        self.recorder.flush().await.unwrap();
        self.store
            .query(&ActivityQuery::new().action(action).limit(100))
            .await
            .unwrap()
            .events
    }

    fn reached(&self) -> usize {
        self.reached.load(Ordering::SeqCst)
    }
}

fn temp_db() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(activity_tests::unique("access-http-"));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("log.db")
}

fn nets(list: &[&str]) -> Vec<ipnet::IpNet> {
    list.iter().map(|n| n.parse().unwrap()).collect()
}

#[tokio::test]
async fn networks_deny_with_a_reason_and_the_handler_is_not_called() {
    let app = App::start(&temp_db()).await;
    // No policy: everything through.
    assert_eq!(app.login("192.0.2.1", "alice").await.status, 200);
    app.set(vec![AccessRule::network(
        "office",
        NetworkRule {
            allow: nets(&["10.0.0.0/8", "2001:db8:1::/48"]),
            deny: nets(&["10.6.6.0/24", "2001:db8:1:6::/64"]),
        },
    )])
    .await;
    let before = app.reached();
    for (ip, ok) in [
        ("10.1.2.3", true),
        ("2001:db8:1:2::9", true),
        ("10.6.6.6", false),        // deny wins over the allow
        ("2001:db8:1:6::1", false), // in IPv6 too
        ("192.0.2.1", false),
        ("2001:db8:2::1", false),
    ] {
        let a = app.login(ip, "alice").await;
        if ok {
            assert_eq!(a.status, 200, "{ip}");
        } else {
            assert_eq!(a.status, 403, "{ip}");
            assert_eq!(a.header("x-activity-reason"), Some("ip_denied"), "{ip}");
            assert!(a.header("x-request-id").is_some());
        }
    }
    assert_eq!(
        app.reached() - before,
        2,
        "denied requests never reach the handler"
    );
    let denied = app.events("access.denied").await;
    assert_eq!(denied.len(), 4);
    let e = denied
        .iter()
        .find(|e| e.ip() == Some("10.6.6.6".parse().unwrap()))
        .unwrap();
    let d = e.details.as_ref().unwrap();
    assert_eq!(
        (d["policy"].as_str(), d["rule"].as_str()),
        (Some("tenant"), Some("office"))
    );
    assert_eq!(e.reason.as_deref(), Some("ip_denied"));
    assert_eq!(e.tenant.as_deref(), Some("acme"));
    assert_eq!(e.actor_id(), Some("alice"));
    // A denied request is not a password attempt: no login event for it.
    assert_eq!(app.events("auth.login.failed").await.len(), 0);
    app.guard.shutdown().await;
}

#[tokio::test]
async fn report_only_records_and_lets_through_and_break_glass_is_exempt() {
    let app = App::start(&temp_db()).await;
    let office = NetworkRule {
        allow: nets(&["10.0.0.0/8"]),
        deny: vec![],
    };
    app.set(vec![
        AccessRule::network("office", office.clone()).exempting(&["Root@Acme.example"]),
        AccessRule::network(
            "audit-net",
            NetworkRule {
                allow: nets(&["10.9.0.0/16"]),
                deny: vec![],
            },
        )
        .report_only(),
    ])
    .await;
    // From the office, outside audit-net: allowed, and the report-only rule reports.
    let a = app.login("10.1.1.1", "alice").await;
    assert_eq!(a.status, 200);
    let reported = app.events("access.reported").await;
    assert_eq!(reported.len(), 1);
    assert_eq!(reported[0].details.as_ref().unwrap()["rule"], "audit-net");
    assert_eq!(reported[0].reason.as_deref(), Some("ip_denied"));
    // Break-glass from anywhere, in any case.
    assert_eq!(
        app.login("192.0.2.1", "root%40acme.example").await.status,
        200
    );
    assert_eq!(
        app.login("192.0.2.1", "ROOT%40ACME.EXAMPLE").await.status,
        200
    );
    assert_eq!(app.login("192.0.2.1", "alice").await.status, 403);
    app.guard.shutdown().await;
}

#[tokio::test]
async fn sign_in_hours_across_midnight_and_both_daylight_saving_transitions() {
    let app = App::start(&temp_db()).await;
    let berlin = |windows| HoursRule {
        zone: "Europe/Berlin".parse().unwrap(),
        windows,
    };
    app.set(vec![
        AccessRule::hours(
            "office",
            berlin(vec![Window::new(&Day::WEEKDAYS, "08:00", "18:00").unwrap()]),
        ),
        AccessRule::hours(
            "night-shift",
            berlin(vec![Window::new(&[Day::Fri], "22:00", "06:00").unwrap()]),
        )
        .for_roles(&["contractor"]),
    ])
    .await;
    let at = |y, mo, d, h, mi| Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap();
    let cases = [
        // Winter time (UTC+1): 08:00 local is 07:00 UTC.
        (at(2026, 3, 27, 6, 59), "alice", 403),
        (at(2026, 3, 27, 7, 0), "alice", 200),
        // After the spring transition (29 March, UTC+2): 08:00 local is 06:00 UTC.
        (at(2026, 3, 30, 6, 0), "alice", 200),
        (at(2026, 3, 30, 16, 0), "alice", 403),
        // After the autumn transition (25 October, UTC+1 again).
        (at(2026, 10, 26, 6, 0), "alice", 403),
        (at(2026, 10, 26, 7, 0), "alice", 200),
        // Saturday.
        (at(2026, 12, 5, 10, 0), "alice", 403),
    ];
    for (t, who, status) in cases {
        app.clock.set(t);
        let a = app.login("10.0.0.1", who).await;
        assert_eq!(a.status, status, "{who} at {t}");
        if status == 403 {
            assert_eq!(a.header("x-activity-reason"), Some("outside_hours"));
        }
    }
    // A contractor: office hours and Friday's night shift, across midnight.
    app.clock.set(at(2026, 12, 4, 22, 30)); // Friday 23:30 in Berlin
    assert_eq!(
        app.login("10.0.0.1", "contractor-1").await.status,
        403,
        "outside office hours"
    );
    let denied = app.events("access.denied").await;
    let last = denied
        .iter()
        .find(|e| e.actor_id() == Some("contractor-1"))
        .unwrap();
    assert_eq!(last.details.as_ref().unwrap()["rule"], "office");
    assert_eq!(
        last.details.as_ref().unwrap()["local_time"],
        "2026-12-04T23:30:00+01:00"
    );
    app.guard.shutdown().await;
}

#[tokio::test]
async fn countries_from_a_real_geoip_database() {
    let app = App::start(&temp_db()).await;
    app.set(vec![AccessRule::country(
        "gb-only",
        CountryRule {
            allow: vec!["GB".into()],
            ..CountryRule::default()
        },
    )])
    .await;
    assert_eq!(app.login("81.2.69.142", "alice").await.status, 200);
    let cn = app.login("175.16.199.1", "alice").await;
    assert_eq!(
        (cn.status, cn.header("x-activity-reason")),
        (403, Some("country_denied"))
    );
    // Not in the database: unknown, denied under an allow list.
    let unknown = app.login("192.0.2.1", "alice").await;
    assert_eq!(unknown.header("x-activity-reason"), Some("country_denied"));
    let denied = app.events("access.denied").await;
    let e = denied
        .iter()
        .find(|e| e.ip() == Some("175.16.199.1".parse().unwrap()))
        .unwrap();
    assert_eq!(e.details.as_ref().unwrap()["country"], "CN");
    app.guard.shutdown().await;
}

#[tokio::test]
async fn an_admin_area_is_restricted_on_every_route() {
    let app = App::start(&temp_db()).await;
    app.set(vec![AccessRule::network(
        "admins",
        NetworkRule {
            allow: nets(&["10.0.0.0/8"]),
            deny: vec![],
        },
    )])
    .await;
    let addr = app.addr;
    let get = move |from: &'static str, path: &'static str| async move {
        send(
            addr,
            "GET",
            path,
            &[("x-forwarded-for", from), ("x-tenant", "acme")],
            "",
        )
        .await
    };
    assert_eq!(get("10.0.0.1", "/admin/panel").await.status, 200);
    let outside = get("192.0.2.1", "/admin/panel").await;
    assert_eq!(
        (outside.status, outside.header("x-activity-reason")),
        (403, Some("ip_denied"))
    );
    assert_eq!(app.reached(), 1);
    // The rest of the app is not restricted by the sign-in layer.
    assert_eq!(get("192.0.2.1", "/public").await.status, 200);
    let denied = app.events("access.denied").await;
    assert_eq!(denied.len(), 1);
    assert_eq!(denied[0].details.as_ref().unwrap()["route"], "request");
    app.guard.shutdown().await;
}

#[tokio::test]
async fn a_change_through_one_instance_is_enforced_by_the_other_at_its_refresh() {
    let db = temp_db();
    let a = App::start(&db).await;
    let b = App::start(&db).await;
    let refresher = jobs::every(std::time::Duration::from_secs(3600)).spawn(b.control.clone());
    assert_eq!(b.login("192.0.2.1", "alice").await.status, 200);
    a.set(vec![AccessRule::network(
        "office",
        NetworkRule {
            allow: nets(&["10.0.0.0/8"]),
            deny: vec![],
        },
    )])
    .await;
    assert_eq!(a.login("192.0.2.1", "alice").await.status, 403);
    // B's next refresh (the job's interval; run now instead of waiting for it).
    refresher.run_now().await;
    assert_eq!(b.login("192.0.2.1", "alice").await.status, 403);
    assert_eq!(b.login("10.0.0.1", "alice").await.status, 200);
    // The change is in the log once, with the old and the new policy.
    let changes = a.events("admin.config.changed").await;
    assert_eq!(changes.len(), 1);
    assert_eq!(
        changes[0].details.as_ref().unwrap()["new"]["rules"][0]["id"],
        "office"
    );
    refresher.stop().await;
    a.guard.shutdown().await;
    b.guard.shutdown().await;
}
