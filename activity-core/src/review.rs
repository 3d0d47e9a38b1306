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

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::clock::Clock;
use crate::error::{Error, Result, Rule};
use crate::event::{Action, ActivityEvent, Actor, Outcome};
use crate::query::ActivityQuery;
use crate::recorder::Recorder;
use crate::store::ActivityStore;

/// Who reviews, and so what a digest holds and how often it is due.
///
/// ```
/// use activity_core::ReviewRole;
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
/// use activity_core::{digest, ActivityEvent, ActivityStore, Actor, DigestOptions, MemoryStore, Ranked, ReviewRole};
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
/// use activity_core::{digest, ActivityEvent, ActivityStore, Actor, DigestOptions, MemoryStore, Outcome, ReviewRole};
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
/// use activity_core::{digest, ActivityEvent, ActivityStore, Actor, DigestOptions, Gap, MemoryStore, ReviewRole};
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
/// use activity_core::{overdue, MemoryStore, ReviewRole};
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
/// use activity_core::{digest, ActivityEvent, ActivityStore, Actor, DigestOptions, MemoryStore, ReviewRole};
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

/// Settings for computing digests.
///
/// ```
/// use activity_core::{digest, ActivityEvent, ActivityStore, Actor, DigestOptions, MemoryStore, ReviewRole};
/// use chrono::{Duration, TimeZone, Utc};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = MemoryStore::new();
/// let day = Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap();
/// let change = |who: &str| ActivityEvent::admin_config_changed(Actor::user(who)).with_time(day);
/// store.append(&[change("root"), change("ops")]).await.unwrap();
/// let options = DigestOptions { max_listed: 1, ..DigestOptions::default() };
/// assert_eq!(options.gap, Duration::hours(24));
/// let end = day + Duration::days(7);
/// let d = digest(&store, ReviewRole::Administrator, None, day, end, end, options).await.unwrap();
/// assert_eq!((d.total_events, d.config_changes.len()), (2, 1), "counted, listed once");
/// # });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DigestOptions {
    /// A stretch with no events longer than this is reported as a gap (default 24 h).
    pub gap: Duration,
    /// The most notable events listed per section (default 100).
    pub max_listed: usize,
}

impl Default for DigestOptions {
    fn default() -> Self {
        Self {
            gap: Duration::hours(24),
            max_listed: 100,
        }
    }
}

fn push_limited(list: &mut Vec<Notable>, e: &ActivityEvent, max: usize) {
    if list.len() < max {
        list.push(Notable::from(e));
    }
}

fn top(map: BTreeMap<String, u64>, n: usize) -> Vec<Ranked> {
    let mut v: Vec<Ranked> = map
        .into_iter()
        .map(|(key, count)| Ranked { key, count })
        .collect();
    v.sort_by(|a, b| b.count.cmp(&a.count).then(a.key.cmp(&b.key)));
    v.truncate(n);
    v
}

