//! The compliance report for a tenant and period, as JSON and as one self-contained HTML
//! page with a chart of events per day (inline SVG; no scripts, no fonts, no external
//! resources; every value escaped).

use std::collections::BTreeMap;
use std::fmt::Write;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use crate::text::escape_html as esc;
use crate::{
    chain::verify, chain::ChainKey, chain::VerifyReport, Action, ActivityQuery, ActivityStore,
    Error, Outcome, Result, Rule,
};

/// The compliance report.
///
/// ```
/// use activity_core::review::compliance_report;
/// use activity_core::{ActivityEvent, ActivityStore, Actor, chain::ChainKey, MemoryStore};
/// use chrono::{Duration, TimeZone, Utc};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = MemoryStore::new();
/// let day = Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap();
/// let failed = |h| {
///     ActivityEvent::login_failed(Actor::user("bob"))
///         .with_ip("81.2.69.142".parse().unwrap())
///         .with_time(day + Duration::hours(h))
/// };
/// let enrolled = ActivityEvent::mfa_enrolled(Actor::user("ann")).with_time(day);
/// store.append(&[failed(1), failed(2), enrolled]).await.unwrap();
/// let key = ChainKey::keyed(b"keep this key out of the database").unwrap();
/// let r = compliance_report(&store, None, day, day + Duration::days(1), &key).await.unwrap();
/// assert_eq!((r.total, r.failed_logins_by_account["bob"], r.mfa_enrolments), (3, 2, 1));
/// assert_eq!(r.failed_logins_by_ip["81.2.69.142"], 2);
/// assert_eq!(r.by_category["auth"]["failure"], 2);
/// assert!(r.verification.is_intact());
/// assert!(r.to_html().starts_with("<!doctype html>"));
/// # });
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComplianceReport {
    /// Tenant (`None`: all).
    pub tenant: Option<String>,
    /// Period start (inclusive).
    pub since: DateTime<Utc>,
    /// Period end (exclusive).
    pub until: DateTime<Utc>,
    /// Events in the period.
    pub total: u64,
    /// Counts per category and outcome: `{"auth": {"failure": 3, "success": 10}}`.
    pub by_category: BTreeMap<String, BTreeMap<String, u64>>,
    /// Failed logins per account.
    pub failed_logins_by_account: BTreeMap<String, u64>,
    /// Failed logins per source address.
    pub failed_logins_by_ip: BTreeMap<String, u64>,
    /// Lockouts triggered.
    pub lockouts: u64,
    /// MFA enrolments.
    pub mfa_enrolments: u64,
    /// MFA failures.
    pub mfa_failures: u64,
    /// Alerts per rule.
    pub alerts_by_rule: BTreeMap<String, u64>,
    /// Requests an access policy denied, per `policy/rule` (`policy` is `tenant` or
    /// `global`): `{"global/office-network": 4}`.
    pub access_denied_by_rule: BTreeMap<String, u64>,
    /// Requests a report-only rule would have denied, per `policy/rule`.
    pub access_reported_by_rule: BTreeMap<String, u64>,
    /// Exports of the log made.
    pub exports: u64,
    /// Purges run.
    pub purges: u64,
    /// Events per day (UTC).
    pub per_day: BTreeMap<NaiveDate, u64>,
    /// The chain verification of the tenant (whole log, not only the period).
    pub verification: VerifyReport,
}

/// Builds the report, reading the period a page at a time and verifying the chain.
///
/// # Errors
/// [`Error::Invalid`] when `since` is not before `until`; the store's errors.
pub async fn compliance_report(
    store: &dyn ActivityStore,
    tenant: Option<&str>,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    key: &ChainKey,
) -> Result<ComplianceReport> {
    if since >= until {
        return Err(Error::invalid("since", Rule::OutOfRange("before `until`")));
    }
    let mut r = ComplianceReport {
        tenant: tenant.map(str::to_owned),
        since,
        until,
        total: 0,
        by_category: BTreeMap::new(),
        failed_logins_by_account: BTreeMap::new(),
        failed_logins_by_ip: BTreeMap::new(),
        lockouts: 0,
        mfa_enrolments: 0,
        mfa_failures: 0,
        alerts_by_rule: BTreeMap::new(),
        access_denied_by_rule: BTreeMap::new(),
        access_reported_by_rule: BTreeMap::new(),
        exports: 0,
        purges: 0,
        per_day: BTreeMap::new(),
        verification: verify(store, tenant, key).await?,
    };
    let q = ActivityQuery::scoped(tenant).since(since).until(until);
    let mut pages = crate::query::Pages::new(store, q);
    while let Some(events) = pages.next().await? {
        for e in &events {
            r.total += 1;
            *r.by_category
                .entry(e.action.category().to_owned())
                .or_default()
                .entry(e.outcome.to_string())
                .or_default() += 1;
            *r.per_day.entry(e.time.date_naive()).or_default() += 1;
            let a = &e.action;
            if *a == Action::LOGIN_FAILED {
                if let Some(actor) = e.actor_id() {
                    *r.failed_logins_by_account
                        .entry(actor.to_owned())
                        .or_default() += 1;
                }
                if let Some(ip) = e.ip() {
                    *r.failed_logins_by_ip.entry(ip.to_string()).or_default() += 1;
                }
            } else if *a == Action::LOCKOUT_TRIGGERED {
                r.lockouts += 1;
            } else if *a == Action::MFA_ENROLLED && e.outcome == Outcome::Success {
                r.mfa_enrolments += 1;
            } else if *a == Action::MFA_FAILED {
                r.mfa_failures += 1;
            } else if *a == Action::ALERT_RAISED {
                *r.alerts_by_rule
                    .entry(e.reason.clone().unwrap_or_else(|| "unknown".into()))
                    .or_default() += 1;
            } else if *a == Action::ACCESS_DENIED {
                *r.access_denied_by_rule.entry(access_rule(e)).or_default() += 1;
            } else if *a == Action::ACCESS_REPORTED {
                *r.access_reported_by_rule.entry(access_rule(e)).or_default() += 1;
            } else if *a == Action::AUDIT_EXPORTED {
                r.exports += 1;
            } else if *a == Action::AUDIT_PURGED {
                r.purges += 1;
            }
        }
    }
    Ok(r)
}

