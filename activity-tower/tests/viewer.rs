//! The activity-log endpoints through a real axum server on a loopback socket, backed by
//! SQLite: every role against every endpoint, forged cursors and parameters, export,
//! tier gating and the audit trail of the reads themselves.

mod common;
use common::Reply;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;

use activity_core::{
    retention::Tier, Action, ActivityEvent, ActivityQuery, ActivityStore, Actor, Cursor, Recorder,
    RecorderGuard, Source,
};
use activity_sqlx::SqliteStore;
use activity_tower::{ActivityLayer, ActivityViews};
use axum::middleware::{self};
use axum::Router;
use chrono::{Duration as TimeDelta, Utc};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct App {
    addr: SocketAddr,
    store: Arc<SqliteStore>,
    recorder: Recorder,
    guard: Option<RecorderGuard>,
    /// Every seeded event.
    seeded: Vec<ActivityEvent>,
}

fn ev(action: ActivityEvent, tenant: Option<&str>, minutes_ago: i64, ip: &str) -> ActivityEvent {
    let mut e = action.with_ip(ip.parse().unwrap());
    if let Some(t) = tenant {
        e = e.with_tenant(t);
    }
    e.time = Utc::now() - TimeDelta::minutes(minutes_ago);
    e
}

fn seed() -> Vec<ActivityEvent> {
    let mut out = Vec::new();
    let mut m = 1000;
    for i in 0..12 {
        m -= 3;
        let mut login = ev(
            ActivityEvent::login_succeeded(Actor::user("bob")),
            Some("acme"),
            m,
            "81.2.69.142",
        );
        let src = login.source.get_or_insert_with(Source::default);
        src.device_id = Some(if i % 2 == 0 { "d_laptop" } else { "d_phone" }.into());
        src.user_agent = Some("Firefox/130".into());
        out.push(login);
        out.push(ev(
            ActivityEvent::login_failed(Actor::user("carol")).with_reason("bad_password"),
            Some("acme"),
            m - 1,
            "175.16.199.1",
        ));
        out.push(ev(
            ActivityEvent::login_failed(Actor::user("dave")),
            Some("globex"),
            m - 2,
            "89.160.20.112",
        ));
    }
    // Hostile values that must come out as data.
    out.push(ev(
        ActivityEvent::login_failed(Actor::user("bob").with_name("=HYPERLINK(\"http://evil\")")),
        Some("acme"),
        5,
        "81.2.69.142",
    ));
    out.push(ev(
        ActivityEvent::login_succeeded(Actor::user("solo")),
        None,
        4,
        "2.125.160.216",
    ));
    out
}

async fn start(views: impl FnOnce(ActivityViews) -> ActivityViews) -> App {
    let store = Arc::new(SqliteStore::connect("sqlite::memory:").await.unwrap());
    store.migrate().await.unwrap();
    let seeded = seed();
    store.append(&seeded).await.unwrap();
    let (recorder, guard) = Recorder::builder(store.clone()).start();
    let views = views(ActivityViews::new(store.clone(), recorder.clone()));
    let app = Router::new()
        .merge(views.router())
        .layer(ActivityLayer::new(recorder.clone()))
        .layer(middleware::from_fn(common::auth));
    let addr = common::serve(app).await;
    App {
        addr,
        store,
        recorder,
        guard: Some(guard),
        seeded,
    }
}

/// A GET over HTTP/1.0, so the body comes back whole (close-delimited, not chunked).
async fn get(addr: SocketAddr, path: &str, who: &[(&str, &str)]) -> Reply {
    let mut req = format!("GET {path} HTTP/1.0\r\nHost: x\r\nUser-Agent: viewer-test\r\n");
    for (k, v) in who {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    common::raw(addr, req.as_bytes()).await
}

const BOB: &[(&str, &str)] = &[("x-user", "bob"), ("x-tenant", "acme")];
const ALICE: &[(&str, &str)] = &[
    ("x-user", "alice"),
    ("x-role", "admin"),
    ("x-tenant", "acme"),
];
const ERIN: &[(&str, &str)] = &[
    ("x-user", "erin"),
    ("x-role", "admin"),
    ("x-tenant", "globex"),
];

fn field<'v>(e: &'v Value, path: &[&str]) -> Option<&'v str> {
    let mut v = e;
    for p in path {
        v = v.get(p)?;
    }
    v.as_str()
}