/// Computes the digest for `role` over `[since, until)` in `tenant` (`None`: all).
///
/// # Errors
/// [`Error::Invalid`] when `since` is not before `until`; the store's errors.
///
/// ```
/// use activity_core::{digest, ActivityEvent, ActivityStore, Actor, DigestOptions, MemoryStore, ReviewRole};
/// use chrono::{Duration, Utc};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = MemoryStore::new();
/// store.append(&[ActivityEvent::login_failed(Actor::user("bob"))]).await.unwrap();
/// let now = Utc::now();
/// let d = digest(&store, ReviewRole::SecurityAnalyst, None, now - Duration::days(1), now + Duration::seconds(1), now, DigestOptions::default())
///     .await.unwrap();
/// assert_eq!(d.top_failing_accounts[0].key, "bob");
/// # });
/// ```
pub async fn digest(
    store: &dyn ActivityStore,
    role: ReviewRole,
    tenant: Option<&str>,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    now: DateTime<Utc>,
    options: DigestOptions,
) -> Result<Digest> {
    if since >= until {
        return Err(Error::invalid("since", Rule::OutOfRange("before `until`")));
    }
    let mut d = Digest {
        role,
        tenant: tenant.map(str::to_owned),
        since,
        until,
        generated: now,
        total_events: 0,
        by_category: BTreeMap::new(),
        by_outcome: BTreeMap::new(),
        config_changes: Vec::new(),
        role_changes: Vec::new(),
        unlocks: Vec::new(),
        exports: Vec::new(),
        failures_by_action: BTreeMap::new(),
        lockouts: Vec::new(),
        alerts_by_rule: BTreeMap::new(),
        new_devices_and_locations: Vec::new(),
        top_failing_ips: Vec::new(),
        top_failing_accounts: Vec::new(),
        verifications: Vec::new(),
        purges: Vec::new(),
        logging_events: Vec::new(),
        gaps: Vec::new(),
        reviews: Vec::new(),
        overdue_reviews: Vec::new(),
    };
    let max = options.max_listed;
    let mut failing_ips: BTreeMap<String, u64> = BTreeMap::new();
    let mut failing_accounts: BTreeMap<String, u64> = BTreeMap::new();
    // Pages come newest first; gaps are measured between consecutive event times.
    let mut newer = until;
    let mut pages = crate::Pages::new(store, scoped(tenant).since(since).until(until));
    while let Some(events) = pages.next().await? {
        for e in &events {
            d.total_events += 1;
            *d.by_category
                .entry(e.action.category().to_owned())
                .or_default() += 1;
            *d.by_outcome.entry(e.outcome.to_string()).or_default() += 1;
            if newer - e.time > options.gap {
                d.gaps.push(Gap {
                    from: e.time,
                    until: newer,
                });
            }
            newer = e.time;
            let a = &e.action;
            if *a == Action::ADMIN_CONFIG_CHANGED {
                push_limited(&mut d.config_changes, e, max);
            } else if *a == Action::ADMIN_ROLE_CHANGED {
                push_limited(&mut d.role_changes, e, max);
            } else if *a == Action::ADMIN_USER_UNLOCKED || *a == Action::LOCKOUT_RELEASED {
                push_limited(&mut d.unlocks, e, max);
            } else if *a == Action::AUDIT_EXPORTED {
                push_limited(&mut d.exports, e, max);
            } else if *a == Action::LOCKOUT_TRIGGERED {
                push_limited(&mut d.lockouts, e, max);
            } else if *a == Action::ALERT_RAISED {
                let rule = e.reason.clone().unwrap_or_else(|| "unknown".into());
                if rule.starts_with("new_device") || rule.starts_with("geo_anomaly") {
                    push_limited(&mut d.new_devices_and_locations, e, max);
                }
                *d.alerts_by_rule.entry(rule).or_default() += 1;
            } else if *a == Action::AUDIT_VERIFIED {
                push_limited(&mut d.verifications, e, max);
            } else if *a == Action::AUDIT_PURGED {
                push_limited(&mut d.purges, e, max);
            } else if *a == Action::AUDIT_REVIEWED {
                push_limited(&mut d.reviews, e, max);
            } else if [
                Action::AUDIT_FAILED,
                Action::AUDIT_RECOVERED,
                Action::AUDIT_STOPPED,
                Action::AUDIT_STARTED,
            ]
            .contains(a)
            {
                push_limited(&mut d.logging_events, e, max);
            }
            if e.outcome == Outcome::Failure && e.action.category() != "audit" {
                *d.failures_by_action.entry(a.to_string()).or_default() += 1;
                if let Some(ip) = e.ip() {
                    *failing_ips.entry(ip.to_string()).or_default() += 1;
                }
                if let Some(actor) = e.actor_id() {
                    *failing_accounts.entry(actor.to_owned()).or_default() += 1;
                }
            }
        }
    }
    if newer - since > options.gap {
        d.gaps.push(Gap {
            from: since,
            until: newer,
        });
    }
    d.gaps.reverse();
    for list in [
        &mut d.config_changes,
        &mut d.role_changes,
        &mut d.unlocks,
        &mut d.exports,
        &mut d.lockouts,
        &mut d.new_devices_and_locations,
        &mut d.verifications,
        &mut d.purges,
        &mut d.logging_events,
        &mut d.reviews,
    ] {
        list.reverse();
    }
    d.top_failing_ips = top(failing_ips, 10);
    d.top_failing_accounts = top(failing_accounts, 10);
    d.overdue_reviews = overdue(store, tenant, until).await?;
    keep_role_sections(&mut d);
    Ok(d)
}

