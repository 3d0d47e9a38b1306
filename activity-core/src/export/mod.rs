//! Export: CSV (spreadsheet-safe) and JSON Lines, streamed page by page.
//!
//! Memory stays flat whatever the row count: at most two pages ([`MAX_PAGE_SIZE`](crate::query::MAX_PAGE_SIZE)
//! events each) are held, the one being written and the next being read
//! ([`Pages`](crate::query::Pages)).
//!
//! CSV columns, always in this order: `id, time, tenant, action, category, outcome,
//! reason, actor_id, actor_name, actor_type, target_type, target_id, target_name, ip,
//! user_agent, device_id, country, city, session, request_id, details` — times in RFC 3339
//! UTC, `details` as compact JSON text.
//!
//! **Spreadsheet safety** (OWASP, CSV injection): a cell that begins with `=`, `+`, `-`,
//! `@`, a tab, a carriage return, a line feed or NUL is prefixed with a single quote `'`
//! so that no spreadsheet evaluates it as a formula; every cell holding a separator, a
//! quote or a line break is quoted as RFC 4180 says (the `csv` crate does that). Reading
//! the file back gives the original values, apart from that prefix.

use std::io::Write;

mod ocsf;
pub use ocsf::ocsf_event;

use crate::error::{Error, Result};
use crate::event::payload::{Exported, Payload};
use crate::event::ActivityEvent;
use crate::query::ActivityQuery;
use crate::store::ActivityStore;

/// The CSV header row.
pub const CSV_COLUMNS: [&str; 21] = [
    "id",
    "time",
    "tenant",
    "action",
    "category",
    "outcome",
    "reason",
    "actor_id",
    "actor_name",
    "actor_type",
    "target_type",
    "target_id",
    "target_name",
    "ip",
    "user_agent",
    "device_id",
    "country",
    "city",
    "session",
    "request_id",
    "details",
];

/// Export formats.
///
/// ```
/// use activity_core::{ActivityEvent, Actor, export::ExportFormat, export::ExportWriter};
/// let csv = ExportWriter::new(Vec::new(), ExportFormat::Csv).unwrap().finish().unwrap();
/// assert!(String::from_utf8(csv).unwrap().starts_with("id,time,tenant,action,"));
/// let mut w = ExportWriter::new(Vec::new(), ExportFormat::JsonLines).unwrap();
/// w.write(&[ActivityEvent::logout(Actor::user("u_1"))]).unwrap();
/// let line = String::from_utf8(w.finish().unwrap()).unwrap();
/// assert_eq!(ActivityEvent::from_json(line.trim_end()).unwrap().action.as_str(), "auth.logout");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// CSV with [`CSV_COLUMNS`], spreadsheet-safe.
    Csv,
    /// JSON Lines, one schema-v1 event per line.
    JsonLines,
    /// JSON Lines in OCSF 1.1.0 (see [`ocsf_event`] for the mapping).
    Ocsf,
}

/// Neutralises a cell a spreadsheet would treat as a formula (OWASP CSV injection).
///
/// ```
/// use activity_core::export::spreadsheet_safe;
/// assert_eq!(spreadsheet_safe("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
/// assert_eq!(spreadsheet_safe("-1"), "'-1");
/// assert_eq!(spreadsheet_safe("alice"), "alice");
/// ```
pub fn spreadsheet_safe(cell: &str) -> std::borrow::Cow<'_, str> {
    match cell.as_bytes().first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r' | b'\n' | b'\0') => {
            format!("'{cell}").into()
        }
        _ => cell.into(),
    }
}