/// The `policy/rule` key of an `access.denied` or `access.reported` event, from the
/// `policy` and `rule` details the layer records (`unknown` for a part that is missing or
/// not a string: a stored row is not trusted to have them).
pub(crate) fn access_rule(e: &crate::ActivityEvent) -> String {
    let part = |k: &str| {
        e.details
            .as_ref()
            .and_then(|d| d.get(k))
            .and_then(|v| v.as_str())
            .unwrap_or("unknown")
    };
    format!("{}/{}", part("policy"), part("rule"))
}

impl ComplianceReport {
    /// Pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self)
            .expect("a report serialises: its maps have string or date keys and it holds no floats")
    }

    /// One self-contained HTML page.
    pub fn to_html(&self) -> String {
        let mut o = String::from("<!doctype html><html lang=en><head><meta charset=utf-8>");
        let title = format!(
            "Compliance report{} — {} to {}",
            self.tenant
                .as_deref()
                .map(|t| format!(" for {t}"))
                .unwrap_or_default(),
            crate::event::format_time(&self.since),
            crate::event::format_time(&self.until)
        );
        let _ = write!(
            o,
            "<title>{t}</title><style>body{{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}}\
             table{{border-collapse:collapse;margin:.5em 0 1.5em}}td,th{{border:1px solid #ccc;padding:.25em .6em;text-align:left}}\
             th{{background:#f3f3f3}}.ok{{color:#176117}}.bad{{color:#a40000;font-weight:bold}}</style></head><body><h1>{t}</h1>",
            t = esc(&title)
        );
        let v = &self.verification;
        let _ = write!(
            o,
            "<p>{} events in the period. Integrity chain: <span class={}>{}</span> ({} events, {} chains{}).</p>",
            self.total,
            if v.is_intact() { "ok" } else { "bad" },
            if v.is_intact() { "intact" } else { "BROKEN" },
            v.events,
            v.chains,
            v.first_break
                .as_ref()
                .map(|b| format!("; first break: {}", esc(&serde_json::to_string(b).unwrap_or_default())))
                .unwrap_or_default()
        );
        o.push_str("<h2>Events per day</h2>");
        o.push_str(&self.chart());
        o.push_str("<h2>By category and outcome</h2><table><tr><th>Category</th><th>Success</th><th>Failure</th><th>Unknown</th></tr>");
        for (cat, m) in &self.by_category {
            let g = |k: &str| m.get(k).copied().unwrap_or(0);
            let _ = write!(
                o,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(cat),
                g("success"),
                g("failure"),
                g("unknown")
            );
        }
        o.push_str("</table>");
        let _ = write!(
            o,
            "<h2>Security</h2><table><tr><th>Lockouts</th><td>{}</td></tr><tr><th>MFA enrolments</th><td>{}</td></tr>\
             <tr><th>MFA failures</th><td>{}</td></tr><tr><th>Exports of the log</th><td>{}</td></tr><tr><th>Purges run</th><td>{}</td></tr></table>",
            self.lockouts, self.mfa_enrolments, self.mfa_failures, self.exports, self.purges
        );
        for (title, map) in [
            ("Alerts by rule", &self.alerts_by_rule),
            ("Access denied by policy rule", &self.access_denied_by_rule),
            (
                "Access that report-only rules would deny",
                &self.access_reported_by_rule,
            ),
            ("Failed logins by account", &self.failed_logins_by_account),
            ("Failed logins by address", &self.failed_logins_by_ip),
        ] {
            let _ = write!(
                o,
                "<h2>{}</h2><table><tr><th>Key</th><th>Count</th></tr>",
                esc(title)
            );
            let mut rows: Vec<_> = map.iter().collect();
            rows.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
            for (k, n) in rows.into_iter().take(50) {
                let _ = write!(o, "<tr><td>{}</td><td>{n}</td></tr>", esc(k));
            }
            o.push_str("</table>");
        }
        o.push_str("</body></html>\n");
        o
    }

    /// The per-day bar chart as inline SVG.
    fn chart(&self) -> String {
        let days: Vec<(&NaiveDate, &u64)> = self.per_day.iter().collect();
        if days.is_empty() {
            return "<p>No events.</p>".into();
        }
        let max = days.iter().map(|d| *d.1).max().unwrap_or(1).max(1);
        let (w, h, bar) = (days.len() * 24 + 40, 160usize, 18usize);
        let mut s = format!("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{}\" role=\"img\" aria-label=\"events per day\">", h + 40);
        for (i, (day, n)) in days.iter().enumerate() {
            let bh = (**n as f64 / max as f64 * h as f64).round() as usize;
            let x = 30 + i * 24;
            let _ = write!(
                s,
                "<rect x=\"{x}\" y=\"{}\" width=\"{bar}\" height=\"{bh}\" fill=\"#4a7bd0\"><title>{day}: {n}</title></rect>\
                 <text x=\"{}\" y=\"{}\" font-size=\"9\" text-anchor=\"middle\">{}</text>",
                h - bh + 10,
                x + bar / 2,
                h + 24,
                day.format("%m-%d")
            );
        }
        s.push_str("</svg>");
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ActivityEvent, Actor, MemoryStore};
    use chrono::{Duration, TimeZone};

    #[tokio::test]
    async fn figures_and_page() {
        let store = MemoryStore::new();
        let t0 = Utc.with_ymd_and_hms(2026, 11, 20, 12, 0, 0).unwrap();
        let mut v = vec![
            ActivityEvent::login_failed(Actor::user("<b>x</b>"))
                .with_time(t0)
                .with_ip("1.2.3.4".parse().unwrap()),
            ActivityEvent::login_failed(Actor::user("<b>x</b>")).with_time(t0 + Duration::days(1)),
            ActivityEvent::login_succeeded(Actor::user("y")).with_time(t0 + Duration::days(1)),
            ActivityEvent::mfa_enrolled(Actor::user("y")).with_time(t0 + Duration::days(2)),
            ActivityEvent::lockout_triggered(Actor::user("x"), "too_many_failures")
                .with_time(t0 + Duration::days(2)),
            ActivityEvent::alert_raised("failed_logins", "high", &[])
                .with_time(t0 + Duration::days(2)),
            ActivityEvent::new(Action::ACCESS_DENIED)
                .with_detail("policy", "global")
                .with_detail("rule", "office")
                .with_time(t0 + Duration::days(2)),
            ActivityEvent::new(Action::ACCESS_DENIED)
                .with_detail("policy", "global")
                .with_detail("rule", "office")
                .with_time(t0 + Duration::days(2)),
            ActivityEvent::new(Action::ACCESS_REPORTED)
                .with_detail("policy", "tenant")
                .with_detail("rule", 7)
                .with_time(t0 + Duration::days(2)),
        ];
        crate::chain::ChainSealer::new("w", ChainKey::unkeyed()).seal_all(&mut v);
        store.append(&v).await.unwrap();
        let r = compliance_report(
            &store,
            None,
            t0,
            t0 + Duration::days(3),
            &ChainKey::unkeyed(),
        )
        .await
        .unwrap();
        assert_eq!(r.total, 9);
        assert_eq!(r.by_category["auth"]["failure"], 2);
        assert_eq!(r.failed_logins_by_account["<b>x</b>"], 2);
        assert_eq!(r.failed_logins_by_ip["1.2.3.4"], 1);
        assert_eq!((r.lockouts, r.mfa_enrolments), (1, 1));
        assert_eq!(r.alerts_by_rule["failed_logins"], 1);
        assert_eq!(r.access_denied_by_rule["global/office"], 2);
        // A rule that is not a string in the stored row is named `unknown`, not guessed.
        assert_eq!(r.access_reported_by_rule["tenant/unknown"], 1);
        assert_eq!(r.per_day.len(), 3);
        assert!(r.verification.is_intact());
        let html = r.to_html();
        assert!(html.contains("&lt;b&gt;x&lt;/b&gt;") && !html.contains("<b>x"));
        assert!(html.contains("<svg") && !html.contains("<script") && !html.contains("https://"));
        let json: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(json["total"], 9);
        assert_eq!(json["access_denied_by_rule"]["global/office"], 2);
        assert!(html.contains("Access denied by policy rule"));
    }
}
