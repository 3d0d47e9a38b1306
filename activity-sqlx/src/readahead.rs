//! Reading the next page of a bulk read before it is asked for.
//!
//! Export, verification and archiving read a whole log a page ([`MAX_PAGE_SIZE`] events)
//! at a time, each page after the last one's cursor. The cursor is the page's last event,
//! known only once the page has been read — and decoding a page of JSON into events takes
//! about as long as SQLite takes to build it. [`Pages`](activity_core::Pages) asks for the
//! next page as soon as the store returns one, but by then the store has decoded it, and
//! SQLite's thread sat idle meanwhile.
//!
//! So the SQLite store, having the JSON text of a full bulk page, finds the cursor in it
//! first (skipping over the rows costs a tenth of decoding them), starts the next page's
//! read on a task of its own, and only then decodes. The next call for exactly that query
//! takes the text the task read. One read ahead is kept per store (a newer one replaces
//! it); it is used only by the query it was started for, and only within two seconds, so
//! what a caller gets is always what that query returns — read a moment earlier.

use std::sync::Mutex;

use std::time::Duration;

use activity_core::{ActivityQuery, Cursor, MAX_PAGE_SIZE};
use chrono::{TimeZone, Utc};
use serde::de::{DeserializeSeed, IgnoredAny, SeqAccess, Visitor};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// A page being read: its JSON text.
pub(crate) type Read = JoinHandle<Result<String, sqlx::Error>>;

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

/// The query of the page after the one `text` holds (the JSON rows of a read of `query`,
/// newest first), when `query` is a bulk read ([`MAX_PAGE_SIZE`] events a page) and more
/// rows follow; `None` otherwise, and for text that does not parse (the decoder reports
/// that).
pub(crate) fn next_query(query: &ActivityQuery, text: &str) -> Option<ActivityQuery> {
    let size = query.page_size();
    if size != MAX_PAGE_SIZE {
        return None;
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let (id, time_us) = Scan { last: size - 1 }.deserialize(&mut de).ok()??;
    let time = Utc.timestamp_micros(time_us).single()?;
    let id = uuid::Uuid::try_parse(&id).ok()?;
    let mut next = query.clone();
    next.after = Some(Cursor::new(time, id));
    Some(next)
}

/// Skips over the rows of a page, keeping the id and time of row `last` if a row follows
/// it (there is a next page).
struct Scan {
    last: usize,
}

impl<'de> DeserializeSeed<'de> for Scan {
    type Value = Option<(String, i64)>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Scan {
    type Value = Option<(String, i64)>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an array of event rows")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut at = None;
        for _ in 0..self.last {
            if seq.next_element::<IgnoredAny>()?.is_none() {
                return Ok(None);
            }
        }
        if let Some(head) = seq.next_element::<Head>()? {
            at = Some((head.0, head.1));
        }
        let more = seq.next_element::<IgnoredAny>()?.is_some();
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(at.filter(|_| more))
    }
}

/// The first two columns of a row: the id (hex) and the time (microseconds).
struct Head(String, i64);

impl<'de> serde::Deserialize<'de> for Head {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Head;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an event row")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Head, A::Error> {
                use serde::de::Error;
                let id: String = seq
                    .next_element()?
                    .ok_or_else(|| A::Error::custom("no id"))?;
                let time: i64 = seq
                    .next_element()?
                    .ok_or_else(|| A::Error::custom("no time"))?;
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Head(id, time))
            }
        }
        d.deserialize_seq(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: u128, time: i64) -> String {
        format!("[\"{id:032X}\",{time},\"auth.login\",null,[\"],[\\\"\"],{{\"a\":[1,[2]]}}]")
    }

    fn page(n: usize) -> String {
        let rows: Vec<String> = (0..n)
            .map(|i| row(i as u128 + 1, 1_000_000 - i as i64))
            .collect();
        format!("[{}]", rows.join(","))
    }

    #[test]
    fn the_cursor_is_the_last_row_of_a_full_page_when_more_follow() {
        let q = ActivityQuery::new().tenant("acme").limit(MAX_PAGE_SIZE);
        let next = next_query(&q, &page(MAX_PAGE_SIZE + 1)).expect("a next page");
        let c = next.after.expect("after the cursor");
        assert_eq!(c.id, uuid::Uuid::from_u128(MAX_PAGE_SIZE as u128));
        assert_eq!(c.time_micros(), 1_000_000 - (MAX_PAGE_SIZE as i64 - 1));
        assert_eq!(next.tenant.as_deref(), Some("acme"));
        // Exactly a page, or less: nothing follows.
        assert!(next_query(&q, &page(MAX_PAGE_SIZE)).is_none());
        assert!(next_query(&q, &page(3)).is_none());
        assert!(next_query(&q, "[]").is_none());
        // Short pages (the viewer's) never read ahead; broken text is left to the decoder.
        assert!(next_query(&q.clone().limit(50), &page(51)).is_none());
        assert!(next_query(&q, "[[\"zz\"").is_none());
        assert!(next_query(&q, "{}").is_none());
    }

    #[tokio::test]
    async fn a_kept_read_serves_only_its_own_query() {
        let r = Readahead::default();
        let q = ActivityQuery::new().actor("ann");
        r.keep(&q, tokio::spawn(async { Ok("[]".to_owned()) }));
        assert!(r.take(&ActivityQuery::new().actor("bob")).is_none());
        let task = r.take(&q).expect("kept for ann");
        assert_eq!(task.await.unwrap().unwrap(), "[]");
        assert!(r.take(&q).is_none(), "taken once");
    }

    // Paused time: the clock moves only when told.
    #[tokio::test(start_paused = true)]
    async fn a_stale_read_is_not_served() {
        let r = Readahead::default();
        let q = ActivityQuery::new().actor("ann");
        r.keep(&q, tokio::spawn(async { Ok("[]".to_owned()) }));
        tokio::time::advance(FRESH_FOR).await;
        assert!(r.take(&q).is_some(), "fresh up to the limit");
        r.keep(&q, tokio::spawn(async { Ok("[]".to_owned()) }));
        tokio::time::advance(FRESH_FOR + Duration::from_millis(1)).await;
        assert!(r.take(&q).is_none(), "stale: read afresh");
        assert!(!r.holds_any(), "and dropped");
    }
}
