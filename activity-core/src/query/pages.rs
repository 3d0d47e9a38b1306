//! Reading every page of a query, the next page already asked for while the caller
//! works on the current one.

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

use crate::error::Result;
use crate::event::ActivityEvent;
use crate::query::{ActivityQuery, Page, MAX_PAGE_SIZE};
use crate::store::ActivityStore;

type PageFuture<'a> = Pin<Box<dyn Future<Output = Result<Page>> + Send + 'a>>;

/// Every event of a query, newest first, a page ([`MAX_PAGE_SIZE`] events) at a time.
///
/// As soon as a page arrives, the read of the next one is started, so a store that does
/// its work elsewhere (SQLite on its connection's thread, a server) prepares it while the
/// caller writes, hashes or counts the current one. At most two pages are held: memory
/// stays flat whatever the number of events. Export, archive, verification and the
/// compliance report read through it.
///
/// ```
/// use activity_core::{ActivityEvent, ActivityQuery, ActivityStore, Actor, MemoryStore, query::Pages};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = MemoryStore::new();
/// store.append(&[ActivityEvent::logout(Actor::user("u1"))]).await.unwrap();
/// let mut pages = Pages::new(&store, ActivityQuery::new());
/// let mut n = 0;
/// while let Some(events) = pages.next().await.unwrap() {
///     n += events.len();
/// }
/// assert_eq!(n, 1);
/// # });
/// ```
pub struct Pages<'a> {
    store: &'a dyn ActivityStore,
    query: ActivityQuery,
    next: Option<PageFuture<'a>>,
    started: bool,
}

impl std::fmt::Debug for Pages<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pages")
            .field("query", &self.query)
            .field("reading", &self.next.is_some())
            .finish()
    }
}

impl<'a> Pages<'a> {
    /// The pages of `query` from its start (its cursor and limit are ignored: pages are
    /// [`MAX_PAGE_SIZE`] events).
    pub fn new(store: &'a dyn ActivityStore, query: ActivityQuery) -> Self {
        let mut query = query;
        query.after = None;
        query.limit = MAX_PAGE_SIZE;
        Self {
            store,
            query,
            next: None,
            started: false,
        }
    }

    fn read(&self) -> PageFuture<'a> {
        let (store, query) = (self.store, self.query.clone());
        Box::pin(async move { store.query(&query).await })
    }

    /// The next page's events; `None` after the last page. An error ends the reading.
    ///
    /// # Errors
    /// The store's errors.
    pub async fn next(&mut self) -> Result<Option<Vec<ActivityEvent>>> {
        let pending = match self.next.take() {
            Some(f) => f,
            None if self.started => return Ok(None),
            None => {
                self.started = true;
                self.read()
            }
        };
        let page = pending.await?;
        if let Some(cursor) = page.next {
            self.query.after = Some(cursor);
            let mut read = self.read();
            // Poll once, so the store starts on it now; keep the answer if it is ready.
            let early = std::future::poll_fn(|cx| Poll::Ready(read.as_mut().poll(cx))).await;
            self.next = Some(match early {
                Poll::Ready(r) => Box::pin(std::future::ready(r)),
                Poll::Pending => read,
            });
        }
        Ok(Some(page.events))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ActivityEvent, Actor, MemoryStore};

    #[tokio::test]
    async fn every_event_once_in_order_across_pages() {
        let store = MemoryStore::new();
        let events: Vec<_> = (0..(MAX_PAGE_SIZE * 2 + 3))
            .map(|i| ActivityEvent::logout(Actor::user(format!("u{i}"))))
            .collect();
        store.append(&events).await.unwrap();
        let mut pages = Pages::new(&store, ActivityQuery::new().limit(7));
        let mut seen = Vec::new();
        let mut sizes = Vec::new();
        while let Some(page) = pages.next().await.unwrap() {
            sizes.push(page.len());
            seen.extend(page.into_iter().map(|e| (e.time, e.id)));
        }
        assert_eq!(sizes, [MAX_PAGE_SIZE, MAX_PAGE_SIZE, 3]);
        let mut expected: Vec<_> = events.iter().map(|e| (e.time, e.id)).collect();
        expected.sort_by(|a, b| b.cmp(a));
        assert_eq!(seen, expected);
        assert!(pages.next().await.unwrap().is_none());
    }

    #[tokio::test]
    async fn an_empty_log_is_one_empty_page() {
        let store = MemoryStore::new();
        let mut pages = Pages::new(&store, ActivityQuery::new());
        assert_eq!(pages.next().await.unwrap().map(|p| p.len()), Some(0));
        assert!(pages.next().await.unwrap().is_none());
    }
}
