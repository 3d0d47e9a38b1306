//! [`Cursor`] and [`Page`]: keyset pagination over the newest-first order.

use std::fmt;

use chrono::{DateTime, SubsecRound, TimeZone, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

use crate::error::{Error, Result, Rule};
use crate::event::ActivityEvent;

/// A position in the newest-first order `(time DESC, id DESC)`: the last event of a page.
///
/// Opaque to clients: it encodes as a short string (`c1` and hex). A cursor carries no
/// filter, so a forged one can only move within what the query's own filters allow.
///
/// ```
/// use activity_core::Cursor;
/// use chrono::Utc;
/// let c = Cursor::new(Utc::now(), uuid::Uuid::now_v7());
/// assert_eq!(Cursor::decode(&c.encode()).unwrap(), c);
/// assert!(Cursor::decode("garbage").is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cursor {
    /// Time of the last event returned.
    pub time: DateTime<Utc>,
    /// Id of the last event returned.
    pub id: Uuid,
}

impl Cursor {
    /// A cursor at this position.
    pub fn new(time: DateTime<Utc>, id: Uuid) -> Self {
        Self {
            time: time.trunc_subsecs(6),
            id,
        }
    }

    /// The cursor after `event`.
    pub fn after_event(event: &ActivityEvent) -> Self {
        Self::new(event.time, event.id)
    }

    /// Whether `(time, id)` comes after this cursor in newest-first order.
    pub fn precedes(&self, time: DateTime<Utc>, id: Uuid) -> bool {
        (time, id) < (self.time, self.id)
    }

    /// The cursor's time in microseconds since the Unix epoch.
    pub fn time_micros(&self) -> i64 {
        self.time.timestamp_micros()
    }

    /// The opaque string form.
    pub fn encode(&self) -> String {
        let mut bytes = [0u8; 24];
        bytes[..8].copy_from_slice(&self.time.timestamp_micros().to_be_bytes());
        bytes[8..].copy_from_slice(self.id.as_bytes());
        format!("c1{}", hex::encode(bytes))
    }

    /// Parses the opaque string form.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming `cursor` for anything [`encode`](Self::encode) did not produce.
    pub fn decode(s: &str) -> Result<Self> {
        let bad = || {
            Error::invalid(
                "cursor",
                Rule::Malformed("a cursor returned by a previous page"),
            )
        };
        let hex_part = s.strip_prefix("c1").ok_or_else(bad)?;
        if hex_part.len() != 48 {
            return Err(bad());
        }
        let mut bytes = [0u8; 24];
        hex::decode_to_slice(hex_part, &mut bytes).map_err(|_| bad())?;
        let micros = i64::from_be_bytes(bytes[..8].try_into().map_err(|_| bad())?);
        let time = Utc.timestamp_micros(micros).single().ok_or_else(bad)?;
        let id = Uuid::from_slice(&bytes[8..]).map_err(|_| bad())?;
        Ok(Self { time, id })
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.encode())
    }
}

impl std::str::FromStr for Cursor {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Cursor::decode(s)
    }
}

impl Serialize for Cursor {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.encode())
    }
}

impl<'de> Deserialize<'de> for Cursor {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Cursor::decode(&s).map_err(serde::de::Error::custom)
    }
}

/// One page of results, newest first.
///
/// ```
/// use activity_core::{ActivityEvent, ActivityQuery, ActivityStore, Actor, MemoryStore};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = MemoryStore::new();
/// let now = chrono::Utc::now();
/// let newer = ActivityEvent::logout(Actor::user("u_1")).with_time(now);
/// let older = ActivityEvent::logout(Actor::user("u_2")).with_time(now - chrono::Duration::minutes(1));
/// store.append(&[older.clone(), newer.clone()]).await.unwrap();
/// let first = store.query(&ActivityQuery::new().limit(1)).await.unwrap();
/// assert_eq!(first.events[0].id, newer.id);
/// let cursor = first.next.expect("more follow");
/// let last = store.query(&ActivityQuery::new().limit(1).after(cursor)).await.unwrap();
/// assert_eq!(last.events[0].id, older.id);
/// assert!(last.next.is_none(), "the last page");
/// # });
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Page {
    /// The events, newest first.
    pub events: Vec<ActivityEvent>,
    /// Where the next page starts; `None` when this is the last page.
    pub next: Option<Cursor>,
}

impl Page {
    /// Builds a page from up to `page_size + 1` events fetched in order: the extra one, if
    /// present, only tells that there is a next page. Stores use this so that `next` is
    /// `None` exactly on the last page.
    pub fn from_overfetch(mut events: Vec<ActivityEvent>, page_size: usize) -> Self {
        let next = if events.len() > page_size {
            events.truncate(page_size);
            events.last().map(Cursor::after_event)
        } else {
            None
        };
        Self { events, next }
    }
}
