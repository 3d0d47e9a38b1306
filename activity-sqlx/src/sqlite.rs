//! The SQLite store: the embedded default.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use activity_core::{query::DeleteRequest, ActivityEvent, ActivityQuery};
use sqlx::sqlite::{
    SqliteArguments, SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{AssertSqlSafe, Row, Sqlite};

use crate::connections::{Connections, Lease, Source};
use crate::error::{Backend, Error};
use crate::readahead::Readahead;
use crate::reader::Reader;
use crate::schema::{Tables, SCHEMA_VERSION, SQLITE};
use crate::sql::{self, Dialect, Stmt, Val};
use crate::store_impl::Finish;

/// How hard SQLite works to keep committed events across a power cut.
///
/// In WAL mode, `Normal` (the default) never corrupts the database, and a committed
/// transaction survives a crash of the application; only a power loss or OS crash can
/// lose the last transactions committed before it (they are in the WAL but not yet
/// synced). `Full` syncs the WAL on every commit, so nothing committed is ever lost, at
/// the cost of an fsync per batch. An audit log that must survive power loss without
/// any gap should choose `Full`.
///
/// ```
/// use activity_sqlx::{Durability, SqliteOptions, SqliteStore};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// assert_eq!(Durability::default(), Durability::Normal);
/// // SQLite's `PRAGMA synchronous` levels: 1 is NORMAL, 2 is FULL.
/// for (durability, level) in [(Durability::Normal, 1), (Durability::Full, 2)] {
///     let options = SqliteOptions::new("sqlite::memory:").durability(durability);
///     let store = SqliteStore::connect_with(options).await.unwrap();
///     let found: i64 = sqlx::query_scalar("PRAGMA synchronous").fetch_one(store.pool()).await.unwrap();
///     assert_eq!(found, level);
/// }
/// # });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// `synchronous=NORMAL`: safe against application crashes.
    #[default]
    Normal,
    /// `synchronous=FULL`: safe against power loss too.
    Full,
}

/// Settings for [`SqliteStore::connect_with`].
///
/// ```
/// use activity_sqlx::{Durability, SqliteOptions};
/// let o = SqliteOptions::new("sqlite://activity.db").durability(Durability::Full).prefix("app_");
/// ```
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    url: String,
    durability: Durability,
    busy_timeout: Duration,
    prefix: String,
    max_connections: u32,
    cache_kib: u32,
}

impl SqliteOptions {
    /// Options for a `sqlite://path` URL, a plain file path, or `sqlite::memory:`.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            durability: Durability::Normal,
            busy_timeout: Duration::from_secs(5),
            prefix: String::new(),
            max_connections: 4,
            cache_kib: 64 * 1024,
        }
    }

    /// Durability (default [`Durability::Normal`]).
    pub fn durability(mut self, d: Durability) -> Self {
        self.durability = d;
        self
    }

    /// How long a statement waits for a lock held by another connection or process
    /// before failing with a retryable error (default 5 s).
    pub fn busy_timeout(mut self, t: Duration) -> Self {
        self.busy_timeout = t;
        self
    }

    /// A prefix for the SDK's table names (validated at connect).
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// SQLite's page cache per connection, in KiB (default 65,536: 64 MiB).
    pub fn cache_kib(mut self, kib: u32) -> Self {
        self.cache_kib = kib.max(256);
        self
    }

    /// How many connections the store's operations use at once (default 4; 1 for
    /// in-memory databases). For a file, the store's bulk reads (export, verification,
    /// archiving: pages of [`MAX_PAGE_SIZE`](activity_core::query::MAX_PAGE_SIZE) events) run
    /// on query-only connections of their own, up to the same number, and the pool
    /// [`SqliteStore::pool`] returns for the application's own queries has the same limit;
    /// both open their connections only when used. Each connection has its own page cache
    /// of [`cache_kib`](Self::cache_kib).
    pub fn max_connections(mut self, n: u32) -> Self {
        self.max_connections = n.max(1);
        self
    }
}

