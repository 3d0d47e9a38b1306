//! [`SqliteOptions`] and [`Durability`]: how a [`SqliteStore`](super::SqliteStore) opens its
//! database.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};

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

/// Settings for [`SqliteStore::connect_with`](super::SqliteStore::connect_with).
///
/// ```
/// use std::time::Duration;
/// use activity_sqlx::{Durability, SqliteOptions};
/// let o = SqliteOptions::new("sqlite://activity.db")
///     .durability(Durability::Full)
///     .prefix("app_")
///     .max_connections(8)
///     .acquire_timeout(Duration::from_secs(3));
/// assert_eq!(o.url(), "sqlite://activity.db");
/// ```
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    pub(super) url: String,
    pub(super) durability: Durability,
    pub(super) busy_timeout: Duration,
    pub(super) acquire_timeout: Option<Duration>,
    pub(super) prefix: String,
    pub(super) max_connections: u32,
    pub(super) cache_kib: u32,
}

impl SqliteOptions {
    /// Options for a `sqlite://path` URL, a plain file path, or `sqlite::memory:`.
    ///
    /// ```
    /// use activity_sqlx::SqliteOptions;
    /// let file = SqliteOptions::new("sqlite://activity.db");
    /// let path = SqliteOptions::new("/var/lib/app/activity.db");
    /// assert_eq!((file.url(), path.url()), ("sqlite://activity.db", "/var/lib/app/activity.db"));
    /// ```
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            durability: Durability::Normal,
            busy_timeout: Duration::from_secs(5),
            acquire_timeout: None,
            prefix: String::new(),
            max_connections: 4,
            cache_kib: 64 * 1024,
        }
    }

    /// The URL or path the options are for.
    ///
    /// ```
    /// assert_eq!(activity_sqlx::SqliteOptions::new("sqlite::memory:").url(), "sqlite::memory:");
    /// ```
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A prefix for the SDK's table names (default none; validated at connect).
    ///
    /// ```
    /// use activity_sqlx::{SqliteOptions, SqliteStore};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let store = SqliteStore::connect_with(SqliteOptions::new("sqlite::memory:").prefix("app_")).await.unwrap();
    /// assert_eq!(store.tables().schema, "app_activity_schema");
    /// # });
    /// ```
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How many connections the store's operations use at once (default 4; 1 for
    /// in-memory databases). For a file, the store's bulk reads (export, verification,
    /// archiving: pages of [`MAX_PAGE_SIZE`](activity_core::query::MAX_PAGE_SIZE) events) run
    /// on query-only connections of their own, up to the same number, and the pool
    /// [`SqliteStore::pool`](super::SqliteStore::pool) returns for the application's own queries has the same limit;
    /// both open their connections only when used. Each connection has its own page cache
    /// of [`cache_kib`](Self::cache_kib).
    ///
    /// ```
    /// // One connection: writes and reads of one process, one at a time.
    /// let o = activity_sqlx::SqliteOptions::new("sqlite://activity.db").max_connections(1);
    /// ```
    pub fn max_connections(mut self, n: u32) -> Self {
        self.max_connections = n.max(1);
        self
    }

    /// How long an operation waits for a free connection before failing with a
    /// retryable timeout (default: the [`busy_timeout`](Self::busy_timeout) and 5 s
    /// more, so that waiting for a connection gives up a little after a lock wait would).
    ///
    /// ```
    /// use std::time::Duration;
    /// let o = activity_sqlx::SqliteOptions::new("sqlite://activity.db").acquire_timeout(Duration::from_secs(2));
    /// ```
    pub fn acquire_timeout(mut self, t: Duration) -> Self {
        self.acquire_timeout = Some(t);
        self
    }

    /// Durability (default [`Durability::Normal`]).
    ///
    /// ```
    /// use activity_sqlx::{Durability, SqliteOptions};
    /// let o = SqliteOptions::new("sqlite://activity.db").durability(Durability::Full);
    /// ```
    pub fn durability(mut self, d: Durability) -> Self {
        self.durability = d;
        self
    }

    /// How long a statement waits for a lock held by another connection or process
    /// before failing with a retryable error (default 5 s).
    ///
    /// ```
    /// use std::time::Duration;
    /// let o = activity_sqlx::SqliteOptions::new("sqlite://activity.db").busy_timeout(Duration::from_secs(1));
    /// ```
    pub fn busy_timeout(mut self, t: Duration) -> Self {
        self.busy_timeout = t;
        self
    }

    /// SQLite's page cache per connection, in KiB (default 65,536: 64 MiB).
    ///
    /// ```
    /// // 16 MiB per connection, for a small machine.
    /// let o = activity_sqlx::SqliteOptions::new("sqlite://activity.db").cache_kib(16 * 1024);
    /// ```
    pub fn cache_kib(mut self, kib: u32) -> Self {
        self.cache_kib = kib.max(256);
        self
    }

    /// The acquire timeout in effect.
    pub(super) fn acquire_timeout_or_default(&self) -> Duration {
        self.acquire_timeout
            .unwrap_or(self.busy_timeout + Duration::from_secs(5))
    }

    /// Whether the URL names an in-memory database.
    pub(super) fn in_memory(&self) -> bool {
        let url = self.url.trim();
        url.contains(":memory:") || url.contains("mode=memory")
    }

    /// sqlx's connect options: WAL (a journal in memory for an in-memory database), the
    /// durability's `synchronous`, the busy timeout, the page cache.
    pub(super) fn connect_options(&self) -> Result<SqliteConnectOptions, sqlx::Error> {
        let url = self.url.trim();
        let base = if url.starts_with("sqlite:") {
            SqliteConnectOptions::from_str(url)?
        } else {
            SqliteConnectOptions::new().filename(url)
        };
        Ok(base
            .create_if_missing(true)
            .journal_mode(if self.in_memory() {
                SqliteJournalMode::Memory
            } else {
                SqliteJournalMode::Wal
            })
            .synchronous(match self.durability {
                Durability::Normal => SqliteSynchronous::Normal,
                Durability::Full => SqliteSynchronous::Full,
            })
            .busy_timeout(self.busy_timeout)
            // A page cache large enough for the indexes' working set: with the default
            // 2 MB, appends into a large log spend their time re-reading index pages.
            .pragma("cache_size", format!("-{}", self.cache_kib))
            .pragma("temp_store", "memory"))
    }
}