/// Clears the sections a role does not review.
fn keep_role_sections(d: &mut Digest) {
    match d.role {
        ReviewRole::Administrator => {
            d.failures_by_action.clear();
            d.lockouts.clear();
            d.alerts_by_rule.clear();
            d.new_devices_and_locations.clear();
            d.top_failing_ips.clear();
            d.top_failing_accounts.clear();
            d.verifications.clear();
            d.purges.clear();
            d.logging_events.clear();
            d.gaps.clear();
            d.reviews.clear();
            d.overdue_reviews.clear();
        }
        ReviewRole::SecurityAnalyst => {
            d.config_changes.clear();
            d.role_changes.clear();
            d.unlocks.clear();
            d.exports.clear();
            d.verifications.clear();
            d.purges.clear();
            d.logging_events.clear();
            d.gaps.clear();
            d.reviews.clear();
            d.overdue_reviews.clear();
        }
        ReviewRole::Compliance => {
            d.config_changes.clear();
            d.role_changes.clear();
            d.unlocks.clear();
            d.failures_by_action.clear();
            d.lockouts.clear();
            d.alerts_by_rule.clear();
            d.new_devices_and_locations.clear();
            d.top_failing_ips.clear();
            d.top_failing_accounts.clear();
        }
    }
}

fn scoped(tenant: Option<&str>) -> ActivityQuery {
    match tenant {
        Some(t) => ActivityQuery::tenant_log(t),
        None => ActivityQuery::new(),
    }
}

/// The reviews overdue at `at`: for each role, the last `audit.reviewed` sign-off for it
/// (looked up in `details.role`) is older than the role's cadence (plus one day of grace).
///
/// # Errors
/// The store's errors.
pub async fn overdue(
    store: &dyn ActivityStore,
    tenant: Option<&str>,
    at: DateTime<Utc>,
) -> Result<Vec<Overdue>> {
    let mut out = Vec::new();
    for role in ReviewRole::ALL {
        let look_back = role.cadence() * 3;
        let q = scoped(tenant)
            .action(Action::AUDIT_REVIEWED.as_str())
            .since(at - look_back)
            .until(at);
        let mut pages = crate::Pages::new(store, q);
        let mut last = None;
        'pages: while let Some(events) = pages.next().await? {
            for e in &events {
                let r = e
                    .details
                    .as_ref()
                    .and_then(|d| d.get("role"))
                    .and_then(|v| v.as_str());
                if r == Some(role.as_str()) {
                    last = Some(e.time);
                    break 'pages;
                }
            }
        }
        let grace = Duration::days(1);
        let due = match last {
            Some(t) => t + role.cadence() + grace,
            None => at - look_back + role.cadence() + grace,
        };
        if due < at {
            out.push(Overdue {
                role,
                last_review: last,
                due,
            });
        }
    }
    Ok(out)
}

/// Records a reviewer's sign-off of `digest` as an `audit.reviewed` event (who, when,
/// which role and period, a comment), through the recorder.
///
/// # Errors
/// As [`Recorder::record`]; [`Error::Invalid`] for an over-long comment (over 2,000 bytes).
pub fn sign_off(
    recorder: &Recorder,
    digest: &Digest,
    reviewer: Actor,
    comment: &str,
) -> Result<()> {
    if comment.len() > 2000 {
        return Err(Error::invalid("comment", Rule::TooLong { max: 2000 }));
    }
    let mut e = ActivityEvent::audit_reviewed(reviewer)
        .with_time(recorder.clock().now())
        .with_detail("role", digest.role.as_str())
        .with_detail("since", crate::format_time(&digest.since))
        .with_detail("until", crate::format_time(&digest.until))
        .with_detail("total_events", digest.total_events)
        .with_detail("comment", comment);
    if let Some(t) = &digest.tenant {
        e = e.with_tenant(t.clone());
    }
    recorder.record(e)
}

