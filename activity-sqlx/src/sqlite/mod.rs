//! The SQLite store: the embedded default.
//!
//! | file | what it holds |
//! |---|---|
//! | `mod.rs` | [`SqliteStore`]: connecting, the pool, the backend hooks |
//! | `options.rs` | [`SqliteOptions`], [`Durability`] |
//! | `migrate.rs` | the schema upgrade under SQLite's write lock |
//! | `explain.rs` | query plans, for the index tests |
//! | `file.rs` | the file the store opened, checked before each append |
//! | `connections.rs`, `lifo.rs` | the store's own connections, reused newest first |
//! | `read.rs` | the read path: bulk pages, readahead, JSON |
//! | `json.rs` | rows as one JSON array built by SQLite, and parsed back |
//! | `reader.rs` | bulk pages read in place on rusqlite connections |
//! | `readahead.rs` | the next bulk page, read before it is asked for |

mod connections;
mod explain;
mod file;
mod json;
mod lifo;
mod migrate;
mod options;
mod read;
mod readahead;
mod reader;

use std::future::Future;
use std::sync::Arc;

use activity_core::{ActivityEvent, ActivityQuery, Page};

use sqlx::sqlite::{SqlitePool, SqlitePoolOptions};
use sqlx::Sqlite;

use crate::backend::{Backend, Finish};
use crate::error::Error;
use crate::schema::Tables;
use crate::sql::{Dialect, Stmt};
use connections::{Connections, Lease, Source};
pub use options::{Durability, SqliteOptions};
use readahead::Readahead;
use reader::Reader;

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
    /// The database file the store opened (none in memory or on the app's pool).
    file: Option<Arc<file::OpenedFile>>,
}

impl SqliteStore {
    /// Connects with default [`SqliteOptions`]. Call [`migrate`](Self::migrate) before use.
    ///
    /// ```
    /// use activity_sqlx::SqliteStore;
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
    /// store.migrate().await.unwrap();
    /// # });
    /// ```
    ///
    /// # Errors
    /// [`Error::Sqlx`] when the URL is malformed or the file cannot be opened.
    pub async fn connect(url: &str) -> Result<Self, Error> {
        Self::connect_with(SqliteOptions::new(url)).await
    }

    /// Connects with these options.
    ///
    /// ```
    /// use activity_sqlx::{SqliteOptions, SqliteStore};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let store = SqliteStore::connect_with(SqliteOptions::new("sqlite::memory:").prefix("app_"))
    ///     .await
    ///     .unwrap();
    /// assert_eq!(store.tables().events, "app_activity_events");
    /// # });
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidPrefix`]; [`Error::Sqlx`] when the URL is malformed or the file
    /// cannot be opened.
    pub async fn connect_with(o: SqliteOptions) -> Result<Self, Error> {
        let tables = Tables::new(&o.prefix)?;
        let opts = o.connect_options()?;
        let in_memory = o.in_memory();
        // No ping before each use: a SQLite connection is a file handle on a thread of
        // its own, not a socket that can go stale, and the ping is one more round trip
        // to that thread on every query (a third of a short query's time).
        let acquire_timeout = o.acquire_timeout_or_default();
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
        let file = Some(Arc::new(file::OpenedFile::new(opts.get_filename())));
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
            file,
        })
    }

    /// Uses a pool the application already has, with the tables unprefixed (see
    /// [`prefix`](Self::prefix)). All the store's operations run on that pool.
    ///
    /// ```
    /// use activity_sqlx::SqliteStore;
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let pool = sqlx::SqlitePool::connect("sqlite::memory:").await.unwrap();
    /// let store = SqliteStore::from_pool(pool);
    /// assert_eq!(store.tables().events, "activity_events");
    /// # });
    /// ```
    pub fn from_pool(pool: SqlitePool) -> Self {
        Self::on_pool(pool, Tables::unprefixed())
    }

