//! The statements over the events table: SELECT, COUNT, the retention DELETE and the
//! multi-row INSERT, with the filters of a query.

use activity_core::{
    query::action_prefix_range, query::DeleteRequest, ActivityEvent, ActivityQuery,
};

use super::{event_values, log::push_delivered, Dialect, Stmt, Val, COLUMNS, DETAILS_COLUMN};

/// Rows per INSERT statement: 27 columns × 1000 rows stays under every backend's
/// bind-variable limit (SQLite's is the lowest, 32,766).
#[cfg_attr(not(any(feature = "sqlite", feature = "mysql")), allow(dead_code))]
pub(crate) const ROWS_PER_INSERT: usize = 1000;

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

/// The select list: [`COLUMNS`], with `details` as text on PostgreSQL (json).
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
    push_delivered(&mut s, r.delivered_up_to);
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
            push_delivered(&mut s, r.delivered_up_to);
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

/// The multi-row INSERT of `events`, skipping ids already stored; with `first_seq`, the
/// events' commit-order numbers from it on (`log_seq`).
#[cfg_attr(not(any(feature = "sqlite", feature = "mysql")), allow(dead_code))]
pub(crate) fn insert(
    dialect: Dialect,
    table: &str,
    events: &[ActivityEvent],
    first_seq: Option<i64>,
) -> Stmt {
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
    s.push(table).push(" (").push(&COLUMNS.join(", "));
    if first_seq.is_some() {
        s.push(", log_seq");
    }
    s.push(") VALUES ");
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
        if let Some(first) = first_seq {
            s.push(", ").bind(Val::Int(Some(first + i as i64)));
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
