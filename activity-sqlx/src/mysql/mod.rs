//! The MySQL / MariaDB store.
//!
//! | file | what it holds |
//! |---|---|
//! | `mod.rs` | [`MySqlStore`]: connecting, the pool, the backend hooks |
//! | `options.rs` | [`MySqlOptions`] |
//! | `migrate.rs` | the schema upgrade under a named lock |
//! | `explain.rs` | query plans, for the index tests |

mod explain;
mod migrate;
mod options;

use std::future::Future;

use sqlx::mysql::{MySql, MySqlPool, MySqlPoolOptions};

use crate::backend::Backend;
use crate::error::Error;
use crate::schema::Tables;
use crate::sql::Dialect;
pub use options::MySqlOptions;

/// An [`ActivityStore`](activity_core::ActivityStore) in MySQL 8 or MariaDB 10.6+
/// (InnoDB, utf8mb4 with a binary no-pad collation so comparisons are exact).
///
/// ```no_run
/// use activity_core::{ActivityEvent, ActivityQuery, ActivityStore, Actor};
/// use activity_sqlx::MySqlStore;
/// # async fn demo() -> Result<(), activity_sqlx::Error> {
/// let store = MySqlStore::connect("mysql://app@db.internal/app").await?;
/// store.migrate().await?; // safe on every start
/// let failed = ActivityEvent::login_failed(Actor::user("Bob"));
/// store.append(&[failed.clone()]).await?;
/// let this = ActivityQuery::new().ids([failed.id]);
/// assert_eq!(store.count(&this.clone().actor("Bob")).await?, 1);
/// // Exact comparison, no case folding: `bob` is another account.
/// assert_eq!(store.count(&this.actor("bob")).await?, 0);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct MySqlStore {
    pool: MySqlPool,
    tables: Tables,
}

impl MySqlStore {
    /// Connects to `url` (`mysql://…`) with default [`MySqlOptions`]. Call
    /// [`migrate`](Self::migrate) before use.
    ///
    /// ```no_run
    /// # async fn f() -> Result<(), activity_sqlx::Error> {
    /// let store = activity_sqlx::MySqlStore::connect("mysql://app@db/app").await?;
    /// store.migrate().await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Sqlx`] when the URL is malformed or the server unreachable.
    pub async fn connect(url: &str) -> Result<Self, Error> {
        Self::connect_with(MySqlOptions::new(url)).await
    }

    /// Connects with these options.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use activity_sqlx::{MySqlOptions, MySqlStore};
    /// # async fn f() -> Result<(), activity_sqlx::Error> {
    /// let options = MySqlOptions::new("mysql://app@db/app")
    ///     .prefix("app_")
    ///     .max_connections(16)
    ///     .acquire_timeout(Duration::from_secs(5));
    /// let store = MySqlStore::connect_with(options).await?;
    /// assert_eq!(store.tables().events, "app_activity_events");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidPrefix`]; [`Error::Sqlx`] when the URL is malformed or the server
    /// unreachable.
    pub async fn connect_with(o: MySqlOptions) -> Result<Self, Error> {
        let tables = Tables::new(&o.prefix)?;
        let pool = MySqlPoolOptions::new()
            .max_connections(o.max_connections)
            .acquire_timeout(o.acquire_timeout)
            .connect(&o.url)
            .await?;
        Ok(Self { pool, tables })
    }

    /// Uses a pool the application already has, with the tables unprefixed (see
    /// [`prefix`](Self::prefix)).
    ///
    /// ```no_run
    /// use activity_sqlx::MySqlStore;
    /// # async fn f() -> Result<(), activity_sqlx::Error> {
    /// let pool = sqlx::MySqlPool::connect("mysql://app@db/app").await?;
    /// let store = MySqlStore::from_pool(pool);
    /// assert_eq!(store.tables().events, "activity_events");
    /// # Ok(()) }
    /// ```
    pub fn from_pool(pool: MySqlPool) -> Self {
        Self {
            pool,
            tables: Tables::unprefixed(),
        }
    }

    /// The same store with its tables under `prefix`: the way to give a prefix to a
    /// store made [`from_pool`](Self::from_pool).
    ///
    /// ```no_run
    /// use activity_sqlx::MySqlStore;
    /// # async fn f() -> Result<(), activity_sqlx::Error> {
    /// let pool = sqlx::MySqlPool::connect("mysql://app@db/app").await?;
    /// let store = MySqlStore::from_pool(pool).prefix("app_")?;
    /// assert_eq!(store.tables().events, "app_activity_events");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidPrefix`].
    pub fn prefix(self, prefix: &str) -> Result<Self, Error> {
        Ok(Self {
            tables: Tables::new(prefix)?,
            ..self
        })
    }

    /// The pool the store runs on, for the application's own queries.
    ///
    /// ```no_run
    /// # async fn f() -> Result<(), activity_sqlx::Error> {
    /// let store = activity_sqlx::MySqlStore::connect("mysql://app@db/app").await?;
    /// let one: i64 = sqlx::query_scalar("SELECT 1").fetch_one(store.pool()).await?;
    /// assert_eq!(one, 1);
    /// # Ok(()) }
    /// ```
    pub fn pool(&self) -> &MySqlPool {
        &self.pool
    }

    /// The table names.
    ///
    /// ```no_run
    /// # async fn f() -> Result<(), activity_sqlx::Error> {
    /// let store = activity_sqlx::MySqlStore::connect("mysql://app@db/app").await?;
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
    /// use activity_sqlx::{MySqlStore};
    /// let store = MySqlStore::connect("mysql://root@127.0.0.1:3306/test").await?;
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

impl Backend for MySqlStore {
    type Db = MySql;
    type Conn = sqlx::pool::PoolConnection<MySql>;
    const DIALECT: Dialect = Dialect::Mysql;

    fn tables(&self) -> &Tables {
        &self.tables
    }

    fn lease(&self) -> impl Future<Output = Result<Self::Conn, sqlx::Error>> + Send {
        self.pool.acquire()
    }
}

crate::backend::forward_activity_store!(MySqlStore);
