//! HTTP overhead: `cargo bench -p activity-tower --bench http`
//!
//! One run on loopback, the same load generator against seven hello-world axum servers:
//! (a) bare, (b) with tower-http's `TraceLayer` (JSON lines to a file), (c) with
//! `ActivityLayer` and no matching rule, (c2) as (c) with access policies judging every
//! request (`access_everywhere`; a network and a country rule, neither denying), (c3) as
//! (c) with the same policies in force but not judged on requests no rule matches, (d)
//! with `ActivityLayer` recording every request as a login into SQLite, each answered
//! once its events are durable (`Ack::Durable`), (e) as (d) into a store that
//! discards, and (d2) as (d) with `D2_CONNS` clients instead of `CONNS`. The generator
//! keeps `CONNS` keep-alive connections busy for `SECS` seconds each, timing every
//! request; the variants run in rounds, interleaved. (d)'s baseline
//! comes last, in the same run: sqlx's raw multi-row INSERT of as many login rows into a
//! fresh file of the same store.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use activity_core::access::{AccessControl, AccessPolicy, AccessPolicyStore, MemoryPolicyStore};
use activity_core::{
    query::DeleteRequest, ActivityEvent, ActivityQuery, ActivityStore, Page, Recorder,
    RecorderGuard,
};
use activity_sqlx::SqliteStore;
use activity_tower::layer::PeerAddr;
use activity_tower::{ActivityLayer, RouteKind, RouteRule};
use axum::routing::post;
use axum::Router;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tower::ServiceExt;

// The raw multi-row INSERT baseline of the store benches, shared with activity-sqlx.
#[macro_use]
#[path = "../../activity-sqlx/benches/raw/mod.rs"]
mod raw;

const CONNS: usize = 32;

/// (d2): (d) driven by more clients at once. A durable login waits for its batch's
/// commit, so a batch holds at most one login per connection: with `CONNS` clients the
/// store commits at most 64 rows per transaction, a fraction of what it can take per
/// transaction (the raw baseline writes 1,000).
const D2_CONNS: usize = 256;

/// A store that keeps nothing: variant (e) measures the layer and recorder without the
/// database's work.
struct Discard;

#[async_trait::async_trait]
impl ActivityStore for Discard {
    async fn append(&self, events: &[ActivityEvent]) -> activity_core::Result<u64> {
        Ok(events.len() as u64)
    }
    async fn query(&self, _: &ActivityQuery) -> activity_core::Result<Page> {
        Ok(Page::default())
    }
    async fn count(&self, _: &ActivityQuery) -> activity_core::Result<u64> {
        Ok(0)
    }
    async fn delete(&self, _: &DeleteRequest) -> activity_core::Result<u64> {
        Ok(0)
    }
    async fn tenants(&self) -> activity_core::Result<Vec<Option<String>>> {
        Ok(Vec::new())
    }
}

async fn hello() -> &'static str {
    "hello, world"
}

async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap()
    });
    addr
}

/// Sends `POST /login` over one keep-alive connection until `deadline`, timing each.
async fn client(addr: SocketAddr, deadline: Instant) -> Vec<Duration> {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.set_nodelay(true).unwrap();
    let req = b"POST /login HTTP/1.1\r\nHost: bench\r\nUser-Agent: bench/1.0\r\nContent-Length: 0\r\n\r\n";
    let mut buf = vec![0u8; 4096];
    let mut times = Vec::new();
    while Instant::now() < deadline {
        let t = Instant::now();
        s.write_all(req).await.unwrap();
        let mut got = 0;
        loop {
            let n = s.read(&mut buf[got..]).await.unwrap();
            assert!(n > 0, "server closed the connection");
            got += n;
            let text = &buf[..got];
            if let Some(end) = text.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = std::str::from_utf8(&text[..end]).unwrap();
                let len: usize = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse().unwrap())
                    })
                    .unwrap_or(0);
                if got >= end + 4 + len {
                    break;
                }
            }
        }
        times.push(t.elapsed());
    }
    times
}

async fn load(addr: SocketAddr, secs: u64, conns: usize) -> (f64, Duration) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let start = Instant::now();
    let handles: Vec<_> = (0..conns)
        .map(|_| tokio::spawn(client(addr, deadline)))
        .collect();
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.await.unwrap());
    }
    let elapsed = start.elapsed().as_secs_f64();
    all.sort();
    let p99 = all[(all.len() - 1) * 99 / 100];
    (all.len() as f64 / elapsed, p99)
}

