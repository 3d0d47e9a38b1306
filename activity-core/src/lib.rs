//! # activity-core
//!
//! The heart of the `activity` SDK: user activity monitoring and audit logging for Rust
//! servers. This crate holds everything that is neither HTTP nor SQL:
//!
//! - the event model, schema v1 ([`ActivityEvent`], [`Action`], [`Actor`], [`Source`]…)
//!   with validation that names the field and the rule ([`Error::Invalid`]);
//! - the query model ([`ActivityQuery`]) with keyset pagination ([`Cursor`], [`Page`]);
//! - the storage trait ([`ActivityStore`]) and its in-memory reference implementation
//!   ([`MemoryStore`]), plus a conformance kit (`testing`, feature `testing`) that any
//!   backend runs to prove it behaves the same;
//! - the [`Recorder`]: a non-blocking handle that queues events and a background worker
//!   that batches them into the store, retries a failing store without losing anything,
//!   and logs the log's own life (`audit.started`, `audit.failed`, …).
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
mod archive_scheduler;
mod canonical;
mod chain;
mod clock;
mod error;
mod event;
mod export;
mod geo;
mod html;
mod lockout;
mod lockout_check;
mod memory;
mod pages;
pub mod pipeline;
mod privacy;
mod query;
mod recorder;
mod retention;
pub mod review;
mod session;
mod store;
mod table;
mod timeline;

#[cfg(feature = "testing")]
pub mod testing;

pub use alerts::{
    haversine_km, AccountNotifier, Alert, AlertEngine, AlertRule, AlertSink, AnonymousIpAction,
    ChannelSink, ConcurrentSessions, Evaluation, FailedLogins, GeoAnomaly, Logins, NewDevice,
    Severity, TracingSink,
};
pub use archive::{
    archive, check_heads, read_manifest, verify_archive, ArchiveFile, ArchiveProblem, ChainSpan,
    Manifest,
};
pub use archive_scheduler::{ArchiveScheduler, ArchiveWindow, MAX_WINDOWS_PER_RUN};
pub use chain::{
    canonical_json, verified_event, verify, Break, ChainHead, ChainKey, ChainSealer, VerifyReport,
};
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{BoxError, Error, ErrorKind, Result, Rule};
pub use event::{
    format_time, limits, Action, ActivityEvent, Actor, ChainLink, Geo, Outcome, Source, Target,
    MAX_ACTION_LEN,
};
pub use export::{
    export, export_event, ocsf_event, spreadsheet_safe, ExportFormat, ExportWriter, CSV_COLUMNS,
};
pub use geo::{
    anonymous_kinds, is_global, AnonymousIpEnricher, AnonymousIpResolver, AnonymousKind,
    GeoEnricher, GeoResolver, ANONYMOUS_IP_DETAIL,
};
#[cfg(feature = "geoip")]
pub use geo::{MaxMindAnonymousIp, MaxMindResolver};
pub use html::escape_html;
pub use lockout::{AccountStatus, LockScope, LockoutConfig, LockoutPolicy};
pub use lockout_check::{LockKey, LockStatus, LockoutCheck, NeverLock};
pub use memory::MemoryStore;
pub use pages::Pages;
pub use pipeline::{AfterCommit, Enricher, Sealer};
pub use privacy::{GeoPrecision, IpPrivacy, IpStorage};
pub use query::{
    action_prefix_range, ActivityQuery, Cursor, DeleteRequest, Page, DEFAULT_PAGE_SIZE,
    MAX_FILTER_VALUES, MAX_PAGE_SIZE,
};
pub use recorder::{
    Backoff, Health, Metrics, OutageNotice, OutagePolicy, Overflow, Recorder, RecorderBuilder,
    RecorderGuard, ShutdownReport,
};
pub use retention::{PurgeReport, Purger, Retention, RetentionPolicy, TenantPurge, Tier};
pub use review::{compliance_report, ComplianceReport};
pub use review::{
    digest, overdue, sign_off, Digest, DigestOptions, DigestSink, Gap, Notable, Overdue, Ranked,
    ReviewRole, ReviewScheduler,
};
pub use session::{SessionKey, MIN_SESSION_KEY_LEN};
pub use store::{ActivityStore, DroppedPartitions};
pub use table::{escape_control, EventTable};
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
