//! [`PgOptions`]: how a [`PgStore`](super::PgStore) connects.

use std::time::Duration;

/// Settings for [`PgStore::connect_with`](super::PgStore::connect_with).
///
/// ```
/// use std::time::Duration;
/// use activity_sqlx::PgOptions;
/// let o = PgOptions::new("postgres://app@db/app")
///     .prefix("app_")
///     .max_connections(16)
///     .acquire_timeout(Duration::from_secs(5))
///     .copy(false);
/// assert_eq!(o.url(), "postgres://app@db/app");
/// ```
#[derive(Debug, Clone)]
pub struct PgOptions {
    pub(super) url: String,
    pub(super) prefix: String,
    pub(super) max_connections: u32,
    pub(super) acquire_timeout: Duration,
    pub(super) copy: bool,
}

impl PgOptions {
    /// Options for a `postgres://…` URL.
    ///
    /// ```
    /// let o = activity_sqlx::PgOptions::new("postgres://app@db/app");
    /// assert_eq!(o.url(), "postgres://app@db/app");
    /// ```
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            prefix: String::new(),
            max_connections: 8,
            acquire_timeout: Duration::from_secs(10),
            copy: true,
        }
    }

    /// The URL the options are for.
    ///
    /// ```
    /// assert_eq!(activity_sqlx::PgOptions::new("postgres://app@db/app").url(), "postgres://app@db/app");
    /// ```
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A prefix for the SDK's table names (default none; validated at connect).
    ///
    /// ```
    /// let o = activity_sqlx::PgOptions::new("postgres://app@db/app").prefix("app_");
    /// ```
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How many connections the store's pool opens at most (default 8).
    ///
    /// ```
    /// let o = activity_sqlx::PgOptions::new("postgres://app@db/app").max_connections(32);
    /// ```
    pub fn max_connections(mut self, n: u32) -> Self {
        self.max_connections = n.max(1);
        self
    }

    /// How long an operation waits for a free connection before failing with a
    /// retryable timeout (default 10 s).
    ///
    /// ```
    /// use std::time::Duration;
    /// let o = activity_sqlx::PgOptions::new("postgres://app@db/app").acquire_timeout(Duration::from_secs(3));
    /// ```
    pub fn acquire_timeout(mut self, t: Duration) -> Self {
        self.acquire_timeout = t;
        self
    }

    /// Whether batches are written with `COPY` (default `true`); see
    /// [`PgStore::copy`](super::PgStore::copy).
    ///
    /// ```
    /// // Behind a proxy that does not pass COPY through.
    /// let o = activity_sqlx::PgOptions::new("postgres://app@db/app").copy(false);
    /// ```
    pub fn copy(mut self, on: bool) -> Self {
        self.copy = on;
        self
    }
}
