//! Table names and the versioned schema of each backend.
//!
//! The SDK keeps its own schema-version table, `<prefix>activity_schema`, and never
//! touches the host application's migrations (`_sqlx_migrations` or any other).
//! Migrations are plain SQL with the validated prefix substituted for `{p}`; they are
//! embedded in the crate, applied in order inside one transaction, under a lock, so that
//! several app instances starting at once apply them exactly once.
//!
//! Versions: 1, the events table; 2, the chain heads table
//! (`<prefix>activity_chain_heads`, one row per chain: its count, last hash, last event
//! time and MAC). A version-1 database migrates to 2 by creating the heads table; its
//! existing chains have no head and verify as unanchored. 3 drops two indexes of the
//! events table that no query needs, and that every append paid for:
//! `activity_events_tenant_actor_time (tenant, actor_id, time_us, id)` (a user's own
//! activity in a tenant is served by `activity_events_actor_time (actor_id, time_us, id)`
//! as a range scan with the tenant as a residual filter: an actor's events rarely span
//! tenants) and `activity_events_chain (chain_writer, tenant, chain_seq)` (verification
//! reads a tenant's events in time order through the tenant index; nothing selects by
//! chain position). The remaining indexes serve: the whole log and time windows
//! (`time`), a tenant's log and the retention delete (`tenant_time`), a user's own
//! activity and the failures of an account (`actor_time`), the failures of an address
//! (`ip_time`), and the session, device and request filters. 4 stores PostgreSQL's
//! `details` as `json` (the text as written) instead of `jsonb`, which keeps values, not
//! text, and gave `1e16` back as `10000000000000000` and `-0.0` as `0.0`: an event read
//! back must be the event written, byte for byte. (SQLite and MySQL kept the text
//! already; their version 4 changes nothing.) 5 gives every event a place in the commit
//! order, which sinks read the log by, and adds the sinks' cursors
//! (`<prefix>activity_sinks`, one row per sink, its state as JSON): on SQLite and MySQL
//! a `log_seq` column numbered from the counter `<prefix>activity_log`, whose row the
//! append's transaction locks until it commits (so the numbers are in commit order);
//! on PostgreSQL `log_tx` (the writing transaction's `xid8`) and `log_seq` (a sequence),
//! both set by column defaults, read only below the oldest running transaction.
//! Existing events are numbered in the order they were stored (SQLite: rowid; MySQL and
//! PostgreSQL: by time); the migration rewrites the events table.

use crate::error::Error;

/// The newest schema version this code knows.
///
/// ```
/// use activity_sqlx::{SqliteStore, SCHEMA_VERSION};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
/// store.migrate().await.unwrap();
/// let sql = format!("SELECT MAX(version) FROM {}", store.tables().schema);
/// let v: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_one(store.pool()).await.unwrap();
/// assert_eq!(v, SCHEMA_VERSION);
/// # });
/// ```
pub const SCHEMA_VERSION: i64 = 5;

/// The names of the SDK's tables under one prefix, as a store reports them
/// (`tables()`), e.g. for the application's own grants or queries.
///
/// ```
/// use activity_sqlx::{Error, Tables};
/// let t = Tables::new("app_").unwrap();
/// assert_eq!(t.events, "app_activity_events");
/// assert_eq!(t.schema, "app_activity_schema");
/// assert_eq!(t.chain_heads, "app_activity_chain_heads");
/// assert_eq!(Tables::new("").unwrap().events, "activity_events");
/// // A prefix is an identifier, never SQL.
/// assert!(matches!(Tables::new("app; DROP TABLE x; --"), Err(Error::InvalidPrefix(_))));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tables {
    /// The prefix (validated).
    pub prefix: String,
    /// The events table: `<prefix>activity_events`.
    pub events: String,
    /// The schema-version table: `<prefix>activity_schema`.
    pub schema: String,
    /// The chain heads (schema version 2): `<prefix>activity_chain_heads`.
    pub chain_heads: String,
    /// The sinks' cursors and receipts (schema version 5): `<prefix>activity_sinks`.
    pub sinks: String,
    /// The commit-order counter of SQLite and MySQL (schema version 5):
    /// `<prefix>activity_log`.
    pub log: String,
}

