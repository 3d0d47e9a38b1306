//! [`HttpSink`] (feature `webhook`): the committed log `POST`ed in batches to an HTTP
//! collector, for a [`SinkRunner`].
//!
//! # What the receiver gets
//!
//! One `POST` per batch the runner hands over, whose body is the batch as
//! [`HttpBody::JsonLines`] (schema-v1 events, one per line), [`HttpBody::OcsfLines`]
//! (OCSF events, one per line) or [`HttpBody::SplunkHec`] (Splunk HTTP Event Collector
//! objects for `/services/collector/event`), gzipped when [`gzip`](HttpSinkBuilder::gzip)
//! is on, with these headers:
//!
//! | header | value |
//! |---|---|
//! | `Content-Type` | `application/x-ndjson` (JSON Lines, OCSF) or `application/json` (Splunk HEC) |
//! | `Content-Encoding` | `gzip`, when the body is gzipped |
//! | `Authorization` | `Splunk <token>` for Splunk HEC ([`hec_token`](HttpSinkBuilder::hec_token)) |
//! | `X-Activity-Timestamp` | the sending time, Unix seconds, from the sink's [`Clock`] (with a [`secret`](HttpSinkBuilder::secret)) |
//! | `X-Activity-Signature` | `sha256=` and the hex HMAC-SHA256 of the timestamp, a `.`, and the body bytes as sent (with a secret) |
//! | `X-Activity-Delivery` | the batch's id: a hash of its events' ids, the same when the same batch is sent again |
//! | `X-Activity-Attempt` | 1, then 2, 3, … while this sink sends the same batch again after failures |
//!
//! plus the [`header`](HttpSinkBuilder::header)s configured. The signature headers are
//! those of a [`WebhookSink`](crate::webhook::WebhookSink) delivery, so a receiver checks
//! a batch exactly as it checks a webhook, with
//! [`verify_signature`](crate::webhook::verify_signature). **The signature covers the
//! bytes actually sent**: with gzip on, the compressed body; verify it before
//! decompressing.
//!
//! # Delivery
//!
//! [`Sink::deliver`] makes one attempt and returns `Ok` only when the receiver answered
//! 2xx, i.e. accepted the whole batch. Any other status (3xx are not followed), no
//! answer within the [`timeout`](HttpSinkBuilder::timeout), or a connection error is an
//! [`activity_core::Error::Delivery`] (kind `Unavailable`): the runner keeps its cursor,
//! waits its backoff and hands over the batch again. Delivery is therefore at least
//! once, in log order; receivers deduplicate by the events' `id`. For Splunk HEC a 200
//! means the collector accepted the events (indexer acknowledgement is not used).
//!
//! # Transport
//!
//! hyper-util's client, as the webhook's: the default connector speaks plain HTTP only;
//! for `https://` give [`HttpSinkBuilder::connector`] a TLS connector (e.g.
//! `hyper_rustls::HttpsConnectorBuilder`'s).
//!
//! ```no_run
//! use std::sync::Arc;
//! use std::time::Duration;
//! use activity_core::{MemoryStore, sinks::{SinkFormat, SinkRunner}};
//! use activity_tower::{HttpBody, HttpSink};
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let store = Arc::new(MemoryStore::new());
//! let splunk = HttpSink::builder("http://splunk.internal:8088/services/collector/event")
//!     .body(HttpBody::SplunkHec(SinkFormat::Json))
//!     .hec_token("00000000-0000-0000-0000-000000000000")
//!     .hec_index("audit")
//!     .gzip(true)
//!     .timeout(Duration::from_secs(5))
//!     .build()?;
//! let guard = SinkRunner::new("splunk", store, Arc::new(splunk))?.spawn();
//! // … at shutdown:
//! guard.stop().await;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! [`SinkRunner`]: activity_core::sinks::SinkRunner

mod body;

pub use body::HttpBody;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use activity_core::sinks::Sink;

