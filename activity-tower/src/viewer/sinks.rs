//! Delivery to sinks, for administrators: each sink's receipt (its state, lag, what it
//! delivered last and how it fails), as the page `/sinks` and as JSON at `/api/sinks`.
//!
//! The receipts are the whole store's, not a tenant's: they are shown only where the
//! views were given [`ActivityViews::sinks`](super::ActivityViews::sinks). Every value
//! read from the store is written as text (escaped), and a store that keeps no commit
//! order (no sinks: [`Error::Unsupported`](activity_core::Error::Unsupported)) gives an
//! "unavailable" section, not an error.

use std::fmt::Write;

use activity_core::sinks::{LogPosition, SinkReceipt, SinkStatus};
use activity_core::text::{escape_control, escape_html, truncate};
use activity_core::ActivityStore;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::Error;

/// A sink more than this many events behind is flagged as behind.
pub const LAG_WARNING: u64 = 1000;

/// How many receipts are read and shown at most (each costs the store one count).
pub const MAX_SINKS: usize = 100;

/// How much of a sink's last error the page shows, in bytes.
const MAX_ERROR_SHOWN: usize = 500;

/// One sink's receipt and why it needs attention.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SinkRow {
    /// The receipt: the stored state and the lag.
    #[serde(flatten)]
    pub receipt: SinkReceipt,
    /// Why an operator should look: `retrying` (its last delivery failed), `behind` (lag
    /// above [`LAG_WARNING`]); empty when it is well.
    pub attention: Vec<&'static str>,
}

impl SinkRow {
    /// The row of `receipt`.
    pub fn new(receipt: SinkReceipt) -> Self {
        let mut attention = Vec::new();
        if receipt.state.status == SinkStatus::Retrying {
            attention.push("retrying");
        }
        if receipt.lag > LAG_WARNING {
            attention.push("behind");
        }
        Self { receipt, attention }
    }
}

/// The sinks' receipts (what `/api/sinks` answers, as JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Sinks {
    /// Whether the store reports sinks; `false` for a store that keeps no commit order.
    pub available: bool,
    /// Why not, when not available.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The receipts, by name.
    pub sinks: Vec<SinkRow>,
    /// The store held more than [`MAX_SINKS`] sinks; the first ones by name are listed.
    pub truncated: bool,
    /// The lag above which a sink is flagged as behind ([`LAG_WARNING`]).
    pub lag_warning: u64,
}

impl Sinks {
    fn unavailable(e: &activity_core::Error) -> Self {
        Self {
            available: false,
            reason: Some(e.to_string()),
            sinks: Vec::new(),
            truncated: false,
            lag_warning: LAG_WARNING,
        }
    }

    /// How many sinks need attention.
    pub fn attention(&self) -> usize {
        self.sinks
            .iter()
            .filter(|s| !s.attention.is_empty())
            .count()
    }
}

/// Reads the receipts from `store`: its sink states and each one's lag. A store that does
/// not support sinks gives an unavailable [`Sinks`]; any other failure is an error.
pub(crate) async fn read(store: &dyn ActivityStore) -> Result<Sinks, Error> {
    let mut states = match store.sink_states().await {
        Ok(s) => s,
        Err(e @ activity_core::Error::Unsupported { .. }) => return Ok(Sinks::unavailable(&e)),
        Err(e) => return Err(e.into()),
    };
    if states.is_empty() {
        // The trait's default `sink_states` is empty: tell "no sinks" from "no support"
        // by asking for one event of the log (cheap, unlike counting it).
        match store.read_log(LogPosition::START, 1).await {
            Ok(_) => {}
            Err(e @ activity_core::Error::Unsupported { .. }) => return Ok(Sinks::unavailable(&e)),
            Err(e) => return Err(e.into()),
        }
    }
    states.sort_by(|a, b| a.name.cmp(&b.name));
    let truncated = states.len() > MAX_SINKS;
    states.truncate(MAX_SINKS);
    let mut sinks = Vec::with_capacity(states.len());
    for state in states {
        let lag = match store.log_lag(state.position).await {
            Ok(n) => n,
            Err(e @ activity_core::Error::Unsupported { .. }) => return Ok(Sinks::unavailable(&e)),
            Err(e) => return Err(e.into()),
        };
        sinks.push(SinkRow::new(SinkReceipt { state, lag }));
    }
    Ok(Sinks {
        available: true,
        reason: None,
        sinks,
        truncated,
        lag_warning: LAG_WARNING,
    })
}