/// Writes one event as a CSV record, each cell made spreadsheet-safe. Borrows what it
/// can from the event; `details` is written into the reused `scratch`.
fn write_csv_record<W: Write>(
    w: &mut csv::Writer<W>,
    e: &ActivityEvent,
    scratch: &mut Vec<u8>,
) -> csv::Result<()> {
    let actor = e.actor.as_ref();
    let target = e.target.as_ref();
    let source = e.source.as_ref();
    let geo = source.and_then(|s| s.geo.as_ref());
    let mut id = [0u8; uuid::fmt::Hyphenated::LENGTH];
    let time = crate::event::format_time(&e.time);
    let ip = source.and_then(|s| s.ip).map(|ip| ip.to_string());
    scratch.clear();
    if let Some(d) = &e.details {
        serde_json::to_writer(&mut *scratch, d).map_err(std::io::Error::from)?;
    }
    let cells: [&str; 21] = [
        e.id.hyphenated().encode_lower(&mut id),
        &time,
        e.tenant.as_deref().unwrap_or(""),
        e.action.as_str(),
        e.action.category(),
        e.outcome.as_str(),
        e.reason.as_deref().unwrap_or(""),
        actor.map_or("", |a| a.id.as_str()),
        actor.and_then(|a| a.name.as_deref()).unwrap_or(""),
        actor.and_then(|a| a.kind.as_deref()).unwrap_or(""),
        target.map_or("", |t| t.kind.as_str()),
        target.and_then(|t| t.id.as_deref()).unwrap_or(""),
        target.and_then(|t| t.name.as_deref()).unwrap_or(""),
        ip.as_deref().unwrap_or(""),
        source.and_then(|s| s.user_agent.as_deref()).unwrap_or(""),
        source.and_then(|s| s.device_id.as_deref()).unwrap_or(""),
        geo.and_then(|g| g.country.as_deref()).unwrap_or(""),
        geo.and_then(|g| g.city.as_deref()).unwrap_or(""),
        e.session.as_deref().unwrap_or(""),
        e.request_id.as_deref().unwrap_or(""),
        // serde_json writes UTF-8.
        std::str::from_utf8(scratch).unwrap_or(""),
    ];
    for cell in cells {
        w.write_field(spreadsheet_safe(cell).as_bytes())?;
    }
    w.write_record(None::<&[u8]>)
}

/// Writes events in one format, a batch at a time.
///
/// ```
/// use activity_core::{ActivityEvent, Actor, export::ExportFormat, export::ExportWriter};
/// let mut w = ExportWriter::new(Vec::new(), ExportFormat::Csv).unwrap();
/// w.write(&[ActivityEvent::login_failed(Actor::user("=1+1"))]).unwrap(); // a page
/// w.write(&[ActivityEvent::logout(Actor::user("bob"))]).unwrap(); // the next one
/// assert_eq!(w.rows(), 2);
/// let text = String::from_utf8(w.finish().unwrap()).unwrap();
/// assert_eq!(text.lines().count(), 3, "header and two rows");
/// assert!(text.contains(",'=1+1,"), "spreadsheet-safe");
/// ```
pub struct ExportWriter<W: Write> {
    format: ExportFormat,
    csv: Option<csv::Writer<W>>,
    raw: Option<W>,
    rows: u64,
    /// Reused for each row's `details` JSON.
    scratch: Vec<u8>,
}

impl<W: Write> std::fmt::Debug for ExportWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExportWriter")
            .field("format", &self.format)
            .field("rows", &self.rows)
            .finish()
    }
}

fn io(e: std::io::Error) -> Error {
    Error::backend(format!("export write failed: {e}"), Some(Box::new(e)))
}

impl<W: Write> ExportWriter<W> {
    /// A writer; CSV output starts with the header row.
    ///
    /// # Errors
    /// Writing the header failed.
    pub fn new(out: W, format: ExportFormat) -> Result<Self> {
        match format {
            ExportFormat::Csv => {
                let mut w = csv::WriterBuilder::new().from_writer(out);
                w.write_record(CSV_COLUMNS).map_err(csv_err)?;
                Ok(Self {
                    format,
                    csv: Some(w),
                    raw: None,
                    rows: 0,
                    scratch: Vec::new(),
                })
            }
            ExportFormat::JsonLines | ExportFormat::Ocsf => Ok(Self {
                format,
                csv: None,
                raw: Some(out),
                rows: 0,
                scratch: Vec::new(),
            }),
        }
    }

