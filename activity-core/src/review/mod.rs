//! The review schedule: digests per reviewer role, their cadence, and sign-off.
//!
//! The product names three reviews: administrators weekly (all activity, config and role
//! changes, unlocks, exports), security analysts daily (failures, lockouts, alerts by
//! rule, new devices and locations, top failing addresses and accounts) and compliance
//! monthly (chain verifications, purges, exports and archives, logging outages, gaps with
//! no events, overdue reviews). A [`Digest`] is computed from the stored events of a
//! period in one pass (memory bounded by the number of distinct accounts and addresses
//! seen, not by the number of events); [`ReviewScheduler`] produces them on each role's
//! cadence and hands them to a [`DigestSink`]; a reviewer signs one off with
//! [`sign_off`], which records an `audit.reviewed` event.
//!
//! One file each: the role and the digest's contents here; computing a digest
//! ([`digest`], [`DigestOptions`]); the schedule ([`ReviewScheduler`], [`DigestSink`],
//! [`overdue`], [`sign_off`]); the digest as an HTML page ([`Digest::to_html`]); and the
//! compliance report ([`compliance_report`], [`ComplianceReport`]).

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

mod compliance;
mod digest;
mod html;
mod schedule;
mod sign_off;

#[cfg(test)]
mod fixtures;

pub use compliance::{compliance_report, ComplianceReport};
pub use digest::{digest, DigestOptions};
pub use schedule::{DigestSink, ReviewScheduler};
pub use sign_off::{overdue, sign_off};

use crate::{ActivityEvent, Error, Outcome, Result, Rule};

/// Who reviews, and so what a digest holds and how often it is due.
///
/// ```
/// use activity_core::review::ReviewRole;
/// use chrono::Duration;
/// let role = ReviewRole::parse("security").unwrap();
/// assert_eq!(role, ReviewRole::SecurityAnalyst);
/// assert_eq!(role.cadence(), Duration::days(1));
/// assert_eq!(role.to_string(), "security_analyst");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewRole {
    /// Weekly: all activity, config and role changes, unlocks, exports.
    Administrator,
    /// Daily: security operations and anomalies.
    SecurityAnalyst,
    /// Monthly: audit-trail completeness.
    Compliance,
}

impl ReviewRole {
    /// Every role.
    pub const ALL: [ReviewRole; 3] = [
        ReviewRole::Administrator,
        ReviewRole::SecurityAnalyst,
        ReviewRole::Compliance,
    ];

    /// The role's cadence: 7 days, 1 day, 30 days.
    pub fn cadence(self) -> Duration {
        match self {
            ReviewRole::Administrator => Duration::days(7),
            ReviewRole::SecurityAnalyst => Duration::days(1),
            ReviewRole::Compliance => Duration::days(30),
        }
    }

    /// `administrator`, `security_analyst` or `compliance`.
    pub fn as_str(self) -> &'static str {
        match self {
            ReviewRole::Administrator => "administrator",
            ReviewRole::SecurityAnalyst => "security_analyst",
            ReviewRole::Compliance => "compliance",
        }
    }

    /// Parses [`as_str`](Self::as_str)'s names (also `admin`, `security`).
    ///
    /// # Errors
    /// [`Error::Invalid`] naming `role`.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "administrator" | "admin" => Ok(ReviewRole::Administrator),
            "security_analyst" | "security" | "analyst" => Ok(ReviewRole::SecurityAnalyst),
            "compliance" => Ok(ReviewRole::Compliance),
            _ => Err(Error::invalid(
                "role",
                Rule::Unknown("administrator, security_analyst, compliance"),
            )),
        }
    }
}

impl fmt::Display for ReviewRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A count per key, most frequent first.
///
/// ```
/// use activity_core::review::{digest, DigestOptions, Ranked, ReviewRole};
/// use activity_core::{ActivityEvent, ActivityStore, Actor, MemoryStore};
/// use chrono::{Duration, TimeZone, Utc};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = MemoryStore::new();
/// let day = Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap();
/// let fail = |who: &str| ActivityEvent::login_failed(Actor::user(who)).with_time(day);
/// store.append(&[fail("bob"), fail("bob"), fail("ann")]).await.unwrap();
/// let end = day + Duration::days(1);
/// let d = digest(&store, ReviewRole::SecurityAnalyst, None, day, end, end, DigestOptions::default())
///     .await.unwrap();
/// assert_eq!(d.top_failing_accounts[0], Ranked { key: "bob".into(), count: 2 });
/// assert_eq!(d.top_failing_accounts[1], Ranked { key: "ann".into(), count: 1 });
/// # });
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ranked {
    /// The key (an account, an address, a rule…).
    pub key: String,
    /// How many.
    pub count: u64,
}

