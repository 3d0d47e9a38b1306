use super::*;
use crate::event::ActivityEvent;
use crate::store::ActivityStore;

use crate::{Actor, MemoryStore};
use chrono::{Duration, TimeZone, Utc};

fn key() -> ChainKey {
    ChainKey::keyed(b"0123456789abcdef0123456789abcdef").unwrap()
}

fn sealed(n: usize) -> (Vec<ActivityEvent>, String) {
    let mut s = ChainSealer::new("w", key());
    let t0 = Utc.with_ymd_and_hms(2026, 11, 24, 0, 0, 0).unwrap();
    let mut v: Vec<ActivityEvent> = (0..n)
        .map(|i| {
            ActivityEvent::logout(Actor::user(format!("u{i}")))
                .with_time(t0 + Duration::seconds(i as i64))
        })
        .collect();
    s.seal_all(&mut v);
    (v, s.writer().to_owned())
}

async fn check(events: &[ActivityEvent]) -> VerifyReport {
    let store = MemoryStore::new();
    store.append(events).await.unwrap();
    verify(&store, None, &key()).await.unwrap()
}

#[tokio::test]
async fn an_intact_chain_verifies() {
    let (v, _) = sealed(50);
    let r = check(&v).await;
    assert!(r.is_intact(), "{r:?}");
    assert_eq!((r.events, r.chains), (50, 1));
}

#[tokio::test]
async fn the_four_tamperings_are_found_at_the_right_event() {
    let (v, writer) = sealed(10);
    // Modified.
    let mut m = v.clone();
    m[4].reason = Some("edited".into());
    let r = check(&m).await;
    assert_eq!(
        r.first_break,
        Some(Break::Modified {
            id: v[4].id,
            writer: writer.clone(),
            seq: 5
        })
    );
    // Deleted.
    let mut d = v.clone();
    d.remove(6);
    let r = check(&d).await;
    assert_eq!(
        r.first_break,
        Some(Break::Missing {
            writer: writer.clone(),
            after_seq: 6,
            next_seq: 8,
            id: v[7].id
        })
    );
    // Inserted, unchained.
    let mut i = v.clone();
    i.push(ActivityEvent::logout(Actor::user("intruder")));
    let r = check(&i).await;
    assert!(matches!(r.first_break, Some(Break::Unchained { .. })));
    // Inserted with a forged link copied from a neighbour.
    let mut f = v.clone();
    let mut forged = ActivityEvent::logout(Actor::user("forger"));
    forged.chain = v[3].chain.clone();
    f.push(forged);
    let r = check(&f).await;
    assert!(r.breaks >= 1);
    // Reordered: two events swap their content, keeping their links.
    let mut o = v.clone();
    let (a, b) = (o[2].chain.clone(), o[3].chain.clone());
    o[2].chain = b;
    o[3].chain = a;
    let r = check(&o).await;
    assert!(
        matches!(r.first_break, Some(Break::Modified { .. })),
        "{r:?}"
    );
    // Without the key, the chain cannot be recomputed to hide an edit.
    let mut rehashed = v.clone();
    rehashed[4].reason = Some("edited".into());
    let mut s2 = ChainSealer::new("w", ChainKey::unkeyed());
    s2.seal_all(&mut rehashed);
    assert!(!check(&rehashed).await.is_intact());
}

#[tokio::test]
async fn a_purged_start_still_verifies() {
    let (v, _) = sealed(10);
    let r = check(&v[4..]).await;
    assert!(r.is_intact(), "{r:?}");
    assert_eq!(r.purged_starts, 1);
}

#[tokio::test]
async fn tenants_get_their_own_chains() {
    let mut s = ChainSealer::new("w", key());
    let mut v = vec![
        ActivityEvent::logout(Actor::user("a")).with_tenant("x"),
        ActivityEvent::logout(Actor::user("b")).with_tenant("y"),
        ActivityEvent::logout(Actor::user("c")).with_tenant("x"),
    ];
    s.seal_all(&mut v);
    assert_eq!(v[2].chain.as_ref().unwrap().seq, 2);
    assert_eq!(v[1].chain.as_ref().unwrap().seq, 1);
    let store = MemoryStore::new();
    store.append(&v).await.unwrap();
    let r = verify(&store, Some("x"), &key()).await.unwrap();
    assert!(r.is_intact());
    assert_eq!(r.events, 2);
}

