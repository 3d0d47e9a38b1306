//! A login server with the activity layer on a SQLite file, for the crash tests
//! (`tests/crash.rs`): `login_server <db path> [queued]` serves `POST /login` on a free
//! loopback port and prints `listening <addr>` once it accepts connections. The
//! password `ok` logs in (200 and a session cookie), anything else is refused (401).
//! With `queued` the login route uses `Ack::Queued` (the old behaviour), to show what
//! durable acknowledgement prevents.

use std::sync::Arc;
use std::time::Duration;

use activity_core::recorder::OutagePolicy;
use activity_core::Recorder;
use activity_sqlx::{SqliteOptions, SqliteStore};
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
    let ack = match args.next().as_deref() {
        Some("queued") => Ack::Queued,
        _ => Ack::Durable,
    };
    let url = format!("sqlite://{path}?mode=rwc");
    let store =
        SqliteStore::connect_with(SqliteOptions::new(url).busy_timeout(Duration::from_millis(200)))
            .await
            .expect("open the SQLite file");
    store.migrate().await.expect("migrate");
    let (recorder, _guard) = Recorder::builder(Arc::new(store))
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