    /// Writes `events`.
    ///
    /// # Errors
    /// Writing failed.
    pub fn write(&mut self, events: &[ActivityEvent]) -> Result<()> {
        if let Some(w) = &mut self.csv {
            for e in events {
                write_csv_record(w, e, &mut self.scratch).map_err(csv_err)?;
            }
        }
        if let Some(w) = &mut self.raw {
            for e in events {
                if self.format == ExportFormat::Ocsf {
                    serde_json::to_writer(&mut *w, &ocsf_event(e)).map_err(Error::Json)?;
                } else {
                    serde_json::to_writer(&mut *w, e).map_err(Error::Json)?;
                }
                w.write_all(b"\n").map_err(io)?;
            }
        }
        self.rows += events.len() as u64;
        Ok(())
    }

    /// Pushes everything written so far into the output (for streaming a page at a
    /// time).
    ///
    /// # Errors
    /// Writing failed.
    pub fn flush(&mut self) -> Result<()> {
        if let Some(w) = &mut self.csv {
            w.flush().map_err(io)?;
        }
        if let Some(w) = &mut self.raw {
            w.flush().map_err(io)?;
        }
        Ok(())
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Flushes and returns the output.
    ///
    /// # Errors
    /// Flushing failed.
    pub fn finish(self) -> Result<W> {
        match (self.csv, self.raw) {
            (Some(w), _) => w.into_inner().map_err(|e| io(e.into_error())),
            (_, Some(mut w)) => {
                w.flush().map_err(io)?;
                Ok(w)
            }
            _ => Err(Error::backend("export writer has no output", None)),
        }
    }
}

fn csv_err(e: csv::Error) -> Error {
    Error::backend(format!("CSV write failed: {e}"), Some(Box::new(e)))
}

/// Exports every event matching `query` (newest first, its cursor and limit ignored) to
/// `out`, a page at a time; returns the number of rows.
///
/// ```
/// use activity_core::{export::export, ActivityEvent, ActivityQuery, ActivityStore, Actor, export::ExportFormat, MemoryStore};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = MemoryStore::new();
/// store.append(&[ActivityEvent::login_failed(Actor::user("=cmd|'/C calc'!A0"))]).await.unwrap();
/// let mut out = Vec::new();
/// let rows = export(&store, &ActivityQuery::new(), ExportFormat::Csv, &mut out).await.unwrap();
/// assert_eq!(rows, 1);
/// assert!(String::from_utf8(out).unwrap().contains("'=cmd"));
/// # });
/// ```
///
/// # Errors
/// The store's errors, or writing failed.
pub async fn export<W: Write>(
    store: &dyn ActivityStore,
    query: &ActivityQuery,
    format: ExportFormat,
    out: W,
) -> Result<u64> {
    let mut w = ExportWriter::new(out, format)?;
    let mut pages = crate::query::Pages::new(store, query.clone());
    while let Some(events) = pages.next().await? {
        w.write(&events)?;
    }
    let rows = w.rows();
    w.finish()?;
    Ok(rows)
}

/// The `audit.exported` event for an export: who, which filter, how many rows, format.
pub fn export_event(
    by: crate::Actor,
    query: &ActivityQuery,
    format: ExportFormat,
    rows: u64,
) -> ActivityEvent {
    exported_event(by, query, exported(query, format, rows))
}

/// The `audit.exported` payload of an export of `rows` rows of `query` in `format`; add
/// what the caller knows besides (an archive directory, a viewer's scope) and record it
/// with [`exported_event`].
///
/// ```
/// use activity_core::event::payload::{Exported, Payload};
/// use activity_core::export::{exported, exported_event, ExportFormat};
/// use activity_core::{ActivityQuery, Actor};
/// let q = ActivityQuery::new();
/// let payload = Exported { archive: Some("/a/2026-11".into()), ..exported(&q, ExportFormat::Csv, 7) };
/// let p = Exported::read(&exported_event(Actor::system(), &q, payload)).unwrap();
/// assert_eq!((p.format.as_str(), p.rows, p.archive.as_deref()), ("csv", 7, Some("/a/2026-11")));
/// ```
pub fn exported(query: &ActivityQuery, format: ExportFormat, rows: u64) -> Exported {
    Exported {
        format: match format {
            ExportFormat::Csv => "csv",
            ExportFormat::JsonLines => "jsonl",
            ExportFormat::Ocsf => "ocsf",
        }
        .to_owned(),
        rows,
        filter: serde_json::to_value(query).unwrap_or_default(),
        archive: None,
        scope: None,
        complete: None,
    }
}

/// The `audit.exported` event by `by` carrying `payload`, in `query`'s tenant.
pub fn exported_event(by: crate::Actor, query: &ActivityQuery, payload: Exported) -> ActivityEvent {
    let mut e = payload.write(ActivityEvent::audit_exported(by));
    if let Some(t) = &query.tenant {
        e = e.with_tenant(t.clone());
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Actor, MemoryStore, Source, Target};

    #[tokio::test]
    async fn hostile_cells_are_neutralised_and_parse_back() {
        let store = MemoryStore::new();
        let hostile = [
            "=1+1",
            "+SUM(A1)",
            "-2",
            "@cmd",
            "\tx",
            "\rx",
            "\nx",
            "plain",
            "a,b",
            "say \"hi\"",
            "line\nbreak",
        ];
        let events: Vec<_> = hostile
            .iter()
            .enumerate()
            .map(|(i, h)| {
                ActivityEvent::login_failed(Actor::user(format!("u{i}")).with_name(*h))
                    .with_reason(*h)
                    .with_target(Target::new("user").with_name(*h))
                    .with_source(Source::default().with_user_agent(*h))
                    .with_time(chrono::Utc::now() - chrono::Duration::seconds(i as i64))
            })
            .collect();
        store.append(&events).await.unwrap();
        let mut out = Vec::new();
        let rows = export(&store, &ActivityQuery::new(), ExportFormat::Csv, &mut out)
            .await
            .unwrap();
        assert_eq!(rows, hostile.len() as u64);
        let mut r = csv::Reader::from_reader(&out[..]);
        assert_eq!(
            r.headers().unwrap().iter().collect::<Vec<_>>(),
            CSV_COLUMNS.to_vec()
        );
        let name_col = CSV_COLUMNS.iter().position(|c| *c == "actor_name").unwrap();
        let ua_col = CSV_COLUMNS.iter().position(|c| *c == "user_agent").unwrap();
        for (rec, h) in r.records().map(Result::unwrap).zip(hostile.iter()) {
            for col in [name_col, ua_col] {
                let cell = &rec[col];
                let dangerous = matches!(
                    h.as_bytes()[0],
                    b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r' | b'\n'
                );
                if dangerous {
                    assert_eq!(cell, format!("'{h}"), "neutralised");
                } else {
                    assert_eq!(cell, *h, "unchanged");
                }
            }
        }
    }

    #[tokio::test]
    async fn json_lines_round_trip() {
        let store = MemoryStore::new();
        let e = ActivityEvent::logout(Actor::user("u")).with_detail("k", "v");
        store.append(std::slice::from_ref(&e)).await.unwrap();
        let mut out = Vec::new();
        export(
            &store,
            &ActivityQuery::new(),
            ExportFormat::JsonLines,
            &mut out,
        )
        .await
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(ActivityEvent::from_json(text.trim_end()).unwrap(), e);
    }

    #[tokio::test]
    async fn export_event_describes_the_export() {
        let q = ActivityQuery::tenant_log("acme").action("auth");
        let e = export_event(Actor::user("admin"), &q, ExportFormat::Csv, 42);
        let d = e.details.unwrap();
        assert_eq!(d["rows"], 42);
        assert_eq!(d["filter"]["actions"][0], "auth");
        assert_eq!(e.tenant.as_deref(), Some("acme"));
    }
}
