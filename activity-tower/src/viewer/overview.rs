//! The administrator's overview above the Audit Log: sign-ins, failures, lockouts and
//! alerts over the last 24 hours (hourly) and 7 days (daily), the alerts of the last 7
//! days, the accounts locked now, and the accounts and addresses with the most failed
//! sign-ins in the last 24 hours.
//!
//! Everything is read from the store with a bounded number of queries: totals with
//! [`count`](activity_core::ActivityStore::count) (for a viewer with a tenant), the
//! charts from at most [`MAX_SCAN_PAGES`] pages of events (`partial` says when the
//! window held more), alerts and locks with one or two pages each. "Now" is the views'
//! clock.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use activity_core::event::payload::{AlertRaised, LockoutTriggered, Payload};
use activity_core::{query::MAX_PAGE_SIZE, Action, ActivityEvent, ActivityQuery, ActivityStore};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::access::{visible, Scope, Viewer};
use crate::Error;

/// How many store pages (of up to 1,000 events) the charts read at most.
pub const MAX_SCAN_PAGES: usize = 10;
/// How many store pages of lock events are read to find the accounts locked now.
pub const MAX_LOCK_PAGES: usize = 2;
/// How many alerts the overview lists.
pub const MAX_ALERTS: usize = 50;
/// How many accounts and addresses the "most failures" lists hold.
pub const TOP: usize = 5;

/// One figure over a window: its total and its buckets, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Series {
    /// Events in the whole window.
    pub total: u64,
    /// Events per bucket, oldest first (the last bucket ends now).
    pub buckets: Vec<u64>,
}

/// The four figures over one window.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Window {
    /// The window's length in hours (24 or 168).
    pub hours: i64,
    /// Each bucket's length in hours (1 or 24).
    pub bucket_hours: i64,
    /// When the window starts.
    pub since: DateTime<Utc>,
    /// Successful sign-ins (`auth.login.succeeded`).
    pub sign_ins: Series,
    /// Failed sign-ins (`auth.login.failed`).
    pub failures: Series,
    /// Locks (`lockout.triggered`).
    pub lockouts: Series,
    /// Alerts (`alert.raised`).
    pub alerts: Series,
}

/// An alert raised in the last 7 days (the log records no closing of alerts: each one
/// stays listed for 7 days).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OpenAlert {
    /// The `alert.raised` event's id (its timeline's anchor).
    pub id: Uuid,
    /// When it was raised.
    pub time: DateTime<Utc>,
    /// The rule.
    pub rule: String,
    /// `low`, `medium`, `high` or `critical`.
    pub severity: String,
    /// The account concerned.
    pub account: Option<String>,
    /// What happened, for people.
    pub message: Option<String>,
}

/// An account locked now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LockedAccount {
    /// The account.
    pub account: String,
    /// When it was locked.
    pub since: DateTime<Utc>,
    /// When the lock ends (`None`: until an administrator unlocks it).
    pub until: Option<DateTime<Utc>>,
    /// Failures that led to it.
    pub failures: u64,
    /// The address of the failure that locked it.
    pub ip: Option<IpAddr>,
}

/// A name and how many failed sign-ins it had.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Top {
    /// The account id or address.
    pub key: String,
    /// Failed sign-ins in the last 24 hours.
    pub failures: u64,
}

/// The overview (what `/api/overview` answers, as JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Overview {
    /// The time it was made for.
    pub now: DateTime<Utc>,
    /// The last 24 hours, hourly.
    pub day: Window,
    /// The last 7 days, daily.
    pub week: Window,
    /// Alerts of the last 7 days, newest first.
    pub alerts: Vec<OpenAlert>,
    /// Accounts locked now, most recent lock first.
    pub locked: Vec<LockedAccount>,
    /// Accounts with the most failed sign-ins in the last 24 hours.
    pub top_accounts: Vec<Top>,
    /// Addresses with the most failed sign-ins in the last 24 hours.
    pub top_ips: Vec<Top>,
    /// The charts (and, for a viewer without a tenant, the totals) cover only the newest
    /// events of the window: it held more than the overview reads.
    pub partial: bool,
}

