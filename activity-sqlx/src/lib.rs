//! # activity-sqlx
//!
//! [`ActivityStore`](activity_core::ActivityStore) implementations over sqlx 0.9:
//! SQLite (the embedded default, feature `sqlite`), PostgreSQL (feature `postgres`) and
//! MySQL / MariaDB (feature `mysql`), with runtime queries only, so that building never
//! needs a database.
//!
//! ```
//! use activity_sqlx::SqliteStore;
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
//! store.migrate().await.unwrap(); // safe on every start
//! # });
//! ```
//!
//! ## Three stores, built the same way
//!
//! | | SQLite | PostgreSQL | MySQL / MariaDB |
//! |---|---|---|---|
//! | a URL | [`SqliteStore::connect`] | [`PgStore::connect`] | [`MySqlStore::connect`] |
//! | options | [`SqliteStore::connect_with`]`(`[`SqliteOptions`]`)` | [`PgStore::connect_with`]`(`[`PgOptions`]`)` | [`MySqlStore::connect_with`]`(`[`MySqlOptions`]`)` |
//! | the app's pool | [`SqliteStore::from_pool`] | [`PgStore::from_pool`] | [`MySqlStore::from_pool`] |
//! | a table prefix | `.prefix(..)` on the options, or on the store (`Result`) | the same | the same |
//!
//! Every options type has `prefix`, `max_connections` and `acquire_timeout`, with the
//! backend's own settings beside them ([`Durability`], [`SqliteOptions::busy_timeout`],
//! [`PgOptions::copy`]).
//!
//! ```
//! use std::time::Duration;
//! use activity_sqlx::{SqliteOptions, SqliteStore};
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! // Options at connect ...
//! let options = SqliteOptions::new("sqlite::memory:")
//!     .prefix("app_")
//!     .max_connections(4)
//!     .acquire_timeout(Duration::from_secs(5));
//! let store = SqliteStore::connect_with(options).await.unwrap();
//! assert_eq!(store.tables().events, "app_activity_events");
//! // ... or a pool the application already has, with a prefix.
//! let pool = sqlx::SqlitePool::connect("sqlite::memory:").await.unwrap();
//! let shared = SqliteStore::from_pool(pool).prefix("app_").unwrap();
//! assert_eq!(shared.tables(), store.tables());
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
//!
//! ## Where things are
//!
//! | module | what it holds |
//! |---|---|
//! | `sqlite/` | [`SqliteStore`], [`SqliteOptions`], its migration, its own LIFO connections, the bulk reader, readahead and the JSON read path |
//! | `postgres/` | [`PgStore`], [`PgOptions`], its migration, monthly partitions, `COPY` |
//! | `mysql/` | [`MySqlStore`], [`MySqlOptions`], its migration |
//! | `nats/` | `NatsSink` and `NatsIngest` (feature `nats`): the committed log to a JetStream stream, and a stream into a store |
//! | `backend/` | the private `Backend` trait the stores implement, the [`ActivityStore`](activity_core::ActivityStore) bodies they share, and the sqlx bounds those need, stated once |
//! | `sql/` | SQL every backend shares, switched on the backend's dialect: statements, filters, rows, chain heads |
//! | `open.rs` | [`open`]: the store a URL names, connected and migrated |
//! | `migrate.rs` | the migration skeleton SQLite and MySQL share |
//! | `schema.rs` | [`Tables`], [`SCHEMA_VERSION`] and each backend's DDL |
//! | `error.rs` | [`Error`], and how database errors map onto the core's retry kinds |
//! | [`cli`] | the `activity` operator command (feature `cli`), one file per subcommand |
#![forbid(unsafe_code)]
// The tables above link every backend's types; a build without a backend's feature has
// no such item to link to.
#![cfg_attr(
    not(all(feature = "sqlite", feature = "postgres", feature = "mysql")),
    allow(rustdoc::broken_intra_doc_links)
)]
#![warn(missing_docs)]

mod backend;
#[cfg(feature = "cli")]
pub mod cli;
mod error;
#[cfg(any(feature = "sqlite", feature = "mysql"))]
mod migrate;
#[cfg(feature = "mysql")]
mod mysql;
#[cfg(feature = "nats")]
mod nats;
mod open;
#[cfg(feature = "postgres")]
mod postgres;
mod schema;
#[cfg(feature = "sqlite")]
mod spool;
mod sql;
#[cfg(feature = "sqlite")]
mod sqlite;

pub use activity_core;
pub use error::Error;
#[cfg(feature = "mysql")]
pub use mysql::{MySqlOptions, MySqlStore};
#[cfg(feature = "nats")]
pub use nats::{IngestedBatch, NatsIngest, NatsSink, NatsTarget};
pub use open::{open, open_access_policies};
#[cfg(feature = "postgres")]
pub use postgres::{PgLedger, PgOptions, PgStore, PARTITIONS_AHEAD};
pub use schema::{Tables, SCHEMA_VERSION};
#[cfg(feature = "sqlite")]
pub use spool::{SqliteSpool, DEFAULT_SPOOL_CAPACITY};
#[cfg(feature = "sqlite")]
pub use sqlite::{Durability, SqliteOptions, SqliteStore};
pub use sqlx;
