//! The `details` of the SDK's own events, as types: each is written into an event and read
//! back from one by the same type, so that the keys of the log's self-audit schema are
//! defined once, here, and a renamed key is a compile error instead of a silent miss.
//!
//! | action | payload | written by | read by |
//! |---|---|---|---|
//! | `audit.started` | [`Started`] | the recorder | |
//! | `audit.stopped` | [`Stopped`] | the recorder | |
//! | `audit.failed` | [`Failed`] | the recorder | |
//! | `audit.recovered` | [`Recovered`] | the recorder | |
//! | `audit.purged` | [`Purged`] | the retention purger | chain verification (its checkpoints) |
//! | `audit.verified` | [`Verified`] | chain verification | |
//! | `audit.exported` | [`Exported`] | export, archives, the views' CSV export | |
//! | `audit.viewed` | [`Viewed`] | the views | |
//! | `audit.reviewed` | [`Reviewed`] | review sign-off | overdue reviews |
//! | `lockout.triggered` | [`LockoutTriggered`] | the lockout policy | the lockout policy |
//! | `lockout.released` | [`LockoutReleased`] | the lockout policy | |
//! | `alert.raised` | [`AlertRaised`] | the alert engine | timelines (its evidence) |
//!
//! ```
//! use activity_core::event::payload::{Payload, Recovered};
//! use activity_core::{Action, ActivityEvent, Outcome};
//! use chrono::{TimeZone, Utc};
//! let since = Utc.with_ymd_and_hms(2026, 11, 24, 6, 0, 0).unwrap();
//! let e = Recovered { outage_ms: 1500, outage_since: since, held_back: 12 }
//!     .write(ActivityEvent::audit(Action::AUDIT_RECOVERED, Outcome::Success));
//! assert_eq!(e.details.as_ref().unwrap()["outage_since"], "2026-11-24T06:00:00.000Z");
//! assert_eq!(Recovered::read(&e).unwrap().held_back, 12);
//! ```

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::{Action, ActivityEvent};

/// The `details` of one kind of the SDK's own events.
pub trait Payload: Serialize + DeserializeOwned {
    /// Whether events with `action` carry this payload.
    fn carried_by(action: &Action) -> bool;

    /// `event` with this payload's fields added to its `details` (other keys kept).
    fn write(&self, mut event: ActivityEvent) -> ActivityEvent {
        if let Ok(Value::Object(fields)) = serde_json::to_value(self) {
            let details = event.details.get_or_insert_with(Map::new);
            details.extend(fields);
        }
        event
    }

    /// This payload, read from `event`: `None` when the event is of another action or its
    /// `details` do not have the payload's shape (an event is data from the store, never
    /// trusted to be well formed).
    fn read(event: &ActivityEvent) -> Option<Self> {
        if !Self::carried_by(&event.action) {
            return None;
        }
        let details = event.details.as_ref()?;
        Self::deserialize(MapRef(details)).ok()
    }
}

/// Deserializes a payload straight from an event's `details`, without copying them.
struct MapRef<'a>(&'a Map<String, Value>);

impl<'de> Deserializer<'de> for MapRef<'de> {
    type Error = serde_json::Error;

    fn deserialize_any<V: serde::de::Visitor<'de>>(
        self,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        use serde::de::value::MapDeserializer;
        MapDeserializer::new(self.0.iter().map(|(k, v)| (k.as_str(), v))).deserialize_any(visitor)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map struct enum
        identifier ignored_any
    }
}

macro_rules! carried_by {
    ($ty:ty => $($action:ident)|+) => {
        impl Payload for $ty {
            fn carried_by(action: &Action) -> bool {
                $(*action == Action::$action)||+
            }
        }
    };
}

/// Times in the event's own format (milliseconds, or microseconds when present).
mod event_time {
    use super::*;

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&crate::event::format_time(t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let text = String::deserialize(d)?;
        crate::event::parse_time("time", &text).map_err(serde::de::Error::custom)
    }

    /// The same, for an optional time.
    pub mod option {
        use super::*;

        pub fn serialize<S: Serializer>(
            t: &Option<DateTime<Utc>>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match t {
                Some(t) => super::serialize(t, s),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<DateTime<Utc>>, D::Error> {
            match Option::<String>::deserialize(d)? {
                Some(text) => crate::event::parse_time("time", &text)
                    .map(Some)
                    .map_err(serde::de::Error::custom),
                None => Ok(None),
            }
        }
    }
}

/// `audit.started`: a recorder began writing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Started {
    /// The recorder's writer id.
    pub writer: String,
    /// The SDK's version.
    pub sdk_version: String,
}
carried_by!(Started => AUDIT_STARTED);

/// `audit.stopped`: a recorder shut down cleanly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stopped {
    /// The recorder's writer id.
    pub writer: String,
    /// Events it wrote in its run, this one included.
    pub events_written: u64,
}
carried_by!(Stopped => AUDIT_STOPPED);

