//! The attacks of the security review on the client address, the tenant header and the
//! device cookie (A2, A14, B1, B6), each through a real axum server on a loopback socket
//! with raw HTTP/1.1, so that the bytes are exactly what an attacker sends.

mod common;
use common::{raw, Reply};

use std::net::SocketAddr;
use std::sync::Arc;

use activity_core::{Action, ActivityEvent, ActivityQuery, ActivityStore, MemoryStore, Recorder};
use activity_tower::{ActivityLayer, RouteKind, RouteRule, TrustedProxies};
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;

struct App {
    addr: SocketAddr,
    store: Arc<MemoryStore>,
    recorder: Recorder,
    guard: activity_core::RecorderGuard,
}

impl App {
    async fn start(layer: impl FnOnce(ActivityLayer) -> ActivityLayer) -> App {
        Self::start_on("127.0.0.1:0", layer).await.unwrap()
    }

    async fn start_on(
        bind: &str,
        layer: impl FnOnce(ActivityLayer) -> ActivityLayer,
    ) -> Option<App> {
        let store = Arc::new(MemoryStore::new());
        let (recorder, guard) = Recorder::builder(store.clone())
            .lifecycle_events(false)
            .start();
        let base = ActivityLayer::new(recorder.clone())
            .rule(RouteRule::post("/login", RouteKind::Login))
            .tenant_header(http::HeaderName::from_static("x-tenant"));
        let app = Router::new()
            .route(
                "/login",
                post(|body: String| async move {
                    if body.contains("password=right") {
                        StatusCode::OK
                    } else {
                        StatusCode::UNAUTHORIZED
                    }
                }),
            )
            .layer(layer(base));
        let listener = tokio::net::TcpListener::bind(bind).await.ok()?;
        let mut addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
            .unwrap();
        });
        // A dual-stack listener is reached over IPv4: its peers are IPv4-mapped.
        addr.set_ip("127.0.0.1".parse().unwrap());
        Some(App {
            addr,
            store,
            recorder,
            guard,
        })
    }

    async fn login(&self, password: &str, extra: &[u8]) -> Reply {
        let body = format!("username=alice&password={password}");
        let mut req = format!(
            "POST /login HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
            body.len()
        )
        .into_bytes();
        req.extend_from_slice(extra);
        req.extend_from_slice(b"\r\n");
        req.extend_from_slice(body.as_bytes());
        raw(self.addr, &req).await
    }

    /// The login events, oldest first.
    async fn logins(&self) -> Vec<ActivityEvent> {
        self.recorder.flush().await.unwrap();
        let mut events = self
            .store
            .query(&ActivityQuery::new().limit(1000))
            .await
            .unwrap()
            .events;
        events.retain(|e| e.action == Action::LOGIN_FAILED || e.action == Action::LOGIN_SUCCEEDED);
        events.reverse();
        events
    }

    async fn ips(&self) -> Vec<String> {
        self.logins()
            .await
            .iter()
            .map(|e| e.ip().map(|ip| ip.to_string()).unwrap_or_default())
            .collect()
    }

    async fn stop(self) {
        self.guard.shutdown().await;
    }
}

fn loopback_lb() -> TrustedProxies {
    // The test client on 127.0.0.1 plays the load balancer.
    TrustedProxies::cidrs(["127.0.0.0/8"]).unwrap()
}

/// Review A2: behind a proxy that appends to X-Forwarded-For (nginx, ALB), a `Forwarded`
/// header the client sent chose the recorded address.
#[tokio::test]
async fn a_client_forwarded_header_does_not_beat_the_proxy_header() {
    let app = App::start(|l| l.trusted_proxies(loopback_lb())).await;
    app.login(
        "wrong",
        b"Forwarded: for=6.6.6.6\r\nX-Forwarded-For: 81.2.69.142\r\n",
    )
    .await;
    app.login(
        "wrong",
        b"X-Forwarded-For: 81.2.69.142\r\nForwarded: for=\"[2001:db8::66]\"\r\n",
    )
    .await;
    assert_eq!(app.ips().await, ["81.2.69.142", "81.2.69.142"]);
    app.stop().await;
}

/// Review A14: one non-ASCII byte the client put in X-Forwarded-For (nginx appends to
/// the same line) replaced the client's address with the proxy's.
#[tokio::test]
async fn non_ascii_in_one_element_leaves_the_others() {
    let app = App::start(|l| l.trusted_proxies(loopback_lb())).await;
    app.login("wrong", b"X-Forwarded-For: \xff, 81.2.69.142\r\n")
        .await;
    app.login("wrong", b"X-Forwarded-For: 6.6.6.6\xe9, 81.2.69.142\r\n")
        .await;
    app.login(
        "wrong",
        b"X-Forwarded-For: \xc3\xa9\r\nX-Forwarded-For: 81.2.69.142\r\n",
    )
    .await;
    assert_eq!(
        app.ips().await,
        ["81.2.69.142", "81.2.69.142", "81.2.69.142"]
    );
    app.stop().await;
}