/// A value from the store as HTML text: control characters shown escaped, then
/// HTML-escaped.
fn text(s: &str) -> String {
    escape_html(&escape_control(s))
}

fn time(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
        .unwrap_or_else(|| "—".to_owned())
}

/// What the page's who-line and links need.
pub(crate) struct PageParts<'a> {
    /// The mount path.
    pub base: &'a str,
    /// Who is reading (their name or id).
    pub who: &'a str,
    /// The sentences' language.
    pub lang: &'a str,
    /// When the page was made.
    pub now: DateTime<Utc>,
}

/// The section's HTML: a table of the receipts, "No sinks", or "unavailable".
pub(crate) fn section(s: &Sinks) -> String {
    let mut out = String::new();
    out.push_str(
        "<section id=\"sinks\" aria-labelledby=\"sinks-title\">\n<h2 id=\"sinks-title\">Delivery to sinks</h2>\n",
    );
    if !s.available {
        let reason = s
            .reason
            .as_deref()
            .unwrap_or("the store does not report sinks");
        let _ = writeln!(
            out,
            "<p id=\"sinks-unavailable\" class=\"none\">Unavailable: {}.</p>",
            text(reason)
        );
        out.push_str("</section>\n");
        return out;
    }
    if s.sinks.is_empty() {
        out.push_str(
            "<p id=\"sinks-none\" class=\"none\">No sinks: nothing is delivered from this log.</p>\n</section>\n",
        );
        return out;
    }
    let n = s.sinks.len();
    let attention = s.attention();
    let _ = write!(
        out,
        "<p id=\"sinks-summary\" role=\"status\">{n} sink{}",
        if n == 1 { "" } else { "s" }
    );
    if attention > 0 {
        let _ = write!(
            out,
            "; <strong class=\"flag\">⚠ {attention} need{} attention</strong>",
            if attention == 1 { "s" } else { "" }
        );
    } else {
        out.push_str("; all delivering");
    }
    let _ = writeln!(
        out,
        ". A sink is flagged when it is retrying or more than {} events behind.</p>",
        s.lag_warning
    );
    out.push_str(
        "<table id=\"sink-table\">\n<caption class=\"visually-hidden\">Sinks by name; times in UTC</caption>\n\
         <thead><tr><th scope=\"col\">Name</th><th scope=\"col\">Kind</th><th scope=\"col\">State</th>\
         <th scope=\"col\">Lag (events)</th><th scope=\"col\">Delivered</th>\
         <th scope=\"col\">Failures (in a row / total)</th><th scope=\"col\">Last delivered event</th>\
         <th scope=\"col\">Last delivery</th><th scope=\"col\">Last error</th></tr></thead>\n<tbody>\n",
    );
    for row in &s.sinks {
        let r = &row.receipt;
        let st = &r.state;
        let flagged = !row.attention.is_empty();
        let _ = write!(
            out,
            "<tr{}><th scope=\"row\">{}</th><td>{}</td>",
            if flagged {
                " class=\"needs-attention\""
            } else {
                ""
            },
            text(&st.name),
            text(&st.kind)
        );
        if st.status == SinkStatus::Retrying {
            out.push_str("<td><strong class=\"flag\">⚠ retrying</strong></td>");
        } else {
            let _ = write!(out, "<td>{}</td>", st.status.as_str());
        }
        if r.lag > s.lag_warning {
            let _ = write!(
                out,
                "<td class=\"num\">{} <strong class=\"flag\">⚠ behind</strong></td>",
                r.lag
            );
        } else {
            let _ = write!(out, "<td class=\"num\">{}</td>", r.lag);
        }
        let _ = write!(
            out,
            "<td class=\"num\">{}</td><td class=\"num\">{} / {}</td>",
            st.delivered, st.failures, st.total_failures
        );
        match st.last_event {
            Some(id) => {
                let _ = write!(
                    out,
                    "<td><code>{id}</code><br>{}</td>",
                    time(st.last_event_time)
                );
            }
            None => out.push_str("<td>—</td>"),
        }
        let _ = write!(out, "<td>{}</td>", time(st.last_delivery));
        match st.last_error.as_deref() {
            Some(e) => {
                let shown = truncate(e, MAX_ERROR_SHOWN);
                let more = if shown.len() < e.len() { "…" } else { "" };
                let _ = writeln!(out, "<td class=\"error\">{}{more}</td></tr>", text(shown));
            }
            None => out.push_str("<td>—</td></tr>\n"),
        }
    }
    out.push_str("</tbody>\n</table>\n");
    if s.truncated {
        let _ = writeln!(
            out,
            "<p class=\"none\">Only the first {MAX_SINKS} sinks by name are listed.</p>"
        );
    }
    out.push_str("</section>\n");
    out
}

