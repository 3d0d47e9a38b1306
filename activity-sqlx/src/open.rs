//! [`open`]: the store a database URL names, connected and migrated.

use std::sync::Arc;

use activity_core::ActivityStore;

use crate::Error;

/// Connects to the store `url` names and migrates it: `sqlite:` (feature `sqlite`, the
/// default), `postgres:` / `postgresql:` (feature `postgres`), `mysql:` / `mariadb:`
/// (feature `mysql`). It is what the `activity` command opens its `--db` with, so an
/// application and the command given the same URL use the same tables.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let store = activity_sqlx::open("sqlite::memory:").await.unwrap();
/// # #[cfg(not(feature = "mysql"))]
/// assert!(matches!(
///     activity_sqlx::open("mariadb://db").await,
///     Err(activity_sqlx::Error::UnsupportedUrl(_))
/// ));
/// # });
/// ```
///
/// # Errors
/// [`Error::UnsupportedUrl`] for a URL whose backend this build has no feature for; the
/// backend's connection and migration errors.
pub async fn open(url: &str) -> Result<Arc<dyn ActivityStore>, Error> {
    let scheme = url.split(':').next().unwrap_or("");
    match scheme {
        #[cfg(feature = "postgres")]
        "postgres" | "postgresql" => {
            let s = crate::PgStore::connect(url).await?;
            s.migrate().await?;
            Ok(Arc::new(s))
        }
        #[cfg(feature = "mysql")]
        "mysql" | "mariadb" => {
            let s = crate::MySqlStore::connect(&url.replacen("mariadb:", "mysql:", 1)).await?;
            s.migrate().await?;
            Ok(Arc::new(s))
        }
        // Anything else is SQLite's to read (`sqlite:` URLs and its other forms), as the
        // command always did.
        #[cfg(feature = "sqlite")]
        _ if !matches!(scheme, "postgres" | "postgresql" | "mysql" | "mariadb") => {
            let s = crate::SqliteStore::connect(url).await?;
            s.migrate().await?;
            Ok(Arc::new(s))
        }
        _ => Err(Error::UnsupportedUrl(url.chars().take(200).collect())),
    }
}
