//! The layer through a real axum server on a loopback socket, driven by raw HTTP/1.1 so
//! that headers, chunking and disconnects are exactly what the test says.

mod common;
use common::{raw, Reply};

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use activity_core::{
    lockout::LockKey, lockout::LockStatus, lockout::LockoutCheck, Action, ActivityEvent,
    ActivityQuery, ActivityStore, Actor, MemoryStore, Outcome, Recorder, RecorderGuard,
};
use activity_tower::{
    ActivityHandle, ActivityLayer, Error, OutcomeHint, RouteKind, RouteRule, TrustedProxies,
};
use axum::body::Bytes;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

const SESSION_KEY: &[u8] = b"test session key, 32 bytes long!";

struct Locker;

#[async_trait::async_trait]
impl LockoutCheck for Locker {
    async fn check(&self, key: &LockKey<'_>) -> activity_core::Result<LockStatus> {
        Ok(if key.account == Some("mallory") {
            LockStatus::Locked {
                until: Some(chrono::Utc::now() + chrono::Duration::minutes(30)),
                reason: "too_many_failures".into(),
            }
        } else {
            LockStatus::Open {
                attempts_left: Some(3),
            }
        })
    }
}

struct App {
    addr: SocketAddr,
    store: Arc<MemoryStore>,
    recorder: Recorder,
    guard: Option<RecorderGuard>,
    handler_calls: Arc<AtomicUsize>,
}

impl App {
    async fn events(&self) -> Vec<ActivityEvent> {
        self.recorder.flush().await.unwrap();
        let mut page = self
            .store
            .query(&ActivityQuery::new().limit(1000))
            .await
            .unwrap()
            .events;
        page.retain(|e| e.action.category() != "audit");
        page.reverse();
        page
    }

    async fn stop(mut self) {
        self.guard.take().unwrap().shutdown().await;
    }
}

async fn login(body: Bytes) -> Response {
    let text = String::from_utf8_lossy(&body);
    if text.contains("password=right") || text.contains("\"password\":\"right\"") {
        (
            StatusCode::OK,
            [("set-cookie", "sid=raw-session-123; Path=/; HttpOnly")],
            "welcome",
        )
            .into_response()
    } else {
        (StatusCode::UNAUTHORIZED, "no").into_response()
    }
}

/// Echoes how many bytes arrived and their checksum, to prove the body is untouched.
async fn echo(body: Bytes) -> String {
    let sum: u64 = body
        .iter()
        .enumerate()
        .map(|(i, b)| (i as u64 + 1) * *b as u64)
        .sum();
    format!("{}:{}", body.len(), sum)
}

