//! [`NatsIngest`]: a JetStream stream stored into a store.

use std::sync::Arc;
use std::time::Duration;

use activity_core::{ActivityEvent, ActivityStore, Result};
use async_nats::jetstream::consumer::{pull, AckPolicy, Consumer};
use async_nats::jetstream::AckKind;
use futures_util::StreamExt;

use super::{delivery, jetstream, NatsTarget};

/// What one [`NatsIngest::ingest_once`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IngestedBatch {
    /// Messages taken from the stream.
    pub messages: usize,
    /// Events the store added (the others it held already: redelivered or published
    /// twice).
    pub stored: u64,
    /// Messages that were not an event (not schema v1 JSON, or invalid): terminated, so
    /// that they are not delivered again, and logged.
    pub rejected: usize,
}

/// Stores the events of a JetStream stream: a durable pull consumer (its name is the
/// target's `consumer`) whose messages are appended to the store in batches, and
/// acknowledged only once the append committed. Several processes with the same target
/// share the consumer's messages (each goes to one of them); a message redelivered
/// after a crash holds an id the store skips. A message that is not an event is
/// terminated and counted, never guessed at.
///
/// ```no_run
/// use std::sync::Arc;
/// use activity_sqlx::{NatsIngest, PgStore};
/// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
/// let store = Arc::new(PgStore::connect("postgres://writer@db/app").await?);
/// store.migrate().await?;
/// let ingest = NatsIngest::connect(&"nats://bus:4222/ACTIVITY?consumer=pg".parse()?, store).await?;
/// loop {
///     let batch = ingest.ingest_once().await?;
///     if batch.messages == 0 { break; }
/// }
/// # Ok(()) }
/// ```
pub struct NatsIngest {
    consumer: Consumer<pull::Config>,
    store: Arc<dyn ActivityStore>,
    batch: usize,
    wait: Duration,
}

impl std::fmt::Debug for NatsIngest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsIngest")
            .field("batch", &self.batch)
            .finish_non_exhaustive()
    }
}

impl NatsIngest {
    /// Connects, creates the stream and the durable consumer if missing.
    ///
    /// # Errors
    /// [`Error::Delivery`](activity_core::Error::Delivery) when the server cannot be
    /// reached or refuses the stream or consumer.
    pub async fn connect(target: &NatsTarget, store: Arc<dyn ActivityStore>) -> Result<Self> {
        let js = jetstream(target).await?;
        let stream = js
            .get_stream(&target.stream)
            .await
            .map_err(|e| delivery("stream", e))?;
        let consumer = stream
            .get_or_create_consumer(
                &target.consumer,
                pull::Config {
                    durable_name: Some(target.consumer.clone()),
                    ack_policy: AckPolicy::Explicit,
                    ack_wait: Duration::from_secs(30),
                    filter_subject: target.subject.clone(),
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| delivery("consumer", e))?;
        Ok(Self {
            consumer,
            store,
            batch: 500,
            wait: Duration::from_millis(500),
        })
    }

    /// Messages per batch (default 500; at least 1).
    pub fn batch(mut self, n: usize) -> Self {
        self.batch = n.max(1);
        self
    }

    /// How long a batch waits for messages to arrive (default 500 ms).
    pub fn wait(mut self, wait: Duration) -> Self {
        self.wait = wait.max(Duration::from_millis(10));
        self
    }

    /// Takes up to a batch of messages, appends their events in one store transaction,
    /// then acknowledges them. Nothing taken means the stream had nothing for this
    /// consumer within the wait.
    ///
    /// # Errors
    /// The store's error (the messages are not acknowledged and come back after the
    /// consumer's ack wait), or [`Error::Delivery`](activity_core::Error::Delivery) for
    /// the bus.
    pub async fn ingest_once(&self) -> Result<IngestedBatch> {
        let mut messages = self
            .consumer
            .fetch()
            .max_messages(self.batch)
            .expires(self.wait)
            .messages()
            .await
            .map_err(|e| delivery("fetch", e))?;
        let mut taken = Vec::new();
        while let Some(m) = messages.next().await {
            taken.push(m.map_err(|e| delivery_box("fetch", e))?);
        }
        let mut out = IngestedBatch {
            messages: taken.len(),
            ..Default::default()
        };
        let mut events = Vec::with_capacity(taken.len());
        let mut good = Vec::with_capacity(taken.len());
        for m in taken {
            match std::str::from_utf8(&m.payload)
                .ok()
                .and_then(|text| ActivityEvent::from_json(text).ok())
                .filter(|e| e.validate().is_ok())
            {
                Some(e) => {
                    events.push(e);
                    good.push(m);
                }
                None => {
                    tracing::warn!(subject = %m.subject, bytes = m.payload.len(), "a message on the stream is not an event; terminated");
                    out.rejected += 1;
                    m.ack_with(AckKind::Term)
                        .await
                        .map_err(|e| delivery_box("term", e))?;
                }
            }
        }
        if !events.is_empty() {
            out.stored = self.store.append(&events).await?;
        }
        // Sent without waiting for the server's confirmation: an acknowledgement lost on
        // the way redelivers the message after the ack wait, and the store skips its id.
        for acked in futures_util::future::join_all(good.iter().map(|m| m.ack())).await {
            acked.map_err(|e| delivery_box("ack", e))?;
        }
        Ok(out)
    }
}

fn delivery_box(what: &str, e: async_nats::Error) -> activity_core::Error {
    activity_core::Error::delivery("nats", format!("{what}: {e}"), Some(e))
}
