//! Computing a digest: one pass over the period's events, a page at a time.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};

use super::{overdue, Digest, Gap, Notable, Ranked, ReviewRole, Section};
use crate::{Action, ActivityEvent, ActivityQuery, ActivityStore, Error, Outcome, Result, Rule};

/// Settings for computing digests.
///
/// ```
/// use activity_core::review::{digest, DigestOptions, ReviewRole};
/// use activity_core::{ActivityEvent, ActivityStore, Actor, MemoryStore};
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

/// The rule of an `alert.raised` event (`unknown` when it names none).
fn alert_rule(e: &ActivityEvent) -> &str {
    e.reason.as_deref().unwrap_or("unknown")
}

/// The list section that notes `e`, if any (whether its role reviews it or not).
fn listed_in(e: &ActivityEvent) -> Option<Section> {
    let a = &e.action;
    let section = if *a == Action::ADMIN_CONFIG_CHANGED {
        Section::ConfigChanges
    } else if *a == Action::ADMIN_ROLE_CHANGED {
        Section::RoleChanges
    } else if *a == Action::ADMIN_USER_UNLOCKED || *a == Action::LOCKOUT_RELEASED {
        Section::Unlocks
    } else if *a == Action::AUDIT_EXPORTED {
        Section::Exports
    } else if *a == Action::LOCKOUT_TRIGGERED {
        Section::Lockouts
    } else if *a == Action::ALERT_RAISED {
        let rule = alert_rule(e);
        if !(rule.starts_with("new_device") || rule.starts_with("geo_anomaly")) {
            return None;
        }
        Section::NewDevicesAndLocations
    } else if *a == Action::AUDIT_VERIFIED {
        Section::Verifications
    } else if *a == Action::AUDIT_PURGED {
        Section::Purges
    } else if *a == Action::AUDIT_REVIEWED {
        Section::Reviews
    } else if [
        Action::AUDIT_FAILED,
        Action::AUDIT_RECOVERED,
        Action::AUDIT_STOPPED,
        Action::AUDIT_STARTED,
    ]
    .contains(a)
    {
        Section::LoggingEvents
    } else {
        return None;
    };
    Some(section)
}

/// The list of notable events that `section` is, if it is one.
fn list_mut(d: &mut Digest, section: Section) -> Option<&mut Vec<Notable>> {
    Some(match section {
        Section::ConfigChanges => &mut d.config_changes,
        Section::RoleChanges => &mut d.role_changes,
        Section::Unlocks => &mut d.unlocks,
        Section::Exports => &mut d.exports,
        Section::Lockouts => &mut d.lockouts,
        Section::NewDevicesAndLocations => &mut d.new_devices_and_locations,
        Section::Verifications => &mut d.verifications,
        Section::Purges => &mut d.purges,
        Section::LoggingEvents => &mut d.logging_events,
        Section::Reviews => &mut d.reviews,
        Section::FailuresByAction
        | Section::AlertsByRule
        | Section::AccessByRule
        | Section::TopFailingIps
        | Section::TopFailingAccounts
        | Section::Gaps
        | Section::OverdueReviews => return None,
    })
}

