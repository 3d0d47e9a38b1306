//! [`WebhookSink`] (feature `webhook`): alerts delivered as signed JSON `POST`s.
//!
//! # What the receiver gets
//!
//! One `POST` per alert, `Content-Type: application/json`, whose body is the
//! [`Alert`] as JSON plus `"id"`, the id of the `alert.raised` event that stores the same
//! alert in the audit log:
//!
//! ```json
//! {"id":"…","rule":"failed_logins","severity":"high","account":"bob","tenant":null,
//!  "evidence":["…"],"message":"5 failed logins for account bob within 15 minutes",
//!  "time":"2026-11-24T09:04:00Z","trigger":"…"}
//! ```
//!
//! and these headers:
//!
//! | header | value |
//! |---|---|
//! | `X-Activity-Timestamp` | the sending time, Unix seconds (decimal), from the sink's [`Clock`] |
//! | `X-Activity-Signature` | `sha256=` and the lowercase hex HMAC-SHA256, keyed with the shared secret, of the timestamp's decimal text, a `.`, then the exact body bytes |
//! | `X-Activity-Delivery` | the alert's id (the same as the body's `"id"`), identical on every retry, so the receiver can drop duplicates |
//! | `X-Activity-Attempt` | 1 for the first try, 2 for the first retry, … |
//!
//! The receiver recomputes the MAC over `"{timestamp}.{body}"`, compares in constant time,
//! and rejects a timestamp too far from its own clock (five minutes is usual), so a
//! captured request cannot be replayed later; [`verify_signature`] does exactly that.
//! Each retry is signed afresh with its own timestamp.
//!
//! # Signed checkpoints
//!
//! The sink is also a [`CheckpointSink`]: given to a
//! [`CheckpointWriter`](activity_core::signed::CheckpointWriter) (`.sink(Arc::new(webhook))`),
//! it posts each signed checkpoint as it is written, the body being the checkpoint file's
//! JSON ([`SignedCheckpoint`]), `X-Activity-Delivery` `checkpoint-<number>`, signed with
//! the same headers. The receiver keeps a copy the database's administrator cannot reach;
//! the Ed25519 signature inside lets anyone check it with the public key alone.
//!
//! # Delivery
//!
//! [`AlertSink::deliver`] only puts the alert in the sink's bounded queue (it never waits
//! on the network), and one task of the sink's own posts them in order. Each attempt is
//! bounded by [`timeout`](WebhookBuilder::timeout) (connecting, the response head and
//! reading up to 64 KiB of the response body). A 5xx, a `408` or `429`, a timeout or a
//! connection error is retried up to [`retries`](WebhookBuilder::retries) times, after an
//! exponential backoff with jitter ([`backoff`](WebhookBuilder::backoff)); any other
//! status (a 4xx: the request itself is wrong, repeating it will not help, or a 3xx: not
//! followed) fails at once. Nothing is dropped silently: an alert that finds the queue
//! full, or that fails after its retries, is logged at WARN and counted in
//! [`WebhookStats`] — and it stays in the audit log as its `alert.raised` event either way.
//!
//! # Transport
//!
//! The sink uses hyper-util's client. The default connector speaks plain HTTP only (no
//! TLS library is compiled in); for an `https://` endpoint give it a TLS connector with
//! [`WebhookBuilder::connector`], e.g. `hyper_rustls::HttpsConnectorBuilder`'s.
//!
//! ```
//! use activity_core::alerts::AlertEngine;
//! use activity_tower::webhook::WebhookSink;
//! use std::time::Duration;
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let webhook = WebhookSink::builder("http://127.0.0.1:9/alerts", b"a shared secret of 16+ bytes")
//!     .timeout(Duration::from_secs(5))
//!     .retries(3)
//!     .start()?;
//! let engine = AlertEngine::with_defaults().sink(webhook.clone());
//! // … later, for monitoring:
//! let stats = webhook.stats();
//! assert_eq!(stats.failed + stats.dropped, 0);
//! # Ok::<(), activity_tower::Error>(())
//! # }).unwrap();
//! ```

