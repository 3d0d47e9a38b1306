//! The HTTP sink against real receivers on loopback sockets: an axum app that records
//! every request and answers with scripted statuses, a bare listener that never answers,
//! and a port nobody listens on. Timeouts are configured in milliseconds; no test sleeps.
#![cfg(feature = "webhook")]

use std::collections::{HashMap, VecDeque};
use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use activity_core::sinks::{Sink, SinkFormat, SinkRunner};
use activity_core::{ActivityEvent, ActivityStore, Actor, Error, ErrorKind, MemoryStore};
use activity_tower::webhook::{
    verify_signature, ATTEMPT_HEADER, DELIVERY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER,
};
use activity_tower::{HttpBody, HttpSink};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use chrono::{TimeZone, Utc};
use serde_json::Value;
use tokio::net::TcpListener;

const SECRET: &[u8] = b"http sink secret for the tests, 32b";
const TOKEN: &str = "1f2e3d4c-5b6a-7980-a1b2-c3d4e5f60718";

/// One request as the receiver got it, and the status it answered.
#[derive(Clone, Debug)]
struct Seen {
    headers: HeaderMap,
    body: Bytes,
    status: u16,
}

impl Seen {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("no {name} header"))
            .to_str()
            .unwrap()
    }

    /// The body as the receiver reads it: gunzipped when it says gzip.
    fn plain(&self) -> Vec<u8> {
        match self.headers.get("content-encoding") {
            Some(v) if v == "gzip" => {
                let mut out = Vec::new();
                flate2::read::GzDecoder::new(&self.body[..])
                    .read_to_end(&mut out)
                    .unwrap();
                out
            }
            Some(other) => panic!("unexpected content-encoding {other:?}"),
            None => self.body.to_vec(),
        }
    }

    /// The JSON Lines body's events.
    fn events(&self) -> Vec<ActivityEvent> {
        let text = String::from_utf8(self.plain()).unwrap();
        assert!(text.ends_with('\n'), "{text}");
        text.lines()
            .map(|l| ActivityEvent::from_json(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }

    /// Whether the signature verifies over the body bytes as received.
    fn signed(&self) -> bool {
        verify_signature(
            SECRET,
            self.header(TIMESTAMP_HEADER),
            self.header(SIGNATURE_HEADER),
            &self.body,
            Utc::now(),
            Duration::from_secs(300),
        )
    }
}

#[derive(Clone, Default)]
struct Receiver {
    script: Arc<Mutex<VecDeque<u16>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Receiver {
    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Answers with these statuses next (then 200).
    fn answer(&self, codes: &[u16]) {
        self.script.lock().unwrap().extend(codes);
    }
}

async fn ingest(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let status = r.script.lock().unwrap().pop_front().unwrap_or(200);
    r.seen.lock().unwrap().push(Seen {
        headers,
        body,
        status,
    });
    StatusCode::from_u16(status).unwrap()
}

/// A receiver answering 200 unless scripted otherwise, and its URL.
async fn receiver() -> (Receiver, String) {
    let r = Receiver::default();
    let app = Router::new()
        .route("/ingest", post(ingest))
        .with_state(r.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (r, format!("http://{addr}/ingest"))
}

/// A varied batch: several actions, tenants, and times with milliseconds.
fn events(n: usize) -> Vec<ActivityEvent> {
    let base = Utc.with_ymd_and_hms(2026, 11, 24, 9, 0, 0).unwrap();
    (0..n)
        .map(|i| {
            let user = format!("u_{i}");
            let e = match i % 3 {
                0 => ActivityEvent::login_succeeded(Actor::user(&user)),
                1 => ActivityEvent::login_failed(Actor::user(&user)).with_reason("bad password"),
                _ => ActivityEvent::logout(Actor::user(&user)).with_tenant("acme"),
            };
            e.with_time(base + chrono::Duration::milliseconds(1_000 * i as i64 + 123))
        })
        .collect()
}

fn assert_delivery_error(e: &Error) {
    assert_eq!(e.kind(), ErrorKind::Unavailable, "{e:?}");
    assert!(
        matches!(e, Error::Delivery { sink, .. } if sink == "http"),
        "{e:?}"
    );
    assert!(e.is_retryable());
}

#[tokio::test]
async fn json_lines_batch_arrives_whole_and_signed() {
    let (r, url) = receiver().await;
    let sink = HttpSink::builder(&url)
        .secret(SECRET)
        .header("x-tenant", "acme")
        .build()
        .unwrap();
    assert_eq!(sink.kind(), "http");
    let batch = events(7);
    sink.deliver(&batch).await.unwrap();

    let seen = r.seen();
    assert_eq!(seen.len(), 1);
    let req = &seen[0];
    assert_eq!(req.header("content-type"), "application/x-ndjson");
    assert!(req.headers.get("content-encoding").is_none());
    assert!(req.headers.get("authorization").is_none());
    assert_eq!(req.header("x-tenant"), "acme");
    assert_eq!(req.header(ATTEMPT_HEADER), "1");
    assert!(req.header(DELIVERY_HEADER).starts_with("batch-"));
    assert_eq!(req.events(), batch);
    assert!(req.signed(), "the signature verifies as a webhook's");
    // Not over another body.
    let mut tampered = req.clone();
    tampered.body = Bytes::from(req.body[1..].to_vec());
    assert!(!tampered.signed());
}

#[tokio::test]
async fn ocsf_lines_carry_ocsf_events() {
    let (r, url) = receiver().await;
    let sink = HttpSink::builder(&url)
        .body(HttpBody::OcsfLines)
        .build()
        .unwrap();
    let batch = events(3);
    sink.deliver(&batch).await.unwrap();
    let req = &r.seen()[0];
    assert_eq!(req.header("content-type"), "application/x-ndjson");
    // Unsigned without a secret.
    assert!(req.headers.get(SIGNATURE_HEADER).is_none());
    let text = String::from_utf8(req.plain()).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    for (line, e) in lines.iter().zip(&batch) {
        assert_eq!(line, &SinkFormat::Ocsf.to_value(e).unwrap());
        assert_eq!(line["class_uid"], 3002);
    }
}

#[tokio::test]
async fn gzip_body_gunzips_to_the_same_lines_and_is_signed_as_sent() {
    let (r, url) = receiver().await;
    let sink = HttpSink::builder(&url)
        .secret(SECRET)
        .gzip(true)
        .build()
        .unwrap();
    let batch = events(20);
    sink.deliver(&batch).await.unwrap();

    let req = &r.seen()[0];
    assert_eq!(req.header("content-encoding"), "gzip");
    assert_eq!(req.header("content-type"), "application/x-ndjson");
    assert_eq!(&req.body[..2], &[0x1f, 0x8b], "a gzip stream");
    assert_eq!(req.events(), batch);
    // The signature covers the compressed bytes, as received.
    assert!(req.signed());
    let plain = Seen {
        body: Bytes::from(req.plain()),
        ..req.clone()
    };
    assert!(!plain.signed(), "not the uncompressed ones");
    // And the lines are exactly those of the uncompressed sink.
    let (r2, url2) = receiver().await;
    let raw = HttpSink::builder(&url2).build().unwrap();
    raw.deliver(&batch).await.unwrap();
    assert_eq!(req.plain(), r2.seen()[0].body.to_vec());
}

#[tokio::test]
async fn splunk_hec_events_with_token_and_metadata() {
    let (r, url) = receiver().await;
    let sink = HttpSink::builder(&url)
        .body(HttpBody::SplunkHec(SinkFormat::Json))
        .hec_token(TOKEN)
        .hec_index("audit")
        .hec_host("web-1")
        .secret(SECRET)
        .build()
        .unwrap();
    assert!(!format!("{sink:?}").contains(TOKEN));
    let batch = events(5);
    sink.deliver(&batch).await.unwrap();

    let req = &r.seen()[0];
    assert_eq!(req.header("authorization"), format!("Splunk {TOKEN}"));
    assert_eq!(req.header("content-type"), "application/json");
    assert!(req.signed());
    let objects: Vec<Value> = serde_json::Deserializer::from_slice(&req.body)
        .into_iter::<Value>()
        .map(Result::unwrap)
        .collect();
    assert_eq!(objects.len(), batch.len());
    for (o, e) in objects.iter().zip(&batch) {
        let keys: Vec<&str> = o.as_object().unwrap().keys().map(String::as_str).collect();
        for k in ["event", "time", "sourcetype", "source", "index", "host"] {
            assert!(keys.contains(&k), "{k} missing in {o}");
        }
        assert_eq!(o["sourcetype"], "activity:event");
        assert_eq!(o["source"], "activity");
        assert_eq!(o["index"], "audit");
        assert_eq!(o["host"], "web-1");
        let time = o["time"].as_f64().unwrap();
        assert!(o["time"].is_f64(), "a JSON number with a fraction: {o}");
        assert_eq!(time, e.time.timestamp_millis() as f64 / 1000.0);
        assert_eq!(
            ActivityEvent::from_json(&o["event"].to_string()).unwrap(),
            *e
        );
    }

    // OCSF events inside, gzipped, a sourcetype of the app's own; no index or host.
    let (r, url) = receiver().await;
    let ocsf = HttpSink::builder(&url)
        .body(HttpBody::SplunkHec(SinkFormat::Ocsf))
        .hec_token(TOKEN)
        .gzip(true)
        .build()
        .unwrap();
    ocsf.deliver(&batch[..2]).await.unwrap();
    let req = &r.seen()[0];
    assert_eq!(req.header("authorization"), format!("Splunk {TOKEN}"));
    let plain = req.plain();
    let objects: Vec<Value> = serde_json::Deserializer::from_slice(&plain)
        .into_iter::<Value>()
        .map(Result::unwrap)
        .collect();
    assert_eq!(objects.len(), 2);
    for o in &objects {
        assert_eq!(o["sourcetype"], "ocsf");
        assert_eq!(o["event"]["class_uid"], 3002);
        assert!(o.get("index").is_none() && o.get("host").is_none(), "{o}");
    }
    let custom = HttpSink::builder(&url)
        .body(HttpBody::SplunkHec(SinkFormat::Ocsf))
        .hec_token(TOKEN)
        .hec_sourcetype("myapp:ocsf")
        .build()
        .unwrap();
    custom.deliver(&batch[..1]).await.unwrap();
    let last: Value = serde_json::from_slice(&r.seen()[1].body).unwrap();
    assert_eq!(last["sourcetype"], "myapp:ocsf");
}

#[tokio::test]
async fn a_503_is_an_unavailable_error_then_ok_once_the_receiver_is_up() {
    let (r, url) = receiver().await;
    r.answer(&[503]);
    let sink = HttpSink::builder(&url).secret(SECRET).build().unwrap();
    let batch = events(4);
    let e = sink.deliver(&batch).await.unwrap_err();
    assert_delivery_error(&e);
    assert!(e.to_string().contains("503"), "{e}");
    sink.deliver(&batch).await.unwrap();

    let seen = r.seen();
    assert_eq!(
        seen.iter().map(|s| s.status).collect::<Vec<_>>(),
        [503, 200]
    );
    // The same batch again: the same delivery id, the next attempt, signed afresh.
    assert_eq!(
        seen[0].header(DELIVERY_HEADER),
        seen[1].header(DELIVERY_HEADER)
    );
    assert_eq!(seen[0].header(ATTEMPT_HEADER), "1");
    assert_eq!(seen[1].header(ATTEMPT_HEADER), "2");
    assert!(seen[1].signed());
    assert_eq!(seen[1].events(), batch);

    // Any other non-2xx fails too (a 4xx, a redirect not followed).
    for code in [400, 401, 302] {
        r.answer(&[code]);
        let e = sink.deliver(&batch).await.unwrap_err();
        assert_delivery_error(&e);
        assert!(e.to_string().contains(&code.to_string()), "{e}");
    }
}

#[tokio::test]
async fn a_runner_catches_up_after_two_refusals_in_order() {
    let (r, url) = receiver().await;
    r.answer(&[503, 503]);
    let store = Arc::new(MemoryStore::new());
    let appended = events(8);
    store.append(&appended).await.unwrap();
    let sink = HttpSink::builder(&url).secret(SECRET).build().unwrap();
    let runner = SinkRunner::new("collector", store.clone(), Arc::new(sink))
        .unwrap()
        .batch_size(3);

    let mut errors = 0;
    for _ in 0..20 {
        match runner.deliver_once().await {
            Ok(d) if d.read == 0 => break,
            Ok(_) => {}
            Err(e) => {
                assert_delivery_error(&e);
                errors += 1;
            }
        }
    }
    assert_eq!(errors, 2);

    let seen = r.seen();
    assert!(seen.iter().all(Seen::signed));
    // What the receiver accepted: every event once, in order.
    let accepted: Vec<ActivityEvent> = seen
        .iter()
        .filter(|s| s.status == 200)
        .flat_map(Seen::events)
        .collect();
    assert_eq!(accepted, appended);
    // Everything it got, refused batches included: duplicates only by id (the same
    // event again), and in order once deduplicated.
    let mut first: HashMap<uuid::Uuid, ActivityEvent> = HashMap::new();
    let mut order = Vec::new();
    for e in seen.iter().flat_map(Seen::events) {
        match first.get(&e.id) {
            Some(before) => assert_eq!(before, &e, "a duplicate is the same event"),
            None => {
                order.push(e.id);
                first.insert(e.id, e);
            }
        }
    }
    assert_eq!(order, appended.iter().map(|e| e.id).collect::<Vec<_>>());
    assert_eq!(
        seen.iter().map(|s| s.status).collect::<Vec<_>>(),
        [503, 503, 200, 200, 200]
    );

    let receipt = runner.receipt().await.unwrap();
    assert_eq!(receipt.state.total_failures, 2);
    assert_eq!(receipt.state.failures, 0);
    assert_eq!(receipt.state.delivered, 8);
    assert_eq!(receipt.state.kind, "http");
    assert_eq!(receipt.state.last_event, Some(appended[7].id));
    assert!(receipt.state.last_error.as_deref().unwrap().contains("503"));
    assert_eq!(receipt.lag, 0);
}

#[tokio::test]
async fn connection_refused_is_an_error_not_a_panic() {
    // A port that was just free: nobody listens on it.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let sink = HttpSink::builder(&format!("http://{addr}/ingest?key=q-secret"))
        .secret(SECRET)
        .gzip(true)
        .build()
        .unwrap();
    let e = sink.deliver(&events(2)).await.unwrap_err();
    assert_delivery_error(&e);
    let text = e.to_string();
    assert!(text.contains("request failed"), "{text}");
    assert!(text.contains(&addr.to_string()), "{text}");
    assert!(
        !text.contains("q-secret"),
        "no query string in errors: {text}"
    );
}

#[tokio::test]
async fn a_receiver_that_never_answers_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    let sink = HttpSink::builder(&format!("http://{addr}/ingest"))
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let started = std::time::Instant::now();
    let e = sink.deliver(&events(1)).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_delivery_error(&e);
    assert!(e.to_string().contains("no answer within"), "{e}");
}