/// Receives digests from the [`ReviewScheduler`] (the host app mails or posts them).
///
/// A closure `Fn(Digest)` is a sink; a type of your own implements the trait:
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use activity_core::reexports::async_trait;
/// use activity_core::{Digest, DigestSink, ManualClock, MemoryStore, ReviewRole, ReviewScheduler};
/// use chrono::{TimeZone, Utc};
///
/// struct Outbox(Arc<Mutex<Vec<String>>>);
///
/// #[async_trait]
/// impl DigestSink for Outbox {
///     async fn deliver(&self, digest: Digest) {
///         self.0.lock().unwrap().push(format!("{} digest: {} events", digest.role, digest.total_events));
///     }
/// }
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let sent = Arc::new(Mutex::new(Vec::new()));
/// let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 24, 6, 0, 0).unwrap());
/// let mut scheduler = ReviewScheduler::new(Arc::new(MemoryStore::new()), Outbox(sent.clone()), Arc::new(clock), None)
///     .roles(&[ReviewRole::SecurityAnalyst]);
/// scheduler.run_due().await.unwrap();
/// assert_eq!(*sent.lock().unwrap(), ["security_analyst digest: 0 events"]);
/// # });
/// ```
#[async_trait]
pub trait DigestSink: Send + Sync + 'static {
    /// Handles one digest.
    async fn deliver(&self, digest: Digest);
}

#[async_trait]
impl<F> DigestSink for F
where
    F: Fn(Digest) + Send + Sync + 'static,
{
    async fn deliver(&self, digest: Digest) {
        self(digest)
    }
}

/// Produces each role's digest when its period closes, and hands it to a sink.
///
/// Periods are aligned to the Unix epoch in whole cadences (days; 7-day weeks; 30-day
/// months). [`run_due`](Self::run_due) produces every digest whose period has closed
/// since the last call; [`spawn`](Self::spawn) calls it on an interval.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use activity_core::{ActivityEvent, ActivityStore, Actor, Digest, ManualClock, MemoryStore, ReviewRole, ReviewScheduler};
/// use chrono::{Duration, TimeZone, Utc};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = Arc::new(MemoryStore::new());
/// let day = Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap();
/// store.append(&[ActivityEvent::login_failed(Actor::user("bob")).with_time(day)]).await.unwrap();
/// let clock = Arc::new(ManualClock::new(day + Duration::hours(25)));
/// let got = Arc::new(Mutex::new(Vec::new()));
/// let inbox = got.clone();
/// let mut scheduler = ReviewScheduler::new(store, move |d: Digest| inbox.lock().unwrap().push(d), clock.clone(), None)
///     .roles(&[ReviewRole::SecurityAnalyst]);
/// assert_eq!(scheduler.run_due().await.unwrap(), 1, "yesterday's digest");
/// assert_eq!(scheduler.run_due().await.unwrap(), 0, "not twice");
/// clock.advance(Duration::days(1));
/// assert_eq!(scheduler.run_due().await.unwrap(), 1, "the next day's");
/// assert_eq!(got.lock().unwrap()[0].top_failing_accounts[0].key, "bob");
/// # });
/// ```
pub struct ReviewScheduler {
    store: Arc<dyn ActivityStore>,
    sink: Arc<dyn DigestSink>,
    clock: Arc<dyn Clock>,
    tenant: Option<String>,
    roles: Vec<ReviewRole>,
    options: DigestOptions,
    done: BTreeMap<ReviewRole, DateTime<Utc>>,
}

impl fmt::Debug for ReviewScheduler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReviewScheduler")
            .field("tenant", &self.tenant)
            .field("roles", &self.roles)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

fn period_end(role: ReviewRole, now: DateTime<Utc>) -> DateTime<Utc> {
    let cadence = role.cadence().num_seconds();
    let secs = now.timestamp().div_euclid(cadence) * cadence;
    DateTime::from_timestamp(secs, 0).unwrap_or(now)
}

impl ReviewScheduler {
    /// A scheduler for every role, over `tenant` (`None`: all).
    pub fn new(
        store: Arc<dyn ActivityStore>,
        sink: impl DigestSink,
        clock: Arc<dyn Clock>,
        tenant: Option<String>,
    ) -> Self {
        Self {
            store,
            sink: Arc::new(sink),
            clock,
            tenant,
            roles: ReviewRole::ALL.to_vec(),
            options: DigestOptions::default(),
            done: BTreeMap::new(),
        }
    }

