//! The review record: sign-offs (`audit.reviewed`) and which reviews are overdue.

use chrono::{DateTime, Duration, Utc};

use super::{Digest, Overdue, ReviewRole};
use crate::event::payload::{Payload, Reviewed};
use crate::{
    Action, ActivityEvent, ActivityQuery, ActivityStore, Actor, Error, Recorder, Result, Rule,
};

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
        let q = ActivityQuery::scoped(tenant)
            .action(Action::AUDIT_REVIEWED.as_str())
            .since(at - look_back)
            .until(at);
        let mut pages = crate::query::Pages::new(store, q);
        let mut last = None;
        'pages: while let Some(events) = pages.next().await? {
            for e in &events {
                let r = Reviewed::read(e).map(|r| r.role);
                if r.as_deref() == Some(role.as_str()) {
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
    let reviewed = Reviewed {
        role: digest.role.as_str().to_owned(),
        since: digest.since,
        until: digest.until,
        total_events: digest.total_events,
        comment: comment.to_owned(),
    };
    let mut e =
        reviewed.write(ActivityEvent::audit_reviewed(reviewer).with_time(recorder.clock().now()));
    if let Some(t) = &digest.tenant {
        e = e.with_tenant(t.clone());
    }
    recorder.record_reserved(e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::review::fixtures::day;
    use crate::review::{digest, DigestOptions};
    use crate::{ManualClock, MemoryStore};
    use std::sync::Arc;

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
}