/// `audit.failed`: the store failed, rejected an event, or events were dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failed {
    /// The store's error, cut to 512 bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The event the store rejected (reason `event_rejected`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// Events dropped by a full queue (reason `events_dropped`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dropped: Option<u64>,
}
carried_by!(Failed => AUDIT_FAILED);

impl Failed {
    /// The most an error's text takes in `details`, in bytes.
    pub const MAX_ERROR_LEN: usize = 512;

    /// A failure with `error`'s text, cut to [`MAX_ERROR_LEN`](Self::MAX_ERROR_LEN) bytes
    /// on a character boundary.
    ///
    /// ```
    /// use activity_core::event::payload::Failed;
    /// let long = "é".repeat(400);
    /// assert_eq!(Failed::error(&long).error.unwrap().len(), 512);
    /// ```
    pub fn error(error: &str) -> Self {
        Failed {
            error: Some(crate::text::truncate(error, Self::MAX_ERROR_LEN).to_owned()),
            ..Failed::default()
        }
    }
}

/// `audit.recovered`: the store is back after an outage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recovered {
    /// How long the outage lasted.
    pub outage_ms: i64,
    /// When it began.
    #[serde(with = "event_time")]
    pub outage_since: DateTime<Utc>,
    /// Events held back meanwhile.
    pub held_back: u64,
}
carried_by!(Recovered => AUDIT_RECOVERED);

/// What a purge did for one tenant (or, in [`Purged::not_archived`], how many of its
/// expired events no verified archive covers).
///
/// ```
/// use activity_core::retention::TenantPurge;
/// use chrono::Utc;
/// let t = TenantPurge { tenant: Some("acme".into()), cutoff: Utc::now(), events: 3 };
/// assert_eq!(t.events, 3);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantPurge {
    /// The tenant (`None`: events without a tenant).
    pub tenant: Option<String>,
    /// Events older than this went.
    pub cutoff: DateTime<Utc>,
    /// How many went (or would go, in a dry run).
    pub events: u64,
}

/// `audit.purged`: a retention purge ran. Its intact, non-dry-run instances are the
/// checkpoints chain verification accepts for a chain's missing oldest events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Purged {
    /// Whether it only counted.
    pub dry_run: bool,
    /// Events deleted (or that would be) in all.
    pub total: u64,
    /// Per tenant.
    pub tenants: Vec<TenantPurge>,
    /// Tenants skipped for a legal hold.
    pub held: Vec<String>,
    /// Partitions dropped whole (PostgreSQL), when any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub partitions: Vec<String>,
    /// Events that went with them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition_events: Option<u64>,
    /// Tenants whose expired events are not all archived, when any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_archived: Vec<TenantPurge>,
    /// Expired events kept because a sink has not delivered them, when any.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub undelivered_kept: u64,
    /// Expired events deleted although a sink had not delivered them, when any.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub undelivered_purged: u64,
}
carried_by!(Purged => AUDIT_PURGED);

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// `audit.verified`: a chain verification ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verified {
    /// Events read.
    pub events: u64,
    /// Chains found.
    pub chains: u64,
    /// Chains with a stored head.
    pub anchored: u64,
    /// Chains without one.
    pub unanchored: u64,
    /// Problems found.
    pub breaks: u64,
    /// The first problem, as `chain::Break` serialises it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_break: Option<Value>,
}
carried_by!(Verified => AUDIT_VERIFIED);

/// `audit.exported`: events left the log (an export, or an archive).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Exported {
    /// The format (`csv`, `jsonl`, `ocsf`).
    pub format: String,
    /// Rows written.
    pub rows: u64,
    /// The query that chose them.
    pub filter: Value,
    /// The archive directory, for an archive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archive: Option<String>,
    /// The viewer's scope (`own`, `tenant`), for an export from the views.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Whether a streamed export from the views reached its end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub complete: Option<bool>,
}
carried_by!(Exported => AUDIT_EXPORTED);