    /// The same store with its tables under `prefix`: the way to give a prefix to a
    /// store made [`from_pool`](Self::from_pool).
    ///
    /// ```
    /// use activity_sqlx::{Error, SqliteStore};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let pool = sqlx::SqlitePool::connect("sqlite::memory:").await.unwrap();
    /// let store = SqliteStore::from_pool(pool.clone()).prefix("app_").unwrap();
    /// assert_eq!(store.tables().events, "app_activity_events");
    /// let bad = SqliteStore::from_pool(pool).prefix("x; DROP TABLE t; --");
    /// assert!(matches!(bad, Err(Error::InvalidPrefix(_))));
    /// # });
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidPrefix`].
    pub fn prefix(self, prefix: &str) -> Result<Self, Error> {
        Ok(Self {
            tables: Tables::new(prefix)?,
            // A read ahead belongs to the tables it read.
            readahead: Arc::default(),
            ..self
        })
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
            file: None,
        }
    }

    /// The pool: the one handed to [`from_pool`](Self::from_pool), or, for a store that
    /// opened a file itself, a pool of its own for the application's queries (the store's
    /// operations run on connections of their own, reused newest first and returned
    /// without sqlx's per-release check, which a local file does not need).
    ///
    /// ```
    /// use activity_sqlx::SqliteStore;
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
    /// let one: i64 = sqlx::query_scalar("SELECT 1").fetch_one(store.pool()).await.unwrap();
    /// assert_eq!(one, 1);
    /// # });
    /// ```
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// The table names.
    ///
    /// ```
    /// use activity_sqlx::SqliteStore;
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
    /// assert_eq!(store.tables().chain_heads, "activity_chain_heads");
    /// # });
    /// ```
    pub fn tables(&self) -> &Tables {
        &self.tables
    }

    /// The access policies ([`activity_core::access`]) kept beside this store's tables
    /// (`<prefix>activity_access_policies` and `<prefix>activity_access_version`, created
    /// here if missing), for [`AccessControl::load`](activity_core::access::AccessControl::load).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use activity_core::access::AccessControl;
    /// use activity_sqlx::{SqliteStore};
    /// let store = SqliteStore::connect("sqlite::memory:").await?;
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
        crate::backend::PolicyTables::open(self.clone()).await
    }
}

impl Backend for SqliteStore {
    type Db = Sqlite;
    type Conn = Lease;
    const DIALECT: Dialect = Dialect::Sqlite;

    fn tables(&self) -> &Tables {
        &self.tables
    }

    fn lease(&self) -> impl Future<Output = Result<Lease, sqlx::Error>> + Send {
        self.connections.acquire()
    }

    /// The path must still name the file the store opened (see `file.rs`).
    fn prepare_append(
        &self,
        events: &[ActivityEvent],
    ) -> impl Future<Output = activity_core::Result<()>> + Send {
        let _ = events;
        let checked = self.file.as_ref().map_or(Ok(()), |f| f.check());
        async move { checked }
    }

    /// A commit that went into a file deleted meanwhile is not stored: an outage (the
    /// batch is kept and retried; appends are idempotent).
    fn after_append(&self) -> activity_core::Result<()> {
        self.file.as_ref().map_or(Ok(()), |f| f.check())
    }

    /// Through the readahead, the reader or JSON (see `read.rs`).
    fn fetch_page(
        &self,
        query: &ActivityQuery,
        s: Stmt,
        expected: usize,
    ) -> impl Future<Output = activity_core::Result<Vec<ActivityEvent>>> + Send {
        self.read_query_page(query, s, expected)
    }

    /// Through the reader, rows read in place on a blocking thread, when the store has
    /// one (a file it opened).
    async fn fetch_log(
        &self,
        s: Stmt,
        expected: usize,
    ) -> activity_core::Result<Vec<activity_core::sinks::LoggedEvent>> {
        match &self.reader {
            Some(reader) => reader.read_log(s, expected).await,
            None => {
                let rows = crate::backend::fetch_all(self, s)
                    .await
                    .map_err(crate::backend::err::<Self>)?;
                rows.iter()
                    .map(crate::backend::logged_from_row::<Self>)
                    .collect()
            }
        }
    }

    /// Several queries' JSON in one statement (see `read.rs`).
    fn query_many(
        &self,
        queries: &[ActivityQuery],
    ) -> impl Future<Output = activity_core::Result<Vec<Page>>> + Send {
        self.query_json_many(queries)
    }
}

crate::backend::forward_activity_store!(SqliteStore);
