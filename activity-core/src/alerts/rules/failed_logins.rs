//! `failed_logins` and `failed_logins_ip`: bursts of failed logins per account, and per
//! source address across accounts.

use async_trait::async_trait;
use chrono::Duration;

use crate::alerts::{Alert, AlertRule, Evaluation, Severity};
use crate::{Action, ActivityEvent, ActivityQuery, ActivityStore, Result};

/// `failed_logins`: `threshold` failed logins for one account within `window` raise one
/// alert per burst (when the threshold-th failure arrives, ordered by time then id), and
/// `failed_logins_ip` the same per source address across accounts (password spraying).
///
/// ```
/// use activity_core::alerts::{AlertEngine, FailedLogins};
/// use activity_core::{ActivityEvent, ActivityStore, Actor, MemoryStore};
/// use chrono::{Duration, TimeZone, Utc};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// // Stricter than the default: three failures within five minutes.
/// let mut rule = FailedLogins::default();
/// rule.threshold = 3;
/// rule.window = Duration::minutes(5);
/// let t0 = Utc.with_ymd_and_hms(2026, 11, 24, 9, 0, 0).unwrap();
/// let failures: Vec<_> = (0..3)
///     .map(|i| ActivityEvent::login_failed(Actor::user("bob")).with_time(t0 + Duration::minutes(i)))
///     .collect();
/// let store = MemoryStore::new();
/// store.append(&failures).await?;
/// let alerts = AlertEngine::new().rule(rule).evaluate(&store, &failures).await?;
/// assert_eq!(alerts.len(), 1);
/// assert_eq!(alerts[0].evidence.len(), 3);
/// assert_eq!(FailedLogins::per_ip().threshold, 20);
/// # Ok::<(), activity_core::Error>(()) }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct FailedLogins {
    /// Failures that raise the alert (default 5; 20 per IP).
    pub threshold: u64,
    /// The window (default 15 minutes); events exactly `window` apart are not within it.
    pub window: Duration,
    /// Severity (default high).
    pub severity: Severity,
    per_ip: bool,
}

impl Default for FailedLogins {
    fn default() -> Self {
        Self {
            threshold: 5,
            window: Duration::minutes(15),
            severity: Severity::High,
            per_ip: false,
        }
    }
}

impl FailedLogins {
    /// The per-address variant (`failed_logins_ip`, 20 failures in 15 minutes).
    pub fn per_ip() -> Self {
        Self {
            threshold: 20,
            per_ip: true,
            ..Self::default()
        }
    }
}

impl FailedLogins {
    /// The failures in the window ending at `e` (a failed login), of its account or
    /// address, and that account or address.
    fn window(&self, e: &ActivityEvent) -> Option<(ActivityQuery, String)> {
        if e.action != Action::LOGIN_FAILED || e.reason.as_deref() == Some("locked") {
            return None;
        }
        let mut q = ActivityQuery::new()
            .action(Action::LOGIN_FAILED.as_str())
            .since(e.time - self.window + Duration::microseconds(1))
            .until(e.time + Duration::microseconds(1))
            .limit(crate::query::MAX_PAGE_SIZE);
        if let Some(t) = &e.tenant {
            q = q.tenant(t.clone());
        }
        let subject = if self.per_ip {
            let ip = e.ip()?;
            q = q.ip(ip);
            ip.to_string()
        } else {
            let a = e.actor_id()?;
            q = q.actor(a);
            a.to_owned()
        };
        Some((q, subject))
    }
}

#[async_trait]
impl AlertRule for FailedLogins {
    fn id(&self) -> &str {
        if self.per_ip {
            "failed_logins_ip"
        } else {
            "failed_logins"
        }
    }

    async fn evaluate(&self, store: &dyn ActivityStore, e: &ActivityEvent) -> Result<Vec<Alert>> {
        self.evaluate_in(&Evaluation::new(store, std::slice::from_ref(e)), e)
            .await
    }

    fn prefetch(&self, e: &ActivityEvent) -> Vec<ActivityQuery> {
        self.window(e).map(|(q, _)| q).into_iter().collect()
    }

