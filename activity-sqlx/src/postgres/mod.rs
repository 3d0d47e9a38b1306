//! The PostgreSQL store, for deployments that outgrow one machine.
//!
//! | file | what it holds |
//! |---|---|
//! | `mod.rs` | [`PgStore`]: connecting, the pool, the backend hooks |
//! | `options.rs` | [`PgOptions`] |
//! | `migrate.rs` | the schema upgrade under an advisory lock |
//! | `partitions.rs` | monthly partitions: created ahead, dropped by retention |
//! | `copy.rs` | writing a chunk: binary `COPY`, or the `UNNEST` insert |
//! | `explain.rs` | query plans, for the index tests |

mod copy;
mod explain;
mod ledger;
mod migrate;
mod options;
mod partitions;

use std::collections::HashSet;
use std::future::Future;
use std::sync::Mutex;

use activity_core::{store::DroppedPartitions, ActivityEvent};
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::Postgres;

use crate::backend::Backend;
use crate::error::Error;
use crate::schema::Tables;
use crate::sql::Dialect;
pub use ledger::PgLedger;
pub use options::PgOptions;
pub use partitions::PARTITIONS_AHEAD;

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
/// use activity_sqlx::{PgOptions, PgStore};
/// # async fn demo() -> Result<(), activity_sqlx::Error> {
/// let store = PgStore::connect_with(PgOptions::new("postgres://app@db.internal/app").prefix("app_")).await?;
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

impl PgStore {
    /// Connects to `url` (`postgres://…`) with default [`PgOptions`]. Call
    /// [`migrate`](Self::migrate) before use.
    ///
    /// ```no_run
    /// # async fn f() -> Result<(), activity_sqlx::Error> {
    /// let store = activity_sqlx::PgStore::connect("postgres://app@db/app").await?;
    /// store.migrate().await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Sqlx`] when the URL is malformed or the server unreachable.
    pub async fn connect(url: &str) -> Result<Self, Error> {
        Self::connect_with(PgOptions::new(url)).await
    }

    /// Connects with these options.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use activity_sqlx::{PgOptions, PgStore};
    /// # async fn f() -> Result<(), activity_sqlx::Error> {
    /// let options = PgOptions::new("postgres://app@db/app")
    ///     .prefix("app_")
    ///     .max_connections(16)
    ///     .acquire_timeout(Duration::from_secs(5));
    /// let store = PgStore::connect_with(options).await?;
    /// assert_eq!(store.tables().events, "app_activity_events");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidPrefix`]; [`Error::Sqlx`] when the URL is malformed or the server
    /// unreachable.
    pub async fn connect_with(o: PgOptions) -> Result<Self, Error> {
        let tables = Tables::new(&o.prefix)?;
        let pool = PgPoolOptions::new()
            .max_connections(o.max_connections)
            .acquire_timeout(o.acquire_timeout)
            .connect(&o.url)
            .await?;
        Ok(Self::with_tables(pool, tables).copy(o.copy))
    }

    /// Uses a pool the application already has, with the tables unprefixed (see
    /// [`prefix`](Self::prefix)).
    ///
    /// ```no_run
    /// use activity_sqlx::PgStore;
    /// # async fn f() -> Result<(), activity_sqlx::Error> {
    /// let pool = sqlx::PgPool::connect("postgres://app@db/app").await?;
    /// let store = PgStore::from_pool(pool);
    /// assert_eq!(store.tables().events, "activity_events");
    /// # Ok(()) }
    /// ```
    pub fn from_pool(pool: PgPool) -> Self {
        Self::with_tables(pool, Tables::unprefixed())
    }