    /// Only these roles.
    pub fn roles(mut self, roles: &[ReviewRole]) -> Self {
        self.roles = roles.to_vec();
        self
    }

    /// Digest settings.
    pub fn options(mut self, options: DigestOptions) -> Self {
        self.options = options;
        self
    }

    /// Produces and delivers the digest of every period that closed since the last
    /// call (on the first call: the last closed period of each role). Returns how many.
    ///
    /// # Errors
    /// The store's errors; nothing is marked done for a role whose digest failed.
    pub async fn run_due(&mut self) -> Result<usize> {
        let now = self.clock.now();
        let mut delivered = 0;
        for role in self.roles.clone() {
            let end = period_end(role, now);
            if self.done.get(&role).is_some_and(|d| *d >= end) {
                continue;
            }
            let d = digest(
                &*self.store,
                role,
                self.tenant.as_deref(),
                end - role.cadence(),
                end,
                now,
                self.options,
            )
            .await?;
            self.sink.deliver(d).await;
            self.done.insert(role, end);
            delivered += 1;
        }
        Ok(delivered)
    }

    /// Runs [`run_due`](Self::run_due) every `interval` on a tokio task; errors are logged
    /// and retried at the next tick.
    pub fn spawn(mut self, interval: std::time::Duration) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            loop {
                tick.tick().await;
                if let Err(e) = self.run_due().await {
                    tracing::error!(error = %e, "review digest failed");
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ManualClock, MemoryStore, Source, Target};
    use chrono::TimeZone;
    use std::sync::Mutex;

    fn day() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap()
    }

    fn seeded() -> Vec<ActivityEvent> {
        let at = |h: i64| day() + Duration::hours(h);
        let spray: std::net::IpAddr = "175.16.199.1".parse().unwrap();
        let mut v = Vec::new();
        for (i, a) in ["alice", "bob", "carol"].iter().enumerate() {
            for k in 0..(3 - i as i64) {
                v.push(
                    ActivityEvent::login_failed(Actor::user(*a))
                        .with_ip(spray)
                        .with_time(at(1) + Duration::minutes(k)),
                );
            }
        }
        v.push(
            ActivityEvent::login_failed(Actor::user("bob"))
                .with_ip("81.2.69.142".parse().unwrap())
                .with_time(at(2)),
        );
        v.push(
            ActivityEvent::lockout_triggered(Actor::user("alice"), "too_many_failures")
                .with_time(at(2)),
        );
        v.push(ActivityEvent::alert_raised("failed_logins", "high", &[]).with_time(at(3)));
        v.push(ActivityEvent::alert_raised("new_device", "medium", &[]).with_time(at(3)));
        v.push(ActivityEvent::admin_config_changed(Actor::user("root")).with_time(at(4)));
        v.push(
            ActivityEvent::admin_role_changed(Actor::user("root"), Target::user("bob"))
                .with_time(at(4)),
        );
        v.push(
            ActivityEvent::admin_user_unlocked(Actor::user("root"), Target::user("alice"))
                .with_time(at(5)),
        );
        v.push(ActivityEvent::audit_exported(Actor::user("root")).with_time(at(6)));
        v.push(ActivityEvent::audit(Action::AUDIT_FAILED, Outcome::Failure).with_time(at(7)));
        v.push(ActivityEvent::audit(Action::AUDIT_RECOVERED, Outcome::Success).with_time(at(8)));
        v.push(ActivityEvent::audit(Action::AUDIT_VERIFIED, Outcome::Success).with_time(at(9)));
        v.push(ActivityEvent::audit(Action::AUDIT_PURGED, Outcome::Success).with_time(at(9)));
        v.push(
            ActivityEvent::login_succeeded(Actor::user("dave"))
                .with_source(Source::ip(spray))
                .with_time(at(22)),
        );
        v
    }