async fn start(
    trusted: TrustedProxies,
    recorder_and_guard: Option<(Recorder, RecorderGuard, Arc<MemoryStore>)>,
) -> App {
    let (recorder, guard, store) = match recorder_and_guard {
        Some(x) => x,
        None => {
            let store = Arc::new(MemoryStore::new());
            let (r, g) = Recorder::builder(store.clone()).start();
            (r, g, store)
        }
    };
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let layer = ActivityLayer::new(recorder.clone())
        .rule(RouteRule::post("/login", RouteKind::Login))
        .rule(RouteRule::post("/echo-login", RouteKind::Login))
        .rule(RouteRule::post("/slow-login", RouteKind::Login))
        .rule(RouteRule::post("/logout", RouteKind::Logout))
        .rule(RouteRule::post("/mfa/verify", RouteKind::MfaVerify))
        .rule(RouteRule::post("/users/{id}/mfa", RouteKind::MfaEnroll))
        .rule(RouteRule::post(
            "/password/reset",
            RouteKind::PasswordResetRequest,
        ))
        .rule(RouteRule::post(
            "/password/reset/complete",
            RouteKind::PasswordResetComplete,
        ))
        .rule(RouteRule::post(
            "/password/change",
            RouteKind::PasswordChange,
        ))
        .rule(RouteRule::post("/boom", RouteKind::PasswordChange))
        .rule(RouteRule::post("/panic", RouteKind::PasswordChange))
        .trusted_proxies(trusted)
        .tenant_header(http::HeaderName::from_static("x-tenant"))
        .lockout(Arc::new(Locker))
        .session_cookie("sid", SESSION_KEY)
        .unwrap();
    let app = Router::new()
        .route(
            "/login",
            post(move |body: Bytes| {
                c.fetch_add(1, Ordering::SeqCst);
                login(body)
            }),
        )
        .route("/echo-login", post(echo))
        .route(
            "/slow-login",
            post(|| async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                "late"
            }),
        )
        .route("/logout", post(|| async { "bye" }))
        .route(
            "/mfa/verify",
            post(|body: Bytes| async move {
                if body.as_ref() == b"code=123456" {
                    StatusCode::OK.into_response()
                } else {
                    let mut r = StatusCode::UNAUTHORIZED.into_response();
                    r.extensions_mut()
                        .insert(OutcomeHint::failure("bad_code").with_actor(Actor::user("alice")));
                    r
                }
            }),
        )
        .route(
            "/users/{id}/mfa",
            post(|Path(id): Path<String>| async move { (StatusCode::CREATED, id) }),
        )
        .route("/password/reset", post(|| async { StatusCode::ACCEPTED }))
        .route(
            "/password/reset/complete",
            post(|| async { StatusCode::LOCKED }),
        )
        .route(
            "/password/change",
            post(|| async { StatusCode::TOO_MANY_REQUESTS }),
        )
        .route("/boom", post(|| async { StatusCode::BAD_GATEWAY }))
        .route(
            "/panic",
            post(|| async {
                panic!("handler exploded");
                #[allow(unreachable_code)]
                ""
            }),
        )
        .route(
            "/settings/totp",
            post(|activity: ActivityHandle| async move {
                activity
                    .record(
                        ActivityEvent::mfa_enrolled(Actor::user("alice"))
                            .with_detail("method", "totp"),
                    )
                    .unwrap();
                "enrolled"
            }),
        )
        .route(
            "/plain",
            get(|headers: HeaderMap| async move { format!("{}", headers.len()) }),
        )
        .layer(layer);
    let addr = common::serve(app).await;
    App {
        addr,
        store,
        recorder,
        guard: Some(guard),
        handler_calls: calls,
    }
}

async fn post_form(addr: SocketAddr, path: &str, body: &str, extra: &str) -> Reply {
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nUser-Agent: test-agent/1.0\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n{extra}\r\n{body}",
        body.len()
    );
    raw(addr, req.as_bytes()).await
}

