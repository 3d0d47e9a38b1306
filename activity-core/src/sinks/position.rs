//! Where an event stands in the committed log.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Rule};
use crate::event::ActivityEvent;

/// An event's place in the order in which the store committed events: what a
/// [sink](super)'s cursor holds.
///
/// Positions compare by `tx`, then `seq`. A store gives them out so that a reader
/// asking for the events after a position never misses one that commits later:
/// SQLite and MySQL number events under a lock held until the commit (`tx` is 0);
/// PostgreSQL keeps the writing transaction's id (`xid8`) and its own sequence, and
/// hands out only events of transactions older than every one still running.
///
/// ```
/// use activity_core::sinks::LogPosition;
/// let a = LogPosition::new(0, 41);
/// let b: LogPosition = "0.42".parse().unwrap();
/// assert!(a < b && LogPosition::START < a);
/// assert_eq!(b.to_string(), "0.42");
/// assert!("42".parse::<LogPosition>().is_err());
/// assert!("0.-1".parse::<LogPosition>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct LogPosition {
    /// The transaction's number (PostgreSQL's `xid8`; 0 on stores that number events
    /// alone).
    pub tx: u64,
    /// The event's number within it (or within the log).
    pub seq: u64,
}

impl LogPosition {
    /// Before every event: a new sink's cursor.
    pub const START: LogPosition = LogPosition { tx: 0, seq: 0 };

    /// The position `tx.seq`.
    pub const fn new(tx: u64, seq: u64) -> Self {
        Self { tx, seq }
    }
}

impl fmt::Display for LogPosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.tx, self.seq)
    }
}

impl FromStr for LogPosition {
    type Err = Error;

    /// `tx.seq`, two decimal numbers.
    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = || Error::invalid("position", Rule::Malformed("expected `tx.seq`"));
        let (tx, seq) = s.split_once('.').ok_or_else(bad)?;
        let num = |v: &str| {
            if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            v.parse::<u64>().map_err(|_| bad())
        };
        Ok(Self::new(num(tx)?, num(seq)?))
    }
}

/// A committed event and its position, as [`ActivityStore::read_log`] returns them.
///
/// [`ActivityStore::read_log`]: crate::ActivityStore::read_log
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedEvent {
    /// Where it stands.
    pub position: LogPosition,
    /// The event, as stored.
    pub event: ActivityEvent,
}

/// Written as its `tx.seq` text (a JSON number would lose digits past 2^53 in some
/// readers).
impl serde::Serialize for LogPosition {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for LogPosition {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}
