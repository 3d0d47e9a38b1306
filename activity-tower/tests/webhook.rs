//! The webhook sink against real receiving servers on loopback sockets: an axum app that
//! answers with scripted statuses, and a bare listener that accepts and never answers.
//! Timeouts and backoffs are configured in milliseconds; no test sleeps to wait.
#![cfg(feature = "webhook")]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use activity_core::{
    alerts::Alert, alerts::AlertEngine, alerts::AlertSink, alerts::FailedLogins, alerts::Severity,
    ActivityEvent, ActivityQuery, ActivityStore, Actor, ManualClock, MemoryStore, Recorder, Source,
};
use activity_tower::webhook::{
    verify_signature, WebhookSink, WebhookStats, ATTEMPT_HEADER, DELIVERY_HEADER, SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use chrono::{TimeZone, Utc};
use tokio::net::TcpListener;

const SECRET: &[u8] = b"webhook secret for the tests, 32b";

#[derive(Clone, Default)]
struct Receiver {
    script: Arc<Mutex<VecDeque<u16>>>,
    seen: Arc<Mutex<Vec<(HeaderMap, Bytes)>>>,
}

impl Receiver {
    fn seen(&self) -> Vec<(HeaderMap, Bytes)> {
        self.seen.lock().unwrap().clone()
    }
}

async fn hook(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    r.seen.lock().unwrap().push((headers, body));
    let code = r.script.lock().unwrap().pop_front().unwrap_or(200);
    StatusCode::from_u16(code).unwrap()
}

/// A receiver answering with `script` in turn (then 200), and its URL.
async fn receiver(script: &[u16]) -> (Receiver, String) {
    let r = Receiver {
        script: Arc::new(Mutex::new(script.iter().copied().collect())),
        ..Receiver::default()
    };
    let app = Router::new()
        .route("/hook", post(hook))
        .with_state(r.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (r, format!("http://{addr}/hook"))
}

/// A listener that accepts connections, reads nothing, answers nothing and keeps them
/// open; returns its URL and the count of connections accepted.
async fn hung() -> (String, Arc<Mutex<usize>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let accepted = Arc::new(Mutex::new(0usize));
    let a2 = accepted.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            *a2.lock().unwrap() += 1;
            held.push(s);
        }
    });
    (format!("http://{addr}/hook"), accepted)
}

fn alert(account: &str) -> Alert {
    Alert {
        rule: "failed_logins".into(),
        severity: Severity::High,
        account: Some(account.into()),
        tenant: Some("acme".into()),
        evidence: vec![uuid::Uuid::now_v7()],
        message: format!("5 failed logins for account {account} within 15 minutes"),
        time: Utc.with_ymd_and_hms(2026, 11, 24, 9, 4, 0).unwrap(),
        trigger: uuid::Uuid::now_v7(),
    }
}

fn fast(url: &str) -> activity_tower::webhook::WebhookBuilder {
    WebhookSink::builder(url, SECRET)
        .timeout(Duration::from_secs(5))
        .backoff(Duration::from_millis(1), Duration::from_millis(4))
}

/// Waits for the sink to finish, with a generous guard so a bug fails instead of hanging.
async fn settle(sink: &WebhookSink) -> WebhookStats {
    tokio::time::timeout(Duration::from_secs(20), sink.idle())
        .await
        .expect("the sink settles");
    sink.stats()
}

#[tokio::test]
async fn the_post_is_signed_json_and_the_signature_verifies() {
    let (r, url) = receiver(&[]).await;
    let now = Utc.with_ymd_and_hms(2026, 11, 24, 9, 5, 0).unwrap();
    let sink = fast(&url).clock(ManualClock::new(now)).start().unwrap();
    let a = alert("bob");
    sink.deliver(&a).await;
    let stats = settle(&sink).await;
    assert_eq!((stats.delivered, stats.failed, stats.pending), (1, 0, 0));
    let seen = r.seen();
    assert_eq!(seen.len(), 1);
    let (h, body) = &seen[0];
    assert_eq!(h["content-type"], "application/json");
    let ts = h[TIMESTAMP_HEADER].to_str().unwrap();
    assert_eq!(
        ts,
        now.timestamp().to_string(),
        "stamped by the injected clock"
    );
    let sig = h[SIGNATURE_HEADER].to_str().unwrap();
    assert!(sig.starts_with("sha256="));
    let five = Duration::from_secs(300);
    assert!(verify_signature(SECRET, ts, sig, body, now, five));
    // Not with another secret, a changed body, or replayed ten minutes later.
    assert!(!verify_signature(
        b"some other secret of 16+ bytes",
        ts,
        sig,
        body,
        now,
        five
    ));
    let mut tampered = body.to_vec();
    tampered[1] ^= 1;
    assert!(!verify_signature(SECRET, ts, sig, &tampered, now, five));
    let later = now + chrono::Duration::minutes(10);
    assert!(!verify_signature(SECRET, ts, sig, body, later, five));
    // The body is the alert, plus the id of its alert.raised event.
    let json: serde_json::Value = serde_json::from_slice(body).unwrap();
    let id = a.to_event().id.to_string();
    assert_eq!(json["id"], id.as_str());
    assert_eq!(h[DELIVERY_HEADER], id.as_str());
    assert_eq!(h[ATTEMPT_HEADER], "1");
    assert_eq!(json["rule"], "failed_logins");
    assert_eq!(json["severity"], "high");
    assert_eq!(json["account"], "bob");
    assert_eq!(json["tenant"], "acme");
    assert_eq!(json["trigger"], a.trigger.to_string().as_str());
    assert_eq!(json["evidence"][0], a.evidence[0].to_string().as_str());
}