    async fn evaluate_in(&self, ev: &Evaluation<'_>, e: &ActivityEvent) -> Result<Vec<Alert>> {
        let Some((q, subject)) = self.window(e) else {
            return Ok(Vec::new());
        };
        let page = ev.query(&q).await?;
        let mut window: Vec<&ActivityEvent> = page
            .events
            .iter()
            .filter(|x| x.reason.as_deref() != Some("locked") && (x.time, x.id) <= (e.time, e.id))
            .collect();
        window.sort_by_key(|x| (x.time, x.id));
        if window.len() as u64 != self.threshold || window.last().map(|x| x.id) != Some(e.id) {
            return Ok(Vec::new());
        }
        let what = if self.per_ip {
            "from address"
        } else {
            "for account"
        };
        Ok(vec![Alert {
            rule: self.id().to_owned(),
            severity: self.severity,
            account: if self.per_ip {
                None
            } else {
                Some(subject.clone())
            },
            tenant: e.tenant.clone(),
            evidence: window.iter().map(|x| x.id).collect(),
            message: format!(
                "{} failed logins {what} {subject} within {} minutes",
                self.threshold,
                self.window.num_minutes()
            ),
            time: e.time,
            trigger: e.id,
        }])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::fixtures::{alerts_for, fail, t0};
    use crate::alerts::AlertEngine;

    #[tokio::test]
    async fn four_failures_do_not_alert_five_do_once() {
        let engine = AlertEngine::new().rule(FailedLogins::default());
        let four: Vec<_> = (0..4)
            .map(|i| fail("bob", t0() + Duration::minutes(i), "1.1.1.1"))
            .collect();
        assert!(alerts_for(&four, &engine).await.is_empty());
        let seven: Vec<_> = (0..7)
            .map(|i| fail("bob", t0() + Duration::minutes(i), "1.1.1.1"))
            .collect();
        let alerts = alerts_for(&seven, &engine).await;
        assert_eq!(alerts.len(), 1, "one alert per burst");
        assert_eq!(alerts[0].evidence.len(), 5);
        assert_eq!(alerts[0].trigger, seven[4].id);
        assert_eq!(alerts[0].account.as_deref(), Some("bob"));
    }

    #[tokio::test]
    async fn the_window_boundary_is_exact() {
        let engine = AlertEngine::new().rule(FailedLogins::default());
        // First and fifth 14:59 apart: within.
        let mut inside: Vec<_> = (0..4)
            .map(|i| fail("bob", t0() + Duration::seconds(i), "1.1.1.1"))
            .collect();
        inside.push(fail(
            "bob",
            t0() + Duration::seconds(14 * 60 + 59),
            "1.1.1.1",
        ));
        assert_eq!(alerts_for(&inside, &engine).await.len(), 1);
        // First and fifth exactly 15:00 apart: not within.
        let mut outside: Vec<_> = (0..4)
            .map(|i| fail("bob", t0() + Duration::seconds(i), "1.1.1.1"))
            .collect();
        outside[0] = fail("bob", t0(), "1.1.1.1");
        outside.push(fail("bob", t0() + Duration::minutes(15), "1.1.1.1"));
        assert!(alerts_for(&outside, &engine).await.is_empty());
    }

    #[tokio::test]
    async fn identical_timestamps_alert_once_and_accounts_are_separate() {
        let engine = AlertEngine::new().rule(FailedLogins::default());
        let mut v: Vec<_> = (0..6).map(|_| fail("bob", t0(), "1.1.1.1")).collect();
        v.extend((0..4).map(|_| fail("carol", t0(), "1.1.1.1")));
        assert_eq!(alerts_for(&v, &engine).await.len(), 1);
    }

    #[tokio::test]
    async fn spraying_from_one_address_across_accounts() {
        let engine = AlertEngine::new().rule(FailedLogins::per_ip());
        let v: Vec<_> = (0..25)
            .map(|i| {
                fail(
                    &format!("user{i}"),
                    t0() + Duration::seconds(i),
                    "175.16.199.1",
                )
            })
            .collect();
        let alerts = alerts_for(&v, &engine).await;
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].rule, "failed_logins_ip");
        assert_eq!(alerts[0].evidence.len(), 20);
    }
}