    /// The same store with its tables under `prefix`: the way to give a prefix to a
    /// store made [`from_pool`](Self::from_pool).
    ///
    /// ```no_run
    /// use activity_sqlx::PgStore;
    /// # async fn f() -> Result<(), activity_sqlx::Error> {
    /// let pool = sqlx::PgPool::connect("postgres://app@db/app").await?;
    /// let store = PgStore::from_pool(pool).prefix("app_")?;
    /// assert_eq!(store.tables().events, "app_activity_events");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidPrefix`].
    pub fn prefix(self, prefix: &str) -> Result<Self, Error> {
        Ok(Self {
            tables: Tables::new(prefix)?,
            // The months known are the old tables' partitions.
            known_months: Mutex::new(HashSet::new()),
            ..self
        })
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
    /// that does not pass `COPY` through. [`PgOptions::copy`] sets the same at connect.
    ///
    /// ```no_run
    /// # async fn f() -> Result<(), activity_sqlx::Error> {
    /// let pool = sqlx::PgPool::connect("postgres://app@db/app").await?;
    /// let store = activity_sqlx::PgStore::from_pool(pool).copy(false);
    /// # Ok(()) }
    /// ```
    pub fn copy(mut self, on: bool) -> Self {
        self.copy = on;
        self
    }

    /// The pool the store runs on, for the application's own queries.
    ///
    /// ```no_run
    /// # async fn f() -> Result<(), activity_sqlx::Error> {
    /// let store = activity_sqlx::PgStore::connect("postgres://app@db/app").await?;
    /// let one: i32 = sqlx::query_scalar("SELECT 1").fetch_one(store.pool()).await?;
    /// assert_eq!(one, 1);
    /// # Ok(()) }
    /// ```
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The table names.
    ///
    /// ```no_run
    /// # async fn f() -> Result<(), activity_sqlx::Error> {
    /// let store = activity_sqlx::PgStore::connect("postgres://app@db/app").await?;
    /// assert_eq!(store.tables().chain_heads, "activity_chain_heads");
    /// # Ok(()) }
    /// ```
    pub fn tables(&self) -> &Tables {
        &self.tables
    }

    /// The access policies ([`activity_core::access`]) kept beside this store's tables
    /// (`<prefix>activity_access_policies` and `<prefix>activity_access_version`, created
    /// here if missing), for [`AccessControl::load`](activity_core::access::AccessControl::load).
    ///
    /// ```no_run
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use activity_core::access::AccessControl;
    /// use activity_sqlx::{PgStore};
    /// let store = PgStore::connect("postgres://postgres@127.0.0.1:5432/test").await?;
    /// store.migrate().await?;
    /// let control = AccessControl::load(store.access_policies().await?).await?;
    /// assert_eq!(control.policies().version, 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(()) }).unwrap();
    /// ```
    ///
    /// # Errors
    /// The database's (a role that may not create tables, when they are missing).
    pub async fn access_policies(
        &self,
    ) -> activity_core::Result<std::sync::Arc<dyn activity_core::access::AccessPolicyStore>> {
        // A handle on the same pool and tables (the partition cache is not needed).
        let handle = PgStore {
            pool: self.pool.clone(),
            tables: self.tables.clone(),
            known_months: Mutex::new(HashSet::new()),
            copy: self.copy,
        };
        crate::backend::PolicyTables::open(handle).await
    }
}

impl Backend for PgStore {
    type Db = Postgres;
    type Conn = sqlx::pool::PoolConnection<Postgres>;
    const DIALECT: Dialect = Dialect::Postgres;
    /// Rows per INSERT or COPY: one statement binds one array per column, whatever the
    /// count.
    const ROWS_PER_INSERT: usize = 5000;

    fn tables(&self) -> &Tables {
        &self.tables
    }

    fn lease(&self) -> impl Future<Output = Result<Self::Conn, sqlx::Error>> + Send {
        self.pool.acquire()
    }

    /// `COPY`, or the `UNNEST` insert (see `copy.rs`); the commit order comes from the
    /// columns' defaults.
    fn insert_chunk(
        &self,
        tx: &mut sqlx::Transaction<'_, Postgres>,
        chunk: &[ActivityEvent],
        first_seq: Option<i64>,
    ) -> impl Future<Output = Result<u64, sqlx::Error>> + Send {
        debug_assert!(first_seq.is_none());
        self.write_chunk(tx, chunk)
    }

    /// The columns' defaults number the events (`log_tx`, `log_seq`): nothing to take.
    fn reserve_log(
        &self,
        tx: &mut sqlx::Transaction<'_, Postgres>,
        n: usize,
    ) -> impl Future<Output = Result<Option<i64>, sqlx::Error>> + Send {
        let _ = (tx, n);
        async { Ok(None) }
    }

    /// The months' partitions (see `partitions.rs`).
    fn prepare_append(
        &self,
        events: &[ActivityEvent],
    ) -> impl Future<Output = activity_core::Result<()>> + Send {
        self.ensure_months(events)
    }

    /// Whole expired months (see `partitions.rs`).
    fn drop_partitions(
        &self,
        before: DateTime<Utc>,
    ) -> impl Future<Output = activity_core::Result<DroppedPartitions>> + Send {
        self.drop_partitions_hook(before)
    }
}

crate::backend::forward_activity_store!(PgStore);
