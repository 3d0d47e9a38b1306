//! The stages the recorder's worker runs around each append: enrich → seal → append →
//! after commit. Geo lookup, the integrity chain and the alert engine plug in here, so
//! none of them ever runs on the request path.

use async_trait::async_trait;

use super::Recorder;
use crate::chain::ChainHead;
use crate::error::Result;
use crate::event::ActivityEvent;
use crate::store::ActivityStore;

/// Adds information to an event in the worker before it is stored (e.g. geo location).
///
/// Must not block for long: it runs once per event on the worker task.
///
/// ```
/// use activity_core::{ActivityEvent, recorder::Enricher};
/// struct Tag;
/// impl Enricher for Tag {
///     fn enrich(&self, event: &mut ActivityEvent) {
///         event.details.get_or_insert_with(Default::default).insert("host".into(), "web-1".into());
///     }
/// }
/// ```
pub trait Enricher: Send + Sync + 'static {
    /// Modifies `event` in place.
    fn enrich(&self, event: &mut ActivityEvent);
}

impl<F> Enricher for F
where
    F: Fn(&mut ActivityEvent) + Send + Sync + 'static,
{
    fn enrich(&self, event: &mut ActivityEvent) {
        self(event)
    }
}

/// Seals each batch just before it is appended (the integrity chain). Stateful: it is
/// called for every batch in order, exactly once per batch, and a retried batch is not
/// sealed again.
///
/// [`ChainSealer`](crate::chain::ChainSealer) is the one the SDK provides; a sealer of your own
/// may wrap it, e.g. to count what it seals:
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
/// use activity_core::reexports::async_trait;
/// use activity_core::{chain::verify, ActivityEvent, ActivityStore, Actor, chain::ChainHead, chain::ChainKey, chain::ChainSealer, MemoryStore, Recorder, Result, recorder::Sealer};
///
/// struct Counted(ChainSealer, Arc<AtomicUsize>);
///
/// #[async_trait]
/// impl Sealer for Counted {
///     async fn seal(&mut self, store: &dyn ActivityStore, batch: &mut [ActivityEvent]) -> Result<()> {
///         self.1.fetch_add(batch.len(), Ordering::Relaxed);
///         self.0.seal(store, batch).await
///     }
///     fn heads(&self, batch: &[ActivityEvent]) -> Vec<ChainHead> {
///         self.0.heads(batch)
///     }
/// }
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let (store, sealed) = (Arc::new(MemoryStore::new()), Arc::new(AtomicUsize::new(0)));
/// let key = ChainKey::keyed(b"keep this key out of the database").unwrap();
/// let sealer = Counted(ChainSealer::new("web-1", key.clone()), sealed.clone());
/// let (recorder, guard) = Recorder::builder(store.clone()).sealer(sealer).lifecycle_events(false).start();
/// recorder.record(ActivityEvent::logout(Actor::user("u_1"))).unwrap();
/// guard.shutdown().await;
/// assert_eq!(sealed.load(Ordering::Relaxed), 1);
/// let report = verify(&*store, None, &key).await.unwrap();
/// assert!(report.is_intact() && report.anchored == 1, "chained, with its head stored");
/// # });
/// ```
#[async_trait]
pub trait Sealer: Send + 'static {
    /// Sets `chain` on every event of `batch`. `store` is there to load the chain head on
    /// first use; a retryable error makes the worker retry the batch later.
    async fn seal(&mut self, store: &dyn ActivityStore, batch: &mut [ActivityEvent]) -> Result<()>;

    /// The chain heads that `batch` (sealed, possibly a part of a sealed batch) brings
    /// its chains to; the worker stores them with the batch in one transaction
    /// ([`ActivityStore::append_sealed`]). Default: none.
    fn heads(&self, batch: &[ActivityEvent]) -> Vec<ChainHead> {
        let _ = batch;
        Vec::new()
    }

    /// Seals `batch` again, which this sealer sealed last (nothing after it), without the
    /// events `stored` names: the store refused it because another writer had stored them
    /// first ([`Error::SealedDuplicate`](crate::Error::SealedDuplicate)). Returns whether
    /// it could (the default cannot: the batch is then appended as it is).
    fn reseal_without(&mut self, batch: &mut [ActivityEvent], stored: &[uuid::Uuid]) -> bool {
        let _ = (batch, stored);
        false
    }
}

/// Runs after a batch is committed (the alert engine). Returns follow-up events (alerts,
/// lockouts) that the worker records next, through the same pipeline.
///
/// A slow hook delays the next batch but never the request path; hooks that talk to the
/// network should hand the work to a task of their own.
///
/// ```
/// use std::sync::Arc;
/// use activity_core::reexports::async_trait;
/// use activity_core::{Action, ActivityEvent, ActivityQuery, ActivityStore, Actor, recorder::AfterCommit, MemoryStore, Recorder};
///
/// /// Records a follow-up for every failed login that was stored.
/// struct Followup;
///
/// #[async_trait]
/// impl AfterCommit for Followup {
///     async fn after_commit(&self, _store: &dyn ActivityStore, committed: &[ActivityEvent]) -> Vec<ActivityEvent> {
///         committed
///             .iter()
///             .filter(|e| e.action == Action::LOGIN_FAILED)
///             .map(|e| ActivityEvent::custom("security.followup").unwrap().with_detail("login", e.id.to_string()))
///             .collect()
///     }
/// }
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let store = Arc::new(MemoryStore::new());
/// let (recorder, guard) = Recorder::builder(store.clone()).after_commit(Followup).start();
/// let failed = ActivityEvent::login_failed(Actor::user("u_1"));
/// recorder.record(failed.clone()).unwrap();
/// recorder.flush().await.unwrap(); // the follow-ups are written too
/// let page = store.query(&ActivityQuery::new().action("security.followup")).await.unwrap();
/// assert_eq!(page.events[0].details.as_ref().unwrap()["login"], failed.id.to_string());
/// guard.shutdown().await;
/// # });
/// ```
#[async_trait]
pub trait AfterCommit: Send + Sync + 'static {
    /// Sees every event of the committed batch (in order) and may return new events.
    async fn after_commit(
        &self,
        store: &dyn ActivityStore,
        committed: &[ActivityEvent],
    ) -> Vec<ActivityEvent>;

    /// Called once when the recorder this stage belongs to starts, before the first batch:
    /// a stage that records events of its own (expiries, deliveries) keeps the handle.
    /// Default: nothing.
    fn on_start(&self, recorder: &Recorder) {
        let _ = recorder;
    }
}

#[async_trait]
impl<T: AfterCommit + ?Sized> AfterCommit for std::sync::Arc<T> {
    fn on_start(&self, recorder: &Recorder) {
        (**self).on_start(recorder);
    }

    async fn after_commit(
        &self,
        store: &dyn ActivityStore,
        committed: &[ActivityEvent],
    ) -> Vec<ActivityEvent> {
        (**self).after_commit(store, committed).await
    }
}
