//! Table names and the versioned schema of each backend.
//!
//! The SDK keeps its own schema-version table, `<prefix>activity_schema`, and never
//! touches the host application's migrations (`_sqlx_migrations` or any other).
//! Migrations are plain SQL with the validated prefix substituted for `{p}`; they are
//! embedded in the crate, applied in order inside one transaction, under a lock, so that
//! several app instances starting at once apply them exactly once.

use crate::error::Error;
use crate::sql::valid_prefix;

/// The newest schema version this code knows.
pub const SCHEMA_VERSION: i64 = 1;

/// The names of the SDK's tables under one prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tables {
    /// The prefix (validated).
    pub prefix: String,
    /// The events table: `<prefix>activity_events`.
    pub events: String,
    /// The schema-version table: `<prefix>activity_schema`.
    pub schema: String,
}

impl Tables {
    /// Tables under `prefix` (empty for none).
    ///
    /// # Errors
    /// [`Error::InvalidPrefix`] unless the prefix is at most 32 ASCII letters, digits and
    /// underscores, starting with a letter.
    pub fn new(prefix: &str) -> Result<Self, Error> {
        if !valid_prefix(prefix) {
            return Err(Error::InvalidPrefix(prefix.chars().take(64).collect()));
        }
        Ok(Self {
            prefix: prefix.to_owned(),
            events: format!("{prefix}activity_events"),
            schema: format!("{prefix}activity_schema"),
        })
    }

    /// Substitutes the prefix into a migration.
    pub(crate) fn render(&self, sql: &str) -> String {
        sql.replace("{p}", &self.prefix)
    }
}

/// SQLite's migrations, by version (index 0 is version 1).
pub(crate) const SQLITE: &[&str] = &[r#"
CREATE TABLE {p}activity_events (
    id BLOB NOT NULL PRIMARY KEY,
    time_us INTEGER NOT NULL,
    tenant TEXT,
    action TEXT NOT NULL,
    outcome TEXT NOT NULL,
    reason TEXT,
    actor_id TEXT,
    actor_name TEXT,
    actor_type TEXT,
    target_type TEXT,
    target_id TEXT,
    target_name TEXT,
    ip TEXT,
    user_agent TEXT,
    device_id TEXT,
    geo_country TEXT,
    geo_city TEXT,
    geo_lat REAL,
    geo_lon REAL,
    geo_accuracy_km INTEGER,
    session TEXT,
    request_id TEXT,
    details TEXT,
    chain_writer TEXT,
    chain_seq INTEGER,
    chain_prev TEXT,
    chain_hash TEXT
);
CREATE INDEX {p}activity_events_time ON {p}activity_events (time_us, id);
CREATE INDEX {p}activity_events_tenant_time ON {p}activity_events (tenant, time_us, id);
CREATE INDEX {p}activity_events_actor_time ON {p}activity_events (actor_id, time_us, id);
CREATE INDEX {p}activity_events_ip_time ON {p}activity_events (ip, time_us, id);
CREATE INDEX {p}activity_events_session ON {p}activity_events (session, time_us, id) WHERE session IS NOT NULL;
CREATE INDEX {p}activity_events_device ON {p}activity_events (device_id, time_us, id) WHERE device_id IS NOT NULL;
CREATE INDEX {p}activity_events_request ON {p}activity_events (request_id, time_us, id) WHERE request_id IS NOT NULL;
CREATE INDEX {p}activity_events_chain ON {p}activity_events (chain_writer, tenant, chain_seq) WHERE chain_writer IS NOT NULL;
"#];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let t = Tables::new("app_").unwrap();
        assert_eq!(t.events, "app_activity_events");
        assert_eq!(t.schema, "app_activity_schema");
        assert!(t
            .render(SQLITE[0])
            .contains("CREATE TABLE app_activity_events"));
        assert!(matches!(Tables::new("x y"), Err(Error::InvalidPrefix(_))));
    }
}
