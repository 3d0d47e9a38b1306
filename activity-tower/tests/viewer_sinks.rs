//! The administrators' "Delivery to sinks" page and `/api/sinks` through a real axum
//! server on a loopback socket, backed by a `MemoryStore`: every receipt with its lag,
//! the trouble flagged in words, hostile values escaped, users refused, no sinks, and a
//! store that does not support sinks.

mod common;
use common::Reply;

use std::net::SocketAddr;
use std::sync::Arc;

use activity_core::event::payload::{Payload, Viewed};
use activity_core::query::DeleteRequest;
use activity_core::reexports::async_trait;
use activity_core::sinks::{LogPosition, SinkState, SinkStatus};
use activity_core::{
    Action, ActivityEvent, ActivityQuery, ActivityStore, Actor, MemoryStore, Page, Recorder,
    RecorderGuard,
};
use activity_tower::{ActivityLayer, ActivityViews};
use axum::middleware::{self};
use axum::Router;
use chrono::{TimeZone, Utc};

const BOB: &[(&str, &str)] = &[("x-user", "bob"), ("x-tenant", "acme")];
const ALICE: &[(&str, &str)] = &[
    ("x-user", "alice"),
    ("x-role", "admin"),
    ("x-tenant", "acme"),
];

const XSS: &str = "<script>alert(1)</script>";

struct App {
    addr: SocketAddr,
    recorder: Recorder,
    guard: RecorderGuard,
}

async fn start(store: Arc<dyn ActivityStore>, sinks: bool) -> App {
    let (recorder, guard) = Recorder::builder(store.clone()).start();
    let mut views = ActivityViews::new(store, recorder.clone());
    if sinks {
        views = views.sinks();
    }
    let app = Router::new()
        .merge(views.router())
        .layer(ActivityLayer::new(recorder.clone()))
        .layer(middleware::from_fn(common::auth));
    App {
        addr: common::serve(app).await,
        recorder,
        guard,
    }
}