#[tokio::test]
async fn every_rule_and_outcome() {
    // The test client is the trusted proxy, so that its tenant header counts.
    let app = start(TrustedProxies::cidrs(["127.0.0.0/8"]).unwrap(), None).await;
    let a = app.addr;
    let ok = post_form(
        a,
        "/login",
        "username=alice&password=right",
        "x-request-id: req-abc\r\nx-tenant: acme\r\n",
    )
    .await;
    assert_eq!(ok.status, 200);
    assert_eq!(ok.header("x-request-id").as_deref(), Some("req-abc"));
    let device_cookie = ok
        .head
        .lines()
        .find(|l| l.to_ascii_lowercase().contains("activity_device="))
        .unwrap()
        .to_string();
    for flag in ["HttpOnly", "Secure", "SameSite=Lax", "Max-Age=", "Path=/"] {
        assert!(device_cookie.contains(flag), "{device_cookie}");
    }
    let bad = post_form(a, "/login", "username=alice&password=wrong", "").await;
    assert_eq!(bad.status, 401);
    assert!(bad.header("x-request-id").unwrap().starts_with("req_"));
    assert_ne!(
        bad.header("x-request-id"),
        post_form(a, "/plain2", "", "").await.header("x-request-id")
    );
    assert_eq!(
        post_form(a, "/logout", "", "Cookie: sid=raw-session-123\r\n")
            .await
            .status,
        200
    );
    assert_eq!(
        post_form(a, "/mfa/verify", "code=123456", "").await.status,
        200
    );
    assert_eq!(
        post_form(a, "/mfa/verify", "code=000000", "").await.status,
        401
    );
    assert_eq!(post_form(a, "/users/u_42/mfa", "", "").await.status, 201);
    assert_eq!(
        post_form(a, "/password/reset", "username=carol@example.com", "")
            .await
            .status,
        202
    );
    assert_eq!(
        post_form(a, "/password/reset/complete", "", "")
            .await
            .status,
        423
    );
    assert_eq!(post_form(a, "/password/change", "", "").await.status, 429);
    assert_eq!(post_form(a, "/boom", "", "").await.status, 502);
    assert_eq!(
        raw(
            a,
            b"GET /plain HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .await
        .status,
        200
    );

    let ev = app.events().await;
    let summary: Vec<(String, Outcome, Option<String>)> = ev
        .iter()
        .map(|e| (e.action.to_string(), e.outcome, e.reason.clone()))
        .collect();
    let expect = |a: &str, o: Outcome, r: Option<&str>| (a.to_string(), o, r.map(str::to_string));
    assert_eq!(
        summary,
        vec![
            expect("auth.login.succeeded", Outcome::Success, None),
            expect("session.created", Outcome::Success, None),
            expect("auth.login.failed", Outcome::Failure, Some("unauthorized")),
            expect("auth.logout", Outcome::Success, None),
            expect("session.terminated", Outcome::Success, None),
            expect("mfa.verified", Outcome::Success, None),
            expect("mfa.failed", Outcome::Failure, Some("bad_code")),
            expect("mfa.enrolled", Outcome::Success, None),
            expect("password.reset.requested", Outcome::Success, None),
            expect("password.reset.completed", Outcome::Failure, Some("locked")),
            expect("password.changed", Outcome::Failure, Some("rate_limited")),
            expect("password.changed", Outcome::Unknown, Some("server_error")),
        ]
    );
    let login = &ev[0];
    assert_eq!(login.actor_id(), Some("alice"));
    assert_eq!(login.tenant.as_deref(), Some("acme"));
    assert_eq!(login.request_id.as_deref(), Some("req-abc"));
    assert_eq!(login.ip().unwrap().to_string(), "127.0.0.1");
    assert_eq!(
        login.source.as_ref().unwrap().user_agent.as_deref(),
        Some("test-agent/1.0")
    );
    assert!(login.device_id().unwrap().starts_with("d_"));
    assert!(device_cookie.contains(login.device_id().unwrap()));
    let created = &ev[1];
    let hash = activity_core::event::SessionKey::new(SESSION_KEY)
        .unwrap()
        .hash("raw-session-123");
    assert_eq!(created.session.as_deref(), Some(hash.as_str()));
    assert_eq!(
        ev[4].session.as_deref(),
        Some(hash.as_str()),
        "logout terminates the same session"
    );
    assert!(
        ev.iter()
            .all(|e| !format!("{e:?}").contains("raw-session-123")),
        "no raw session id stored"
    );
    assert!(
        ev.iter()
            .all(|e| !format!("{e:?}").contains("right") && !format!("{e:?}").contains("wrong")),
        "no password stored"
    );
    assert_eq!(
        ev[6].actor_id(),
        Some("alice"),
        "the handler's hint names the actor"
    );
    assert_eq!(ev[8].actor_id(), Some("carol@example.com"));
    app.stop().await;
}

#[tokio::test]
async fn trusted_and_untrusted_proxies() {
    // 127.0.0.1 (the test client) is the trusted proxy.
    let app = start(TrustedProxies::cidrs(["127.0.0.0/8"]).unwrap(), None).await;
    let cases = [
        ("X-Forwarded-For: 81.2.69.142\r\n", "81.2.69.142"),
        ("X-Forwarded-For: 1.1.1.1, 81.2.69.142\r\n", "81.2.69.142"),
        (
            "X-Forwarded-For: 6.6.6.6\r\nX-Forwarded-For: 81.2.69.142\r\n",
            "81.2.69.142",
        ),
        ("X-Forwarded-For: not-an-ip\r\n", "127.0.0.1"),
        // The proxy is configured to write X-Forwarded-For: a `Forwarded` is not read.
        ("Forwarded: for=\"[2001:db8::1]:443\"\r\n", "127.0.0.1"),
        ("", "127.0.0.1"),
    ];
    for (headers, _) in &cases {
        post_form(app.addr, "/login", "username=x&password=wrong", headers).await;
    }
    let big = format!(
        "X-Forwarded-For: {}81.2.69.142\r\n",
        "9.9.9.9, ".repeat(900)
    );
    post_form(app.addr, "/login", "username=x&password=wrong", &big).await;
    let ev = app.events().await;
    let ips: Vec<String> = ev.iter().map(|e| e.ip().unwrap().to_string()).collect();
    let mut want: Vec<String> = cases.iter().map(|c| c.1.to_string()).collect();
    want.push("81.2.69.142".into());
    assert_eq!(ips, want);
    app.stop().await;

    // Nobody trusted: a forged header never changes the address.
    let app = start(TrustedProxies::None, None).await;
    post_form(
        app.addr,
        "/login",
        "username=x&password=wrong",
        "X-Forwarded-For: 81.2.69.142\r\nForwarded: for=8.8.8.8\r\n",
    )
    .await;
    let ev = app.events().await;
    assert_eq!(ev[0].ip().unwrap().to_string(), "127.0.0.1");
    app.stop().await;
}

#[tokio::test]
async fn the_handler_gets_the_identical_body() {
    let app = start(TrustedProxies::None, None).await;
    let expected = |b: &[u8]| {
        let sum: u64 = b
            .iter()
            .enumerate()
            .map(|(i, x)| (i as u64 + 1) * *x as u64)
            .sum();
        format!("{}:{}", b.len(), sum)
    };
    // Larger than the 16 KiB limit, with the actor field first: on a sign-in route its
    // account cannot be known, so it is refused before the handler, and recorded.
    let mut big = b"username=bob&data=".to_vec();
    big.extend(std::iter::repeat_n(b'z', 100_000));
    let req = [
        format!(
            "POST /echo-login HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
            big.len()
        )
        .into_bytes(),
        big.clone(),
    ]
    .concat();
    let reply = raw(app.addr, &req).await;
    assert_eq!((reply.status, reply.body.as_str()), (413, ""));
    // Chunked over several frames, and not UTF-8, under the limit: passed on intact.
    let payload: Vec<u8> = (0..=255u8).cycle().take(16_000).collect();
    let mut req = b"POST /echo-login HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for chunk in payload.chunks(7_000) {
        req.extend(format!("{:x}\r\n", chunk.len()).as_bytes());
        req.extend(chunk);
        req.extend(b"\r\n");
    }
    req.extend(b"0\r\n\r\n");
    let reply = raw(app.addr, &req).await;
    assert_eq!(reply.status, 200);
    assert!(reply.body.contains(&expected(&payload)), "{}", reply.body);
    // JSON actor.
    let json = br#"{"username":"dora@example.com","password":"secret"}"#;
    let req = [
        format!("POST /echo-login HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n", json.len()).into_bytes(),
        json.to_vec(),
    ]
    .concat();
    assert_eq!(raw(app.addr, &req).await.body, expected(json));
    let ev = app.events().await;
    let actors: Vec<Option<&str>> = ev
        .iter()
        .filter(|e| e.action.category() == "auth")
        .map(|e| e.actor_id())
        .collect();
    assert_eq!(actors, vec![None, None, Some("dora@example.com")]);
    assert_eq!(ev[0].reason.as_deref(), Some("body_too_large"));
    assert!(ev.iter().all(|e| !format!("{e:?}").contains("secret")));
    app.stop().await;
}

