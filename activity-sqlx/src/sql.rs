//! SQL shared by every backend: the columns, how an event becomes bind values and back,
//! and the SELECT/COUNT/DELETE statements for a query. Each backend supplies its
//! placeholder style and a few fragments ([`Dialect`]); values are always bound, never
//! spliced, and the only identifiers spliced in are the validated table names.

use std::fmt::Write;

use activity_core::{
    query::action_prefix_range, query::DeleteRequest, Action, ActivityEvent, ActivityQuery, Actor,
    ChainLink, Geo, Outcome, Source, Target,
};
use chrono::{TimeZone, Utc};
use sqlx::{ColumnIndex, Decode, Row, Type};
use uuid::Uuid;

use crate::error::{to_core_from, Backend};

/// The event columns, in insert and select order.
pub(crate) const COLUMNS: &[&str] = &[
    "id",
    "time_us",
    "tenant",
    "action",
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
    "geo_country",
    "geo_city",
    "geo_lat",
    "geo_lon",
    "geo_accuracy_km",
    "session",
    "request_id",
    "details",
    "chain_writer",
    "chain_seq",
    "chain_prev",
    "chain_hash",
];

/// Rows per INSERT statement: 27 columns × 1000 rows stays under every backend's
/// bind-variable limit (SQLite's is the lowest, 32,766).
#[cfg_attr(not(any(feature = "sqlite", feature = "mysql")), allow(dead_code))]
pub(crate) const ROWS_PER_INSERT: usize = 1000;

/// The index of `details` in [`COLUMNS`] (bound as JSON where the backend needs a cast).
pub(crate) const DETAILS_COLUMN: usize = 22;

/// One bind value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Val {
    Int(Option<i64>),
    Real(Option<f64>),
    Text(Option<String>),
    Bytes(Vec<u8>),
}

/// How a backend writes what differs between SQL dialects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(
    not(all(feature = "sqlite", feature = "postgres", feature = "mysql")),
    allow(dead_code)
)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
    Mysql,
}

/// `tenant = ?`, or `tenant IS NULL` for the events without a tenant: both served by the
/// tenant indexes, which a NULL-safe comparison is not on PostgreSQL.
fn push_tenant_exact(s: &mut Stmt, tenant: &Option<String>) {
    match tenant {
        Some(t) => {
            s.push(" WHERE tenant = ").bind(Val::Text(Some(t.clone())));
        }
        None => {
            s.push(" WHERE tenant IS NULL");
        }
    }
}

/// SQL text with placeholders for its bind values.
#[derive(Debug, Default)]
pub(crate) struct Stmt {
    pub sql: String,
    pub binds: Vec<Val>,
    dialect: Option<Dialect>,
}

impl Stmt {
    pub fn new(dialect: Dialect) -> Self {
        Self {
            sql: String::with_capacity(256),
            binds: Vec::new(),
            dialect: Some(dialect),
        }
    }

    pub fn push(&mut self, sql: &str) -> &mut Self {
        self.sql.push_str(sql);
        self
    }

    /// Appends `LIMIT n` with the number written out, not bound: SQLite (3.51) marks a
    /// statement whose LIMIT is a parameter to be prepared again every time the parameter
    /// is bound, which cost a short read about as much as the rest of it together. The
    /// number is a `usize` of ours, so writing it is safe; each distinct limit is its own
    /// cached statement.
    pub fn limit(&mut self, n: usize) -> &mut Self {
        let _ = write!(self.sql, " LIMIT {}", n.min(i64::MAX as usize));
        self
    }

    /// Appends a placeholder for `v`.
    pub fn bind(&mut self, v: Val) -> &mut Self {
        self.binds.push(v);
        match self.dialect {
            Some(Dialect::Postgres) => {
                let _ = write!(self.sql, "${}", self.binds.len());
            }
            _ => self.sql.push('?'),
        }
        self
    }

    /// Appends a placeholder for a JSON value (a cast on PostgreSQL).
    #[cfg_attr(not(any(feature = "sqlite", feature = "mysql")), allow(dead_code))]
    pub fn bind_json(&mut self, v: Val) -> &mut Self {
        if self.dialect == Some(Dialect::Postgres) {
            self.sql.push_str("CAST(");
            self.bind(v);
            self.sql.push_str(" AS jsonb)");
            self
        } else {
            self.bind(v)
        }
    }
}