impl App {
    async fn audit_events(&self, action: Action) -> Vec<ActivityEvent> {
        self.recorder.flush().await.unwrap();
        self.store
            .query(&ActivityQuery::new().action(action.as_str()).limit(1000))
            .await
            .unwrap()
            .events
    }

    fn count(&self, f: impl Fn(&ActivityEvent) -> bool) -> usize {
        self.seeded.iter().filter(|e| f(e)).count()
    }

    async fn stop(mut self) {
        self.guard.take().unwrap().shutdown().await;
    }
}

#[tokio::test]
async fn a_user_sees_only_their_own_events_on_every_endpoint() {
    let app = start(|v| v).await;
    let a = app.addr;
    let events = get(a, "/activity-log/api/events?limit=1000", BOB)
        .await
        .events();
    let bobs = app.count(|e| e.actor_id() == Some("bob") && e.tenant.as_deref() == Some("acme"));
    assert_eq!(events.len(), bobs);
    assert!(events.iter().all(
        |e| field(e, &["actor", "id"]) == Some("bob") && field(e, &["tenant"]) == Some("acme")
    ));
    // Another user, the tenant log, a timeline: refused, not silently narrowed.
    for path in [
        "/activity-log/api/events?user=carol",
        "/activity-log/api/events?scope=tenant",
        "/activity-log/api/events.csv?user=carol",
        "/activity-log/api/events.csv?scope=tenant",
        "/activity-log/api/devices?user=carol",
    ] {
        let r = get(a, path, BOB).await;
        assert_eq!(r.status, 403, "{path}: {}", r.body);
        assert_eq!(r.json()["error"], "forbidden");
    }
    let carol_event = app
        .seeded
        .iter()
        .find(|e| e.actor_id() == Some("carol"))
        .unwrap();
    let r = get(
        a,
        &format!("/activity-log/api/timeline?event={}", carol_event.id),
        BOB,
    )
    .await;
    assert_eq!(r.status, 403);
    // A time range: the last ten minutes hold one of bob's events.
    let since =
        (Utc::now() - TimeDelta::minutes(10)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let until =
        (Utc::now() + TimeDelta::minutes(1)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let recent = get(
        a,
        &format!("/activity-log/api/events?action=auth&since={since}&until={until}"),
        BOB,
    )
    .await
    .events();
    assert_eq!(recent.len(), 1, "{recent:?}");
    // Their own filter narrows: failures only.
    let failed = get(a, "/activity-log/api/events?outcome=failure", BOB)
        .await
        .events();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["action"], "auth.login.failed");
    app.stop().await;
}

#[tokio::test]
async fn an_admin_sees_their_tenant_and_nothing_of_another() {
    let app = start(|v| v).await;
    let a = app.addr;
    let events = get(a, "/activity-log/api/events?scope=tenant&limit=1000", ALICE)
        .await
        .events();
    let acme = app.count(|e| e.tenant.as_deref() == Some("acme"));
    assert_eq!(events.len(), acme);
    assert!(events.iter().all(|e| field(e, &["tenant"]) == Some("acme")));
    // A user filter on another tenant's user finds nothing.
    let dave = get(a, "/activity-log/api/events?scope=tenant&user=dave", ALICE)
        .await
        .events();
    assert!(dave.is_empty());
    // An IP only globex used: nothing.
    let ip = get(
        a,
        "/activity-log/api/events?scope=tenant&ip=89.160.20.112",
        ALICE,
    )
    .await
    .events();
    assert!(ip.is_empty());
    // Nor through the export or the devices view.
    let r = get(
        a,
        "/activity-log/api/events.csv?scope=tenant&user=dave",
        ALICE,
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        csv::Reader::from_reader(r.body.as_bytes())
            .records()
            .count(),
        0
    );
    let r = get(a, "/activity-log/api/devices?user=dave", ALICE).await;
    assert_eq!(r.json()["sign_ins_examined"], 0);
    // Naming the tenant is refused outright.
    let r = get(
        a,
        "/activity-log/api/events?scope=tenant&tenant=globex",
        ALICE,
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"], "bad_param");
    // The other tenant's admin sees only theirs.
    let erin = get(a, "/activity-log/api/events?scope=tenant&limit=1000", ERIN)
        .await
        .events();
    assert_eq!(
        erin.len(),
        app.count(|e| e.tenant.as_deref() == Some("globex"))
    );
    // A viewer without a tenant sees only events without one.
    let solo = get(
        a,
        "/activity-log/api/events?scope=tenant",
        &[("x-user", "root"), ("x-role", "admin")],
    )
    .await
    .events();
    assert!(solo.iter().all(|e| e.get("tenant").is_none()));
    let logins: Vec<_> = solo
        .iter()
        .filter(|e| e["action"] == "auth.login.succeeded")
        .collect();
    assert_eq!(logins.len(), 1);
    assert_eq!(field(logins[0], &["actor", "id"]), Some("solo"));
    // Timelines: their tenant's event opens, another tenant's is not found.
    let carol = app
        .seeded
        .iter()
        .find(|e| e.actor_id() == Some("carol"))
        .unwrap();
    let t = get(
        a,
        &format!("/activity-log/api/timeline?event={}", carol.id),
        ALICE,
    )
    .await;
    assert_eq!(t.status, 200, "{}", t.body);
    let entries = t.json()["entries"].as_array().unwrap().clone();
    assert!(!entries.is_empty());
    assert!(entries
        .iter()
        .all(|r| field(&r["event"], &["tenant"]) == Some("acme")));
    let dave = app
        .seeded
        .iter()
        .find(|e| e.actor_id() == Some("dave"))
        .unwrap();
    let t = get(
        a,
        &format!("/activity-log/api/timeline?event={}", dave.id),
        ALICE,
    )
    .await;
    assert_eq!(t.status, 404);
    app.stop().await;
}

#[tokio::test]
async fn a_forged_cursor_never_reaches_another_tenant() {
    let app = start(|v| v).await;
    // Cursors pointing just above another tenant's events, and at the far future.
    let mut cursors: Vec<Cursor> = app
        .seeded
        .iter()
        .filter(|e| e.tenant.as_deref() == Some("globex"))
        .map(|e| Cursor::new(e.time + TimeDelta::milliseconds(1), e.id))
        .collect();
    cursors.push(Cursor::new(
        Utc::now() + TimeDelta::days(3650),
        uuid::Uuid::max(),
    ));
    for c in cursors {
        for (who, scope) in [(BOB, "own"), (ALICE, "tenant")] {
            let path = format!(
                "/activity-log/api/events?scope={scope}&cursor={}",
                c.encode()
            );
            for e in get(app.addr, &path, who).await.events() {
                assert_eq!(field(&e, &["tenant"]), Some("acme"));
                if scope == "own" {
                    assert_eq!(field(&e, &["actor", "id"]), Some("bob"));
                }
            }
        }
    }
    let r = get(
        app.addr,
        "/activity-log/api/events?cursor=not-a-cursor",
        BOB,
    )
    .await;
    assert_eq!(r.status, 400);
    app.stop().await;
}

#[tokio::test]
async fn paging_walks_every_event_once() {
    let app = start(|v| v).await;
    let mut seen = Vec::new();
    let mut path = "/activity-log/api/events?scope=tenant&limit=7".to_string();
    loop {
        let r = get(app.addr, &path, ALICE).await;
        let body = r.json();
        seen.extend(
            r.events()
                .iter()
                .map(|e| e["id"].as_str().unwrap().to_owned()),
        );
        match body["next"].as_str() {
            Some(c) => path = format!("/activity-log/api/events?scope=tenant&limit=7&cursor={c}"),
            None => break,
        }
    }
    let unique: HashSet<_> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no event twice");
    // Every seeded acme event (the audit.viewed events of earlier pages may join them),
    // and nothing of another tenant.
    for e in &app.seeded {
        let here = unique.contains(&e.id.to_string());
        assert_eq!(here, e.tenant.as_deref() == Some("acme"), "{e:?}");
    }
    app.stop().await;
}

#[tokio::test]
async fn export_streams_the_scoped_filter_as_safe_csv_and_is_audited() {
    let app = start(|v| v).await;
    let r = get(app.addr, "/activity-log/api/events.csv", BOB).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.header("content-type").unwrap().starts_with("text/csv"));
    assert!(r
        .header("content-disposition")
        .unwrap()
        .starts_with("attachment;"));
    let mut rd = csv::Reader::from_reader(r.body.as_bytes());
    let headers = rd.headers().unwrap().clone();
    let actor = headers.iter().position(|h| h == "actor_id").unwrap();
    let name = headers.iter().position(|h| h == "actor_name").unwrap();
    let rows: Vec<csv::StringRecord> = rd.records().map(Result::unwrap).collect();
    let bobs = app.count(|e| e.actor_id() == Some("bob"));
    // Bob's events, and the record of this export's start, stored before its first row.
    assert_eq!(rows.len(), bobs + 1);
    assert!(rows.iter().all(|r| &r[actor] == "bob"));
    assert!(rows
        .iter()
        .any(|r| &r[name] == "'=HYPERLINK(\"http://evil\")"));
    // The admin's export of another filter: failures in the tenant.
    let r = get(
        app.addr,
        "/activity-log/api/events.csv?scope=tenant&outcome=failure",
        ALICE,
    )
    .await;
    let n = csv::Reader::from_reader(r.body.as_bytes())
        .records()
        .count();
    assert_eq!(
        n,
        app.count(
            |e| e.tenant.as_deref() == Some("acme") && e.outcome == activity_core::Outcome::Failure
        )
    );
    let (started, exported): (Vec<_>, Vec<_>) = app
        .audit_events(Action::AUDIT_EXPORTED)
        .await
        .into_iter()
        .partition(|e| e.reason.as_deref() == Some("export_started"));
    assert_eq!(
        started.len(),
        2,
        "each export recorded before its first row"
    );
    assert_eq!(exported.len(), 2);
    let bob_export = exported
        .iter()
        .find(|e| e.actor_id() == Some("bob"))
        .unwrap();
    let d = bob_export.details.as_ref().unwrap();
    assert_eq!(d["rows"], bobs as u64 + 1);
    assert_eq!(d["complete"], true);
    assert_eq!(d["scope"], "own");
    assert_eq!(bob_export.tenant.as_deref(), Some("acme"));
    assert_eq!(
        bob_export
            .source
            .as_ref()
            .and_then(|s| s.user_agent.as_deref()),
        Some("viewer-test")
    );
    app.stop().await;
}

#[tokio::test]
async fn every_read_is_audited_with_who_and_which_filter() {
    let app = start(|v| v).await;
    get(
        app.addr,
        "/activity-log/api/events?action=auth&outcome=failure",
        BOB,
    )
    .await
    .events();
    get(app.addr, "/activity-log/api/devices", BOB).await;
    let carol = app
        .seeded
        .iter()
        .find(|e| e.actor_id() == Some("carol"))
        .unwrap();
    get(
        app.addr,
        &format!("/activity-log/api/timeline?event={}", carol.id),
        ALICE,
    )
    .await;
    let viewed = app.audit_events(Action::AUDIT_VIEWED).await;
    assert_eq!(viewed.len(), 3, "{viewed:?}");
    let scopes: HashSet<_> = viewed
        .iter()
        .map(|e| {
            e.details.as_ref().unwrap()["scope"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        scopes,
        HashSet::from(["own".into(), "devices".into(), "timeline".into()])
    );
    let listing = viewed
        .iter()
        .find(|e| e.details.as_ref().unwrap()["scope"] == "own")
        .unwrap();
    assert_eq!(listing.actor_id(), Some("bob"));
    assert_eq!(listing.tenant.as_deref(), Some("acme"));
    let filter = &listing.details.as_ref().unwrap()["filter"];
    assert_eq!(filter["actions"][0], "auth");
    assert_eq!(filter["outcome"], "failure");
    assert!(
        listing.request_id.is_some(),
        "context from the activity layer"
    );
    app.stop().await;
}

#[tokio::test]
async fn devices_list_where_the_user_signed_in() {
    let app = start(|v| v).await;
    let r = get(app.addr, "/activity-log/api/devices", BOB).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let k = r.json();
    let devices: HashSet<_> = k["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["device_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        devices,
        HashSet::from(["d_laptop".into(), "d_phone".into()])
    );
    assert_eq!(k["sign_ins_examined"], 12);
    // An admin may look at a user of their tenant; carol never signed in.
    let r = get(app.addr, "/activity-log/api/devices?user=carol", ALICE).await;
    assert_eq!(r.json()["devices"].as_array().unwrap().len(), 0);
    app.stop().await;
}

#[tokio::test]
async fn api_access_follows_the_tier_and_export_is_on_every_tier() {
    let app = start(|v| {
        v.tier_fn(|t| match t {
            Some("acme") => Tier::Enterprise,
            _ => Tier::SmallBusiness,
        })
    })
    .await;
    let erin_api = &[
        ("x-user", "erin"),
        ("x-role", "admin"),
        ("x-tenant", "globex"),
        ("x-api", "1"),
    ];
    let alice_api = &[
        ("x-user", "alice"),
        ("x-role", "admin"),
        ("x-tenant", "acme"),
        ("x-api", "1"),
    ];
    let r = get(app.addr, "/activity-log/api/events?scope=tenant", erin_api).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["error"], "tier");
    assert_eq!(
        get(app.addr, "/activity-log/api/devices", erin_api)
            .await
            .status,
        403
    );
    assert_eq!(
        get(
            app.addr,
            "/activity-log/api/events.csv?scope=tenant",
            erin_api
        )
        .await
        .status,
        200
    );
    // The same admin in the browser, and an Enterprise tenant's API client: allowed.
    assert_eq!(
        get(app.addr, "/activity-log/api/events?scope=tenant", ERIN)
            .await
            .status,
        200
    );
    assert_eq!(
        get(app.addr, "/activity-log/api/events?scope=tenant", alice_api)
            .await
            .status,
        200
    );
    app.stop().await;
}

#[tokio::test]
async fn the_page_and_its_refusals() {
    let app = start(|v| v).await;
    let a = app.addr;
    let r = get(a, "/activity-log/api/events", &[]).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"], "unauthenticated");
    assert_eq!(get(a, "/activity-log/", &[]).await.status, 401);
    let r = get(a, "/activity-log", BOB).await;
    assert_eq!(r.status, 308);
    assert_eq!(r.header("location").as_deref(), Some("/activity-log/"));
    let page = get(a, "/activity-log/", BOB).await;
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-security-policy").unwrap(),
        "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    );
    assert_eq!(
        page.header("x-content-type-options").as_deref(),
        Some("nosniff")
    );
    assert!(page.body.contains("Activity Log") && page.body.contains("data-role=\"user\""));
    let admin_page = get(a, "/activity-log/", ALICE).await;
    assert!(
        admin_page.body.contains("Audit Log") && admin_page.body.contains("data-role=\"admin\"")
    );
    let hostile = &[
        ("x-user", "\"><img src=x onerror=alert(1)>"),
        ("x-tenant", "acme"),
    ];
    let r = get(a, "/activity-log/", hostile).await;
    assert!(!r.body.contains("<img src=x"), "{}", r.body);
    let js = get(a, "/activity-log/viewer.js", &[]).await;
    assert_eq!(js.status, 200);
    assert!(js
        .header("content-type")
        .unwrap()
        .starts_with("text/javascript"));
    assert_eq!(get(a, "/activity-log/viewer.css", &[]).await.status, 200);
    assert_eq!(get(a, "/activity-log/nope", BOB).await.status, 404);
    let r = get(a, "/activity-log/api/events?bogus=1", BOB).await;
    assert_eq!(r.status, 400);
    assert!(r.json()["message"].as_str().unwrap().contains("bogus"));
    // Not GET: refused with Allow.
    let mut s = TcpStream::connect(a).await.unwrap();
    s.write_all(b"DELETE /activity-log/api/events HTTP/1.0\r\nx-user: bob\r\n\r\n")
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    assert!(
        out.starts_with("HTTP/1.0 405") || out.starts_with("HTTP/1.1 405"),
        "{out}"
    );
    assert!(out.to_ascii_lowercase().contains("allow: get\r\n"), "{out}");
    app.stop().await;
}

#[tokio::test]
async fn an_admins_only_mount_refuses_users_with_403() {
    let app = start(|v| v.admins_only()).await;
    let r = get(app.addr, "/activity-log/api/events", BOB).await;
    assert_eq!(r.status, 403);
    assert!(r.json()["message"]
        .as_str()
        .unwrap()
        .contains("only administrators"));
    assert_eq!(get(app.addr, "/activity-log/", BOB).await.status, 403);
    assert_eq!(
        get(app.addr, "/activity-log/api/events", &[]).await.status,
        401
    );
    let r = get(app.addr, "/activity-log/api/events?scope=tenant", ALICE).await;
    assert_eq!(r.status, 200);
    app.stop().await;
}

#[test]
fn base_paths_are_validated() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = Arc::new(activity_core::MemoryStore::new());
        let (recorder, guard) = Recorder::builder(store.clone()).start();
        let v = || ActivityViews::new(store.clone(), recorder.clone());
        for bad in [
            "",
            "/",
            "x",
            "/a/",
            "/a//b",
            "/a/../b",
            "/a b",
            "/a?b",
            "/<script>",
        ] {
            let e = v().base_path(bad).unwrap_err();
            assert!(
                matches!(
                    e,
                    activity_tower::Error::Config {
                        setting: "base_path",
                        ..
                    }
                ),
                "{bad:?}: {e:?}"
            );
        }
        assert_eq!(
            v().base_path("/settings/security/audit-log")
                .unwrap()
                .path(),
            "/settings/security/audit-log"
        );
        guard.shutdown().await;
    });
}
