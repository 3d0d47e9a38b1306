//! Sinks: the committed log, delivered in order to SIEMs, message buses and files.
//!
//! A store that keeps a commit order ([`ActivityStore::read_log`]) hands out its events
//! with a [`LogPosition`]; a [`SinkRunner`] reads them after its sink's cursor, applies
//! the sink's [`SinkFilter`], gives the batch to the [`Sink`], and only then moves the
//! cursor, stored in the database as the sink's [`SinkState`]. Delivery is at least
//! once and in commit order, idempotent by event id; it survives restarts (the cursor
//! is in the database) and outages of the destination (retried with a [`Backoff`], the
//! failures on the receipt).
//!
//! | file | what it holds |
//! |---|---|
//! | `position.rs` | [`LogPosition`], [`LoggedEvent`] |
//! | `sink.rs` | the [`Sink`] trait |
//! | `format.rs` | [`SinkFormat`]: schema v1 JSON or OCSF |
//! | `filter.rs` | [`SinkFilter`]: action prefixes, tenants |
//! | `state.rs` | [`SinkState`], [`SinkReceipt`]: the cursor and the receipt |
//! | `runner.rs` | [`SinkRunner`], [`SinkGuard`], [`Backoff`] |
//! | `file.rs` | [`FileSink`]: rotated JSON Lines files |
//!
//! The HTTP sink (JSON Lines, OCSF or Splunk HEC, gzip, signed) is
//! `activity_tower::HttpSink`; the NATS JetStream sink is `activity_sqlx::NatsSink`.
//!
//! [`ActivityStore::read_log`]: crate::ActivityStore::read_log

mod file;
mod filter;
mod format;
mod position;
mod runner;
mod sink;
mod state;
#[cfg(test)]
mod tests;

pub use file::FileSink;
pub use filter::SinkFilter;
pub use format::SinkFormat;
pub use position::{LogPosition, LoggedEvent};
pub use runner::{check_name, Backoff, Delivered, SinkGuard, SinkRunner, MAX_SINK_NAME};
pub use sink::Sink;
pub use state::{SinkReceipt, SinkState, SinkStatus};
