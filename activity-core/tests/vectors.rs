//! The integrity test vectors in `docs/integrity-vectors/vectors.json`: events, the key,
//! and the canonical text, link hashes, head MAC and purge checkpoint MAC they give. An
//! auditor's verifier in another language checks itself against the same file.
//!
//! `ACTIVITY_WRITE_VECTORS=1 cargo test -p activity-core --test vectors` rewrites the
//! file from the code (review the diff: a change means the format changed).

use activity_core::archive::Manifest;
use activity_core::chain::{canonical_json_v2, ChainKey, PurgeCheckpoint, PurgedRange};
use activity_core::signed::{public_link, ChainState, SignedCheckpoint, SigningKey};
use activity_core::{ActivityEvent, Actor};
use serde_json::{json, Value};

const PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../docs/integrity-vectors/vectors.json"
);
const KEY: &str = "integrity test vector key, 32 b";

fn events() -> Vec<ActivityEvent> {
    let lines = [
        r#"{"id":"0193a0f0-0000-7000-8000-000000000001","time":"2026-11-24T06:30:00.000Z","action":"auth.login.failed","outcome":"failure","reason":"bad_password","actor":{"id":"alice@example.com","type":"user"},"source":{"ip":"81.2.69.142","user_agent":"Mozilla/5.0","geo":{"country":"GB","city":"London","lat":51.5142,"lon":-0.0931,"accuracy_km":20}}}"#,
        r#"{"id":"0193a0f0-0000-7000-8000-000000000002","time":"2026-11-24T06:30:01.123456Z","tenant":"acme","action":"auth.logout","outcome":"success","actor":{"id":"u\"1\\é😀","name":"Ålice\n"},"details":{"z":[1,2.5,-0.0,1e16,1e-7,123456789012345678],"a":null,"\u00e9":"é","😀":"astral key","\uffff":"last BMP"}}"#,
        r#"{"id":"0193a0f0-0000-7000-8000-000000000003","time":"2026-11-24T06:30:02Z","action":"session.created","outcome":"success","actor":{"id":"bob"},"target":{"type":"session"},"session":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08","request_id":"req-1"}"#,
    ];
    lines
        .iter()
        .map(|l| {
            let mut e = ActivityEvent::from_json(l).unwrap();
            e.normalize();
            e
        })
        .collect()
}

fn compute() -> Value {
    let key = ChainKey::keyed(KEY.as_bytes()).unwrap();
    let mut prev = "0".repeat(64);
    let mut links = Vec::new();
    let evs = events();
    for (i, e) in evs.iter().enumerate() {
        let seq = i as u64 + 1;
        let canonical = canonical_json_v2(e);
        let hash = key.link_hash(e, seq, &prev);
        links.push(json!({
            "event": serde_json::to_value(e).unwrap(),
            "seq": seq,
            "prev": prev,
            "canonical": canonical,
            "hash": hash,
            "hash_v1": key.link_hash_v1(e, seq, &prev),
        }));
        prev = hash;
    }
    let last = evs.last().unwrap();
    let head = key.head(
        None,
        "web-1.0193a0f0000070008000000000000001",
        3,
        &prev,
        last.time,
    );
    let cp_id: uuid::Uuid = "0193a0f0-0000-7000-8000-0000000000ff".parse().unwrap();
    let cp_time = chrono::DateTime::parse_from_rfc3339("2027-03-01T00:00:00Z")
        .unwrap()
        .to_utc();
    let cp = PurgeCheckpoint::new(
        &key,
        cp_id,
        cp_time,
        vec![PurgedRange {
            tenant: None,
            writer: head.writer.clone(),
            from: 1,
            to: 2,
            to_hash: links[1]["hash"].as_str().unwrap().to_owned(),
        }],
    );
    // The signed checkpoint of the three links, and a signed archive manifest, under a
    // fixed Ed25519 seed (Ed25519 signatures are deterministic).
    let signer = SigningKey::from_seed(&[7u8; 32]);
    let mut public = "0".repeat(64);
    for (i, e) in evs.iter().enumerate() {
        let link = &links[i];
        public = public_link(&public, i as u64 + 1, link["hash"].as_str().unwrap(), e).unwrap();
    }
    let checkpoint = SignedCheckpoint::new(
        &signer,
        1,
        "2027-03-01T00:00:00.000Z",
        None,
        vec![ChainState {
            tenant: None,
            writer: head.writer.clone(),
            first: 1,
            seq: 3,
            hash: prev.clone(),
            public,
        }],
    );
    let mut manifest: Manifest = serde_json::from_value(json!({
        "version": 2,
        "created": "2026-11-25T00:00:00Z",
        "tenant": null,
        "since": "2026-11-24T00:00:00Z",
        "until": "2026-11-25T00:00:00Z",
        "format": "jsonl",
        "files": [{"name": "events.jsonl", "rows": 3, "sha256": "ab".repeat(32)}],
        "chains": [{"tenant": null, "writer": head.writer, "first_seq": 1, "last_seq": 3, "last_hash": prev}],
        "heads": [serde_json::to_value(&head).unwrap()],
    }))
    .unwrap();
    manifest.sign(&signer);
    json!({
        "signing_seed_hex": "07".repeat(32),
        "signing_public_key": signer.public_key().to_hex(),
        "signed_checkpoint": {
            "message_utf8": String::from_utf8(checkpoint.message()).unwrap(),
            "digest": checkpoint.digest(),
            "checkpoint": checkpoint,
        },
        "signed_manifest": {
            "message_utf8": String::from_utf8(manifest.message()).unwrap(),
            "manifest": manifest,
        },
        "key_utf8": KEY,
        "key_fingerprint": key.fingerprint(),
        "links": links,
        "head": serde_json::to_value(&head).unwrap(),
        "purge_checkpoint": {"event_id": cp_id, "event_time_us": cp_time.timestamp_micros(), "checkpoint": cp},
    })
}

#[test]
fn the_vectors_in_the_repository_hold() {
    let now = compute();
    if std::env::var("ACTIVITY_WRITE_VECTORS").as_deref() == Ok("1") {
        std::fs::write(PATH, serde_json::to_string_pretty(&now).unwrap() + "\n").unwrap();
    }
    let stored: Value = serde_json::from_str(&std::fs::read_to_string(PATH).unwrap()).unwrap();
    assert_eq!(
        stored, now,
        "docs/integrity-vectors/vectors.json no longer matches the code"
    );
}

#[test]
fn jcs_numbers_and_key_order() {
    let e = &events()[1];
    let text = canonical_json_v2(e);
    // ECMAScript number forms for doubles, integers exact; keys by UTF-16 code units
    // (the astral key before U+FFFF).
    assert!(
        text.contains(r#""z":[1,2.5,0,10000000000000000,1e-7,123456789012345678]"#),
        "{text}"
    );
    let astral = text.find("astral key").unwrap();
    let last_bmp = text.find("last BMP").unwrap();
    assert!(astral < last_bmp, "{text}");
    // A PostgreSQL jsonb round trip (-0.0 -> 0, 1e16 -> 10000000000000000) changes nothing.
    let mut pg = e.clone();
    let d = pg.details.as_mut().unwrap();
    d.insert(
        "z".into(),
        json!([
            1,
            2.5,
            0,
            10000000000000000u64,
            0.0000001,
            123456789012345678u64
        ]),
    );
    assert_eq!(canonical_json_v2(&pg), text);
    let _ = Actor::user("x");
}