mod signature;
pub(crate) mod worker;

pub use signature::{
    sign, verify_signature, ATTEMPT_HEADER, DELIVERY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER,
};

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use activity_core::signed::{CheckpointSink, SignedCheckpoint};
use activity_core::{alerts::Alert, alerts::AlertSink, Clock, SystemClock};
use async_trait::async_trait;
use bytes::Bytes;
use http::Uri;
use http_body_util::Full;
use hyper_util::client::legacy::connect::{Connect, HttpConnector};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::sync::mpsc;

use crate::Error;
use worker::{finish_one, Job, Shared, Worker};

/// The shortest secret accepted, in bytes.
pub const MIN_SECRET_LEN: usize = 16;

/// Counters of a [`WebhookSink`], for monitoring.
///
/// ```
/// use activity_tower::webhook::{WebhookSink, WebhookStats};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let sink = WebhookSink::builder("http://127.0.0.1:9/alerts", b"a shared secret of 16+ bytes")
///     .start()?;
/// let stats: WebhookStats = sink.stats();
/// assert_eq!(stats, WebhookStats::default()); // nothing queued, sent or lost yet
/// // Alerts that never reached the endpoint (they stay in the audit log):
/// assert_eq!(stats.failed + stats.dropped, 0);
/// # Ok::<(), activity_tower::Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WebhookStats {
    /// Alerts the endpoint accepted (a 2xx).
    pub delivered: u64,
    /// Attempts that were retried (a 5xx, 408, 429, timeout or connection error).
    pub retried: u64,
    /// Alerts given up on: a non-retryable status, or still failing after every retry.
    pub failed: u64,
    /// Alerts not queued because the queue was full (or the sender task had stopped).
    pub dropped: u64,
    /// Alerts waiting in the queue or being sent right now.
    pub pending: u64,
}

/// An [`AlertSink`] that POSTs each alert as signed JSON; see the [module](self) docs.
///
/// Cloning is cheap: clones share the queue, the sending task and the counters, so keep
/// one to read [`stats`](Self::stats) after handing another to the engine.
///
/// ```
/// use activity_core::alerts::AlertEngine;
/// use activity_tower::webhook::WebhookSink;
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let sink = WebhookSink::builder("http://127.0.0.1:9/alerts?token=s3cret", b"a shared secret of 16+ bytes")
///     .start()?;
/// let _engine = AlertEngine::with_defaults().sink(sink.clone());
/// sink.idle().await; // nothing queued: returns at once
/// assert_eq!(sink.stats().pending, 0);
/// // Its debug form leaves out the query string, which may hold a token.
/// assert!(!format!("{sink:?}").contains("s3cret"));
/// # Ok::<(), activity_tower::Error>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct WebhookSink {
    tx: mpsc::Sender<Job>,
    shared: Arc<Shared>,
    url: Arc<Uri>,
}

impl std::fmt::Debug for WebhookSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The query string may hold a token: show scheme, host and path only.
        f.debug_struct("WebhookSink")
            .field("host", &self.url.host())
            .field("path", &self.url.path())
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// Configures a [`WebhookSink`]; made by [`WebhookSink::builder`].
///
/// ```
/// use std::time::Duration;
/// use activity_tower::webhook::WebhookSink;
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let secret = b"a shared secret of 16+ bytes";
/// let sink = WebhookSink::builder("http://alerts.internal:8080/hook", secret)
///     .timeout(Duration::from_secs(5))
///     .retries(5)
///     .backoff(Duration::from_millis(250), Duration::from_secs(10))
///     .queue_capacity(100)
///     .start()?;
/// // Settings are checked at start: https needs a TLS connector, secrets 16+ bytes.
/// let err = WebhookSink::builder("https://alerts.example.com/hook", secret).start().unwrap_err();
/// assert!(err.to_string().contains("webhook.url"));
/// let err = WebhookSink::builder("http://alerts.internal/hook", b"short").start().unwrap_err();
/// assert!(err.to_string().contains("webhook.secret"));
/// # Ok::<(), activity_tower::Error>(())
/// # }).unwrap();
/// ```
pub struct WebhookBuilder<C = HttpConnector> {
    url: String,
    secret: Vec<u8>,
    timeout: Duration,
    retries: u32,
    backoff_initial: Duration,
    backoff_max: Duration,
    capacity: usize,
    clock: Arc<dyn Clock>,
    connector: C,
    custom_connector: bool,
}