const FIGURES: [&Action; 4] = [
    &Action::LOGIN_SUCCEEDED,
    &Action::LOGIN_FAILED,
    &Action::LOCKOUT_TRIGGERED,
    &Action::ALERT_RAISED,
];

fn window(now: DateTime<Utc>, hours: i64, bucket_hours: i64) -> Window {
    let n = (hours / bucket_hours) as usize;
    let empty = || Series {
        total: 0,
        buckets: vec![0; n],
    };
    Window {
        hours,
        bucket_hours,
        since: now - Duration::hours(hours),
        sign_ins: empty(),
        failures: empty(),
        lockouts: empty(),
        alerts: empty(),
    }
}

impl Window {
    fn series(&mut self, action: &Action) -> Option<&mut Series> {
        match action.as_str() {
            a if a == Action::LOGIN_SUCCEEDED.as_str() => Some(&mut self.sign_ins),
            a if a == Action::LOGIN_FAILED.as_str() => Some(&mut self.failures),
            a if a == Action::LOCKOUT_TRIGGERED.as_str() => Some(&mut self.lockouts),
            a if a == Action::ALERT_RAISED.as_str() => Some(&mut self.alerts),
            _ => None,
        }
    }

    /// Counts `e` into its bucket, if it falls in the window ending at `now`.
    fn add(&mut self, now: DateTime<Utc>, e: &ActivityEvent) {
        if e.time < self.since || e.time > now {
            return;
        }
        let n = (self.hours / self.bucket_hours) as usize;
        let age = (now - e.time).num_seconds() / (self.bucket_hours * 3600);
        let idx = n.saturating_sub(1).saturating_sub(age.max(0) as usize);
        if let Some(s) = self.series(&e.action) {
            s.total += 1;
            s.buckets[idx] += 1;
        }
    }
}

fn top(counts: HashMap<String, u64>) -> Vec<Top> {
    let mut v: Vec<Top> = counts
        .into_iter()
        .map(|(key, failures)| Top { key, failures })
        .collect();
    v.sort_by(|a, b| b.failures.cmp(&a.failures).then_with(|| a.key.cmp(&b.key)));
    v.truncate(TOP);
    v
}

