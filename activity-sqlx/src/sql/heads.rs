//! The chain heads table: the forward-only upsert, its SELECT and the row decoder.

use chrono::{TimeZone, Utc};
use sqlx::{ColumnIndex, Decode, Row, Type};

use super::{Dialect, Stmt, Val};
use crate::error::to_core_from;

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
    dialect: Dialect,
) -> activity_core::Result<activity_core::chain::ChainHead>
where
    R: Row,
    usize: ColumnIndex<R>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> Option<String>: Decode<'r, R::Database> + Type<R::Database>,
{
    let err = |e: sqlx::Error| to_core_from(dialect, e);
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
