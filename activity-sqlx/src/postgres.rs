//! The PostgreSQL store, for deployments that outgrow one machine.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use activity_core::{query::DeleteRequest, ActivityEvent, ActivityQuery};
use chrono::{DateTime, Datelike, TimeZone, Utc};
use sqlx::postgres::{PgArguments, PgPool, PgPoolOptions};
use sqlx::{AssertSqlSafe, Postgres, Row};

use crate::error::{Backend, Error};
use crate::schema::{Tables, POSTGRES, SCHEMA_VERSION};
use crate::sql::{self, Dialect, Stmt, Val};

/// Months of partitions kept ready ahead of the current one.
pub const PARTITIONS_AHEAD: u32 = 3;

/// An [`ActivityStore`](activity_core::ActivityStore) in PostgreSQL.
///
/// Many app instances may append to one database at once. The events table is
/// partitioned by month (`<prefix>activity_events_pYYYYMM`), created ahead by
/// [`migrate`](Self::migrate) and on first sight of a new month, so that retention can
/// drop whole expired months ([`drop_partitions_before`](Self::drop_partitions_before))
/// instead of deleting rows; rows of a month whose partition could not be created (for
/// example by an insert-only role) land in a default partition and move into their
/// month's partition when it is created. Idempotency holds per `(id, time)`: a retried
/// batch (same ids, same times) is never stored twice.
///
/// See the crate docs for running the application with an insert-only role.
///
/// ```no_run
/// use activity_core::{ActivityEvent, ActivityQuery, ActivityStore, Actor};
/// use activity_sqlx::PgStore;
/// # async fn demo() -> Result<(), activity_sqlx::Error> {
/// let store = PgStore::connect_with_prefix("postgres://app@db.internal/app", "app_").await?;
/// store.migrate().await?; // the schema, this month's partition and the next ones
/// assert_eq!(store.tables().events, "app_activity_events");
/// let login = ActivityEvent::login_succeeded(Actor::user("u_1"));
/// store.append(&[login.clone()]).await?;
/// store.append(&[login.clone()]).await?; // a retried batch is not stored twice
/// assert_eq!(store.count(&ActivityQuery::new().ids([login.id])).await?, 1);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct PgStore {
    pool: PgPool,
    tables: Tables,
    known_months: Mutex<HashSet<(i32, u32)>>,
    copy: bool,
}

fn bind_all(
    mut q: sqlx::query::Query<'_, Postgres, PgArguments>,
    binds: Vec<Val>,
) -> sqlx::query::Query<'_, Postgres, PgArguments> {
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

/// `[start, end)` of a month in microseconds since the epoch.
fn month_bounds(year: i32, month: u32) -> (i64, i64) {
    let start = Utc
        .with_ymd_and_hms(year, month, 1, 0, 0, 0)
        .single()
        .map_or(0, |t| t.timestamp_micros());
    let (ny, nm) = next_month(year, month);
    let end = Utc
        .with_ymd_and_hms(ny, nm, 1, 0, 0, 0)
        .single()
        .map_or(i64::MAX, |t| t.timestamp_micros());
    (start, end)
}

fn next_month(year: i32, month: u32) -> (i32, u32) {
    if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    }
}

impl PgStore {
    /// Connects to `url` (`postgres://…`). Call [`migrate`](Self::migrate) before use.
    ///
    /// # Errors
    /// [`Error::Sqlx`] when the URL is malformed or the server unreachable.
    pub async fn connect(url: &str) -> Result<Self, Error> {
        Self::connect_with_prefix(url, "").await
    }

    /// Connects with a table prefix.
    ///
    /// # Errors
    /// [`Error::InvalidPrefix`]; [`Error::Sqlx`].
    pub async fn connect_with_prefix(url: &str, prefix: &str) -> Result<Self, Error> {
        let tables = Tables::new(prefix)?;
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await?;
        Ok(Self::with_tables(pool, tables))
    }

    /// Uses a pool the application already has.
    ///
    /// # Errors
    /// [`Error::InvalidPrefix`].
    pub fn from_pool(pool: PgPool, prefix: &str) -> Result<Self, Error> {
        Ok(Self::with_tables(pool, Tables::new(prefix)?))
    }

    fn with_tables(pool: PgPool, tables: Tables) -> Self {
        Self {
            pool,
            tables,
            known_months: Mutex::new(HashSet::new()),
            copy: true,
        }
    }