/// An [`ActivityStore`](activity_core::ActivityStore) in SQLite: WAL journal, `synchronous=NORMAL` by default (see
/// [`Durability`]), a busy timeout, and the database file created on first use.
///
/// ```
/// use activity_core::{ActivityEvent, ActivityQuery, ActivityStore, Actor};
/// use activity_sqlx::SqliteStore;
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
/// store.migrate().await.unwrap();
/// store.append(&[ActivityEvent::login_succeeded(Actor::user("u_1"))]).await.unwrap();
/// assert_eq!(store.count(&ActivityQuery::own(None, "u_1")).await.unwrap(), 1);
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// What the store's operations run on: its own connections to a file, or `pool`.
    connections: Source,
    /// The next page of the last bulk read, being read.
    readahead: Arc<Readahead>,
    /// Bulk reads on connections of their own, rows read in place (a file the store
    /// opened; see `reader.rs`); other reads go through `connections` as JSON.
    reader: Option<Arc<Reader>>,
    tables: Tables,
}

impl SqliteStore {
    /// Connects with default [`SqliteOptions`]. Call [`migrate`](Self::migrate) before use.
    ///
    /// # Errors
    /// [`Error::Sqlx`] when the URL is malformed or the file cannot be opened.
    pub async fn connect(url: &str) -> Result<Self, Error> {
        Self::connect_with(SqliteOptions::new(url)).await
    }

    /// Connects with these options.
    ///
    /// # Errors
    /// [`Error::InvalidPrefix`]; [`Error::Sqlx`] when the URL is malformed or the file
    /// cannot be opened.
    pub async fn connect_with(o: SqliteOptions) -> Result<Self, Error> {
        let tables = Tables::new(&o.prefix)?;
        let url = o.url.trim();
        let base = if url.starts_with("sqlite:") {
            SqliteConnectOptions::from_str(url)?
        } else {
            SqliteConnectOptions::new().filename(url)
        };
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let opts = base
            .create_if_missing(true)
            .journal_mode(if in_memory {
                SqliteJournalMode::Memory
            } else {
                SqliteJournalMode::Wal
            })
            .synchronous(match o.durability {
                Durability::Normal => SqliteSynchronous::Normal,
                Durability::Full => SqliteSynchronous::Full,
            })
            .busy_timeout(o.busy_timeout)
            // A page cache large enough for the indexes' working set: with the default
            // 2 MB, appends into a large log spend their time re-reading index pages.
            .pragma("cache_size", format!("-{}", o.cache_kib))
            .pragma("temp_store", "memory");
        // No ping before each use: a SQLite connection is a file handle on a thread of
        // its own, not a socket that can go stale, and the ping is one more round trip
        // to that thread on every query (a third of a short query's time).
        // Waiting for a connection gives up a little after a lock wait would.
        let acquire_timeout = o.busy_timeout + Duration::from_secs(5);
        let mut pool = SqlitePoolOptions::new()
            .acquire_timeout(acquire_timeout)
            .test_before_acquire(false);
        pool = if in_memory {
            // One connection that never closes: the database lives as long as the pool.
            pool.max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
        } else {
            pool.max_connections(o.max_connections)
        };
        if in_memory {
            return Ok(Self::on_pool(pool.connect_with(opts).await?, tables));
        }
        // A file: the store's operations run on its own connections (see
        // `connections.rs`); the pool, for the application's own use of `pool()`, opens
        // its connections only when used.
        let connections = Source::Own(Arc::new(Connections::new(
            opts.clone(),
            o.max_connections,
            acquire_timeout,
        )));
        // Open one now, so that a file that cannot be opened fails here.
        connections.acquire().await?.finish();
        let reader = Reader::new(
            opts.get_filename().to_owned(),
            o.max_connections,
            o.busy_timeout,
            o.cache_kib,
            acquire_timeout,
        );
        let pool = pool.connect_lazy_with(opts);
        Ok(Self {
            pool,
            connections,
            readahead: Arc::default(),
            reader: Some(Arc::new(reader)),
            tables,
        })
    }

    /// Uses a pool the application already has (tables without prefix).
    pub fn from_pool(pool: SqlitePool) -> Self {
        Self::on_pool(pool, Tables::new("").expect("the empty prefix is valid"))
    }

