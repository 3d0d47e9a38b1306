//! The administrators' Policies section over a real socket, on SQLite: list, change and
//! test a tenant's access policy; every forged, cross-site, oversized, malformed or
//! unprivileged change refused with nothing changed; each change recorded as
//! `admin.config.changed` with the old and the new policy, and the next sign-in judged by
//! the new one.

use std::sync::Arc;

use activity_core::access::AccessControl;
use activity_core::{ActivityEvent, ActivityQuery, ActivityStore, ManualClock, Recorder};
use activity_sqlx::SqliteStore;
use activity_tests::raw::{send, Answer};
use activity_tower::{ActivityLayer, ActivityViews, RouteKind, RouteRule, TrustedProxies, Viewer};
use axum::extract::Request;
use axum::http::{HeaderName, StatusCode};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use chrono::{TimeZone, Utc};

struct App {
    addr: std::net::SocketAddr,
    store: Arc<dyn ActivityStore>,
    recorder: Recorder,
    control: Arc<AccessControl>,
}

/// The host app's authentication, reduced to headers: `x-user`, `x-role`, `x-tenant`.
async fn auth(mut req: Request, next: Next) -> Response {
    let h = req.headers();
    let get = |n: &str| h.get(n).and_then(|v| v.to_str().ok()).map(str::to_owned);
    if let Some(user) = get("x-user") {
        let mut v = if get("x-role").as_deref() == Some("admin") {
            Viewer::admin(user)
        } else {
            Viewer::user(user)
        };
        if let Some(t) = get("x-tenant") {
            v = v.tenant(t);
        }
        req.extensions_mut().insert(v);
    }
    next.run(req).await
}

impl App {
    async fn start() -> App {
        let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
        store.migrate().await.unwrap();
        let policies = store.access_policies().await.unwrap();
        let store: Arc<dyn ActivityStore> = Arc::new(store);
        let (recorder, guard) = Recorder::builder(store.clone()).start();
        std::mem::forget(guard); // the test process ends with the test
        let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 12, 3, 12, 0, 0).unwrap());
        let control = Arc::new(
            AccessControl::load(policies)
                .await
                .unwrap()
                .recorder(recorder.clone())
                .clock(clock.clone()),
        );
        let views = ActivityViews::new(store.clone(), recorder.clone())
            .clock(clock)
            .access(control.clone());
        let app = Router::new()
            .route("/login", post(|| async { StatusCode::OK }))
            .merge(views.router())
            .layer(
                ActivityLayer::new(recorder.clone())
                    .trusted_proxies(TrustedProxies::cidrs(["127.0.0.0/8"]).unwrap())
                    .tenant_header(HeaderName::from_static("x-tenant"))
                    .access(control.clone())
                    .rule(RouteRule::post("/login", RouteKind::Login)),
            )
            .layer(middleware::from_fn(auth));
        App {
            addr: activity_tests::serve(app).await,
            store,
            recorder,
            control,
        }
    }

    async fn get(&self, path: &str, who: &[(&str, &str)]) -> Answer {
        send(self.addr, "GET", path, who, "").await
    }

    /// A change of the policy with `extra` headers (the token, a forged origin…).
    async fn change(&self, who: &[(&str, &str)], extra: &[(&str, &str)], body: &str) -> Answer {
        let mut headers = who.to_vec();
        headers.push(("content-type", "application/json"));
        headers.extend_from_slice(extra);
        send(
            self.addr,
            "POST",
            "/activity-log/api/policies",
            &headers,
            body,
        )
        .await
    }

    async fn login(&self, from: &str, tenant: &str) -> Answer {
        send(
            self.addr,
            "POST",
            "/login",
            &[
                ("content-type", "application/x-www-form-urlencoded"),
                ("x-forwarded-for", from),
                ("x-tenant", tenant),
            ],
            "username=carol&password=x",
        )
        .await
    }

    async fn events(&self, action: &str) -> Vec<ActivityEvent> {
        self.recorder.flush().await.unwrap();
        self.store
            .query(&ActivityQuery::new().action(action).limit(100))
            .await
            .unwrap()
            .events
    }
}

const ALICE: &[(&str, &str)] = &[
    ("x-user", "alice"),
    ("x-role", "admin"),
    ("x-tenant", "acme"),
];
const BOB: &[(&str, &str)] = &[("x-user", "bob"), ("x-tenant", "acme")];
const GLOBEX: &[(&str, &str)] = &[
    ("x-user", "gina"),
    ("x-role", "admin"),
    ("x-tenant", "globex"),
];

const OFFICE: &str =
    r#"{"rules":[{"id":"office","network":{"allow":["10.0.0.0/8","2001:db8::/32"]}}]}"#;

