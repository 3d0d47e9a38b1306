//! The statements of the commit order (schema version 5): reading the log after a
//! position, its lag, numbering an append, and the sinks' cursors.

use activity_core::sinks::LogPosition;

use super::{events::select_list, Dialect, Stmt, Val};

/// A position's parts as bind values (PostgreSQL's `xid8` travels as text).
fn push_after(s: &mut Stmt, after: LogPosition, op: &str) {
    match s.dialect() {
        Dialect::Postgres => {
            s.push("(log_tx, log_seq) ").push(op).push(" (");
            s.bind(Val::Text(Some(after.tx.to_string())))
                .push("::xid8, ");
            s.bind(Val::Int(Some(clamp(after.seq)))).push(")");
        }
        Dialect::Sqlite | Dialect::Mysql => {
            // These stores number events alone: a position of another store's kind
            // (tx > 0) lies after all of theirs.
            if after.tx > 0 {
                s.push(if op == ">" { "1=0" } else { "1=1" });
            } else {
                s.push("log_seq ").push(op).push(" ");
                s.bind(Val::Int(Some(clamp(after.seq))));
            }
        }
    }
}

fn clamp(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The committed events after `after`, in commit order, with `tx` and `seq` as the two
/// columns after [`super::COLUMNS`]. PostgreSQL reads only the events of transactions
/// older than every transaction still running (`pg_snapshot_xmin`): a transaction that
/// began earlier but commits later can then never land behind the cursor.
pub(crate) fn read_log(dialect: Dialect, table: &str, after: LogPosition, limit: usize) -> Stmt {
    let mut s = Stmt::new(dialect);
    s.push("SELECT ").push(&select_list(dialect));
    match dialect {
        Dialect::Postgres => {
            s.push(", log_tx::text::bigint, log_seq FROM ")
                .push(table)
                .push(" WHERE log_tx < pg_snapshot_xmin(pg_current_snapshot()) AND ");
            push_after(&mut s, after, ">");
            s.push(" ORDER BY log_tx, log_seq");
        }
        Dialect::Sqlite | Dialect::Mysql => {
            s.push(", 0, log_seq FROM ").push(table).push(" WHERE ");
            push_after(&mut s, after, ">");
            s.push(" ORDER BY log_seq");
        }
    }
    s.limit(limit);
    s
}

/// `COUNT(*)` of the events after `after`.
pub(crate) fn lag(dialect: Dialect, table: &str, after: LogPosition) -> Stmt {
    let mut s = Stmt::new(dialect);
    s.push("SELECT COUNT(*) FROM ").push(table).push(" WHERE ");
    push_after(&mut s, after, ">");
    s
}

/// ` AND <position> <= up_to`: the events every sink delivered.
pub(crate) fn push_delivered(s: &mut Stmt, up_to: Option<LogPosition>) {
    if let Some(p) = up_to {
        s.push(" AND ");
        push_after(s, p, "<=");
    }
}

/// Takes `n` numbers from the counter; the statement's one row is the last of them
/// (SQLite). On MySQL the row is locked until the transaction ends and the last number
/// is read with [`last_insert_id`].
pub(crate) fn reserve(dialect: Dialect, table: &str, n: usize) -> Stmt {
    let mut s = Stmt::new(dialect);
    match dialect {
        Dialect::Mysql => {
            s.push("UPDATE ")
                .push(table)
                .push(" SET last_seq = LAST_INSERT_ID(last_seq + ");
            s.bind(Val::Int(Some(n as i64))).push(") WHERE id = 1");
        }
        Dialect::Sqlite | Dialect::Postgres => {
            s.push("UPDATE ")
                .push(table)
                .push(" SET last_seq = last_seq + ");
            s.bind(Val::Int(Some(n as i64)))
                .push(" WHERE id = 1 RETURNING last_seq");
        }
    }
    s
}

/// MySQL: the value the counter's update left (per connection).
pub(crate) fn last_insert_id() -> Stmt {
    let mut s = Stmt::new(Dialect::Mysql);
    s.push("SELECT CAST(LAST_INSERT_ID() AS SIGNED)");
    s
}

/// Every sink's `name, state`.
pub(crate) fn select_sinks(dialect: Dialect, table: &str) -> Stmt {
    let mut s = Stmt::new(dialect);
    s.push("SELECT name, state FROM ")
        .push(table)
        .push(" ORDER BY name");
    s
}

/// Inserts or replaces a sink's state.
pub(crate) fn upsert_sink(dialect: Dialect, table: &str, name: &str, state: String) -> Stmt {
    let mut s = Stmt::new(dialect);
    s.push("INSERT INTO ")
        .push(table)
        .push(" (name, state) VALUES (");
    s.bind(Val::Text(Some(name.to_owned()))).push(", ");
    s.bind(Val::Text(Some(state))).push(")");
    match dialect {
        Dialect::Mysql => s.push(" ON DUPLICATE KEY UPDATE state = VALUES(state)"),
        Dialect::Sqlite | Dialect::Postgres => {
            s.push(" ON CONFLICT (name) DO UPDATE SET state = excluded.state")
        }
    };
    s
}

/// Deletes a sink's state.
pub(crate) fn delete_sink(dialect: Dialect, table: &str, name: &str) -> Stmt {
    let mut s = Stmt::new(dialect);
    s.push("DELETE FROM ").push(table).push(" WHERE name = ");
    s.bind(Val::Text(Some(name.to_owned())));
    s
}