/// A request over HTTP/1.0, so the body comes back whole.
async fn send(addr: SocketAddr, method: &str, path: &str, who: &[(&str, &str)]) -> Reply {
    let mut req = format!("{method} {path} HTTP/1.0\r\nHost: x\r\nUser-Agent: sinks-test\r\n");
    for (k, v) in who {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    common::raw(addr, req.as_bytes()).await
}

async fn get(addr: SocketAddr, path: &str, who: &[(&str, &str)]) -> Reply {
    send(addr, "GET", path, who).await
}

/// 1,005 events in the log; `archive` retrying at the 1,000th (lag 5) with a hostile
/// error and kind, `siem` delivering from the start (lag 1,005: behind).
async fn seeded() -> Arc<MemoryStore> {
    let store = Arc::new(MemoryStore::new());
    let events: Vec<_> = (0..1005)
        .map(|i| ActivityEvent::login_succeeded(Actor::user(format!("u{i}"))).with_tenant("acme"))
        .collect();
    store.append(&events).await.unwrap();
    let log = store.read_log(LogPosition::START, 2000).await.unwrap();
    assert_eq!(log.len(), 1005);
    let at = &log[999];
    let when = Utc.with_ymd_and_hms(2026, 12, 3, 12, 0, 0).unwrap();
    store
        .save_sink_state(&SinkState {
            position: at.position,
            last_event: Some(at.event.id),
            last_event_time: Some(at.event.time),
            last_delivery: Some(when),
            last_attempt: Some(when),
            delivered: 1000,
            failures: 3,
            total_failures: 17,
            last_error: Some(format!("HTTP 502 from SIEM: {XSS}")),
            status: SinkStatus::Retrying,
            ..SinkState::new("archive", "http\"><img src=x onerror=alert(2)>")
        })
        .await
        .unwrap();
    store
        .save_sink_state(&SinkState::new("siem", "nats"))
        .await
        .unwrap();
    store
}

#[tokio::test]
async fn the_admin_page_lists_every_receipt_flags_trouble_and_escapes_values() {
    let store = seeded().await;
    let app = start(store.clone(), true).await;
    let a = app.addr;
    let r = get(a, "/activity-log/sinks", ALICE).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("text/html; charset=utf-8")
    );
    assert!(r
        .header("content-security-policy")
        .unwrap()
        .contains("default-src 'self'"));
    let body = &r.body;
    assert!(body.contains("Delivery to sinks"), "{body}");
    // Both sinks, by name, with their lag.
    assert!(body.contains("<th scope=\"row\">archive</th>"), "{body}");
    assert!(body.contains("<th scope=\"row\">siem</th>"), "{body}");
    assert!(body.contains("<td class=\"num\">5</td>"), "{body}");
    assert!(
        body.contains("<td class=\"num\">1005 <strong class=\"flag\">⚠ behind</strong></td>"),
        "{body}"
    );
    // Trouble is flagged in words, not only in colour.
    assert!(body.contains("⚠ retrying"), "{body}");
    assert!(body.contains("2 need attention"), "{body}");
    assert!(body.contains("<td class=\"num\">3 / 17</td>"), "{body}");
    assert!(body.contains("<td>2026-12-03T12:00:00Z</td>"), "{body}");
    assert!(body.contains("<td>delivering</td>"), "{body}");
    // Hostile values are text.
    assert!(!body.contains("<script"), "{body}");
    assert!(!body.contains("<img"), "{body}");
    assert!(body.contains("HTTP 502 from SIEM: &lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(body.contains("http&quot;&gt;&lt;img src=x onerror=alert(2)&gt;"));
    assert!(body.contains("href=\"/activity-log/api/sinks\""));

    // The same receipts as JSON.
    let r = get(a, "/activity-log/api/sinks", ALICE).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let j = r.json();
    assert_eq!(j["available"], true);
    let sinks = j["sinks"].as_array().unwrap();
    assert_eq!(sinks.len(), 2);
    assert_eq!(sinks[0]["name"], "archive");
    assert_eq!(sinks[0]["status"], "retrying");
    assert_eq!(sinks[0]["failures"], 3);
    assert_eq!(sinks[0]["last_error"], format!("HTTP 502 from SIEM: {XSS}"));
    assert_eq!(sinks[0]["attention"], serde_json::json!(["retrying"]));
    assert_eq!(sinks[1]["name"], "siem");
    assert_eq!(sinks[1]["attention"], serde_json::json!(["behind"]));
    // The first read's audit event is in the log now: one more behind.
    assert!(sinks[1]["lag"].as_u64().unwrap() >= 1005);

    // The overview links to the page; both reads were audited.
    let page = get(a, "/activity-log/", ALICE).await;
    assert!(page.body.contains("data-sinks=\"on\""));
    assert!(page.body.contains("href=\"/activity-log/sinks\""));
    app.recorder.flush().await.unwrap();
    let viewed = store
        .query(
            &ActivityQuery::new()
                .action(Action::AUDIT_VIEWED.as_str())
                .limit(100),
        )
        .await
        .unwrap()
        .events;
    let sink_views = viewed
        .iter()
        .filter(|e| Viewed::read(e).is_some_and(|v| v.scope == "sinks"))
        .count();
    assert_eq!(sink_views, 2, "{viewed:?}");
    assert!(viewed
        .iter()
        .all(|e| e.actor_id() == Some("alice") && e.tenant.as_deref() == Some("acme")));

    // Read only.
    let r = send(a, "POST", "/activity-log/sinks", ALICE).await;
    assert_eq!(r.status, 405);
    let r = send(a, "DELETE", "/activity-log/api/sinks", ALICE).await;
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow").as_deref(), Some("GET"));
    app.guard.shutdown().await;
}

#[tokio::test]
async fn a_user_cannot_see_the_sinks() {
    let store = seeded().await;
    let app = start(store, true).await;
    let a = app.addr;
    for path in ["/activity-log/sinks", "/activity-log/api/sinks"] {
        let r = get(a, path, BOB).await;
        assert_eq!(r.status, 403, "{path}: {}", r.body);
        assert!(!r.body.contains("archive") && !r.body.contains("siem"));
        // Nobody signed in: 401.
        assert_eq!(get(a, path, &[]).await.status, 401, "{path}");
    }
    assert_eq!(
        get(a, "/activity-log/api/sinks", BOB).await.json()["error"],
        "forbidden"
    );
    let page = get(a, "/activity-log/", BOB).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("data-sinks=\"off\""));
    app.guard.shutdown().await;
}

#[tokio::test]
async fn without_sinks_turned_on_there_is_no_page() {
    let app = start(seeded().await, false).await;
    for path in ["/activity-log/sinks", "/activity-log/api/sinks"] {
        assert_eq!(get(app.addr, path, ALICE).await.status, 404, "{path}");
    }
    let page = get(app.addr, "/activity-log/", ALICE).await;
    assert!(page.body.contains("data-sinks=\"off\""));
    app.guard.shutdown().await;
}

#[tokio::test]
async fn no_sinks_says_so() {
    let store = Arc::new(MemoryStore::new());
    store
        .append(&[ActivityEvent::login_succeeded(Actor::user("bob"))])
        .await
        .unwrap();
    let app = start(store, true).await;
    let r = get(app.addr, "/activity-log/sinks", ALICE).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("No sinks"), "{}", r.body);
    assert!(!r.body.contains("<table"));
    let j = get(app.addr, "/activity-log/api/sinks", ALICE).await.json();
    assert_eq!(j["available"], true);
    assert_eq!(j["sinks"], serde_json::json!([]));
    app.guard.shutdown().await;
}

