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

/// Attack (review A1): the oldest events of a chain deleted, no purge ever ran.
/// Failed before: accepted as "purged" (`purged_starts: 1`, intact).
#[tokio::test]
async fn a_deleted_prefix_without_a_checkpoint_is_missing() {
    let (v, writer) = sealed(71);
    let r = check(&v[49..]).await;
    assert_eq!(
        r.first_break,
        Some(Break::Missing {
            writer,
            after_seq: 0,
            next_seq: 50,
            id: v[49].id
        }),
        "{r:?}"
    );
    assert_eq!(r.purged_starts, 0);
}

/// A checkpoint under the key naming exactly the removed prefix excuses it; one naming
/// less, or forged without the key, or moved into another event, does not.
#[tokio::test]
async fn a_missing_prefix_is_accepted_only_where_a_checkpoint_covers_it() {
    use crate::event::Outcome;
    let (v, writer) = sealed(10);
    let range = |to: usize| PurgedRange {
        tenant: None,
        writer: writer.clone(),
        from: 1,
        to: to as u64,
        to_hash: v[to - 1].chain.as_ref().unwrap().hash.clone(),
    };
    let purged_event = |cp_key: &ChainKey, to: usize| {
        let mut e = ActivityEvent::audit(crate::Action::AUDIT_PURGED, Outcome::Success)
            .with_detail("dry_run", false)
            .with_detail("total", to as u64)
            .with_detail("tenants", serde_json::json!([]))
            .with_detail("held", serde_json::json!([]));
        e.normalize();
        let cp = PurgeCheckpoint::new(cp_key, e.id, e.time, vec![range(to)]);
        e.with_detail(CHECKPOINT_KEY, serde_json::to_value(cp).unwrap())
    };
    let with = |extra: ActivityEvent| {
        let mut rest = v[4..].to_vec();
        let mut s = ChainSealer::new("purger", key());
        let mut x = vec![extra];
        s.seal_all(&mut x);
        rest.extend(x);
        rest
    };
    // Exactly 1..=4: intact, counted.
    let r = check(&with(purged_event(&key(), 4))).await;
    assert!(r.is_intact(), "{r:?}");
    assert_eq!(r.purged_starts, 1);
    // A checkpoint of 1..=3 does not excuse position 4.
    let r = check(&with(purged_event(&key(), 3))).await;
    assert!(
        matches!(
            r.first_break,
            Some(Break::Missing {
                after_seq: 0,
                next_seq: 5,
                ..
            })
        ),
        "{r:?}"
    );
    // Forged without the key (unkeyed MAC): ignored.
    let r = check(&with(purged_event(&ChainKey::unkeyed(), 4))).await;
    assert!(
        matches!(r.first_break, Some(Break::Missing { after_seq: 0, .. })),
        "{r:?}"
    );
    // Copied into another event (another id): ignored.
    let mut copied = purged_event(&key(), 4);
    copied.id = uuid::Uuid::now_v7();
    let r = check(&with(copied)).await;
    assert!(
        matches!(r.first_break, Some(Break::Missing { after_seq: 0, .. })),
        "{r:?}"
    );
    // Restored from an archive: never evidence.
    let r = check(&with(mark_restored(purged_event(&key(), 4)))).await;
    assert!(
        matches!(r.first_break, Some(Break::Missing { after_seq: 0, .. })),
        "{r:?}"
    );
}

/// Attack (review A11): a forged `audit.purged` with a far cut-off, sealed with the real
/// key (as ingest did), then the newest events deleted. Failed before: `purged_tails: 1`.
#[tokio::test]
async fn a_forged_cutoff_does_not_excuse_a_deleted_tail() {
    use crate::event::Outcome;
    let (store, v, s) = sealed_store(10).await;
    let mut forged = vec![ActivityEvent::audit(crate::Action::AUDIT_PURGED, Outcome::Success)
        .with_detail("dry_run", false)
        .with_detail("total", 0)
        .with_detail(
            "tenants",
            serde_json::json!([{"tenant": null, "cutoff": "2099-01-01T00:00:00Z", "events": 0}]),
        )
        .with_detail("held", serde_json::json!([]))];
    let mut other = ChainSealer::new("ingest", key());
    other.seal_all(&mut forged);
    let cut = MemoryStore::new();
    cut.append_sealed(&v[..7], &s.heads_of(&v)).await.unwrap();
    cut.append_sealed(&forged, &other.heads_of(&forged))
        .await
        .unwrap();
    drop(store);
    let r = verify(&cut, None, &key()).await.unwrap();
    assert!(
        matches!(
            r.first_break,
            Some(Break::Truncated {
                last_seq: 7,
                head_seq: 10,
                ..
            })
        ),
        "{r:?}"
    );
    assert_eq!(r.purged_tails, 0);
}

