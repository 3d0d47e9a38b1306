//! Attacks on the store, checked with the public key alone (the SQL versions run on
//! SQLite, PostgreSQL and MariaDB in `tests/integrity.rs`).

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};

use super::*;
use crate::chain::{ChainKey, ChainSealer};
use crate::{ActivityEvent, ActivityStore, Actor, MemoryStore};

const KEY: &[u8] = b"keep this key out of the database";

struct Fixture {
    dir: PathBuf,
    key: ChainKey,
    signer: SigningKey,
    events: Vec<ActivityEvent>,
    writer: String,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `n` sealed events of one chain.
fn fixture(n: i64) -> Fixture {
    let key = ChainKey::keyed(KEY).unwrap();
    let mut sealer = ChainSealer::new("web-1", key.clone());
    let t0 = Utc.with_ymd_and_hms(2026, 11, 24, 6, 0, 0).unwrap();
    let mut events: Vec<_> = (0..n)
        .map(|i| {
            ActivityEvent::logout(Actor::user(format!("u{i}"))).with_time(t0 + Duration::seconds(i))
        })
        .collect();
    sealer.seal_all(&mut events);
    Fixture {
        dir: std::env::temp_dir().join(format!("activity-signed-{}", uuid::Uuid::now_v7())),
        key,
        signer: SigningKey::from_seed(&[9u8; 32]),
        writer: sealer.writer().to_owned(),
        events,
    }
}

async fn store_of(events: &[ActivityEvent]) -> Arc<MemoryStore> {
    let s = Arc::new(MemoryStore::new());
    s.append(events).await.unwrap();
    s
}

impl Fixture {
    async fn checkpoint(&self, store: Arc<MemoryStore>) -> crate::Result<SignedCheckpoint> {
        CheckpointWriter::new(store, self.key.clone(), self.signer.clone(), &self.dir)
            .run_once()
            .await
    }