    #[tokio::test]
    async fn security_digest_figures_match_the_seed() {
        let store = MemoryStore::new();
        store.append(&seeded()).await.unwrap();
        let d = digest(
            &store,
            ReviewRole::SecurityAnalyst,
            None,
            day(),
            day() + Duration::days(1),
            day() + Duration::days(1),
            DigestOptions::default(),
        )
        .await
        .unwrap();
        assert_eq!(d.total_events, 19);
        assert_eq!(d.failures_by_action.get("auth.login.failed"), Some(&7));
        assert_eq!(
            d.top_failing_accounts[0],
            Ranked {
                key: "alice".into(),
                count: 3
            }
        );
        assert_eq!(
            d.top_failing_accounts[1],
            Ranked {
                key: "bob".into(),
                count: 3
            }
        );
        assert_eq!(
            d.top_failing_ips[0],
            Ranked {
                key: "175.16.199.1".into(),
                count: 6
            }
        );
        assert_eq!(d.lockouts.len(), 1);
        assert_eq!(d.alerts_by_rule.get("failed_logins"), Some(&1));
        assert_eq!(d.new_devices_and_locations.len(), 1);
        assert!(d.config_changes.is_empty(), "not an analyst's section");
    }

    #[tokio::test]
    async fn administrator_and_compliance_digests() {
        let store = MemoryStore::new();
        store.append(&seeded()).await.unwrap();
        let end = day() + Duration::days(1);
        let admin = digest(
            &store,
            ReviewRole::Administrator,
            None,
            day(),
            end,
            end,
            DigestOptions::default(),
        )
        .await
        .unwrap();
        assert_eq!(admin.config_changes.len(), 1);
        assert_eq!(admin.role_changes.len(), 1);
        assert_eq!(admin.unlocks.len(), 1);
        assert_eq!(admin.exports.len(), 1);
        assert_eq!(admin.by_category.get("auth"), Some(&8));
        let opts = DigestOptions {
            gap: Duration::hours(6),
            ..DigestOptions::default()
        };
        let c = digest(
            &store,
            ReviewRole::Compliance,
            None,
            day() - Duration::days(1),
            end,
            end,
            opts,
        )
        .await
        .unwrap();
        assert_eq!(c.verifications.len(), 1);
        assert_eq!(c.purges.len(), 1);
        assert_eq!(c.logging_events.len(), 2);
        assert_eq!(c.exports.len(), 1);
        // The empty day before, and the 13 hours between 09:00 and 22:00.
        assert_eq!(c.gaps.len(), 2);
        assert_eq!(c.gaps[0].from, day() - Duration::days(1));
        assert_eq!(
            c.gaps[1],
            Gap {
                from: day() + Duration::hours(9),
                until: day() + Duration::hours(22)
            }
        );
        // Nobody has ever signed anything off: every role is overdue.
        assert_eq!(c.overdue_reviews.len(), 3);
    }

    #[tokio::test]
    async fn sign_off_records_a_review_and_clears_overdue() {
        let store = Arc::new(MemoryStore::new());
        let clock = ManualClock::new(day() + Duration::days(1));
        let (rec, guard) = Recorder::builder(store.clone())
            .clock(clock.clone())
            .lifecycle_events(false)
            .start();
        let end = day() + Duration::days(1);
        let d = digest(
            &*store,
            ReviewRole::SecurityAnalyst,
            None,
            day(),
            end,
            end,
            DigestOptions::default(),
        )
        .await
        .unwrap();
        sign_off(&rec, &d, Actor::user("analyst"), "looked at the spraying").unwrap();
        rec.flush().await.unwrap();
        let reviewed = store
            .query(&ActivityQuery::new().action("audit.reviewed"))
            .await
            .unwrap();
        assert_eq!(reviewed.events.len(), 1);
        let details = reviewed.events[0].details.as_ref().unwrap();
        assert_eq!(details["role"], "security_analyst");
        assert_eq!(details["comment"], "looked at the spraying");
        let od = overdue(&*store, None, end + Duration::seconds(1))
            .await
            .unwrap();
        assert!(od.iter().all(|o| o.role != ReviewRole::SecurityAnalyst));
        // Three days later the daily review is overdue again.
        let od = overdue(&*store, None, end + Duration::days(3))
            .await
            .unwrap();
        let analyst = od
            .iter()
            .find(|o| o.role == ReviewRole::SecurityAnalyst)
            .unwrap();
        assert_eq!(analyst.last_review, Some(end));
        guard.shutdown().await;
    }

