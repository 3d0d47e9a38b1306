//! A login server with the activity layer on a SQLite file, for the crash tests
//! (`tests/crash.rs`): `login_server <db path> [queued]` serves `POST /login` on a free
//! loopback port and prints `listening <addr>` once it accepts connections. The
//! password `ok` logs in (200 and a session cookie), anything else is refused (401).
//! With `queued` the login route uses `Ack::Queued` (the old behaviour), to show what
//! durable acknowledgement prevents.
//!
//! `login_server postgres <url> <table prefix> <spool path>` writes to PostgreSQL instead
//! (through the test's TCP proxy), spooling to the SQLite file at the spool path while
//! the database is unreachable.

use std::sync::Arc;
use std::time::Duration;

use activity_core::recorder::OutagePolicy;
use activity_core::spool::Spool;
use activity_core::ActivityStore;
use activity_core::Recorder;
use activity_sqlx::{PgOptions, PgStore, SqliteOptions, SqliteSpool, SqliteStore};
use activity_tower::{Ack, ActivityLayer, RouteKind, RouteRule};
use axum::http::{header::SET_COOKIE, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use axum::Router;

async fn login(body: String) -> axum::response::Response {
    if body.contains("password=ok") {
        (
            StatusCode::OK,
            [(SET_COOKIE, "sid=s3cr3t; HttpOnly")],
            "welcome",
        )
            .into_response()
    } else {
        StatusCode::UNAUTHORIZED.into_response()
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("usage: login_server <db path> [queued]");
    let mut ack = Ack::Durable;
    let (store, spool): (Arc<dyn ActivityStore>, Option<Arc<dyn Spool>>) = if path == "postgres" {
        let url = args.next().expect("a PostgreSQL URL");
        let prefix = args.next().expect("a table prefix");
        let spool_path = args.next().expect("a spool path");
        let store = PgStore::connect_with(
            PgOptions::new(url)
                .prefix(prefix)
                .acquire_timeout(Duration::from_millis(300)),
        )
        .await
        .expect("connect to PostgreSQL");
        store.migrate().await.expect("migrate");
        let spool = SqliteSpool::open(spool_path, activity_sqlx::DEFAULT_SPOOL_CAPACITY)
            .await
            .expect("open the spool");
        (Arc::new(store), Some(Arc::new(spool)))
    } else {
        if args.next().as_deref() == Some("queued") {
            ack = Ack::Queued;
        }
        let url = format!("sqlite://{path}?mode=rwc");
        let store = SqliteStore::connect_with(
            SqliteOptions::new(url).busy_timeout(Duration::from_millis(200)),
        )
        .await
        .expect("open the SQLite file");
        store.migrate().await.expect("migrate");
        (Arc::new(store), None)
    };
    let mut builder = Recorder::builder(store);
    if let Some(spool) = spool {
        builder = builder.spool(spool);
    }
    let (recorder, _guard) = builder
        .outage_policy(OutagePolicy::FailClosed)
        .backoff(activity_core::recorder::Backoff {
            initial: Duration::from_millis(20),
            max: Duration::from_millis(200),
        })
        .start();
    let layer = ActivityLayer::new(recorder)
        .ack(ack)
        .durable_deadline(Duration::from_secs(1))
        .unavailable_retry_after(Duration::from_secs(1))
        .rule(RouteRule::post("/login", RouteKind::Login));
    let app = Router::new().route("/login", post(login)).layer(layer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    println!("listening {}", listener.local_addr().unwrap());
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .await
    .unwrap();
}