/// A short line about one notable event.
///
/// ```
/// use activity_core::review::{digest, DigestOptions, ReviewRole};
/// use activity_core::{ActivityEvent, ActivityStore, Actor, MemoryStore, Outcome};
/// use chrono::{Duration, TimeZone, Utc};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = MemoryStore::new();
/// let day = Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap();
/// let change = ActivityEvent::admin_config_changed(Actor::user("root")).with_time(day);
/// store.append(&[change.clone()]).await.unwrap();
/// let end = day + Duration::days(7);
/// let d = digest(&store, ReviewRole::Administrator, None, day, end, end, DigestOptions::default())
///     .await.unwrap();
/// let n = &d.config_changes[0];
/// assert_eq!((n.action.as_str(), n.actor.as_deref()), ("admin.config.changed", Some("root")));
/// assert_eq!((n.id, n.time, n.outcome), (change.id, day, Outcome::Success));
/// # });
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Notable {
    /// When.
    pub time: DateTime<Utc>,
    /// The action code.
    pub action: String,
    /// Who (actor id).
    pub actor: Option<String>,
    /// On what (target id or type).
    pub target: Option<String>,
    /// Outcome.
    pub outcome: Outcome,
    /// Reason.
    pub reason: Option<String>,
    /// The event id.
    pub id: uuid::Uuid,
}

impl From<&ActivityEvent> for Notable {
    fn from(e: &ActivityEvent) -> Self {
        Self {
            time: e.time,
            action: e.action.to_string(),
            actor: e.actor_id().map(str::to_owned),
            target: e
                .target
                .as_ref()
                .map(|t| t.id.clone().unwrap_or_else(|| t.kind.clone())),
            outcome: e.outcome,
            reason: e.reason.clone(),
            id: e.id,
        }
    }
}

/// A stretch of time with no events at all.
///
/// ```
/// use activity_core::review::{digest, DigestOptions, Gap, ReviewRole};
/// use activity_core::{ActivityEvent, ActivityStore, Actor, MemoryStore};
/// use chrono::{Duration, TimeZone, Utc};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = MemoryStore::new();
/// let day = Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap();
/// let (one, twenty) = (day + Duration::hours(1), day + Duration::hours(20));
/// let at = |t| ActivityEvent::logout(Actor::user("u_1")).with_time(t);
/// store.append(&[at(one), at(twenty)]).await.unwrap();
/// let options = DigestOptions { gap: Duration::hours(6), ..DigestOptions::default() };
/// let end = day + Duration::days(1);
/// let d = digest(&store, ReviewRole::Compliance, None, day, end, end, options).await.unwrap();
/// assert_eq!(d.gaps, vec![Gap { from: one, until: twenty }], "19 hours without an event");
/// # });
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Gap {
    /// Last event before the gap (or the period start).
    pub from: DateTime<Utc>,
    /// First event after the gap (or the period end).
    pub until: DateTime<Utc>,
}

/// A review that should have happened and did not.
///
/// ```
/// use activity_core::review::{overdue, ReviewRole};
/// use activity_core::MemoryStore;
/// use chrono::{TimeZone, Utc};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = MemoryStore::new(); // nobody has ever signed a digest off
/// let now = Utc.with_ymd_and_hms(2026, 11, 24, 0, 0, 0).unwrap();
/// let late = overdue(&store, None, now).await.unwrap();
/// assert_eq!(late.len(), 3, "every role");
/// assert_eq!((late[1].role, late[1].last_review), (ReviewRole::SecurityAnalyst, None));
/// assert!(late.iter().all(|o| o.due < now));
/// # });
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Overdue {
    /// The role.
    pub role: ReviewRole,
    /// When the last review was signed off, if ever.
    pub last_review: Option<DateTime<Utc>>,
    /// When the next one was due.
    pub due: DateTime<Utc>,
}

