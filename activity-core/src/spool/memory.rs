//! [`MemorySpool`]: a spool in process memory, for tests.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::{Spool, SpoolEntry, SpoolStatus};
use crate::error::{Error, Result};
use crate::event::ActivityEvent;

/// A [`Spool`] in process memory, bounded like a real one. **Not durable**: a crash
/// loses what it holds. For tests of the recorder's spooling, and as the reference for
/// the trait's rules; use `activity_sqlx::SqliteSpool` in an application.
///
/// ```
/// use activity_core::spool::{MemorySpool, Spool};
/// use activity_core::{ActivityEvent, Actor, Error};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let spool = MemorySpool::new(10);
/// let full = spool.push(false, &[ActivityEvent::logout(Actor::user("u_1"))]).await;
/// assert!(matches!(full, Err(Error::SpoolFull { .. })));
/// # });
/// ```
#[derive(Debug)]
pub struct MemorySpool {
    capacity: u64,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    next: u64,
    bytes: u64,
    entries: BTreeMap<u64, (bool, Vec<ActivityEvent>, u64)>,
}

impl MemorySpool {
    /// An empty spool taking at most `capacity_bytes` of encoded events.
    pub fn new(capacity_bytes: u64) -> Self {
        Self {
            capacity: capacity_bytes,
            inner: Mutex::new(Inner::default()),
        }
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The size a batch takes in a spool: its events as JSON, as the SQLite spool stores them.
pub(crate) fn encoded_len(events: &[ActivityEvent]) -> Result<u64> {
    let body = serde_json::to_vec(events).map_err(Error::Json)?;
    Ok(body.len() as u64)
}

#[async_trait]
impl Spool for MemorySpool {
    async fn push(&self, sealed: bool, events: &[ActivityEvent]) -> Result<u64> {
        let size = encoded_len(events)?;
        let mut inner = self.inner();
        if inner.bytes + size > self.capacity {
            return Err(Error::SpoolFull {
                bytes: inner.bytes,
                capacity: self.capacity,
            });
        }
        inner.next += 1;
        let id = inner.next;
        inner.bytes += size;
        inner.entries.insert(id, (sealed, events.to_vec(), size));
        Ok(id)
    }

    async fn front(&self) -> Result<Option<SpoolEntry>> {
        let inner = self.inner();
        Ok(inner
            .entries
            .iter()
            .next()
            .map(|(id, (sealed, events, _))| SpoolEntry {
                id: *id,
                sealed: *sealed,
                events: events.clone(),
            }))
    }

    async fn front_many(&self, max_events: usize) -> Result<Vec<SpoolEntry>> {
        let inner = self.inner();
        let mut taken = 0;
        let mut run = Vec::new();
        for (id, (sealed, events, _)) in &inner.entries {
            if !run.is_empty() && taken + events.len() > max_events {
                break;
            }
            taken += events.len();
            run.push(SpoolEntry {
                id: *id,
                sealed: *sealed,
                events: events.clone(),
            });
        }
        Ok(run)
    }

    async fn remove(&self, id: u64) -> Result<()> {
        let mut inner = self.inner();
        if let Some((_, _, size)) = inner.entries.remove(&id) {
            inner.bytes -= size;
        }
        Ok(())
    }

    async fn status(&self) -> Result<SpoolStatus> {
        let inner = self.inner();
        Ok(SpoolStatus {
            batches: inner.entries.len() as u64,
            events: inner.entries.values().map(|e| e.1.len() as u64).sum(),
            bytes: inner.bytes,
            capacity_bytes: self.capacity,
            oldest: inner
                .entries
                .values()
                .flat_map(|e| e.1.iter().map(|ev| ev.time))
                .min(),
            unreadable: 0,
        })
    }
}
