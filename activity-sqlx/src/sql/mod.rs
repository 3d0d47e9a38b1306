//! SQL shared by every backend, switched on [`Dialect`]: how an event becomes bind values
//! and back ([`row`]), the statements over the events table ([`events`]) and over the
//! chain heads ([`heads`]), all built as a [`Stmt`] ([`stmt`]). Values are always bound,
//! never spliced; the only identifiers spliced in are the validated table names.

mod events;
mod heads;
mod log;
mod row;
mod stmt;

pub(crate) use events::{count, delete, doomed_ids, insert, select, ROWS_PER_INSERT};
pub(crate) use heads::{decode_head, dedup_heads, select_heads, upsert_heads, HEADS_PER_UPSERT};
pub(crate) use log::{
    delete_sink, lag, last_insert_id, read_log, reserve, select_sinks, upsert_sink,
};
pub(crate) use row::{decode_row, event_values, COLUMNS, DETAILS_COLUMN};
#[cfg_attr(not(feature = "sqlite"), allow(unused_imports))]
pub(crate) use row::{event_from_row, RawRow, CHAIN_HASH_COLUMN, TEXT_COLUMNS};
pub(crate) use stmt::{Stmt, Val};

/// The three backends: how each writes what differs between SQL dialects, and whose
/// error codes an error carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(
    not(all(feature = "sqlite", feature = "postgres", feature = "mysql")),
    allow(dead_code)
)]
pub(crate) enum Dialect {
    /// SQLite 3: `?` placeholders, extended result codes.
    Sqlite,
    /// PostgreSQL: `$n` placeholders, `jsonb`, SQLSTATE codes.
    Postgres,
    /// MySQL 8 / MariaDB 10.6+: `?` placeholders, SQLSTATE and server error numbers.
    Mysql,
}
