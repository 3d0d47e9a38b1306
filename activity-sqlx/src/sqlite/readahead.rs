//! Reading the next page of a bulk read before it is asked for.
//!
//! Export, verification and archiving read a whole log a page ([`MAX_PAGE_SIZE`] events)
//! at a time, each page after the last one's cursor: the page's last event. As soon as
//! the SQLite store has a full bulk page it starts the next page's read on a task of its
//! own and returns; while the caller works through this page (CSV, hashing), the next is
//! read on another thread. The next call for exactly that query takes what the task
//! read. One read ahead is kept per store (a newer one replaces it); it is used only by
//! the query it was started for, and only within two seconds, so what a caller gets is
//! always what that query returns — read a moment earlier.

use std::sync::Mutex;

use std::time::Duration;

use activity_core::{query::MAX_PAGE_SIZE, ActivityEvent, ActivityQuery, Cursor};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// A page being read: its events (newest first, one more than a page when more follow).
pub(crate) type Read = JoinHandle<activity_core::Result<Vec<ActivityEvent>>>;

/// How long a read ahead stays good: a bulk reader asks for the next page within
/// milliseconds; a page asked for later (a viewer's "next" clicked minutes after) is read
/// afresh, so that it never shows what a purge has removed since.
const FRESH_FOR: Duration = Duration::from_secs(2);

/// The read started for the page after the last one served.
#[derive(Debug, Default)]
pub(crate) struct Readahead {
    slot: Mutex<Option<(ActivityQuery, Instant, Read)>>,
}

impl Readahead {
    /// The read started for `query`, if that is what is kept and it is fresh (a stale
    /// one is dropped: its task finishes on its own).
    pub(crate) fn take(&self, query: &ActivityQuery) -> Option<Read> {
        let mut slot = self.slot.lock().unwrap_or_else(|p| p.into_inner());
        match slot.take() {
            Some((k, started, task)) if k == *query => {
                (started.elapsed() <= FRESH_FOR).then_some(task)
            }
            other => {
                *slot = other;
                None
            }
        }
    }

    /// Keeps `task`, the read of `query`, replacing any other (which finishes on its own
    /// and is dropped).
    pub(crate) fn keep(&self, query: &ActivityQuery, task: Read) {
        *self.slot.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((query.clone(), Instant::now(), task));
    }
}

#[cfg(test)]
impl Readahead {
    /// Whether the read kept is `query`'s.
    pub(crate) fn holds(&self, query: &ActivityQuery) -> bool {
        let slot = self.slot.lock().unwrap_or_else(|p| p.into_inner());
        slot.as_ref().is_some_and(|(k, _, _)| k == query)
    }

    /// Whether a read is kept.
    pub(crate) fn holds_any(&self) -> bool {
        self.slot
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }
}

/// Whether `query` is a bulk read: pages of [`MAX_PAGE_SIZE`] events (export,
/// verification, archiving), read ahead and, on a file store, through the reader.
pub(crate) fn is_bulk(query: &ActivityQuery) -> bool {
    query.page_size() == MAX_PAGE_SIZE
}

/// The query of the page after the one `events` holds (what a read of `query` returned:
/// newest first, one more than a page when more follow), when `query` is a bulk read
/// ([`MAX_PAGE_SIZE`] events a page) and more rows follow; `None` otherwise.
pub(crate) fn next_query(query: &ActivityQuery, events: &[ActivityEvent]) -> Option<ActivityQuery> {
    if !is_bulk(query) || events.len() <= MAX_PAGE_SIZE {
        return None;
    }
    let last = &events[MAX_PAGE_SIZE - 1];
    let mut next = query.clone();
    next.after = Some(Cursor::new(last.time, last.id));
    Some(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(n: usize) -> Vec<ActivityEvent> {
        let t0 = chrono::Utc::now();
        (0..n)
            .map(|i| {
                ActivityEvent::logout(activity_core::Actor::user("u"))
                    .with_time(t0 - chrono::Duration::microseconds(i as i64))
            })
            .collect()
    }

    #[test]
    fn the_cursor_is_the_last_event_of_a_full_page_when_more_follow() {
        let q = ActivityQuery::new().tenant("acme").limit(MAX_PAGE_SIZE);
        let events = page(MAX_PAGE_SIZE + 1);
        let next = next_query(&q, &events).expect("a next page");
        let c = next.after.expect("after the cursor");
        let last = &events[MAX_PAGE_SIZE - 1];
        assert_eq!(c, Cursor::new(last.time, last.id));
        assert_eq!(next.tenant.as_deref(), Some("acme"));
        // Exactly a page, or less: nothing follows.
        assert!(next_query(&q, &page(MAX_PAGE_SIZE)).is_none());
        assert!(next_query(&q, &page(3)).is_none());
        assert!(next_query(&q, &[]).is_none());
        // Short pages (the viewer's) never read ahead.
        assert!(next_query(&q.clone().limit(50), &page(51)).is_none());
    }

    #[tokio::test]
    async fn a_kept_read_serves_only_its_own_query() {
        let r = Readahead::default();
        let q = ActivityQuery::new().actor("ann");
        r.keep(&q, tokio::spawn(async { Ok(Vec::new()) }));
        assert!(r.take(&ActivityQuery::new().actor("bob")).is_none());
        let task = r.take(&q).expect("kept for ann");
        assert!(task.await.unwrap().unwrap().is_empty());
        assert!(r.take(&q).is_none(), "taken once");
    }

    // Paused time: the clock moves only when told.
    #[tokio::test(start_paused = true)]
    async fn a_stale_read_is_not_served() {
        let r = Readahead::default();
        let q = ActivityQuery::new().actor("ann");
        r.keep(&q, tokio::spawn(async { Ok(Vec::new()) }));
        tokio::time::advance(FRESH_FOR).await;
        assert!(r.take(&q).is_some(), "fresh up to the limit");
        r.keep(&q, tokio::spawn(async { Ok(Vec::new()) }));
        tokio::time::advance(FRESH_FOR + Duration::from_millis(1)).await;
        assert!(r.take(&q).is_none(), "stale: read afresh");
        assert!(!r.holds_any(), "and dropped");
    }
}
