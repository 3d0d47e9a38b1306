//! A bounded set of connections handed out newest first: what the store's own sqlx
//! connections (`connections.rs`) and its bulk reader's rusqlite connections
//! (`reader.rs`) share.
//!
//! The most recently returned connection has the warmest page cache (SQLite keeps it
//! after the connection's own commit and empties it when another connection has
//! written), so it is the one to reuse. A permit bounds how many connections exist at
//! once; connections open lazily, only when no idle one is left.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Up to `max` connections of type `C`, reused last in, first out.
pub(crate) struct Lifo<C> {
    idle: Mutex<Vec<C>>,
    permits: Arc<Semaphore>,
    acquire_timeout: Duration,
}

impl<C> std::fmt::Debug for Lifo<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lifo")
            .field("idle", &self.idle_count())
            .field("available", &self.permits.available_permits())
            .finish_non_exhaustive()
    }
}

impl<C> Lifo<C> {
    /// At most `max` (at least one) connections at once; a caller waits up to
    /// `acquire_timeout` for one.
    pub(crate) fn new(max: u32, acquire_timeout: Duration) -> Self {
        Self {
            idle: Mutex::new(Vec::new()),
            permits: Arc::new(Semaphore::new(max.max(1) as usize)),
            acquire_timeout,
        }
    }

    /// The right to hold one connection (taken with [`take`](Self::take) or opened anew)
    /// until the permit is dropped; `None` when every connection stayed in use for the
    /// whole acquire timeout. (The semaphore is never closed, so that is the only way
    /// to get none.)
    pub(crate) async fn permit(&self) -> Option<OwnedSemaphorePermit> {
        tokio::time::timeout(self.acquire_timeout, self.permits.clone().acquire_owned())
            .await
            .ok()?
            .ok()
    }

    /// The most recently returned idle connection, if any.
    pub(crate) fn take(&self) -> Option<C> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop()
    }

    /// Returns a connection fit for reuse. Call it before dropping the permit the
    /// connection was held under, so that a waiter the permit wakes finds it.
    pub(crate) fn put(&self, conn: C) {
        self.idle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(conn);
    }

    /// Connections open and not in use.
    pub(crate) fn idle_count(&self) -> usize {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_newest_returned_comes_out_first() {
        let set = Lifo::new(3, Duration::from_secs(1));
        set.put("a");
        set.put("b");
        assert_eq!(set.idle_count(), 2);
        assert_eq!(set.take(), Some("b"));
        assert_eq!(set.take(), Some("a"));
        assert_eq!(set.take(), None);
    }

    // Paused time: the runtime jumps the clock to the deadline once every task waits.
    #[tokio::test(start_paused = true)]
    async fn permits_bound_the_set_and_time_out() {
        let set: Lifo<()> = Lifo::new(0, Duration::from_millis(50));
        let held = set.permit().await.expect("at least one");
        assert!(set.permit().await.is_none(), "timed out");
        drop(held);
        assert!(set.permit().await.is_some());
    }
}