#[tokio::test]
async fn a_panicking_handler_is_recorded_and_the_panic_passed_on() {
    let app = start(TrustedProxies::None, None).await;
    let reply = post_form(app.addr, "/panic", "", "").await;
    assert!(reply.status == 0 || reply.status == 500, "{}", reply.status);
    let ev = app.events().await;
    assert_eq!(ev.len(), 1);
    assert_eq!(
        (ev[0].outcome, ev[0].reason.as_deref()),
        (Outcome::Unknown, Some("panic"))
    );
    app.stop().await;
}

#[tokio::test]
async fn an_inner_service_error_is_recorded_and_passed_on() {
    use tower::{Layer, Service, ServiceExt};
    let store = Arc::new(MemoryStore::new());
    let (recorder, guard) = Recorder::builder(store.clone()).start();
    let layer =
        ActivityLayer::new(recorder.clone()).rule(RouteRule::post("/login", RouteKind::Login));
    let failing = tower::service_fn(
        |_req: http::Request<activity_tower::layer::PrefixedBody<axum::body::Body>>| async {
            Err::<http::Response<axum::body::Body>, std::io::Error>(std::io::Error::other(
                "backend down",
            ))
        },
    );
    let mut svc = layer.layer(failing);
    let req = http::Request::post("/login")
        .body(axum::body::Body::empty())
        .unwrap();
    let err = svc.ready().await.unwrap().call(req).await.unwrap_err();
    assert_eq!(err.to_string(), "backend down");
    recorder.flush().await.unwrap();
    let ev = store
        .query(&ActivityQuery::new().action("auth"))
        .await
        .unwrap()
        .events;
    assert_eq!(
        (ev[0].outcome, ev[0].reason.as_deref()),
        (Outcome::Unknown, Some("service_error"))
    );
    guard.shutdown().await;
}