    /// How batches are written: with `COPY … FROM STDIN (FORMAT binary)` (the default,
    /// `true`), falling back to the `UNNEST` insert only for a chunk that meets events
    /// already stored (a retried batch); or always with one `INSERT … SELECT FROM
    /// UNNEST(arrays) ON CONFLICT DO NOTHING` per chunk (`false`), e.g. behind a proxy
    /// that does not pass `COPY` through.
    ///
    /// ```no_run
    /// # async fn f() -> Result<(), activity_sqlx::Error> {
    /// let store = activity_sqlx::PgStore::connect("postgres://app@db/app").await?.copy(false);
    /// # Ok(()) }
    /// ```
    pub fn copy(mut self, on: bool) -> Self {
        self.copy = on;
        self
    }

    /// The pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The table names.
    pub fn tables(&self) -> &Tables {
        &self.tables
    }

    fn partition_name(&self, year: i32, month: u32) -> String {
        format!("{}_p{year:04}{month:02}", self.tables.events)
    }

    /// Creates or upgrades the schema, then the partitions for this month and the
    /// next [`PARTITIONS_AHEAD`]. Safe on every start and from several instances at
    /// once (an advisory lock serialises them).
    ///
    /// # Errors
    /// [`Error::ForeignTable`], [`Error::SchemaTooNew`] (nothing changed); [`Error::Sqlx`].
    pub async fn migrate(&self) -> Result<(), Error> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
            .bind(format!("activity-migrate:{}", self.tables.events))
            .execute(&mut *tx)
            .await?;
        let exists = |name: String| sqlx::query("SELECT to_regclass($1) IS NOT NULL").bind(name);
        let events: bool = exists(self.tables.events.clone())
            .fetch_one(&mut *tx)
            .await?
            .get(0);
        let schema: bool = exists(self.tables.schema.clone())
            .fetch_one(&mut *tx)
            .await?
            .get(0);
        let current: i64 = if schema {
            let q = format!(
                "SELECT COALESCE(MAX(version), 0)::BIGINT FROM {}",
                self.tables.schema
            );
            sqlx::query(AssertSqlSafe(q))
                .fetch_one(&mut *tx)
                .await?
                .get(0)
        } else {
            0
        };
        self.tables.check_found(current, events)?;
        if !schema {
            let q = format!(
                "CREATE TABLE {} (version BIGINT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
                self.tables.schema
            );
            sqlx::query(AssertSqlSafe(q)).execute(&mut *tx).await?;
        }
        for version in (current + 1)..=SCHEMA_VERSION {
            let ddl = self.tables.render(POSTGRES[(version - 1) as usize]);
            sqlx::raw_sql(AssertSqlSafe(ddl)).execute(&mut *tx).await?;
            let q = format!("INSERT INTO {} (version) VALUES ($1)", self.tables.schema);
            sqlx::query(AssertSqlSafe(q))
                .bind(version)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        let now = Utc::now();
        let (mut y, mut m) = (now.year(), now.month());
        for _ in 0..=PARTITIONS_AHEAD {
            self.ensure_partition(y, m).await?;
            (y, m) = next_month(y, m);
        }
        Ok(())
    }