/// A review digest for one role and period.
///
/// Made by [`digest`] (or a [`ReviewScheduler`]), signed off with [`sign_off`], shown with
/// [`to_html`](Self::to_html) or [`to_json`](Self::to_json).
///
/// ```
/// use activity_core::review::{digest, DigestOptions, ReviewRole};
/// use activity_core::{ActivityEvent, ActivityStore, Actor, MemoryStore};
/// use chrono::{Duration, TimeZone, Utc};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = MemoryStore::new();
/// let day = Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap();
/// store.append(&[
///     ActivityEvent::login_succeeded(Actor::user("ann")).with_time(day),
///     ActivityEvent::audit_exported(Actor::user("root")).with_time(day),
/// ]).await.unwrap();
/// let end = day + Duration::days(7);
/// let d = digest(&store, ReviewRole::Administrator, None, day, end, end, DigestOptions::default())
///     .await.unwrap();
/// assert_eq!((d.total_events, d.by_category["auth"], d.exports.len()), (2, 1, 1));
/// assert!(d.to_html().contains("administrator review digest"));
/// # });
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Digest {
    /// The role it is for.
    pub role: ReviewRole,
    /// Tenant (`None`: every tenant).
    pub tenant: Option<String>,
    /// Period start (inclusive).
    pub since: DateTime<Utc>,
    /// Period end (exclusive).
    pub until: DateTime<Utc>,
    /// When it was produced.
    pub generated: DateTime<Utc>,
    /// Every event in the period.
    pub total_events: u64,
    /// Events per category.
    pub by_category: BTreeMap<String, u64>,
    /// Events per outcome.
    pub by_outcome: BTreeMap<String, u64>,
    /// Administrator: configuration changes.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub config_changes: Vec<Notable>,
    /// Administrator: role changes.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub role_changes: Vec<Notable>,
    /// Administrator: unlocks (by administrators, expiry or password reset).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unlocks: Vec<Notable>,
    /// Administrator and compliance: exports of the log.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub exports: Vec<Notable>,
    /// Security: failures per action.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub failures_by_action: BTreeMap<String, u64>,
    /// Security: lockouts.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub lockouts: Vec<Notable>,
    /// Security: alerts per rule.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub alerts_by_rule: BTreeMap<String, u64>,
    /// Security and compliance: requests an access policy denied, per `policy/rule`
    /// (`policy` is `tenant` or `global`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub access_denied_by_rule: BTreeMap<String, u64>,
    /// Security and compliance: requests report-only rules would have denied, per
    /// `policy/rule`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub access_reported_by_rule: BTreeMap<String, u64>,
    /// Security: alerts about new devices and new locations.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub new_devices_and_locations: Vec<Notable>,
    /// Security: the ten addresses with most failures.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub top_failing_ips: Vec<Ranked>,
    /// Security: the ten accounts with most failures.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub top_failing_accounts: Vec<Ranked>,
    /// Compliance: chain verifications run (`audit.verified`), with their outcome.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub verifications: Vec<Notable>,
    /// Compliance: purges run (`audit.purged`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub purges: Vec<Notable>,
    /// Compliance: logging outages and stops (`audit.failed`, `audit.recovered`, `audit.stopped`, `audit.started`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub logging_events: Vec<Notable>,
    /// Compliance: stretches with no events longer than the configured gap.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub gaps: Vec<Gap>,
    /// Compliance: reviews signed off in the period.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reviews: Vec<Notable>,
    /// Compliance: reviews overdue against the schedule at the period's end.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub overdue_reviews: Vec<Overdue>,
}

/// A part of a [`Digest`] that only some roles review (the totals by category and by
/// outcome are in every digest).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Section {
    ConfigChanges,
    RoleChanges,
    Unlocks,
    Exports,
    FailuresByAction,
    Lockouts,
    AlertsByRule,
    AccessByRule,
    NewDevicesAndLocations,
    TopFailingIps,
    TopFailingAccounts,
    Verifications,
    Purges,
    LoggingEvents,
    Gaps,
    Reviews,
    OverdueReviews,
}

impl ReviewRole {
    /// The sections this role reviews, in the order its page shows them. A digest fills
    /// these and leaves the others empty.
    fn sections(self) -> &'static [Section] {
        use Section::*;
        match self {
            ReviewRole::Administrator => &[ConfigChanges, RoleChanges, Unlocks, Exports],
            ReviewRole::SecurityAnalyst => &[
                FailuresByAction,
                Lockouts,
                AlertsByRule,
                AccessByRule,
                NewDevicesAndLocations,
                TopFailingIps,
                TopFailingAccounts,
            ],
            ReviewRole::Compliance => &[
                Verifications,
                Purges,
                Exports,
                AccessByRule,
                LoggingEvents,
                Gaps,
                Reviews,
                OverdueReviews,
            ],
        }
    }

    /// Whether this role reviews `section`.
    fn reviews(self, section: Section) -> bool {
        self.sections().contains(&section)
    }
}

impl Digest {
    /// The digest as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self)
            .expect("a digest serialises: its maps have string keys and it holds no floats")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_parse() {
        assert_eq!(
            ReviewRole::parse("security").unwrap(),
            ReviewRole::SecurityAnalyst
        );
        assert!(ReviewRole::parse("boss").is_err());
    }
}
