//! The NATS sink's rate: `cargo bench -p activity-sqlx --features nats --bench nats`
//!
//! One run against the nats-server of `ACTIVITY_TEST_NATS_URL` (default
//! `nats://127.0.0.1:4222`, JetStream on): `EVENTS` login events, each the same JSON
//! payload the sink sends, in `ROUNDS` interleaved rounds of
//! - **raw**: the async-nats client publishing them to a fresh stream, `BATCH` at a time
//!   (the batch sent, then its acknowledgements awaited), each with its `Nats-Msg-Id`:
//!   the client's own rate for the same messages;
//! - **sink**: a `SinkRunner` delivering the same events from a SQLite store (filled
//!   before the clock starts) through `NatsSink`, `BATCH` per read, to a fresh stream:
//!   reading the log, encoding, publishing, awaiting acknowledgements, saving the cursor
//!   (`deliver_available`: the next batch read and the cursor saved while one is sent).
//!
//! Prints events/s per round and the medians' ratio (target ≥ 0.8×).

use std::sync::Arc;
use std::time::Instant;

use activity_core::sinks::{SinkFormat, SinkRunner};
use activity_core::{ActivityEvent, ActivityStore, Actor};
use activity_sqlx::{NatsSink, NatsTarget, SqliteStore};
use async_nats::jetstream::message::PublishMessage;

const EVENTS: usize = 50_000;
const BATCH: usize = 1_000;
const ROUNDS: usize = 5;

fn events() -> Vec<ActivityEvent> {
    (0..EVENTS)
        .map(|i| {
            ActivityEvent::login_failed(Actor::user(format!("user-{}", i % 5_000)))
                .with_tenant("acme")
                .with_ip("81.2.69.142".parse().unwrap())
                .with_reason("bad_password")
        })
        .collect()
}

fn target(server: &str, name: &str) -> NatsTarget {
    format!("{server}/{name}?subject={}.events", name.to_lowercase())
        .parse()
        .unwrap()
}

async fn raw(server: &str, name: &str, events: &[ActivityEvent]) -> f64 {
    let t = target(server, name);
    let client = async_nats::connect(server).await.unwrap();
    let js = async_nats::jetstream::new(client);
    js.get_or_create_stream(async_nats::jetstream::stream::Config {
        name: t.stream.clone(),
        subjects: vec![t.subject.clone()],
        ..Default::default()
    })
    .await
    .unwrap();
    let payloads: Vec<(String, bytes::Bytes)> = events
        .iter()
        .map(|e| (e.id.to_string(), SinkFormat::Json.encode(e).unwrap().into()))
        .collect();
    let start = Instant::now();
    for chunk in payloads.chunks(BATCH) {
        let mut acks = Vec::with_capacity(chunk.len());
        for (id, body) in chunk {
            let m = PublishMessage::build().payload(body.clone()).message_id(id);
            acks.push(std::future::IntoFuture::into_future(
                js.send_publish(t.subject.clone(), m).await.unwrap(),
            ));
        }
        for a in futures_util::future::join_all(acks).await {
            a.unwrap();
        }
    }
    let rate = events.len() as f64 / start.elapsed().as_secs_f64();
    js.delete_stream(&t.stream).await.unwrap();
    rate
}

async fn sink(server: &str, name: &str, store: Arc<SqliteStore>) -> f64 {
    let t = target(server, name);
    let sink = Arc::new(NatsSink::connect(&t).await.unwrap());
    let runner = SinkRunner::new(name, store, sink)
        .unwrap()
        .batch_size(BATCH);
    let start = Instant::now();
    let n = runner.deliver_available().await.unwrap().delivered;
    let rate = n as f64 / start.elapsed().as_secs_f64();
    assert_eq!(n, EVENTS);
    let client = async_nats::connect(server).await.unwrap();
    async_nats::jetstream::new(client)
        .delete_stream(&t.stream)
        .await
        .unwrap();
    rate
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let server =
        std::env::var("ACTIVITY_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let events = events();
        let dir = std::env::temp_dir().join(format!("activity-bench-nats-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}", dir.join("activity.db").display());
        let store = Arc::new(SqliteStore::connect(&url).await.unwrap());
        store.migrate().await.unwrap();
        for chunk in events.chunks(1_000) {
            store.append(chunk).await.unwrap();
        }
        if std::env::var("NATS_BENCH_PROFILE").is_ok() {
            let t = Instant::now();
            let mut pos = activity_core::sinks::LogPosition::START;
            loop {
                let b = store.read_log(pos, BATCH).await.unwrap();
                let Some(l) = b.last() else { break };
                pos = l.position;
            }
            println!("read_log alone: {:.0} events/s", EVENTS as f64 / t.elapsed().as_secs_f64());
            let t = Instant::now();
            for e in &events {
                std::hint::black_box(SinkFormat::Json.encode(e).unwrap());
            }
            println!("encode alone: {:.0} events/s", EVENTS as f64 / t.elapsed().as_secs_f64());
            let t = Instant::now();
            let st = activity_core::sinks::SinkState::new("p", "x");
            for _ in 0..50 {
                store.save_sink_state(&st).await.unwrap();
            }
            println!("save_sink_state: {:.2} ms each", t.elapsed().as_secs_f64() * 1000.0 / 50.0);
        }
        let run = uuid::Uuid::now_v7().simple().to_string();
        let (mut raws, mut sinks) = (Vec::new(), Vec::new());
        for round in 0..ROUNDS {
            let r = raw(&server, &format!("BENCH_RAW_{run}_{round}"), &events).await;
            // Each round's sink reads the whole log again under a new cursor name.
            let s = sink(&server, &format!("BENCH_SINK_{run}_{round}"), store.clone()).await;
            println!("round {round}: raw publish {r:>9.0} events/s   sink {s:>9.0} events/s   {:.2}×", s / r);
            raws.push(r);
            sinks.push(s);
        }
        let (r, s) = (median(raws), median(sinks));
        println!(
            "NATS sink: {s:.0} events/s; raw async-nats publish of the same messages: {r:.0} events/s; {:.2}× (target ≥ 0.8×), {EVENTS} events, batches of {BATCH}",
            s / r
        );
        std::fs::remove_dir_all(dir).unwrap();
    });
}