/// A store written before sinks: the trait's defaults (no states, `read_log` and
/// `log_lag` unsupported), or with `states` its stored states but still no lag.
struct Legacy {
    inner: MemoryStore,
    states: bool,
}

#[async_trait]
impl ActivityStore for Legacy {
    async fn append(&self, events: &[ActivityEvent]) -> activity_core::Result<u64> {
        self.inner.append(events).await
    }
    async fn query(&self, query: &ActivityQuery) -> activity_core::Result<Page> {
        self.inner.query(query).await
    }
    async fn count(&self, query: &ActivityQuery) -> activity_core::Result<u64> {
        self.inner.count(query).await
    }
    async fn delete(&self, request: &DeleteRequest) -> activity_core::Result<u64> {
        self.inner.delete(request).await
    }
    async fn tenants(&self) -> activity_core::Result<Vec<Option<String>>> {
        self.inner.tenants().await
    }
    async fn sink_states(&self) -> activity_core::Result<Vec<SinkState>> {
        if self.states {
            self.inner.sink_states().await
        } else {
            Ok(Vec::new())
        }
    }
}

#[tokio::test]
async fn a_store_without_sinks_shows_the_section_as_unavailable() {
    for states in [false, true] {
        let inner = MemoryStore::new();
        inner
            .save_sink_state(&SinkState::new("siem", "http"))
            .await
            .unwrap();
        let app = start(Arc::new(Legacy { inner, states }), true).await;
        let r = get(app.addr, "/activity-log/sinks", ALICE).await;
        assert_eq!(r.status, 200, "{states}: {}", r.body);
        assert!(r.body.contains("Unavailable: this store does not support"));
        assert!(!r.body.contains("No sinks") && !r.body.contains("<table"));
        let r = get(app.addr, "/activity-log/api/sinks", ALICE).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json()["available"], false);
        // The viewer's own page is untouched.
        assert_eq!(get(app.addr, "/activity-log/", ALICE).await.status, 200);
        app.guard.shutdown().await;
    }
}
