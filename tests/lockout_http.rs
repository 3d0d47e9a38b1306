//! The lockout policy wired into the HTTP layer's pre-check, on SQLite, over a real socket.

use std::net::SocketAddr;
use std::sync::Arc;

use activity_core::{
    lockout::LockoutConfig, lockout::LockoutPolicy, ActivityQuery, ActivityStore, Recorder,
};
use activity_sqlx::SqliteStore;
use activity_tower::{ActivityLayer, RouteKind, RouteRule};
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn post_login(addr: SocketAddr, user: &str) -> u16 {
    let body = format!("username={user}&password=wrong");
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

#[tokio::test]
async fn ten_failures_lock_the_account_at_the_door() {
    let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
    store.migrate().await.unwrap();
    let store: Arc<dyn ActivityStore> = Arc::new(store);
    let policy = Arc::new(LockoutPolicy::new(store.clone(), LockoutConfig::default()));
    // One call wires the lockout: the recorder's stage, its recorder, and the layer's check.
    let (recorder, guard) = Recorder::builder(store.clone())
        .lockout(policy.clone())
        .start();
    let app = Router::new()
        .route("/login", post(|| async { StatusCode::UNAUTHORIZED }))
        .layer(
            ActivityLayer::new(recorder.clone()).rule(RouteRule::post("/login", RouteKind::Login)),
        );
    let addr = activity_tests::serve(app).await;
    for _ in 0..10 {
        assert_eq!(post_login(addr, "victim").await, 401);
        recorder.flush().await.unwrap();
    }
    assert_eq!(
        post_login(addr, "victim").await,
        423,
        "locked at the eleventh attempt"
    );
    assert_eq!(
        post_login(addr, "someone-else").await,
        401,
        "other accounts unaffected"
    );
    recorder.flush().await.unwrap();
    let locks = store
        .count(&ActivityQuery::own(None, "victim").action("lockout.triggered"))
        .await
        .unwrap();
    assert_eq!(locks, 1);
    let refused = store
        .query(
            &ActivityQuery::own(None, "victim")
                .action("auth.login.failed")
                .limit(1),
        )
        .await
        .unwrap()
        .events;
    assert_eq!(refused[0].reason.as_deref(), Some("locked"));
    guard.shutdown().await;
}