async fn sealed_store(n: usize) -> (MemoryStore, Vec<ActivityEvent>, ChainSealer) {
    let mut s = ChainSealer::new("w", key());
    let t0 = Utc.with_ymd_and_hms(2026, 11, 24, 0, 0, 0).unwrap();
    let mut v: Vec<ActivityEvent> = (0..n)
        .map(|i| {
            ActivityEvent::logout(Actor::user(format!("u{i}")))
                .with_time(t0 + Duration::seconds(i as i64))
        })
        .collect();
    s.seal_all(&mut v);
    let store = MemoryStore::new();
    // In two batches, as the recorder would write them.
    let (a, b) = v.split_at(n / 2);
    store.append_sealed(a, &s.heads_of(a)).await.unwrap();
    store.append_sealed(b, &s.heads_of(b)).await.unwrap();
    (store, v, s)
}

#[tokio::test]
async fn deleting_the_newest_events_is_found_by_the_head() {
    let (store, v, s) = sealed_store(10).await;
    let r = verify(&store, None, &key()).await.unwrap();
    assert!(r.is_intact(), "{r:?}");
    assert_eq!((r.anchored, r.unanchored), (1, 0));
    // The same events without the two newest: they still link, but end before the head.
    let cut = MemoryStore::new();
    cut.append_sealed(&v[..8], &s.heads_of(&v)).await.unwrap();
    let r = verify(&cut, None, &key()).await.unwrap();
    assert_eq!(
        r.first_break,
        Some(Break::Truncated {
            tenant: None,
            writer: s.writer().to_owned(),
            last_seq: 8,
            head_seq: 10
        }),
        "{r:?}"
    );
    // Every event gone, the head left.
    let empty = MemoryStore::new();
    empty.append_sealed(&[], &s.heads_of(&v)).await.unwrap();
    let r = verify(&empty, None, &key()).await.unwrap();
    assert!(
        matches!(r.first_break, Some(Break::Truncated { last_seq: 0, .. })),
        "{r:?}"
    );
    // Without heads (a store that keeps none), the chain is unanchored.
    let plain = MemoryStore::new();
    plain.append(&v[..8]).await.unwrap();
    let r = verify(&plain, None, &key()).await.unwrap();
    assert!(r.is_intact());
    assert_eq!(r.unanchored, 1);
}

#[tokio::test]
async fn a_rolled_back_or_forged_head_is_found() {
    let (_, v, s) = sealed_store(10).await;
    // A head moved back to hide the newest events: its MAC no longer holds.
    let mut head = s.heads_of(&v).pop().unwrap();
    head.seq = 8;
    head.last_hash = v[7].chain.as_ref().unwrap().hash.clone();
    let store = MemoryStore::new();
    store.append_sealed(&v[..8], &[head]).await.unwrap();
    let r = verify(&store, None, &key()).await.unwrap();
    assert!(
        matches!(r.first_break, Some(Break::HeadMismatch { seq: 8, .. })),
        "{r:?}"
    );
    // A head recomputed without the key (unkeyed) fails the keyed check.
    let forged = ChainKey::unkeyed().head(None, s.writer(), 8, &head_hash(&v[7]), v[7].time);
    let store = MemoryStore::new();
    store.append_sealed(&v[..8], &[forged]).await.unwrap();
    let r = verify(&store, None, &key()).await.unwrap();
    assert!(
        matches!(r.first_break, Some(Break::HeadMismatch { .. })),
        "{r:?}"
    );
    // Events beyond the head.
    let store = MemoryStore::new();
    store.append_sealed(&v, &s.heads_of(&v[..5])).await.unwrap();
    let r = verify(&store, None, &key()).await.unwrap();
    assert!(
        matches!(r.first_break, Some(Break::HeadMismatch { seq: 5, .. })),
        "{r:?}"
    );
}

fn head_hash(e: &ActivityEvent) -> String {
    e.chain.as_ref().unwrap().hash.clone()
}

#[tokio::test]
async fn the_recorder_keeps_the_heads() {
    use crate::Recorder;
    use std::sync::Arc;
    let store = Arc::new(MemoryStore::new());
    let (rec, guard) = Recorder::builder(store.clone())
        .sealer(ChainSealer::new("rec", key()))
        .batch_size(3)
        .start();
    for i in 0..10 {
        rec.record(ActivityEvent::logout(Actor::user(format!("u{i}"))).with_tenant("t"))
            .unwrap();
    }
    guard.shutdown().await;
    let heads = store.chain_heads(Some("t")).await.unwrap();
    assert_eq!(heads.len(), 1);
    assert_eq!(heads[0].seq, 10);
    let r = verify(&*store, None, &key()).await.unwrap();
    assert!(r.is_intact(), "{r:?}");
    assert_eq!(
        r.anchored, 2,
        "the tenant's chain and the lifecycle events' chain"
    );
}