/// An unspecified address is nobody's: the proxy's address is recorded instead.
#[tokio::test]
async fn an_unspecified_address_is_never_the_client() {
    let app = App::start(|l| l.trusted_proxies(loopback_lb())).await;
    app.login("wrong", b"X-Forwarded-For: 0.0.0.0\r\n").await;
    app.login("wrong", b"X-Forwarded-For: ::\r\n").await;
    app.login("wrong", b"X-Forwarded-For: 81.2.69.142, 0.0.0.0:80\r\n")
        .await;
    assert_eq!(app.ips().await, ["127.0.0.1", "127.0.0.1", "127.0.0.1"]);
    app.stop().await;
}

/// A trusted range written as IPv4-mapped IPv6 holds IPv4 peers, and an IPv4 range holds
/// IPv4-mapped peers (a dual-stack listener).
#[tokio::test]
async fn mapped_ranges_match_both_ways() {
    let mapped = TrustedProxies::cidrs(["::ffff:127.0.0.0/104"]).unwrap();
    let app = App::start(|l| l.trusted_proxies(mapped)).await;
    app.login("wrong", b"X-Forwarded-For: 81.2.69.142\r\n")
        .await;
    assert_eq!(app.ips().await, ["81.2.69.142"]);
    app.stop().await;

    let Some(app) = App::start_on("[::]:0", |l| l.trusted_proxies(loopback_lb())).await else {
        eprintln!("notice: no IPv6 on this machine; skipping the dual-stack half");
        return;
    };
    app.login("wrong", b"X-Forwarded-For: 81.2.69.142\r\n")
        .await;
    assert_eq!(app.ips().await, ["81.2.69.142"]);
    app.stop().await;
}

/// Review B6: a device cookie the client made up (or copied in another format) was
/// taken as a known device.
#[tokio::test]
async fn a_forged_device_cookie_is_no_device() {
    let app = App::start(|l| l).await;
    let guessed = "d_0123456789abcdef0123456789abcdef";
    let forged = [
        format!("Cookie: activity_device={guessed}\r\n"),
        format!("Cookie: activity_device={guessed}.{}\r\n", "0".repeat(32)),
        "Cookie: activity_device=d_victim\r\n".to_string(),
    ];
    for cookie in &forged {
        let r = app.login("right", cookie.as_bytes()).await;
        assert_eq!(r.status, 200);
        let set = r.header("set-cookie").unwrap_or_default();
        assert!(
            set.starts_with("activity_device=d_"),
            "a new cookie is issued for {cookie:?}: {set:?}"
        );
    }
    let logins = app.logins().await;
    assert_eq!(logins.len(), forged.len());
    for e in &logins {
        let d = e.device_id().unwrap();
        assert!(d != guessed && d != "d_victim", "{d}");
    }
    app.stop().await;
}

/// The cookie the layer issued is recognised when the browser sends it back.
#[tokio::test]
async fn the_issued_device_cookie_is_known() {
    let app = App::start(|l| l).await;
    let first = app.login("right", b"").await;
    let set = first.header("set-cookie").unwrap();
    let value = set.split(';').next().unwrap().to_string();
    let again = app
        .login("wrong", format!("Cookie: a=1; {value}\r\n").as_bytes())
        .await;
    assert_eq!(again.header("set-cookie"), None);
    let logins = app.logins().await;
    assert_eq!(logins[0].device_id(), logins[1].device_id());
    // The stored id is the id alone, never the cookie (its signature).
    assert!(!value.ends_with(logins[1].device_id().unwrap()));
    app.stop().await;
}

/// Review B1: a client's own tenant header put its events into any tenant's log.
#[tokio::test]
async fn a_tenant_header_from_an_untrusted_peer_is_ignored() {
    let app = App::start(|l| l).await;
    app.login("wrong", b"x-tenant: victimcorp\r\n").await;
    let logins = app.logins().await;
    assert_eq!(logins[0].tenant, None);
    app.stop().await;

    // Through the (trusted) proxy the header is the tenant.
    let app = App::start(|l| l.trusted_proxies(loopback_lb())).await;
    app.login("wrong", b"x-tenant: acme\r\n").await;
    let logins = app.logins().await;
    assert_eq!(logins[0].tenant.as_deref(), Some("acme"));
    app.stop().await;
}