/// Attack (review A11): the forged line is refused where it comes in: `record` (and
/// ingest, through [`check_ingestable`]) with a typed error naming the rule.
#[tokio::test]
async fn reserved_actions_are_refused_by_record() {
    use crate::{Error, Outcome, Recorder, Rule};
    use std::sync::Arc;
    let store = Arc::new(MemoryStore::new());
    let (rec, guard) = Recorder::builder(store.clone())
        .sealer(ChainSealer::new("app", key()))
        .lifecycle_events(false)
        .start();
    for action in [
        crate::Action::AUDIT_PURGED,
        crate::Action::AUDIT_VERIFIED,
        crate::Action::ALERT_RAISED,
    ] {
        let err = rec
            .record(ActivityEvent::audit(action, Outcome::Success))
            .unwrap_err();
        assert!(
            matches!(&err, Error::Invalid { field, rule: Rule::Reserved } if field == "action"),
            "{err:?}"
        );
    }
    for action in [
        crate::Action::LOCKOUT_RELEASED,
        crate::Action::AUDIT_VERIFIED,
    ] {
        assert!(check_ingestable(&ActivityEvent::audit(action, Outcome::Success)).is_err());
    }
    guard.shutdown().await;
    assert_eq!(store.len(), 0);
}

/// Issue 23, item 1: an application could still write the SDK's evidence. `record` took
/// `audit.viewed`, `audit.exported` and `audit.reviewed` (left open for the views,
/// exports and sign-offs, which called `record`), and `record_durable` and
/// `record_async` checked nothing: `record_durable(audit.purged)` stored a forged
/// checkpoint. Every way an application records refuses every reserved action; the SDK's
/// components write theirs through `record_reserved(_durable)`.
#[tokio::test]
async fn every_way_to_record_refuses_every_reserved_action() {
    use crate::recorder::Overflow;
    use crate::{Error, Outcome, Recorder, Rule};
    use std::sync::Arc;
    let store = Arc::new(MemoryStore::new());
    let (rec, guard) = Recorder::builder(store.clone())
        .sealer(ChainSealer::new("app", key()))
        .overflow(Overflow::Wait(std::time::Duration::from_millis(50)))
        .lifecycle_events(false)
        .start();
    let reserved = [
        crate::Action::AUDIT_VIEWED,
        crate::Action::AUDIT_EXPORTED,
        crate::Action::AUDIT_REVIEWED,
        crate::Action::AUDIT_PURGED,
        crate::Action::AUDIT_VERIFIED,
        crate::Action::LOCKOUT_RELEASED,
        crate::Action::ALERT_RAISED,
    ];
    let is_reserved_rule = |err: &Error| matches!(err, Error::Invalid { field, rule: Rule::Reserved } if field == "action");
    for action in reserved {
        let forged = || ActivityEvent::audit(action.clone(), Outcome::Success);
        let by_record = rec.record(forged()).unwrap_err();
        assert!(
            is_reserved_rule(&by_record),
            "record {action}: {by_record:?}"
        );
        let by_async = rec.record_async(forged()).await.unwrap_err();
        assert!(
            is_reserved_rule(&by_async),
            "record_async {action}: {by_async:?}"
        );
        let by_durable = rec.record_durable(forged()).await.unwrap_err();
        assert!(
            is_reserved_rule(&by_durable),
            "record_durable {action}: {by_durable:?}"
        );
    }
    rec.flush().await.unwrap();
    assert_eq!(store.len(), 0, "nothing forged was stored");
    // The SDK's own path still writes them.
    rec.record_reserved(ActivityEvent::audit_viewed(Actor::user("admin")))
        .unwrap();
    rec.record_reserved_durable(ActivityEvent::audit_exported(Actor::user("admin")))
        .await
        .unwrap();
    guard.shutdown().await;
    assert_eq!(store.len(), 2);
}