/// Mean wall time per request of `app` driven through `oneshot` by 32 tasks at once.
async fn in_process(app: Router, per_task: usize) -> f64 {
    let start = Instant::now();
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move {
                for _ in 0..per_task {
                    let mut req = http::Request::post("/login")
                        .header("user-agent", "bench/1.0")
                        .body(axum::body::Body::empty())
                        .unwrap();
                    req.extensions_mut()
                        .insert(PeerAddr("127.0.0.1:5000".parse().unwrap()));
                    let res = app.clone().oneshot(req).await.unwrap();
                    assert!(res.status().is_success());
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    start.elapsed().as_nanos() as f64 / (32 * per_task) as f64
}

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let secs = if quick { 1 } else { 5 };
    let rounds = if quick { 1 } else { 3 };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let trace_file = std::env::temp_dir().join(format!("activity-bench-trace-{}.log", std::process::id()));
        let file = std::fs::File::create(&trace_file).unwrap();
        tracing_subscriber::fmt()
            .json()
            .with_writer(std::sync::Mutex::new(file))
            .with_max_level(tracing::Level::DEBUG)
            .init();
        let dir = std::env::temp_dir().join(format!("activity-bench-http-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        let store = SqliteStore::connect(&format!("sqlite://{}/bench.db", dir.display())).await.unwrap();
        store.migrate().await.unwrap();
        let (recorder, guard): (Recorder, RecorderGuard) = Recorder::builder(Arc::new(store)).start();

        let bare = serve(Router::new().route("/login", post(hello))).await;
        let traced = serve(
            Router::new()
                .route("/login", post(hello))
                .layer(tower_http::trace::TraceLayer::new_for_http()),
        )
        .await;
        let no_rule = serve(
            Router::new()
                .route("/login", post(hello))
                .layer(ActivityLayer::new(recorder.clone()).rule(RouteRule::post("/signin", RouteKind::Login))),
        )
        .await;
        // Policies that deny other networks and countries: every request is judged, none
        // is denied (the requests come from 127.0.0.1, whose country is unknown).
        let policies = Arc::new(MemoryPolicyStore::new());
        let policy = AccessPolicy::from_json(
            r#"{"rules": [
                {"id": "no-test-net", "network": {"deny": ["203.0.113.0/24", "2001:db8::/32"]}},
                {"id": "no-xx", "country": {"deny": ["XX"], "unknown": "allow"}}
            ]}"#,
        )
        .unwrap();
        policies.put(None, Some(&policy), 0).await.unwrap();
        let control = Arc::new(AccessControl::load(policies).await.unwrap());
        let with_policies = serve(
            Router::new().route("/login", post(hello)).layer(
                ActivityLayer::new(recorder.clone())
                    .rule(RouteRule::post("/signin", RouteKind::Login))
                    .access(control.clone())
                    .access_everywhere()
                    .unwrap(),
            ),
        )
        .await;
        let with_policies_no_rule = serve(
            Router::new().route("/login", post(hello)).layer(
                ActivityLayer::new(recorder.clone())
                    .rule(RouteRule::post("/signin", RouteKind::Login))
                    .access(control.clone()),
            ),
        )
        .await;
        let recording = serve(
            Router::new()
                .route("/login", post(hello))
                .layer(ActivityLayer::new(recorder.clone()).rule(RouteRule::post("/login", RouteKind::Login))),
        )
        .await;
        let (discard_recorder, discard_guard) = Recorder::builder(Arc::new(Discard)).start();
        let discarding = serve(
            Router::new()
                .route("/login", post(hello))
                .layer(ActivityLayer::new(discard_recorder.clone()).rule(RouteRule::post("/login", RouteKind::Login))),
        )
        .await;
        // The layer's own cost, without sockets: 32 tasks drive each router in-process.
        let per_task = if quick { 2_000 } else { 20_000 };
        let layered = |path: &str| {
            Router::new()
                .route("/login", post(hello))
                .layer(ActivityLayer::new(discard_recorder.clone()).rule(RouteRule::post(path, RouteKind::Login)))
        };
        for (name, app) in [
            ("in-process: bare", Router::new().route("/login", post(hello))),
            ("in-process: ActivityLayer, no rule", layered("/signin")),
            (
                "in-process: as (c), policies judging every request",
                Router::new().route("/login", post(hello)).layer(
                    ActivityLayer::new(discard_recorder.clone())
                        .rule(RouteRule::post("/signin", RouteKind::Login))
                        .access(control.clone())
                        .access_everywhere()
                        .unwrap(),
                ),
            ),
            (
                "in-process: as (c), policies in force, no rule",
                Router::new().route("/login", post(hello)).layer(
                    ActivityLayer::new(discard_recorder.clone())
                        .rule(RouteRule::post("/signin", RouteKind::Login))
                        .access(control.clone()),
                ),
            ),
            ("in-process: ActivityLayer, login, store discards", layered("/login")),
        ] {
            println!("{name:50} {:>6.0} ns per request (32 tasks, 2 threads)", in_process(app, per_task).await);
        }
        let variants = [
            ("a bare", bare, CONNS),
            ("b TraceLayer", traced, CONNS),
            ("c ActivityLayer, no rule", no_rule, CONNS),
            ("c2 as c, policies judging every request", with_policies, CONNS),
            ("c3 as c, policies in force, no rule", with_policies_no_rule, CONNS),
            ("d ActivityLayer, login into SQLite", recording, CONNS),
            ("e ActivityLayer, login, store discards", discarding, CONNS),
            ("d2 as d, 256 connections", recording, D2_CONNS),
        ];
        let mut results: Vec<Vec<(f64, Duration)>> = vec![Vec::new(); variants.len()];
        for _ in 0..rounds {
            for (i, (_, addr, conns)) in variants.iter().enumerate() {
                results[i].push(load(*addr, secs, *conns).await);
            }
        }
        recorder.flush().await.unwrap();
        // (d)'s baseline, the same run: the store's practical limit, sqlx's multi-row
        // INSERT of 1,000 login rows per statement and transaction into a fresh file of
        // the same store (as many rows as (d) stored in its rounds, at least 100,000).
        let d_rows = recorder.metrics().written as usize;
        // Logins (d) answered: its rounds' rates times their length.
        let d_logins: f64 = [5, 7]
            .iter()
            .flat_map(|&i| results[i].iter().map(|r| r.0 * secs as f64))
            .sum();
        let raw_min = if quick { 10_000 } else { 100_000 };
        let raw_events: Vec<ActivityEvent> = (0..d_rows.max(raw_min)).map(raw::event).collect();
        let raw_url = format!("sqlite://{}/raw.db", dir.display());
        let raw_rows = raw::raw_sqlite(&raw_url, &raw_events).await;
        let report = guard.shutdown().await;
        let discarded = discard_guard.shutdown().await;
        // The median round of each variant (rounds are interleaved, so a noisy moment
        // hits every variant alike).
        let best = |r: &Vec<(f64, Duration)>| {
            let mut rps: Vec<f64> = r.iter().map(|x| x.0).collect();
            rps.sort_by(f64::total_cmp);
            let mut p99s: Vec<Duration> = r.iter().map(|x| x.1).collect();
            p99s.sort();
            (rps[rps.len() / 2], p99s[p99s.len() / 2])
        };
        let (base_rps, base_p99) = best(&results[0]);
        for (i, (name, _, _)) in variants.iter().enumerate() {
            let (rps, p99) = best(&results[i]);
            println!(
                "{name:38} {rps:>9.0} req/s ({:.2}x bare)  p99 {p99:?} ({:.2}x bare)   rounds: {:?}",
                rps / base_rps,
                p99.as_secs_f64() / base_p99.as_secs_f64(),
                results[i].iter().map(|x| x.0 as u64).collect::<Vec<_>>()
            );
        }
        for (name, i) in [("(d) durable logins", 5), ("(d2) durable logins, 256 connections", 7)] {
            let (d_rps, d_p99) = best(&results[i]);
            println!(
                "{name} {d_rps:.0}/s ({:.0} rows/s) against raw INSERT {raw_rows:.0} rows/s ({} rows): {:.2}x (target 0.45x); p99 {d_p99:?}, bare {base_p99:?}",
                d_rps * d_rows as f64 / d_logins.max(1.0),
                raw_events.len(),
                d_rps / raw_rows,
            );
        }
        println!(
            "recorder: {} events written, {} refused, {} retried",
            report.metrics.written, report.metrics.refused, report.metrics.retried
        );
        println!(
            "discarding recorder: {} events taken, {} refused",
            discarded.metrics.written, discarded.metrics.refused
        );
        let _ = std::fs::remove_dir_all(dir);
        let _ = std::fs::remove_file(trace_file);
    });
}
