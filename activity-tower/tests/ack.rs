//! Durable acknowledgement over a real socket: a login is answered only once its events
//! are committed; when they cannot be within the deadline the client gets 503 with
//! `Retry-After` and none of the handler's answer (no session cookie).

mod common;

use std::sync::Arc;
use std::time::Duration;

use activity_core::{Action, ActivityQuery, ActivityStore, Recorder};
use activity_sqlx::{SqliteOptions, SqliteStore};
use activity_tower::{Ack, ActivityLayer, RouteKind, RouteRule};
use axum::http::{header::SET_COOKIE, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use axum::Router;
use sqlx::Connection;

fn login(path: &str, user: &str) -> Vec<u8> {
    let body = format!("username={user}&password=ok");
    format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_is_answered_only_once_durable() {
    let dir = std::env::temp_dir().join(format!("activity_ack_{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}/a.db?mode=rwc", dir.display());
    let store = SqliteStore::connect_with(
        SqliteOptions::new(url.clone()).busy_timeout(Duration::from_millis(50)),
    )
    .await
    .unwrap();
    store.migrate().await.unwrap();
    let store = Arc::new(store);
    let (recorder, guard) = Recorder::builder(store.clone()).start();
    recorder.flush().await.unwrap();
    let handler =
        || async { (StatusCode::OK, [(SET_COOKIE, "sid=s3cr3t")], "welcome").into_response() };
    let layer = ActivityLayer::new(recorder.clone())
        .durable_deadline(Duration::from_millis(300))
        .unavailable_retry_after(Duration::from_secs(7))
        .rule(RouteRule::post("/login", RouteKind::Login))
        .rule_with_ack(RouteRule::post("/quick", RouteKind::Login), Ack::Queued);
    let app = Router::new()
        .route("/login", post(handler))
        .route("/quick", post(handler))
        .layer(layer);
    let addr = common::serve(app).await;

    // Durable: answered after the commit, without a flush.
    let r = common::raw(addr, &login("/login", "alice")).await;
    assert_eq!(r.status, 200);
    assert!(r.header("set-cookie").is_some());
    let stored = store
        .count(&ActivityQuery::new().action(Action::LOGIN_SUCCEEDED.as_str()))
        .await
        .unwrap();
    assert_eq!(stored, 1, "stored before the answer");

    // The database held by another process: no durable record, no session.
    let mut holder = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut holder)
        .await
        .unwrap();
    let r = common::raw(addr, &login("/login", "bob")).await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(r.header("retry-after").as_deref(), Some("7"));
    assert!(
        r.header("set-cookie").is_none(),
        "the handler's cookie is withheld"
    );
    assert!(!r.body.contains("welcome"));
    // Ack::Queued answers at once, recorded later.
    let r = common::raw(addr, &login("/quick", "carol")).await;
    assert_eq!(r.status, 200);
    sqlx::query("ROLLBACK").execute(&mut holder).await.unwrap();
    recorder.flush().await.unwrap();
    guard.shutdown().await;
}