/// The CSRF token of the page `who` is served.
async fn token(app: &App, who: &[(&str, &str)]) -> String {
    let page = app.get("/activity-log/", who).await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("data-policies=\"on\""),
        "the page has the Policies section"
    );
    let start = page.body.find("name=\"csrf-token\" content=\"").unwrap() + 27;
    let end = start + page.body[start..].find('"').unwrap();
    page.body[start..end].to_owned()
}

fn json(a: &Answer) -> serde_json::Value {
    serde_json::from_str(&a.body).unwrap_or_else(|e| panic!("{e}: {} {}", a.status, a.body))
}

#[tokio::test]
async fn an_administrator_changes_the_tenants_policy_and_the_next_sign_in_is_judged_by_it() {
    let app = App::start().await;
    let listed = app.get("/activity-log/api/policies", ALICE).await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    let l = json(&listed);
    assert_eq!(
        (l["tenant"].as_str(), l["version"].as_u64()),
        (Some("acme"), Some(0))
    );
    assert!(l["policy"].is_null());
    assert_eq!(app.login("192.0.2.7", "acme").await.status, 200);

    let t = token(&app, ALICE).await;
    let changed = app.change(ALICE, &[("x-csrf-token", &t)], OFFICE).await;
    assert_eq!(changed.status, 200, "{}", changed.body);
    let c = json(&changed);
    assert_eq!(c["version"], 1);
    assert_eq!(c["policy"]["rules"][0]["id"], "office");
    assert!(app.control.policies().policy(Some("acme")).is_some());

    // Recorded with the old and the new policy, by the administrator, in the tenant.
    let recorded = app.events("admin.config.changed").await;
    assert_eq!(recorded.len(), 1);
    let e = &recorded[0];
    assert_eq!(e.actor_id(), Some("alice"));
    assert_eq!(e.tenant.as_deref(), Some("acme"));
    let d = e.details.as_ref().unwrap();
    assert_eq!(d["setting"], "access_policy");
    assert!(d["old"].is_null());
    assert_eq!(d["new"]["rules"][0]["network"]["allow"][0], "10.0.0.0/8");

    // The next sign-in from outside is denied; from the office, through; another tenant
    // is not under acme's policy.
    let denied = app.login("192.0.2.7", "acme").await;
    assert_eq!(denied.status, 403);
    assert_eq!(denied.header("x-activity-reason"), Some("ip_denied"));
    assert_eq!(app.login("10.1.2.3", "acme").await.status, 200);
    assert_eq!(app.login("192.0.2.7", "globex").await.status, 200);

    // The test endpoint gives the same decision and names the rule.
    let tested = app
        .get(
            "/activity-log/api/policies/test?ip=192.0.2.7&account=carol",
            ALICE,
        )
        .await;
    assert_eq!(tested.status, 200, "{}", tested.body);
    let d = json(&tested);
    assert_eq!(d["allowed"], false);
    assert_eq!(d["denied"]["rule"], "office");
    assert_eq!(d["denied"]["reason"], "ip_denied");
    let ok = json(
        &app.get("/activity-log/api/policies/test?ip=2001:db8::5", ALICE)
            .await,
    );
    assert_eq!(ok["allowed"], true);

    // Another tenant's administrator sees and changes only their own.
    let g = json(&app.get("/activity-log/api/policies", GLOBEX).await);
    assert!(g["policy"].is_null(), "acme's policy is not globex's");

    // Removing it (an empty body) is a change like any other.
    let removed = app.change(ALICE, &[("x-csrf-token", &t)], "").await;
    assert_eq!(removed.status, 200, "{}", removed.body);
    assert_eq!(json(&removed)["version"], 2);
    assert_eq!(app.login("192.0.2.7", "acme").await.status, 200);
    let recorded = app.events("admin.config.changed").await;
    assert_eq!(recorded.len(), 2);
    assert!(recorded
        .iter()
        .any(|e| e.details.as_ref().unwrap()["new"].is_null()));

    // Reads of the section are audited.
    let viewed = app.events("audit.viewed").await;
    let scopes: Vec<_> = viewed
        .iter()
        .filter_map(|e| {
            e.details
                .as_ref()?
                .get("scope")?
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    assert!(scopes.iter().any(|s| s == "policies"), "{scopes:?}");
    assert!(scopes.iter().any(|s| s == "policy_test"), "{scopes:?}");
}

/// What a refused change is: its name, who sends it, the extra headers, the body, and
/// the status it gets.
type Case<'a> = (
    &'a str,
    &'a [(&'a str, &'a str)],
    Vec<(&'a str, &'a str)>,
    &'a str,
    u16,
);

#[tokio::test]
async fn forged_cross_site_oversized_malformed_and_unprivileged_changes_change_nothing() {
    let app = App::start().await;
    let t = token(&app, ALICE).await;
    let big = format!(
        r#"{{"rules":[{{"id":"{}","network":{{"allow":["10.0.0.0/8"]}}}}]}}"#,
        "x".repeat(activity_tower::viewer::MAX_POLICY_BODY)
    );
    let bob_token = {
        // A user's page has no Policies section, and a user's token is no administrator's.
        let page = app.get("/activity-log/", BOB).await;
        assert!(page.body.contains("data-policies=\"off\""));
        let start = page.body.find("name=\"csrf-token\" content=\"").unwrap() + 27;
        let end = start + page.body[start..].find('"').unwrap();
        page.body[start..end].to_owned()
    };
    let cases: Vec<Case> = vec![
        ("no token", ALICE, vec![], OFFICE, 403),
        (
            "made-up token",
            ALICE,
            vec![("x-csrf-token", "v1.9999999999.00")],
            OFFICE,
            403,
        ),
        (
            "another viewer's token",
            ALICE,
            vec![("x-csrf-token", &bob_token)],
            OFFICE,
            403,
        ),
        (
            "cross-site",
            ALICE,
            vec![("x-csrf-token", &t), ("sec-fetch-site", "cross-site")],
            OFFICE,
            403,
        ),
        (
            "foreign origin",
            ALICE,
            vec![("x-csrf-token", &t), ("origin", "https://evil.example")],
            OFFICE,
            403,
        ),
        (
            "a user",
            BOB,
            vec![("x-csrf-token", &bob_token)],
            OFFICE,
            403,
        ),
        (
            "nobody signed in",
            &[],
            vec![("x-csrf-token", &t)],
            OFFICE,
            401,
        ),
        (
            "not JSON",
            ALICE,
            vec![("x-csrf-token", &t)],
            "{rules:",
            400,
        ),
        (
            "a rule with two kinds",
            ALICE,
            vec![("x-csrf-token", &t)],
            r#"{"rules":[{"id":"x","network":{"allow":[]},"country":{"allow":["GB"]}}]}"#,
            400,
        ),
        (
            "an unknown zone",
            ALICE,
            vec![("x-csrf-token", &t)],
            r#"{"rules":[{"id":"h","hours":{"zone":"Mars/Olympus","windows":[]}}]}"#,
            400,
        ),
        (
            "over the limit",
            ALICE,
            vec![("x-csrf-token", &t)],
            &big,
            413,
        ),
    ];
    for (what, who, extra, body, status) in &cases {
        let a = app.change(who, extra, body).await;
        assert_eq!(a.status, *status, "{what}: {}", a.body);
        if a.status != 401 {
            assert!(json(&a)["error"].is_string(), "{what}: a JSON error");
        }
    }
    assert_eq!(app.control.policies().version, 0, "nothing changed");
    assert!(app.events("admin.config.changed").await.is_empty());
    // Other methods are refused with what is allowed.
    let put = send(app.addr, "PUT", "/activity-log/api/policies", ALICE, OFFICE).await;
    assert_eq!(put.status, 405);
    assert_eq!(put.header("allow"), Some("GET, POST"));
    // The test endpoint refuses bad input by name, and users.
    for q in [
        "ip=999.1.1.1",
        "at=yesterday",
        "country=GBR",
        "tenant=globex",
    ] {
        let a = app
            .get(&format!("/activity-log/api/policies/test?{q}"), ALICE)
            .await;
        assert_eq!(a.status, 400, "{q}: {}", a.body);
    }
    assert_eq!(
        app.get("/activity-log/api/policies/test?ip=10.0.0.1", BOB)
            .await
            .status,
        403
    );
    assert_eq!(app.get("/activity-log/api/policies", BOB).await.status, 403);
}

#[tokio::test]
async fn views_without_access_control_have_no_policies_section() {
    let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
    store.migrate().await.unwrap();
    let store: Arc<dyn ActivityStore> = Arc::new(store);
    let (recorder, guard) = Recorder::builder(store.clone()).start();
    let app = Router::new()
        .merge(ActivityViews::new(store, recorder).router())
        .layer(middleware::from_fn(auth));
    let addr = activity_tests::serve(app).await;
    let a = send(addr, "GET", "/activity-log/api/policies", ALICE, "").await;
    assert_eq!(a.status, 404);
    let page = send(addr, "GET", "/activity-log/", ALICE, "").await;
    assert!(page.body.contains("data-policies=\"off\""));
    guard.shutdown().await;
}