impl<C> std::fmt::Debug for WebhookBuilder<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookBuilder")
            .field("timeout", &self.timeout)
            .field("retries", &self.retries)
            .field("backoff_initial", &self.backoff_initial)
            .field("backoff_max", &self.backoff_max)
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl WebhookSink {
    /// A builder for an endpoint `url` (`http://…`, or `https://…` with a TLS
    /// [`connector`](WebhookBuilder::connector)) and the shared `secret` (at least
    /// [`MIN_SECRET_LEN`] bytes). Defaults: 10 s timeout per attempt, 3 retries, backoff
    /// from 500 ms doubling up to 30 s, a queue of 1,024 alerts, the system clock.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let sink = activity_tower::webhook::WebhookSink::builder(
    ///     "http://127.0.0.1:9/hook", b"a shared secret of 16+ bytes").start()?;
    /// # Ok::<(), activity_tower::Error>(()) }).unwrap();
    /// ```
    pub fn builder(url: &str, secret: &[u8]) -> WebhookBuilder {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        WebhookBuilder {
            url: url.to_owned(),
            secret: secret.to_vec(),
            timeout: Duration::from_secs(10),
            retries: 3,
            backoff_initial: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            capacity: 1024,
            clock: Arc::new(SystemClock),
            connector,
            custom_connector: false,
        }
    }

    /// The counters so far.
    pub fn stats(&self) -> WebhookStats {
        let s = &self.shared;
        WebhookStats {
            delivered: s.delivered.load(Ordering::Relaxed),
            retried: s.retried.load(Ordering::Relaxed),
            failed: s.failed.load(Ordering::Relaxed),
            dropped: s.dropped.load(Ordering::Relaxed),
            pending: s.pending.load(Ordering::Acquire),
        }
    }

    /// Waits until every queued alert has been delivered or given up on (for tests and
    /// for an orderly shutdown; bound it with `tokio::time::timeout` if the endpoint may
    /// be slow).
    pub async fn idle(&self) {
        loop {
            // Created before the check, so a notification in between is not missed.
            let notified = self.shared.idle.notified();
            if self.shared.pending.load(Ordering::Acquire) == 0 {
                return;
            }
            notified.await;
        }
    }

    fn job(alert: &Alert) -> Option<Job> {
        let id = alert.to_event().id.to_string();
        let mut body = match serde_json::to_value(alert) {
            Ok(serde_json::Value::Object(m)) => m,
            _ => return None,
        };
        body.insert("id".into(), serde_json::Value::String(id.clone()));
        let body = serde_json::to_vec(&body).ok()?;
        Some(Job {
            id,
            rule: alert.rule.clone(),
            body: Bytes::from(body),
        })
    }
}

#[async_trait]
impl AlertSink for WebhookSink {
    async fn deliver(&self, alert: &Alert) {
        let Some(job) = Self::job(alert) else {
            self.shared.failed.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(rule = %alert.rule, "webhook: alert could not be encoded as JSON; not sent (it is in the audit log)");
            return;
        };
        let (id, rule) = (job.id.clone(), job.rule.clone());
        self.shared.pending.fetch_add(1, Ordering::AcqRel);
        if let Err(e) = self.tx.try_send(job) {
            finish_one(&self.shared);
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            let why = match e {
                mpsc::error::TrySendError::Full(_) => "queue full",
                mpsc::error::TrySendError::Closed(_) => "sender task stopped",
            };
            tracing::warn!(
                rule = %rule,
                alert = %id,
                dropped = self.shared.dropped.load(Ordering::Relaxed),
                "webhook: {why}; alert not sent (it is in the audit log)"
            );
        }
    }
}

