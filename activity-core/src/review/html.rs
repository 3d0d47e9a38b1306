//! The digest as one self-contained HTML page: no scripts, fonts or external resources;
//! every value escaped.

use std::fmt::Write;

use super::{Digest, Gap, Notable, Overdue, Ranked, Section};
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
            esc(&crate::event::format_time(&n.time)),
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

fn gaps(out: &mut String, rows: &[Gap]) {
    let _ = write!(out, "<h2>Gaps with no events</h2>");
    if rows.is_empty() {
        out.push_str("<p class=none>None.</p>");
        return;
    }
    out.push_str("<table><tr><th>From</th><th>Until</th></tr>");
    for g in rows {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td></tr>",
            esc(&crate::event::format_time(&g.from)),
            esc(&crate::event::format_time(&g.until))
        );
    }
    out.push_str("</table>");
}

fn overdue(out: &mut String, rows: &[Overdue]) {
    let _ = write!(out, "<h2>Overdue reviews</h2>");
    if rows.is_empty() {
        out.push_str("<p class=none>None.</p>");
        return;
    }
    out.push_str("<table><tr><th>Role</th><th>Last review</th><th>Due</th></tr>");
    for o in rows {
        let last = o
            .last_review
            .map(|t| crate::event::format_time(&t))
            .unwrap_or_else(|| "never".into());
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            o.role,
            esc(&last),
            esc(&crate::event::format_time(&o.due))
        );
    }
    out.push_str("</table>");
}

/// Renders the digest as one self-contained page.
fn render(d: &Digest) -> String {
    let mut out = String::from("<!doctype html><html lang=en><head><meta charset=utf-8>");
    let title = format!(
        "{} review digest, {} to {}{}",
        d.role,
        crate::event::format_time(&d.since),
        crate::event::format_time(&d.until),
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
        esc(&crate::event::format_time(&d.generated))
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
    for section in d.role.sections() {
        match section {
            Section::ConfigChanges => {
                notables(&mut out, "Configuration changes", &d.config_changes)
            }
            Section::RoleChanges => notables(&mut out, "Role changes", &d.role_changes),
            Section::Unlocks => notables(&mut out, "Unlocks", &d.unlocks),
            Section::Exports => notables(&mut out, "Exports", &d.exports),
            Section::FailuresByAction => counts(
                &mut out,
                "Failures by action",
                d.failures_by_action.iter().map(|(k, v)| (k.as_str(), *v)),
            ),
            Section::Lockouts => notables(&mut out, "Lockouts", &d.lockouts),
            Section::AlertsByRule => counts(
                &mut out,
                "Alerts by rule",
                d.alerts_by_rule.iter().map(|(k, v)| (k.as_str(), *v)),
            ),
            Section::AccessByRule => {
                counts(
                    &mut out,
                    "Access denied by policy rule",
                    d.access_denied_by_rule
                        .iter()
                        .map(|(k, v)| (k.as_str(), *v)),
                );
                counts(
                    &mut out,
                    "Access report-only rules would deny",
                    d.access_reported_by_rule
                        .iter()
                        .map(|(k, v)| (k.as_str(), *v)),
                );
            }
            Section::NewDevicesAndLocations => notables(
                &mut out,
                "New devices and locations",
                &d.new_devices_and_locations,
            ),
            Section::TopFailingIps => ranked(&mut out, "Top failing addresses", &d.top_failing_ips),
            Section::TopFailingAccounts => {
                ranked(&mut out, "Top failing accounts", &d.top_failing_accounts)
            }
            Section::Verifications => notables(&mut out, "Chain verifications", &d.verifications),
            Section::Purges => notables(&mut out, "Purges", &d.purges),
            Section::LoggingEvents => notables(
                &mut out,
                "Logging starts, stops, outages",
                &d.logging_events,
            ),
            Section::Gaps => gaps(&mut out, &d.gaps),
            Section::Reviews => notables(&mut out, "Reviews signed off", &d.reviews),
            Section::OverdueReviews => overdue(&mut out, &d.overdue_reviews),
        }
    }
    out.push_str("</body></html>\n");
    out
}

impl Digest {
    /// The digest as one self-contained HTML page (no scripts, fonts or external
    /// resources; every value escaped).
    pub fn to_html(&self) -> String {
        render(self)
    }
}

#[cfg(test)]
mod tests {
    use crate::review::{digest, DigestOptions, ReviewRole};
    use crate::{ActivityEvent, ActivityStore, Actor, MemoryStore};
    use chrono::{Duration, TimeZone, Utc};

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
