//! [`key_holds`]: whether a store's chains were sealed with a given key, told apart from
//! tampering before a verification reports breaks.

use super::ChainKey;
use crate::error::Result;
use crate::query::ActivityQuery;
use crate::store::ActivityStore;

/// Whether `key` is the one the chains in `store` were sealed with: `Some(true)` when a
/// stored head's MAC or one of the newest chained events' links (up to 200 read) holds
/// under it, `Some(false)` when none does, `None` when the store has nothing chained.
///
/// A `Some(false)` means the wrong key (or none), unless every event read and every head
/// was rewritten; commands say which key they ran with ([`ChainKey::fingerprint`]) rather
/// than report "modified" for every event.
///
/// ```
/// use std::sync::Arc;
/// use activity_core::{chain::key_holds, chain::ChainKey, chain::ChainSealer, ActivityEvent, Actor, MemoryStore, Recorder};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let store = Arc::new(MemoryStore::new());
/// let key = ChainKey::keyed(b"keep this key out of the database").unwrap();
/// assert_eq!(key_holds(&*store, &key).await.unwrap(), None);
/// let (rec, guard) = Recorder::builder(store.clone()).sealer(ChainSealer::new("w", key.clone())).start();
/// rec.record(ActivityEvent::logout(Actor::user("u"))).unwrap();
/// guard.shutdown().await;
/// assert_eq!(key_holds(&*store, &key).await.unwrap(), Some(true));
/// assert_eq!(key_holds(&*store, &ChainKey::unkeyed()).await.unwrap(), Some(false));
/// # });
/// ```
///
/// # Errors
/// The store's errors.
pub async fn key_holds(store: &dyn ActivityStore, key: &ChainKey) -> Result<Option<bool>> {
    let heads = store.chain_heads(None).await?;
    if heads.iter().any(|h| key.head_is_authentic(h)) {
        return Ok(Some(true));
    }
    let page = store.query(&ActivityQuery::new().limit(200)).await?;
    let mut chained = !heads.is_empty();
    let mut input = Vec::with_capacity(640);
    for e in &page.events {
        let Some(link) = &e.chain else { continue };
        chained = true;
        let mut hash = [0u8; 32];
        if hex::decode_to_slice(&link.hash, &mut hash).is_err() {
            continue;
        }
        for version in [2, 1] {
            if key.link_digest(version, e, link.seq, &link.prev, &mut input) == hash {
                return Ok(Some(true));
            }
        }
    }
    Ok(chained.then_some(false))
}
