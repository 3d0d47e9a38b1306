//! Events as a plain-text table for people (quickstart, the `activity` command).

use std::fmt;

use comfy_table::{ContentArrangement, ContentLineStyle, LineStyle, Table, TableStyle};

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
/// Every value is escaped with [`escape_control`] and long values are shortened; columns
/// are as wide as their widest cell on screen (laid out by `comfy-table`, so a wide
/// character such as a CJK name counts twice).
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
        let mut table = Table::new();
        // Columns two spaces apart and a rule under the header, nothing else: columns as
        // wide as their widest cell on screen (a wide character counts twice).
        table
            .load_style(
                TableStyle::new()
                    .header_lines(ContentLineStyle::none().junction(' '))
                    .header_separator(LineStyle::none().fill('-').junction(' '))
                    .content_lines(ContentLineStyle::none().junction(' ')),
            )
            .set_content_arrangement(ContentArrangement::Disabled)
            .set_header(HEADERS);
        for e in self.events {
            table.add_row(Self::row(e));
        }
        for (i, column) in table.column_iter_mut().enumerate() {
            column.set_padding((0, u16::from(i + 1 < HEADERS.len())));
        }
        for line in table.lines() {
            writeln!(f, "{}", line.trim_end())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Actor;

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

    #[test]
    fn columns_line_up_by_display_width() {
        let events = vec![
            ActivityEvent::login_failed(Actor::user("山田太郎")).with_tenant("東京"),
            ActivityEvent::logout(Actor::user("bob")).with_tenant("acme"),
        ];
        let text = EventTable::new(&events).to_string();
        println!("{text}");
        let lines: Vec<&str> = text.lines().collect();
        // The column after the tenant starts at the same screen column on every line.
        let at = |line: &str, what: &str| {
            let i = line.find(what).expect(what);
            unicode_width::UnicodeWidthStr::width(&line[..i])
        };
        assert_eq!(lines.len(), 4);
        assert_eq!(at(lines[0], "ACTION"), at(lines[2], "auth.login.failed"));
        assert_eq!(at(lines[0], "ACTION"), at(lines[3], "auth.logout"));
        assert_eq!(at(lines[2], "山田太郎"), at(lines[3], "bob"));
    }
}
