//! Events as a plain-text table for people (quickstart, the `activity` command).

use std::fmt;

use crate::event::ActivityEvent;

/// Escapes control characters (CR, LF, ESC, NUL, DEL and the rest of C0/C1) so that a
/// hostile value cannot forge table lines or recolour a terminal.
///
/// ```
/// assert_eq!(activity_core::text::escape_control("a\r\nb\u{1b}[31m"), "a\\r\\nb\\u{1b}[31m");
/// assert_eq!(activity_core::text::escape_control("Ålice"), "Ålice");
/// ```
pub fn escape_control(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\r' => out.push_str("\\r"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&c.escape_unicode().to_string()),
            c => out.push(c),
        }
    }
    out
}

/// Renders events as an aligned text table: time, tenant, action, outcome, actor, IP, reason.
///
/// Every value is escaped with [`escape_control`] and long values are shortened.
///
/// ```
/// use activity_core::{ActivityEvent, Actor, text::EventTable};
/// let events = vec![ActivityEvent::login_failed(Actor::user("mallory\n")).with_reason("bad_password")];
/// let text = EventTable::new(&events).to_string();
/// assert!(text.contains("auth.login.failed"));
/// assert!(text.contains("mallory\\n"));
/// assert_eq!(text.lines().count(), 3); // header, rule, one row
/// ```
#[derive(Debug, Clone, Copy)]
pub struct EventTable<'a> {
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
    pub fn new(events: &'a [ActivityEvent]) -> Self {
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
