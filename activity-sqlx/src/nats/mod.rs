//! NATS JetStream: a [sink](activity_core::sinks) that publishes the committed log to a
//! stream ([`NatsSink`]), and a consumer that stores a stream's events into a store
//! ([`NatsIngest`], `activity ingest --from nats://…`), for deployments where many app
//! instances publish to the bus and a few writers fill the database.
//!
//! ```text
//!  app instance ─ recorder ─ local SQLite ─ SinkRunner(NatsSink) ─┐
//!  app instance ─ recorder ─ local SQLite ─ SinkRunner(NatsSink) ─┼─▶ JetStream stream
//!                                                                  │   (dedup by Nats-Msg-Id)
//!            PostgreSQL ◀─ NatsIngest ◀─ durable pull consumer ◀───┤
//!            PostgreSQL ◀─ NatsIngest ◀─ (shared by the queue) ◀───┘
//! ```
//!
//! Every message is one event (schema v1 JSON, or OCSF for consumers other than
//! [`NatsIngest`]) with its id as `Nats-Msg-Id`, so that JetStream drops a copy
//! published again within the stream's duplicate window; ingest consumers sharing one
//! durable consumer share the work, ack only after the store committed, and the store
//! skips ids it holds: no event is stored twice.
//!
//! | file | what it holds |
//! |---|---|
//! | `sink.rs` | [`NatsSink`]: publish with acknowledgements |
//! | `ingest.rs` | [`NatsIngest`]: a durable pull consumer into a store |
//! | `url.rs` | [`NatsTarget`]: `nats://host:port/STREAM?subject=…&consumer=…` |

mod ingest;
mod sink;
mod url;

pub use ingest::{IngestedBatch, NatsIngest};
pub use sink::NatsSink;
pub use url::NatsTarget;

use activity_core::Error as CoreError;

/// A NATS client error as a sink's delivery error.
pub(crate) fn delivery(what: &str, e: impl std::error::Error + Send + Sync + 'static) -> CoreError {
    CoreError::delivery("nats", format!("{what}: {e}"), Some(Box::new(e)))
}

/// Connects to `server` (`nats://host:port`) and opens JetStream, with the given
/// stream created if it is missing (subjects `subject`, deduplication over `window`).
pub(crate) async fn jetstream(
    target: &NatsTarget,
) -> Result<async_nats::jetstream::Context, CoreError> {
    let client = async_nats::ConnectOptions::new()
        .name("activity")
        .connect(target.server.as_str())
        .await
        .map_err(|e| delivery("connect", e))?;
    let js = async_nats::jetstream::ContextBuilder::new()
        .timeout(target.timeout)
        .build(client);
    js.get_or_create_stream(async_nats::jetstream::stream::Config {
        name: target.stream.clone(),
        subjects: vec![target.subject.clone()],
        duplicate_window: target.duplicate_window,
        ..Default::default()
    })
    .await
    .map_err(|e| delivery("stream", e))?;
    Ok(js)
}
