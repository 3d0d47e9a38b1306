//! # activity-sqlx
//!
//! [`ActivityStore`](activity_core::ActivityStore) implementations over sqlx 0.9:
//! SQLite (the embedded default, feature `sqlite`), with runtime queries only, so that
//! building never needs a database.
//!
//! ```
//! use activity_sqlx::SqliteStore;
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
//! store.migrate().await.unwrap(); // safe on every start
//! # });
//! ```
//!
//! Each store keeps the SDK's tables (`<prefix>activity_events`,
//! `<prefix>activity_chain_heads`, `<prefix>activity_schema`) apart from the
//! application's own, and its migrations in its own version table. Sealed batches and
//! their chain heads are written in one transaction
//! ([`ActivityStore::append_sealed`](activity_core::ActivityStore::append_sealed)); on
//! PostgreSQL the retention purge drops whole expired monthly partitions
//! ([`ActivityStore::drop_expired_partitions`](activity_core::ActivityStore::drop_expired_partitions)).
//!
//! A SQLite file store reads bulk pages (export, verification, archiving) through
//! [`rusqlite`](https://docs.rs/rusqlite) on query-only connections of its own, building
//! events straight from the rows' values, and reads the next page while the caller works
//! through this one; rusqlite links the same bundled SQLite as sqlx.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod backend;
#[cfg(feature = "cli")]
pub mod cli;
mod error;
#[cfg(any(feature = "sqlite", feature = "mysql"))]
mod migrate;
#[cfg(feature = "mysql")]
mod mysql;
#[cfg(feature = "postgres")]
mod postgres;
mod schema;
mod sql;
#[cfg(feature = "sqlite")]
mod sqlite;

pub use activity_core;
pub use error::Error;
#[cfg(feature = "mysql")]
pub use mysql::{MySqlOptions, MySqlStore};
#[cfg(feature = "postgres")]
pub use postgres::{PgOptions, PgStore, PARTITIONS_AHEAD};
pub use schema::{Tables, SCHEMA_VERSION};
#[cfg(feature = "sqlite")]
pub use sqlite::{Durability, SqliteOptions, SqliteStore};
pub use sqlx;
