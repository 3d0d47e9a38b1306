//! Durable acknowledgement: on authentication routes the handler's answer is sent only
//! once the events it produced are durable (committed to the store).
//!
//! [`Ack::Durable`] (the default on login, MFA and password-reset-complete routes) holds
//! the events the answer produces (the attempt and, after a login, `session.created`),
//! hands them to [`Recorder::record_durable`](activity_core::Recorder::record_durable)
//! and waits, up to the layer's [durable deadline](crate::ActivityLayer::durable_deadline),
//! for the recorder's worker to commit them. Concurrent requests share the worker's
//! batches (group commit), so the wait is about one batch write, not one transaction
//! per request. [`Ack::Queued`] queues the events and answers at once (the behaviour of
//! every other route).
//!
//! **What the client sees when its events cannot be made durable in time** (the store
//! is down, the queue is full, the recorder stopped, or the store refused the event):
//! `503 Service Unavailable` with `Retry-After` (the layer's
//! [`unavailable_retry_after`](crate::ActivityLayer::unavailable_retry_after)), an empty
//! body and the request id — the same answer as the fail-closed refusal before the
//! handler. The handler's own response is dropped: its status, body and headers,
//! including any `Set-Cookie`, never reach the client, so a login whose record is not
//! durable does not hand out a session. The handler did run, though: side effects it
//! made (a server-side session row, a counter) stay, and its events stay queued and are
//! written when the store recovers, recording what the handler decided.

use std::sync::Mutex;
use std::time::Duration;

use activity_core::{ActivityEvent, Recorder};
use http::header::RETRY_AFTER;
use http::{HeaderValue, Response, StatusCode};

use super::headers::echo_request_id;
use super::rules::RouteRule;
use crate::ActivityLayer;

/// When the answer of a route is sent relative to its events being stored.
///
/// ```
/// use std::time::Duration;
/// use activity_core::{MemoryStore, Recorder};
/// use activity_tower::{Ack, ActivityLayer, RouteKind, RouteRule};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let (recorder, _guard) = Recorder::builder(std::sync::Arc::new(MemoryStore::new())).start();
/// let layer = ActivityLayer::new(recorder)
///     .rule(RouteRule::post("/login", RouteKind::Login)) // Ack::Durable: an authentication route
///     .rule_with_ack(RouteRule::post("/mfa", RouteKind::MfaVerify), Ack::Queued)
///     .durable_deadline(Duration::from_secs(2));
/// # drop(layer);
/// # });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Ack {
    /// Send the answer once its events are committed; 503 with `Retry-After` when they
    /// cannot be within the deadline. The default on authentication routes.
    Durable,
    /// Queue the events and answer at once (a crash before the next batch loses them).
    /// The default on every other route.
    Queued,
}

/// The layer's acknowledgement settings.
#[derive(Debug, Clone)]
pub(crate) struct AckConfig {
    /// The ack of authentication routes without an override.
    pub authentication: Ack,
    /// Per-route overrides, the first matching wins.
    pub routes: Vec<(RouteRule, Ack)>,
    /// How long an answer waits for its events to be durable.
    pub deadline: Duration,
}

impl Default for AckConfig {
    fn default() -> Self {
        Self {
            authentication: Ack::Durable,
            routes: Vec::new(),
            deadline: Duration::from_secs(5),
        }
    }
}

impl AckConfig {
    /// The ack of `rule` for a request of `method` and `path`.
    pub(crate) fn of(&self, rule: &RouteRule, method: &http::Method, path: &str) -> Ack {
        if let Some((_, ack)) = self.routes.iter().find(|(r, _)| r.matches(method, path)) {
            return *ack;
        }
        if rule.kind.is_authentication() {
            self.authentication
        } else {
            Ack::Queued
        }
    }
}

/// The events an answer produced, held until they are durable (under [`Ack::Durable`]).
#[derive(Debug, Default)]
pub(crate) struct Pending {
    durable: bool,
    /// `Some` between [`arm`](Self::arm) and [`settle`](Self::settle): events recorded
    /// then are held here instead of queued.
    held: Mutex<Option<Vec<ActivityEvent>>>,
}

impl Pending {
    pub(crate) fn new(ack: Ack) -> Self {
        Self {
            durable: ack == Ack::Durable,
            held: Mutex::new(None),
        }
    }

    /// From now on, events recorded for the answer are held for [`settle`](Self::settle).
    pub(crate) fn arm(&self) {
        if self.durable {
            *self.lock() = Some(Vec::new());
        }
    }

    /// Takes `event` if it is to be held; gives it back to be queued otherwise.
    pub(crate) fn hold(&self, event: ActivityEvent) -> Option<ActivityEvent> {
        match self.lock().as_mut() {
            Some(held) => {
                held.push(event);
                None
            }
            None => Some(event),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Vec<ActivityEvent>>> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sends `res` once the held events are durable; the 503 refusal otherwise.
    pub(crate) async fn settle<B: Default>(
        &self,
        res: Response<B>,
        recorder: &Recorder,
        deadline: Duration,
        retry_after: Duration,
        request_id: &str,
    ) -> Response<B> {
        let Some(events) = self.lock().take() else {
            return res;
        };
        if events.is_empty() {
            return res;
        }
        let all =
            futures_util::future::join_all(events.into_iter().map(|e| recorder.record_durable(e)));
        let error = match tokio::time::timeout(deadline, all).await {
            Ok(results) => match results.into_iter().find_map(Result::err) {
                None => return res,
                Some(e) => e.to_string(),
            },
            Err(_) => format!("not durable within {deadline:?}"),
        };
        tracing::error!(error = %error, "authentication answer withheld: its audit events are not durable");
        unavailable(retry_after, request_id)
    }
}

/// The fail-closed answer: 503, `Retry-After`, the request id, an empty body.
pub(crate) fn unavailable<B: Default>(retry_after: Duration, request_id: &str) -> Response<B> {
    let mut res = Response::new(B::default());
    *res.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    if let Ok(v) = HeaderValue::from_str(&retry_after.as_secs().max(1).to_string()) {
        res.headers_mut().insert(RETRY_AFTER, v);
    }
    echo_request_id(res.headers_mut(), request_id);
    res
}

impl ActivityLayer {
    /// The acknowledgement of authentication routes that have no override (default
    /// [`Ack::Durable`]).
    pub fn ack(mut self, ack: Ack) -> Self {
        self.config_mut().ack.authentication = ack;
        self
    }

    /// Adds a route rule (as [`rule`](Self::rule)) with its own acknowledgement.
    pub fn rule_with_ack(mut self, rule: RouteRule, ack: Ack) -> Self {
        let c = self.config_mut();
        c.ack.routes.push((rule.clone(), ack));
        c.rules.push(rule);
        self
    }

    /// How long an [`Ack::Durable`] answer waits for its events to be committed before
    /// the client gets 503 with `Retry-After` instead (default 5 s).
    pub fn durable_deadline(mut self, deadline: Duration) -> Self {
        self.config_mut().ack.deadline = deadline;
        self
    }
}
