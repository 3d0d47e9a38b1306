//! The trait a destination implements.

use async_trait::async_trait;

use crate::error::Result;
use crate::event::ActivityEvent;

/// A destination for the committed log: NATS JetStream, an HTTP collector, files, or
/// one of the application's own (a Kafka producer slots in here: `deliver` sends the
/// batch with the event id as the record key and returns once the broker acknowledged
/// it).
///
/// A [`SinkRunner`](super::SinkRunner) calls `deliver` with the next events of the log,
/// in order, and moves the sink's cursor past them only once it returned `Ok`. A batch
/// may therefore be delivered again after a failure or a restart (at least once):
/// receivers deduplicate by event id (every delivered event carries it; the NATS sink
/// sets it as `Nats-Msg-Id`, so that JetStream drops the copy itself).
///
/// ```
/// use activity_core::{ActivityEvent, sinks::Sink};
/// use std::sync::Mutex;
///
/// #[derive(Default)]
/// struct Collect(Mutex<Vec<uuid::Uuid>>);
///
/// #[async_trait::async_trait]
/// impl Sink for Collect {
///     fn kind(&self) -> &'static str { "collect" }
///     async fn deliver(&self, events: &[ActivityEvent]) -> activity_core::Result<()> {
///         self.0.lock().unwrap().extend(events.iter().map(|e| e.id));
///         Ok(())
///     }
/// }
/// ```
#[async_trait]
pub trait Sink: Send + Sync + 'static {
    /// What it delivers to (`nats`, `http`, `file`, …), shown in its receipt.
    fn kind(&self) -> &'static str;

    /// Delivers `events` (never empty, in log order). `Ok` only when every one of them
    /// is delivered; an error leaves the cursor where it was and the batch is delivered
    /// again after a backoff.
    ///
    /// # Errors
    /// The destination refused or could not be reached ([`Error::Delivery`]).
    ///
    /// [`Error::Delivery`]: crate::Error::Delivery
    async fn deliver(&self, events: &[ActivityEvent]) -> Result<()>;
}
