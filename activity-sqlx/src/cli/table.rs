//! Events as an aligned text table for people (`query`, `alerts`, `timeline`).

use std::fmt;

use activity_core::{escape_control, ActivityEvent};

/// Renders events as an aligned text table: time, tenant, action, outcome, actor, IP, reason.
///
/// Every value is escaped with [`escape_control`] and long values are shortened.
///
#[derive(Debug, Clone, Copy)]
pub(crate) struct EventTable<'a> {
    events: &'a [ActivityEvent],
}

const HEADERS: [&str; 7] = [
    "TIME (UTC)",
    "TENANT",
    "ACTION",
    "OUTCOME",
    "ACTOR",
    "IP",
    "REASON",
];
const MAX_CELL: usize = 40;

impl<'a> EventTable<'a> {
    /// A table of these events, in the given order.
    pub(crate) fn new(events: &'a [ActivityEvent]) -> Self {
        Self { events }
    }

    fn row(e: &ActivityEvent) -> [String; 7] {
        let cell = |s: &str| {
            let escaped = escape_control(s);
            if escaped.chars().count() > MAX_CELL {
                let mut short: String = escaped.chars().take(MAX_CELL - 1).collect();
                short.push('…');
                short
            } else {
                escaped
            }
        };
        [
            e.time.format("%Y-%m-%d %H:%M:%S%.3f").to_string(),
            cell(e.tenant.as_deref().unwrap_or("-")),
            cell(e.action.as_str()),
            e.outcome.as_str().to_string(),
            cell(
                e.actor
                    .as_ref()
                    .map(|a| a.name.as_deref().unwrap_or(&a.id))
                    .unwrap_or("-"),
            ),
            e.ip().map_or_else(|| "-".to_string(), |ip| ip.to_string()),
            cell(e.reason.as_deref().unwrap_or("-")),
        ]
    }
}

impl fmt::Display for EventTable<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rows: Vec<[String; 7]> = self.events.iter().map(Self::row).collect();
        let mut widths = HEADERS.map(|h| h.chars().count());
        for row in &rows {
            for (w, c) in widths.iter_mut().zip(row) {
                *w = (*w).max(c.chars().count());
            }
        }
        let line = |f: &mut fmt::Formatter<'_>, cells: &[&str]| -> fmt::Result {
            let mut first = true;
            let mut out = String::new();
            for (c, w) in cells.iter().zip(widths) {
                if !first {
                    out.push_str("  ");
                }
                first = false;
                out.push_str(c);
                out.extend(std::iter::repeat_n(
                    ' ',
                    w.saturating_sub(c.chars().count()),
                ));
            }
            writeln!(f, "{}", out.trim_end())
        };
        line(f, &HEADERS)?;
        let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
        line(f, &rule.iter().map(String::as_str).collect::<Vec<_>>())?;
        for row in &rows {
            line(f, &row.iter().map(String::as_str).collect::<Vec<_>>())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use activity_core::Actor;

    #[test]
    fn a_row_is_escaped_and_shortened() {
        let events = vec![ActivityEvent::login_failed(Actor::user("mallory\n"))
            .with_reason("bad_password")
            .with_tenant("t".repeat(60))];
        let text = EventTable::new(&events).to_string();
        assert!(text.contains("auth.login.failed"));
        assert!(text.contains("mallory\\n"));
        assert!(text.contains(&format!("{}…", "t".repeat(39))), "{text}");
        assert_eq!(text.lines().count(), 3); // header, rule, one row
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("TIME (UTC)"));
        assert!(lines[1].chars().all(|c| c == '-' || c == ' '));
    }
}