impl Tables {
    /// Decides whether `migrate()` may go on, from what it found: the highest recorded
    /// schema version (`0` when the schema table is missing or empty) and whether an
    /// events table exists. A version newer than this code, or an events table the SDK
    /// did not create, stops it before anything changes.
    ///
    /// # Errors
    /// [`Error::SchemaTooNew`] or [`Error::ForeignTable`].
    pub(crate) fn check_found(&self, current: i64, events_exists: bool) -> Result<(), Error> {
        if current > SCHEMA_VERSION {
            return Err(Error::SchemaTooNew {
                found: current,
                supported: SCHEMA_VERSION,
            });
        }
        if current == 0 && events_exists {
            return Err(Error::ForeignTable {
                table: self.events.clone(),
                schema_table: self.schema.clone(),
            });
        }
        Ok(())
    }

    /// Tables under `prefix` (empty for none).
    ///
    /// ```
    /// use activity_sqlx::{Error, Tables};
    /// assert_eq!(Tables::new("app_").unwrap().events, "app_activity_events");
    /// assert!(matches!(Tables::new("1app"), Err(Error::InvalidPrefix(_))));
    /// ```
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
            chain_heads: format!("{prefix}activity_chain_heads"),
            sinks: format!("{prefix}activity_sinks"),
            log: format!("{prefix}activity_log"),
        })
    }

    /// The tables without a prefix (the empty prefix is always valid).
    pub(crate) fn unprefixed() -> Self {
        Self {
            prefix: String::new(),
            events: "activity_events".to_owned(),
            schema: "activity_schema".to_owned(),
            chain_heads: "activity_chain_heads".to_owned(),
            sinks: "activity_sinks".to_owned(),
            log: "activity_log".to_owned(),
        }
    }

    /// Substitutes the prefix into a migration.
    pub(crate) fn render(&self, sql: &str) -> String {
        sql.replace("{p}", &self.prefix)
    }
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

/// SQLite's migrations, by version (index 0 is version 1).
#[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
pub(crate) const SQLITE: &[&str] = &[
    r#"
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
CREATE INDEX {p}activity_events_tenant_actor_time ON {p}activity_events (tenant, actor_id, time_us, id);
CREATE INDEX {p}activity_events_ip_time ON {p}activity_events (ip, time_us, id);
CREATE INDEX {p}activity_events_session ON {p}activity_events (session, time_us, id) WHERE session IS NOT NULL;
CREATE INDEX {p}activity_events_device ON {p}activity_events (device_id, time_us, id) WHERE device_id IS NOT NULL;
CREATE INDEX {p}activity_events_request ON {p}activity_events (request_id, time_us, id) WHERE request_id IS NOT NULL;
CREATE INDEX {p}activity_events_chain ON {p}activity_events (chain_writer, tenant, chain_seq) WHERE chain_writer IS NOT NULL;
"#,
    r#"
CREATE TABLE {p}activity_chain_heads (
    writer TEXT NOT NULL,
    tenant_key TEXT NOT NULL,
    tenant TEXT,
    seq INTEGER NOT NULL,
    last_hash TEXT NOT NULL,
    last_time_us INTEGER NOT NULL,
    mac TEXT NOT NULL,
    PRIMARY KEY (writer, tenant_key)
);
CREATE INDEX {p}activity_chain_heads_tenant ON {p}activity_chain_heads (tenant_key);
"#,
    V3_DROP_INDEXES,
    // 4: nothing to change (SQLite keeps the JSON text as written).
    "SELECT 1",
    r#"
ALTER TABLE {p}activity_events ADD COLUMN log_seq INTEGER;
UPDATE {p}activity_events SET log_seq = rowid;
CREATE INDEX {p}activity_events_log ON {p}activity_events (log_seq);
CREATE TABLE {p}activity_log (id INTEGER NOT NULL PRIMARY KEY CHECK (id = 1), last_seq INTEGER NOT NULL);
INSERT INTO {p}activity_log (id, last_seq) SELECT 1, COALESCE(MAX(log_seq), 0) FROM {p}activity_events;
CREATE TABLE {p}activity_sinks (name TEXT NOT NULL PRIMARY KEY, state TEXT NOT NULL);
"#,
];

/// Version 3 on SQLite and PostgreSQL (where dropping the partitioned table's index drops
/// every partition's copy): the indexes no query uses.
const V3_DROP_INDEXES: &str = r#"
DROP INDEX {p}activity_events_tenant_actor_time;
DROP INDEX {p}activity_events_chain;
"#;

