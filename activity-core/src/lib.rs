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

pub mod alerts;
mod archive;
mod chain;
mod clock;
mod enrich;
mod error;
pub mod event;
mod export;
pub mod jobs;
mod lockout;
mod query;
mod recorder;
mod retention;
pub mod review;
mod store;
mod text;
mod timeline;

pub use alerts::{
    AccountNotifier, Alert, AlertEngine, AlertRule, AlertSink, AnonymousIpAction,
    ChannelSink, ConcurrentSessions, Evaluation, FailedLogins, GeoAnomaly, Logins, NewDevice,
    Severity, TracingSink,
};
pub use archive::{
    archive, check_heads, read_manifest, verify_archive, ArchiveFile, ArchiveProblem, ChainSpan,
    Manifest,
};
pub use archive::{ArchiveScheduler, ArchiveWindow, MAX_WINDOWS_PER_RUN};
pub use chain::{
    canonical_json, verified_event, verify, Break, ChainHead, ChainKey, ChainSealer, VerifyReport,
};
pub use clock::{Clock, ManualClock, SystemClock};
pub use enrich::{
    anonymous_kinds, haversine_km, is_global, AnonymousIpEnricher, AnonymousIpResolver, AnonymousKind,
    GeoEnricher, GeoResolver, ANONYMOUS_IP_DETAIL,
};
pub use enrich::{GeoPrecision, IpPrivacy, IpStorage};
#[cfg(feature = "geoip")]
pub use enrich::{MaxMindAnonymousIp, MaxMindResolver};
pub use error::{BoxError, Error, ErrorKind, Result, Rule};
pub use event::{
    format_time, limits, Action, ActivityEvent, Actor, ChainLink, Geo, Outcome, Source, Target,
    MAX_ACTION_LEN,
};
pub use export::{
    export, export_event, ocsf_event, spreadsheet_safe, ExportFormat, ExportWriter, CSV_COLUMNS,
};
pub use lockout::{AccountStatus, LockScope, LockoutConfig, LockoutPolicy};
pub use lockout::{LockKey, LockStatus, LockoutCheck, NeverLock};
pub use text::escape_html;

pub use event::{SessionKey, MIN_SESSION_KEY_LEN};
pub use query::{
    action_prefix_range, ActivityQuery, Cursor, DeleteRequest, Page, Pages, DEFAULT_PAGE_SIZE,
    MAX_FILTER_VALUES, MAX_PAGE_SIZE,
};
pub use recorder::{
    AfterCommit, Backoff, Enricher, Health, Metrics, OutageNotice, OutagePolicy, Overflow,
    Recorder, RecorderBuilder, RecorderGuard, Sealer, ShutdownReport,
};
pub use retention::{PurgeReport, Purger, Retention, RetentionPolicy, TenantPurge, Tier};
pub use review::{compliance_report, ComplianceReport};
pub use review::{
    digest, overdue, sign_off, Digest, DigestOptions, DigestSink, Gap, Notable, Overdue, Ranked,
    ReviewRole, ReviewScheduler,
};
#[cfg(feature = "testing")]
pub use store::conformance as testing;
pub use store::{ActivityStore, DroppedPartitions, MemoryStore};
pub use text::{escape_control, EventTable};
pub use timeline::{
    evidence_ids, timeline, Anchor, Link, Pivot, Timeline, TimelineEntry, TimelineOptions,
};

/// Parses an RFC 3339 time into UTC (microsecond precision), with an error naming `field`.
///
/// ```
/// let t = activity_core::parse_time("since", "2026-11-24T06:30:00Z").unwrap();
/// assert_eq!(t.timestamp(), 1795501800);
/// assert!(activity_core::parse_time("since", "yesterday").is_err());
/// ```
///
/// # Errors
/// [`Error::Invalid`] when `value` is not RFC 3339.
pub fn parse_time(field: &str, value: &str) -> Result<chrono::DateTime<chrono::Utc>> {
    event::parse_time(field, value)
}

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
