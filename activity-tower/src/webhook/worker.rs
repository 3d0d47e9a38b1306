//! The delivery task: one per sink, posting queued alerts in order, each attempt bounded
//! by the timeout and retried with backoff; and the state it shares with the sink.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use activity_core::Clock;
use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::connect::Connect;
use hyper_util::client::legacy::Client;
use tokio::sync::{mpsc, Notify};

use super::signature::{sign, ATTEMPT_HEADER, DELIVERY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER};

const RESPONSE_BODY_LIMIT: usize = 64 * 1024;

#[derive(Debug, Default)]
pub(super) struct Shared {
    pub(super) delivered: AtomicU64,
    pub(super) retried: AtomicU64,
    pub(super) failed: AtomicU64,
    pub(super) dropped: AtomicU64,
    pub(super) pending: AtomicU64,
    pub(super) idle: Notify,
}

pub(super) struct Job {
    pub(super) id: String,
    pub(super) rule: String,
    pub(super) body: Bytes,
}

pub(super) fn finish_one(shared: &Shared) {
    if shared.pending.fetch_sub(1, Ordering::AcqRel) == 1 {
        shared.idle.notify_waiters();
    }
}

pub(super) struct Worker<C> {
    pub(super) client: Client<C, Full<Bytes>>,
    pub(super) uri: Arc<Uri>,
    pub(super) secret: Vec<u8>,
    pub(super) timeout: Duration,
    pub(super) retries: u32,
    pub(super) backoff_initial: Duration,
    pub(super) backoff_max: Duration,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) shared: Arc<Shared>,
}

/// How one attempt ended.
enum Attempt {
    Delivered,
    Retry(String),
    Fail(String),
}

impl<C> Worker<C>
where
    C: Connect + Clone + Send + Sync + 'static,
{
    pub(super) async fn run(self, mut rx: mpsc::Receiver<Job>) {
        while let Some(job) = rx.recv().await {
            self.send(&job).await;
            finish_one(&self.shared);
        }
    }

    async fn send(&self, job: &Job) {
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let why = match self.attempt(job, attempt).await {
                Attempt::Delivered => {
                    self.shared.delivered.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(rule = %job.rule, alert = %job.id, attempt, "webhook: delivered");
                    return;
                }
                Attempt::Fail(why) => why,
                Attempt::Retry(why) if attempt <= self.retries => {
                    self.shared.retried.fetch_add(1, Ordering::Relaxed);
                    let wait = self.backoff(attempt);
                    tracing::info!(rule = %job.rule, alert = %job.id, attempt, retry_in_ms = wait.as_millis() as u64, "webhook: {why}; will retry");
                    tokio::time::sleep(wait).await;
                    continue;
                }
                Attempt::Retry(why) => format!("{why}, after {attempt} attempts"),
            };
            self.shared.failed.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                rule = %job.rule,
                alert = %job.id,
                attempt,
                failed = self.shared.failed.load(Ordering::Relaxed),
                "webhook: not delivered: {why} (it is in the audit log)"
            );
            return;
        }
    }

    /// The wait after failed attempt `n` (1-based): initial × 2^(n-1), capped, then a
    /// random point in its upper half.
    fn backoff(&self, n: u32) -> Duration {
        let full = self
            .backoff_initial
            .saturating_mul(1u32.checked_shl(n.saturating_sub(1)).unwrap_or(u32::MAX))
            .min(self.backoff_max);
        let r = uuid::Uuid::new_v4().as_u128() as u64;
        let half = full / 2;
        let extra_nanos = u64::try_from(half.as_nanos())
            .unwrap_or(u64::MAX)
            .checked_add(1)
            .map_or(0, |span| r % span);
        half + Duration::from_nanos(extra_nanos)
    }

    async fn attempt(&self, job: &Job, attempt: u32) -> Attempt {
        let ts = self.clock.now().timestamp();
        let req = Request::builder()
            .method(Method::POST)
            .uri(self.uri.as_ref().clone())
            .header(header::CONTENT_TYPE, "application/json")
            .header(
                header::USER_AGENT,
                concat!("activity-webhook/", env!("CARGO_PKG_VERSION")),
            )
            .header(TIMESTAMP_HEADER, ts)
            .header(SIGNATURE_HEADER, sign(&self.secret, ts, &job.body))
            .header(DELIVERY_HEADER, job.id.as_str())
            .header(ATTEMPT_HEADER, HeaderValue::from(attempt))
            .body(Full::new(job.body.clone()));
        let req = match req {
            Ok(r) => r,
            Err(e) => return Attempt::Fail(format!("request could not be built: {e}")),
        };
        let exchange = async {
            let resp = self.client.request(req).await?;
            let status = resp.status();
            // Read (a bounded amount of) the body so the connection can be reused.
            let _ = Limited::new(resp.into_body(), RESPONSE_BODY_LIMIT)
                .collect()
                .await;
            Ok::<StatusCode, hyper_util::client::legacy::Error>(status)
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Err(_) => Attempt::Retry(format!("no answer within {:?}", self.timeout)),
            Ok(Err(e)) => Attempt::Retry(format!("request failed: {}", error_chain(&e))),
            Ok(Ok(s)) if s.is_success() => Attempt::Delivered,
            Ok(Ok(s))
                if s.is_server_error()
                    || s == StatusCode::REQUEST_TIMEOUT
                    || s == StatusCode::TOO_MANY_REQUESTS =>
            {
                Attempt::Retry(format!("endpoint answered {s}"))
            }
            Ok(Ok(s)) => Attempt::Fail(format!("endpoint answered {s} (not retried)")),
        }
    }
}

/// `e` and its sources, `: `-separated (what a connection error really was).
pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(inner) = cur {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        cur = inner.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use activity_core::SystemClock;
    use hyper_util::client::legacy::connect::HttpConnector;
    use hyper_util::rt::TokioExecutor;

    const SECRET: &[u8] = b"a shared secret of 16+ bytes";

    #[test]
    fn backoff_doubles_up_to_the_cap_with_jitter_in_the_upper_half() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let _g = rt.enter();
        let w = Worker {
            client: Client::builder(TokioExecutor::new()).build(HttpConnector::new()),
            uri: Arc::new(Uri::from_static("http://127.0.0.1:9/")),
            secret: SECRET.to_vec(),
            timeout: Duration::from_secs(1),
            retries: 10,
            backoff_initial: Duration::from_millis(100),
            backoff_max: Duration::from_millis(1000),
            clock: Arc::new(SystemClock),
            shared: Arc::default(),
        };
        for (n, full) in [
            (1, 100),
            (2, 200),
            (3, 400),
            (4, 800),
            (5, 1000),
            (40, 1000),
        ] {
            for _ in 0..50 {
                let b = w.backoff(n).as_millis() as u64;
                assert!((full / 2..=full).contains(&b), "attempt {n}: {b} ms");
            }
        }
    }
}