#[tokio::test]
async fn retries_a_500_then_succeeds() {
    let (r, url) = receiver(&[500, 503]).await;
    let sink = fast(&url).retries(3).start().unwrap();
    sink.deliver(&alert("bob")).await;
    let stats = settle(&sink).await;
    assert_eq!((stats.delivered, stats.retried, stats.failed), (1, 2, 0));
    let seen = r.seen();
    assert_eq!(seen.len(), 3);
    let attempts: Vec<_> = seen
        .iter()
        .map(|(h, _)| h[ATTEMPT_HEADER].clone())
        .collect();
    assert_eq!(attempts, ["1", "2", "3"]);
    // One delivery id throughout, and every attempt signed afresh and valid.
    let id = &seen[0].0[DELIVERY_HEADER];
    for (h, body) in &seen {
        assert_eq!(&h[DELIVERY_HEADER], id);
        assert!(verify_signature(
            SECRET,
            h[TIMESTAMP_HEADER].to_str().unwrap(),
            h[SIGNATURE_HEADER].to_str().unwrap(),
            body,
            Utc::now(),
            Duration::from_secs(300)
        ));
    }
}

#[tokio::test]
async fn gives_up_after_the_configured_retries() {
    let (r, url) = receiver(&[500; 10]).await;
    let sink = fast(&url).retries(2).start().unwrap();
    sink.deliver(&alert("bob")).await;
    let stats = settle(&sink).await;
    assert_eq!((stats.delivered, stats.retried, stats.failed), (0, 2, 1));
    assert_eq!(r.seen().len(), 3, "one try and two retries, then no more");
    // The sink carries on with the next alert.
    sink.deliver(&alert("carol")).await;
    let stats = settle(&sink).await;
    assert_eq!(stats.failed, 2);
    assert_eq!(r.seen().len(), 6);
}

#[tokio::test]
async fn a_4xx_is_not_retried_but_429_is() {
    let (r, url) = receiver(&[400, 401, 429]).await;
    let sink = fast(&url).retries(5).start().unwrap();
    sink.deliver(&alert("bob")).await;
    sink.deliver(&alert("carol")).await;
    let stats = settle(&sink).await;
    assert_eq!((stats.delivered, stats.retried, stats.failed), (0, 0, 2));
    assert_eq!(r.seen().len(), 2, "each sent once");
    sink.deliver(&alert("dave")).await;
    let stats = settle(&sink).await;
    assert_eq!((stats.delivered, stats.retried), (1, 1), "429 then 200");
}

#[tokio::test]
async fn connection_refused_is_retried_then_fails() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let sink = fast(&format!("http://{addr}/hook"))
        .retries(2)
        .start()
        .unwrap();
    sink.deliver(&alert("bob")).await;
    let stats = settle(&sink).await;
    assert_eq!((stats.delivered, stats.retried, stats.failed), (0, 2, 1));
}

#[tokio::test]
async fn the_timeout_is_honoured() {
    let (url, accepted) = hung().await;
    let sink = WebhookSink::builder(&url, SECRET)
        .timeout(Duration::from_millis(50))
        .retries(1)
        .backoff(Duration::from_millis(1), Duration::from_millis(1))
        .start()
        .unwrap();
    sink.deliver(&alert("bob")).await;
    // The endpoint never answers; the sink gives up on its own (the guard in `settle` is
    // far longer than two 50 ms attempts).
    let stats = settle(&sink).await;
    assert_eq!((stats.delivered, stats.retried, stats.failed), (0, 1, 1));
    assert_eq!(
        *accepted.lock().unwrap(),
        2,
        "two attempts, two connections"
    );
}