#[async_trait]
impl CheckpointSink for WebhookSink {
    /// Queues the checkpoint's JSON for a signed `POST` (see the [module](self)). Returns
    /// at once; delivery, retries and failures are as for alerts, counted in
    /// [`WebhookStats`].
    ///
    /// # Errors
    /// [`activity_core::Error::QueueFull`] when the queue is full, `Closed` when the
    /// sender task stopped: the checkpoint file is written regardless, and the
    /// checkpoint job's run reports the error.
    async fn deliver(&self, checkpoint: &SignedCheckpoint) -> activity_core::Result<()> {
        let body = serde_json::to_vec(checkpoint).map_err(activity_core::Error::Json)?;
        let job = Job {
            id: format!("checkpoint-{}", checkpoint.number),
            rule: "checkpoint".into(),
            body: Bytes::from(body),
        };
        self.shared.pending.fetch_add(1, Ordering::AcqRel);
        match self.tx.try_send(job) {
            Ok(()) => Ok(()),
            Err(e) => {
                finish_one(&self.shared);
                self.shared.dropped.fetch_add(1, Ordering::Relaxed);
                Err(match e {
                    mpsc::error::TrySendError::Full(_) => activity_core::Error::QueueFull {
                        capacity: self.tx.max_capacity(),
                    },
                    mpsc::error::TrySendError::Closed(_) => activity_core::Error::Closed,
                })
            }
        }
    }
}

impl<C> WebhookBuilder<C> {
    /// The time limit of one attempt: connecting, the response head, and reading up to
    /// 64 KiB of the response body (default 10 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How many times a retryable failure is retried (default 3, so at most 4 attempts).
    pub fn retries(mut self, retries: u32) -> Self {
        self.retries = retries;
        self
    }

    /// The wait before the first retry, doubled for each further one up to `max`; each
    /// wait is drawn between half and all of that (jitter). Default 500 ms, up to 30 s.
    pub fn backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.backoff_initial = initial;
        self.backoff_max = max.max(initial);
        self
    }

    /// How many alerts may wait to be sent (default 1,024); more are dropped, counted and
    /// logged.
    pub fn queue_capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity.max(1);
        self
    }

    /// The clock that stamps `X-Activity-Timestamp` (default the system clock).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Another hyper-util connector, e.g. a TLS one for `https://` endpoints (any
    /// `hyper_util::client::legacy::connect::Connect`).
    pub fn connector<C2>(self, connector: C2) -> WebhookBuilder<C2> {
        WebhookBuilder {
            url: self.url,
            secret: self.secret,
            timeout: self.timeout,
            retries: self.retries,
            backoff_initial: self.backoff_initial,
            backoff_max: self.backoff_max,
            capacity: self.capacity,
            clock: self.clock,
            connector,
            custom_connector: true,
        }
    }
}

