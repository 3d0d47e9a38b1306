//! The NATS JetStream sink and ingest against the real nats-server: delivery in order,
//! copies dropped by message id, the server down then up (nothing lost), a restart
//! mid-stream, and two publishing instances with two ingest consumers filling
//! PostgreSQL with every event exactly once.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use activity_core::sinks::{LogPosition, SinkRunner, SinkState};
use activity_core::{ActivityEvent, ActivityStore, Actor, Recorder};
use activity_sqlx::{NatsIngest, NatsSink, NatsTarget, PgStore, SqliteStore};
use async_nats::jetstream::consumer::{pull, DeliverPolicy};
use futures_util::StreamExt;

/// A nats-server of the test's own, on a free loopback port, killed on drop.
struct OwnServer {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
}

impl OwnServer {
    fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = std::env::temp_dir().join(activity_tests::unique("activity-nats-"));
        std::fs::create_dir_all(&dir).unwrap();
        let mut s = Self {
            child: None,
            port,
            dir,
        };
        s.up();
        s
    }

    fn up(&mut self) {
        let child = Command::new("nats-server")
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-js",
                "-sd",
            ])
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server (Debian's package nats-server) is installed");
        self.child = Some(child);
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("nats-server did not start on port {}", self.port);
    }

    fn down(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn url(&self, stream: &str) -> String {
        format!("nats://127.0.0.1:{}/{stream}?timeout=1000", self.port)
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        self.down();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The shared server of the machine (CI starts it), or `None`.
fn shared_server() -> Option<String> {
    activity_tests::server_url("ACTIVITY_TEST_NATS_URL")
}

async fn sqlite_store(name: &str) -> (Arc<SqliteStore>, PathBuf) {
    let dir = std::env::temp_dir().join(activity_tests::unique(name));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}", dir.join("activity.db").display());
    let store = SqliteStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    (Arc::new(store), dir)
}

fn logins(who: &str, n: usize) -> Vec<ActivityEvent> {
    (0..n)
        .map(|i| ActivityEvent::login_failed(Actor::user(format!("{who}-{i}"))).with_tenant("acme"))
        .collect()
}

/// Every message of `stream` on `server`, as event ids, in stream order.
async fn stream_ids(server: &str, stream: &str) -> Vec<uuid::Uuid> {
    let client = async_nats::connect(server).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let mut s = js.get_stream(stream).await.unwrap();
    let n = s.info().await.unwrap().state.messages as usize;
    let consumer = s
        .create_consumer(pull::Config {
            deliver_policy: DeliverPolicy::All,
            ..Default::default()
        })
        .await
        .unwrap();
    let mut out = Vec::new();
    while out.len() < n {
        let mut batch = consumer
            .fetch()
            .max_messages(n - out.len())
            .expires(Duration::from_secs(2))
            .messages()
            .await
            .unwrap();
        while let Some(m) = batch.next().await {
            let m = m.unwrap();
            let e = ActivityEvent::from_json(std::str::from_utf8(&m.payload).unwrap()).unwrap();
            assert_eq!(
                m.headers
                    .as_ref()
                    .and_then(|h| h.get("Nats-Msg-Id"))
                    .map(|v| v.as_str().to_owned()),
                Some(e.id.to_string()),
                "the event id is the message id"
            );
            out.push(e.id);
        }
    }
    out
}

#[tokio::test]
async fn the_sink_publishes_in_order_and_a_second_delivery_is_dropped_as_a_copy() {
    let Some(server) = shared_server() else {
        return;
    };
    let stream = activity_tests::unique("ORDER_");
    let target: NatsTarget = format!("{server}/{stream}?subject={}.events", stream.to_lowercase())
        .parse()
        .unwrap();
    let (store, dir) = sqlite_store("activity-nats-order-").await;
    let events = logins("u", 120);
    for chunk in events.chunks(7) {
        store.append(chunk).await.unwrap();
    }
    let sink = Arc::new(NatsSink::connect(&target).await.unwrap());
    let runner = SinkRunner::new("bus", store.clone(), sink.clone())
        .unwrap()
        .batch_size(50);
    runner.deliver_available().await.unwrap();
    let want: Vec<_> = events.iter().map(|e| e.id).collect();
    assert_eq!(stream_ids(&server, &stream).await, want, "in commit order");
    // The cursor set back (a crash before it was saved): the batch goes again, and the
    // stream drops every copy by its message id.
    let mut state = store.sink_states().await.unwrap().remove(0);
    state.position = LogPosition::START;
    store.save_sink_state(&state).await.unwrap();
    let runner = SinkRunner::new("bus", store.clone(), sink).unwrap();
    runner.deliver_available().await.unwrap();
    assert_eq!(stream_ids(&server, &stream).await, want, "no copy stored");
    let receipt = runner.receipt().await.unwrap();
    assert_eq!((receipt.lag, receipt.state.kind.as_str()), (0, "nats"));
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn the_server_down_then_up_loses_nothing_and_a_restart_goes_on_from_the_cursor() {
    let mut server = OwnServer::start();
    let target: NatsTarget = server.url("OUTAGE").parse().unwrap();
    let (store, dir) = sqlite_store("activity-nats-outage-").await;
    let events = logins("o", 40);
    store.append(&events).await.unwrap();
    {
        let sink = Arc::new(NatsSink::connect(&target).await.unwrap());
        let runner = SinkRunner::new("bus", store.clone(), sink)
            .unwrap()
            .batch_size(10);
        assert_eq!(runner.deliver_once().await.unwrap().delivered, 10);
        // The process stops here; its successor starts from the stored cursor.
    }
    let sink = Arc::new(NatsSink::connect(&target).await.unwrap());
    let runner = SinkRunner::new("bus", store.clone(), sink)
        .unwrap()
        .batch_size(10);
    assert_eq!(runner.deliver_once().await.unwrap().delivered, 10);
    server.down();
    let failed = runner.deliver_once().await;
    assert!(
        matches!(failed, Err(activity_core::Error::Delivery { .. })),
        "{failed:?}"
    );
    let r = runner.receipt().await.unwrap();
    assert_eq!(
        (r.state.failures, r.lag),
        (1, 20),
        "the failure is on the receipt"
    );
    server.up();
    // The client reconnects by itself; the runner retries until the batch goes.
    let mut tries = 0;
    loop {
        match runner.deliver_once().await {
            Ok(d) if d.read == 0 => break,
            Ok(_) => {}
            Err(_) if tries < 100 => {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("the server is back but delivery fails: {e}"),
        }
    }
    let want: Vec<_> = events.iter().map(|e| e.id).collect();
    let got = stream_ids(&format!("nats://127.0.0.1:{}", server.port), "OUTAGE").await;
    assert_eq!(got, want, "every event once, in order, across the outage");
    let r = runner.receipt().await.unwrap();
    assert_eq!(r.lag, 0);
    assert!(r.state.total_failures >= 1);
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn two_publishing_instances_and_two_ingest_consumers_store_every_event_once() {
    let Some(server) = shared_server() else {
        return;
    };
    let Some(schema) = activity_tests::pg::schema().await else {
        return;
    };
    let stream = activity_tests::unique("FANIN_");
    let url = format!(
        "{server}/{stream}?subject={}.events&consumer=pg",
        stream.to_lowercase()
    );
    let target: NatsTarget = url.parse().unwrap();
    // Two app instances: a recorder on a local SQLite each, a NATS sink each.
    let mut sinks = Vec::new();
    let mut dirs = Vec::new();
    let mut all = Vec::new();
    for who in ["a", "b"] {
        let (local, dir) = sqlite_store("activity-nats-app-").await;
        let (rec, guard) = Recorder::builder(local.clone())
            .lifecycle_events(false)
            .start();
        for e in logins(who, 300) {
            all.push(e.id);
            rec.record(e).unwrap();
        }
        guard.shutdown().await;
        let sink = Arc::new(NatsSink::connect(&target).await.unwrap());
        let running = SinkRunner::new("bus", local.clone(), sink)
            .unwrap()
            .batch_size(64)
            .spawn();
        sinks.push((running, local));
        dirs.push(dir);
    }
    // Two writers into PostgreSQL sharing the stream's durable consumer.
    let pg = Arc::new(PgStore::from_pool(schema.pool.clone()));
    pg.migrate().await.unwrap();
    let mut consumers = Vec::new();
    for _ in 0..2 {
        let ingest = NatsIngest::connect(&target, pg.clone())
            .await
            .unwrap()
            .batch(50)
            .wait(Duration::from_millis(200));
        let pg = pg.clone();
        consumers.push(tokio::spawn(async move {
            let mut taken = 0usize;
            for _ in 0..600 {
                taken += ingest.ingest_once().await.unwrap().messages;
                let stored = pg
                    .count(&activity_core::ActivityQuery::new())
                    .await
                    .unwrap();
                if stored >= 600 {
                    break;
                }
            }
            taken
        }));
    }
    let mut taken = Vec::new();
    for c in consumers {
        taken.push(c.await.unwrap());
    }
    let (rows, distinct): (i64, i64) =
        sqlx::query_as("SELECT COUNT(*), COUNT(DISTINCT id) FROM activity_events")
            .fetch_one(&schema.pool)
            .await
            .unwrap();
    assert_eq!((rows, distinct), (600, 600), "every event once: {taken:?}");
    assert!(
        taken.iter().all(|n| *n > 0),
        "both consumers shared the work: {taken:?}"
    );
    let ids: std::collections::HashSet<uuid::Uuid> = all.iter().copied().collect();
    let stored = pg
        .read_log(LogPosition::START, 10_000)
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.event.id)
        .collect::<std::collections::HashSet<_>>();
    assert_eq!(stored, ids, "the events the instances recorded, no other");
    // One instance publishes everything again (its cursor lost): nothing is stored twice.
    let (running, local) = sinks.remove(0);
    running.stop().await;
    let mut state: SinkState = local.sink_states().await.unwrap().remove(0);
    state.position = LogPosition::START;
    local.save_sink_state(&state).await.unwrap();
    let sink = Arc::new(NatsSink::connect(&target).await.unwrap());
    SinkRunner::new("bus", local.clone(), sink)
        .unwrap()
        .deliver_available()
        .await
        .unwrap();
    let ingest = NatsIngest::connect(&target, pg.clone()).await.unwrap();
    while ingest.ingest_once().await.unwrap().messages > 0 {}
    assert_eq!(
        pg.count(&activity_core::ActivityQuery::new())
            .await
            .unwrap(),
        600
    );
    for (running, _) in sinks {
        running.stop().await;
    }
    for d in dirs {
        std::fs::remove_dir_all(d).unwrap();
    }
    schema.drop().await;
}

#[tokio::test]
async fn a_message_that_is_not_an_event_is_terminated_and_counted() {
    let Some(server) = shared_server() else {
        return;
    };
    let Some(schema) = activity_tests::pg::schema().await else {
        return;
    };
    let stream = activity_tests::unique("HOSTILE_");
    let subject = format!("{}.events", stream.to_lowercase());
    let target: NatsTarget = format!("{server}/{stream}?subject={subject}&consumer=pg")
        .parse()
        .unwrap();
    let pg = Arc::new(PgStore::from_pool(schema.pool.clone()));
    pg.migrate().await.unwrap();
    let ingest = NatsIngest::connect(&target, pg.clone()).await.unwrap();
    let js = async_nats::jetstream::new(async_nats::connect(&server).await.unwrap());
    let good = ActivityEvent::logout(Actor::user("u"));
    for payload in [
        b"{not json".to_vec(),
        br#"{"id":"x","action":"auth.login"}"#.to_vec(),
        vec![0xff, 0xfe, 0x00],
        serde_json::to_vec(&good).unwrap(),
    ] {
        js.publish(subject.clone(), payload.into())
            .await
            .unwrap()
            .await
            .unwrap();
    }
    let mut total = activity_sqlx::IngestedBatch::default();
    loop {
        let b = ingest.ingest_once().await.unwrap();
        if b.messages == 0 {
            break;
        }
        total.messages += b.messages;
        total.stored += b.stored;
        total.rejected += b.rejected;
    }
    assert_eq!((total.messages, total.stored, total.rejected), (4, 1, 3));
    assert_eq!(
        pg.count(&activity_core::ActivityQuery::new())
            .await
            .unwrap(),
        1
    );
    schema.drop().await;
}
