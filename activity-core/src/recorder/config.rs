//! Recorder settings.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::error::Error;
use crate::event::ActivityEvent;

/// What [`Recorder::record`](super::Recorder::record) does when the queue is full.
///
/// The default, [`Reject`](Overflow::Reject), hands the caller an error so that nothing
/// is lost without someone knowing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Overflow {
    /// Return [`Error::QueueFull`]; the caller decides (the default).
    #[default]
    Reject,
    /// [`record_async`](super::Recorder::record_async) waits up to this long for room,
    /// then returns [`Error::QueueFull`]; the synchronous `record` behaves as `Reject`.
    Wait(Duration),
    /// Accept and discard the event, counting it in [`Metrics::dropped`](super::Metrics::dropped);
    /// the worker then records an `audit.failed` event (reason `queue_overflow`) with the count.
    Drop,
}

/// What the recorder does while its store is failing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutagePolicy {
    /// Keep accepting events into the queue and retry the store (the default). When the
    /// queue fills up, the [`Overflow`] policy applies.
    #[default]
    KeepAccepting,
    /// Refuse new events with [`Error::FailClosed`] while the store is failing, and report
    /// it through [`Recorder::health`](super::Recorder::health), so that the tower layer
    /// can refuse authentication requests that could not be audited. Events already
    /// queued are still retried and written.
    FailClosed,
}

/// How failed appends are retried: exponential backoff from `initial` to `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// First wait.
    pub initial: Duration,
    /// Longest wait.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(50),
            max: Duration::from_secs(10),
        }
    }
}

impl Backoff {
    /// The wait before retry number `attempt` (from 1).
    pub fn delay(&self, attempt: u32) -> Duration {
        let factor = 1u32
            .checked_shl(attempt.saturating_sub(1).min(20))
            .unwrap_or(u32::MAX);
        self.initial.saturating_mul(factor).min(self.max)
    }
}

/// A change in the store's health, passed to the outage callback.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum OutageNotice {
    /// Appends started failing.
    Failed {
        /// When the first failure happened.
        since: DateTime<Utc>,
        /// The error, as text.
        error: String,
    },
    /// Appends work again.
    Recovered {
        /// When the outage began.
        since: DateTime<Utc>,
        /// How long it lasted.
        duration: chrono::Duration,
        /// How many events were held back and then written.
        held_back: u64,
    },
}

pub(crate) type OutageCallback = Arc<dyn Fn(&OutageNotice) + Send + Sync>;
pub(crate) type RejectCallback = Arc<dyn Fn(&ActivityEvent, &Error) + Send + Sync>;

/// Settings of a [`Recorder`](super::Recorder); set through its builder.
#[derive(Clone)]
pub(crate) struct Config {
    pub capacity: usize,
    pub batch_size: usize,
    pub max_in_flight: usize,
    pub linger: Duration,
    pub overflow: Overflow,
    pub outage: OutagePolicy,
    pub backoff: Backoff,
    pub shutdown_timeout: Duration,
    pub writer: String,
    pub on_outage: Option<OutageCallback>,
    pub on_reject: Option<RejectCallback>,
    pub lifecycle_events: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            capacity: 65_536,
            batch_size: 512,
            max_in_flight: 1,
            linger: Duration::from_millis(2),
            overflow: Overflow::Reject,
            outage: OutagePolicy::KeepAccepting,
            backoff: Backoff::default(),
            shutdown_timeout: Duration::from_secs(30),
            writer: uuid::Uuid::now_v7().to_string(),
            on_outage: None,
            on_reject: None,
            lifecycle_events: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let b = Backoff {
            initial: Duration::from_millis(10),
            max: Duration::from_millis(100),
        };
        assert_eq!(b.delay(1), Duration::from_millis(10));
        assert_eq!(b.delay(2), Duration::from_millis(20));
        assert_eq!(b.delay(4), Duration::from_millis(80));
        assert_eq!(b.delay(5), Duration::from_millis(100));
        assert_eq!(b.delay(u32::MAX), Duration::from_millis(100));
    }
}