/// `audit.viewed`: somebody read the log through the views.
///
/// ```
/// use activity_core::event::payload::{Payload, Viewed};
/// use activity_core::{ActivityEvent, Actor};
/// let e = Viewed { rows: 3, ..Viewed::scope("devices") }
///     .write(ActivityEvent::audit_viewed(Actor::user("u_1")));
/// assert_eq!(Viewed::read(&e).unwrap().scope, "devices");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Viewed {
    /// What was read: `own`, `tenant`, `devices`, `timeline`.
    pub scope: String,
    /// Rows (events, devices, timeline entries) shown.
    pub rows: u64,
    /// The listing's filter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<Value>,
    /// Which page of a listing (`first`, `next`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<String>,
    /// The user whose devices were read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The event a timeline was built around.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anchor: Option<String>,
}
carried_by!(Viewed => AUDIT_VIEWED);

impl Viewed {
    /// A view of `scope`, the other fields empty.
    pub fn scope(scope: &str) -> Self {
        Viewed {
            scope: scope.to_owned(),
            ..Viewed::default()
        }
    }
}

/// `audit.reviewed`: a reviewer signed off a digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reviewed {
    /// The reviewer's role (`security_analyst`, …).
    pub role: String,
    /// The reviewed period's start.
    #[serde(with = "event_time")]
    pub since: DateTime<Utc>,
    /// Its end.
    #[serde(with = "event_time")]
    pub until: DateTime<Utc>,
    /// Events in the digest.
    pub total_events: u64,
    /// The reviewer's comment.
    pub comment: String,
}
carried_by!(Reviewed => AUDIT_REVIEWED);

/// `lockout.triggered`: an account (or account and address) was locked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockoutTriggered {
    /// Failures counted toward the lock.
    pub failures: u64,
    /// The failure that triggered it.
    pub trigger: String,
    /// When it ends (`None`: permanent).
    #[serde(
        default,
        with = "event_time::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub until: Option<DateTime<Utc>>,
    /// Its length in minutes, when it ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minutes: Option<i64>,
    /// Whether it never ends.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub permanent: bool,
}
carried_by!(LockoutTriggered => LOCKOUT_TRIGGERED);

/// `lockout.released`: a lock ended (the reason says why).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockoutReleased {
    /// The administrator who unlocked it (reason `admin_unlock`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
}
carried_by!(LockoutReleased => LOCKOUT_RELEASED);

/// `alert.raised`: an alert rule fired.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertRaised {
    /// The rule's id.
    pub rule: String,
    /// Its severity (`low`, `medium`, `high`, `critical`).
    pub severity: String,
    /// The events that caused it.
    pub evidence: Vec<Uuid>,
    /// For people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}
carried_by!(AlertRaised => ALERT_RAISED);

/// A UUID v8 derived from `parts` (SHA-256 of their concatenation, first 16 bytes): the
/// same inputs give the same id on every instance, so an event that several instances
/// would record (an alert, a lock's release) is stored once.
///
/// ```
/// let a = activity_core::event::payload::derived_id(&[b"rule", b"trigger"]);
/// assert_eq!(a, activity_core::event::payload::derived_id(&[b"rule", b"trigger"]));
/// assert_eq!(a.get_version_num(), 8);
/// ```
pub fn derived_id(parts: &[&[u8]]) -> Uuid {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    for p in parts {
        h.update(p);
    }
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&h.finalize()[..16]);
    Uuid::new_v8(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Outcome;

    #[test]
    fn a_payload_is_read_back_only_from_its_own_action_and_shape() {
        let p = LockoutTriggered {
            failures: 10,
            trigger: "t".into(),
            until: None,
            minutes: None,
            permanent: true,
        };
        let e = p.write(ActivityEvent::audit(
            Action::LOCKOUT_TRIGGERED,
            Outcome::Success,
        ));
        assert_eq!(e.details.as_ref().unwrap()["permanent"], true);
        assert!(!e.details.as_ref().unwrap().contains_key("until"));
        assert_eq!(LockoutTriggered::read(&e), Some(p));
        let other = ActivityEvent::audit(Action::AUDIT_PURGED, Outcome::Success)
            .with_detail("failures", 10)
            .with_detail("trigger", "t");
        assert_eq!(LockoutTriggered::read(&other), None, "another action");
        let bad = ActivityEvent::audit(Action::LOCKOUT_TRIGGERED, Outcome::Success)
            .with_detail("failures", "ten");
        assert_eq!(LockoutTriggered::read(&bad), None, "a malformed row");
    }

    #[test]
    fn writing_keeps_the_event_s_other_details() {
        let e = ActivityEvent::audit(Action::AUDIT_FAILED, Outcome::Failure).with_detail("k", 1);
        let e = Failed {
            dropped: Some(3),
            ..Failed::default()
        }
        .write(e);
        let d = e.details.unwrap();
        assert_eq!((d["k"].clone(), d["dropped"].clone()), (1.into(), 3.into()));
        assert!(!d.contains_key("error"));
    }
}