    /// Uses a pool the application already has, with a table prefix.
    ///
    /// # Errors
    /// [`Error::InvalidPrefix`].
    pub fn from_pool_with_prefix(pool: SqlitePool, prefix: &str) -> Result<Self, Error> {
        Ok(Self::on_pool(pool, Tables::new(prefix)?))
    }

    /// A store whose operations all run on `pool` (an in-memory database, or a pool the
    /// application handed over): no connections of its own, no bulk reader.
    fn on_pool(pool: SqlitePool, tables: Tables) -> Self {
        Self {
            connections: Source::Pool(pool.clone()),
            readahead: Arc::default(),
            reader: None,
            pool,
            tables,
        }
    }

    /// The pool: the one handed to [`from_pool`](Self::from_pool), or, for a store that
    /// opened a file itself, a pool of its own for the application's queries (the store's
    /// operations run on connections of their own, reused newest first and returned
    /// without sqlx's per-release check, which a local file does not need).
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// A connection for one store operation.
    async fn lease(&self) -> Result<Lease, sqlx::Error> {
        self.connections.acquire().await
    }

    /// The table names.
    pub fn tables(&self) -> &Tables {
        &self.tables
    }

    /// Creates or upgrades the schema. Safe on every start and from several processes at
    /// once (the upgrade runs under SQLite's write lock).
    ///
    /// # Errors
    /// [`Error::ForeignTable`] when a table of the same name exists that the SDK did not
    /// create; [`Error::SchemaTooNew`] when the database is ahead of this code; in both
    /// cases nothing is changed.
    pub async fn migrate(&self) -> Result<(), Error> {
        let mut conn = self.lease().await?;
        sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
        let result = self.migrate_locked(&mut conn).await;
        let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
        sqlx::query(end).execute(&mut *conn).await?;
        conn.finish();
        result
    }

    async fn migrate_locked(&self, conn: &mut sqlx::SqliteConnection) -> Result<(), Error> {
        let exists = |name: String| {
            sqlx::query("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?")
                .bind(name)
        };
        let events: i64 = exists(self.tables.events.clone())
            .fetch_one(&mut *conn)
            .await?
            .get(0);
        let schema: i64 = exists(self.tables.schema.clone())
            .fetch_one(&mut *conn)
            .await?
            .get(0);
        let current: i64 = if schema == 1 {
            let sql = format!(
                "SELECT COALESCE(MAX(version), 0) FROM {}",
                self.tables.schema
            );
            sqlx::query(AssertSqlSafe(sql))
                .fetch_one(&mut *conn)
                .await?
                .get(0)
        } else {
            0
        };
        self.tables.check_found(current, events == 1)?;
        if schema == 0 {
            let sql = format!(
                "CREATE TABLE {} (version INTEGER NOT NULL PRIMARY KEY, applied_at TEXT NOT NULL)",
                self.tables.schema
            );
            sqlx::query(AssertSqlSafe(sql)).execute(&mut *conn).await?;
        }
        for version in (current + 1)..=SCHEMA_VERSION {
            let ddl = self.tables.render(SQLITE[(version - 1) as usize]);
            sqlx::raw_sql(AssertSqlSafe(ddl))
                .execute(&mut *conn)
                .await?;
            let sql = format!(
                "INSERT INTO {} (version, applied_at) VALUES (?, ?)",
                self.tables.schema
            );
            sqlx::query(AssertSqlSafe(sql))
                .bind(version)
                .bind(chrono::Utc::now().to_rfc3339())
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    }

    /// The query plan SQLite chooses for `query` (one line per plan step); tests use it
    /// to check that every hot query is served by an index.
    ///
    /// # Errors
    /// The database's errors.
    pub async fn explain(&self, query: &ActivityQuery) -> Result<Vec<String>, Error> {
        let s = sql::select(Dialect::Sqlite, &self.tables.events, query);
        self.explain_stmt(s).await
    }

    /// The plan of the count of `query`.
    ///
    /// # Errors
    /// The database's errors.
    pub async fn explain_count(&self, query: &ActivityQuery) -> Result<Vec<String>, Error> {
        let s = sql::count(Dialect::Sqlite, &self.tables.events, query);
        self.explain_stmt(s).await
    }

    /// The plan of the retention delete's selection.
    ///
    /// # Errors
    /// The database's errors.
    pub async fn explain_delete(&self, request: &DeleteRequest) -> Result<Vec<String>, Error> {
        let s = sql::doomed_ids(Dialect::Sqlite, &self.tables.events, request);
        self.explain_stmt(s).await
    }

    crate::store_impl::values_insert!(Dialect::Sqlite, Sqlite, bind_all);

    /// Nothing to prepare on SQLite.
    async fn prepare_append(&self, _events: &[ActivityEvent]) -> activity_core::Result<()> {
        Ok(())
    }

    /// No partitions to drop: expired rows are deleted.
    async fn drop_partitions_hook(
        &self,
        _before: chrono::DateTime<chrono::Utc>,
    ) -> activity_core::Result<activity_core::store::DroppedPartitions> {
        Ok(activity_core::store::DroppedPartitions::default())
    }

    async fn explain_stmt(&self, s: Stmt) -> Result<Vec<String>, Error> {
        let sql = format!("EXPLAIN QUERY PLAN {}", s.sql);
        let mut conn = self.lease().await?;
        let rows = bind_all(sqlx::query(AssertSqlSafe(sql)), s.binds)
            .fetch_all(&mut *conn)
            .await;
        conn.finish();
        let rows = rows?;
        Ok(rows.iter().map(|r| r.get::<String, _>("detail")).collect())
    }
}

fn bind_all(
    mut q: sqlx::query::Query<'_, Sqlite, SqliteArguments>,
    binds: Vec<Val>,
) -> sqlx::query::Query<'_, Sqlite, SqliteArguments> {
    for v in binds {
        q = match v {
            Val::Int(x) => q.bind(x),
            Val::Real(x) => q.bind(x),
            Val::Text(x) => q.bind(x),
            Val::Bytes(x) => q.bind(x),
        };
    }
    q
}