/// Computes the digest for `role` over `[since, until)` in `tenant` (`None`: all).
///
/// # Errors
/// [`Error::Invalid`] when `since` is not before `until`; the store's errors.
///
/// ```
/// use activity_core::review::{digest, DigestOptions, ReviewRole};
/// use activity_core::{ActivityEvent, ActivityStore, Actor, MemoryStore};
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
        access_denied_by_rule: BTreeMap::new(),
        access_reported_by_rule: BTreeMap::new(),
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
    let mut pages = crate::query::Pages::new(
        store,
        ActivityQuery::scoped(tenant).since(since).until(until),
    );
    // What the role reviews beyond the notable lists, asked once rather than per event.
    let gaps = role.reviews(Section::Gaps);
    let alerts_by_rule = role.reviews(Section::AlertsByRule);
    let access_by_rule = role.reviews(Section::AccessByRule);
    let failures_by_action = role.reviews(Section::FailuresByAction);
    let top_ips = role.reviews(Section::TopFailingIps);
    let top_accounts = role.reviews(Section::TopFailingAccounts);
    while let Some(events) = pages.next().await? {
        for e in &events {
            d.total_events += 1;
            *d.by_category
                .entry(e.action.category().to_owned())
                .or_default() += 1;
            *d.by_outcome.entry(e.outcome.to_string()).or_default() += 1;
            if gaps && newer - e.time > options.gap {
                d.gaps.push(Gap {
                    from: e.time,
                    until: newer,
                });
            }
            newer = e.time;
            if let Some(list) = listed_in(e)
                .filter(|s| role.reviews(*s))
                .and_then(|s| list_mut(&mut d, s))
            {
                push_limited(list, e, max);
            }
            if alerts_by_rule && e.action == Action::ALERT_RAISED {
                *d.alerts_by_rule
                    .entry(alert_rule(e).to_owned())
                    .or_default() += 1;
            }
            if access_by_rule {
                let map = if e.action == Action::ACCESS_DENIED {
                    Some(&mut d.access_denied_by_rule)
                } else if e.action == Action::ACCESS_REPORTED {
                    Some(&mut d.access_reported_by_rule)
                } else {
                    None
                };
                if let Some(map) = map {
                    *map.entry(super::compliance::access_rule(e)).or_default() += 1;
                }
            }
            if e.outcome == Outcome::Failure && e.action.category() != "audit" {
                if failures_by_action {
                    *d.failures_by_action
                        .entry(e.action.to_string())
                        .or_default() += 1;
                }
                if let Some(ip) = e.ip().filter(|_| top_ips) {
                    *failing_ips.entry(ip.to_string()).or_default() += 1;
                }
                if let Some(actor) = e.actor_id().filter(|_| top_accounts) {
                    *failing_accounts.entry(actor.to_owned()).or_default() += 1;
                }
            }
        }
    }
    if gaps && newer - since > options.gap {
        d.gaps.push(Gap {
            from: since,
            until: newer,
        });
    }
    d.gaps.reverse();
    for section in role.sections() {
        if let Some(list) = list_mut(&mut d, *section) {
            list.reverse();
        }
    }
    d.top_failing_ips = top(failing_ips, 10);
    d.top_failing_accounts = top(failing_accounts, 10);
    if role.reviews(Section::OverdueReviews) {
        d.overdue_reviews = overdue(store, tenant, until).await?;
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::review::fixtures::{day, seeded};
    use crate::MemoryStore;

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
    async fn access_denials_are_counted_per_rule_for_security_and_compliance() {
        let store = MemoryStore::new();
        let denied = |action, policy: &str, rule: &str| {
            crate::ActivityEvent::new(action)
                .with_outcome(Outcome::Failure)
                .with_detail("policy", policy)
                .with_detail("rule", rule)
                .with_time(day() + Duration::hours(1))
        };
        store
            .append(&[
                denied(Action::ACCESS_DENIED, "global", "office"),
                denied(Action::ACCESS_DENIED, "global", "office"),
                denied(Action::ACCESS_DENIED, "tenant", "hours"),
                denied(Action::ACCESS_REPORTED, "global", "countries"),
            ])
            .await
            .unwrap();
        let end = day() + Duration::days(1);
        for role in [ReviewRole::SecurityAnalyst, ReviewRole::Compliance] {
            let d = digest(
                &store,
                role,
                None,
                day(),
                end,
                end,
                DigestOptions::default(),
            )
            .await
            .unwrap();
            assert_eq!(d.access_denied_by_rule.get("global/office"), Some(&2));
            assert_eq!(d.access_denied_by_rule.get("tenant/hours"), Some(&1));
            assert_eq!(d.access_reported_by_rule.get("global/countries"), Some(&1));
            let html = d.to_html();
            assert!(
                html.contains("Access denied by policy rule") && html.contains("global/office")
            );
        }
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
        assert!(
            admin.access_denied_by_rule.is_empty(),
            "not an administrator's section"
        );
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
}
