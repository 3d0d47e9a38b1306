//! `concurrent_sessions`: more simultaneous sessions of one account than allowed, from
//! different devices or addresses.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use chrono::Duration;

use super::alert;
use crate::alerts::{Alert, AlertRule, Evaluation, Severity};
use crate::{Action, ActivityEvent, ActivityQuery, ActivityStore, Result};

/// `concurrent_sessions`: more simultaneous active sessions (created, not terminated or
/// expired, within `session_lifetime`) than `max_sessions`, from different devices or
/// addresses. By default a second simultaneous session from another device alerts.
///
/// ```
/// use activity_core::alerts::{AlertEngine, ConcurrentSessions};
/// use activity_core::{ActivityEvent, ActivityStore, Actor, MemoryStore, Source};
/// use chrono::{Duration, TimeZone, Utc};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let t0 = Utc.with_ymd_and_hms(2026, 11, 24, 8, 0, 0).unwrap();
/// let session = |id: &str, device: &str, minutes| {
///     ActivityEvent::session_created(Actor::user("ann"))
///         .with_session(id)
///         .with_time(t0 + Duration::minutes(minutes))
///         .with_source(Source::ip("81.2.69.142".parse().unwrap()).with_device_id(device))
/// };
/// // A second session from another device while the first is still active.
/// let batch = [session("s1", "laptop", 0), session("s2", "phone", 5)];
/// let store = MemoryStore::new();
/// store.append(&batch).await?;
/// let alerts = AlertEngine::new().rule(ConcurrentSessions::default()).evaluate(&store, &batch).await?;
/// assert_eq!(alerts.len(), 1);
/// assert_eq!(alerts[0].evidence, vec![batch[0].id, batch[1].id]);
/// # Ok::<(), activity_core::Error>(()) }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct ConcurrentSessions {
    /// Sessions allowed at once (default 1).
    pub max_sessions: usize,
    /// How long a session lives unless ended (default 12 hours).
    pub session_lifetime: Duration,
    /// Severity (default medium).
    pub severity: Severity,
}

impl Default for ConcurrentSessions {
    fn default() -> Self {
        Self {
            max_sessions: 1,
            session_lifetime: Duration::hours(12),
            severity: Severity::Medium,
        }
    }
}

impl ConcurrentSessions {
    /// The session events of `e`'s account within a session lifetime before `e` (a
    /// session creation).
    fn sessions_query(&self, e: &ActivityEvent) -> Option<ActivityQuery> {
        if e.action != Action::SESSION_CREATED {
            return None;
        }
        let mut q = ActivityQuery::new()
            .actor(e.actor_id()?)
            .action("session")
            .since(e.time - self.session_lifetime)
            .until(e.time + Duration::microseconds(1))
            .limit(crate::query::MAX_PAGE_SIZE);
        if let Some(t) = &e.tenant {
            q = q.tenant(t.clone());
        }
        Some(q)
    }
}

#[async_trait]
impl AlertRule for ConcurrentSessions {
    fn id(&self) -> &str {
        "concurrent_sessions"
    }

    async fn evaluate(&self, store: &dyn ActivityStore, e: &ActivityEvent) -> Result<Vec<Alert>> {
        self.evaluate_in(&Evaluation::new(store, std::slice::from_ref(e)), e)
            .await
    }

    fn prefetch(&self, e: &ActivityEvent) -> Vec<ActivityQuery> {
        self.sessions_query(e).into_iter().collect()
    }

    async fn evaluate_in(&self, ev: &Evaluation<'_>, e: &ActivityEvent) -> Result<Vec<Alert>> {
        let (Some(q), Some(account)) = (self.sessions_query(e), e.actor_id()) else {
            return Ok(Vec::new());
        };
        let page = ev.query(&q).await?;
        let events = &page.events;
        // Session key: its hash, or the event id when the app gives none.
        let mut created: BTreeMap<String, &ActivityEvent> = BTreeMap::new();
        let mut ended: BTreeSet<String> = BTreeSet::new();
        for x in events.iter().filter(|x| (x.time, x.id) <= (e.time, e.id)) {
            let key = x.session.clone().unwrap_or_else(|| x.id.to_string());
            if x.action == Action::SESSION_CREATED {
                created.insert(key, x);
            } else if x.action == Action::SESSION_TERMINATED || x.action == Action::SESSION_EXPIRED
            {
                ended.insert(key);
            }
        }
        let mine = (e.device_id(), e.ip());
        let others: Vec<&ActivityEvent> = created
            .iter()
            .filter(|(k, x)| !ended.contains(*k) && x.id != e.id)
            .map(|(_, x)| *x)
            .filter(|x| (x.device_id(), x.ip()) != mine)
            .collect();
        if others.len() < self.max_sessions {
            return Ok(Vec::new());
        }
        let mut evidence: Vec<uuid::Uuid> = others.iter().map(|x| x.id).collect();
        evidence.push(e.id);
        Ok(vec![alert(
            "concurrent_sessions",
            self.severity,
            e,
            account,
            evidence,
            format!(
                "{} simultaneous sessions for {account} from different devices or addresses",
                others.len() + 1
            ),
        )])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::rules::fixtures::{run, t0};
    use crate::{Actor, Source};

    #[tokio::test]
    async fn a_second_session_from_another_device_alerts() {
        let rule = ConcurrentSessions::default();
        let sess = |at, dev: &str, s: &str| {
            ActivityEvent::session_created(Actor::user("alice"))
                .with_time(at)
                .with_source(Source::ip("81.2.69.142".parse().unwrap()).with_device_id(dev))
                .with_session(s)
        };
        let v = vec![
            sess(t0(), "d1", "s1"),
            sess(t0() + Duration::minutes(5), "d2", "s2"),
        ];
        let a = run(&rule, &v).await;
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].evidence, vec![v[0].id, v[1].id]);
        // The first ended before the second began: no alert.
        let v = vec![
            sess(t0(), "d1", "s1"),
            ActivityEvent::session_terminated(Actor::user("alice"))
                .with_time(t0() + Duration::minutes(1))
                .with_session("s1"),
            sess(t0() + Duration::minutes(5), "d2", "s2"),
        ];
        assert!(run(&rule, &v).await.is_empty());
        // Same device twice: no alert. Expired by lifetime: no alert.
        let v = vec![
            sess(t0(), "d1", "s1"),
            sess(t0() + Duration::minutes(5), "d1", "s2"),
        ];
        assert!(run(&rule, &v).await.is_empty());
        let v = vec![
            sess(t0(), "d1", "s1"),
            sess(t0() + Duration::hours(13), "d2", "s2"),
        ];
        assert!(run(&rule, &v).await.is_empty());
    }
}