fn text(s: &Option<String>) -> Val {
    Val::Text(s.clone())
}

/// The bind values of one event, in [`COLUMNS`] order.
pub(crate) fn event_values(e: &ActivityEvent) -> [Val; 27] {
    let actor = e.actor.as_ref();
    let target = e.target.as_ref();
    let source = e.source.as_ref();
    let geo = source.and_then(|s| s.geo.as_ref());
    let chain = e.chain.as_ref();
    [
        Val::Bytes(e.id.as_bytes().to_vec()),
        Val::Int(Some(e.time.timestamp_micros())),
        text(&e.tenant),
        Val::Text(Some(e.action.to_string())),
        Val::Text(Some(e.outcome.as_str().to_owned())),
        text(&e.reason),
        Val::Text(actor.map(|a| a.id.clone())),
        Val::Text(actor.and_then(|a| a.name.clone())),
        Val::Text(actor.and_then(|a| a.kind.clone())),
        Val::Text(target.map(|t| t.kind.clone())),
        Val::Text(target.and_then(|t| t.id.clone())),
        Val::Text(target.and_then(|t| t.name.clone())),
        Val::Text(
            source
                .and_then(|s| s.ip)
                .map(|ip| ip.to_canonical().to_string()),
        ),
        Val::Text(source.and_then(|s| s.user_agent.clone())),
        Val::Text(source.and_then(|s| s.device_id.clone())),
        Val::Text(geo.and_then(|g| g.country.clone())),
        Val::Text(geo.and_then(|g| g.city.clone())),
        Val::Real(geo.and_then(|g| g.lat)),
        Val::Real(geo.and_then(|g| g.lon)),
        Val::Int(geo.and_then(|g| g.accuracy_km).map(i64::from)),
        text(&e.session),
        text(&e.request_id),
        Val::Text(
            e.details
                .as_ref()
                .map(|d| serde_json::Value::Object(d.clone()).to_string()),
        ),
        Val::Text(chain.map(|c| c.writer.clone())),
        Val::Int(chain.map(|c| c.seq as i64)),
        Val::Text(chain.map(|c| c.prev.clone())),
        Val::Text(chain.map(|c| c.hash.clone())),
    ]
}

/// A row as the backend decoded it, in [`COLUMNS`] order.
#[derive(Debug, Default)]
pub(crate) struct RawRow {
    pub id: Vec<u8>,
    pub time_us: i64,
    pub texts: [Option<String>; 20],
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub accuracy_km: Option<i64>,
    pub chain_seq: Option<i64>,
}

/// Which [`COLUMNS`] are text, in order: the indexes into [`RawRow::texts`].
pub(crate) const TEXT_COLUMNS: [usize; 20] = [
    2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 20, 21, 22, 23, 25,
];

/// `chain_hash` is the one text column after `chain_seq` (index 26); kept apart so the
/// text array stays in column order up to 25.
pub(crate) const CHAIN_HASH_COLUMN: usize = 26;

fn bad(what: &str) -> activity_core::Error {
    activity_core::Error::backend(format!("stored row has an invalid {what}"), None)
}

