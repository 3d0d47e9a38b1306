//! Finding A17: a CSV export is recorded, durably, before its first row leaves, and is
//! refused with 503 when it cannot be. Through a real axum server on a loopback socket,
//! with the SQLite file held locked by another connection (the log cannot write).

mod common;

use std::sync::Arc;
use std::time::Duration;

use activity_core::{Action, ActivityEvent, ActivityQuery, ActivityStore, Actor, Recorder};
use activity_sqlx::{SqliteOptions, SqliteStore};
use activity_tower::{ActivityViews, Viewer};
use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::Router;
use sqlx::Connection;

async fn admin(mut req: Request, next: Next) -> Response {
    req.extensions_mut()
        .insert(Viewer::admin("alice").tenant("acme"));
    next.run(req).await
}

const EXPORT: &[u8] = b"GET /activity-log/api/events.csv?scope=tenant HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_the_log_cannot_record_sends_no_row() {
    let dir =
        std::env::temp_dir().join(format!("activity_export_{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}/a.db?mode=rwc", dir.display());
    let store = SqliteStore::connect_with(
        SqliteOptions::new(url.clone()).busy_timeout(Duration::from_millis(50)),
    )
    .await
    .unwrap();
    store.migrate().await.unwrap();
    let secret: Vec<ActivityEvent> = (0..20)
        .map(|i| ActivityEvent::login_failed(Actor::user(format!("secret{i}"))).with_tenant("acme"))
        .collect();
    store.append(&secret).await.unwrap();
    let store = Arc::new(store);
    let (recorder, guard) = Recorder::builder(store.clone()).start();
    recorder.flush().await.unwrap();
    let app = Router::new()
        .merge(ActivityViews::new(store.clone(), recorder.clone()).router())
        .layer(middleware::from_fn(admin));
    let addr = common::serve(app).await;

    // The log cannot write: another process holds the database (reads still work in WAL).
    let mut holder = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut holder)
        .await
        .unwrap();
    let r = common::raw(addr, EXPORT).await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(!r.body.contains("secret"), "no row left: {}", r.body);
    sqlx::query("ROLLBACK").execute(&mut holder).await.unwrap();

    // With the log writable the export is recorded before it streams.
    recorder.flush().await.unwrap();
    let r = common::raw(addr, EXPORT).await;
    assert_eq!(r.status, 200);
    assert!(r.body.contains("secret"));
    guard.shutdown().await;
    let exported = store
        .query(&ActivityQuery::new().action(Action::AUDIT_EXPORTED.as_str()))
        .await
        .unwrap()
        .events;
    let started: Vec<_> = exported
        .iter()
        .filter(|e| e.reason.as_deref() == Some("export_started"))
        .collect();
    // The refused export's start is recorded too once the store came back (it was
    // queued); what matters is that no row left before a record was durable.
    assert!(!started.is_empty());
    assert!(exported
        .iter()
        .any(|e| e.details.as_ref().unwrap()["complete"] == true));
}