    #[tokio::test]
    async fn scheduler_delivers_each_closed_period_once() {
        let store = Arc::new(MemoryStore::new());
        store.append(&seeded()).await.unwrap();
        let clock = Arc::new(ManualClock::new(
            day() + Duration::days(1) + Duration::hours(1),
        ));
        let got = Arc::new(Mutex::new(Vec::new()));
        let g2 = got.clone();
        let mut s = ReviewScheduler::new(
            store,
            move |d: Digest| g2.lock().unwrap().push((d.role, d.since, d.total_events)),
            clock.clone(),
            None,
        )
        .roles(&[ReviewRole::SecurityAnalyst]);
        assert_eq!(s.run_due().await.unwrap(), 1);
        assert_eq!(s.run_due().await.unwrap(), 0, "same period, not again");
        clock.advance(Duration::days(1));
        assert_eq!(s.run_due().await.unwrap(), 1);
        let got = got.lock().unwrap();
        assert_eq!(got[0], (ReviewRole::SecurityAnalyst, day(), 19));
        assert_eq!(got[1].1, day() + Duration::days(1));
    }

    #[test]
    fn roles_parse() {
        assert_eq!(
            ReviewRole::parse("security").unwrap(),
            ReviewRole::SecurityAnalyst
        );
        assert!(ReviewRole::parse("boss").is_err());
    }
}

mod page {
    use std::fmt::Write;

    use super::{Digest, Notable, Ranked};
    use crate::text::escape_html as esc;