#[tokio::test]
async fn a_hung_endpoint_never_blocks_the_recorder() {
    let (url, accepted) = hung().await;
    // An hour-long timeout: the endpoint holds the first alert for as long as the test.
    let webhook = WebhookSink::builder(&url, SECRET)
        .timeout(Duration::from_secs(3600))
        .queue_capacity(2)
        .start()
        .unwrap();
    let engine = AlertEngine::new()
        .rule(FailedLogins::default())
        .sink(webhook.clone())
        .queue_capacity(16);
    let store = Arc::new(MemoryStore::new());
    let (rec, guard) = Recorder::builder(store.clone())
        .after_commit(engine)
        .lifecycle_events(false)
        .start();
    let t0 = Utc.with_ymd_and_hms(2026, 11, 24, 9, 0, 0).unwrap();
    let accounts = 8;
    for n in 0..accounts {
        for i in 0..5 {
            rec.record(
                ActivityEvent::login_failed(Actor::user(format!("user{n}")))
                    .with_time(t0 + chrono::Duration::minutes(i))
                    .with_source(Source::ip("81.2.69.142".parse().unwrap())),
            )
            .unwrap();
        }
        // Each account's burst is committed (and its alert raised) before the next.
        tokio::time::timeout(Duration::from_secs(10), rec.flush())
            .await
            .expect("flush is not held up by the webhook")
            .unwrap();
    }
    let stored = store
        .query(&ActivityQuery::new().action("alert.raised"))
        .await
        .unwrap()
        .events;
    assert_eq!(stored.len(), accounts, "every alert is in the audit log");
    // The sink accounts for every alert: one being sent (hung), up to two queued, the
    // rest dropped and counted — none lost without a trace.
    let mut stats = webhook.stats();
    for _ in 0..1000 {
        if stats.pending + stats.dropped == accounts as u64 {
            break;
        }
        tokio::task::yield_now().await;
        stats = webhook.stats();
    }
    assert_eq!(stats.delivered + stats.failed, 0);
    assert_eq!(stats.pending + stats.dropped, accounts as u64, "{stats:?}");
    assert!(stats.pending <= 3 && stats.dropped >= 5, "{stats:?}");
    assert!(*accepted.lock().unwrap() >= 1);
    // Recording still works, and shutting down does not wait for the webhook either.
    rec.record(ActivityEvent::logout(Actor::user("user0")))
        .unwrap();
    tokio::time::timeout(Duration::from_secs(10), guard.shutdown())
        .await
        .expect("shutdown is not held up by the webhook");
}

/// Issue 23, item 2: a signed checkpoint "can also be delivered to a webhook". The
/// checkpoint job posts each checkpoint it writes, signed like an alert; the receiver's
/// copy verifies with the public key alone.
#[tokio::test]
async fn a_signed_checkpoint_is_posted_and_verifies_with_the_public_key() {
    use activity_core::chain::{ChainKey, ChainSealer};
    use activity_core::signed::{CheckpointWriter, SignedCheckpoint, SigningKey};
    let (r, url) = receiver(&[503]).await;
    let sink = fast(&url).retries(2).start().unwrap();
    let store = Arc::new(MemoryStore::new());
    let key = ChainKey::keyed(b"the chain key of the webhook test").unwrap();
    let (rec, guard) = Recorder::builder(store.clone())
        .sealer(ChainSealer::new("web-1", key.clone()))
        .start();
    rec.record(ActivityEvent::logout(Actor::user("u_1")))
        .unwrap();
    guard.shutdown().await;
    let signer = SigningKey::from_seed(&[3; 32]);
    let public = signer.public_key();
    let dir = std::env::temp_dir().join(format!("activity-cp-hook-{}", uuid::Uuid::now_v7()));
    let writer = CheckpointWriter::new(store, key, signer, &dir).sink(Arc::new(sink.clone()));
    let written = writer.run_once().await.unwrap();
    let stats = settle(&sink).await;
    assert_eq!(
        (stats.delivered, stats.failed),
        (1, 0),
        "delivered after one retry"
    );
    let seen = r.seen();
    assert_eq!(seen.len(), 2, "a 503, then the delivery");
    let (h, body) = &seen[1];
    assert_eq!(h[DELIVERY_HEADER], "checkpoint-1");
    let ts = h[TIMESTAMP_HEADER].to_str().unwrap();
    let sig = h[SIGNATURE_HEADER].to_str().unwrap();
    assert!(verify_signature(
        SECRET,
        ts,
        sig,
        body,
        Utc::now(),
        Duration::from_secs(300)
    ));
    let received: SignedCheckpoint = serde_json::from_slice(body).unwrap();
    assert_eq!(received, written, "the checkpoint file's content");
    assert!(received.is_signed_by(&public));
    assert_eq!(received.chains.len(), 1);
    std::fs::remove_dir_all(&dir).unwrap();
}