/// Rebuilds the event from a decoded row.
pub(crate) fn event_from_row(
    r: RawRow,
    chain_hash: Option<String>,
) -> activity_core::Result<ActivityEvent> {
    let [tenant, action, outcome, reason, actor_id, actor_name, actor_type, target_type, target_id, target_name, ip, user_agent, device_id, country, city, session, request_id, details, chain_writer, chain_prev] =
        r.texts;
    let id = Uuid::from_slice(&r.id).map_err(|_| bad("id"))?;
    let time = Utc
        .timestamp_micros(r.time_us)
        .single()
        .ok_or_else(|| bad("time"))?;
    let action = Action::new(action.ok_or_else(|| bad("action"))?).map_err(|_| bad("action"))?;
    let outcome = outcome
        .as_deref()
        .and_then(Outcome::parse)
        .ok_or_else(|| bad("outcome"))?;
    let actor = actor_id.map(|id| Actor {
        id,
        name: actor_name,
        kind: actor_type,
    });
    let target = target_type.map(|kind| Target {
        kind,
        id: target_id,
        name: target_name,
    });
    let geo = if country.is_some()
        || city.is_some()
        || r.lat.is_some()
        || r.lon.is_some()
        || r.accuracy_km.is_some()
    {
        Some(Geo {
            country,
            city,
            lat: r.lat,
            lon: r.lon,
            accuracy_km: r.accuracy_km.and_then(|a| u32::try_from(a).ok()),
        })
    } else {
        None
    };
    let ip = match ip {
        Some(s) => Some(s.parse().map_err(|_| bad("ip"))?),
        None => None,
    };
    let source = Source {
        ip,
        user_agent,
        device_id,
        geo,
    };
    let details = match details {
        Some(d) => {
            match serde_json::from_str::<serde_json::Value>(&d).map_err(|_| bad("details"))? {
                serde_json::Value::Object(m) => Some(m),
                _ => return Err(bad("details")),
            }
        }
        None => None,
    };
    let chain = match (chain_writer, r.chain_seq, chain_prev, chain_hash) {
        (Some(writer), Some(seq), Some(prev), Some(hash)) => Some(ChainLink {
            writer,
            seq: u64::try_from(seq).map_err(|_| bad("chain seq"))?,
            prev,
            hash,
        }),
        _ => None,
    };
    Ok(ActivityEvent {
        id,
        time,
        tenant,
        action,
        outcome,
        reason,
        actor,
        target,
        source: if source.is_empty() {
            None
        } else {
            Some(source)
        },
        session,
        request_id,
        details,
        chain,
    })
}

/// Appends ` AND …` for every filter of `q` (the cursor included when `with_cursor`).
pub(crate) fn push_filters(s: &mut Stmt, q: &ActivityQuery, with_cursor: bool) {
    if let Some(t) = &q.tenant {
        s.push(" AND tenant = ").bind(Val::Text(Some(t.clone())));
    }
    if let Some(a) = &q.actor {
        s.push(" AND actor_id = ").bind(Val::Text(Some(a.clone())));
    }
    if !q.actions.is_empty() {
        s.push(" AND (");
        for (i, a) in q.actions.iter().enumerate() {
            if i > 0 {
                s.push(" OR ");
            }
            let (lo, hi) = action_prefix_range(a);
            s.push("action = ").bind(Val::Text(Some(a.clone())));
            s.push(" OR (action >= ").bind(Val::Text(Some(lo)));
            s.push(" AND action < ").bind(Val::Text(Some(hi))).push(")");
        }
        s.push(")");
    }
    if let Some(o) = q.outcome {
        s.push(" AND outcome = ")
            .bind(Val::Text(Some(o.as_str().to_owned())));
    }
    if let Some(ip) = q.ip {
        s.push(" AND ip = ")
            .bind(Val::Text(Some(ip.to_canonical().to_string())));
    }
    if let Some(t) = q.since {
        s.push(" AND time_us >= ")
            .bind(Val::Int(Some(t.timestamp_micros())));
    }
    if let Some(t) = q.until {
        s.push(" AND time_us < ")
            .bind(Val::Int(Some(t.timestamp_micros())));
    }
    if let Some(v) = &q.session {
        s.push(" AND session = ").bind(Val::Text(Some(v.clone())));
    }
    if let Some(v) = &q.device_id {
        s.push(" AND device_id = ").bind(Val::Text(Some(v.clone())));
    }
    if let Some(v) = &q.request_id {
        s.push(" AND request_id = ")
            .bind(Val::Text(Some(v.clone())));
    }
    if !q.ids.is_empty() {
        s.push(" AND id IN (");
        for (i, id) in q.ids.iter().enumerate() {
            if i > 0 {
                s.push(", ");
            }
            s.bind(Val::Bytes(id.as_bytes().to_vec()));
        }
        s.push(")");
    }
    if with_cursor {
        if let Some(c) = q.after {
            let t = c.time_micros();
            // `time_us <= t` first, so that an index on time serves it as a range.
            s.push(" AND time_us <= ").bind(Val::Int(Some(t)));
            s.push(" AND (time_us < ").bind(Val::Int(Some(t)));
            s.push(" OR id < ")
                .bind(Val::Bytes(c.id.as_bytes().to_vec()))
                .push(")");
        }
    }
}

