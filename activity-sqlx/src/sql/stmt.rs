//! SQL text with its bind values: [`Stmt`] writes each backend's placeholder style and
//! never splices a value in.

use std::fmt::Write;

use super::Dialect;

/// One bind value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Val {
    Int(Option<i64>),
    Real(Option<f64>),
    Text(Option<String>),
    Bytes(Vec<u8>),
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

    /// The dialect it is written in.
    pub fn dialect(&self) -> Dialect {
        self.dialect.unwrap_or(Dialect::Sqlite)
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
            self.sql.push_str(" AS json)");
            self
        } else {
            self.bind(v)
        }
    }
}