crate::store_impl::impl_activity_store!(
    SqliteStore,
    Sqlite,
    Dialect::Sqlite,
    Backend::Sqlite,
    bind_all,
    own
);

/// `json_array(…)` of the event columns, in [`sql::COLUMNS`] order: the id as hex, each
/// coordinate as [`coordinate`] writes it. Built once: every read uses it.
fn json_columns() -> &'static str {
    static COLUMNS: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    COLUMNS.get_or_init(build_json_columns)
}

fn build_json_columns() -> String {
    let cols: Vec<String> = sql::COLUMNS
        .iter()
        .map(|c| match *c {
            "id" => "hex(id)".to_owned(),
            "geo_lat" | "geo_lon" => coordinate(c),
            other => other.to_owned(),
        })
        .collect();
    format!("json_array({})", cols.join(", "))
}

/// The divisor of a coordinate written as an integer: tenths of a microdegree.
const COORDINATE_SCALE: f64 = 10_000_000.0;

/// A coordinate column as JSON that reads back exactly: the integer `k` when the value is
/// exactly `k / 10^7` in floating point (what geolocation databases hold: a few decimals),
/// which SQLite writes as cheaply as any integer; otherwise (and for zero) text with 17
/// significant digits, SQLite's exact float formatting, which cost a sixth of building a
/// whole row's JSON. [`Real`] reads both.
fn coordinate(c: &str) -> String {
    format!(
        "CASE WHEN {c} IS NULL THEN NULL \
         WHEN {c} <> 0 AND abs({c}) < 1000 AND round({c} * {COORDINATE_SCALE:.1}) / {COORDINATE_SCALE:.1} = {c} \
         THEN CAST(round({c} * {COORDINATE_SCALE:.1}) AS INTEGER) \
         ELSE printf('%!.17g', {c}) END"
    )
}