/// The select list: [`COLUMNS`], with `details` as text on PostgreSQL (jsonb).
pub(crate) fn select_list(dialect: Dialect) -> String {
    match dialect {
        Dialect::Postgres => COLUMNS
            .iter()
            .map(|c| {
                if *c == "details" {
                    "details::text AS details"
                } else {
                    c
                }
            })
            .collect::<Vec<_>>()
            .join(", "),
        Dialect::Sqlite | Dialect::Mysql => COLUMNS.join(", "),
    }
}

/// `SELECT … WHERE … ORDER BY time_us DESC, id DESC LIMIT page_size + 1`.
pub(crate) fn select(dialect: Dialect, table: &str, q: &ActivityQuery) -> Stmt {
    let mut s = Stmt::new(dialect);
    s.push("SELECT ");
    s.push(&select_list(dialect));
    s.push(" FROM ").push(table).push(" WHERE 1=1");
    push_filters(&mut s, q, true);
    s.push(" ORDER BY time_us DESC, id DESC")
        .limit(q.page_size() + 1);
    s
}

/// `SELECT COUNT(*) … WHERE …`.
pub(crate) fn count(dialect: Dialect, table: &str, q: &ActivityQuery) -> Stmt {
    let mut s = Stmt::new(dialect);
    s.push("SELECT COUNT(*) FROM ")
        .push(table)
        .push(" WHERE 1=1");
    push_filters(&mut s, q, false);
    s
}

/// The ids of the oldest events a [`DeleteRequest`] covers, up to its limit.
pub(crate) fn doomed_ids(dialect: Dialect, table: &str, r: &DeleteRequest) -> Stmt {
    let mut s = Stmt::new(dialect);
    s.push("SELECT id FROM ").push(table);
    push_tenant_exact(&mut s, &r.tenant);
    s.push(" AND time_us < ")
        .bind(Val::Int(Some(r.before.timestamp_micros())));
    s.push(" ORDER BY time_us, id").limit(r.limit);
    s
}

/// The DELETE of the oldest events a [`DeleteRequest`] covers, up to its limit.
pub(crate) fn delete(dialect: Dialect, table: &str, r: &DeleteRequest) -> Stmt {
    match dialect {
        Dialect::Mysql => {
            // MySQL cannot select from the table it deletes from; it can order and limit
            // a single-table DELETE instead.
            let mut s = Stmt::new(dialect);
            s.push("DELETE FROM ").push(table);
            push_tenant_exact(&mut s, &r.tenant);
            s.push(" AND time_us < ")
                .bind(Val::Int(Some(r.before.timestamp_micros())));
            s.push(" ORDER BY time_us, id").limit(r.limit);
            s
        }
        Dialect::Sqlite | Dialect::Postgres => {
            let inner = doomed_ids(dialect, table, r);
            let mut s = Stmt::new(dialect);
            s.sql = format!("DELETE FROM {table} WHERE id IN ({})", inner.sql);
            s.binds = inner.binds;
            s
        }
    }
}

/// Decodes a row of [`COLUMNS`] from any backend (SQLite reads JSON instead).
#[cfg_attr(not(any(feature = "postgres", feature = "mysql")), allow(dead_code))]
pub(crate) fn decode_row<R>(row: &R, backend: Backend) -> activity_core::Result<ActivityEvent>
where
    R: Row,
    usize: ColumnIndex<R>,
    for<'r> Vec<u8>: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> Option<i64>: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> Option<f64>: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> Option<String>: Decode<'r, R::Database> + Type<R::Database>,
{
    let err = |e: sqlx::Error| to_core_from(backend, e);
    let mut raw = RawRow {
        id: row.try_get(0).map_err(err)?,
        time_us: row.try_get(1).map_err(err)?,
        lat: row.try_get(17).map_err(err)?,
        lon: row.try_get(18).map_err(err)?,
        accuracy_km: row.try_get(19).map_err(err)?,
        chain_seq: row.try_get(24).map_err(err)?,
        ..RawRow::default()
    };
    for (slot, col) in TEXT_COLUMNS.iter().enumerate() {
        raw.texts[slot] = row.try_get(*col).map_err(err)?;
    }
    let hash: Option<String> = row.try_get(CHAIN_HASH_COLUMN).map_err(err)?;
    event_from_row(raw, hash)
}