    /// Makes sure the partition of `year`-`month` exists, moving any rows of that month
    /// out of the default partition.
    ///
    /// # Errors
    /// [`Error::Sqlx`], e.g. when the role may not create tables.
    pub async fn ensure_partition(&self, year: i32, month: u32) -> Result<(), Error> {
        if self
            .known_months
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&(year, month))
        {
            return Ok(());
        }
        let name = self.partition_name(year, month);
        let (start, end) = month_bounds(year, month);
        let parent = &self.tables.events;
        let default = format!("{parent}_default");
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
            .bind(format!("activity-partition:{parent}"))
            .execute(&mut *tx)
            .await?;
        let exists: bool = sqlx::query("SELECT to_regclass($1) IS NOT NULL")
            .bind(&name)
            .fetch_one(&mut *tx)
            .await?
            .get(0);
        if !exists {
            let statements = [
                format!("CREATE TABLE {name} (LIKE {parent} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"),
                format!("INSERT INTO {name} SELECT * FROM {default} WHERE time_us >= {start} AND time_us < {end}"),
                format!("DELETE FROM {default} WHERE time_us >= {start} AND time_us < {end}"),
                format!("ALTER TABLE {parent} ATTACH PARTITION {name} FOR VALUES FROM ({start}) TO ({end})"),
            ];
            for s in statements {
                sqlx::query(AssertSqlSafe(s)).execute(&mut *tx).await?;
            }
        }
        tx.commit().await?;
        self.known_months
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert((year, month));
        Ok(())
    }

    /// Drops every monthly partition that ends at or before `cutoff`, returning how
    /// many rows went with them. A partition that `cutoff` falls inside is kept (its
    /// expired rows are for [`ActivityStore::delete`](activity_core::ActivityStore::delete)).
    /// Only for a cut-off that holds for every tenant (no legal hold, the shortest
    /// retention): dropping a partition removes all tenants' events in it.
    ///
    /// # Errors
    /// [`Error::Sqlx`], e.g. when the role may not drop tables.
    pub async fn drop_partitions_before(&self, cutoff: DateTime<Utc>) -> Result<u64, Error> {
        Ok(self.drop_partitions(cutoff).await?.total())
    }

    /// Drops the partitions ending at or before `cutoff`, counting their rows per tenant
    /// in the same transaction as each drop.
    async fn drop_partitions(
        &self,
        cutoff: DateTime<Utc>,
    ) -> Result<activity_core::store::DroppedPartitions, Error> {
        let pattern = format!("{}_p______", self.tables.events);
        let rows = sqlx::query(
            "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
             WHERE i.inhparent = to_regclass($1) AND c.relname LIKE $2 ORDER BY 1",
        )
        .bind(&self.tables.events)
        .bind(pattern)
        .fetch_all(&self.pool)
        .await?;
        let mut out = activity_core::store::DroppedPartitions::default();
        let mut by: std::collections::BTreeMap<Option<String>, u64> = Default::default();
        for row in rows {
            let name: String = row.get(0);
            let digits = &name[name.len() - 6..];
            let (Ok(y), Ok(m)) = (digits[..4].parse::<i32>(), digits[4..].parse::<u32>()) else {
                continue;
            };
            let (_, end) = month_bounds(y, m);
            if end > cutoff.timestamp_micros() {
                continue;
            }
            let mut tx = self.pool.begin().await?;
            let counts = sqlx::query(AssertSqlSafe(format!(
                "SELECT tenant, COUNT(*) FROM {name} GROUP BY tenant"
            )))
            .fetch_all(&mut *tx)
            .await?;
            sqlx::query(AssertSqlSafe(format!("DROP TABLE {name}")))
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            self.known_months
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&(y, m));
            for c in counts {
                let t: Option<String> = c.get(0);
                let n: i64 = c.get(1);
                *by.entry(t).or_default() += n as u64;
            }
            out.partitions.push(name);
        }
        out.events = by.into_iter().collect();
        Ok(out)
    }

    /// The purger's hook: [`drop_partitions_before`](Self::drop_partitions_before) with
    /// the counts per tenant.
    async fn drop_partitions_hook(
        &self,
        before: DateTime<Utc>,
    ) -> activity_core::Result<activity_core::store::DroppedPartitions> {
        self.drop_partitions(before)
            .await
            .map_err(|e| e.into_core(Backend::Postgres))
    }

    /// Rows per INSERT or COPY: one statement binds one array per column, whatever the
    /// count.
    const ROWS_PER_INSERT: usize = 5000;

    /// Writes a chunk: with `COPY` in binary format inside a savepoint; a chunk that
    /// meets an id already stored (a retried batch, or the same event twice) rolls back
    /// to the savepoint and goes through the `UNNEST` insert, which skips those.
    async fn insert_chunk(
        &self,
        tx: &mut sqlx::Transaction<'_, Postgres>,
        chunk: &[ActivityEvent],
    ) -> Result<u64, sqlx::Error> {
        if !self.copy {
            return self.insert_unnest(tx, chunk).await;
        }
        sqlx::query("SAVEPOINT activity_copy")
            .execute(&mut **tx)
            .await?;
        match self.copy_chunk(tx, chunk).await {
            Ok(n) => {
                sqlx::query("RELEASE SAVEPOINT activity_copy")
                    .execute(&mut **tx)
                    .await?;
                Ok(n)
            }
            Err(e)
                if e.as_database_error()
                    .and_then(|d| d.code())
                    .is_some_and(|c| c == "23505") =>
            {
                sqlx::query("ROLLBACK TO SAVEPOINT activity_copy")
                    .execute(&mut **tx)
                    .await?;
                self.insert_unnest(tx, chunk).await
            }
            Err(e) => Err(e),
        }
    }

    /// `COPY <events> (COLUMNS) FROM STDIN (FORMAT binary)` of a chunk: values travel in
    /// PostgreSQL's binary representation, so no text is ever escaped or parsed.
    async fn copy_chunk(
        &self,
        tx: &mut sqlx::Transaction<'_, Postgres>,
        chunk: &[ActivityEvent],
    ) -> Result<u64, sqlx::Error> {
        let statement = format!(
            "COPY {} ({}) FROM STDIN (FORMAT binary)",
            self.tables.events,
            sql::COLUMNS.join(", ")
        );
        let data = copy_binary(chunk);
        let mut copy = tx.copy_in_raw(&statement).await?;
        if let Err(e) = copy.send(data).await {
            // The connection is mid-COPY: end it (the transaction is then rolled back).
            let _ = copy.abort("activity: sending the batch failed").await;
            return Err(e);
        }
        copy.finish().await
    }

    /// Inserts a chunk with one `INSERT … SELECT FROM UNNEST(arrays)`: 27 array parameters
    /// instead of 27 per row, which PostgreSQL plans and parses once.
    async fn insert_unnest(
        &self,
        tx: &mut sqlx::Transaction<'_, Postgres>,
        chunk: &[ActivityEvent],
    ) -> Result<u64, sqlx::Error> {
        let n = chunk.len();
        let mut ids: Vec<Vec<u8>> = Vec::with_capacity(n);
        let mut ints: [Vec<Option<i64>>; 3] = Default::default(); // time_us, accuracy, chain_seq
        let mut reals: [Vec<Option<f64>>; 2] = Default::default();
        let mut texts: Vec<Vec<Option<String>>> = (0..21).map(|_| Vec::with_capacity(n)).collect();
        for e in chunk {
            let mut t = 0;
            for (col, v) in sql::event_values(e).into_iter().enumerate() {
                match (col, v) {
                    (0, Val::Bytes(b)) => ids.push(b),
                    (1, Val::Int(x)) => ints[0].push(x),
                    (19, Val::Int(x)) => ints[1].push(x),
                    (24, Val::Int(x)) => ints[2].push(x),
                    (17, Val::Real(x)) => reals[0].push(x),
                    (18, Val::Real(x)) => reals[1].push(x),
                    (_, Val::Text(x)) => {
                        texts[t].push(x);
                        t += 1;
                    }
                    _ => {}
                }
            }
        }
        // Column order of the UNNEST list, matched to COLUMNS by the names below.
        let text_cols: Vec<&str> = sql::COLUMNS
            .iter()
            .enumerate()
            .filter(|(i, _)| !matches!(i, 0 | 1 | 17 | 18 | 19 | 24))
            .map(|(_, c)| *c)
            .collect();
        let mut params = vec![
            "$1::bytea[]".to_string(),
            "$2::bigint[]".into(),
            "$3::bigint[]".into(),
            "$4::bigint[]".into(),
            "$5::float8[]".into(),
            "$6::float8[]".into(),
        ];
        let mut names = vec![
            "id",
            "time_us",
            "geo_accuracy_km",
            "chain_seq",
            "geo_lat",
            "geo_lon",
        ];
        for (i, c) in text_cols.iter().enumerate() {
            params.push(format!("${}::text[]", i + 7));
            names.push(c);
        }
        let select: Vec<String> = names
            .iter()
            .map(|c| {
                if *c == "details" {
                    "details::jsonb".to_string()
                } else {
                    (*c).to_string()
                }
            })
            .collect();
        let sql_text = format!(
            "INSERT INTO {} ({}) SELECT {} FROM UNNEST({}) AS u({}) ON CONFLICT DO NOTHING",
            self.tables.events,
            names.join(", "),
            select.join(", "),
            params.join(", "),
            names.join(", ")
        );
        let [time_us, accuracy, seq] = ints;
        let [lat, lon] = reals;
        let mut q = sqlx::query(AssertSqlSafe(sql_text))
            .bind(ids)
            .bind(time_us)
            .bind(accuracy)
            .bind(seq)
            .bind(lat)
            .bind(lon);
        for col in texts {
            q = q.bind(col);
        }
        Ok(q.execute(&mut **tx).await?.rows_affected())
    }

    /// A pooled connection for one store operation.
    async fn lease(&self) -> Result<sqlx::pool::PoolConnection<Postgres>, sqlx::Error> {
        self.pool.acquire().await
    }

    /// Creates the partitions a batch needs (and the month after each), once per month
    /// per process. A role that may not create tables still appends: its rows go to the
    /// default partition.
    async fn prepare_append(&self, events: &[ActivityEvent]) -> activity_core::Result<()> {
        let mut months: Vec<(i32, u32)> = Vec::new();
        {
            let known = self.known_months.lock().unwrap_or_else(|p| p.into_inner());
            for e in events {
                let ym = (e.time.year(), e.time.month());
                if !known.contains(&ym) && !months.contains(&ym) {
                    months.push(ym);
                }
            }
        }
        for (y, m) in months {
            for (yy, mm) in [(y, m), next_month(y, m)] {
                if let Err(e) = self.ensure_partition(yy, mm).await {
                    let core = e.into_core(Backend::Postgres);
                    if core.is_retryable() {
                        return Err(core);
                    }
                    tracing::warn!(error = %core, "cannot create partition; rows go to the default partition");
                    self.known_months
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert((yy, mm));
                }
            }
        }
        Ok(())
    }

    /// The plan PostgreSQL chooses for `query` (EXPLAIN lines).
    ///
    /// # Errors
    /// The database's errors.
    pub async fn explain(&self, query: &ActivityQuery) -> Result<Vec<String>, Error> {
        self.explain_stmt(sql::select(Dialect::Postgres, &self.tables.events, query))
            .await
    }

    /// The plan of the count of `query`.
    ///
    /// # Errors
    /// The database's errors.
    pub async fn explain_count(&self, query: &ActivityQuery) -> Result<Vec<String>, Error> {
        self.explain_stmt(sql::count(Dialect::Postgres, &self.tables.events, query))
            .await
    }

    /// The plan of the retention delete's selection.
    ///
    /// # Errors
    /// The database's errors.
    pub async fn explain_delete(&self, request: &DeleteRequest) -> Result<Vec<String>, Error> {
        self.explain_stmt(sql::doomed_ids(
            Dialect::Postgres,
            &self.tables.events,
            request,
        ))
        .await
    }

    async fn explain_stmt(&self, s: Stmt) -> Result<Vec<String>, Error> {
        let mut tx = self.pool.begin().await?;
        // Tiny test tables would otherwise be read sequentially whatever the indexes.
        sqlx::query("SET LOCAL enable_seqscan = off")
            .execute(&mut *tx)
            .await?;
        let rows = bind_all(
            sqlx::query(AssertSqlSafe(format!("EXPLAIN {}", s.sql))),
            s.binds,
        )
        .fetch_all(&mut *tx)
        .await?;
        tx.rollback().await?;
        Ok(rows.iter().map(|r| r.get::<String, _>(0)).collect())
    }
}