impl SqliteStore {
    /// The events of `query` (whose SELECT is `s`; `expected` rows at most): a bulk read's
    /// page may have been read already, and a full one starts the next (see
    /// `readahead.rs`).
    async fn fetch_page(
        &self,
        query: &ActivityQuery,
        s: Stmt,
        expected: usize,
    ) -> activity_core::Result<Vec<ActivityEvent>> {
        let bulk = crate::readahead::is_bulk(query);
        let events = match self.readahead.take(query) {
            Some(task) => match task.await {
                Ok(read) => read,
                // The task panicked or was cancelled with its runtime: read again.
                Err(_) => self.read_page(s, expected, bulk).await,
            },
            None => self.read_page(s, expected, bulk).await,
        }?;
        if let Some(next) = crate::readahead::next_query(query, &events) {
            if tokio::runtime::Handle::try_current().is_ok() {
                let s = sql::select(Dialect::Sqlite, &self.tables.events, &next);
                let store = self.clone();
                let task = tokio::spawn(async move { store.read_page(s, expected, true).await });
                self.readahead.keep(&next, task);
            }
        }
        Ok(events)
    }

    /// The events of `s`, newest first: a `bulk` page through the [`Reader`] when the
    /// store has one; otherwise as one JSON array built by SQLite on the store's own
    /// connections (one hand-over from the connection's thread instead of one per row,
    /// which is most of the cost of a short read through sqlx).
    async fn read_page(
        &self,
        s: Stmt,
        expected: usize,
        bulk: bool,
    ) -> activity_core::Result<Vec<ActivityEvent>> {
        if let (true, Some(reader)) = (bulk, &self.reader) {
            return reader.read(s, expected).await;
        }
        let text = self
            .fetch_text(s)
            .await
            .map_err(|e| crate::error::to_core_from(Backend::Sqlite, e))?;
        let mut events = events_from_json(&text, expected)?;
        // The aggregate's order follows the inner ORDER BY in practice; make it certain.
        events.sort_unstable_by_key(|e| std::cmp::Reverse((e.time, e.id)));
        Ok(events)
    }

    /// The JSON array of the rows of `s`.
    async fn fetch_text(&self, s: Stmt) -> Result<String, sqlx::Error> {
        let sql = format!(
            "SELECT json_group_array({}) FROM ({})",
            json_columns(),
            s.sql
        );
        let mut conn = self.lease().await?;
        let row = bind_all(sqlx::query(AssertSqlSafe(sql)), s.binds)
            .fetch_one(&mut *conn)
            .await;
        conn.finish();
        row?.try_get(0)
    }
}

/// How many queries [`SqliteStore::fetch_json_many`] puts in one statement: each is a
/// result column (SQLite allows 2,000) and binds a handful of parameters (32,766).
const QUERIES_PER_STATEMENT: usize = 64;

impl SqliteStore {
    /// The events of several SELECTs (each with its expected row count), read with one
    /// statement per [`QUERIES_PER_STATEMENT`]: one result row whose columns are the
    /// queries' JSON arrays, so a batch's history costs one hand-over from the
    /// connection's thread instead of one per query.
    async fn fetch_json_many(
        &self,
        stmts: Vec<(Stmt, usize)>,
    ) -> activity_core::Result<Vec<Vec<ActivityEvent>>> {
        let err = |e| crate::error::to_core_from(Backend::Sqlite, e);
        let mut out = Vec::with_capacity(stmts.len());
        let mut stmts = stmts.into_iter().peekable();
        while stmts.peek().is_some() {
            let chunk: Vec<(Stmt, usize)> = stmts.by_ref().take(QUERIES_PER_STATEMENT).collect();
            let mut sql = String::from("SELECT ");
            let mut binds = Vec::new();
            for (i, (s, _)) in chunk.iter().enumerate() {
                if i > 0 {
                    sql.push_str(", ");
                }
                sql.push_str("(SELECT json_group_array(");
                sql.push_str(json_columns());
                sql.push_str(") FROM (");
                sql.push_str(&s.sql);
                sql.push_str("))");
            }
            let expected: Vec<usize> = chunk
                .into_iter()
                .map(|(s, n)| {
                    binds.extend(s.binds);
                    n
                })
                .collect();
            let mut conn = self.lease().await.map_err(err)?;
            let row = bind_all(sqlx::query(AssertSqlSafe(sql)), binds)
                .fetch_one(&mut *conn)
                .await;
            conn.finish();
            let row = row.map_err(err)?;
            for (i, n) in expected.into_iter().enumerate() {
                let text: String = row.try_get(i).map_err(err)?;
                let mut events = events_from_json(&text, n)?;
                events.sort_unstable_by_key(|e| std::cmp::Reverse((e.time, e.id)));
                out.push(events);
            }
        }
        Ok(out)
    }
}

