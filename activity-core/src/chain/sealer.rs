//! [`ChainSealer`]: the recorder stage that links events into their chains as they are written.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use uuid::Uuid;

use super::{ChainHead, ChainKey, GENESIS};
use crate::error::Result;
use crate::event::{ActivityEvent, ChainLink};
use crate::recorder::Sealer;
use crate::store::ActivityStore;

/// The recorder stage that chains events as they are written.
///
/// ```
/// use std::sync::Arc;
/// use activity_core::{ActivityEvent, Actor, chain::ChainKey, chain::ChainSealer, MemoryStore, Recorder};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let store = Arc::new(MemoryStore::new());
/// let key = ChainKey::keyed(b"keep this key out of the database").unwrap();
/// let (rec, guard) = Recorder::builder(store.clone()).sealer(ChainSealer::new("web-1", key.clone())).start();
/// rec.record(ActivityEvent::logout(Actor::user("u"))).unwrap();
/// guard.shutdown().await;
/// let report = activity_core::chain::verify(&*store, None, &key).await.unwrap();
/// assert!(report.is_intact());
/// # });
/// ```
#[derive(Debug)]
pub struct ChainSealer {
    writer: String,
    key: ChainKey,
    heads: HashMap<Option<String>, (u64, String)>,
    v1: bool,
}

impl ChainSealer {
    /// A sealer for one recorder run; `writer` names it (e.g. the host name).
    pub fn new(writer: &str, key: ChainKey) -> Self {
        let mut w: String = writer
            .chars()
            .filter(|c| !c.is_control())
            .take(80)
            .collect();
        w.push('.');
        w.push_str(&Uuid::now_v7().simple().to_string());
        Self {
            writer: w,
            key,
            heads: HashMap::new(),
            v1: false,
        }
    }

    /// Seals with the version 1 link encoding, as releases before integrity v2 did: for
    /// migration tests and the benchmark that compares the two verifications.
    #[doc(hidden)]
    pub fn sealing_v1(mut self) -> Self {
        self.v1 = true;
        self
    }

    /// This run's chain writer name.
    pub fn writer(&self) -> &str {
        &self.writer
    }

    /// Seals `batch` in order.
    pub fn seal_all(&mut self, batch: &mut [ActivityEvent]) {
        self.seal_where(batch, |_| true);
    }

    /// Seals the events of `batch` for which `fresh(index)` holds, in order; the others
    /// are left without a link (the store skips them as duplicates, so they must not use
    /// up a position).
    fn seal_where(&mut self, batch: &mut [ActivityEvent], fresh: impl Fn(usize) -> bool) {
        for (i, e) in batch.iter_mut().enumerate() {
            if !fresh(i) {
                e.chain = None;
                continue;
            }
            let head = self
                .heads
                .entry(e.tenant.clone())
                .or_insert_with(|| (0, GENESIS.to_owned()));
            let seq = head.0 + 1;
            e.chain = None;
            let hash = if self.v1 {
                self.key.link_hash_v1(e, seq, &head.1)
            } else {
                self.key.link_hash(e, seq, &head.1)
            };
            e.chain = Some(ChainLink {
                writer: self.writer.clone(),
                seq,
                prev: head.1.clone(),
                hash: hash.clone(),
            });
            *head = (seq, hash);
        }
    }

    /// The heads of the chains `batch` extends: for each tenant's chain of this writer,
    /// its last link in `batch`, keyed.
    pub fn heads_of(&self, batch: &[ActivityEvent]) -> Vec<ChainHead> {
        heads_of(&self.key, batch)
    }
}

/// The ids of `batch` that `store` already holds, with their stored times.
async fn stored_ids(
    store: &dyn ActivityStore,
    batch: &[ActivityEvent],
) -> Result<HashMap<Uuid, chrono::DateTime<chrono::Utc>>> {
    let mut out = HashMap::new();
    for part in batch.chunks(crate::query::MAX_PAGE_SIZE.min(500)) {
        let q = crate::query::ActivityQuery::new()
            .ids(part.iter().map(|e| e.id))
            .limit(part.len());
        let mut pages = crate::query::Pages::new(store, q);
        while let Some(events) = pages.next().await? {
            out.extend(events.iter().map(|e| (e.id, e.time)));
        }
    }
    Ok(out)
}

/// The head each chain reaches in `batch` (its highest position there), keyed with `key`.
fn heads_of(key: &ChainKey, batch: &[ActivityEvent]) -> Vec<ChainHead> {
    let mut last: BTreeMap<(Option<&str>, &str), &ActivityEvent> = BTreeMap::new();
    for e in batch {
        let Some(link) = &e.chain else { continue };
        let slot = last
            .entry((e.tenant.as_deref(), link.writer.as_str()))
            .or_insert(e);
        if slot.chain.as_ref().is_some_and(|l| l.seq <= link.seq) {
            *slot = e;
        }
    }
    last.into_iter()
        .filter_map(|((tenant, writer), e)| {
            let link = e.chain.as_ref()?;
            Some(key.head(tenant, writer, link.seq, &link.hash, e.time))
        })
        .collect()
}

#[async_trait]
impl Sealer for ChainSealer {
    /// Seals only the events known to be new: an id repeated within `batch`, or already
    /// in `store` (a retried import, an event with a fixed id written by another
    /// instance), is left unsealed, so the store's skipping it leaves no hole.
    async fn seal(&mut self, store: &dyn ActivityStore, batch: &mut [ActivityEvent]) -> Result<()> {
        let stored = match stored_ids(store, batch).await {
            Ok(ids) => ids,
            Err(e) if e.is_retryable() => return Err(e),
            Err(e) => {
                tracing::warn!(error = %e, "could not look up stored ids before sealing; sealing all");
                HashMap::new()
            }
        };
        // A duplicate also takes the stored (or first) copy's time: a store keyed on
        // (id, time) (PostgreSQL's partitioned table) then skips it too.
        let mut seen: HashMap<Uuid, chrono::DateTime<chrono::Utc>> =
            HashMap::with_capacity(batch.len());
        let mut fresh = Vec::with_capacity(batch.len());
        for e in batch.iter_mut() {
            if let Some(t) = stored.get(&e.id).or_else(|| seen.get(&e.id)) {
                e.time = *t;
                fresh.push(false);
            } else {
                seen.insert(e.id, e.time);
                fresh.push(true);
            }
        }
        self.seal_where(batch, |i| fresh[i]);
        Ok(())
    }

    fn heads(&self, batch: &[ActivityEvent]) -> Vec<ChainHead> {
        self.heads_of(batch)
    }

    /// Rewinds each chain to just before its first link in `batch`, then links again the
    /// events that had a link, less `stored`. Only for a batch of this run's links.
    fn reseal_without(&mut self, batch: &mut [ActivityEvent], stored: &[Uuid]) -> bool {
        if !batch
            .iter()
            .filter_map(|e| e.chain.as_ref())
            .all(|l| l.writer == self.writer)
        {
            return false;
        }
        let mut rewound = std::collections::HashSet::new();
        let mut fresh = Vec::with_capacity(batch.len());
        for e in batch.iter() {
            let Some(link) = &e.chain else {
                fresh.push(false);
                continue;
            };
            if rewound.insert(e.tenant.clone()) {
                self.heads.insert(
                    e.tenant.clone(),
                    (link.seq.saturating_sub(1), link.prev.clone()),
                );
            }
            fresh.push(!stored.contains(&e.id));
        }
        self.seal_where(batch, |i| fresh[i]);
        true
    }
}
