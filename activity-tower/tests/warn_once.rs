//! The setup mistakes that used to lose data silently are reported, once per layer, in
//! the application's log: a server that gives the layer no peer address (every event's
//! IP empty), and a layer inside the session library's (no session on
//! `session.created`). Real servers over real sockets; the log is captured.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use activity_core::{MemoryStore, Recorder};
use activity_tower::{ActivityLayer, RouteKind, RouteRule};
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::post;
use axum::Router;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The captured log.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<u8>>>);

impl Write for Log {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Log {
    fn count(&self, needle: &str) -> usize {
        String::from_utf8_lossy(&self.0.lock().unwrap())
            .matches(needle)
            .count()
    }
}

async fn login(addr: SocketAddr) -> u16 {
    let body = "username=alice";
    let req = format!(
        "POST /login HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out.split(' ').nth(1).unwrap().parse().unwrap()
}

/// A sign-in route that sets `sid` when `sets_cookie`, under a fresh layer.
fn app(recorder: Recorder, sets_cookie: bool) -> Router {
    let layer = ActivityLayer::new(recorder)
        .rule(RouteRule::post("/login", RouteKind::Login))
        .session_cookie("sid", b"a session key of 16+ bytes")
        .unwrap();
    Router::new()
        .route(
            "/login",
            post(move || async move {
                if sets_cookie {
                    ([(header::SET_COOKIE, "sid=abc; Path=/")], "ok").into_response()
                } else {
                    "ok".into_response()
                }
            }),
        )
        .layer(layer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_mistakes_are_reported_once() {
    let log = Log::default();
    let writer = log.clone();
    tracing::subscriber::set_global_default(
        tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish(),
    )
    .unwrap();
    let (recorder, guard) = Recorder::builder(Arc::new(MemoryStore::new())).start();
    const NO_PEER: &str = "has no peer address";
    const NO_SESSION: &str = "set no `sid` cookie";

    // Served right: peer addresses, and the handler's cookie is seen. Nothing to say.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let good = listener.local_addr().unwrap();
    let svc = app(recorder.clone(), true).into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, svc).await.unwrap() });
    for _ in 0..2 {
        assert_eq!(login(good).await, 200);
    }
    assert_eq!((log.count(NO_PEER), log.count(NO_SESSION)), (0, 0));

    // `axum::serve(listener, app)`: no ConnectInfo; and no session cookie on the answer.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let bad = listener.local_addr().unwrap();
    let router = app(recorder.clone(), false);
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    for _ in 0..3 {
        assert_eq!(login(bad).await, 200);
    }
    assert_eq!(log.count(NO_PEER), 1, "once, however many requests");
    assert_eq!(log.count(NO_SESSION), 1);
    assert!(
        log.count("into_make_service_with_connect_info") >= 1,
        "says what to do"
    );
    guard.shutdown().await;
}