    const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}\
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}\
th{background:#f3f3f3}h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.5em}.none{color:#777}";

    fn counts<'a>(out: &mut String, title: &str, rows: impl Iterator<Item = (&'a str, u64)>) {
        let rows: Vec<_> = rows.collect();
        let _ = write!(out, "<h2>{}</h2>", esc(title));
        if rows.is_empty() {
            out.push_str("<p class=none>None.</p>");
            return;
        }
        out.push_str("<table><tr><th>What</th><th>Count</th></tr>");
        for (k, n) in rows {
            let _ = write!(out, "<tr><td>{}</td><td>{n}</td></tr>", esc(k));
        }
        out.push_str("</table>");
    }

    fn notables(out: &mut String, title: &str, rows: &[Notable]) {
        let _ = write!(out, "<h2>{}</h2>", esc(title));
        if rows.is_empty() {
            out.push_str("<p class=none>None.</p>");
            return;
        }
        out.push_str("<table><tr><th>Time (UTC)</th><th>Action</th><th>Actor</th><th>Target</th><th>Outcome</th><th>Reason</th></tr>");
        for n in rows {
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&crate::format_time(&n.time)),
                esc(&n.action),
                esc(n.actor.as_deref().unwrap_or("-")),
                esc(n.target.as_deref().unwrap_or("-")),
                n.outcome,
                esc(n.reason.as_deref().unwrap_or("-")),
            );
        }
        out.push_str("</table>");
    }

    fn ranked(out: &mut String, title: &str, rows: &[Ranked]) {
        counts(out, title, rows.iter().map(|r| (r.key.as_str(), r.count)));
    }

    /// Renders the digest as one self-contained page.
    pub(super) fn render(d: &Digest) -> String {
        let mut out = String::from("<!doctype html><html lang=en><head><meta charset=utf-8>");
        let title = format!(
            "{} review digest, {} to {}{}",
            d.role,
            crate::format_time(&d.since),
            crate::format_time(&d.until),
            d.tenant
                .as_deref()
                .map(|t| format!(" — tenant {t}"))
                .unwrap_or_default()
        );
        let _ = write!(
            out,
            "<title>{}</title><style>{STYLE}</style></head><body>",
            esc(&title)
        );
        let _ = write!(
            out,
            "<h1>{}</h1><p>{} events. Generated {}.</p>",
            esc(&title),
            d.total_events,
            esc(&crate::format_time(&d.generated))
        );
        counts(
            &mut out,
            "Events by category",
            d.by_category.iter().map(|(k, v)| (k.as_str(), *v)),
        );
        counts(
            &mut out,
            "Events by outcome",
            d.by_outcome.iter().map(|(k, v)| (k.as_str(), *v)),
        );
        match d.role {
            super::ReviewRole::Administrator => {
                notables(&mut out, "Configuration changes", &d.config_changes);
                notables(&mut out, "Role changes", &d.role_changes);
                notables(&mut out, "Unlocks", &d.unlocks);
                notables(&mut out, "Exports", &d.exports);
            }
            super::ReviewRole::SecurityAnalyst => {
                counts(
                    &mut out,
                    "Failures by action",
                    d.failures_by_action.iter().map(|(k, v)| (k.as_str(), *v)),
                );
                notables(&mut out, "Lockouts", &d.lockouts);
                counts(
                    &mut out,
                    "Alerts by rule",
                    d.alerts_by_rule.iter().map(|(k, v)| (k.as_str(), *v)),
                );
                notables(
                    &mut out,
                    "New devices and locations",
                    &d.new_devices_and_locations,
                );
                ranked(&mut out, "Top failing addresses", &d.top_failing_ips);
                ranked(&mut out, "Top failing accounts", &d.top_failing_accounts);
            }
            super::ReviewRole::Compliance => {
                notables(&mut out, "Chain verifications", &d.verifications);
                notables(&mut out, "Purges", &d.purges);
                notables(&mut out, "Exports", &d.exports);
                notables(
                    &mut out,
                    "Logging starts, stops, outages",
                    &d.logging_events,
                );
                let _ = write!(out, "<h2>Gaps with no events</h2>");
                if d.gaps.is_empty() {
                    out.push_str("<p class=none>None.</p>");
                } else {
                    out.push_str("<table><tr><th>From</th><th>Until</th></tr>");
                    for g in &d.gaps {
                        let _ = write!(
                            out,
                            "<tr><td>{}</td><td>{}</td></tr>",
                            esc(&crate::format_time(&g.from)),
                            esc(&crate::format_time(&g.until))
                        );
                    }
                    out.push_str("</table>");
                }
                notables(&mut out, "Reviews signed off", &d.reviews);
                let _ = write!(out, "<h2>Overdue reviews</h2>");
                if d.overdue_reviews.is_empty() {
                    out.push_str("<p class=none>None.</p>");
                } else {
                    out.push_str("<table><tr><th>Role</th><th>Last review</th><th>Due</th></tr>");
                    for o in &d.overdue_reviews {
                        let last = o
                            .last_review
                            .map(|t| crate::format_time(&t))
                            .unwrap_or_else(|| "never".into());
                        let _ = write!(
                            out,
                            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                            o.role,
                            esc(&last),
                            esc(&crate::format_time(&o.due))
                        );
                    }
                    out.push_str("</table>");
                }
            }
        }
        out.push_str("</body></html>\n");
        out
    }
}

impl Digest {
    /// The digest as one self-contained HTML page (no scripts, fonts or external
    /// resources; every value escaped).
    pub fn to_html(&self) -> String {
        page::render(self)
    }

    /// The digest as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}

#[cfg(test)]
mod page_tests {
    use super::*;
    use crate::MemoryStore;
    use chrono::TimeZone;

    #[tokio::test]
    async fn html_is_self_contained_and_escaped() {
        let store = MemoryStore::new();
        let t = Utc.with_ymd_and_hms(2026, 11, 23, 1, 0, 0).unwrap();
        store
            .append(&[ActivityEvent::admin_config_changed(Actor::user(
                "<script>alert(1)</script>",
            ))
            .with_time(t)])
            .await
            .unwrap();
        let d = digest(
            &store,
            ReviewRole::Administrator,
            None,
            t - Duration::hours(1),
            t + Duration::hours(1),
            t,
            DigestOptions::default(),
        )
        .await
        .unwrap();
        let html = d.to_html();
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(!html.contains("<script"));
        assert!(!html.contains("http://") && !html.contains("https://"));
        let json: serde_json::Value = serde_json::from_str(&d.to_json()).unwrap();
        assert_eq!(
            json["config_changes"][0]["actor"],
            "<script>alert(1)</script>"
        );
    }
}