#[tokio::test]
async fn a_client_that_disconnects_mid_request_is_recorded() {
    let app = start(TrustedProxies::None, None).await;
    {
        let mut s = TcpStream::connect(app.addr).await.unwrap();
        let body = "username=erin&password=x";
        s.write_all(
            format!("POST /slow-login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}", body.len())
                .as_bytes(),
        )
        .await
        .unwrap();
        // Wait for the handler to be running, then hang up.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut found = None;
    for _ in 0..100 {
        let ev = app.events().await;
        if let Some(e) = ev
            .into_iter()
            .find(|e| e.reason.as_deref() == Some("client_disconnected"))
        {
            found = Some(e);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let e = found.expect("the dropped request is recorded");
    assert_eq!(e.actor_id(), Some("erin"));
    assert_eq!(e.outcome, Outcome::Unknown);
    app.stop().await;
}

#[tokio::test]
async fn a_locked_account_gets_423_and_the_handler_is_not_called() {
    let app = start(TrustedProxies::None, None).await;
    let reply = post_form(app.addr, "/login", "username=mallory&password=right", "").await;
    assert_eq!(reply.status, 423);
    let retry: u64 = reply.header("retry-after").unwrap().parse().unwrap();
    assert!((1700..=1800).contains(&retry), "{retry}");
    assert_eq!(app.handler_calls.load(Ordering::SeqCst), 0);
    let ev = app.events().await;
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].action, Action::LOGIN_FAILED);
    assert_eq!(ev[0].reason.as_deref(), Some("locked"));
    assert_eq!(ev[0].actor_id(), Some("mallory"));
    // Others pass.
    assert_eq!(
        post_form(app.addr, "/login", "username=alice&password=right", "")
            .await
            .status,
        200
    );
    assert_eq!(app.handler_calls.load(Ordering::SeqCst), 1);
    app.stop().await;
}

struct DownStore;

#[async_trait::async_trait]
impl ActivityStore for DownStore {
    async fn append(&self, _: &[ActivityEvent]) -> activity_core::Result<u64> {
        Err(activity_core::Error::unavailable("database down", None))
    }
    async fn query(&self, _: &ActivityQuery) -> activity_core::Result<activity_core::Page> {
        Err(activity_core::Error::unavailable("database down", None))
    }
    async fn count(&self, _: &ActivityQuery) -> activity_core::Result<u64> {
        Err(activity_core::Error::unavailable("database down", None))
    }
    async fn delete(&self, _: &activity_core::query::DeleteRequest) -> activity_core::Result<u64> {
        Err(activity_core::Error::unavailable("database down", None))
    }
    async fn tenants(&self) -> activity_core::Result<Vec<Option<String>>> {
        Err(activity_core::Error::unavailable("database down", None))
    }
}

#[tokio::test]
async fn fail_closed_refuses_authentication_while_the_log_is_down() {
    let (recorder, guard) = Recorder::builder(Arc::new(DownStore))
        .outage_policy(activity_core::recorder::OutagePolicy::FailClosed)
        .shutdown_timeout(Duration::from_millis(100))
        .start();
    // The recorder notices the outage when it first writes (its audit.started).
    for _ in 0..200 {
        if !recorder.is_accepting() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(!recorder.is_accepting());
    let app = start(
        TrustedProxies::None,
        Some((recorder, guard, Arc::new(MemoryStore::new()))),
    )
    .await;
    let reply = post_form(app.addr, "/login", "username=alice&password=right", "").await;
    assert_eq!(reply.status, 503);
    assert!(reply.header("retry-after").is_some());
    assert_eq!(app.handler_calls.load(Ordering::SeqCst), 0);
    assert_eq!(
        raw(
            app.addr,
            b"GET /plain HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .await
        .status,
        200
    );
    let App { guard, .. } = app;
    guard.unwrap().shutdown().await;
}

#[tokio::test]
async fn handlers_record_through_the_handle_with_the_context_filled_in() {
    // The test client is the trusted proxy, so that its tenant header counts.
    let app = start(TrustedProxies::cidrs(["127.0.0.0/8"]).unwrap(), None).await;
    let reply = post_form(
        app.addr,
        "/settings/totp",
        "",
        "x-request-id: r-77\r\nx-tenant: acme\r\n",
    )
    .await;
    assert_eq!(reply.body, "enrolled");
    let ev = app.events().await;
    assert_eq!(ev.len(), 1);
    let e = &ev[0];
    assert_eq!(e.action, Action::MFA_ENROLLED);
    assert_eq!(e.request_id.as_deref(), Some("r-77"));
    assert_eq!(e.tenant.as_deref(), Some("acme"));
    assert_eq!(e.ip().unwrap().to_string(), "127.0.0.1");
    assert_eq!(e.details.as_ref().unwrap()["method"], "totp");
    app.stop().await;
}

#[tokio::test]
async fn a_clone_of_a_layer_is_configured_on_its_own() {
    use tower::{Layer, ServiceExt};
    let store = Arc::new(MemoryStore::new());
    let (recorder, guard) = Recorder::builder(store.clone())
        .lifecycle_events(false)
        .start();
    let base =
        ActivityLayer::new(recorder.clone()).rule(RouteRule::post("/login", RouteKind::Login));
    let handler = tower::service_fn(
        |_req: http::Request<activity_tower::layer::PrefixedBody<String>>| async {
            Ok::<_, std::convert::Infallible>(http::Response::new(String::new()))
        },
    );
    // A service made from the layer shares its configuration, and so does a clone:
    // configuring the clone copies it (it used to panic) and leaves the original as it was.
    let base_service = base.layer(handler);
    let extended = base
        .clone()
        .rule(RouteRule::post("/logout", RouteKind::Logout))
        .trusted_proxies(TrustedProxies::hops(1))
        .tenant_header(http::HeaderName::from_static("x-tenant"));
    let logout = || {
        http::Request::post("/logout")
            .header("x-tenant", "acme")
            .body(String::new())
            .unwrap()
    };
    base_service.clone().oneshot(logout()).await.unwrap();
    base.layer(handler).oneshot(logout()).await.unwrap();
    recorder.flush().await.unwrap();
    let page = store.query(&ActivityQuery::new()).await.unwrap();
    assert!(page.events.is_empty(), "{:?}", page.events);
    extended.layer(handler).oneshot(logout()).await.unwrap();
    recorder.flush().await.unwrap();
    let page = store.query(&ActivityQuery::new()).await.unwrap();
    let actions: Vec<_> = page.events.iter().map(|e| e.action.clone()).collect();
    assert_eq!(actions.len(), 2, "{actions:?}");
    assert!(actions.contains(&Action::LOGOUT));
    assert!(actions.contains(&Action::SESSION_TERMINATED));
    assert!(page
        .events
        .iter()
        .all(|e| e.tenant.as_deref() == Some("acme")));
    guard.shutdown().await;
}

#[test]
fn refused_settings_are_config_errors_with_their_source() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (recorder, guard) = rt.block_on(async {
        Recorder::builder(Arc::new(MemoryStore::new()))
            .lifecycle_events(false)
            .start()
    });
    let e = ActivityLayer::new(recorder)
        .session_cookie("sid", b"short")
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::Config {
                setting: "session_cookie",
                ..
            }
        ),
        "{e:?}"
    );
    let source = std::error::Error::source(&e).expect("the key's own error");
    assert!(!e.to_string().contains(&source.to_string()), "{e}");
    assert_eq!(e.code(), "config");

    let e = TrustedProxies::cidrs(["10.0.0.0/8", "not-a-net"]).unwrap_err();
    assert!(
        matches!(e, Error::Config { setting: "trusted_proxies", ref reason, .. } if reason.contains("not-a-net")),
        "{e:?}"
    );
    assert!(std::error::Error::source(&e).is_some());
    rt.block_on(guard.shutdown());
}