/// The multi-row INSERT of `events`, skipping ids already stored.
#[cfg_attr(not(any(feature = "sqlite", feature = "mysql")), allow(dead_code))]
pub(crate) fn insert(dialect: Dialect, table: &str, events: &[ActivityEvent]) -> Stmt {
    let mut s = Stmt::new(dialect);
    s.binds.reserve(events.len() * COLUMNS.len());
    // MySQL: `INSERT IGNORE`, because `ON DUPLICATE KEY UPDATE` counts duplicates as
    // affected under the found-rows flag sqlx sets. IGNORE also turns other errors into
    // warnings, which cannot arise here: every value was validated against caps smaller
    // than its column, and the NOT NULL columns are always set.
    match dialect {
        Dialect::Sqlite => s.push("INSERT OR IGNORE INTO "),
        Dialect::Mysql => s.push("INSERT IGNORE INTO "),
        Dialect::Postgres => s.push("INSERT INTO "),
    };
    s.push(table)
        .push(" (")
        .push(&COLUMNS.join(", "))
        .push(") VALUES ");
    for (i, e) in events.iter().enumerate() {
        if i > 0 {
            s.push(", ");
        }
        s.push("(");
        for (c, v) in event_values(e).into_iter().enumerate() {
            if c > 0 {
                s.push(", ");
            }
            if c == DETAILS_COLUMN {
                s.bind_json(v);
            } else {
                s.bind(v);
            }
        }
        s.push(")");
    }
    match dialect {
        Dialect::Sqlite => {}
        Dialect::Postgres => {
            s.push(" ON CONFLICT DO NOTHING");
        }
        Dialect::Mysql => {}
    }
    s
}

/// Heads per upsert statement: 7 values each.
pub(crate) const HEADS_PER_UPSERT: usize = 200;

/// The key column of a head's tenant: `-` for no tenant, `t:<tenant>` otherwise (so that
/// it can be part of the primary key, which a NULL cannot).
pub(crate) fn tenant_key(tenant: Option<&str>) -> String {
    match tenant {
        Some(t) => format!("t:{t}"),
        None => "-".to_owned(),
    }
}

/// The heads to write: one per chain (the furthest along when `heads` repeats one), so
/// that one statement never touches a row twice.
pub(crate) fn dedup_heads(
    heads: &[activity_core::chain::ChainHead],
) -> Vec<&activity_core::chain::ChainHead> {
    let mut by: std::collections::BTreeMap<(Option<&str>, &str), &activity_core::chain::ChainHead> =
        Default::default();
    for h in heads {
        let slot = by
            .entry((h.tenant.as_deref(), h.writer.as_str()))
            .or_insert(h);
        if h.seq > slot.seq {
            *slot = h;
        }
    }
    by.into_values().collect()
}

/// The upsert of chain heads into `table`: a stored head moves only forward.
pub(crate) fn upsert_heads(
    dialect: Dialect,
    table: &str,
    heads: &[&activity_core::chain::ChainHead],
) -> Stmt {
    let mut s = Stmt::new(dialect);
    s.push("INSERT INTO ")
        .push(table)
        .push(" (writer, tenant_key, tenant, seq, last_hash, last_time_us, mac) VALUES ");
    for (i, h) in heads.iter().enumerate() {
        if i > 0 {
            s.push(", ");
        }
        s.push("(");
        s.bind(Val::Text(Some(h.writer.clone())));
        s.push(", ");
        s.bind(Val::Text(Some(tenant_key(h.tenant.as_deref()))));
        s.push(", ");
        s.bind(Val::Text(h.tenant.clone()));
        s.push(", ");
        s.bind(Val::Int(Some(i64::try_from(h.seq).unwrap_or(i64::MAX))));
        s.push(", ");
        s.bind(Val::Text(Some(h.last_hash.clone())));
        s.push(", ");
        s.bind(Val::Int(Some(h.last_time.timestamp_micros())));
        s.push(", ");
        s.bind(Val::Text(Some(h.mac.clone())));
        s.push(")");
    }
    match dialect {
        Dialect::Sqlite | Dialect::Postgres => {
            s.push(" ON CONFLICT (writer, tenant_key) DO UPDATE SET seq = excluded.seq, last_hash = excluded.last_hash, last_time_us = excluded.last_time_us, mac = excluded.mac WHERE ")
                .push(table)
                .push(".seq < excluded.seq");
        }
        Dialect::Mysql => {
            // Assignments run left to right and see earlier ones: `seq` goes last.
            s.push(
                " ON DUPLICATE KEY UPDATE \
                 last_hash = IF(VALUES(seq) > seq, VALUES(last_hash), last_hash), \
                 last_time_us = IF(VALUES(seq) > seq, VALUES(last_time_us), last_time_us), \
                 mac = IF(VALUES(seq) > seq, VALUES(mac), mac), \
                 seq = GREATEST(seq, VALUES(seq))",
            );
        }
    }
    s
}

