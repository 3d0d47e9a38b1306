//! [`NatsSink`]: the committed log published to a JetStream stream.

use activity_core::sinks::{Sink, SinkFormat};
use activity_core::{ActivityEvent, Result};
use async_nats::jetstream::message::PublishMessage;
use async_nats::HeaderMap;
use async_trait::async_trait;

use super::{delivery, jetstream, NatsTarget};

/// Publishes each event of a batch as one JetStream message on the target's subject,
/// with the event id as `Nats-Msg-Id` (JetStream drops a copy published again within
/// the stream's duplicate window), and with [`headers`](Self::headers)
/// `Activity-Action` / `Activity-Tenant` for consumers that filter without parsing. The whole batch is sent before its
/// acknowledgements are awaited; `deliver` returns `Ok` once the server acknowledged
/// every message as stored.
///
/// ```no_run
/// use std::sync::Arc;
/// use activity_core::sinks::SinkRunner;
/// use activity_sqlx::{NatsSink, SqliteStore};
/// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
/// let store = Arc::new(SqliteStore::connect("sqlite://activity.db").await?);
/// store.migrate().await?;
/// let sink = NatsSink::connect(&"nats://127.0.0.1:4222/ACTIVITY".parse()?).await?;
/// let running = SinkRunner::new("bus", store, Arc::new(sink))?.spawn();
/// # running.stop().await;
/// # Ok(()) }
/// ```
pub struct NatsSink {
    js: async_nats::jetstream::Context,
    /// Shared bytes: cloned per message without copying.
    subject: async_nats::Subject,
    format: SinkFormat,
    headers: bool,
}

impl std::fmt::Debug for NatsSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsSink")
            .field("subject", &self.subject)
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

impl NatsSink {
    /// Connects to the target's server and creates its stream if missing.
    ///
    /// # Errors
    /// [`Error::Delivery`](activity_core::Error::Delivery) when the server cannot be
    /// reached or refuses the stream.
    pub async fn connect(target: &NatsTarget) -> Result<Self> {
        Ok(Self {
            js: jetstream(target).await?,
            subject: async_nats::Subject::from(target.subject.clone()),
            format: SinkFormat::Json,
            headers: false,
        })
    }

    /// Also sends `Activity-Action` and `Activity-Tenant` headers (default off: the
    /// payload carries both, and every header is bytes on every message).
    pub fn headers(mut self, on: bool) -> Self {
        self.headers = on;
        self
    }

    /// Schema v1 JSON (default; what [`NatsIngest`](super::NatsIngest) reads) or OCSF.
    pub fn format(mut self, format: SinkFormat) -> Self {
        self.format = format;
        self
    }
}

#[async_trait]
impl Sink for NatsSink {
    fn kind(&self) -> &'static str {
        "nats"
    }

    async fn deliver(&self, events: &[ActivityEvent]) -> Result<()> {
        let mut acks = Vec::with_capacity(events.len());
        for e in events {
            let mut message = PublishMessage::build().payload(self.format.encode(e)?.into());
            if self.headers {
                let mut headers = HeaderMap::new();
                headers.insert("Activity-Action", e.action.as_str());
                if let Some(t) = &e.tenant {
                    // A header value is one line: a tenant is validated to have no
                    // control characters.
                    headers.insert("Activity-Tenant", t.as_str());
                }
                message = message.headers(headers);
            }
            let mut id = [0u8; uuid::fmt::Hyphenated::LENGTH];
            let message = message.message_id(e.id.hyphenated().encode_lower(&mut id));
            let ack = self
                .js
                .send_publish(self.subject.clone(), message)
                .await
                .map_err(|e| delivery("publish", e))?;
            acks.push(std::future::IntoFuture::into_future(ack));
        }
        for ack in futures_util::future::join_all(acks).await {
            ack.map_err(|e| delivery("acknowledgement", e))?;
        }
        Ok(())
    }
}
