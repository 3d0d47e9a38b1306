//! The in-memory reference store.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::RwLock;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::chain::ChainHead;
use crate::error::{Error, Result};
use crate::event::ActivityEvent;
use crate::query::{ActivityQuery, DeleteRequest, Page};
use crate::sinks::{LogPosition, LoggedEvent, SinkState};
use crate::store::ActivityStore;

/// An [`ActivityStore`] in process memory: the reference implementation of the trait's
/// rules, correct under concurrent use. For tests, examples and short-lived tools;
/// nothing survives the process.
///
/// ```
/// use activity_core::{ActivityEvent, ActivityQuery, ActivityStore, Actor, MemoryStore};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = MemoryStore::new();
/// store.append(&[ActivityEvent::logout(Actor::user("u_1"))]).await.unwrap();
/// let page = store.query(&ActivityQuery::own(None, "u_1")).await.unwrap();
/// assert_eq!(page.events.len(), 1);
/// # });
/// ```
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: RwLock<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Events by `(time, id)`; iterated backwards for newest first. Boxed so that the
    /// tree moves pointers, not 500-byte events, when its nodes split.
    events: BTreeMap<(DateTime<Utc>, Uuid), Box<ActivityEvent>>,
    /// Each stored id's log number (positions `0.n`, in commit order).
    ids: HashMap<Uuid, u64>,
    /// The log: number to the event's key.
    log: BTreeMap<u64, (DateTime<Utc>, Uuid)>,
    /// Numbers given out so far.
    numbered: u64,
    /// Chain heads by (tenant, writer).
    heads: BTreeMap<(Option<String>, String), ChainHead>,
    /// Sink cursors by name.
    sinks: BTreeMap<String, SinkState>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many events are stored.
    pub fn len(&self) -> usize {
        self.read().map(|i| i.events.len()).unwrap_or(0)
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn read(&self) -> Result<std::sync::RwLockReadGuard<'_, Inner>> {
        self.inner
            .read()
            .map_err(|_| Error::backend("memory store lock poisoned", None))
    }

    fn write(&self) -> Result<std::sync::RwLockWriteGuard<'_, Inner>> {
        self.inner
            .write()
            .map_err(|_| Error::backend("memory store lock poisoned", None))
    }
}

impl Inner {
    fn insert(&mut self, events: &[ActivityEvent]) -> u64 {
        let mut added = 0;
        for e in events {
            if let std::collections::hash_map::Entry::Vacant(slot) = self.ids.entry(e.id) {
                self.numbered += 1;
                slot.insert(self.numbered);
                self.log.insert(self.numbered, (e.time, e.id));
                self.events.insert((e.time, e.id), Box::new(e.clone()));
                added += 1;
            }
        }
        added
    }
}

impl MemoryStore {
    /// The events and their heads under one lock (readers see them together); with
    /// `strict`, nothing when an event carrying a chain link is stored already.
    fn append_heads(
        &self,
        events: &[ActivityEvent],
        heads: &[ChainHead],
        strict: bool,
    ) -> Result<u64> {
        for e in events {
            e.validate()?;
        }
        for h in heads {
            h.validate()?;
        }
        let mut inner = self.write()?;
        if strict {
            let ids: Vec<Uuid> = events
                .iter()
                .filter(|e| e.chain.is_some() && inner.ids.contains_key(&e.id))
                .map(|e| e.id)
                .collect();
            if !ids.is_empty() {
                return Err(Error::SealedDuplicate { ids });
            }
        }
        let added = inner.insert(events);
        for h in heads {
            let slot = inner
                .heads
                .entry((h.tenant.clone(), h.writer.clone()))
                .or_insert_with(|| h.clone());
            if h.seq > slot.seq {
                *slot = h.clone();
            }
        }
        Ok(added)
    }
}

#[async_trait]
impl ActivityStore for MemoryStore {
    async fn append(&self, events: &[ActivityEvent]) -> Result<u64> {
        // Validate the whole batch before touching anything: all or nothing.
        for e in events {
            e.validate()?;
        }
        Ok(self.write()?.insert(events))
    }