/// The overview at `now` from events already read: `scanned` (the figures' events of
/// the last 7 days), `alerts` (alert events) and `locks` (lock events, newest first).
///
/// ```
/// use activity_core::{ActivityEvent, Actor};
/// use activity_tower::viewer::overview::summarise;
/// use chrono::{Duration, TimeZone, Utc};
/// let now = Utc.with_ymd_and_hms(2026, 12, 3, 12, 0, 0).unwrap();
/// let failed = |mins| ActivityEvent::login_failed(Actor::user("bob")).with_time(now - Duration::minutes(mins));
/// let o = summarise(now, &[failed(5), failed(90), failed(60 * 30)], &[], &[]);
/// assert_eq!(o.day.failures.total, 2);
/// assert_eq!(o.day.failures.buckets[23], 1); // the last hour
/// assert_eq!(o.day.failures.buckets[22], 1);
/// assert_eq!(o.week.failures.total, 3);
/// assert_eq!(o.week.failures.buckets[5], 1); // 30 hours ago: yesterday's bucket
/// assert_eq!(o.top_accounts[0].key, "bob");
/// assert_eq!(o.top_accounts[0].failures, 2);
/// ```
pub fn summarise(
    now: DateTime<Utc>,
    scanned: &[ActivityEvent],
    alerts: &[ActivityEvent],
    locks: &[ActivityEvent],
) -> Overview {
    let mut day = window(now, 24, 1);
    let mut week = window(now, 24 * 7, 24);
    let mut accounts: HashMap<String, u64> = HashMap::new();
    let mut ips: HashMap<String, u64> = HashMap::new();
    for e in scanned {
        day.add(now, e);
        week.add(now, e);
        if e.action == Action::LOGIN_FAILED && e.time >= day.since && e.time <= now {
            if let Some(a) = e.actor_id() {
                *accounts.entry(a.to_owned()).or_default() += 1;
            }
            if let Some(ip) = e.ip() {
                *ips.entry(ip.to_string()).or_default() += 1;
            }
        }
    }
    let mut open: Vec<OpenAlert> = alerts
        .iter()
        .filter(|e| e.time >= week.since && e.time <= now)
        .filter_map(|e| {
            let raised = AlertRaised::read(e)?;
            Some(OpenAlert {
                id: e.id,
                time: e.time,
                rule: raised.rule,
                severity: raised.severity,
                account: e.target.as_ref().and_then(|t| t.id.clone()),
                message: raised.message,
            })
        })
        .collect();
    open.sort_by_key(|a| std::cmp::Reverse(a.time));
    open.truncate(MAX_ALERTS);
    // The newest lock event of each account decides.
    let mut decided: HashSet<&str> = HashSet::new();
    let mut locked = Vec::new();
    for e in locks.iter().filter(|e| e.time <= now) {
        let Some(account) = e.actor_id() else {
            continue;
        };
        if !decided.insert(account) {
            continue;
        }
        if e.action != Action::LOCKOUT_TRIGGERED {
            continue;
        }
        let Some(lock) = LockoutTriggered::read(e) else {
            continue;
        };
        if lock.until.is_some_and(|u| u <= now) {
            continue;
        }
        locked.push(LockedAccount {
            account: account.to_owned(),
            since: e.time,
            until: lock.until,
            failures: lock.failures,
            ip: e.ip(),
        });
    }
    Overview {
        now,
        day,
        week,
        alerts: open,
        locked,
        top_accounts: top(accounts),
        top_ips: top(ips),
        partial: false,
    }
}

/// Reads every page of `q` the viewer may see, up to `max_pages`; `true` when more
/// were left.
async fn scan(
    store: &dyn ActivityStore,
    viewer: &Viewer,
    mut q: ActivityQuery,
    max_pages: usize,
) -> Result<(Vec<ActivityEvent>, bool), Error> {
    let mut out = Vec::new();
    for _ in 0..max_pages {
        let page = store.query(&q).await?;
        out.extend(
            page.events
                .into_iter()
                .filter(|e| visible(viewer, Scope::Tenant, e)),
        );
        match page.next {
            Some(c) => q.after = Some(c),
            None => return Ok((out, false)),
        }
    }
    Ok((out, true))
}

