//! [`MySqlOptions`]: how a [`MySqlStore`](super::MySqlStore) connects.

use std::time::Duration;

/// Settings for [`MySqlStore::connect_with`](super::MySqlStore::connect_with).
///
/// ```
/// use std::time::Duration;
/// use activity_sqlx::MySqlOptions;
/// let o = MySqlOptions::new("mysql://app@db/app")
///     .prefix("app_")
///     .max_connections(16)
///     .acquire_timeout(Duration::from_secs(5));
/// assert_eq!(o.url(), "mysql://app@db/app");
/// ```
#[derive(Debug, Clone)]
pub struct MySqlOptions {
    pub(super) url: String,
    pub(super) prefix: String,
    pub(super) max_connections: u32,
    pub(super) acquire_timeout: Duration,
}

impl MySqlOptions {
    /// Options for a `mysql://…` URL (MySQL 8 or MariaDB 10.6+).
    ///
    /// ```
    /// let o = activity_sqlx::MySqlOptions::new("mysql://app@db/app");
    /// assert_eq!(o.url(), "mysql://app@db/app");
    /// ```
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            prefix: String::new(),
            max_connections: 8,
            acquire_timeout: Duration::from_secs(10),
        }
    }

    /// The URL the options are for.
    ///
    /// ```
    /// assert_eq!(activity_sqlx::MySqlOptions::new("mysql://app@db/app").url(), "mysql://app@db/app");
    /// ```
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A prefix for the SDK's table names (default none; validated at connect).
    ///
    /// ```
    /// let o = activity_sqlx::MySqlOptions::new("mysql://app@db/app").prefix("app_");
    /// ```
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How many connections the store's pool opens at most (default 8).
    ///
    /// ```
    /// let o = activity_sqlx::MySqlOptions::new("mysql://app@db/app").max_connections(32);
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
    /// let o = activity_sqlx::MySqlOptions::new("mysql://app@db/app").acquire_timeout(Duration::from_secs(3));
    /// ```
    pub fn acquire_timeout(mut self, t: Duration) -> Self {
        self.acquire_timeout = t;
        self
    }
}