impl<C> WebhookBuilder<C>
where
    C: Connect + Clone + Send + Sync + 'static,
{
    /// Checks the settings and starts the sending task on the current tokio runtime.
    ///
    /// # Errors
    /// [`Error::Config`] naming `webhook.url` for a URL that is not `http://` (or
    /// `https://` with a custom connector) with a host, `webhook.secret` for a secret
    /// shorter than [`MIN_SECRET_LEN`], `webhook.timeout` for a zero timeout, or
    /// `webhook` when called outside a tokio runtime.
    pub fn start(self) -> Result<WebhookSink, Error> {
        let uri: Uri = self
            .url
            .parse()
            .map_err(|e| Error::config("webhook.url", "not a URL").with_source(e))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some("https") if self.custom_connector => {}
            Some("https") => {
                return Err(Error::config(
                    "webhook.url",
                    "https needs a TLS connector (WebhookBuilder::connector); the default speaks plain HTTP",
                ))
            }
            _ => return Err(Error::config("webhook.url", "the scheme must be http or https")),
        }
        if uri.host().is_none_or(str::is_empty) {
            return Err(Error::config("webhook.url", "no host"));
        }
        if self.secret.len() < MIN_SECRET_LEN {
            return Err(Error::config("webhook.secret", "shorter than 16 bytes"));
        }
        if self.timeout.is_zero() {
            return Err(Error::config("webhook.timeout", "must be more than zero"));
        }
        let rt = tokio::runtime::Handle::try_current().map_err(|e| {
            Error::config("webhook", "start() must be called inside a tokio runtime").with_source(e)
        })?;
        let client: Client<C, Full<Bytes>> =
            Client::builder(TokioExecutor::new()).build(self.connector);
        let (tx, rx) = mpsc::channel(self.capacity);
        let shared = Arc::new(Shared::default());
        let uri = Arc::new(uri);
        let worker = Worker {
            client,
            uri: uri.clone(),
            secret: self.secret,
            timeout: self.timeout,
            retries: self.retries,
            backoff_initial: self.backoff_initial,
            backoff_max: self.backoff_max,
            clock: self.clock,
            shared: shared.clone(),
        };
        rt.spawn(worker.run(rx));
        Ok(WebhookSink {
            tx,
            shared,
            url: uri,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"a shared secret of 16+ bytes";

    #[tokio::test]
    async fn bad_settings_are_refused_at_start() {
        let err = |b: WebhookBuilder| b.start().unwrap_err().to_string();
        assert!(err(WebhookSink::builder("https://example.com/h", SECRET)).contains("TLS"));
        assert!(err(WebhookSink::builder("ftp://example.com/h", SECRET)).contains("scheme"));
        assert!(err(WebhookSink::builder("not a url", SECRET)).contains("webhook.url"));
        assert!(err(WebhookSink::builder("/relative", SECRET)).contains("webhook.url"));
        assert!(err(WebhookSink::builder("http://example.com/h", b"short")).contains("secret"));
        assert!(
            err(WebhookSink::builder("http://example.com/h", SECRET).timeout(Duration::ZERO))
                .contains("timeout")
        );
    }

    #[tokio::test]
    async fn every_refused_setting_is_a_config_error_naming_it() {
        let setting = |b: WebhookBuilder| match b.start().unwrap_err() {
            Error::Config { setting, .. } => setting,
            other => panic!("not a config error: {other:?}"),
        };
        let url = |u: &str| setting(WebhookSink::builder(u, SECRET));
        assert_eq!(url("https://example.com/h"), "webhook.url");
        assert_eq!(url("ftp://example.com/h"), "webhook.url");
        assert_eq!(url("not a url"), "webhook.url");
        assert_eq!(url("/relative"), "webhook.url");
        assert_eq!(
            setting(WebhookSink::builder("http://example.com/h", b"short")),
            "webhook.secret"
        );
        assert_eq!(
            setting(WebhookSink::builder("http://example.com/h", SECRET).timeout(Duration::ZERO)),
            "webhook.timeout"
        );
        // The URL parser's error is kept as the source, not repeated in the message.
        let e = WebhookSink::builder("not a url", SECRET)
            .start()
            .unwrap_err();
        let source = std::error::Error::source(&e).expect("the parser's error");
        assert!(!e.to_string().contains(&source.to_string()), "{e}");
    }

    #[test]
    fn start_outside_a_runtime_is_an_error_not_a_panic() {
        let e = WebhookSink::builder("http://127.0.0.1:9/h", SECRET)
            .start()
            .unwrap_err();
        assert!(e.to_string().contains("tokio runtime"), "{e}");
        assert!(
            matches!(
                e,
                Error::Config {
                    setting: "webhook",
                    ..
                }
            ),
            "{e:?}"
        );
    }
}