use crate::webhook::worker::error_chain;
use activity_core::{ActivityEvent, Clock, SystemClock};
use async_trait::async_trait;
use bytes::Bytes;
use http::header::{self, HeaderName};
use http::{HeaderMap, HeaderValue, Method, Request, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::connect::{Connect, HttpConnector};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use sha2::{Digest, Sha256};

use crate::webhook::{
    sign, ATTEMPT_HEADER, DELIVERY_HEADER, MIN_SECRET_LEN, SIGNATURE_HEADER, TIMESTAMP_HEADER,
};
use crate::Error;
use body::HecFields;

/// The sink's kind, on its receipt and in its errors.
const KIND: &str = "http";

/// How much of a response body is read (for the connection's reuse and the error).
const RESPONSE_BODY_LIMIT: usize = 64 * 1024;

/// How much of a refusing response's body goes into the error.
const ERROR_BODY_CHARS: usize = 200;

/// Headers the sink writes itself, refused as [`HttpSinkBuilder::header`]s.
const RESERVED: [&str; 9] = [
    "content-type",
    "content-encoding",
    "content-length",
    "transfer-encoding",
    "host",
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    DELIVERY_HEADER,
    ATTEMPT_HEADER,
];

/// A [`Sink`] that `POST`s each batch to an HTTP collector as JSON Lines, OCSF lines or
/// Splunk HEC events, optionally gzipped and signed; see the [module](self) docs for what
/// the receiver gets.
///
/// Its debug form shows neither the secret, the HEC token, the configured headers'
/// values nor the URL's query string.
///
/// ```
/// use activity_tower::{HttpBody, HttpSink};
/// let sink = HttpSink::builder("http://collector.internal:8080/ingest?key=s3cret")
///     .body(HttpBody::OcsfLines)
///     .secret(b"a shared secret of 16+ bytes")
///     .build()?;
/// let debug = format!("{sink:?}");
/// assert!(debug.contains("collector.internal") && !debug.contains("s3cret"));
/// # Ok::<(), activity_tower::Error>(())
/// ```
pub struct HttpSink<C = HttpConnector> {
    client: Client<C, Full<Bytes>>,
    uri: Uri,
    body: HttpBody,
    hec: HecFields,
    authorization: Option<HeaderValue>,
    secret: Option<Vec<u8>>,
    gzip: bool,
    timeout: Duration,
    headers: HeaderMap,
    clock: Arc<dyn Clock>,
    /// The last batch sent and how many times in a row.
    attempts: Mutex<(String, u32)>,
}

impl<C> std::fmt::Debug for HttpSink<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpSink")
            .field("url", &target(&self.uri))
            .field("body", &self.body)
            .field("gzip", &self.gzip)
            .field("timeout", &self.timeout)
            .field("signed", &self.secret.is_some())
            .field(
                "hec_token",
                &self.authorization.as_ref().map(|_| "<redacted>"),
            )
            .field("hec_index", &self.hec.index)
            .field("hec_sourcetype", &self.hec.sourcetype)
            .field("hec_host", &self.hec.host)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// Configures an [`HttpSink`]; made by [`HttpSink::builder`], checked by
/// [`build`](Self::build).
///
/// ```
/// use std::time::Duration;
/// use activity_core::sinks::SinkFormat;
/// use activity_tower::{Error, HttpBody, HttpSink};
/// let sink = HttpSink::builder("http://collector.internal:8080/ingest")
///     .body(HttpBody::JsonLines)
///     .secret(b"a shared secret of 16+ bytes")
///     .gzip(true)
///     .timeout(Duration::from_secs(5))
///     .header("x-tenant", "acme")
///     .build()?;
/// // Settings are checked by build: a header value with a control character, a missing
/// // HEC token, a non-http URL.
/// let e = HttpSink::builder("http://c.internal/").header("x-a", "b\r\nx-b: c").build().unwrap_err();
/// assert!(matches!(e, Error::Config { setting: "http_sink.header", .. }));
/// let e = HttpSink::builder("http://c.internal/").body(HttpBody::SplunkHec(SinkFormat::Json)).build().unwrap_err();
/// assert!(matches!(e, Error::Config { setting: "http_sink.hec_token", .. }));
/// let e = HttpSink::builder("ftp://c.internal/").build().unwrap_err();
/// assert!(matches!(e, Error::Config { setting: "http_sink.url", .. }));
/// # Ok::<(), activity_tower::Error>(())
/// ```
pub struct HttpSinkBuilder<C = HttpConnector> {
    url: String,
    body: HttpBody,
    secret: Option<Vec<u8>>,
    gzip: bool,
    timeout: Duration,
    headers: Vec<(String, String)>,
    hec_token: Option<String>,
    hec: HecFields,
    clock: Arc<dyn Clock>,
    connector: C,
    custom_connector: bool,
}

impl<C> std::fmt::Debug for HttpSinkBuilder<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpSinkBuilder")
            .field("body", &self.body)
            .field("gzip", &self.gzip)
            .field("timeout", &self.timeout)
            .field("signed", &self.secret.is_some())
            .field("hec_token", &self.hec_token.as_ref().map(|_| "<redacted>"))
            .field("hec_index", &self.hec.index)
            .field("hec_sourcetype", &self.hec.sourcetype)
            .field("hec_host", &self.hec.host)
            .field(
                "headers",
                &self.headers.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl HttpSink {
    /// A builder for the collector at `url` (`http://…`, or `https://…` with a TLS
    /// [`connector`](HttpSinkBuilder::connector)). Defaults: [`HttpBody::JsonLines`], no
    /// gzip, unsigned, a 10 s timeout, no extra headers, the system clock.
    ///
    /// ```
    /// let sink = activity_tower::HttpSink::builder("http://127.0.0.1:9/ingest").build()?;
    /// # Ok::<(), activity_tower::Error>(())
    /// ```
    pub fn builder(url: &str) -> HttpSinkBuilder {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        HttpSinkBuilder {
            url: url.to_owned(),
            body: HttpBody::default(),
            secret: None,
            gzip: false,
            timeout: Duration::from_secs(10),
            headers: Vec::new(),
            hec_token: None,
            hec: HecFields::default(),
            clock: Arc::new(SystemClock),
            connector,
            custom_connector: false,
        }
    }
}

impl<C> HttpSink<C> {
    /// The body format it sends.
    ///
    /// ```
    /// use activity_tower::{HttpBody, HttpSink};
    /// let sink = HttpSink::builder("http://127.0.0.1:9/ingest").body(HttpBody::OcsfLines).build()?;
    /// assert_eq!(sink.body(), HttpBody::OcsfLines);
    /// # Ok::<(), activity_tower::Error>(())
    /// ```
    pub fn body(&self) -> HttpBody {
        self.body
    }

    /// The attempt number of this send of the batch `delivery`.
    fn next_attempt(&self, delivery: &str) -> u32 {
        let mut last = self
            .attempts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if last.0 == delivery {
            last.1 = last.1.saturating_add(1);
        } else {
            *last = (delivery.to_owned(), 1);
        }
        last.1
    }

    /// The request body as sent: encoded, then gzipped when configured (on a blocking
    /// thread: compressing a large batch takes milliseconds of CPU that a runtime worker
    /// of the application should not spend).
    async fn encode(&self, events: &[ActivityEvent]) -> activity_core::Result<Bytes> {
        let raw = body::encode(self.body, &self.hec, events)?;
        if !self.gzip {
            return Ok(Bytes::from(raw));
        }
        tokio::task::spawn_blocking(move || gzip(&raw))
            .await
            .map_err(|e| {
                activity_core::Error::delivery(KIND, format!("gzip task failed: {e}"), None)
            })?
    }

    fn request(
        &self,
        body: Bytes,
        delivery: &str,
        attempt: u32,
    ) -> activity_core::Result<Request<Full<Bytes>>> {
        let mut headers = self.headers.clone();
        let content_type = HeaderValue::from_static(self.body.content_type());
        headers.insert(header::CONTENT_TYPE, content_type);
        if self.gzip {
            headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        if !headers.contains_key(header::USER_AGENT) {
            headers.insert(
                header::USER_AGENT,
                HeaderValue::from_static(concat!("activity-http-sink/", env!("CARGO_PKG_VERSION"))),
            );
        }
        if let Some(auth) = &self.authorization {
            headers.insert(header::AUTHORIZATION, auth.clone());
        }
        if let Some(secret) = &self.secret {
            let ts = self.clock.now().timestamp();
            headers.insert(TIMESTAMP_HEADER, HeaderValue::from(ts));
            let signature = sign(secret, ts, &body);
            // Hex and `sha256=`: always a valid header value.
            if let Ok(v) = HeaderValue::from_str(&signature) {
                headers.insert(SIGNATURE_HEADER, v);
            }
        }
        if let Ok(v) = HeaderValue::from_str(delivery) {
            headers.insert(DELIVERY_HEADER, v);
        }
        headers.insert(ATTEMPT_HEADER, HeaderValue::from(attempt));
        let mut req = Request::builder()
            .method(Method::POST)
            .uri(self.uri.clone())
            .body(Full::new(body))
            .map_err(|e| {
                activity_core::Error::delivery(
                    KIND,
                    format!("request could not be built: {e}"),
                    Some(Box::new(e)),
                )
            })?;
        *req.headers_mut() = headers;
        Ok(req)
    }
}

#[async_trait]
impl<C> Sink for HttpSink<C>
where
    C: Connect + Clone + Send + Sync + 'static,
{
    fn kind(&self) -> &'static str {
        KIND
    }

    /// `POST`s the batch once; `Ok` only on a 2xx (see the [module](self) docs).
    ///
    /// # Errors
    /// [`activity_core::Error::Delivery`] (kind `Unavailable`) for any other status, no
    /// answer within the timeout, or a connection error; the message names the
    /// collector's host and path, never its query string or the token.
    async fn deliver(&self, events: &[ActivityEvent]) -> activity_core::Result<()> {
        let body = self.encode(events).await?;
        let delivery = delivery_id(events);
        let attempt = self.next_attempt(&delivery);
        let req = self.request(body, &delivery, attempt)?;
        let exchange = async {
            let resp = self.client.request(req).await?;
            let status = resp.status();
            let text = Limited::new(resp.into_body(), RESPONSE_BODY_LIMIT)
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            Ok::<_, hyper_util::client::legacy::Error>((status, text))
        };
        let to = target(&self.uri);
        match tokio::time::timeout(self.timeout, exchange).await {
            Err(_) => Err(activity_core::Error::delivery(
                KIND,
                format!("{to}: no answer within {:?}", self.timeout),
                None,
            )),
            Ok(Err(e)) => Err(activity_core::Error::delivery(
                KIND,
                format!("{to}: request failed: {}", error_chain(&e)),
                Some(Box::new(e)),
            )),
            Ok(Ok((status, _))) if status.is_success() => {
                tracing::debug!(sink = KIND, url = %to, events = events.len(), attempt, "http sink: batch delivered");
                Ok(())
            }
            Ok(Ok((status, text))) => {
                let said: String = String::from_utf8_lossy(&text)
                    .chars()
                    .filter(|c| !c.is_control())
                    .take(ERROR_BODY_CHARS)
                    .collect();
                let said = said.trim();
                let message = if said.is_empty() {
                    format!("{to} answered {status}")
                } else {
                    format!("{to} answered {status}: {said}")
                };
                Err(activity_core::Error::delivery(KIND, message, None))
            }
        }
    }
}

impl<C> HttpSinkBuilder<C> {
    /// The body format (default [`HttpBody::JsonLines`]).
    ///
    /// ```
    /// use activity_tower::{HttpBody, HttpSink};
    /// let b = HttpSink::builder("http://127.0.0.1:9/ingest").body(HttpBody::OcsfLines);
    /// ```
    pub fn body(mut self, body: HttpBody) -> Self {
        self.body = body;
        self
    }

    /// Signs every request with this shared secret (at least 16 bytes), with the
    /// webhook's `X-Activity-Timestamp` and `X-Activity-Signature` headers; the signature
    /// covers the body as sent (gzipped, when [`gzip`](Self::gzip) is on). Default:
    /// unsigned.
    ///
    /// ```
    /// let b = activity_tower::HttpSink::builder("http://127.0.0.1:9/ingest")
    ///     .secret(b"a shared secret of 16+ bytes");
    /// ```
    pub fn secret(mut self, secret: &[u8]) -> Self {
        self.secret = Some(secret.to_vec());
        self
    }

    /// Gzips the body (`Content-Encoding: gzip`; default off).
    ///
    /// ```
    /// let b = activity_tower::HttpSink::builder("http://127.0.0.1:9/ingest").gzip(true);
    /// ```
    pub fn gzip(mut self, on: bool) -> Self {
        self.gzip = on;
        self
    }

    /// The time limit of one delivery: connecting, sending, the response head and
    /// reading up to 64 KiB of the response body (default 10 s; more than zero).
    ///
    /// ```
    /// let b = activity_tower::HttpSink::builder("http://127.0.0.1:9/ingest")
    ///     .timeout(std::time::Duration::from_secs(3));
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Adds a static header to every request (e.g. `authorization` for a collector that
    /// takes a bearer token). Checked by [`build`](Self::build): a valid name, a value
    /// of visible ASCII, spaces and tabs (no control characters), and none of the
    /// headers the sink writes itself (`content-type`, `content-encoding`,
    /// `content-length`, `transfer-encoding`, `host`, the `x-activity-*` ones, and
    /// `authorization` with a HEC token). Values never appear in the sink's debug form.
    ///
    /// ```
    /// let b = activity_tower::HttpSink::builder("http://127.0.0.1:9/ingest")
    ///     .header("authorization", "Bearer abc")
    ///     .header("x-source", "billing");
    /// ```
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// The Splunk HEC token, sent as `Authorization: Splunk <token>` (required with
    /// [`HttpBody::SplunkHec`], ignored otherwise). Never logged or shown in debug output.
    ///
    /// ```
    /// use activity_core::sinks::SinkFormat;
    /// use activity_tower::{HttpBody, HttpSink};
    /// let sink = HttpSink::builder("http://splunk.internal:8088/services/collector/event")
    ///     .body(HttpBody::SplunkHec(SinkFormat::Json))
    ///     .hec_token("12345678-abcd")
    ///     .build()?;
    /// assert!(!format!("{sink:?}").contains("12345678"));
    /// # Ok::<(), activity_tower::Error>(())
    /// ```
    pub fn hec_token(mut self, token: impl Into<String>) -> Self {
        self.hec_token = Some(token.into());
        self
    }

    /// The HEC `index` of every event (default none: the token's default index).
    ///
    /// ```
    /// let b = activity_tower::HttpSink::builder("http://127.0.0.1:9/").hec_index("audit");
    /// ```
    pub fn hec_index(mut self, index: impl Into<String>) -> Self {
        self.hec.index = Some(index.into());
        self
    }

    /// The HEC `sourcetype` of every event (default `activity:event`, or `ocsf` for
    /// OCSF events).
    ///
    /// ```
    /// let b = activity_tower::HttpSink::builder("http://127.0.0.1:9/").hec_sourcetype("myapp:audit");
    /// ```
    pub fn hec_sourcetype(mut self, sourcetype: impl Into<String>) -> Self {
        self.hec.sourcetype = Some(sourcetype.into());
        self
    }

    /// The HEC `host` of every event (default none: Splunk fills in the sender's).
    ///
    /// ```
    /// let b = activity_tower::HttpSink::builder("http://127.0.0.1:9/").hec_host("web-1");
    /// ```
    pub fn hec_host(mut self, host: impl Into<String>) -> Self {
        self.hec.host = Some(host.into());
        self
    }

    /// The clock that stamps `X-Activity-Timestamp` (default the system clock).
    ///
    /// ```
    /// use activity_core::ManualClock;
    /// let b = activity_tower::HttpSink::builder("http://127.0.0.1:9/")
    ///     .clock(ManualClock::new(chrono::Utc::now()));
    /// ```
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Another hyper-util connector, e.g. a TLS one for `https://` collectors (any
    /// `hyper_util::client::legacy::connect::Connect`).
    ///
    /// ```
    /// use hyper_util::client::legacy::connect::HttpConnector;
    /// let mut http = HttpConnector::new();
    /// http.set_keepalive(Some(std::time::Duration::from_secs(60)));
    /// let sink = activity_tower::HttpSink::builder("http://127.0.0.1:9/").connector(http).build()?;
    /// # Ok::<(), activity_tower::Error>(())
    /// ```
    pub fn connector<C2>(self, connector: C2) -> HttpSinkBuilder<C2> {
        HttpSinkBuilder {
            url: self.url,
            body: self.body,
            secret: self.secret,
            gzip: self.gzip,
            timeout: self.timeout,
            headers: self.headers,
            hec_token: self.hec_token,
            hec: self.hec,
            clock: self.clock,
            connector,
            custom_connector: true,
        }
    }
}

impl<C> HttpSinkBuilder<C>
where
    C: Connect + Clone + Send + Sync + 'static,
{
    /// Checks the settings and makes the sink (no connection is opened until the first
    /// delivery).
    ///
    /// ```
    /// let sink = activity_tower::HttpSink::builder("http://127.0.0.1:9/ingest").build()?;
    /// # Ok::<(), activity_tower::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Config`] naming `http_sink.url` for a URL that is not `http://` (or
    /// `https://` with a custom connector) with a host, `http_sink.secret` for a secret
    /// shorter than 16 bytes, `http_sink.timeout` for a zero timeout, `http_sink.header`
    /// for a header whose name or value is invalid (a control character in it) or that
    /// the sink writes itself, `http_sink.hec_token` for Splunk HEC without a token (or
    /// one with a character a header cannot hold).
    pub fn build(self) -> Result<HttpSink<C>, Error> {
        let uri: Uri = self
            .url
            .parse()
            .map_err(|e| Error::config("http_sink.url", "not a URL").with_source(e))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some("https") if self.custom_connector => {}
            Some("https") => {
                return Err(Error::config(
                    "http_sink.url",
                    "https needs a TLS connector (HttpSinkBuilder::connector); the default speaks plain HTTP",
                ))
            }
            _ => {
                return Err(Error::config(
                    "http_sink.url",
                    "the scheme must be http or https",
                ))
            }
        }
        if uri.host().is_none_or(str::is_empty) {
            return Err(Error::config("http_sink.url", "no host"));
        }
        if self
            .secret
            .as_ref()
            .is_some_and(|s| s.len() < MIN_SECRET_LEN)
        {
            return Err(Error::config("http_sink.secret", "shorter than 16 bytes"));
        }
        if self.timeout.is_zero() {
            return Err(Error::config("http_sink.timeout", "must be more than zero"));
        }
        let authorization = match (self.body, &self.hec_token) {
            (HttpBody::SplunkHec(_), None) => {
                return Err(Error::config(
                    "http_sink.hec_token",
                    "Splunk HEC needs a token",
                ))
            }
            (HttpBody::SplunkHec(_), Some(token)) => {
                let token = token.trim();
                if token.is_empty() {
                    return Err(Error::config("http_sink.hec_token", "empty"));
                }
                // The error's text would not show the token, but keep it out anyway.
                let mut v = HeaderValue::from_str(&format!("Splunk {token}")).map_err(|_| {
                    Error::config(
                        "http_sink.hec_token",
                        "only visible ASCII characters are allowed",
                    )
                })?;
                v.set_sensitive(true);
                Some(v)
            }
            _ => None,
        };
        let mut headers = HeaderMap::new();
        for (name, value) in &self.headers {
            let name = HeaderName::from_bytes(name.trim().as_bytes()).map_err(|e| {
                Error::config("http_sink.header", format!("`{name}`: not a header name"))
                    .with_source(e)
            })?;
            if RESERVED.contains(&name.as_str())
                || (authorization.is_some() && name == header::AUTHORIZATION)
            {
                return Err(Error::config(
                    "http_sink.header",
                    format!("`{name}` is written by the sink itself"),
                ));
            }
            let mut value = HeaderValue::from_str(value).map_err(|e| {
                Error::config(
                    "http_sink.header",
                    format!("`{name}`: the value holds a control or non-ASCII character"),
                )
                .with_source(e)
            })?;
            value.set_sensitive(true);
            headers.append(name, value);
        }
        let client = Client::builder(TokioExecutor::new()).build(self.connector);
        Ok(HttpSink {
            client,
            uri,
            body: self.body,
            hec: self.hec,
            authorization,
            secret: self.secret,
            gzip: self.gzip,
            timeout: self.timeout,
            headers,
            clock: self.clock,
            attempts: Mutex::new((String::new(), 0)),
        })
    }
}

/// The batch's id: the first 16 bytes of the SHA-256 of its events' ids, in hex.
fn delivery_id(events: &[ActivityEvent]) -> String {
    let mut h = Sha256::new();
    for e in events {
        h.update(e.id.as_bytes());
    }
    let digest = h.finalize();
    format!("batch-{}", hex::encode(&digest[..16]))
}

/// Scheme, host, port and path: the URL without its query string, which may hold a token.
/// `raw` gzipped.
fn gzip(raw: &[u8]) -> activity_core::Result<Bytes> {
    let mut gz = flate2::write::GzEncoder::new(
        Vec::with_capacity(raw.len() / 4 + 64),
        flate2::Compression::default(),
    );
    gz.write_all(raw)
        .and_then(|()| gz.finish())
        .map(Bytes::from)
        .map_err(|e| activity_core::Error::delivery(KIND, format!("gzip: {e}"), Some(Box::new(e))))
}

fn target(uri: &Uri) -> String {
    format!(
        "{}://{}{}",
        uri.scheme_str().unwrap_or("http"),
        uri.authority().map_or("", |a| a.as_str()),
        uri.path()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use activity_core::sinks::SinkFormat;
    use activity_core::Actor;

    fn setting(b: HttpSinkBuilder) -> &'static str {
        match b.build().unwrap_err() {
            Error::Config { setting, .. } => setting,
            other => panic!("not a config error: {other:?}"),
        }
    }

    #[test]
    fn bad_settings_are_config_errors_naming_them() {
        let url = |u: &str| setting(HttpSink::builder(u));
        assert_eq!(url("not a url"), "http_sink.url");
        assert_eq!(url("/relative"), "http_sink.url");
        assert_eq!(url("ftp://example.com/x"), "http_sink.url");
        assert_eq!(url("https://example.com/x"), "http_sink.url");
        let b = || HttpSink::builder("http://example.com/x");
        assert_eq!(setting(b().secret(b"short")), "http_sink.secret");
        assert_eq!(setting(b().timeout(Duration::ZERO)), "http_sink.timeout");
        assert_eq!(setting(b().header("x-a", "b\nc")), "http_sink.header");
        assert_eq!(setting(b().header("x-a", "b\u{7f}")), "http_sink.header");
        assert_eq!(setting(b().header("bad name", "v")), "http_sink.header");
        assert_eq!(
            setting(b().header("Content-Type", "text/plain")),
            "http_sink.header"
        );
        assert_eq!(
            setting(b().header("X-Activity-Signature", "x")),
            "http_sink.header"
        );
        let hec = || b().body(HttpBody::SplunkHec(SinkFormat::Json));
        assert_eq!(setting(hec()), "http_sink.hec_token");
        assert_eq!(setting(hec().hec_token(" ")), "http_sink.hec_token");
        assert_eq!(setting(hec().hec_token("a\u{0}b")), "http_sink.hec_token");
        assert_eq!(
            setting(hec().hec_token("t").header("authorization", "Bearer x")),
            "http_sink.header"
        );
        // Without HEC, an authorization header is the app's to set.
        assert!(b().header("authorization", "Bearer x").build().is_ok());
        // https with a connector of the app's own.
        assert!(HttpSink::builder("https://example.com/x")
            .connector(HttpConnector::new())
            .build()
            .is_ok());
    }

    #[test]
    fn debug_shows_no_secret_token_header_value_or_query() {
        let sink = HttpSink::builder("http://example.com/hec?token=q-s3cret")
            .body(HttpBody::SplunkHec(SinkFormat::Json))
            .hec_token("tok-s3cret")
            .secret(b"secret-s3cret-16+ bytes")
            .header("x-key", "hdr-s3cret")
            .build()
            .unwrap();
        let builder = HttpSink::builder("http://example.com/hec?token=q-s3cret")
            .hec_token("tok-s3cret")
            .secret(b"secret-s3cret-16+ bytes")
            .header("x-key", "hdr-s3cret");
        for debug in [format!("{sink:?}"), format!("{builder:?}")] {
            assert!(!debug.contains("s3cret"), "{debug}");
        }
        assert!(format!("{sink:?}").contains("x-key"));
    }

    #[test]
    fn the_delivery_id_follows_the_batch() {
        let a = ActivityEvent::logout(Actor::user("u_1"));
        let b = ActivityEvent::logout(Actor::user("u_2"));
        let ab = delivery_id(&[a.clone(), b.clone()]);
        assert_eq!(ab, delivery_id(&[a.clone(), b.clone()]));
        assert_ne!(ab, delivery_id(std::slice::from_ref(&a)));
        assert_ne!(ab, delivery_id(&[b, a]));
        assert_eq!(ab.len(), "batch-".len() + 32);
    }
}
