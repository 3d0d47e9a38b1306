//! The MySQL / MariaDB store.

use std::time::Duration;

use activity_core::{query::DeleteRequest, ActivityEvent, ActivityQuery};
use sqlx::mysql::{MySql, MySqlArguments, MySqlPool, MySqlPoolOptions};
use sqlx::{AssertSqlSafe, Row};

use crate::error::{Backend, Error};
use crate::schema::{Tables, MYSQL, SCHEMA_VERSION};
use crate::sql::{self, Dialect, Stmt, Val};

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

fn bind_all(
    mut q: sqlx::query::Query<'_, MySql, MySqlArguments>,
    binds: Vec<Val>,
) -> sqlx::query::Query<'_, MySql, MySqlArguments> {
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

impl MySqlStore {
    /// Connects to `url` (`mysql://…`). Call [`migrate`](Self::migrate) before use.
    ///
    /// # Errors
    /// [`Error::Sqlx`].
    pub async fn connect(url: &str) -> Result<Self, Error> {
        Self::connect_with_prefix(url, "").await
    }

    /// Connects with a table prefix.
    ///
    /// # Errors
    /// [`Error::InvalidPrefix`]; [`Error::Sqlx`].
    pub async fn connect_with_prefix(url: &str, prefix: &str) -> Result<Self, Error> {
        let tables = Tables::new(prefix)?;
        let pool = MySqlPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await?;
        Ok(Self { pool, tables })
    }

    /// Uses a pool the application already has.
    ///
    /// # Errors
    /// [`Error::InvalidPrefix`].
    pub fn from_pool(pool: MySqlPool, prefix: &str) -> Result<Self, Error> {
        Ok(Self {
            pool,
            tables: Tables::new(prefix)?,
        })
    }

    /// The pool.
    pub fn pool(&self) -> &MySqlPool {
        &self.pool
    }

    /// The table names.
    pub fn tables(&self) -> &Tables {
        &self.tables
    }

    /// Creates or upgrades the schema; safe on every start and from several instances at
    /// once (a named lock serialises them).
    ///
    /// # Errors
    /// [`Error::ForeignTable`], [`Error::SchemaTooNew`] (nothing changed); [`Error::Sqlx`].
    pub async fn migrate(&self) -> Result<(), Error> {
        let mut conn = self.pool.acquire().await?;
        let lock = format!("activity-migrate:{}", self.tables.events);
        let got: Option<i64> = sqlx::query("SELECT GET_LOCK(?, 60)")
            .bind(&lock)
            .fetch_one(&mut *conn)
            .await?
            .get(0);
        if got != Some(1) {
            return Err(Error::Core(activity_core::Error::timeout(
                "could not take the migration lock within 60 s",
                None,
            )));
        }
        let result = self.migrate_locked(&mut conn).await;
        sqlx::query("SELECT RELEASE_LOCK(?)")
            .bind(&lock)
            .execute(&mut *conn)
            .await?;
        result
    }

    async fn migrate_locked(&self, conn: &mut sqlx::MySqlConnection) -> Result<(), Error> {
        let exists = |name: String| {
            sqlx::query(
                "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?",
            )
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
            let q = format!(
                "SELECT CAST(COALESCE(MAX(version), 0) AS SIGNED) FROM {}",
                self.tables.schema
            );
            sqlx::query(AssertSqlSafe(q))
                .fetch_one(&mut *conn)
                .await?
                .get(0)
        } else {
            0
        };
        self.tables.check_found(current, events == 1)?;
        let version: String = sqlx::query("SELECT VERSION()")
            .fetch_one(&mut *conn)
            .await?
            .get(0);
        let collate = if version.contains("MariaDB") {
            "utf8mb4_nopad_bin"
        } else {
            "utf8mb4_0900_bin"
        };
        if schema == 0 {
            let q = format!(
                "CREATE TABLE {} (version BIGINT NOT NULL PRIMARY KEY, applied_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP) ENGINE=InnoDB",
                self.tables.schema
            );
            sqlx::query(AssertSqlSafe(q)).execute(&mut *conn).await?;
        }
        // MySQL commits DDL implicitly, so each version is recorded right after it runs.
        for version in (current + 1)..=SCHEMA_VERSION {
            let ddl = self
                .tables
                .render(MYSQL[(version - 1) as usize])
                .replace("{collate}", collate);
            sqlx::raw_sql(AssertSqlSafe(ddl))
                .execute(&mut *conn)
                .await?;
            let q = format!("INSERT INTO {} (version) VALUES (?)", self.tables.schema);
            sqlx::query(AssertSqlSafe(q))
                .bind(version)
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    }

    crate::store_impl::values_insert!(Dialect::Mysql, MySql, bind_all);

    /// A pooled connection for one store operation.
    async fn lease(&self) -> Result<sqlx::pool::PoolConnection<MySql>, sqlx::Error> {
        self.pool.acquire().await
    }

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

    /// The plan MySQL chooses for `query`: for each table access, the key used (or
    /// `None` for a full scan).
    ///
    /// # Errors
    /// The database's errors.
    pub async fn explain(&self, query: &ActivityQuery) -> Result<Vec<Option<String>>, Error> {
        self.explain_stmt(sql::select(Dialect::Mysql, &self.tables.events, query))
            .await
    }

    /// The plan of the count of `query`.
    ///
    /// # Errors
    /// The database's errors.
    pub async fn explain_count(&self, query: &ActivityQuery) -> Result<Vec<Option<String>>, Error> {
        self.explain_stmt(sql::count(Dialect::Mysql, &self.tables.events, query))
            .await
    }

    /// The plan of the retention delete.
    ///
    /// # Errors
    /// The database's errors.
    pub async fn explain_delete(
        &self,
        request: &DeleteRequest,
    ) -> Result<Vec<Option<String>>, Error> {
        self.explain_stmt(sql::doomed_ids(
            Dialect::Mysql,
            &self.tables.events,
            request,
        ))
        .await
    }

    async fn explain_stmt(&self, s: Stmt) -> Result<Vec<Option<String>>, Error> {
        let rows = bind_all(
            sqlx::query(AssertSqlSafe(format!("EXPLAIN {}", s.sql))),
            s.binds,
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| r.try_get::<Option<String>, _>("key").ok().flatten())
            .collect())
    }
}

crate::store_impl::impl_activity_store!(
    MySqlStore,
    sqlx::MySql,
    Dialect::Mysql,
    Backend::Mysql,
    bind_all
);
