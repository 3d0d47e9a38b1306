//! What the listing commands share: a query from the filter arguments, every page of
//! it, and the events written as a table, JSON Lines or CSV.

use std::io::Write;

use activity_core::{export::ExportFormat, ActivityEvent, ActivityQuery, ActivityStore, Outcome};
use chrono::Utc;

use super::args::{ExportFormat as ArgFormat, Filters, ListFormat};
use super::time::parse_when;
use super::Failure;
use activity_core::text::EventTable;

/// The query of the filter arguments, `limit` events a page.
pub(crate) fn query_of(f: &Filters, limit: usize) -> Result<ActivityQuery, Failure> {
    let now = Utc::now();
    let mut q = ActivityQuery::new();
    q.tenant = f.tenant.clone();
    q.actor = f.user.clone();
    q.actions = f.action.clone();
    if let Some(o) = &f.outcome {
        q.outcome = Some(Outcome::parse(o).ok_or_else(|| {
            Failure::usage(format!(
                "--outcome: expected success, failure or unknown; got {o:?}"
            ))
        })?);
    }
    if let Some(ip) = &f.ip {
        q.ip = Some(
            ip.parse()
                .map_err(|_| Failure::usage(format!("--ip: not an IP address: {ip:?}")))?,
        );
    }
    if let Some(s) = &f.since {
        q.since = Some(parse_when("since", s, now).map_err(Failure::usage)?);
    }
    if let Some(u) = &f.until {
        q.until = Some(parse_when("until", u, now).map_err(Failure::usage)?);
    }
    q.limit = limit;
    q.validate().map_err(|e| Failure::usage(e.to_string()))?;
    Ok(q)
}

/// Every event of `q` up to `limit` (0: all), newest first.
pub(crate) async fn collect(
    store: &dyn ActivityStore,
    q: ActivityQuery,
    limit: usize,
) -> Result<Vec<ActivityEvent>, Failure> {
    let mut out = Vec::new();
    let mut pages = activity_core::query::Pages::new(store, q);
    while let Some(events) = pages.next().await? {
        out.extend(events);
        if limit > 0 && out.len() >= limit {
            out.truncate(limit);
            break;
        }
    }
    Ok(out)
}

/// `events` on standard output in `format`.
pub(crate) fn write_events(events: &[ActivityEvent], format: ListFormat) -> Result<(), Failure> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match format {
        ListFormat::Table => write!(out, "{}", EventTable::new(events))?,
        ListFormat::Json => {
            for e in events {
                serde_json::to_writer(&mut out, e)?;
                out.write_all(b"\n")?;
            }
        }
        ListFormat::Csv => {
            let mut w = activity_core::export::ExportWriter::new(&mut out, ExportFormat::Csv)?;
            w.write(events)?;
            w.finish()?;
        }
    }
    out.flush()?;
    Ok(())
}

/// The library's export format of the argument.
pub(crate) fn export_format(f: ArgFormat) -> ExportFormat {
    match f {
        ArgFormat::Csv => ExportFormat::Csv,
        ArgFormat::Jsonl => ExportFormat::JsonLines,
        ArgFormat::Ocsf => ExportFormat::Ocsf,
    }
}
