//! [`HeldStore`]: a store whose first append waits until the test lets it go, to put
//! two writers' appends in a chosen order (feature `testing`).

use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use tokio::sync::Notify;

use crate::chain::ChainHead;
use crate::error::Result;
use crate::event::ActivityEvent;
use crate::query::{ActivityQuery, DeleteRequest, Page};
use crate::store::ActivityStore;

/// Wraps a store; its first append (of any kind) waits at [`entered`](Self::entered)
/// until [`release`](Self::release); everything else passes straight through. For tests
/// of races between writers: the moment one has sealed a batch and not yet committed it.
///
/// ```
/// use std::sync::Arc;
/// use activity_core::{testing::HeldStore, ActivityEvent, ActivityStore, Actor, MemoryStore};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let held = Arc::new(HeldStore::new(MemoryStore::new()));
/// let appending = tokio::spawn({
///     let held = held.clone();
///     async move { held.append(&[ActivityEvent::logout(Actor::user("u"))]).await }
/// });
/// held.entered().await;
/// assert_eq!(held.inner().len(), 0, "held before it reaches the store");
/// held.release();
/// assert_eq!(appending.await.unwrap().unwrap(), 1);
/// # });
/// ```
#[derive(Debug)]
pub struct HeldStore<S> {
    inner: S,
    entered: Notify,
    go: Notify,
    first: AtomicBool,
}

impl<S: ActivityStore> HeldStore<S> {
    /// `inner`, with its first append to be held.
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            entered: Notify::new(),
            go: Notify::new(),
            first: AtomicBool::new(true),
        }
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// Waits until the first append has arrived and is being held.
    pub async fn entered(&self) {
        self.entered.notified().await;
    }

    /// Lets the held append go on.
    pub fn release(&self) {
        self.go.notify_one();
    }

    async fn hold(&self) {
        if self.first.swap(false, Ordering::SeqCst) {
            self.entered.notify_one();
            self.go.notified().await;
        }
    }
}

#[async_trait]
impl<S: ActivityStore> ActivityStore for HeldStore<S> {
    async fn append(&self, events: &[ActivityEvent]) -> Result<u64> {
        self.hold().await;
        self.inner.append(events).await
    }
    async fn append_sealed(&self, events: &[ActivityEvent], heads: &[ChainHead]) -> Result<u64> {
        self.hold().await;
        self.inner.append_sealed(events, heads).await
    }
    async fn append_sealed_strict(
        &self,
        events: &[ActivityEvent],
        heads: &[ChainHead],
    ) -> Result<u64> {
        self.hold().await;
        self.inner.append_sealed_strict(events, heads).await
    }
    async fn chain_heads(&self, tenant: Option<&str>) -> Result<Vec<ChainHead>> {
        self.inner.chain_heads(tenant).await
    }
    async fn query(&self, q: &ActivityQuery) -> Result<Page> {
        self.inner.query(q).await
    }
    async fn count(&self, q: &ActivityQuery) -> Result<u64> {
        self.inner.count(q).await
    }
    async fn query_many(&self, queries: &[ActivityQuery]) -> Result<Vec<Page>> {
        self.inner.query_many(queries).await
    }
    async fn delete(&self, r: &DeleteRequest) -> Result<u64> {
        self.inner.delete(r).await
    }
    async fn tenants(&self) -> Result<Vec<Option<String>>> {
        self.inner.tenants().await
    }
    async fn read_log(
        &self,
        after: crate::sinks::LogPosition,
        limit: usize,
    ) -> Result<Vec<crate::sinks::LoggedEvent>> {
        self.inner.read_log(after, limit).await
    }
    async fn log_lag(&self, after: crate::sinks::LogPosition) -> Result<u64> {
        self.inner.log_lag(after).await
    }
    async fn sink_states(&self) -> Result<Vec<crate::sinks::SinkState>> {
        self.inner.sink_states().await
    }
    async fn save_sink_state(&self, state: &crate::sinks::SinkState) -> Result<()> {
        self.inner.save_sink_state(state).await
    }
    async fn remove_sink_state(&self, name: &str) -> Result<bool> {
        self.inner.remove_sink_state(name).await
    }
}