/// The administrators' page: the section, under the viewer's stylesheet, with no script.
pub(crate) fn page(s: &Sinks, parts: &PageParts<'_>) -> String {
    let base = escape_html(parts.base);
    format!(
        "<!doctype html>\n<html lang=\"{lang}\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>Delivery to sinks</title>\n<link rel=\"stylesheet\" href=\"{base}/viewer.css\">\n\
         </head>\n<body>\n<header>\n<h1>Delivery to sinks</h1>\n\
         <p class=\"who\">Signed in as <span id=\"who\">{who}</span> · as of {now} · \
         <a href=\"{base}/\">Back to the Audit Log</a> · <a href=\"{base}/api/sinks\">JSON</a></p>\n\
         </header>\n<main>\n{section}</main>\n</body>\n</html>\n",
        lang = escape_html(parts.lang),
        who = text(parts.who),
        now = parts.now.to_rfc3339_opts(SecondsFormat::Secs, true),
        section = section(s),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use activity_core::sinks::SinkState;

    fn row(name: &str, status: SinkStatus, lag: u64, error: Option<&str>) -> SinkRow {
        let mut state = SinkState::new(name, "<i>http</i>");
        state.status = status;
        state.last_error = error.map(str::to_owned);
        SinkRow::new(SinkReceipt { state, lag })
    }

    fn sinks(rows: Vec<SinkRow>) -> Sinks {
        Sinks {
            available: true,
            reason: None,
            sinks: rows,
            truncated: false,
            lag_warning: LAG_WARNING,
        }
    }

    #[test]
    fn values_are_escaped_and_trouble_is_flagged_in_words() {
        let s = sinks(vec![
            row("ok", SinkStatus::Delivering, 0, None),
            row(
                "\"><script>x</script>",
                SinkStatus::Retrying,
                LAG_WARNING + 1,
                Some("<script>alert(1)</script>\r\nforged"),
            ),
        ]);
        assert_eq!(s.sinks[1].attention, ["retrying", "behind"]);
        assert!(s.sinks[0].attention.is_empty());
        let html = section(&s);
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<i>"));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;\\r\\nforged"));
        assert!(html.contains("⚠ retrying") && html.contains("⚠ behind"));
        assert!(html.contains("1 needs attention"));
        let page = page(
            &s,
            &PageParts {
                base: "/activity-log",
                who: "<b>eve</b>",
                lang: "en",
                now: Utc::now(),
            },
        );
        assert!(!page.contains("<b>eve") && !page.contains("<script"));
        assert!(!page.contains("<style") && !page.contains(" style="));
    }

    #[test]
    fn none_unavailable_and_long_errors() {
        assert!(section(&sinks(vec![])).contains("No sinks"));
        let e = activity_core::Error::Unsupported { what: "<sinks>" };
        let html = section(&Sinks::unavailable(&e));
        assert!(html.contains("Unavailable: this store does not support &lt;sinks&gt;."));
        let long = "é".repeat(MAX_ERROR_SHOWN);
        let html = section(&sinks(vec![row("a", SinkStatus::Stopped, 0, Some(&long))]));
        assert!(html.contains("é…</td>"));
        assert!(html.contains("<td>stopped</td>"));
    }
}