/// PostgreSQL's migrations. The events table is partitioned by month on `time_us`
/// (partitions are created by the store, see `postgres.rs`), with a default partition
/// that catches rows of months without one. Text columns use the `C` collation so that
/// equality is exact and the action-prefix ranges compare bytes.
#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
pub(crate) const POSTGRES: &[&str] = &[
    r#"
CREATE TABLE {p}activity_events (
    id BYTEA NOT NULL,
    time_us BIGINT NOT NULL,
    tenant TEXT COLLATE "C",
    action TEXT COLLATE "C" NOT NULL,
    outcome TEXT COLLATE "C" NOT NULL,
    reason TEXT,
    actor_id TEXT COLLATE "C",
    actor_name TEXT,
    actor_type TEXT,
    target_type TEXT,
    target_id TEXT,
    target_name TEXT,
    ip TEXT COLLATE "C",
    user_agent TEXT,
    device_id TEXT COLLATE "C",
    geo_country TEXT,
    geo_city TEXT,
    geo_lat DOUBLE PRECISION,
    geo_lon DOUBLE PRECISION,
    geo_accuracy_km BIGINT,
    session TEXT COLLATE "C",
    request_id TEXT COLLATE "C",
    details JSONB,
    chain_writer TEXT COLLATE "C",
    chain_seq BIGINT,
    chain_prev TEXT,
    chain_hash TEXT,
    PRIMARY KEY (id, time_us)
) PARTITION BY RANGE (time_us);
CREATE TABLE {p}activity_events_default PARTITION OF {p}activity_events DEFAULT;
CREATE INDEX {p}activity_events_time ON {p}activity_events (time_us, id);
CREATE INDEX {p}activity_events_tenant_time ON {p}activity_events (tenant, time_us, id);
CREATE INDEX {p}activity_events_actor_time ON {p}activity_events (actor_id, time_us, id);
CREATE INDEX {p}activity_events_tenant_actor_time ON {p}activity_events (tenant, actor_id, time_us, id);
CREATE INDEX {p}activity_events_ip_time ON {p}activity_events (ip, time_us, id);
CREATE INDEX {p}activity_events_session ON {p}activity_events (session, time_us, id) WHERE session IS NOT NULL;
CREATE INDEX {p}activity_events_device ON {p}activity_events (device_id, time_us, id) WHERE device_id IS NOT NULL;
CREATE INDEX {p}activity_events_request ON {p}activity_events (request_id, time_us, id) WHERE request_id IS NOT NULL;
CREATE INDEX {p}activity_events_chain ON {p}activity_events (chain_writer, tenant, chain_seq) WHERE chain_writer IS NOT NULL;
"#,
    r#"
CREATE TABLE {p}activity_chain_heads (
    writer TEXT COLLATE "C" NOT NULL,
    tenant_key TEXT COLLATE "C" NOT NULL,
    tenant TEXT COLLATE "C",
    seq BIGINT NOT NULL,
    last_hash TEXT NOT NULL,
    last_time_us BIGINT NOT NULL,
    mac TEXT NOT NULL,
    PRIMARY KEY (writer, tenant_key)
);
CREATE INDEX {p}activity_chain_heads_tenant ON {p}activity_chain_heads (tenant_key);
"#,
    V3_DROP_INDEXES,
    // The partitions follow their parent.
    "ALTER TABLE {p}activity_events ALTER COLUMN details TYPE json USING details::json",
    // Existing rows get the migration's transaction and numbers in time order; new rows
    // their own transaction's id. The sequence's cache only reorders numbers between
    // sessions, never within a transaction, which is all the order needs.
    r#"
CREATE SEQUENCE {p}activity_log_seq AS BIGINT CACHE 64;
ALTER TABLE {p}activity_events ADD COLUMN log_tx xid8, ADD COLUMN log_seq BIGINT;
UPDATE {p}activity_events e SET log_tx = pg_current_xact_id(), log_seq = o.n
    FROM (SELECT id, time_us, nextval('{p}activity_log_seq') AS n
          FROM (SELECT id, time_us FROM {p}activity_events ORDER BY time_us, id) t) o
    WHERE e.id = o.id AND e.time_us = o.time_us;
ALTER TABLE {p}activity_events
    ALTER COLUMN log_tx SET DEFAULT pg_current_xact_id(),
    ALTER COLUMN log_tx SET NOT NULL,
    ALTER COLUMN log_seq SET DEFAULT nextval('{p}activity_log_seq'),
    ALTER COLUMN log_seq SET NOT NULL;
CREATE INDEX {p}activity_events_log ON {p}activity_events (log_tx, log_seq);
CREATE TABLE {p}activity_sinks (name TEXT COLLATE "C" NOT NULL PRIMARY KEY, state TEXT NOT NULL);
"#,
];

