//! Where on NATS: server, stream, subject, consumer.

use std::time::Duration;

use activity_core::{Error, Rule};

/// A JetStream stream to publish to or consume from, written as a URL:
/// `nats://host:port/STREAM?subject=activity.events&consumer=ingest`.
///
/// `STREAM` (default `ACTIVITY`) and `consumer` (default `activity-ingest`) are NATS
/// names (letters, digits, `-`, `_`); `subject` (default `activity.events`) is a dotted
/// subject without wildcards; `dedup` is the stream's duplicate window in seconds
/// (default 120) when the stream is created; `timeout` the wait for an acknowledgement
/// or an answer, in milliseconds (default 5000).
///
/// ```
/// use activity_sqlx::NatsTarget;
/// let t: NatsTarget = "nats://127.0.0.1:4222/AUDIT?subject=audit.events&consumer=pg".parse().unwrap();
/// assert_eq!((t.server.as_str(), t.stream.as_str()), ("nats://127.0.0.1:4222", "AUDIT"));
/// assert_eq!((t.subject.as_str(), t.consumer.as_str()), ("audit.events", "pg"));
/// let d: NatsTarget = "nats://localhost:4222".parse().unwrap();
/// assert_eq!((d.stream.as_str(), d.subject.as_str()), ("ACTIVITY", "activity.events"));
/// assert!("http://x/S".parse::<NatsTarget>().is_err());
/// assert!("nats://x/S?subject=a.*".parse::<NatsTarget>().is_err());
/// assert!("nats://x/S T".parse::<NatsTarget>().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatsTarget {
    /// `nats://host:port`.
    pub server: String,
    /// The stream's name.
    pub stream: String,
    /// The subject events are published on.
    pub subject: String,
    /// The durable consumer's name (ingest).
    pub consumer: String,
    /// The stream's duplicate window, when this creates it.
    pub duplicate_window: Duration,
    /// How long to wait for the server's acknowledgement or answer.
    pub timeout: Duration,
}

fn bad(why: &'static str) -> Error {
    Error::invalid("nats", Rule::Malformed(why))
}

fn name_ok(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn subject_ok(s: &str) -> bool {
    s.len() <= 256
        && s.split('.').all(|t| {
            !t.is_empty()
                && t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

impl std::str::FromStr for NatsTarget {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let rest = s
            .strip_prefix("nats://")
            .ok_or_else(|| bad("expected nats://host:port/STREAM"))?;
        let (before_query, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (host, stream) = before_query.split_once('/').unwrap_or((before_query, ""));
        if host.is_empty()
            || !host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
        {
            return Err(bad("expected a host and port"));
        }
        let stream = if stream.is_empty() {
            "ACTIVITY"
        } else {
            stream
        };
        if !name_ok(stream) {
            return Err(bad("a stream name is letters, digits, `-` and `_`"));
        }
        let mut t = NatsTarget {
            server: format!("nats://{host}"),
            stream: stream.to_owned(),
            subject: "activity.events".to_owned(),
            consumer: "activity-ingest".to_owned(),
            duplicate_window: Duration::from_secs(120),
            timeout: Duration::from_secs(5),
        };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair
                .split_once('=')
                .ok_or_else(|| bad("expected key=value"))?;
            match k {
                "subject" if subject_ok(v) => t.subject = v.to_owned(),
                "subject" => return Err(bad("a subject is dotted tokens, no wildcards")),
                "consumer" if name_ok(v) => t.consumer = v.to_owned(),
                "consumer" => return Err(bad("a consumer name is letters, digits, `-` and `_`")),
                "dedup" => {
                    let secs: u64 = v.parse().map_err(|_| bad("dedup is whole seconds"))?;
                    if secs == 0 || secs > 7 * 86_400 {
                        return Err(bad("dedup is 1 s to 7 days"));
                    }
                    t.duplicate_window = Duration::from_secs(secs);
                }
                "timeout" => {
                    let ms: u64 = v
                        .parse()
                        .map_err(|_| bad("timeout is whole milliseconds"))?;
                    if ms == 0 || ms > 600_000 {
                        return Err(bad("timeout is 1 ms to 10 minutes"));
                    }
                    t.timeout = Duration::from_millis(ms);
                }
                _ => return Err(bad("unknown parameter (subject, consumer, dedup, timeout)")),
            }
        }
        Ok(t)
    }
}