/// The overview of `viewer`'s tenant at `now`, read from `store`.
pub(crate) async fn read(
    store: &dyn ActivityStore,
    viewer: &Viewer,
    now: DateTime<Utc>,
) -> Result<Overview, Error> {
    let until = now + Duration::microseconds(1);
    let base = || {
        let mut q = ActivityQuery::new().until(until).limit(MAX_PAGE_SIZE);
        q.tenant = viewer.tenant.clone();
        q
    };
    let week_since = now - Duration::days(7);
    let mut figures = base().since(week_since);
    for a in FIGURES {
        figures = figures.action(a.as_str());
    }
    let (scanned, partial) = scan(store, viewer, figures, MAX_SCAN_PAGES).await?;
    let alerts_q = base()
        .since(week_since)
        .action(Action::ALERT_RAISED.as_str())
        .limit(MAX_ALERTS);
    let (alerts, _) = scan(store, viewer, alerts_q, 1).await?;
    let locks_q = base().action("lockout");
    let (locks, _) = scan(store, viewer, locks_q, MAX_LOCK_PAGES).await?;
    let mut o = summarise(now, &scanned, &alerts, &locks);
    o.partial = partial;
    // Exact totals where the store can scope them to the viewer's tenant alone (a store
    // query without a tenant reads every tenant's events, so it is not asked then).
    if partial && viewer.tenant.is_some() {
        for (w, hours) in [(&mut o.day, 24), (&mut o.week, 24 * 7)] {
            for a in FIGURES {
                let q = base()
                    .since(now - Duration::hours(hours))
                    .action(a.as_str());
                let n = store.count(&q).await?;
                if let Some(s) = w.series(a) {
                    s.total = n;
                }
            }
        }
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;
    use activity_core::event::payload::LockoutReleased;
    use activity_core::{Actor, Target};
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 3, 12, 0, 0).unwrap()
    }

    fn lock(account: &str, at: DateTime<Utc>, until: Option<DateTime<Utc>>) -> ActivityEvent {
        LockoutTriggered {
            failures: 10,
            trigger: "x".into(),
            until,
            minutes: None,
            permanent: until.is_none(),
        }
        .write(ActivityEvent::new(Action::LOCKOUT_TRIGGERED).with_actor(Actor::user(account)))
        .with_time(at)
    }

    #[test]
    fn windows_edges_and_buckets() {
        let n = now();
        let ok = |d: Duration| ActivityEvent::login_succeeded(Actor::user("a")).with_time(n - d);
        let events = [
            ok(Duration::zero()),
            ok(Duration::hours(24)),
            ok(Duration::hours(24) + Duration::seconds(1)),
            ok(Duration::days(7)),
            ok(Duration::days(8)),
            ok(Duration::seconds(-1)), // the future: not counted
        ];
        let o = summarise(n, &events, &[], &[]);
        assert_eq!(o.day.sign_ins.total, 2);
        assert_eq!(o.day.sign_ins.buckets.len(), 24);
        assert_eq!(o.day.sign_ins.buckets[23], 1);
        assert_eq!(o.day.sign_ins.buckets[0], 1);
        assert_eq!(o.week.sign_ins.total, 4);
        assert_eq!(o.week.sign_ins.buckets.len(), 7);
        assert_eq!(o.week.sign_ins.buckets.iter().sum::<u64>(), 4);
    }

    #[test]
    fn locked_now_is_the_newest_lock_event_per_account() {
        let n = now();
        let released = LockoutReleased {
            by: Some("alice".into()),
        }
        .write(ActivityEvent::lockout_released(
            Actor::user("carol"),
            "admin_unlock",
        ))
        .with_time(n - Duration::minutes(1));
        let locks = [
            released,
            lock(
                "bob",
                n - Duration::minutes(5),
                Some(n + Duration::minutes(25)),
            ),
            lock("carol", n - Duration::minutes(10), None),
            lock("dave", n - Duration::hours(2), Some(n - Duration::hours(1))),
            lock("erin", n - Duration::days(30), None),
        ];
        let o = summarise(n, &[], &[], &locks);
        let names: Vec<_> = o.locked.iter().map(|l| l.account.as_str()).collect();
        assert_eq!(names, ["bob", "erin"]);
        assert_eq!(o.locked[1].until, None);
    }

    #[test]
    fn alerts_carry_severity_and_account_and_malformed_ones_are_skipped() {
        let n = now();
        let a = AlertRaised {
            rule: "failed_logins".into(),
            severity: "high".into(),
            evidence: vec![],
            message: Some("5 failed logins".into()),
        };
        let good = ActivityEvent::alert(&a)
            .with_target(Target::user("bob"))
            .with_time(n - Duration::hours(1));
        let bad = ActivityEvent::new(Action::ALERT_RAISED).with_time(n);
        let old = ActivityEvent::alert(&a).with_time(n - Duration::days(8));
        let o = summarise(n, &[], &[bad, good.clone(), old], &[]);
        assert_eq!(o.alerts.len(), 1);
        assert_eq!(o.alerts[0].id, good.id);
        assert_eq!(o.alerts[0].severity, "high");
        assert_eq!(o.alerts[0].account.as_deref(), Some("bob"));
    }
}