/// MySQL/MariaDB's migrations. `{collate}` is a binary, no-pad collation
/// (`utf8mb4_nopad_bin` on MariaDB, `utf8mb4_0900_bin` on MySQL), so that equality is
/// exact (no case folding, no ignored trailing spaces) and ranges compare bytes.
#[cfg_attr(not(feature = "mysql"), allow(dead_code))]
pub(crate) const MYSQL: &[&str] = &[
    r#"
CREATE TABLE {p}activity_events (
    id BINARY(16) NOT NULL PRIMARY KEY,
    time_us BIGINT NOT NULL,
    tenant VARCHAR(128),
    action VARCHAR(128) NOT NULL,
    outcome VARCHAR(16) NOT NULL,
    reason VARCHAR(256),
    actor_id VARCHAR(256),
    actor_name VARCHAR(256),
    actor_type VARCHAR(64),
    target_type VARCHAR(64),
    target_id VARCHAR(256),
    target_name VARCHAR(256),
    ip VARCHAR(45),
    user_agent VARCHAR(512),
    device_id VARCHAR(128),
    geo_country VARCHAR(2),
    geo_city VARCHAR(128),
    geo_lat DOUBLE,
    geo_lon DOUBLE,
    geo_accuracy_km BIGINT,
    session VARCHAR(128),
    request_id VARCHAR(128),
    details LONGTEXT CHECK (details IS NULL OR JSON_VALID(details)),
    chain_writer VARCHAR(128),
    chain_seq BIGINT,
    chain_prev VARCHAR(64),
    chain_hash VARCHAR(64),
    INDEX {p}activity_events_time (time_us, id),
    INDEX {p}activity_events_tenant_time (tenant, time_us, id),
    INDEX {p}activity_events_actor_time (actor_id, time_us, id),
    INDEX {p}activity_events_tenant_actor_time (tenant, actor_id, time_us, id),
    INDEX {p}activity_events_ip_time (ip, time_us, id),
    INDEX {p}activity_events_session (session, time_us, id),
    INDEX {p}activity_events_device (device_id, time_us, id),
    INDEX {p}activity_events_request (request_id, time_us, id),
    INDEX {p}activity_events_chain (chain_writer, tenant, chain_seq)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE={collate}
"#,
    r#"
CREATE TABLE {p}activity_chain_heads (
    writer VARCHAR(128) NOT NULL,
    tenant_key VARCHAR(130) NOT NULL,
    tenant VARCHAR(128),
    seq BIGINT NOT NULL,
    last_hash VARCHAR(64) NOT NULL,
    last_time_us BIGINT NOT NULL,
    mac VARCHAR(64) NOT NULL,
    PRIMARY KEY (writer, tenant_key),
    INDEX {p}activity_chain_heads_tenant (tenant_key)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE={collate}
"#,
    // One statement: MySQL commits each DDL statement on its own.
    r#"
ALTER TABLE {p}activity_events
    DROP INDEX {p}activity_events_tenant_actor_time,
    DROP INDEX {p}activity_events_chain
"#,
    // 4: nothing to change (MySQL keeps the JSON text as written).
    "SELECT 1",
    // MySQL commits each DDL statement on its own; the counter is created last, from
    // the numbered rows.
    r#"
ALTER TABLE {p}activity_events ADD COLUMN log_seq BIGINT NULL, ADD INDEX {p}activity_events_log (log_seq);
SET @activity_n := 0;
UPDATE {p}activity_events SET log_seq = (@activity_n := @activity_n + 1) ORDER BY time_us, id;
CREATE TABLE IF NOT EXISTS {p}activity_sinks (name VARCHAR(64) NOT NULL PRIMARY KEY, state LONGTEXT NOT NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE={collate};
CREATE TABLE {p}activity_log (id INT NOT NULL PRIMARY KEY, last_seq BIGINT NOT NULL) ENGINE=InnoDB;
INSERT INTO {p}activity_log (id, last_seq) SELECT 1, COALESCE(MAX(log_seq), 0) FROM {p}activity_events;
"#,
];

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
    fn names() {
        let t = Tables::new("app_").unwrap();
        assert_eq!(t.events, "app_activity_events");
        assert_eq!(t.schema, "app_activity_schema");
        assert_eq!(t.chain_heads, "app_activity_chain_heads");
        for list in [SQLITE, POSTGRES, MYSQL] {
            assert_eq!(list.len() as i64, SCHEMA_VERSION, "a migration per version");
        }
        assert!(t
            .render(SQLITE[0])
            .contains("CREATE TABLE app_activity_events"));
        assert!(matches!(Tables::new("x y"), Err(Error::InvalidPrefix(_))));
        assert_eq!(Tables::unprefixed(), Tables::new("").unwrap());
    }
}