/// Review A10: a batch holding an id twice, or an id already stored (a re-import, a fixed
/// id written by another instance), must not use up a position. Failed before: the
/// duplicate was sealed and skipped, `Missing`/`Truncated` on an honest log.
#[tokio::test]
async fn duplicates_never_leave_a_hole() {
    use crate::Recorder;
    use std::sync::Arc;
    let store = Arc::new(MemoryStore::new());
    let fixed = ActivityEvent::logout(Actor::user("fixed"));
    for round in 0..2 {
        let (rec, guard) = Recorder::builder(store.clone())
            .sealer(ChainSealer::new(&format!("run{round}"), key()))
            .lifecycle_events(false)
            .start();
        rec.record(fixed.clone()).unwrap();
        rec.record(fixed.clone()).unwrap();
        rec.record(ActivityEvent::logout(Actor::user(format!("new{round}"))))
            .unwrap();
        guard.shutdown().await;
    }
    assert_eq!(store.len(), 3);
    let r = verify(&*store, None, &key()).await.unwrap();
    assert!(r.is_intact(), "{r:?}");
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

/// The purger's own checkpoint: what it removed verifies (a prefix of one chain, the
/// whole of another with its head kept, across two runs); one more deletion does not.
#[tokio::test]
async fn a_real_purge_verifies_and_a_deletion_after_it_does_not() {
    use crate::retention::{Purger, Retention, RetentionPolicy};
    use crate::{ManualClock, Recorder};
    use std::sync::Arc;
    let store = Arc::new(MemoryStore::new());
    let now = Utc.with_ymd_and_hms(2026, 11, 24, 0, 0, 0).unwrap();
    // Chain A: 12 events ten days apart, the oldest 125 days old; chain B: 3 expired.
    let mut a = ChainSealer::new("a", key());
    let mut va: Vec<ActivityEvent> = (0..12)
        .map(|i| {
            ActivityEvent::logout(Actor::user("u")).with_time(now - Duration::days(125 - 10 * i))
        })
        .collect();
    a.seal_all(&mut va);
    store.append_sealed(&va, &a.heads_of(&va)).await.unwrap();
    let mut b = ChainSealer::new("b", key());
    let mut vb: Vec<ActivityEvent> = (0..3)
        .map(|i| ActivityEvent::logout(Actor::user("v")).with_time(now - Duration::days(200 - i)))
        .collect();
    b.seal_all(&mut vb);
    store.append_sealed(&vb, &b.heads_of(&vb)).await.unwrap();
    let (rec, guard) = Recorder::builder(store.clone())
        .sealer(ChainSealer::new("purger", key()))
        .lifecycle_events(false)
        .start();
    let clock = Arc::new(ManualClock::new(now));
    let purger = Purger::new(
        store.clone(),
        RetentionPolicy::new(Retention::Days(90)),
        clock.clone(),
    )
    .recorder(rec.clone())
    .key(key());
    assert_eq!(purger.run_once(false).await.unwrap().total, 4 + 3);
    rec.flush().await.unwrap();
    let r = verify(&*store, None, &key()).await.unwrap();
    assert!(r.is_intact(), "{r:?}");
    assert_eq!((r.purged_starts, r.purged_tails), (1, 1));
    // A second run 20 days later removes two more of A and carries the first run forward
    // (the first run's audit.purged is itself expired by then? not yet; still fine).
    clock.advance(Duration::days(20));
    assert_eq!(purger.run_once(false).await.unwrap().total, 2);
    rec.flush().await.unwrap();
    let r = verify(&*store, None, &key()).await.unwrap();
    assert!(r.is_intact(), "{r:?}");
    // The first checkpoint gone: the second alone accounts for all of it.
    let first = store
        .query(&crate::ActivityQuery::new().action("audit.purged"))
        .await
        .unwrap()
        .events
        .into_iter()
        .min_by_key(|e| e.time)
        .unwrap();
    let kept: Vec<ActivityEvent> = store
        .query(&crate::ActivityQuery::new().limit(1000))
        .await
        .unwrap()
        .events
        .into_iter()
        .filter(|e| e.id != first.id)
        .collect();
    let heads = store.chain_heads(None).await.unwrap();
    let again = MemoryStore::new();
    again.append_sealed(&kept, &heads).await.unwrap();
    let r = verify(&again, None, &key()).await.unwrap();
    // The purger's chain lost its first link, which no checkpoint names: found.
    assert!(
        matches!(r.first_break, Some(Break::Missing { after_seq: 0, .. })),
        "{r:?}"
    );
    // The attacker deletes A's oldest remaining event as well: found.
    let oldest = kept
        .iter()
        .filter(|e| e.chain.as_ref().is_some_and(|l| l.writer == a.writer()))
        .min_by_key(|e| e.chain.as_ref().unwrap().seq)
        .unwrap()
        .id;
    let tampered = MemoryStore::new();
    let all: Vec<ActivityEvent> = store
        .query(&crate::ActivityQuery::new().limit(1000))
        .await
        .unwrap()
        .events
        .into_iter()
        .filter(|e| e.id != oldest)
        .collect();
    tampered.append_sealed(&all, &heads).await.unwrap();
    let r = verify(&tampered, None, &key()).await.unwrap();
    assert!(
        matches!(
            r.first_break,
            Some(Break::Missing {
                after_seq: 0,
                next_seq: 8,
                ..
            })
        ),
        "{r:?}"
    );
    guard.shutdown().await;
}

/// Item 6: a chain sealed under v1 still verifies (as v1), new chains are sealed v2, and
/// a v1 chain's edit is still found.
#[tokio::test]
async fn v1_chains_still_verify_beside_v2_ones() {
    let t0 = Utc.with_ymd_and_hms(2026, 11, 24, 0, 0, 0).unwrap();
    let make = |n: usize, who: &str| -> Vec<ActivityEvent> {
        (0..n)
            .map(|i| {
                ActivityEvent::logout(Actor::user(format!("{who}{i}")))
                    .with_time(t0 + Duration::seconds(i as i64))
                    .with_detail("n", 1e16)
            })
            .collect()
    };
    let mut old = ChainSealer::new("old", key()).sealing_v1();
    let mut v1 = make(5, "a");
    old.seal_all(&mut v1);
    let mut new = ChainSealer::new("new", key());
    let mut v2 = make(5, "b");
    new.seal_all(&mut v2);
    let k = key();
    assert_eq!(
        v1[0].chain.as_ref().unwrap().hash,
        k.link_hash_v1(&v1[0], 1, &"0".repeat(64))
    );
    assert_eq!(
        v2[0].chain.as_ref().unwrap().hash,
        k.link_hash(&v2[0], 1, &"0".repeat(64))
    );
    let store = MemoryStore::new();
    store.append_sealed(&v1, &old.heads_of(&v1)).await.unwrap();
    store.append_sealed(&v2, &new.heads_of(&v2)).await.unwrap();
    let r = verify(&store, None, &key()).await.unwrap();
    assert!(r.is_intact(), "{r:?}");
    assert_eq!((r.events, r.chains, r.anchored), (10, 2, 2));
    let mut edited = v1.clone();
    edited[2].reason = Some("edited".into());
    let r = check(&edited).await;
    assert!(
        matches!(r.first_break, Some(Break::Modified { seq: 3, .. })),
        "{r:?}"
    );
}

/// Issue 23, item 4 (review A10, two instances): both instances look the fixed id up,
/// find it new and seal it into their own chains; the one that commits second had its
/// copy skipped by the store, leaving a hole in its chain (verify: broken, on an honest
/// log). The store now refuses such a batch (`SealedDuplicate`) and the recorder seals it
/// again without the event: both chains intact, the event stored once.
#[tokio::test]
async fn two_writers_sealing_one_fixed_id_at_once_leave_no_hole() {
    use crate::Recorder;
    use std::sync::Arc;
    let store = Arc::new(MemoryStore::new());
    let held = Arc::new(crate::testing::HeldStore::new(store.clone()));
    let (a, guard_a) = Recorder::builder(held.clone())
        .sealer(ChainSealer::new("a", key()))
        .lifecycle_events(false)
        .start();
    let (b, guard_b) = Recorder::builder(store.clone())
        .sealer(ChainSealer::new("b", key()))
        .lifecycle_events(false)
        .start();
    let fixed = ActivityEvent::logout(Actor::user("fixed"));
    a.record(fixed.clone()).unwrap();
    a.record(ActivityEvent::logout(Actor::user("after-a")))
        .unwrap();
    // A has sealed the fixed event and is appending; B stores it first.
    held.entered().await;
    b.record(fixed.clone()).unwrap();
    b.flush().await.unwrap();
    held.release();
    a.flush().await.unwrap();
    a.record(ActivityEvent::logout(Actor::user("later-a")))
        .unwrap();
    guard_a.shutdown().await;
    guard_b.shutdown().await;
    assert_eq!(store.len(), 3, "the fixed event once, and A's two others");
    let report = crate::chain::verify(&*store, None, &key()).await.unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.chains, 2);
}
