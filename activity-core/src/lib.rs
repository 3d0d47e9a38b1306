//! # activity-core
//!
//! The heart of the `activity` SDK: user activity monitoring and audit logging for Rust
//! servers. This crate holds everything that is neither HTTP nor SQL.
//!
//! The crate root is the front door: the event ([`ActivityEvent`], [`Action`], [`Actor`],
//! [`Source`], …), the query ([`ActivityQuery`], [`Cursor`], [`Page`]), the storage trait
//! ([`ActivityStore`]) with its in-memory reference ([`MemoryStore`]), the [`Recorder`], the
//! errors ([`Error`], [`ErrorKind`], [`Rule`]) and the clocks. Everything else lives in the
//! module of its feature, and the modules follow the data's path:
//!
//! | module | what it holds |
//! |---|---|
//! | [`event`] | the model, schema v1: parts, actions, validation, [`limits`], session keys, and [`event::payload`], the typed details of the SDK's own events |
//! | [`query`] | filters and scopes, keyset pagination ([`Cursor`], [`Page`]), [`query::Pages`] |
//! | [`store`] | the [`ActivityStore`] trait, [`MemoryStore`], the conformance kit ([`testing`], feature `testing`) |
//! | [`recorder`] | the write path: [`Recorder`], its builder, worker, append and the stage traits ([`recorder::Enricher`], [`recorder::Sealer`], [`recorder::AfterCommit`]) |
//! | [`enrich`] | enricher stages: GeoIP, anonymous-IP, MaxMind readers (feature `geoip`), IP privacy |
//! | [`chain`] | the sealer stage and the integrity chain: key, head, canonical form, verification |
//! | [`alerts`] | the after-commit alert engine: model, evaluation, sinks, and one file per rule in `alerts::rules` |
//! | [`lockout`] | the lockout check the HTTP layer asks and the policy that locks |
//! | [`retention`] | tiers, legal holds, the purge job |
//! | [`archive`] | closed windows exported with a manifest, verified, scheduled |
//! | [`export`] | CSV, JSON Lines and OCSF export |
//! | [`review`] | access-review digests, their schedule and sign-off, compliance reports |
//! | [`timeline`] | the investigation timeline around an event or alert |
//! | [`jobs`] | the one runner of the periodic jobs (purge, archive, review) |
//! | [`text`] | escaping for the pages and terminals the SDK writes to |
//!
//! ```
//! use std::sync::Arc;
//! use activity_core::{ActivityEvent, ActivityQuery, ActivityStore, Actor, MemoryStore, Recorder};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let store = Arc::new(MemoryStore::new());
//! let (recorder, guard) = Recorder::builder(store.clone()).start();
//!
//! recorder.record(
//!     ActivityEvent::login_failed(Actor::user("alice")).with_reason("bad_password"),
//! ).unwrap();
//! recorder.flush().await.unwrap();
//!
//! let mine = store.query(&ActivityQuery::own(None, "alice")).await.unwrap();
//! assert_eq!(mine.events[0].action.as_str(), "auth.login.failed");
//! guard.shutdown().await;
//! # });
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod access;
pub mod alerts;
pub mod archive;
pub mod chain;
mod clock;
pub mod enrich;
mod error;
pub mod event;
pub mod export;
pub mod jobs;
pub mod lockout;
pub mod query;
pub mod recorder;
pub mod retention;
pub mod review;
pub mod signed;
pub mod sinks;
pub mod spool;
pub mod store;
pub mod text;
pub mod timeline;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{BoxError, Error, ErrorKind, Result, Rule};
pub use event::{limits, Action, ActivityEvent, Actor, ChainLink, Geo, Outcome, Source, Target};
pub use query::{ActivityQuery, Cursor, Page};
pub use recorder::{Recorder, RecorderBuilder, RecorderGuard};
#[cfg(feature = "testing")]
pub use store::conformance as testing;
pub use store::{ActivityStore, MemoryStore};

/// Re-exports the crates that appear in this crate's public API.
pub mod reexports {
    pub use async_trait::async_trait;
    pub use chrono;
    pub use serde_json;
    pub use uuid;
}

/// The README's snippets, compiled as doc-tests so that they stay true.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