/// Bytes from SQLite's `hex()` (upper-case, even length).
fn unhex(h: &str) -> Option<Vec<u8>> {
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    h.as_bytes()
        .chunks(2)
        .map(|p| match p {
            [a, b] => Some(digit(*a)? << 4 | digit(*b)?),
            _ => None,
        })
        .collect()
}

/// Decodes the array of `json_array` rows [`json_columns`] builds; at most `expected` rows
/// (a capacity hint).
fn events_from_json(text: &str, expected: usize) -> activity_core::Result<Vec<ActivityEvent>> {
    use serde::de::DeserializeSeed;
    let mut de = serde_json::Deserializer::from_str(text);
    // `expected` is the query's limit, which a short read (five failures under a limit of
    // a thousand) is far below: no row takes fewer than 128 bytes of JSON (27 values and
    // their commas, the 32-digit id), so the text's length bounds the count too.
    let capacity = expected.min(text.len() / 128 + 1);
    let events = Rows(capacity.min(activity_core::query::MAX_PAGE_SIZE + 1))
        .deserialize(&mut de)
        .and_then(|events| de.end().map(|()| events))
        .map_err(|e| activity_core::Error::backend(format!("stored row is invalid: {e}"), None))?;
    Ok(events)
}

/// The events of a `json_group_array`, each row turned into its event as it is read.
struct Rows(usize);

impl<'de> serde::de::DeserializeSeed<'de> for Rows {
    type Value = Vec<ActivityEvent>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Rows {
    type Value = Vec<ActivityEvent>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an array of event rows")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::with_capacity(self.0);
        while let Some(JsonRow(raw, hash)) = seq.next_element()? {
            out.push(sql::event_from_row(raw, hash).map_err(serde::de::Error::custom)?);
        }
        Ok(out)
    }
}

/// One `json_array` row, decoded straight into the columns (no `serde_json::Value` in
/// between: this runs for every row an export or a verification reads).
struct JsonRow(sql::RawRow, Option<String>);

impl<'de> serde::Deserialize<'de> for JsonRow {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_seq(RowVisitor)
    }
}

struct RowVisitor;

/// A coordinate as [`coordinate`] writes it: `printf('%!.17g')` text, an integer count of
/// [`COORDINATE_SCALE`]ths (divided back exactly as SQLite checked it would be), or null.
struct Real(Option<f64>);