    async fn append_sealed(&self, events: &[ActivityEvent], heads: &[ChainHead]) -> Result<u64> {
        self.append_heads(events, heads, false)
    }

    async fn append_sealed_strict(
        &self,
        events: &[ActivityEvent],
        heads: &[ChainHead],
    ) -> Result<u64> {
        self.append_heads(events, heads, true)
    }

    async fn chain_heads(&self, tenant: Option<&str>) -> Result<Vec<ChainHead>> {
        let inner = self.read()?;
        Ok(inner
            .heads
            .values()
            .filter(|h| tenant.is_none() || h.tenant.as_deref() == tenant)
            .cloned()
            .collect())
    }

    async fn query(&self, query: &ActivityQuery) -> Result<Page> {
        query.validate()?;
        let size = query.page_size();
        let inner = self.read()?;
        let upper = match query.after {
            Some(c) => std::ops::Bound::Excluded((c.time, c.id)),
            None => std::ops::Bound::Unbounded,
        };
        let lower = match query.since {
            Some(s) => std::ops::Bound::Included((s, Uuid::nil())),
            None => std::ops::Bound::Unbounded,
        };
        let events = inner
            .events
            .range((lower, upper))
            .rev()
            .map(|(_, e)| e)
            .filter(|e| query.matches(e))
            .take(size + 1)
            .map(|e| (**e).clone())
            .collect();
        Ok(Page::from_overfetch(events, size))
    }

    async fn count(&self, query: &ActivityQuery) -> Result<u64> {
        query.validate()?;
        let inner = self.read()?;
        Ok(inner.events.values().filter(|e| query.matches(e)).count() as u64)
    }

    async fn delete(&self, request: &DeleteRequest) -> Result<u64> {
        let mut inner = self.write()?;
        let delivered = |id: &Uuid| match request.delivered_up_to {
            Some(p) => p.tx > 0 || inner.ids.get(id).is_some_and(|n| *n <= p.seq),
            None => true,
        };
        let doomed: Vec<(DateTime<Utc>, Uuid)> = inner
            .events
            .range(..(request.before, Uuid::nil()))
            .filter(|(k, e)| e.tenant == request.tenant && delivered(&k.1))
            .take(request.limit)
            .map(|(k, _)| *k)
            .collect();
        for key in &doomed {
            inner.events.remove(key);
            if let Some(n) = inner.ids.remove(&key.1) {
                inner.log.remove(&n);
            }
        }
        Ok(doomed.len() as u64)
    }

    async fn tenants(&self) -> Result<Vec<Option<String>>> {
        let inner = self.read()?;
        let set: BTreeSet<Option<String>> =
            inner.events.values().map(|e| e.tenant.clone()).collect();
        Ok(set.into_iter().collect())
    }

    async fn read_log(&self, after: LogPosition, limit: usize) -> Result<Vec<LoggedEvent>> {
        let inner = self.read()?;
        if after.tx > 0 {
            return Ok(Vec::new());
        }
        Ok(inner
            .log
            .range(after.seq.saturating_add(1)..)
            .take(limit)
            .filter_map(|(n, key)| {
                inner.events.get(key).map(|e| LoggedEvent {
                    position: LogPosition::new(0, *n),
                    event: (**e).clone(),
                })
            })
            .collect())
    }

    async fn log_lag(&self, after: LogPosition) -> Result<u64> {
        let inner = self.read()?;
        if after.tx > 0 {
            return Ok(0);
        }
        Ok(inner.log.range(after.seq.saturating_add(1)..).count() as u64)
    }

    async fn sink_states(&self) -> Result<Vec<SinkState>> {
        Ok(self.read()?.sinks.values().cloned().collect())
    }

    async fn save_sink_state(&self, state: &SinkState) -> Result<()> {
        crate::sinks::check_name(&state.name)?;
        self.write()?
            .sinks
            .insert(state.name.clone(), state.clone());
        Ok(())
    }

    async fn remove_sink_state(&self, name: &str) -> Result<bool> {
        Ok(self.write()?.sinks.remove(name).is_some())
    }
}