/// The `COPY … (FORMAT binary)` stream of `events` in [`sql::COLUMNS`] order: the
/// signature and header, then per row the field count and each field as a length and
/// its bytes (-1 for NULL), then the trailer. `bytea` is the raw bytes, `bigint` and
/// `float8` big-endian, `text` UTF-8, `jsonb` a version byte (1) and the JSON text.
fn copy_binary(events: &[ActivityEvent]) -> Vec<u8> {
    let mut out = Vec::with_capacity(19 + events.len() * 400);
    out.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
    out.extend_from_slice(&0i32.to_be_bytes()); // flags
    out.extend_from_slice(&0i32.to_be_bytes()); // header extension length
    let field = |out: &mut Vec<u8>, bytes: &[u8]| {
        // Every value is capped far below 2 GiB by validation.
        out.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
        out.extend_from_slice(bytes);
    };
    let null = |out: &mut Vec<u8>| out.extend_from_slice(&(-1i32).to_be_bytes());
    for e in events {
        out.extend_from_slice(&(sql::COLUMNS.len() as i16).to_be_bytes());
        for (col, v) in sql::event_values(e).into_iter().enumerate() {
            match v {
                Val::Bytes(b) => field(&mut out, &b),
                Val::Int(Some(x)) => field(&mut out, &x.to_be_bytes()),
                Val::Real(Some(x)) => field(&mut out, &x.to_bits().to_be_bytes()),
                Val::Text(Some(t)) if col == sql::DETAILS_COLUMN => {
                    out.extend_from_slice(&(t.len() as i32 + 1).to_be_bytes());
                    out.push(1);
                    out.extend_from_slice(t.as_bytes());
                }
                Val::Text(Some(t)) => field(&mut out, t.as_bytes()),
                Val::Int(None) | Val::Real(None) | Val::Text(None) => null(&mut out),
            }
        }
    }
    out.extend_from_slice(&(-1i16).to_be_bytes());
    out
}

crate::store_impl::impl_activity_store!(
    PgStore,
    sqlx::Postgres,
    Dialect::Postgres,
    Backend::Postgres,
    bind_all
);