impl<'de> serde::Deserialize<'de> for Real {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Real;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a coordinate")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Real, E> {
                v.parse()
                    .map(|x| Real(Some(x)))
                    .map_err(|_| E::custom("invalid coordinate"))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Real, E> {
                // |v| < 10^10 (|coordinate| < 1000), so `v as f64` is exact.
                if v.unsigned_abs() >= 10_000_000_000 {
                    return Err(E::custom("invalid coordinate"));
                }
                Ok(Real(Some(v as f64 / COORDINATE_SCALE)))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Real, E> {
                self.visit_i64(i64::try_from(v).map_err(|_| E::custom("invalid coordinate"))?)
            }
            fn visit_unit<E>(self) -> Result<Real, E> {
                Ok(Real(None))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> serde::de::Visitor<'de> for RowVisitor {
    type Value = JsonRow;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "an array of {} event columns", sql::COLUMNS.len())
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<JsonRow, A::Error> {
        use serde::de::Error;
        fn next<'de, T: serde::Deserialize<'de>, A: serde::de::SeqAccess<'de>>(
            seq: &mut A,
            col: usize,
        ) -> Result<T, A::Error> {
            seq.next_element()?
                .ok_or_else(|| A::Error::invalid_length(col, &RowVisitor))
        }
        let id: &str = next(&mut seq, 0)?;
        let mut raw = sql::RawRow {
            id: unhex(id).ok_or_else(|| A::Error::custom("invalid id"))?,
            time_us: next(&mut seq, 1)?,
            ..sql::RawRow::default()
        };
        let mut hash = None;
        let mut slot = 0;
        for col in 2..sql::COLUMNS.len() {
            match col {
                17 => raw.lat = next::<Real, _>(&mut seq, col)?.0,
                18 => raw.lon = next::<Real, _>(&mut seq, col)?.0,
                19 => raw.accuracy_km = next(&mut seq, col)?,
                24 => raw.chain_seq = next(&mut seq, col)?,
                sql::CHAIN_HASH_COLUMN => hash = next(&mut seq, col)?,
                _ => {
                    raw.texts[slot] = next(&mut seq, col)?;
                    slot += 1;
                }
            }
        }
        if seq.next_element::<serde::de::IgnoredAny>()?.is_some() {
            return Err(A::Error::invalid_length(sql::COLUMNS.len() + 1, &self));
        }
        Ok(JsonRow(raw, hash))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_row_decoder_follows_the_column_layout() {
        // Every non-text column is where the decoder expects it.
        assert_eq!(sql::COLUMNS[0], "id");
        assert_eq!(sql::COLUMNS[1], "time_us");
        assert_eq!(sql::COLUMNS[17], "geo_lat");
        assert_eq!(sql::COLUMNS[18], "geo_lon");
        assert_eq!(sql::COLUMNS[19], "geo_accuracy_km");
        assert_eq!(sql::COLUMNS[24], "chain_seq");
        let texts: Vec<usize> = (2..sql::COLUMNS.len())
            .filter(|c| ![17, 18, 19, 24, sql::CHAIN_HASH_COLUMN].contains(c))
            .collect();
        assert_eq!(texts, sql::TEXT_COLUMNS);
    }

    /// A bulk read's next page is read ahead, served to the query that asks for it, and
    /// what every page holds is exactly what reading it cold gives.
    #[tokio::test]
    async fn bulk_pages_are_read_ahead_and_served_exactly() {
        use activity_core::{query::MAX_PAGE_SIZE, ActivityStore, Actor};
        let dir = std::env::temp_dir().join(format!("activity-ra-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}/r.db", dir.display());
        let store = SqliteStore::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        let t0 = chrono::Utc::now();
        let events: Vec<ActivityEvent> = (0..(2 * MAX_PAGE_SIZE + 7))
            .map(|i| {
                // Pairs of equal times, so that cursors fall between ties too.
                ActivityEvent::logout(Actor::user(format!("u{i}")))
                    .with_time(t0 + chrono::Duration::microseconds(i as i64 / 2))
            })
            .collect();
        store.append(&events).await.unwrap();
        let cold = SqliteStore::connect(&url).await.unwrap();
        let mut q = ActivityQuery::new().limit(MAX_PAGE_SIZE);
        let mut pages = 0;
        let mut seen = 0;
        loop {
            let page = store.query(&q).await.unwrap();
            assert_eq!(page, cold.query(&q).await.unwrap(), "page {pages}");
            pages += 1;
            seen += page.events.len();
            let Some(cursor) = page.next else {
                assert!(
                    !store.readahead.holds_any(),
                    "nothing follows the last page"
                );
                break;
            };
            q.after = Some(cursor);
            assert!(
                store.readahead.holds(&q),
                "page {pages}: the next is being read"
            );
        }
        assert_eq!((pages, seen), (3, events.len()));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn malformed_rows_are_errors_not_panics() {
        for text in [
            "",
            "{}",
            "[[]]",
            "[[\"00\"]]",
            "[[\"zz\", 1]]",
            "[[1, 2]]",
            "[null]",
            // One column too many.
            &format!("[[\"{}\", 1{}, 1]]", "00".repeat(16), ", null".repeat(25)),
            // A coordinate that is not a number.
            &format!(
                "[[\"{}\", 1{}, \"north\"{}]]",
                "00".repeat(16),
                ", \"auth.login\"".repeat(15),
                ", null".repeat(9)
            ),
        ] {
            assert!(events_from_json(text, 1).is_err(), "{text}");
        }
    }
}
