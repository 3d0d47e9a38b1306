//! A sink's receipt: how far it delivered, and how it fares.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::LogPosition;

/// What a sink is doing, as its last attempt left it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SinkStatus {
    /// Delivered everything it read; waiting for new events.
    Delivering,
    /// Its last delivery failed; it tries again after a backoff.
    Retrying,
    /// Stopped by its runner (the process shut down, or the sink was paused).
    Stopped,
}

impl SinkStatus {
    /// `delivering`, `retrying` or `stopped`.
    pub fn as_str(self) -> &'static str {
        match self {
            SinkStatus::Delivering => "delivering",
            SinkStatus::Retrying => "retrying",
            SinkStatus::Stopped => "stopped",
        }
    }
}

/// A sink's receipt, stored in the database beside the log (one row per sink) and
/// updated by its runner after every attempt: its cursor, the last event it delivered,
/// its failures and state.
///
/// The retention purge reads these: it keeps the events a registered sink has not
/// delivered (see [`Purger`](crate::retention::Purger)).
///
/// ```
/// use activity_core::sinks::{LogPosition, SinkState, SinkStatus};
/// let s = SinkState::new("siem", "http");
/// assert_eq!(s.position, LogPosition::START);
/// assert_eq!(s.status, SinkStatus::Delivering);
/// let json = serde_json::to_string(&s).unwrap();
/// assert_eq!(serde_json::from_str::<SinkState>(&json).unwrap(), s);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SinkState {
    /// The sink's name (its cursor's key).
    pub name: String,
    /// What it delivers to (`nats`, `http`, `file`, …).
    pub kind: String,
    /// Everything at or before this position was delivered (or filtered out).
    pub position: LogPosition,
    /// The last event it delivered.
    pub last_event: Option<Uuid>,
    /// When that event happened.
    pub last_event_time: Option<DateTime<Utc>>,
    /// When it last delivered a batch.
    pub last_delivery: Option<DateTime<Utc>>,
    /// When it last tried.
    pub last_attempt: Option<DateTime<Utc>>,
    /// Events delivered since the cursor was created.
    pub delivered: u64,
    /// Failed attempts in a row (0 after a success).
    pub failures: u32,
    /// Failed attempts since the cursor was created.
    pub total_failures: u64,
    /// The last failure, as the sink reported it.
    pub last_error: Option<String>,
    /// What the last attempt left it doing.
    pub status: SinkStatus,
}

impl SinkState {
    /// A new cursor, before the first event.
    pub fn new(name: impl Into<String>, kind: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            kind: kind.into(),
            position: LogPosition::START,
            last_event: None,
            last_event_time: None,
            last_delivery: None,
            last_attempt: None,
            delivered: 0,
            failures: 0,
            total_failures: 0,
            last_error: None,
            status: SinkStatus::Delivering,
        }
    }
}

/// A sink's receipt with its lag: what `activity sinks` and the administrators' view
/// show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SinkReceipt {
    /// The stored state.
    #[serde(flatten)]
    pub state: SinkState,
    /// Committed events after its cursor (before its filter): what it has yet to read.
    pub lag: u64,
}