/// The SELECT of the chain heads of `tenant` (`None`: all).
pub(crate) fn select_heads(dialect: Dialect, table: &str, tenant: Option<&str>) -> Stmt {
    let mut s = Stmt::new(dialect);
    s.push("SELECT writer, tenant, seq, last_hash, last_time_us, mac FROM ")
        .push(table);
    if let Some(t) = tenant {
        s.push(" WHERE tenant_key = ")
            .bind(Val::Text(Some(tenant_key(Some(t)))));
    }
    s
}

/// Decodes a row of [`select_heads`].
pub(crate) fn decode_head<R>(
    row: &R,
    backend: Backend,
) -> activity_core::Result<activity_core::chain::ChainHead>
where
    R: Row,
    usize: ColumnIndex<R>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> Option<String>: Decode<'r, R::Database> + Type<R::Database>,
{
    let err = |e: sqlx::Error| to_core_from(backend, e);
    let seq: i64 = row.try_get(2).map_err(err)?;
    let us: i64 = row.try_get(4).map_err(err)?;
    Ok(activity_core::chain::ChainHead {
        writer: row.try_get(0).map_err(err)?,
        tenant: row.try_get(1).map_err(err)?,
        seq: u64::try_from(seq).unwrap_or(0),
        last_hash: row.try_get(3).map_err(err)?,
        last_time: Utc.timestamp_micros(us).single().unwrap_or_default(),
        mac: row.try_get(5).map_err(err)?,
    })
}

/// Checks a table prefix: empty, or up to 32 ASCII letters, digits and `_`, starting with
/// a letter.
pub(crate) fn valid_prefix(prefix: &str) -> bool {
    prefix.is_empty()
        || (prefix.len() <= 32
            && prefix.as_bytes()[0].is_ascii_alphabetic()
            && prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes() {
        assert!(valid_prefix(""));
        assert!(valid_prefix("app_1_"));
        assert!(!valid_prefix("1app"));
        assert!(!valid_prefix("a; DROP TABLE x; --"));
        assert!(!valid_prefix("a\"b"));
        assert!(!valid_prefix(&"a".repeat(33)));
    }

    #[test]
    fn postgres_placeholders_are_numbered() {
        let q = ActivityQuery::new().actor("u").action("auth");
        let s = select(Dialect::Postgres, "t", &q);
        assert!(s.sql.contains("actor_id = $1"));
        assert!(s
            .sql
            .contains("action = $2 OR (action >= $3 AND action < $4)"));
        assert!(s.sql.ends_with(&format!("LIMIT {}", q.page_size() + 1)));
        assert_eq!(s.binds.len(), 4);
    }

    #[test]
    fn limits_are_written_out_and_clamped() {
        let r = DeleteRequest::new(Some("t"), chrono::Utc::now(), usize::MAX);
        let s = delete(Dialect::Sqlite, "t", &r);
        assert!(
            s.sql.ends_with(&format!("LIMIT {})", i64::MAX)),
            "{}",
            s.sql
        );
        let s = delete(
            Dialect::Mysql,
            "t",
            &DeleteRequest::new(None, chrono::Utc::now(), 500),
        );
        assert!(s.sql.ends_with("LIMIT 500"), "{}", s.sql);
    }

    #[test]
    fn text_columns_line_up() {
        for (slot, col) in TEXT_COLUMNS.iter().enumerate() {
            assert!(
                !matches!(
                    COLUMNS[*col],
                    "time_us" | "geo_lat" | "geo_lon" | "geo_accuracy_km" | "chain_seq" | "id"
                ),
                "slot {slot} is {}",
                COLUMNS[*col]
            );
        }
        assert_eq!(COLUMNS[DETAILS_COLUMN], "details");
        assert_eq!(COLUMNS[CHAIN_HASH_COLUMN], "chain_hash");
    }
}