    async fn verify(&self, events: &[ActivityEvent]) -> CheckpointReport {
        let store = store_of(events).await;
        verify_checkpoints(&*store, &self.dir, &self.signer.public_key(), None)
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn an_honest_log_and_newer_events_verify() {
    let f = fixture(10);
    let cp = f.checkpoint(store_of(&f.events[..6]).await).await.unwrap();
    assert_eq!(cp.chains[0].seq, 6);
    let r = f.verify(&f.events).await;
    assert!(r.is_intact(), "{r:?}");
    assert_eq!((r.covered, r.newer, r.chains, r.checkpoint), (6, 4, 1, 1));
    // The next checkpoint continues the first one.
    let cp2 = f.checkpoint(store_of(&f.events).await).await.unwrap();
    assert_eq!((cp2.number, cp2.prev.clone()), (2, cp.digest()));
    assert!(f.verify(&f.events).await.is_intact());
}

#[tokio::test]
async fn deletions_are_found_with_their_positions() {
    let f = fixture(10);
    f.checkpoint(store_of(&f.events).await).await.unwrap();
    let w = f.writer.clone();
    // The whole chain (with its head row: the public check reads no head).
    let r = f.verify(&[]).await;
    assert_eq!(
        r.found,
        vec![SignedBreak::ChainDeleted {
            tenant: None,
            writer: w.clone(),
            checkpoint_seq: 10
        }]
    );
    // The newest three (the head rolled back with them).
    let r = f.verify(&f.events[..7]).await;
    assert_eq!(
        r.found,
        vec![SignedBreak::Truncated {
            tenant: None,
            writer: w.clone(),
            last_seq: 7,
            checkpoint_seq: 10
        }]
    );
    // A prefix.
    let r = f.verify(&f.events[4..]).await;
    assert_eq!(
        r.found,
        vec![SignedBreak::PrefixDeleted {
            tenant: None,
            writer: w.clone(),
            expected_first: 1,
            first_seq: 5
        }]
    );
    // One in the middle.
    let mut gap = f.events.clone();
    gap.remove(4);
    let r = f.verify(&gap).await;
    assert_eq!(
        r.found,
        vec![SignedBreak::Missing {
            tenant: None,
            writer: w,
            after_seq: 4,
            next_seq: 6
        }]
    );
}

#[tokio::test]
async fn edits_copies_and_reorders_are_found() {
    let f = fixture(10);
    // Two checkpoints: at 5 and at 10, which narrow an edit down.
    f.checkpoint(store_of(&f.events[..5]).await).await.unwrap();
    f.checkpoint(store_of(&f.events).await).await.unwrap();
    let w = f.writer.clone();
    let mut edited = f.events.clone();
    edited[7].reason = Some("rewritten".into());
    let r = f.verify(&edited).await;
    assert_eq!(
        r.found,
        vec![SignedBreak::Modified {
            tenant: None,
            writer: w.clone(),
            after_seq: 5,
            up_to_seq: 10
        }]
    );
    let mut edited = f.events.clone();
    edited[1].actor = Some(Actor::user("someone else"));
    let r = f.verify(&edited).await;
    assert!(
        matches!(
            &r.found[..],
            [SignedBreak::Modified {
                after_seq: 0,
                up_to_seq: 5,
                ..
            }]
        ),
        "{r:?}"
    );
    // A copy of event 3 under a new id at the same position.
    let mut copy = f.events.clone();
    let mut dup = f.events[2].clone();
    dup.id = uuid::Uuid::now_v7();
    copy.push(dup.clone());
    let r = f.verify(&copy).await;
    assert!(
        r.found
            .iter()
            .any(|b| matches!(b, SignedBreak::Duplicate { seq: 3, .. })),
        "{r:?}"
    );
    // Positions 5 and 6 swapped.
    let mut swapped = f.events.clone();
    swapped[4].chain.as_mut().unwrap().seq = 6;
    swapped[5].chain.as_mut().unwrap().seq = 5;
    let r = f.verify(&swapped).await;
    assert_eq!(
        r.found.first(),
        Some(&SignedBreak::Unlinked {
            tenant: None,
            writer: w,
            seq: 5,
            id: f.events[5].id
        }),
        "{r:?}"
    );
}

#[tokio::test]
async fn forged_and_missing_checkpoint_files_are_found() {
    let f = fixture(4);
    for n in [1, 2, 3, 4] {
        f.checkpoint(store_of(&f.events[..n]).await).await.unwrap();
    }
    // Checkpoint 3 rewritten to claim a shorter chain, signed with another key.
    let path = f.dir.join(SignedCheckpoint::file_name(3));
    let mut cp = SignedCheckpoint::from_json(&std::fs::read_to_string(&path).unwrap()).unwrap();
    cp.chains[0].seq = 1;
    std::fs::write(&path, serde_json::to_string(&cp).unwrap()).unwrap();
    let r = f.verify(&f.events).await;
    assert!(
        matches!(&r.found[..], [SignedBreak::CheckpointForged { file }, SignedBreak::CheckpointMissing { after_number: 2, next_number: 4 }] if file.ends_with("checkpoint-0000000003.json")),
        "{r:?}"
    );
    std::fs::remove_file(&path).unwrap();
    let r = f.verify(&f.events).await;
    assert_eq!(
        r.found,
        vec![SignedBreak::CheckpointMissing {
            after_number: 2,
            next_number: 4
        }]
    );
    // Every file gone: nothing to verify against is an error, not "intact".
    std::fs::remove_dir_all(&f.dir).unwrap();
    std::fs::create_dir_all(&f.dir).unwrap();
    let store = store_of(&f.events).await;
    assert!(
        verify_checkpoints(&*store, &f.dir, &f.signer.public_key(), None)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn the_writer_never_signs_a_tampered_log() {
    let f = fixture(6);
    f.checkpoint(store_of(&f.events).await).await.unwrap();
    // The whole chain gone since (head row too): refused, no file written.
    let err = f.checkpoint(store_of(&[]).await).await.unwrap_err();
    assert!(matches!(err, crate::Error::NotCheckpointed { .. }), "{err}");
    assert!(err.to_string().contains("every event was deleted"), "{err}");
    // The newest two gone: refused.
    let err = f
        .checkpoint(store_of(&f.events[..4]).await)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("ends at 4"), "{err}");
    // An edit: the keyed verification refuses it.
    let mut edited = f.events.clone();
    edited[2].reason = Some("x".into());
    let err = f.checkpoint(store_of(&edited).await).await.unwrap_err();
    assert!(err.to_string().contains("does not verify"), "{err}");
    assert_eq!(checkpoint_files(&f.dir).unwrap().len(), 1);
    // A file in the directory not signed by this key: never continued.
    let other = CheckpointWriter::new(
        store_of(&f.events).await,
        f.key.clone(),
        SigningKey::from_seed(&[1u8; 32]),
        &f.dir,
    );
    assert!(other.run_once().await.is_err());
}

#[tokio::test]
async fn an_authenticated_purge_before_the_next_checkpoint_verifies() {
    use crate::retention::{Purger, RetentionPolicy};
    let store = Arc::new(MemoryStore::new());
    let key = ChainKey::keyed(KEY).unwrap();
    let (rec, guard) = crate::Recorder::builder(store.clone())
        .sealer(ChainSealer::new("web-1", key.clone()))
        .lifecycle_events(false)
        .start();
    let now = Utc::now();
    for i in 0..10 {
        rec.record(ActivityEvent::logout(Actor::user("u")).with_time(now - Duration::days(20 - i)))
            .unwrap();
    }
    rec.flush().await.unwrap();
    let dir = std::env::temp_dir().join(format!("activity-signed-{}", uuid::Uuid::now_v7()));
    let signer = SigningKey::generate().unwrap();
    let writer = CheckpointWriter::new(store.clone(), key.clone(), signer.clone(), &dir);
    writer.run_once().await.unwrap();
    let purger = Purger::new(
        store.clone(),
        RetentionPolicy::new(crate::retention::Retention::Days(15)),
        Arc::new(crate::ManualClock::new(now)),
    )
    .recorder(rec.clone())
    .key(key.clone());
    let purged = purger.run_once(false).await.unwrap();
    assert!(purged.total >= 5, "{purged:?}");
    rec.flush().await.unwrap();
    // Before the next checkpoint the purge reads as a deleted prefix ...
    let r = verify_checkpoints(&*store, &dir, &signer.public_key(), None)
        .await
        .unwrap();
    assert!(
        matches!(r.found.first(), Some(SignedBreak::PrefixDeleted { .. })),
        "{r:?}"
    );
    // ... and after it (the purge is authenticated under the chain key), intact.
    let cp = writer.run_once().await.unwrap();
    assert!(cp.chains.iter().any(|c| c.first > 1), "{cp:?}");
    let r = verify_checkpoints(&*store, &dir, &signer.public_key(), None)
        .await
        .unwrap();
    assert!(r.is_intact(), "{r:?}");
    guard.shutdown().await;
    std::fs::remove_dir_all(dir).unwrap();
}
